import Contracts
import Moderation
import Diffusion
import Dispatch
import Foundation
import Guidance
import Synchronization
import Worker

/// Generates a request's image with the native pipeline: the base UNet, or the SafeGen-edited
/// one, plus the request's guidance terms (SLD, SEGA edits, Fair Diffusion edits) and
/// attribute switching. Runs on its own thread, never on Swift's cooperative pool.
public struct NativeImageGenerator: ImageGenerating {
    let base: StableDiffusionPipeline
    let safeGen: StableDiffusionPipeline?
    let overlaySHA256: String?
    public let modelSHA256: String
    let families: AttributeFamilies
    /// The attribute-switching τ of a request that gives none (the model folder's
    /// `attribute-switching.json`, else the built-in default).
    public let defaultSwitchTau: Int
    /// Early abort on the tenant's policy; nil: every generation runs all steps.
    var earlyAbort: EarlyAbortCheck?
    private let queue = DispatchQueue(label: "chaperone.generate", qos: .userInitiated)

    init(base: StableDiffusionPipeline, safeGen: StableDiffusionPipeline?, overlaySHA256: String?,
         modelSHA256: String, families: AttributeFamilies, defaultSwitchTau: Int) {
        self.base = base
        self.safeGen = safeGen
        self.overlaySHA256 = overlaySHA256
        self.modelSHA256 = modelSHA256
        self.families = families
        self.defaultSwitchTau = defaultSwitchTau
    }

    /// Whether this worker can apply SafeGen (it has an overlay).
    public var hasSafeGen: Bool { safeGen != nil }

    /// The pipeline configuration, guidance terms and the record of what is applied.
    struct Prepared {
        var pipeline: StableDiffusionPipeline
        var configuration: StableDiffusionPipeline.Configuration
        var terms: [any GuidanceTerm]
        var applied: AppliedMitigations
        var overlaySHA256: String?
    }

    func prepare(_ request: GenerationRequest, plan: MitigationPlan) throws -> Prepared {
        let mitigations = plan.mitigations
        var configuration = StableDiffusionPipeline.Configuration(prompt: request.prompt)
        configuration.negativePrompt = request.negativePrompt
        configuration.width = request.width
        configuration.height = request.height
        configuration.steps = request.steps
        configuration.guidanceScale = Float(request.guidanceScale)
        configuration.seed = request.seed
        guard let scheduler = SchedulerKind(name: request.scheduler) else {
            throw GuidanceError.invalidRequest("scheduler '\(request.scheduler)' is not supported")
        }
        configuration.scheduler = scheduler

        var pipeline = base
        var overlay: String?
        // SafeGen: on by default where this worker has an overlay; asked for explicitly without
        // one, the request cannot be honoured and fails clearly.
        let wantsSafeGen = mitigations.safegen ?? (safeGen != nil)
        if wantsSafeGen {
            guard let safeGen else {
                throw GuidanceError.invalidRequest("safegen was requested but this worker has no SafeGen overlay loaded")
            }
            pipeline = safeGen
            overlay = overlaySHA256
        }
        let guidance = try MitigationGuidance(
            mitigations, seed: request.seed, guidanceScale: request.guidanceScale, families: families,
            defaultSwitchTau: defaultSwitchTau, fairnessAssignment: plan.fairnessAssignment)
        var applied = guidance.applied
        applied.safegen = wantsSafeGen
        applied.forcedByPolicy = plan.forcedByPolicy
        configuration.promptSwitch = guidance.promptSwitch
        return Prepared(pipeline: pipeline, configuration: configuration, terms: guidance.terms, applied: applied, overlaySHA256: overlay)
    }

    public func generate(
        _ request: GenerationRequest, plan: MitigationPlan, progress: @escaping @Sendable (GenerationProgress) -> Void
    ) async throws -> GeneratedImage {
        let prepared = try prepare(request, plan: plan)
        let cancelled = CancellationFlag()
        let modelSHA256 = modelSHA256
        let abortCheck = earlyAbort
        let abortPrompt = earlyAbort?.section(forTenant: request.tenant) == nil ? [] : earlyAbort?.promptScores(request.prompt) ?? []
        let abortSection = earlyAbort?.section(forTenant: request.tenant, promptScores: abortPrompt)
        let tenant = request.tenant
        let aborted = AbortBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<GeneratedImage, any Error>) in
                queue.async {
                    do {
                        let result: StableDiffusionPipeline.Result
                        do {
                            result = try prepared.pipeline.generate(prepared.configuration, terms: prepared.terms) { step in
                                progress(GenerationProgress(step: step.completedSteps, totalSteps: step.stepCount))
                                if let abortCheck, let abortSection {
                                    do {
                                        if let abort = try abortCheck.check(
                                            abortSection, tenant: tenant, prompt: abortPrompt, predictedOriginal: step.predictedOriginal, completedSteps: step.completedSteps,
                                            stepCount: step.stepCount, width: prepared.configuration.width, height: prepared.configuration.height,
                                            image: { preview in
                                                GeneratedImage(
                                                    png: [UInt8](try PNG.encode(preview)), rgb: preview.bytes, width: preview.width,
                                                    height: preview.height, modelSHA256: modelSHA256, overlaySHA256: prepared.overlaySHA256,
                                                    appliedMitigations: prepared.applied)
                                            }) {
                                            aborted.set(abort)
                                            return false
                                        }
                                    } catch {
                                        aborted.fail(error)
                                        return false
                                    }
                                }
                                return !cancelled.isSet
                            }
                        } catch {
                            if let failure = aborted.error { throw failure }
                            if let abort = aborted.abort { throw abort }
                            throw error
                        }
                        let image = result.image.rgb()
                        let png = try PNG.encode(image)
                        continuation.resume(returning: GeneratedImage(
                            png: [UInt8](png), rgb: image.bytes, width: image.width, height: image.height,
                            modelSHA256: modelSHA256, overlaySHA256: prepared.overlaySHA256,
                            appliedMitigations: prepared.applied))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// Set once when the task that waits for a generation is cancelled; read by the generation
/// thread between steps.
final class CancellationFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
