import Foundation
import Tensor
import Testing
@testable import Diffusion
import TestSupport

/// Weights held in 16 bits (`WeightPrecision`): what each precision loads a tensor as, that a
/// 16-bit file stays a view of its mapping, that a 16-bit checkpoint gives bit-identical images
/// in any precision, and how much storing a float32 checkpoint as fp16 changes an image.
struct HalfWeightsTests {
    private let dtypes = TestPaths.fixture("safetensors").appendingPathComponent("dtypes.safetensors")

    @Test("F16 and BF16 file tensors are views of the mapping with the file's values; F32 is not")
    func fileViews() throws {
        let file = try SafeTensorsFile(url: dtypes)
        for name in file.names {
            let view = try file.halfTensor(name)
            switch file.info(name)!.dtype {
            case .f16, .bf16:
                let half = try #require(view, "\(name)")
                #expect(half.format == (file.info(name)!.dtype == .f16 ? .float16 : .bfloat16))
                #expect(half.widened().scalars.map(\.bitPattern) == (try file.tensor(name)).scalars.map(\.bitPattern), "\(name)")
            default:
                #expect(view == nil, "\(name)")
            }
        }
        #expect(throws: DiffusionError.self) { try file.halfTensor("nope") }
    }

    @Test("each precision holds F32, F16 and BF16 tensors as documented")
    func precisionSelection() throws {
        let store = try WeightStore(files: [dtypes])
        let file = try SafeTensorsFile(url: dtypes)
        func kind(_ weight: WeightTensor) -> String {
            switch weight {
            case .float32: "f32"
            case .half(let half): half.format == .float16 ? "f16" : "bf16"
            }
        }
        for name in store.names {
            let dtype = file.info(name)!.dtype
            let stored: String = dtype == .f16 ? "f16" : (dtype == .bf16 ? "bf16" : "f32")
            #expect(kind(try store.weight(name, precision: .file)) == stored, "\(name)")
            #expect(kind(try store.weight(name, precision: .float32)) == "f32", "\(name)")
            #expect(kind(try store.weight(name, precision: .float16)) == (stored == "f32" ? "f16" : stored), "\(name)")
            // Whatever the precision, the values are the file's, or their fp16 rounding.
            let exact = try store.tensor(name)
            #expect(try store.weight(name, precision: .file).float32().scalars.map(\.bitPattern) == exact.scalars.map(\.bitPattern))
            let rounded = try store.weight(name, precision: .float16).float32().scalars
            let expected = stored == "f32" ? exact.scalars.map { Float(Float16($0)) } : exact.scalars
            #expect(zip(rounded, expected).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(name)")
        }
        #expect(throws: DiffusionError.self) { try store.weight("nope", precision: .file) }
    }

    @Test("a 16-bit Linear and Conv2d run exactly like float32 layers holding the rounded weights")
    func layersMatchRoundedFloat32() throws {
        let half = ParameterReader(randomSeed: 5, precision: .float16)
        let linear16 = Linear(half, "proj.", inFeatures: 64, outFeatures: 48)
        let conv16 = Conv2d(half, "conv.", inChannels: 32, outChannels: 40, kernel: 3, padding: 1)
        guard case .half = linear16.weight, case .half = conv16.weight else {
            Issue.record("float16 precision did not hold the weights in 16 bits")
            return
        }
        #expect(linear16.bias.map { _ in true } == true)
        let rounded = ParameterReader(half.parameters.mapValues { $0.float32() }, origin: "rounded", precision: .float32)
        let linear32 = Linear(rounded, "proj.", inFeatures: 64, outFeatures: 48)
        let conv32 = Conv2d(rounded, "conv.", inChannels: 32, outChannels: 40, kernel: 3, padding: 1)
        let tokens = SyntheticWeights.tensor(seed: 1, stream: 1, shape: [2, 9, 64], mean: 0, halfWidth: 1)
        let image = SyntheticWeights.tensor(seed: 1, stream: 2, shape: [1, 32, 48, 48], mean: 0, halfWidth: 1)
        #expect(linear16(tokens).scalars == linear32(tokens).scalars)
        #expect(conv16(image).scalars == conv32(image).scalars)
    }

    @Test("the tiny F16 model keeps its weights as views of the files and renders the same image in every precision")
    func tinyModelPrecisions() throws {
        let folder = tinyModelFolder()
        let file = try StableDiffusionPipeline.load(folder: folder)
        let float32 = try StableDiffusionPipeline.load(folder: folder, weightPrecision: .float32)
        let unet = try #require(file.noisePredictor as? UNet2DConditionModel)
        let weights = unet.parameters.values.filter { $0.shape.count > 1 }
        #expect(!weights.isEmpty && weights.allSatisfy { if case .half = $0 { true } else { false } })
        #expect((float32.noisePredictor as? UNet2DConditionModel)?.parameters.values.allSatisfy {
            if case .float32 = $0 { true } else { false }
        } == true)
        var configuration = StableDiffusionPipeline.Configuration(prompt: "a red bicycle")
        configuration.width = 64
        configuration.height = 64
        configuration.steps = 3
        configuration.seed = 7
        #expect(try file.generate(configuration).image == float32.generate(configuration).image)
    }

    /// The tiny model's weights moved off the fp16 grid (each times 1 + u, |u| ≤ 1e-3) stand in
    /// for a float32 checkpoint; holding it as fp16 rounds every weight matrix (relative error up
    /// to 2^-11). Measured over these seeds: mean abs pixel difference 0.04-0.05/255 and max 1/255
    /// (a few values crossing a rounding boundary); the bounds leave room for other BLAS kernels.
    @Test("a float32 checkpoint stored as fp16 renders nearly the same image", arguments: [UInt64(1), 2, 3])
    func float16StorageOfFloat32Checkpoint(seed: UInt64) throws {
        let folder = try StableDiffusionModelFolder(url: tinyModelFolder())
        func offGrid(_ directory: URL) throws -> WeightStore {
            let store = try WeightStore.load(folder: directory)
            var tensors: [String: Tensor] = [:]
            for (index, name) in store.names.enumerated() {
                let tensor = try store.tensor(name)
                let factor = SyntheticWeights.tensor(seed: 9, stream: UInt64(index), shape: tensor.shape, mean: 1, halfWidth: 1e-3)
                tensors[name] = tensor * factor
            }
            return WeightStore(tensors: tensors)
        }
        let text = try offGrid(folder.textEncoder), unetWeights = try offGrid(folder.unet), vaeWeights = try offGrid(folder.vae)
        func pipeline(_ precision: WeightPrecision) throws -> StableDiffusionPipeline {
            let encoder = CLIPPromptEncoder(
                tokenizer: try CLIPTokenizer(folder: folder.tokenizer),
                textModel: try CLIPTextModel(
                    config: try CLIPTextConfig.load(folder.textEncoder.appendingPathComponent("config.json")),
                    weights: text, precision: precision))
            let unet = try UNet2DConditionModel(
                config: try UNet2DConditionConfig.load(from: folder.unet.appendingPathComponent("config.json")),
                weights: unetWeights, precision: precision)
            let vae = try AutoencoderKL(
                config: try AutoencoderKLConfig.load(from: folder.vae.appendingPathComponent("config.json")),
                weights: vaeWeights, precision: precision)
            return StableDiffusionPipeline(promptEncoder: encoder, noisePredictor: unet, decoder: vae,
                                           schedulerConfig: try folder.schedulerConfig())
        }
        var configuration = StableDiffusionPipeline.Configuration(prompt: "a lighthouse at dusk")
        configuration.width = 64
        configuration.height = 64
        configuration.steps = 4
        configuration.seed = seed
        let full = try pipeline(.file).generate(configuration).image
        let half = try pipeline(.float16).generate(configuration).image
        let differences = zip(full.bytes, half.bytes).map { abs(Int($0) - Int($1)) }
        let mean = Double(differences.reduce(0, +)) / Double(differences.count)
        let worst = differences.max() ?? 0
        print("fp16 storage of a float32 checkpoint, seed \(seed): mean abs \(mean)/255, max \(worst)/255")
        #expect(full.bytes.count == half.bytes.count)
        #expect(mean <= 0.25, "mean abs pixel difference \(mean)/255")
        #expect(worst <= 8, "max abs pixel difference \(worst)/255")
    }
}
