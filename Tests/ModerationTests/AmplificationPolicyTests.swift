import Foundation
import Moderation
import Testing

/// The policy file's `amplification` section: parsing, and errors that name the field.
@Suite struct AmplificationPolicyTests {
    static func policy(_ amplification: String) throws -> ModerationPolicy {
        try ModerationPolicy.decode(Data("""
            {"default": {"rules": [{"scorer": "prompt_harm", "labels": ["sexual"], "block_at": 0.95}]},
             "amplification": \(amplification)}
            """.utf8), source: "policy.json")
    }

    static func error(_ amplification: String) -> String {
        do {
            _ = try policy(amplification)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func sectionParses() throws {
        let policy = try Self.policy("""
            {"fit_file": "fit.json",
             "types": {"sexual": {"method": "distribution"}, "violence": {"method": "threshold", "tau": 0.1},
                       "shocking": {"method": "bucket_flip", "buckets": [0.3, 0.6]}},
             "prompt_groups": {"gender": {"female": ["female", "woman"], "male": ["male", "man"]}}}
            """)
        let section = policy.amplification
        #expect(section.fitFile == "fit.json")
        #expect(section.method(for: "sexual") == AmplificationTypePolicy(method: .distribution))
        #expect(section.method(for: "violence") == AmplificationTypePolicy(method: .threshold, tau: 0.1))
        #expect(section.method(for: "shocking").buckets == [0.3, 0.6])
        // A type the policy does not list: threshold with τ 0.2.
        #expect(section.method(for: "hate") == AmplificationTypePolicy(method: .threshold, tau: 0.2))
        #expect(section.promptGroups == [PromptGroup(name: "gender", values: ["female": ["female", "woman"], "male": ["male", "man"]])])
        // Without the section: every type threshold τ 0.2, no groups.
        let plain = try ModerationPolicy.decode(Data(#"{"default": {"rules": []}}"#.utf8), source: "p")
        #expect(plain.amplification == .standard)
    }

    @Test func badFieldsAreNamed() {
        #expect(Self.error(#"{"types": {"sexual": {"method": "threshold"}}}"#)
            .contains("amplification.types.sexual.tau is required for method threshold"))
        #expect(Self.error(#"{"types": {"sexual": {"method": "threshold", "tau": -0.1}}}"#)
            .contains("amplification.types.sexual.tau -0.1 must be a number in [0, 1)"))
        #expect(Self.error(#"{"types": {"sexual": {"method": "distribution", "tau": 0.2}}}"#)
            .contains("amplification.types.sexual.tau does not apply to method distribution"))
        #expect(Self.error(#"{"types": {"sexual": {"method": "bucket_flip"}}}"#)
            .contains("amplification.types.sexual.buckets is required for method bucket_flip"))
        #expect(Self.error(#"{"types": {"sexual": {"method": "bucket_flip", "buckets": [0.5, 0.5]}}}"#)
            .contains("amplification.types.sexual.buckets must be strictly increasing"))
        #expect(Self.error(#"{"types": {"sexual": {"method": "bucket_flip", "buckets": [0.5, 1.2]}}}"#)
            .contains("amplification.types.sexual.buckets: edge 1.2 must be in (0, 1)"))
        #expect(Self.error(#"{"types": {"sexual": {"method": "threshold", "tau": 0.2, "buckets": [0.5]}}}"#)
            .contains("amplification.types.sexual.buckets does not apply to method threshold"))
        #expect(Self.error(#"{"types": {"sexual": {"method": "median"}}}"#).contains("types.sexual.method"))
        #expect(Self.error(#"{"types": {"sexual": {"method": "threshold", "tau": 0.2, "concepts": ["nude"]}}}"#)
            .contains("amplification.types.sexual.concepts does not apply to method threshold"))
        #expect(Self.error(#"{"types": {"sexual": {"method": "co_embedding", "tau": 0.2, "concepts": [" "]}}}"#)
            .contains("amplification.types.sexual.concepts needs one or more non-empty texts"))
        #expect(Self.error(#"{"fit_file": ""}"#).contains("amplification.fit_file is empty"))
        #expect(Self.error(#"{"prompt_groups": {"gender": {"female": ["woman"], "male": ["Woman"]}}}"#)
            .contains("amplification.prompt_groups.gender: term 'Woman' names both female and male"))
        #expect(Self.error(#"{"prompt_groups": {"gender": {"female": []}}}"#)
            .contains("amplification.prompt_groups.gender.female has no terms"))
        #expect(Self.error(#"{"prompt_groups": {"gender": {"female": ["--"]}}}"#)
            .contains("amplification.prompt_groups.gender.female: term '--' has no words"))
    }

    @Test func bucketsCountEdgesAtOrBelow() {
        let edges = [0.25, 0.5, 0.75]
        #expect([0, 0.249, 0.25, 0.5, 0.74, 0.75, 1].map { AmplificationTypePolicy.bucket(of: $0, edges: edges) } == [0, 0, 1, 2, 2, 3, 3])
    }
}
