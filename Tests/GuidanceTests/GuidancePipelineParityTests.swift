import Contracts
import Foundation
import Testing
import Diffusion
import Tensor
@testable import Guidance
import TestSupport

/// Full runs of diffusers 0.42.1 `StableDiffusionPipelineSafe` (SLD presets) and
/// `SemanticStableDiffusionPipeline` (SEGA, Fair Diffusion's edits) on the tiny random-init model
/// from given latents (ops/reference/make_guidance_fixtures.py), against our pipeline with the
/// matching guidance terms. Tolerances: recorded latents within 1e-3 × max |diffusers|; the final
/// 8-bit image within 1/255.
@Suite struct GuidancePipelineParityTests {
    static let fixtures = TestPaths.fixtures

    struct Call: Decodable {
        var prompt: String
        var negativePrompt: String?
        var width: Int
        var height: Int
        var numInferenceSteps: Int
        var guidanceScale: Float
        var recordedLoopIndices: [Int]
        // SLD
        var sldGuidanceScale: Float?
        var sldWarmupSteps: Int?
        var sldThreshold: Float?
        var sldMomentumScale: Float?
        var sldMomBeta: Float?
        // SEGA (scalars or per-edit lists)
        var editingPrompt: OneOrMany<String>?
        var reverseEditingDirection: OneOrMany<Bool>?
        var editGuidanceScale: OneOrMany<Float>?
        var editWarmupSteps: OneOrMany<Int>?
        var editCooldownSteps: OneOrMany<Int>?
        var editThreshold: OneOrMany<Float>?
        var editMomentumScale: Float?
        var editMomBeta: Float?
        var editWeights: [Float]?
    }

    enum OneOrMany<T: Decodable>: Decodable {
        case one(T)
        case many([T])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let list = try? c.decode([T].self) { self = .many(list) } else { self = .one(try c.decode(T.self)) }
        }

        func value(_ index: Int) -> T {
            switch self {
            case .one(let v): v
            case .many(let list): list[index]
            }
        }

        var count: Int {
            switch self {
            case .one: 1
            case .many(let list): list.count
            }
        }
    }

    static let cases = ["sld-weak", "sld-medium", "sld-strong", "sld-max", "sld-warmup4", "sld-off",
                        "sega-two-edits", "sega-cooldown", "sega-safety-strong", "fair-diffusion", "cfg-plain"]

    func terms(for call: Call) -> [any GuidanceTerm] {
        if let scale = call.sldGuidanceScale {
            let parameters = SLDParameters(
                warmupSteps: call.sldWarmupSteps ?? 10, guidanceScale: Double(scale), threshold: Double(call.sldThreshold ?? 0.01),
                momentumScale: Double(call.sldMomentumScale ?? 0.3), momentumBeta: Double(call.sldMomBeta ?? 0.4))
            return [SafeLatentDiffusionTerm(parameters: parameters)]
        }
        if let prompts = call.editingPrompt {
            let edits = (0..<prompts.count).map { k in
                SemanticEdit(
                    concept: prompts.value(k),
                    reverse: call.reverseEditingDirection?.value(k) ?? false,
                    guidanceScale: call.editGuidanceScale.map { Double($0.value(k)) },
                    warmupSteps: call.editWarmupSteps?.value(k),
                    cooldownSteps: call.editCooldownSteps?.value(k),
                    threshold: call.editThreshold.map { Double($0.value(k)) },
                    weight: call.editWeights.map { Double($0[k]) })
            }
            return [SemanticGuidanceTerm(
                edits: edits, momentum: SemanticMomentum(scale: Double(call.editMomentumScale ?? 0.1), beta: Double(call.editMomBeta ?? 0.4)))]
        }
        return []
    }

    @Test(arguments: cases)
    func matchesDiffusers(name: String) throws {
        let folder = Self.fixtures.appendingPathComponent("guidance")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let call = try decoder.decode(Call.self, from: Data(contentsOf: folder.appendingPathComponent("\(name).json")))
        let reference = try WeightStore(files: [folder.appendingPathComponent("\(name).safetensors")])
        let initial = try reference.tensor("initial_latents")
        let stepLatents = try reference.tensor("step_latents")
        let image = try reference.tensor("image")  // [1, H, W, 3] in [0, 1]

        let pipeline = try StableDiffusionPipeline.load(folder: Self.fixtures.appendingPathComponent("tiny-sd"))
        var configuration = StableDiffusionPipeline.Configuration(prompt: call.prompt)
        configuration.negativePrompt = call.negativePrompt ?? ""
        configuration.width = call.width
        configuration.height = call.height
        configuration.steps = call.numInferenceSteps
        configuration.guidanceScale = call.guidanceScale
        configuration.latents = initial
        var recorded: [Tensor] = []
        let result = try pipeline.generate(configuration, terms: terms(for: call)) { progress in
            recorded.append(progress.latents)
            return true
        }

        let per = stepLatents.count / call.recordedLoopIndices.count
        for (row, loopIndex) in call.recordedLoopIndices.enumerated() {
            let theirs = Array(stepLatents.scalars[(row * per)..<((row + 1) * per)])
            let ours = recorded[loopIndex].scalars
            let scale = max(theirs.map(abs).max() ?? 1, 1e-6)
            let error = zip(ours, theirs).map { abs($0 - $1) }.max()! / scale
            #expect(error <= 1e-3, "\(name) loop step \(loopIndex): relative error \(error)")
        }
        let expected = image.scalars.map { UInt8(($0 * 255).rounded()) }
        #expect(result.image.bytes.count == expected.count)
        let diff = zip(result.image.bytes, expected).map { abs(Int($0) - Int($1)) }.max() ?? 255
        #expect(diff <= 1, "\(name): max abs diff \(diff)/255")
    }

    @Test func sldChangesTheImageAndWeakEqualsPlainCFGHere() throws {
        // With 12 PNDM steps (13 loop iterations) the weak preset's warm-up of 15 is never
        // reached and its momentum scale is 0, so diffusers' result equals plain CFG (up to float noise) — and the
        // stronger presets differ from it.
        let folder = Self.fixtures.appendingPathComponent("guidance")
        func image(_ name: String) throws -> [Float] {
            try WeightStore(files: [folder.appendingPathComponent("\(name).safetensors")]).tensor("image").scalars
        }
        func distance(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max()! }
        let plain = try image("cfg-plain")
        // Equal up to float noise from the three-branch UNet batch.
        #expect(distance(try image("sld-weak"), plain) < 1e-5)
        #expect(distance(try image("sld-max"), plain) > 1e-3)
    }
}
