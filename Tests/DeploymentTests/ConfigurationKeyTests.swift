import Foundation
import Testing

/// Every `CHAPERONE_*` variable a deployment file sets is one the worker reads, or one the build
/// reads (Package.swift, for the Dockerfile's build stage).
@Suite struct ConfigurationKeyTests {
    /// Environment variables the worker understands: its configuration keys (`forKey:` in
    /// Sources/Worker) spelled as variables, and variables it reads directly (`CHAPERONE_CONFIG`);
    /// plus the build's own (`CHAPERONE_TARGET_CPU`, read by Package.swift).
    static func workerEnvironment() throws -> Set<String> {
        let source = try RepositoryFiles.swiftSources(under: "Sources/Worker")
        return Set(DeploymentNames.configurationKeys(inSwift: source).map(DeploymentNames.environmentVariable(forKey:)))
            .union(DeploymentNames.directEnvironmentReads(inSwift: source))
            .union(DeploymentNames.directEnvironmentReads(inSwift: try RepositoryFiles.text("Package.swift")))
    }

    static let deploymentFiles = ["docker/compose.yaml", "docker/Dockerfile"]
        + RepositoryFiles.files(under: "ops/k8s", extensions: ["yaml", "yml"])

    @Test func workerKeysAreFound() throws {
        let known = try Self.workerEnvironment()
        for expected in ["CHAPERONE_KAFKA_BOOTSTRAP_SERVERS", "CHAPERONE_DATABASE_URL", "CHAPERONE_MODEL_PATH",
                         "CHAPERONE_HTTP_PORT", "CHAPERONE_CONFIG", "CHAPERONE_TARGET_CPU"] {
            #expect(known.contains(expected), "\(expected) not found among the worker's configuration keys")
        }
    }

    @Test func deploymentFilesAreFound() {
        #expect(Self.deploymentFiles.contains("ops/k8s/base/configmap.yaml"))
        #expect(Self.deploymentFiles.contains("ops/k8s/base/deployment.yaml"))
    }

    @Test(arguments: deploymentFiles)
    func everyVariableIsAWorkerKey(path: String) throws {
        let known = try Self.workerEnvironment()
        let used = DeploymentNames.environmentReferences(inConfig: try RepositoryFiles.text(path))
        let unknown = used.subtracting(known).sorted()
        #expect(unknown.isEmpty, "\(path) sets \(unknown.joined(separator: ", ")), which the worker does not read")
    }

    @Test func workersGetTheEssentialSettings() throws {
        let compose = DeploymentNames.environmentReferences(inConfig: try RepositoryFiles.text("docker/compose.yaml"))
        let k8s = try ["ops/k8s/base/configmap.yaml", "ops/k8s/base/secret.yaml"]
            .map { DeploymentNames.environmentReferences(inConfig: try RepositoryFiles.text($0)) }
            .reduce(into: Set<String>()) { $0.formUnion($1) }
        for needed in ["CHAPERONE_KAFKA_BOOTSTRAP_SERVERS", "CHAPERONE_DATABASE_URL", "CHAPERONE_MODEL_PATH", "CHAPERONE_HTTP_HOST"] {
            #expect(compose.contains(needed), "compose.yaml does not set \(needed)")
            #expect(k8s.contains(needed), "ops/k8s ConfigMap/Secret do not set \(needed)")
        }
    }
}
