import Contracts
import Foundation
import Testing

/// Results and DLQ envelopes: the schema-valid examples decode and re-encode to the same JSON.
@Suite struct DocumentTests {
    private func roundTrips<T: Codable>(_ type: T.Type, _ file: String) throws {
        let original = Data(try Fixtures.bytes(file))
        let value = try JSONDecoder().decode(T.self, from: original)
        let encoded = try JSONEncoder().encode(value)
        let a = try JSONDecoder().decode(JSONValue.self, from: original)
        let b = try JSONDecoder().decode(JSONValue.self, from: encoded)
        #expect(a == b, "\(file) does not round-trip")
    }

    @Test func validResultsAndEnvelopesRoundTrip() throws {
        let manifest = try Fixtures.manifest()
        for entry in manifest.results where entry.schema_valid {
            try roundTrips(ModerationResult.self, entry.file)
        }
        for entry in manifest.dlq where entry.schema_valid {
            try roundTrips(DLQEnvelope.self, entry.file)
        }
        #expect(manifest.results.filter(\.schema_valid).count == 3)
        #expect(manifest.dlq.filter(\.schema_valid).count == 2)
    }

    @Test func typedDecodingRejectsWhatTheSchemaRejectsByType() throws {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ModerationResult.self, from: Data(try Fixtures.bytes("results/bad-decision.json")))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(DLQEnvelope.self, from: Data(try Fixtures.bytes("dlq/unknown-code.json")))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(DLQEnvelope.self, from: Data(try Fixtures.bytes("dlq/missing-source.json")))
        }
    }

    @Test func syntheticRequestIDIsDeterministicAndCannotCollide() {
        let id = SourcePosition(topic: "chaperone.requests", partition: 3, offset: 17).syntheticRequestID
        #expect(id == "kafka:chaperone.requests:3:17")
        #expect(throws: RequestRejection.self) {
            try RequestValidator().validate(GenerationRequest(requestID: id, tenant: "t", prompt: "p", seed: 0))
        }
    }

    @Test func sha256MatchesPublishedVectors() {
        // FIPS 180-2 appendix B test vectors.
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Several blocks; value from `hashlib.sha256(b"a" * 1000).hexdigest()`.
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1000))
            == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func timestampsAreRFC3339UTCWithMilliseconds() {
        let text = Timestamp.rfc3339(Date(timeIntervalSince1970: 1_769_860_800.125))
        #expect(text == "2026-01-31T12:00:00.125Z")
    }
}
