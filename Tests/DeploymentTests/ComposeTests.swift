import Foundation
import Testing

/// The compose file parses into the services a deployment needs, and workers can be scaled.
@Suite struct ComposeTests {
    static func outline() throws -> ComposeOutline {
        try ComposeOutline(yaml: try RepositoryFiles.text("docker/compose.yaml"))
    }

    @Test func hasTheRequiredServices() throws {
        let services = try Self.outline().children(of: "services")
        let missing = ["kafka", "kafka-init", "postgres", "migrate", "worker", "console-users", "console", "prometheus", "grafana"]
            .filter { !services.contains($0) }
        #expect(missing.isEmpty, "compose.yaml lacks services \(missing)")
    }

    @Test func workersScale() throws {
        let worker = try Self.outline().children(of: "services/worker")
        #expect(!worker.contains("container_name"), "a fixed container_name stops `--scale worker=N`")
        #expect(!worker.contains("ports"), "published host ports collide under `--scale worker=N`")
        #expect(worker.contains("environment"))
    }

    /// The console is reachable from this host only, probes its own port, and connects as a
    /// login the PostgreSQL init script makes a member of chaperone_console.
    @Test func theConsoleServesOnLoopbackAsItsOwnLogin() throws {
        let compose = try RepositoryFiles.text("docker/compose.yaml")
        let console = ComposeStartsTests.block("  console:", in: compose).joined(separator: "\n")
        #expect(console.contains(#"command: ["audit", "serve", "--host", "0.0.0.0", "--port", "8470"]"#))
        #expect(console.contains(#"- "127.0.0.1:8470:8470""#), "the console must be published on loopback only")
        #expect(console.contains(#"test: ["CMD", "chaperone", "probe", "health", "--port", "8470""#))
        let login = DeploymentNames.matches(of: #"postgresql://([a-z_]+):\$\{CONSOLE_DB_PASSWORD"#, in: console).first
        #expect(login == "console_app")
        let roles = try RepositoryFiles.text("docker/postgres/10-login-roles.sh")
        #expect(roles.contains("CREATE ROLE chaperone_console NOLOGIN NOINHERIT;"))
        #expect(roles.contains("CREATE ROLE \(login ?? "?") LOGIN PASSWORD :'console_password' IN ROLE chaperone_console;"))
        let users = ComposeStartsTests.block("  console-users:", in: compose).joined(separator: "\n")
        #expect(users.contains("chaperone audit user add reviewer --role reviewer --replace"))
        #expect(users.contains("chaperone audit user add analyst --role analyst --replace"))
        #expect(users.contains("postgresql://chaperone_owner:"), "console users are written by the owner")
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
