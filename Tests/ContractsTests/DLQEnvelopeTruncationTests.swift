import Contracts
import Foundation
import Testing

/// A huge rejected message must still fit a dead letter in one Kafka message: the envelope
/// carries the first 256 KiB, marked truncated with the whole original's size and SHA-256.
@Suite struct DLQEnvelopeTruncationTests {
    static func envelope(_ original: [UInt8]) -> DLQEnvelope {
        var envelope = DLQEnvelope(
            requestID: nil, auditID: "kafka:t:0:1", reasonCode: .promptTooLong, reasonMessage: "too long", originalValue: "",
            originalKey: nil, source: SourcePosition(topic: "t", partition: 0, offset: 1), workerID: "w", rejectedAt: "2026-11-30T00:00:00Z")
        envelope.setOriginal(original)
        return envelope
    }

    @Test func aSmallOriginalIsCarriedWhole() throws {
        let original = Array(repeating: UInt8(ascii: "a"), count: DLQEnvelope.maximumOriginalBytes)
        let envelope = Self.envelope(original)
        #expect(Data(base64Encoded: envelope.originalValue) == Data(original))
        #expect(envelope.originalTruncated == nil && envelope.originalSize == nil && envelope.originalSHA256 == nil)
        let json = String(decoding: try JSONEncoder().encode(envelope), as: UTF8.self)
        #expect(!json.contains("original_truncated"), "absent when whole: \(json.prefix(200))")
    }

    @Test func aHugeOriginalIsCutAndMarked() throws {
        let original = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }  // 4 MiB
        let envelope = Self.envelope(original)
        #expect(envelope.originalTruncated == true)
        #expect(envelope.originalSize == original.count)
        #expect(envelope.originalSHA256 == SHA256.hex(original))
        #expect(Data(base64Encoded: envelope.originalValue) == Data(original.prefix(DLQEnvelope.maximumOriginalBytes)))
        let encoded = try JSONEncoder().encode(envelope)
        #expect(encoded.count < 1_000_000, "fits librdkafka's default message.max.bytes: \(encoded.count)")
        let decoded = try JSONDecoder().decode(DLQEnvelope.self, from: encoded)
        #expect(decoded == envelope)
    }
}
