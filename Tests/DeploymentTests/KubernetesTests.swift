import Foundation
import Testing

/// ops/k8s as a kustomize base with dev and production overlays: restricted Pod Security,
/// one image reference, no `replicas` beside KEDA, PodMonitor and PrometheusRule that match
/// the alert rules, and a dashboard without fixed data source UIDs. ops/deploy/check renders
/// the overlays with kustomize and validates them; these tests read the files as text.
@Suite struct KubernetesTests {
    /// Files holding pod templates.
    static let workloads = ["ops/k8s/base/deployment.yaml", "ops/k8s/base/migrate-job.yaml", "ops/k8s/base/console.yaml",
                            "ops/k8s/monitoring/kafka-exporter.yaml"]

    static func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    /// The entries of a kustomization's list `key` (`resources:`, `patches:` paths).
    static func listEntries(_ key: String, in text: String) -> [String] {
        ComposeStartsTests.block("\(key):", in: text).dropFirst().compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("- ") else { return nil }
            return String(trimmed.dropFirst(2)).replacingOccurrences(of: "path: ", with: "")
        }
    }

    @Test func theNamespaceEnforcesRestricted() throws {
        let namespace = try RepositoryFiles.text("ops/k8s/base/namespace.yaml")
        #expect(namespace.contains("pod-security.kubernetes.io/enforce: restricted"))
    }

    @Test(arguments: workloads)
    func everyPodMeetsTheRestrictedLevel(path: String) throws {
        let text = DeploymentNames.withoutComments(try RepositoryFiles.text(path))
        let containers = Self.count("image: ", in: text)
        #expect(containers >= 1)
        // Pod level: non-root with seccomp RuntimeDefault (and each container repeats both).
        let pod = ComposeStartsTests.block("      securityContext:", in: text).joined(separator: "\n")
        #expect(pod.contains("runAsNonRoot: true"), "\(path): pod securityContext lacks runAsNonRoot")
        #expect(pod.contains("seccompProfile:\n          type: RuntimeDefault"), "\(path): pod seccompProfile is not RuntimeDefault")
        #expect(Self.count("allowPrivilegeEscalation: false", in: text) == containers, "\(path)")
        #expect(Self.count(#"drop: ["ALL"]"#, in: text) == containers, "\(path)")
        #expect(Self.count("type: RuntimeDefault", in: text) == containers + 1, "\(path)")
        #expect(!text.contains("hostPath:") && !text.contains("privileged: true") && !text.contains("hostNetwork"), "\(path)")
    }

    @Test func oneImageReference() throws {
        for path in ["ops/k8s/base/deployment.yaml", "ops/k8s/base/migrate-job.yaml", "ops/k8s/base/console.yaml"] {
            let images = DeploymentNames.matches(of: #"\n\s+image: (\S+)"#, in: try RepositoryFiles.text(path))
            #expect(images == ["chaperone"], "\(path) names the image \(images); the overlays' `images:` set registry and tag")
        }
        for overlay in ["dev", "production"] {
            let text = try RepositoryFiles.text("ops/k8s/overlays/\(overlay)/kustomization.yaml")
            #expect(Self.count("  - name: chaperone\n    newName: ", in: text) == 1, "\(overlay): one `images:` entry for chaperone")
            #expect(text.contains("newTag: "))
        }
    }

    @Test func keda_ownsTheReplicaCount() throws {
        let deployment = DeploymentNames.withoutComments(try RepositoryFiles.text("ops/k8s/base/deployment.yaml"))
        #expect(!deployment.contains("replicas:"), "the worker Deployment sets replicas beside KEDA")
        for overlay in ["dev", "production"] {
            let patch = DeploymentNames.withoutComments(try RepositoryFiles.text("ops/k8s/overlays/\(overlay)/deployment.yaml"))
            #expect(!patch.contains("replicas:"), "overlays/\(overlay) sets replicas")
        }
        let scaled = try RepositoryFiles.text("ops/k8s/keda/scaledobject.yaml")
        #expect(DeploymentNames.matches(of: #"scaleTargetRef:\n(?:\s+\w+: [^\n]+\n)*?\s+name: (\S+)"#, in: scaled).first == "chaperone-worker")
        #expect(deployment.contains("\n  name: chaperone-worker\n"))
    }

    @Test func kustomizationsListEveryFileAndOverlaysComposeThem() throws {
        for folder in ["base", "keda", "monitoring", "overlays/dev", "overlays/production"] {
            let kustomization = try RepositoryFiles.text("ops/k8s/\(folder)/kustomization.yaml")
            let listed = Self.listEntries("resources", in: kustomization) + Self.listEntries("patches", in: kustomization)
            let files = RepositoryFiles.files(under: "ops/k8s/\(folder)", extensions: ["yaml"])
                .map { String($0.dropFirst("ops/k8s/\(folder)/".count)) }
                .filter { $0 != "kustomization.yaml" && !$0.contains("/") }
            #expect(Set(files).isSubset(of: Set(listed)), "\(folder): files not in its kustomization: \(Set(files).subtracting(listed).sorted())")
            for entry in listed where !entry.hasPrefix("../") {
                #expect(files.contains(entry), "\(folder)/kustomization.yaml lists \(entry), which does not exist")
            }
        }
        let production = Self.listEntries("resources", in: try RepositoryFiles.text("ops/k8s/overlays/production/kustomization.yaml"))
        #expect(production == ["../../base", "../../keda", "../../monitoring"])
        let dev = Self.listEntries("resources", in: try RepositoryFiles.text("ops/k8s/overlays/dev/kustomization.yaml"))
        #expect(dev == ["../../base"])
    }

    /// The models volume goes to /models/extra, leaving the image's demo model and NudeNet.
    @Test func productionMountsModelsBesideTheImages() throws {
        let patch = try RepositoryFiles.text("ops/k8s/overlays/production/deployment.yaml")
        #expect(patch.contains("mountPath: /models/extra"))
        #expect(try RepositoryFiles.text("ops/k8s/overlays/production/configmap.yaml").contains("CHAPERONE_MODEL_PATH: /models/extra/"))
        let base = try RepositoryFiles.text("ops/k8s/base/configmap.yaml")
        #expect(base.contains("CHAPERONE_MODEL_PATH: /models/demo"))
        #expect(base.contains("CHAPERONE_MODEL_NUDENET: /models/nudenet/320n.onnx"))
        #expect(!DeploymentNames.withoutComments(try RepositoryFiles.text("ops/k8s/base/deployment.yaml")).contains("mountPath: /models\n"))
    }

    @Test func prometheusRuleCarriesTheAlertFile() throws {
        let alerts = try RepositoryFiles.text("ops/prometheus/alerts.yaml").components(separatedBy: "\n")
        let groups = alerts.drop { $0.hasPrefix("#") }
        let rule = try RepositoryFiles.text("ops/k8s/monitoring/prometheusrule.yaml").components(separatedBy: "\n")
        let spec = rule.drop { $0 != "spec:" }.dropFirst().map { $0.hasPrefix("  ") ? String($0.dropFirst(2)) : $0 }
        #expect(groups.first == "groups:")
        #expect(Array(spec).joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            == Array(groups).joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines),
            "ops/k8s/monitoring/prometheusrule.yaml differs from ops/prometheus/alerts.yaml")
    }

    /// The alerts' selectors match what the PodMonitors produce: job="chaperone-worker" from the
    /// pods' app.kubernetes.io/name label, and the exporter's lag series.
    @Test func podMonitorsGiveTheAlertsTheirSeries() throws {
        let monitors = try RepositoryFiles.text("ops/k8s/monitoring/podmonitor.yaml")
        #expect(Self.count("kind: PodMonitor", in: monitors) == 3)
        #expect(Self.count("jobLabel: app.kubernetes.io/name", in: monitors) == 3)
        #expect(monitors.contains("app.kubernetes.io/name: chaperone-worker") && monitors.contains("app.kubernetes.io/name: chaperone-kafka-exporter"))
        let alerts = try RepositoryFiles.text("ops/prometheus/alerts.yaml")
        #expect(alerts.contains(#"up{job="chaperone-worker"}"#))
        #expect(alerts.contains("kafka_consumergroup_lag"))
        let deployment = try RepositoryFiles.text("ops/k8s/base/deployment.yaml")
        let template = ComposeStartsTests.block("  template:", in: deployment).joined(separator: "\n")
        #expect(template.contains("app.kubernetes.io/name: chaperone-worker"))
        #expect(template.contains("- name: metrics"))
        let exporter = try RepositoryFiles.text("ops/k8s/monitoring/kafka-exporter.yaml")
        #expect(exporter.contains("- name: metrics") && exporter.contains("--group.filter=chaperone-workers"))
        // The console's overturn rates: its pods carry the label and name the port the monitor scrapes.
        let console = try RepositoryFiles.text("ops/k8s/base/console.yaml")
        #expect(monitors.contains("app.kubernetes.io/name: chaperone-console\n  podMetricsEndpoints:\n    - port: http")
            || monitors.contains("matchLabels:\n      app.kubernetes.io/name: chaperone-console"))
        #expect(console.contains("- name: http\n              containerPort: 8470"))
        #expect(console.contains(#"args: ["audit", "serve", "--host", "0.0.0.0", "--port", "8470"]"#))
    }

    @Test func theDashboardChoosesItsDataSources() throws {
        let data = Data(try RepositoryFiles.text("ops/grafana/chaperone-dashboard.json").utf8)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let variables = ((json["templating"] as? [String: Any])?["list"] as? [[String: Any]]) ?? []
        let sources = Set(variables.filter { $0["type"] as? String == "datasource" }.compactMap { $0["name"] as? String })
        #expect(sources == ["prometheus", "audit"])
        var uids: [String] = []
        func walk(_ node: Any) {
            if let object = node as? [String: Any] {
                if let source = object["datasource"] as? [String: Any], let uid = source["uid"] as? String { uids.append(uid) }
                object.values.forEach(walk)
            } else if let array = node as? [Any] {
                array.forEach(walk)
            }
        }
        walk(json)
        #expect(uids.count >= 10)
        let fixed = uids.filter { uid in !sources.contains { uid == "${\($0)}" } }
        #expect(fixed.isEmpty, "fixed data source UIDs: \(Set(fixed).sorted())")
    }
}
