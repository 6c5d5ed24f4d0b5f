import Foundation
import Testing

/// `docker compose -f docker/compose.yaml up` starts as is: the image carries the demo model
/// and NudeNet (from the same wheel and checksum as ops/lib/nudenet-model.sh), the workers
/// point at them, the health check is `chaperone probe` against the worker's own endpoints,
/// and each worker's compute threads equal its CPU limit.
@Suite struct ComposeStartsTests {
    static func compose() throws -> String { try RepositoryFiles.text("docker/compose.yaml") }
    static func dockerfile() throws -> String { try RepositoryFiles.text("docker/Dockerfile") }

    /// The lines of a block: from the line `header` up to the next line indented no deeper.
    static func block(_ header: String, in text: String) -> [String] {
        let lines = text.components(separatedBy: "\n")
        guard let start = lines.firstIndex(of: header) else { return [] }
        let indent = header.prefix { $0 == " " }.count
        let end = lines[(start + 1)...].firstIndex { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return !trimmed.isEmpty && !trimmed.hasPrefix("#") && line.prefix { $0 == " " }.count <= indent
        } ?? lines.endIndex
        return Array(lines[start..<end])
    }

    /// The `worker` service's block of compose.yaml, as text.
    static func workerBlock() throws -> String {
        block("  worker:", in: try compose()).joined(separator: "\n") + "\n"
    }

    /// The value compose uses for `key` when no variable is set: `${NAME:-x}` gives x.
    static func defaultValue(of key: String, in block: String) -> String? {
        guard let raw = DeploymentNames.matches(of: "\\n\\s+\(key):\\s*\"?([^\"\\n]+?)\"?\\s*(?:#.*)?\\n", in: block).first else { return nil }
        return DeploymentNames.matches(of: #"^\$\{[A-Z0-9_]+:-([^}]*)\}$"#, in: raw).first ?? raw
    }

    @Test func theImageCarriesTheDemoModelAndNudeNet() throws {
        let dockerfile = try Self.dockerfile()
        #expect(dockerfile.contains("COPY models/demo /models/demo"))
        #expect(dockerfile.contains("COPY --from=nudenet /out/nudenet/320n.onnx /models/nudenet/320n.onnx"))
        #expect(FileManager.default.fileExists(atPath: RepositoryFiles.root.appendingPathComponent("models/demo/model_index.json").path))
        #expect(try RepositoryFiles.text("docker/Dockerfile.dockerignore").components(separatedBy: "\n").contains("!models/demo/**"))
        // The same wheel and checksum as the local fetch script.
        let script = try RepositoryFiles.text("ops/lib/nudenet-model.sh")
        let version = DeploymentNames.matches(of: #"version="([0-9.]+)""#, in: script).first
        let sha = DeploymentNames.matches(of: #"sha256="([0-9a-f]{64})""#, in: script).first
        #expect(version != nil && DeploymentNames.matches(of: #"ARG NUDENET_VERSION=(\S+)"#, in: dockerfile).first == version)
        #expect(sha != nil && DeploymentNames.matches(of: #"ARG NUDENET_SHA256=(\S+)"#, in: dockerfile).first == sha)
        #expect(dockerfile.contains("sha256sum -c"))
    }

    @Test func workersUseTheModelsInTheImage() throws {
        let worker = try Self.workerBlock()
        #expect(Self.defaultValue(of: "CHAPERONE_MODEL_PATH", in: worker) == "/models/demo")
        #expect(Self.defaultValue(of: "CHAPERONE_MODEL_NUDENET", in: worker) == "/models/nudenet/320n.onnx")
        #expect(Self.defaultValue(of: "CHAPERONE_MODEL_OVERLAY", in: worker) == "/models/demo/safegen-overlay.safetensors")
        #expect(FileManager.default.fileExists(atPath: RepositoryFiles.root.appendingPathComponent("models/demo/safegen-overlay.safetensors").path))
        // No volume over the folders the image fills.
        let targets = Self.block("    volumes:", in: worker).dropFirst().map { line -> String in
            let parts = line.trimmingCharacters(in: .whitespaces).components(separatedBy: ":")
            return ["ro", "rw"].contains(parts.last ?? "") ? parts[parts.count - 2] : parts.last ?? ""
        }
        #expect(targets == ["/models/extra"])
        for target in targets {
            #expect(!["/models", "/models/demo", "/models/nudenet"].contains(target), "volume at \(target) hides the image's models")
        }
        let dockerfile = try Self.dockerfile()
        #expect(dockerfile.contains("CHAPERONE_MODEL_PATH=/models/demo"))
        #expect(dockerfile.contains("CHAPERONE_MODEL_NUDENET=/models/nudenet/320n.onnx"))
    }

    @Test func healthChecksRunTheProbeAgainstTheWorkersEndpoints() throws {
        let worker = try Self.workerBlock()
        let test = DeploymentNames.matches(of: #"test: \[([^\]]*)\]"#, in: worker).first ?? ""
        #expect(test.hasPrefix(#""CMD", "chaperone", "probe", "health""#), "worker healthcheck: \(test)")
        let healthcheck = DeploymentNames.matches(of: #"\nHEALTHCHECK [^\n]*CMD \[([^\]]*)\]"#, in: try Self.dockerfile()).first ?? ""
        #expect(healthcheck.hasPrefix(#""chaperone", "probe", "health""#), "Dockerfile HEALTHCHECK: \(healthcheck)")
        // `probe` is a registered subcommand whose endpoints are routes the worker serves.
        let commands = try RepositoryFiles.text("Sources/chaperone/Chaperone.swift")
        #expect(commands.contains("Probe.self"))
        let probe = try RepositoryFiles.text("Sources/chaperone/Probe.swift")
        let endpoints = DeploymentNames.matches(of: #"case (\w+(?:, \w+)*)\n"#, in: probe).first?.components(separatedBy: ", ") ?? []
        #expect(endpoints == ["health", "ready"])
        let routes = Set(DeploymentNames.matches(of: #"router\.get\("(\w+)"\)"#, in: try RepositoryFiles.swiftSources(under: "Sources/Worker")))
        for endpoint in endpoints { #expect(routes.contains(endpoint), "the worker serves no /\(endpoint)") }
        // The one-shot migration does not inherit the worker's check.
        let compose = try Self.compose()
        let migrate = Self.block("  migrate:", in: compose).joined(separator: "\n")
        #expect(migrate.contains("    healthcheck:\n      disable: true"))
    }

    @Test func eachWorkerRunsAsManyThreadsAsItHasCPUs() throws {
        let worker = try Self.workerBlock()
        let cpus = DeploymentNames.matches(of: #"\n\s+cpus: "?([^"\n]+)"?"#, in: worker).first
        let threads = DeploymentNames.matches(of: #"\n\s+OPENBLAS_NUM_THREADS: "?([^"\n]+)"?"#, in: worker).first
        #expect(cpus != nil, "the worker has no CPU limit")
        #expect(threads == cpus, "OPENBLAS_NUM_THREADS \(threads ?? "unset") differs from the CPU limit \(cpus ?? "unset")")
        #expect(Self.defaultValue(of: "cpus", in: worker).flatMap(Int.init) ?? 0 >= 1)
        // An unconfigured container does not oversubscribe the host either.
        #expect(try Self.dockerfile().contains("OPENBLAS_NUM_THREADS=1"))
    }

    @Test func theCheckScriptSaysWhatItCannotRun() throws {
        let script = try RepositoryFiles.text("ops/deploy/check")
        #expect(script.contains("docker info"))
        #expect(script.contains("NOT RUN"))
        #expect(script.contains("--require-engine"))
        #expect(!script.contains("echo \"skip  docker build"), "an unconditional skip line hides whether an engine exists")
    }
}
