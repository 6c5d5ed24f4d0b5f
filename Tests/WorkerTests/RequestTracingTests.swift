import Testing
import Tracing
@testable import Worker

/// When spans are exported, and which trace context a worker without a tracer passes on.
@Suite struct RequestTracingTests {
    @Test func theStandardVariablesTurnTracingOn() {
        #expect(!RequestTracing.isRequested([:]))
        #expect(RequestTracing.isRequested(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]))
        #expect(RequestTracing.isRequested(["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"]))
        #expect(RequestTracing.isRequested(["OTEL_TRACES_EXPORTER": "otlp"]))
        #expect(!RequestTracing.isRequested(["OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"]))
        #expect(!RequestTracing.isRequested(["OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"]))
        #expect(!RequestTracing.isRequested(["OTEL_EXPORTER_OTLP_ENDPOINT": ""]))
    }

    /// W3C Trace Context level 1: `version-traceid-parentid-flags`, lower-case hex.
    @Test(arguments: [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true),  // a later version may add fields
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", false),
        ("", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false),
    ])
    func traceparentsAreCheckedAgainstTheW3CFormat(traceparent: String, valid: Bool) {
        #expect(TraceContextPassThrough.isValid(traceparent: traceparent) == valid)
    }

    @Test func tracestateIsPassedOnUpTo512PrintableCharacters() {
        #expect(TraceContextPassThrough.isValid(tracestate: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"))
        #expect(TraceContextPassThrough.isValid(tracestate: String(repeating: "a", count: 512)))
        #expect(!TraceContextPassThrough.isValid(tracestate: String(repeating: "a", count: 513)))
        #expect(!TraceContextPassThrough.isValid(tracestate: "a=b\nc=d"))
        #expect(!TraceContextPassThrough.isValid(tracestate: ""))
    }

    /// Extract then inject gives back the headers as received; an invalid tracestate is dropped alone.
    @Test func thePassThroughInstrumentHandsTheContextOn() {
        let instrument = TraceContextPassThrough()
        var context = ServiceContext.topLevel
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        instrument.extract(["traceparent": parent, "tracestate": "vendor=1", "other": "x"], into: &context, using: TextHeaderExtractor())
        var headers: [String: String] = [:]
        instrument.inject(context, into: &headers, using: TextHeaderInjector())
        #expect(headers == ["traceparent": parent, "tracestate": "vendor=1"])

        var partial = ServiceContext.topLevel
        instrument.extract(["traceparent": parent, "tracestate": "bad\u{7}"], into: &partial, using: TextHeaderExtractor())
        var partialHeaders: [String: String] = [:]
        instrument.inject(partial, into: &partialHeaders, using: TextHeaderInjector())
        #expect(partialHeaders == ["traceparent": parent])

        var none = ServiceContext.topLevel
        instrument.extract(["traceparent": "garbage"], into: &none, using: TextHeaderExtractor())
        var noHeaders: [String: String] = [:]
        instrument.inject(none, into: &noHeaders, using: TextHeaderInjector())
        #expect(noHeaders.isEmpty)
    }
}
