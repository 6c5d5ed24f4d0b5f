import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Tracing of requests across services: OpenTelemetry spans exported over OTLP when the
/// standard `OTEL_*` variables ask for it, and the W3C trace context (`traceparent`,
/// `tracestate`) read from each request's Kafka headers and written to the headers of the
/// result or dead letter published for it.
///
/// Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
/// set, or `OTEL_TRACES_EXPORTER` names an exporter (not `none`), and `OTEL_SDK_DISABLED` is not
/// `true`; every other `OTEL_*` variable (protocol, headers, sampler, batch delays, service
/// name) applies as the OpenTelemetry specification defines it. Off, no span is recorded but a
/// request's trace context still travels through the worker unchanged
/// (``TraceContextPassThrough``), so a trace followed from the producer reaches the consumers
/// of the results.
public enum RequestTracing {
    /// Bootstraps the process-wide instrumentation (once per process) and returns the exporter
    /// service to run beside the worker when tracing is on.
    public static func bootstrap(environment: [String: String], logger: Logger) throws -> (any Service)? {
        guard isRequested(environment) else {
            InstrumentationSystem.bootstrap(TraceContextPassThrough())
            return nil
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "chaperone-worker"
        configuration.resourceAttributes["service.version"] = BuildInfo.version
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        logger.info("tracing requests over OTLP", metadata: [
            "endpoint": "\(environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? "default")",
        ])
        return backend.service
    }

    /// Whether the environment asks for exported spans.
    static func isRequested(_ environment: [String: String]) -> Bool {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" { return false }
        if let exporter = environment["OTEL_TRACES_EXPORTER"], !exporter.isEmpty { return exporter.lowercased() != "none" }
        return [environment["OTEL_EXPORTER_OTLP_ENDPOINT"], environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]]
            .contains { !($0 ?? "").isEmpty }
    }

    /// The trace context of `message`'s headers (empty context when it carries none or an
    /// invalid one), as the bootstrapped instrument reads it.
    static func context(of message: IncomingMessage) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(message.headers, into: &context, using: TextHeaderExtractor())
        return context
    }

    /// The headers that carry the current task's trace context to the next service.
    public static func currentHeaders() -> [String: String] {
        var headers: [String: String] = [:]
        if let context = ServiceContext.current {
            InstrumentationSystem.instrument.inject(context, into: &headers, using: TextHeaderInjector())
        }
        return headers
    }
}

/// Reads a message's text headers.
struct TextHeaderExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

/// Writes a message's text headers.
struct TextHeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

/// The instrument of a worker that records no spans: it keeps a request's W3C trace context
/// (`traceparent` and `tracestate`, checked against the W3C format; anything else is dropped)
/// and hands it on unchanged to what the worker publishes for the request.
public struct TraceContextPassThrough: Instrument {
    /// The W3C headers as received.
    struct TraceContext: Sendable, Equatable {
        var traceparent: String
        var tracestate: String?
    }

    enum Key: ServiceContextKey {
        typealias Value = TraceContext
    }

    public init() {}

    public func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract: Extractor, Extract.Carrier == Carrier {
        guard let parent = extractor.extract(key: "traceparent", from: carrier), Self.isValid(traceparent: parent) else { return }
        let state = extractor.extract(key: "tracestate", from: carrier).flatMap { Self.isValid(tracestate: $0) ? $0 : nil }
        context[Key.self] = TraceContext(traceparent: parent, tracestate: state)
    }

    public func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        guard let trace = context[Key.self] else { return }
        injector.inject(trace.traceparent, forKey: "traceparent", into: &carrier)
        if let state = trace.tracestate { injector.inject(state, forKey: "tracestate", into: &carrier) }
    }

    /// `version-traceid-parentid-flags` in lower-case hex (2-32-16-2), version not `ff`, ids not
    /// all zero; version 00 has exactly these four fields.
    static func isValid(traceparent: String) -> Bool {
        let fields = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 4, traceparent.utf8.count <= 512 else { return false }
        let lowerHex = { (field: Substring, length: Int) in
            field.utf8.count == length && field.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        guard lowerHex(fields[0], 2), lowerHex(fields[1], 32), lowerHex(fields[2], 16), lowerHex(fields[3], 2) else { return false }
        guard fields[0] != "ff", fields[1].contains(where: { $0 != "0" }), fields[2].contains(where: { $0 != "0" }) else { return false }
        return fields[0] != "00" || fields.count == 4
    }

    /// At most 512 printable ASCII characters (the size W3C asks every vendor to pass on).
    static func isValid(tracestate: String) -> Bool {
        !tracestate.isEmpty && tracestate.utf8.count <= 512 && tracestate.utf8.allSatisfy { (0x20...0x7E).contains($0) }
    }
}
