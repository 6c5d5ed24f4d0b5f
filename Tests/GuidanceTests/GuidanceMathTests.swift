import Contracts
import Foundation
import Testing
import Tensor
@testable import Guidance

/// Small deterministic pseudo-random tensors for the math tests.
func testTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var state = seed &* 0x9e37_79b9_7f4a_7c15 | 1
    let count = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        values[i] = Float(Int64(bitPattern: state % 2001) - 1000) / 1000
    }
    return Tensor(shape: shape, scalars: values)
}

@Suite struct SafeLatentDiffusionTests {
    let shape = [1, 4, 3, 5]

    /// The SLD equations written element by element in Double (from the Float parameters the
    /// kernel uses), step by step.
    func reference(_ p: SLDParameters, steps: [(Tensor, Tensor, Tensor)]) -> [[Double]?] {
        var v = [Double](repeating: 0, count: shape.reduce(1, *))
        var out: [[Double]?] = []
        for (i, (u, c, s)) in steps.enumerated() {
            let u = u.scalars.map(Double.init), c = c.scalars.map(Double.init), s = s.scalars.map(Double.init)
            var gamma = [Double](repeating: 0, count: v.count)
            for j in v.indices {
                let d = c[j] - s[j]
                let scale = min(abs(d) * Double(Float(p.guidanceScale)), 1)
                let mu = d >= Double(Float(p.threshold)) ? 0 : scale
                gamma[j] = mu * (s[j] - u[j]) + Double(Float(p.momentumScale)) * v[j]
                v[j] = Double(Float(p.momentumBeta)) * v[j] + (1 - Double(Float(p.momentumBeta))) * gamma[j]
            }
            out.append(i >= p.warmupSteps ? gamma : nil)
        }
        return out
    }

    @Test(arguments: [
        SafetyPreset.weak.parameters, SafetyPreset.medium.parameters, SafetyPreset.strong.parameters, SafetyPreset.max.parameters,
        SLDParameters(warmupSteps: 2, guidanceScale: 3, threshold: -0.1, momentumScale: 0.8, momentumBeta: 0.2),
    ])
    func correctionFollowsTheEquationsStepByStep(parameters: SLDParameters) {
        var steps: [(Tensor, Tensor, Tensor)] = []
        for k in 0..<18 {
            let base = UInt64(3 * k)
            steps.append((testTensor(shape, seed: base + 1), testTensor(shape, seed: base + 2), testTensor(shape, seed: base + 3)))
        }
        let expected = reference(parameters, steps: steps)
        var sld = SafeLatentDiffusion(parameters: parameters)
        for (i, (u, c, s)) in steps.enumerated() {
            let got = sld.correction(uncond: u, text: c, safety: s, step: i)
            #expect((got == nil) == (expected[i] == nil), "step \(i): warm-up boundary")
            if let got, let want = expected[i] {
                let error = zip(got.scalars, want).map { abs(Double($0) - $1) }.max() ?? 0
                #expect(error < 1e-5, "step \(i): max abs error \(error)")
            }
        }
    }

    @Test func presetsAreThePapers() {
        #expect(SafetyPreset.medium.parameters == SLDParameters(warmupSteps: 10, guidanceScale: 1000, threshold: 0.01, momentumScale: 0.3, momentumBeta: 0.4))
        #expect(SafetyPreset.max.parameters.warmupSteps == 0)
        #expect(!SLDParameters(warmupSteps: 0, guidanceScale: 1, threshold: 0, momentumScale: 0, momentumBeta: 0).isActive)
        #expect(SafetyPreset.weak.parameters.isActive)
        #expect(SLDParameters(warmupSteps: 0, guidanceScale: 5, threshold: 0, momentumScale: 0, momentumBeta: 1).problem != nil)
        #expect(SLDParameters(warmupSteps: 0, guidanceScale: 5, threshold: 0, momentumScale: 0, momentumBeta: 0.5).problem == nil)
    }
}

@Suite struct SemanticGuidanceTests {
    let shape = [1, 2, 4, 5]

    @Test func thresholdKeepsTheTopShareOfEachChannel() {
        let g = testTensor([2, 3, 4, 5], seed: 9)
        let kept = SemanticGuidance.keepAboveChannelQuantile(g, 0.9)
        let plane = 20
        for bc in 0..<6 {
            let values = Array(g.scalars[(bc * plane)..<((bc + 1) * plane)])
            let out = Array(kept.scalars[(bc * plane)..<((bc + 1) * plane)])
            let magnitudes = values.map(abs).sorted()
            // torch.quantile, linear: position 0.9 · 19 = 17.1 between the 18th and 19th values.
            let cutoff = magnitudes[17] + 0.1 * (magnitudes[18] - magnitudes[17])
            for (x, y) in zip(values, out) { #expect(y == (abs(x) >= cutoff ? x : 0)) }
            #expect(out.filter { $0 != 0 }.count == 2)
        }
    }

    @Test func nothingIsAddedBeforeAnyWarmUpButMomentumAccumulates() {
        let edit = SemanticEdit(concept: "x", guidanceScale: 2, warmupSteps: 2, threshold: 0)
        var sega = SemanticGuidance(edits: [edit], momentum: SemanticMomentum(scale: 0.5, beta: 0.5))
        let u = testTensor(shape, seed: 1), e = testTensor(shape, seed: 2)
        #expect(sega.term(uncond: u, editPredictions: [e], step: 0) == nil)
        #expect(sega.term(uncond: u, editPredictions: [e], step: 1) == nil)
        let term = sega.term(uncond: u, editPredictions: [e], step: 2)!
        // g = 2(e − u) every step; v after two steps: v1 = 0.5 g, v2 = 0.5 v1 + 0.5 (g + 0.5 v1) = 0.875 g;
        // step 2 adds G = g + 0.5 v2 = 1.4375 g.
        let g = (e - u) * 2
        let error = zip(term.scalars, (g * 1.4375).scalars).map { abs($0 - $1) }.max()!
        #expect(error < 1e-5)
    }

    @Test func partialWarmUpAddsRenormalisedWarmEditsWithoutMomentum() {
        let early = SemanticEdit(concept: "a", guidanceScale: 1, warmupSteps: 0, threshold: 0, weight: 2)
        let late = SemanticEdit(concept: "b", reverse: true, guidanceScale: 1, warmupSteps: 5, threshold: 0, weight: 1)
        var sega = SemanticGuidance(edits: [early, late], momentum: SemanticMomentum(scale: 0.9, beta: 0.1))
        let u = testTensor(shape, seed: 4), a = testTensor(shape, seed: 5), b = testTensor(shape, seed: 6)
        let term = sega.term(uncond: u, editPredictions: [a, b], step: 0)!
        // Only `early` is warm: its weight renormalises to 1, no momentum.
        let error = zip(term.scalars, (a - u).scalars).map { abs($0 - $1) }.max()!
        #expect(error < 1e-6)
        // Both warm at step 5: 2(a − u) − (b − u) plus momentum from earlier steps.
        for step in 1..<5 { _ = sega.term(uncond: u, editPredictions: [a, b], step: step) }
        let full = sega.term(uncond: u, editPredictions: [a, b], step: 5)!
        let sum = (a - u) * 2 - (b - u)
        // Constant inputs: v_k = 0.9 v_{k-1} + 0.9·… converges; recompute v exactly.
        var v = Tensor.zeros(shape)
        for _ in 0..<5 { let G = sum + v * 0.9; v = v * 0.1 + G * 0.9 }
        let expected = sum + v * 0.9
        let fullError = zip(full.scalars, expected.scalars).map { abs($0 - $1) }.max()!
        #expect(fullError < 1e-5)
    }

    @Test func cooledDownEditContributesNothing() {
        let edit = SemanticEdit(concept: "a", guidanceScale: 3, warmupSteps: 0, cooldownSteps: 2, threshold: 0)
        var sega = SemanticGuidance(edits: [edit], momentum: SemanticMomentum(scale: 0, beta: 0.4))
        let u = testTensor(shape, seed: 7), a = testTensor(shape, seed: 8)
        #expect(sega.term(uncond: u, editPredictions: [a], step: 1) != nil)
        let cooled = sega.term(uncond: u, editPredictions: [a], step: 2)!
        #expect(cooled.scalars.allSatisfy { $0 == 0 })
    }

    @Test func editDefaultsAreSEGAs() throws {
        let edit = try JSONDecoder().decode(SemanticEdit.self, from: Data(#"{"concept": "a hat", "reverse": false}"#.utf8))
        #expect(edit.resolved == SemanticEdit(concept: "a hat", reverse: false, guidanceScale: 5, warmupSteps: 10, cooldownSteps: nil, threshold: 0.9, weight: 1))
        #expect(SemanticEdit(concept: "", guidanceScale: 5).problem != nil)
        #expect(SemanticEdit(concept: "x", threshold: 1.5).problem != nil)
        #expect(SemanticEdit(concept: "x", threshold: 0.5).problem == nil)
    }
}

@Suite struct FairDiffusionTests {
    let families = AttributeFamilies.standard

    @Test func drawIsDeterministicPerSeedAndFamily() throws {
        let target = FairnessTarget(family: "gender", proportions: ["female": 0.5, "male": 0.5])
        let first = try FairDiffusion.plan(target: target, seed: 42, families: families)
        let again = try FairDiffusion.plan(target: target, seed: 42, families: families)
        #expect(first == again)
        #expect(first.draw == FairDiffusion.uniform(seed: 42, salt: "gender"))
    }

    @Test(arguments: [0.5, 0.3, 0.9, 0.0, 1.0])
    func sharesConvergeToTheTarget(female: Double) throws {
        let target = FairnessTarget(family: "gender", proportions: ["female": female, "male": 1 - female])
        var count = 0
        let n = 20_000
        for seed in 0..<n where try FairDiffusion.plan(target: target, seed: UInt64(seed), families: families).value == "female" {
            count += 1
        }
        #expect(abs(Double(count) / Double(n) - female) < 0.01)
    }

    /// A stream's assignment decides the value whatever the seed, and is recorded with its
    /// place in the stream instead of a draw; one that does not fit the target is refused.
    @Test func theStreamsAssignmentDecidesTheValue() throws {
        let target = FairnessTarget(family: "gender", proportions: ["female": 0.5, "male": 0.5])
        let seeded = try FairDiffusion.plan(target: target, seed: 42, families: families).value
        let other = seeded == "female" ? "male" : "female"
        let plan = try FairDiffusion.plan(
            target: target, seed: 42, families: families, assignment: FairnessAssignment(family: "gender", value: other, streamIndex: 17))
        #expect(plan.value == other && plan.draw == nil && plan.streamIndex == 17)
        #expect(plan.edits.filter { !$0.reverse }.map(\.concept) == ["\(other) person"])
        let guidance = try MitigationGuidance(
            Mitigations(fairness: target), seed: 42, guidanceScale: 7.5, families: families,
            defaultSwitchTau: AttributeSwitch.defaultTau, fairnessAssignment: FairnessAssignment(family: "gender", value: other, streamIndex: 17))
        #expect(guidance.applied.fairness?.value == other && guidance.applied.fairness?.streamIndex == 17 && guidance.applied.fairness?.draw == nil)
        for wrong in [FairnessAssignment(family: "age", value: "female", streamIndex: 0),
                      FairnessAssignment(family: "gender", value: "robot", streamIndex: 0)] {
            #expect(throws: GuidanceError.self) { try FairDiffusion.plan(target: target, seed: 1, families: families, assignment: wrong) }
        }
        let onlyFemale = FairnessTarget(family: "gender", proportions: ["female": 1, "male": 0])
        #expect(throws: GuidanceError.self) {
            try FairDiffusion.plan(target: onlyFemale, seed: 1, families: families, assignment: FairnessAssignment(family: "gender", value: "male", streamIndex: 0))
        }
    }

    /// The figure behind the stream: 100 requests of one tenant that all reuse seed 7. Drawn
    /// from the seed, every one gets the same value (deviation 0.5 from 50/50); from the stream,
    /// exactly 50 each (deviation 0), and at most one image off at any point on the way.
    @Test func aReusedSeedGetsOneValueFromTheSeedAndBalancedValuesFromTheStream() throws {
        let target = FairnessTarget(family: "gender", proportions: ["female": 0.5, "male": 0.5])
        let drawn = try (0..<100).map { _ in try FairDiffusion.plan(target: target, seed: 7, families: families).value }
        #expect(Set(drawn).count == 1)
        var stream = FairnessStream()
        var female = 0
        var worst = 0.0
        for n in 1...100 {
            let (value, index) = stream.assign(proportions: target.proportions)
            let plan = try FairDiffusion.plan(
                target: target, seed: 7, families: families, assignment: FairnessAssignment(family: "gender", value: value, streamIndex: index))
            if plan.value == "female" { female += 1 }
            worst = max(worst, abs(Double(female) - 0.5 * Double(n)))
        }
        #expect(female == 50 && worst <= 0.5)
    }

    @Test func editsAddTheDrawnValueAndRemoveTheOthers() throws {
        let target = FairnessTarget(family: "gender", proportions: ["female": 1, "male": 0])
        let plan = try FairDiffusion.plan(target: target, seed: 7, families: families)
        #expect(plan.value == "female")
        #expect(plan.edits.map(\.concept) == ["female person", "male person"])
        #expect(plan.edits.map(\.reverse) == [false, true])
        #expect(plan.edits.allSatisfy { $0.guidanceScale == 4 && $0.warmupSteps == 5 && $0.threshold == 0.95 })
        #expect(plan.momentum == SemanticMomentum(scale: 0.5, beta: 0.6))
    }

    @Test(arguments: [
        (FairnessTarget(family: "age", proportions: ["old": 1]), "unknown fairness family 'age'"),
        (FairnessTarget(family: "gender", proportions: ["female": 0.5, "other": 0.5]), "has no value 'other'"),
        (FairnessTarget(family: "gender", proportions: ["female": 0.7, "male": 0.7]), "must sum to 1"),
        (FairnessTarget(family: "gender", proportions: ["female": -0.5, "male": 1.5]), "each be in [0, 1]"),
    ])
    func badTargetsAreRejected(target: FairnessTarget, message: String) {
        #expect {
            _ = try FairDiffusion.plan(target: target, seed: 1, families: families)
        } throws: { String(describing: $0).contains(message) }
    }

    @Test func familiesFileIsValidated() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("families-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(#"{"families": {"skin": {"values": {"light": ["light-skinned person"]}}}}"#.utf8).write(to: url)
        #expect { _ = try AttributeFamilies.load(from: url) } throws: { String(describing: $0).contains("needs at least two values") }
        try Data(#"{"families": {"age": {"values": {"young": ["young person"], "old": ["old person"]}, "edit": {"guidance_scale": 6, "warmup_steps": 3, "threshold": 0.9, "momentum_scale": 0.2, "momentum_beta": 0.5}}}}"#.utf8).write(to: url)
        let loaded = try AttributeFamilies.load(from: url)
        #expect(loaded.families["age"]?.edit.guidanceScale == 6)
    }

    @Test func modelFolderFamiliesApplyUnlessAFileIsGiven() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("model-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let none = try AttributeFamilies.resolve(explicit: nil, modelFolder: folder)
        #expect(none.source == nil)
        #expect(none.families == .standard)

        let tuned = folder.appendingPathComponent(AttributeFamilies.modelFolderFileName)
        try Data(#"{"families": {"gender": {"values": {"female": ["female person"], "male": ["male person"]}, "edit": {"guidance_scale": 9, "warmup_steps": 1, "threshold": 0.5, "momentum_scale": 0.3, "momentum_beta": 0.6}}}}"#.utf8).write(to: tuned)
        let fromFolder = try AttributeFamilies.resolve(explicit: nil, modelFolder: folder)
        #expect(fromFolder.source == tuned)
        #expect(fromFolder.families.families["gender"]?.edit.guidanceScale == 9)
        #expect(fromFolder.families.families["gender"]?.edit.warmupSteps == 1)

        let explicit = folder.appendingPathComponent("other.json")
        try Data(#"{"families": {"age": {"values": {"young": ["young person"], "old": ["old person"]}}}}"#.utf8).write(to: explicit)
        let given = try AttributeFamilies.resolve(explicit: explicit, modelFolder: folder)
        #expect(given.source == explicit)
        #expect(given.families.families.keys.sorted() == ["age"])

        try Data("not json".utf8).write(to: tuned)
        #expect { _ = try AttributeFamilies.resolve(explicit: nil, modelFolder: folder) } throws: {
            String(describing: $0).contains(AttributeFamilies.modelFolderFileName)
        }
    }
}

@Suite struct AttributeSwitchTests {
    @Test func switchesWhenTauExceedsTheTimestep() {
        let never = AttributeSwitch(switchedPrompt: "b", tau: 0)
        let always = AttributeSwitch(switchedPrompt: "b", tau: 1000)
        let mid = AttributeSwitch(switchedPrompt: "b", tau: 650)
        #expect(!never.usesSwitchedPrompt(atTimestep: 0))
        #expect(always.usesSwitchedPrompt(atTimestep: 999))
        #expect(!mid.usesSwitchedPrompt(atTimestep: 650))
        #expect(mid.usesSwitchedPrompt(atTimestep: 649))
        #expect(AttributeSwitch(switchedPrompt: "b", tau: 1001).validationProblem() != nil)
    }
}
