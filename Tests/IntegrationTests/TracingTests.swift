import Foundation
import Hummingbird
import Kafka
import Synchronization
import Testing

/// Tracing through a real worker process: with `OTEL_*` set, the worker exports a
/// `chaperone.request` span per request (continuing the trace of the request's `traceparent`
/// header) with child spans for each step, to an OTLP/HTTP collector running in this test, and
/// the result and DLQ messages carry the trace on. Without `OTEL_*`, the trace context still
/// passes through unchanged.
extension FaultTests {
    @Suite struct TracingTests {
        static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        static let parentID = "00f067aa0ba902b7"
        static let traceparent = "00-\(traceID)-\(parentID)-01"

        /// An OTLP/HTTP (JSON) trace collector on a loopback port.
        final class Collector: Sendable {
            let bodies = Mutex<[Data]>([])

            /// Every span received so far, flattened from resourceSpans/scopeSpans.
            var spans: [Span] {
                bodies.withLock { $0 }.flatMap { body -> [Span] in
                    guard let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return [] }
                    let resources = json["resourceSpans"] as? [[String: Any]] ?? []
                    return resources.flatMap { resource in
                        let serviceName = ((resource["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? [])
                            .first { $0["key"] as? String == "service.name" }
                            .flatMap { ($0["value"] as? [String: Any])?["stringValue"] as? String }
                        return (resource["scopeSpans"] as? [[String: Any]] ?? []).flatMap { scope in
                            (scope["spans"] as? [[String: Any]] ?? []).map { Span(json: $0, service: serviceName) }
                        }
                    }
                }
            }
        }

        struct Span {
            var name: String
            var traceID: String
            var spanID: String
            var parentSpanID: String
            var service: String?
            var attributes: [String: String]

            init(json: [String: Any], service: String?) {
                name = json["name"] as? String ?? ""
                traceID = Self.hex(json["traceId"] as? String ?? "")
                spanID = Self.hex(json["spanId"] as? String ?? "")
                parentSpanID = Self.hex(json["parentSpanId"] as? String ?? "")
                self.service = service
                var attributes: [String: String] = [:]
                for attribute in json["attributes"] as? [[String: Any]] ?? [] {
                    guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any] else { continue }
                    attributes[key] = value.values.first.map { "\($0)" }
                }
                self.attributes = attributes
            }

            /// OTLP/JSON ids: lower-case hex per the OTLP specification, or base64 as protobuf's JSON writes bytes.
            static func hex(_ text: String) -> String {
                if text.count % 2 == 0, text.allSatisfy(\.isHexDigit) { return text.lowercased() }
                guard let bytes = Data(base64Encoded: text) else { return text }
                return bytes.map { String(format: "%02x", $0) }.joined()
            }
        }

        /// Runs `body` with a collector listening on a free loopback port.
        static func withCollector(_ body: @Sendable (Collector, Int) async throws -> Void) async throws {
            let collector = Collector()
            let router = Router()
            router.post("v1/traces") { request, _ -> Response in
                let buffer = try await request.body.collect(upTo: 16 << 20)
                collector.bodies.withLock { $0.append(Data(buffer: buffer)) }
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
            }
            let port = Mutex<Int?>(nil)
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService(gracefulShutdownSignals: []) }
                let deadline = ContinuousClock.now + .seconds(10)
                while port.withLock({ $0 }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                let bound = try #require(port.withLock { $0 })
                try await body(collector, bound)
                group.cancelAll()
            }
        }

        static func header(_ name: String, in headers: [KafkaHeader]) -> String? {
            headers.last { $0.name == name }?.value.flatMap { String(validating: $0, as: UTF8.self) }
        }

        @Test(.timeLimit(.minutes(3)))
        func spansOfEachStepAndTheTraceOnTheResultAndDeadLetterHeaders() async throws {
            try await Self.withCollector { collector, port in
                var options = FaultRun.Options(name: "tracing")
                options.workers = 1
                options.partitions = 1
                options.environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:\(port)"
                options.environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/json"
                options.environment["OTEL_BSP_SCHEDULE_DELAY"] = "100"
                options.environment["OTEL_SERVICE_NAME"] = "moderation-worker"
                let run = try await FaultRun(options)
                do {
                    let headers = [KafkaHeader(name: "traceparent", value: Array(Self.traceparent.utf8)),
                                   KafkaHeader(name: "tracestate", value: Array("vendor=abc".utf8))]
                    try await run.produce(run.validRequest("traced-1"), headers: headers)
                    let rejectedID = try await run.produce(Array("{not json".utf8), headers: headers)
                    try await run.waitForAll(timeout: .seconds(60))

                    // The result continues the request's trace: same trace id, the publish span as parent.
                    let published = try #require(run.publishedHeaders["traced-1"]?.first)
                    let resultParent = try #require(Self.header("traceparent", in: published))
                    let fields = resultParent.split(separator: "-").map(String.init)
                    #expect(fields.count == 4 && fields[1] == Self.traceID && fields[2] != Self.parentID, "\(resultParent)")
                    let dlqParent = try #require(run.publishedHeaders[rejectedID]?.first.flatMap { Self.header("traceparent", in: $0) })
                    #expect(dlqParent.split(separator: "-").map(String.init)[1] == Self.traceID)

                    // The span tree, once exported.
                    var spans: [Span] = []
                    let deadline = ContinuousClock.now + .seconds(30)
                    while ContinuousClock.now < deadline {
                        spans = collector.spans
                        if spans.filter({ $0.name == "chaperone.request" }).count >= 2, spans.contains(where: { $0.name == "chaperone.commit" && $0.traceID == Self.traceID }) { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    let requests = spans.filter { $0.name == "chaperone.request" && $0.attributes["chaperone.request_id"] == "traced-1" }
                    let request = try #require(requests.first, "spans received: \(spans.map(\.name))")
                    #expect(request.traceID == Self.traceID && request.parentSpanID == Self.parentID)
                    #expect(request.service == "moderation-worker")
                    #expect(request.attributes["chaperone.decision"] == "allow")
                    #expect(request.attributes["messaging.destination.name"] == run.topics.requests)
                    let children = spans.filter { $0.parentSpanID == request.spanID }
                    let names = Set(children.map(\.name))
                    for step in ["chaperone.validate", "chaperone.audit_lookup", "chaperone.score_prompt", "chaperone.generation_try",
                                 "chaperone.audit_insert", "chaperone.publish", "chaperone.commit"] {
                        #expect(names.contains(step), "\(step) is not a child of the request span; children: \(names.sorted())")
                    }
                    let attempt = try #require(children.first { $0.name == "chaperone.generation_try" })
                    #expect(attempt.attributes["chaperone.try"] == "1")
                    let inTry = Set(spans.filter { $0.parentSpanID == attempt.spanID }.map(\.name))
                    #expect(inTry == ["chaperone.generate", "chaperone.score_image"], "\(inTry)")
                    // The result's traceparent names the publish span.
                    let publish = try #require(children.first { $0.name == "chaperone.publish" })
                    #expect(fields[2] == publish.spanID)
                    // The rejected message: its own request span in the same trace, validation marks the rejection.
                    let rejected = try #require(spans.first { $0.name == "chaperone.request" && $0.attributes["chaperone.decision"] == "rejected" })
                    #expect(rejected.traceID == Self.traceID)
                    let validation = try #require(spans.first { $0.name == "chaperone.validate" && $0.parentSpanID == rejected.spanID })
                    #expect(validation.attributes["chaperone.rejection"] == "malformed_json", "\(validation.attributes)")
                    try await run.verify()
                } catch { Issue.record(error) }
                await run.finish()
            }
        }

        /// Without OTEL_*: no span is exported, the context passes through as received, and a
        /// malformed traceparent is not passed on.
        @Test(.timeLimit(.minutes(3)))
        func withoutAnExporterTheTraceContextPassesThroughUnchanged() async throws {
            var options = FaultRun.Options(name: "tracepass")
            options.workers = 1
            options.partitions = 1
            let run = try await FaultRun(options)
            do {
                try await run.produce(run.validRequest("pass-1"), headers: [
                    KafkaHeader(name: "traceparent", value: Array(Self.traceparent.utf8)),
                    KafkaHeader(name: "tracestate", value: Array("vendor=abc".utf8)),
                ])
                try await run.produce(run.validRequest("pass-2"), headers: [
                    KafkaHeader(name: "traceparent", value: Array("00-\(Self.traceID.uppercased())-\(Self.parentID)-01".utf8)),
                ])
                try await run.produce(run.validRequest("pass-3"), headers: [KafkaHeader(name: "traceparent", value: [0xff, 0xfe])])
                try await run.waitForAll(timeout: .seconds(60))
                let first = try #require(run.publishedHeaders["pass-1"]?.first)
                #expect(Self.header("traceparent", in: first) == Self.traceparent)
                #expect(Self.header("tracestate", in: first) == "vendor=abc")
                #expect(run.publishedHeaders["pass-2"]?.first?.isEmpty == true, "an upper-case traceparent is not W3C: not passed on")
                #expect(run.publishedHeaders["pass-3"]?.first?.isEmpty == true)
                try await run.verify()
            } catch { Issue.record(error) }
            await run.finish()
        }
    }
}
