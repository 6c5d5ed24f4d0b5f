import Foundation
import Testing

/// Every `chaperone_*` metric the dashboard and the alert rules query is one the code emits.
@Suite struct MetricNameTests {
    static func emitted() throws -> Set<String> {
        DeploymentNames.emittedMetrics(inSwift: try RepositoryFiles.swiftSources(under: "Sources"))
    }

    static func dashboardMetrics() throws -> Set<String> {
        let data = Data(try RepositoryFiles.text("ops/grafana/chaperone-dashboard.json").utf8)
        return try DeploymentNames.dashboardExpressions(json: data)
            .reduce(into: Set<String>()) { $0.formUnion(DeploymentNames.metricReferences(inPromQL: $1)) }
    }

    static func alertMetrics() throws -> Set<String> {
        DeploymentNames.ruleExpressions(inRuleFile: try RepositoryFiles.text("ops/prometheus/alerts.yaml"))
            .reduce(into: Set<String>()) { $0.formUnion(DeploymentNames.metricReferences(inPromQL: $1)) }
    }

    @Test func codeEmitsTheCoreMetrics() throws {
        let emitted = try Self.emitted()
        for name in ["chaperone_requests_total", "chaperone_stage_duration_seconds", "chaperone_dlq_total",
                     "chaperone_audit_write_errors_total"] {
            #expect(emitted.contains(name), "\(name) is not registered anywhere in Sources/")
        }
    }

    @Test func dashboardUsesOnlyEmittedMetrics() throws {
        let used = try Self.dashboardMetrics()
        #expect(used.count >= 5, "the dashboard queries only \(used.sorted())")
        let unknown = DeploymentNames.unknownMetrics(used: used, emitted: try Self.emitted()).sorted()
        #expect(unknown.isEmpty, "ops/grafana/chaperone-dashboard.json queries \(unknown), which the code does not emit")
    }

    @Test func alertsUseOnlyEmittedMetrics() throws {
        let used = try Self.alertMetrics()
        #expect(used.count >= 3, "the alert rules query only \(used.sorted())")
        let unknown = DeploymentNames.unknownMetrics(used: used, emitted: try Self.emitted()).sorted()
        #expect(unknown.isEmpty, "ops/prometheus/alerts.yaml queries \(unknown), which the code does not emit")
    }

    @Test func dashboardCoversTheOperatingQuestions() throws {
        let text = try RepositoryFiles.text("ops/grafana/chaperone-dashboard.json")
        let used = try Self.dashboardMetrics()
        for name in ["chaperone_requests_total", "chaperone_stage_duration_seconds_bucket", "chaperone_dlq_total",
                     "chaperone_audit_write_errors_total"] {
            #expect(used.contains(name), "no dashboard panel queries \(name)")
        }
        #expect(text.contains("kafka_consumergroup_lag"), "no consumer lag panel")
        #expect(text.contains("harm_amplification"), "no harm amplification panel")
        #expect(text.contains("by (tenant, decision)"), "no decision mix by tenant")
    }
}
