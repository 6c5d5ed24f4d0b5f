import Foundation
import Testing

/// The compose file parses into the services a deployment needs, and workers can be scaled.
@Suite struct ComposeTests {
    static func outline() throws -> ComposeOutline {
        try ComposeOutline(yaml: try RepositoryFiles.text("docker/compose.yaml"))
    }

    @Test func hasTheRequiredServices() throws {
        let services = try Self.outline().children(of: "services")
        let missing = ["kafka", "kafka-init", "postgres", "migrate", "worker", "prometheus", "grafana"]
            .filter { !services.contains($0) }
        #expect(missing.isEmpty, "compose.yaml lacks services \(missing)")
    }

    @Test func workersScale() throws {
        let worker = try Self.outline().children(of: "services/worker")
        #expect(!worker.contains("container_name"), "a fixed container_name stops `--scale worker=N`")
        #expect(!worker.contains("ports"), "published host ports collide under `--scale worker=N`")
        #expect(worker.contains("environment"))
    }

    @Test func topicsAreCreated() throws {
        let text = try RepositoryFiles.text("docker/compose.yaml")
        #expect(text.contains("--topic chaperone.requests --partitions 6"))
        #expect(text.contains("--topic chaperone.results "))
        #expect(text.contains("--topic chaperone.requests.dlq "))
    }

    @Test func prometheusScrapesTheWorkerPort() throws {
        let compose = try RepositoryFiles.text("docker/compose.yaml")
        let prometheus = try RepositoryFiles.text("docker/prometheus.yml")
        let port = DeploymentNames.matches(of: #"CHAPERONE_HTTP_PORT:\s*"?([0-9]+)"#, in: compose).first
        #expect(port == "9464")
        #expect(prometheus.contains("names: [worker]"))
        #expect(prometheus.contains("port: \(port ?? "?")"))
    }

    @Test func kubernetesProbesUseTheWorkerEndpoints() throws {
        let deployment = try RepositoryFiles.text("ops/k8s/base/deployment.yaml")
        #expect(deployment.contains("path: /ready"))
        #expect(deployment.contains("path: /health"))
        #expect(deployment.contains("containerPort: 9464"))
    }
}
