import Contracts
import Foundation
import Testing

/// The Swift decoder agrees with the JSON Schema (judged by the Python `jsonschema` package when
/// the fixtures were made) on every committed example, and gives each bad input its reason.
@Suite struct RequestValidatorTests {
    let validator = RequestValidator()

    @Test func decoderAgreesWithSchemaOnEveryExample() throws {
        let manifest = try Fixtures.manifest()
        #expect(manifest.requests.count >= 40)
        for entry in manifest.requests {
            let outcome = validator.decode(try Fixtures.bytes(entry.file))
            switch outcome {
            case .success:
                #expect(entry.schema_valid, "\(entry.file): Swift accepts what the schema rejects")
                #expect(entry.rejection == nil, "\(entry.file): expected rejection \(entry.rejection ?? "")")
            case .failure(let rejection):
                #expect(entry.rejection == rejection.code.rawValue, "\(entry.file): got \(rejection)")
                if entry.rejection != nil, !entry.file.hasPrefix("requests/limit-") {
                    #expect(!entry.schema_valid, "\(entry.file): schema accepts what Swift rejects structurally")
                }
                #expect(!rejection.message.isEmpty)
            }
        }
    }

    @Test func atLeastTenKindsOfBadInputAreCovered() throws {
        let codes = Set(try Fixtures.manifest().requests.compactMap(\.rejection))
        #expect(codes.count >= 15, "\(codes.sorted())")
    }

    @Test func validExampleDecodesToTheExpectedValue() throws {
        let request = try validator.decodeOrThrow(try Fixtures.bytes("requests/all-mitigations.json"))
        #expect(request.requestID == "req-0001")
        #expect(request.seed == 42)
        #expect(request.mitigations.safetyGuidance?.effectiveParameters == SafetyPreset.strong.parameters)
        #expect(request.mitigations.semanticEdits?.count == 2)
        #expect(request.mitigations.semanticEdits?[0] == SemanticEdit(concept: "blood", reverse: true, guidanceScale: 7, warmupSteps: 5, threshold: 0.85))
        #expect(request.mitigations.fairness == FairnessTarget(family: "gender", proportions: ["female": 0.5, "male": 0.5]))
        #expect(request.mitigations.attributeSwitching == AttributeSwitching(switchPrompt: "a color photo of the woman", tau: 650))
        let unicode = try validator.decodeOrThrow(try Fixtures.bytes("requests/unicode-and-sql.json"))
        #expect(unicode.prompt == "日本の庭園 🌸 '); DROP TABLE decisions; --")
        let seed = try validator.decodeOrThrow(try Fixtures.bytes("requests/max-seed.json"))
        #expect(seed.seed == maximumRequestSeed)
    }

    @Test func oversizeMessageIsRejectedBeforeParsing() {
        let small = RequestValidator(limits: RequestLimits(maxMessageBytes: 100))
        let bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 101)
        guard case .failure(let rejection) = small.decode(bytes) else {
            Issue.record("accepted an oversize message")
            return
        }
        #expect(rejection.code == .oversizeMessage)
        #expect(rejection.message.contains("101"))
        #expect(rejection.message.contains("100"))
    }

    @Test func rejectionCarriesTheRequestIDOnlyWhenReadable() throws {
        guard case .failure(let steps) = validator.decode(try Fixtures.bytes("requests/steps-zero.json")) else {
            Issue.record("steps 0 accepted")
            return
        }
        #expect(steps.requestID == "req-0001")
        guard case .failure(let badID) = validator.decode(try Fixtures.bytes("requests/request-id-bad-chars.json")) else {
            Issue.record("bad id accepted")
            return
        }
        #expect(badID.requestID == nil)
        guard case .failure(let utf8) = validator.decode(try Fixtures.bytes("requests/invalid-utf8.json")) else {
            Issue.record("invalid UTF-8 accepted")
            return
        }
        #expect(utf8.requestID == nil)
        #expect(utf8.message.contains("offset"))
    }

    @Test func messagesNameTheFieldAndNeverQuoteThePrompt() throws {
        guard case .failure(let nul) = validator.decode(try Fixtures.bytes("requests/prompt-nul.json")) else {
            Issue.record("NUL accepted")
            return
        }
        #expect(nul.message.contains("`prompt`"))
        #expect(nul.message.contains("NUL"))
        #expect(!nul.message.contains("a cat"))
        guard case .failure(let missing) = validator.decode(try Fixtures.bytes("requests/missing-seed.json")) else {
            Issue.record("missing seed accepted")
            return
        }
        #expect(missing.message.contains("seed"))
        // `safegen` may be absent: the worker's default applies.
        guard case .success(let defaulted) = validator.decode(try Fixtures.bytes("requests/safegen-absent.json")) else {
            Issue.record("absent safegen rejected")
            return
        }
        #expect(defaulted.mitigations.safegen == nil)
        guard case .failure(let unknown) = validator.decode(try Fixtures.bytes("requests/unknown-in-mitigations.json")) else {
            Issue.record("unknown field accepted")
            return
        }
        #expect(unknown.message.contains("mitigations.nsfw_filter"))
    }

    @Test func limitsAreConfigurationNotClamping() throws {
        let bytes = try Fixtures.bytes("requests/limit-steps.json")
        let generous = RequestValidator(limits: RequestLimits(maxSteps: 1000))
        #expect(try generous.decodeOrThrow(bytes).steps == 1000)
        guard case .failure(let rejection) = validator.decode(bytes) else {
            Issue.record("1000 steps accepted under default limits")
            return
        }
        #expect(rejection.code == .stepsOutOfRange)
    }
}
