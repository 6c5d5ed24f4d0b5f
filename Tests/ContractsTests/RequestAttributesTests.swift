import Contracts
import Foundation
import Testing

/// `attributes`: free-form labels a request carries into the audit row.
@Suite struct RequestAttributesTests {
    let validator = RequestValidator()

    func message(attributes: String) -> [UInt8] {
        Array("""
            {"request_id": "r-1", "tenant": "acme", "prompt": "a fox", "negative_prompt": "", "seed": 1,
             "width": 512, "height": 512, "steps": 20, "guidance_scale": 7.5, "scheduler": "pndm",
             "mitigations": {}, "attributes": \(attributes)}
            """.utf8)
    }

    @Test func attributesDecodeAndRoundTrip() throws {
        let request = try validator.decodeOrThrow(message(attributes: #"{"group": "women", "campaign.id": "spring-26"}"#))
        #expect(request.attributes == ["group": "women", "campaign.id": "spring-26"])
        let encoded = try JSONEncoder().encode(request)
        #expect(try JSONDecoder().decode(GenerationRequest.self, from: encoded) == request)
    }

    @Test func absentAttributesAreNilAndNotEncoded() throws {
        let request = GenerationRequest(requestID: "r", tenant: "t", prompt: "p", seed: 1)
        #expect(request.attributes == nil)
        let text = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        #expect(!text.contains("attributes"))
    }

    @Test(arguments: [
        (#"{"Group": "x"}"#, "attribute key \"Group\""),
        (#"{"1st": "x"}"#, "attribute key \"1st\""),
        (#"{"group": ""}"#, "`attributes.group` is 0 characters"),
        (#"{"group": "a\u0007b"}"#, "control character U+0007"),
        (#"{"group": "\#(String(repeating: "x", count: 257))"}"#, "`attributes.group` is 257 characters"),
        ("{" + (0..<17).map { #""k\#($0)": "v""# }.joined(separator: ",") + "}", "has 17 entries"),
    ])
    func badAttributesAreRejectedWithTheirReason(attributes: String, expected: String) {
        switch validator.decode(message(attributes: attributes)) {
        case .success:
            Issue.record("accepted \(attributes)")
        case .failure(let rejection):
            #expect(rejection.code == .invalidAttributes)
            #expect(rejection.message.contains(expected), "\(rejection.message)")
            #expect(rejection.requestID == "r-1")
        }
    }

    @Test func nonStringValuesAreAWrongType() {
        guard case .failure(let rejection) = validator.decode(message(attributes: #"{"group": 3}"#)) else {
            Issue.record("accepted a number")
            return
        }
        #expect(rejection.code == .wrongType)
        #expect(rejection.message.contains("attributes"))
    }
}
