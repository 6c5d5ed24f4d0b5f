import Foundation
import Testing

/// The checkers themselves report mismatches: deliberately wrong samples must be caught.
@Suite struct CheckerTests {
    static let workerSource = """
        bootstrapServers = config.string(forKey: "kafka.bootstrap_servers", default: "127.0.0.1:9092")
        httpPort = config.int(forKey: "http.port", default: 9464)
        let file = configFile ?? environment["CHAPERONE_CONFIG"]
        private let dlq = Counter(label: "chaperone_dlq_total")
        Timer(label: "chaperone_stage_duration_seconds", dimensions: [("stage", stage.rawValue)])
        """

    @Test func keysBecomeEnvironmentVariables() {
        #expect(DeploymentNames.environmentVariable(forKey: "kafka.bootstrap_servers") == "CHAPERONE_KAFKA_BOOTSTRAP_SERVERS")
        #expect(DeploymentNames.configurationKeys(inSwift: Self.workerSource) == ["kafka.bootstrap_servers", "http.port"])
        #expect(DeploymentNames.directEnvironmentReads(inSwift: Self.workerSource) == ["CHAPERONE_CONFIG"])
    }

    @Test func misspelledVariableIsReported() {
        let known = Set(DeploymentNames.configurationKeys(inSwift: Self.workerSource).map(DeploymentNames.environmentVariable(forKey:)))
        let sample = """
            # CHAPERONE_IN_A_COMMENT is not a setting
            environment:
              CHAPERONE_KAFKA_BOOTSTRAP_SERVER: kafka:9092   # singular: wrong
              CHAPERONE_HTTP_PORT: "9464"
            """
        let used = DeploymentNames.environmentReferences(inConfig: sample)
        #expect(used == ["CHAPERONE_KAFKA_BOOTSTRAP_SERVER", "CHAPERONE_HTTP_PORT"])
        #expect(used.subtracting(known) == ["CHAPERONE_KAFKA_BOOTSTRAP_SERVER"])
    }

    @Test func unknownMetricIsReportedAndSuffixesAreAllowed() throws {
        let emitted = DeploymentNames.emittedMetrics(inSwift: Self.workerSource)
        #expect(emitted == ["chaperone_dlq_total", "chaperone_stage_duration_seconds"])
        let rules = """
            groups:
              - name: sample
                rules:
                  - alert: A
                    expr: sum(rate(chaperone_dlq_totals[5m])) > 0
                  - alert: B
                    expr: |
                      histogram_quantile(0.9, sum by (le) (rate(chaperone_stage_duration_seconds_bucket[5m])))
                        > chaperone_stage_duration_seconds_count
                    for: 5m
                    annotations:
                      description: chaperone_not_a_query
            """
        let expressions = DeploymentNames.ruleExpressions(inRuleFile: rules)
        #expect(expressions.count == 2)
        let used = expressions.reduce(into: Set<String>()) { $0.formUnion(DeploymentNames.metricReferences(inPromQL: $1)) }
        #expect(!used.contains("chaperone_not_a_query"))
        #expect(DeploymentNames.unknownMetrics(used: used, emitted: emitted) == ["chaperone_dlq_totals"])
        #expect(DeploymentNames.unknownMetrics(used: ["chaperone_dlq_total_bucket_x"], emitted: emitted) == ["chaperone_dlq_total_bucket_x"])
    }

    @Test func dashboardQueriesAreFound() throws {
        let json = #"{"panels":[{"targets":[{"expr":"rate(chaperone_requests_totl[5m])"}]}],"templating":{"list":[{"definition":"label_values(chaperone_x, tenant)"}]}}"#
        let expressions = try DeploymentNames.dashboardExpressions(json: Data(json.utf8)).sorted()
        #expect(expressions == ["label_values(chaperone_x, tenant)", "rate(chaperone_requests_totl[5m])"])
        #expect(throws: (any Error).self) { try DeploymentNames.dashboardExpressions(json: Data("{".utf8)) }
    }

    @Test func composeOutlineFindsMissingServicesAndFixedNames() throws {
        let outline = try ComposeOutline(yaml: """
            services:
              kafka:
                image: apache/kafka:3.9.1
                command:
                  - |
                    worker: not a key inside a block scalar
              worker:
                container_name: worker-1
                ports:
                  - "9464:9464"
            volumes:
              data:
            """)
        #expect(outline.children(of: "services") == ["kafka", "worker"])
        #expect(outline.children(of: "services/worker") == ["container_name", "ports"])
        #expect(outline.children(of: "services/kafka/command").isEmpty, "a block scalar's text is not a key")
        #expect(outline.children(of: "") == ["services", "volumes"])
        #expect(throws: ComposeOutline.ParseError.self) { try ComposeOutline(yaml: "services:\n\tworker:\n") }
        #expect(throws: ComposeOutline.ParseError.self) { try ComposeOutline(yaml: "just a scalar line\n") }
    }
}
