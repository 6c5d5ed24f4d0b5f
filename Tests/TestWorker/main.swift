import Moderation
import Foundation
import Logging
import Worker

// chaperone-test-worker: the real worker (Kafka, PostgreSQL, state machines, shutdown) with a
// deterministic generator in place of the diffusion engine. Test-only; configured entirely by
// CHAPERONE_* environment variables like `chaperone worker`, plus
// CHAPERONE_TEST_STEP_DELAY_MS (sleep per step, default 20) and CHAPERONE_TEST_KILL_AT
// (`<stage>:<n>`: SIGKILL at the nth passage through a request stage, see ``KillSwitch``), and
// CHAPERONE_TEST_ESCALATION=1 (tenant globex escalates, see ``EscalatingTestPolicy``), and
// CHAPERONE_TEST_KAFKA_DEBUG (librdkafka `debug` contexts such as `cgrp`, logged at level debug).

let environment = ProcessInfo.processInfo.environment
let stepDelay = Duration.milliseconds(Int(environment["CHAPERONE_TEST_STEP_DELAY_MS"] ?? "") ?? 20)
let killSwitch = KillSwitch(environment: environment)
do {
    var configuration = try await WorkerConfiguration.load(environment: environment)
    if configuration.modelPath == nil { configuration.modelPath = "deterministic-test-model" }
    if let debug = environment["CHAPERONE_TEST_KAFKA_DEBUG"], !debug.isEmpty { configuration.kafkaSecurity["debug"] = debug }
    WorkerRuntime.bootstrapLogging(format: configuration.logFormat, level: configuration.logLevel)
    let registry = WorkerRuntime.bootstrapMetrics()
    let components = try await EngineRegistry.components(factory: DeterministicFactory(
        stepDelay: stepDelay, killSwitch: killSwitch, escalating: environment["CHAPERONE_TEST_ESCALATION"] == "1"), configuration: configuration)
    try await WorkerRuntime.run(configuration: configuration, components: components, registry: registry, logger: Logger(label: "chaperone.test-worker"),
                                 decorate: killSwitch.decorate)
} catch {
    FileHandle.standardError.write(Data("chaperone-test-worker: \(error)\n".utf8))
    exit(1)
}
