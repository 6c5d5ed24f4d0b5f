import Contracts
import Foundation
import Testing

/// The Swift types and the JSON Schema files describe the same documents: same property names,
/// same required members (the keys a minimal value encodes).
@Suite struct SchemaConformanceTests {
    /// Resolves `{"$ref": "#/$defs/x"}` and `allOf` wrappers to the object schema they name.
    private func resolve(_ node: [String: Any], in root: [String: Any]) -> [String: Any] {
        if let ref = node["$ref"] as? String, ref.hasPrefix("#/$defs/") {
            let defs = root["$defs"] as! [String: Any]
            return resolve(defs[String(ref.dropFirst("#/$defs/".count))] as! [String: Any], in: root)
        }
        return node
    }

    private func keys(of node: [String: Any]) -> (properties: Set<String>, required: Set<String>) {
        let properties = Set((node["properties"] as? [String: Any] ?? [:]).keys)
        let required = Set(node["required"] as? [String] ?? [])
        return (properties, required)
    }

    private func encodedKeys<T: Encodable>(_ value: T) throws -> Set<String> {
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as! [String: Any]
        return Set(object.keys)
    }

    private func property(_ path: [String], in root: [String: Any], from start: [String: Any]? = nil) -> [String: Any] {
        var node = start ?? root
        for name in path {
            let properties = resolve(node, in: root)["properties"] as! [String: Any]
            node = resolve(properties[name] as! [String: Any], in: root)
        }
        return resolve(node, in: root)
    }

    private func check<T: Encodable, K: CodingKey & CaseIterable & RawRepresentable>(
        _ schemaFile: String, path: [String], keys codingKeys: K.Type, minimal: T
    ) throws where K.RawValue == String {
        let root = try Fixtures.schema(schemaFile)
        let node: [String: Any]
        if path.first == "$defs" {
            node = property(Array(path.dropFirst(2)), in: root, from: resolve(["$ref": "#/$defs/\(path[1])"], in: root))
        } else {
            node = property(path, in: root)
        }
        let schemaKeys = keys(of: node)
        #expect(schemaKeys.properties == Set(K.allCases.map(\.rawValue)), "properties of \(schemaFile) \(path)")
        #expect(schemaKeys.required == (try encodedKeys(minimal)), "required of \(schemaFile) \(path)")
        #expect(node["additionalProperties"] as? Bool == false, "\(schemaFile) \(path) must forbid unknown fields")
    }

    @Test func generationRequestMatchesSchema() throws {
        let file = "generation-request.schema.json"
        try check(file, path: [], keys: GenerationRequest.CodingKeys.self,
                  minimal: GenerationRequest(requestID: "r", tenant: "t", prompt: "p", seed: 1))
        try check(file, path: ["mitigations"], keys: Mitigations.CodingKeys.self, minimal: Mitigations())
        try check(file, path: ["$defs", "safety_guidance"], keys: SafetyGuidance.CodingKeys.self, minimal: SafetyGuidance())
        try check(file, path: ["$defs", "sld_parameters"], keys: SLDParameters.CodingKeys.self, minimal: SafetyPreset.weak.parameters)
        try check(file, path: ["$defs", "semantic_edit"], keys: SemanticEdit.CodingKeys.self, minimal: SemanticEdit(concept: "c"))
        try check(file, path: ["$defs", "fairness"], keys: FairnessTarget.CodingKeys.self,
                  minimal: FairnessTarget(family: "gender", proportions: ["a": 0.5, "b": 0.5]))
        try check(file, path: ["$defs", "semantic_momentum"], keys: SemanticMomentum.CodingKeys.self,
                  minimal: SemanticMomentum(scale: 0.1, beta: 0.4))
        try check(file, path: ["$defs", "attribute_switching"], keys: AttributeSwitching.CodingKeys.self,
                  minimal: AttributeSwitching(switchPrompt: "s"))
    }

    @Test func moderationResultMatchesSchema() throws {
        let file = "moderation-result.schema.json"
        let minimal = ModerationResult(
            requestID: "r", tenant: "t", decision: .block, reasons: [], scores: [], image: nil, imageSHA256: nil,
            generatedImageSHA256: "g", modelSHA256: "m", overlaySHA256: nil, mitigations: AppliedMitigations(),
            workerID: "w", decidedAt: "d", timings: StageTimings(decodeMs: 0, generateMs: 0, scoreMs: 0))
        try check(file, path: [], keys: ModerationResult.CodingKeys.self, minimal: minimal)
        try check(file, path: ["timings"], keys: StageTimings.CodingKeys.self, minimal: minimal.timings)
        try check(file, path: ["$defs", "reason"], keys: DecisionReason.CodingKeys.self,
                  minimal: DecisionReason(scorer: "s", label: "l", score: 1, threshold: 0.5))
        try check(file, path: ["$defs", "score"], keys: HarmScore.CodingKeys.self,
                  minimal: HarmScore(scorer: "s", label: "l", score: 1, subject: .image))
        try check(file, path: ["$defs", "applied_mitigations"], keys: AppliedMitigations.CodingKeys.self, minimal: AppliedMitigations())
        try check(file, path: ["$defs", "applied_mitigations", "safety_guidance"], keys: AppliedSafetyGuidance.CodingKeys.self,
                  minimal: AppliedSafetyGuidance(preset: nil, parameters: SafetyPreset.max.parameters, concept: "c"))
        try check(file, path: ["$defs", "applied_mitigations", "fairness"], keys: AppliedFairness.CodingKeys.self,
                  minimal: AppliedFairness(family: "gender", proportions: ["a": 1], value: "a", draw: nil, edits: []))
    }

    @Test func dlqEnvelopeMatchesSchema() throws {
        let file = "dlq-envelope.schema.json"
        let source = SourcePosition(topic: "t", partition: 0, offset: 0)
        let minimal = DLQEnvelope(
            requestID: nil, auditID: "a", reasonCode: .malformedJSON, reasonMessage: "m", originalValue: "",
            originalKey: nil, source: source, workerID: "w", rejectedAt: "d")
        try check(file, path: [], keys: DLQEnvelope.CodingKeys.self, minimal: minimal)
        try check(file, path: ["source"], keys: SourcePosition.CodingKeys.self, minimal: source)
    }

    @Test func schemaEnumsMatchSwiftEnums() throws {
        let dlq = try Fixtures.schema("dlq-envelope.schema.json")
        let codes = ((dlq["properties"] as! [String: Any])["reason_code"] as! [String: Any])["enum"] as! [String]
        #expect(Set(codes) == Set(RejectionCode.allCases.map(\.rawValue)))
        let result = try Fixtures.schema("moderation-result.schema.json")
        let decisions = ((result["properties"] as! [String: Any])["decision"] as! [String: Any])["enum"] as! [String]
        #expect(Set(decisions) == Set(Decision.allCases.map(\.rawValue)))
        let request = try Fixtures.schema("generation-request.schema.json")
        let safety = ((request["$defs"] as! [String: Any])["safety_guidance"] as! [String: Any])["properties"] as! [String: Any]
        let presets = (safety["preset"] as! [String: Any])["enum"] as! [String]
        #expect(Set(presets) == Set(SafetyPreset.allCases.map(\.rawValue)))
    }
}
