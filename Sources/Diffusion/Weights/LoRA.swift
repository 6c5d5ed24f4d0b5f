import Foundation
import Tensor

/// A LoRA (low-rank adaptation) file for the UNet and the CLIP text encoder, merged into the
/// weights at load time: W' = W + scale · (alpha / rank) · up · down, as diffusers' `fuse_lora`
/// does. Convolution layers use the reshaped product (1x1 and 3x3 kernels alike).
///
/// Two key formats are read (safetensors):
/// - diffusers / PEFT: `unet.<module>.lora_A.weight` / `lora_B.weight`, or the older
///   `unet.<module>.lora.down.weight` / `lora.up.weight`; `text_encoder.<module>…` for the text
///   encoder. alpha comes from a `<module>.alpha` tensor, else from the `lora_adapter_metadata`
///   header diffusers writes (`unet.lora_alpha`), else it equals the rank (scaling 1).
/// - kohya: `lora_unet_<module with _>.lora_down.weight` / `lora_up.weight` / `alpha`,
///   `lora_te_text_model_…` for the text encoder.
///
/// Nothing is dropped: a key of another form, a layer without its up or down half, ranks that
/// disagree, a module that matches no weight of the model, or a shape that does not fit is an
/// error naming the key.
public struct LoRA: Sendable {
    /// The model part a layer adapts.
    public enum Component: String, Sendable, CaseIterable {
        case unet = "UNet"
        case textEncoder = "text encoder"
    }

    /// One adapted weight.
    public struct Layer: Sendable {
        public let component: Component
        /// The layer's key stem in the file, e.g. `lora_unet_down_blocks_0_…_to_q`; messages name it.
        public let key: String
        /// The adapted module as the file spells it (dots for diffusers/PEFT, underscores for kohya).
        let module: String
        let kohya: Bool
        /// [rank, in] or [rank, in, kh, kw].
        public let down: Tensor
        /// [out, rank] or [out, rank, 1, 1].
        public let up: Tensor
        /// The layer's alpha; the merge scales by alpha / rank.
        public let alpha: Float

        public var rank: Int { down.shape[0] }
    }

    /// The file, for messages.
    public let source: String
    /// Every layer, sorted by key.
    public let layers: [Layer]

    /// The parts of one layer's key.
    private struct ParsedKey {
        enum Part { case down, up, alpha }
        var component: Component
        var module: String
        var kohya: Bool
        var part: Part
        /// The key without its part suffix (`unet.down_blocks.0.….to_q`).
        var stem: String
    }

    private static let suffixes: [(String, ParsedKey.Part)] = [
        (".lora_A.weight", .down), (".lora_B.weight", .up),
        (".lora.down.weight", .down), (".lora.up.weight", .up),
        (".lora_down.weight", .down), (".lora_up.weight", .up),
        (".alpha", .alpha),
    ]

    private static func parse(_ key: String, source: String) throws -> ParsedKey {
        guard let (suffix, part) = suffixes.first(where: { key.hasSuffix($0.0) }) else {
            throw DiffusionError(.unknownTensor,
                "\(source): key '\(key)' is not a LoRA down, up or alpha tensor (lora_A/lora_B, lora.down/lora.up, lora_down/lora_up, alpha)")
        }
        let stem = String(key.dropLast(suffix.count))
        let prefixes: [(String, Component, Bool)] = [
            ("unet.", .unet, false), ("text_encoder.", .textEncoder, false),
            ("lora_unet_", .unet, true), ("lora_te_", .textEncoder, true),
        ]
        guard let (prefix, component, kohya) = prefixes.first(where: { stem.hasPrefix($0.0) }) else {
            throw DiffusionError(.unknownTensor,
                "\(source): key '\(key)' names no model part (expected unet., text_encoder., lora_unet_ or lora_te_)")
        }
        return ParsedKey(component: component, module: String(stem.dropFirst(prefix.count)),
                         kohya: kohya, part: part, stem: stem)
    }

    /// Reads a LoRA safetensors file and checks every layer's halves against each other.
    public static func load(file: URL) throws -> LoRA {
        let store = try WeightStore(files: [file])
        let metadata = try SafeTensorsFile(url: file).metadata
        return try LoRA(weights: store, metadata: metadata, source: file.path)
    }

    /// A LoRA from tensors already read (`metadata`: the file's `__metadata__`).
    public init(weights: WeightStore, metadata: [String: String] = [:], source: String) throws {
        struct Halves { var component: Component; var module: String; var kohya: Bool
                        var down: Tensor?; var up: Tensor?; var alpha: Float? }
        var groups: [String: Halves] = [:]
        for key in weights.names {
            let parsed = try Self.parse(key, source: source)
            var group = groups[parsed.stem]
                ?? Halves(component: parsed.component, module: parsed.module, kohya: parsed.kohya)
            let tensor = try weights.tensor(key)
            switch parsed.part {
            case .down: group.down = tensor
            case .up: group.up = tensor
            case .alpha:
                guard tensor.count == 1, tensor.scalars[0].isFinite else {
                    throw DiffusionError(.shapeMismatch, "\(source): '\(key)' must be one finite number, has shape \(tensor.shape)")
                }
                group.alpha = tensor.scalars[0]
            }
            groups[parsed.stem] = group
        }
        guard !groups.isEmpty else { throw DiffusionError(.invalidInput, "\(source): holds no LoRA tensors") }
        let metadataAlphas = try Self.metadataAlphas(metadata, source: source)

        var layers: [Layer] = []
        for stem in groups.keys.sorted() {
            let group = groups[stem]!
            guard let down = group.down, let up = group.up else {
                throw DiffusionError(.missingTensor,
                    "\(source): LoRA layer '\(stem)' has \(group.down == nil ? "no down (lora_A)" : "no up (lora_B)") tensor")
            }
            let rank = down.shape.first ?? 0
            guard [2, 4].contains(down.rank), down.rank == up.rank, rank > 0,
                  up.shape[1] == rank, up.rank == 2 || (up.shape[2] == 1 && up.shape[3] == 1) else {
                throw DiffusionError(.shapeMismatch,
                    "\(source): LoRA layer '\(stem)': down \(down.shape) and up \(up.shape) do not share a rank (down [r, in(, kh, kw)], up [out, r(, 1, 1)])")
            }
            let alpha = group.alpha ?? metadataAlphas[group.component] ?? Float(rank)
            layers.append(Layer(component: group.component, key: stem, module: group.module, kohya: group.kohya,
                                down: down, up: up, alpha: alpha))
        }
        self.source = source
        self.layers = layers
    }

    /// `lora_alpha` per component from diffusers' `lora_adapter_metadata` header (PEFT's
    /// `LoraConfig`); per-layer patterns, DoRA and rank-stabilised scaling are refused.
    private static func metadataAlphas(_ metadata: [String: String], source: String) throws -> [Component: Float] {
        guard let text = metadata["lora_adapter_metadata"] else { return [:] }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw DiffusionError(.invalidConfig, "\(source): lora_adapter_metadata is not a JSON object")
        }
        var alphas: [Component: Float] = [:]
        for (prefix, component) in [("unet", Component.unet), ("text_encoder", .textEncoder)] {
            for flag in ["use_dora", "use_rslora"] where (object["\(prefix).\(flag)"] as? Bool) == true {
                throw DiffusionError(.invalidConfig, "\(source): \(prefix).\(flag) is not supported")
            }
            for pattern in ["alpha_pattern", "rank_pattern"] {
                if let entries = object["\(prefix).\(pattern)"] as? [String: Any], !entries.isEmpty {
                    throw DiffusionError(.invalidConfig, "\(source): per-layer \(prefix).\(pattern) is not supported")
                }
            }
            if let alpha = object["\(prefix).lora_alpha"] as? NSNumber { alphas[component] = alpha.floatValue }
        }
        return alphas
    }

    /// The merged weights of `component`: for every layer of that component, the weight of
    /// `weights` it adapts plus `scale` · (alpha / rank) · up · down, under that weight's name.
    /// Overlay the result on `weights` (`WeightStore.overlaid(with:)`) to get the adapted model.
    public func overlay(for component: Component, on weights: WeightStore, scale: Float) throws -> WeightStore {
        guard scale.isFinite else { throw DiffusionError(.invalidInput, "\(source): LoRA scale must be finite, got \(scale)") }
        let chosen = layers.filter { $0.component == component }
        guard !chosen.isEmpty else { return WeightStore(tensors: [:]) }
        let names = WeightNames(weights.names, textEncoder: component == .textEncoder)
        var merged: [String: Tensor] = [:]
        var adaptedBy: [String: String] = [:]
        for layer in chosen {
            guard let name = layer.kohya ? names.kohya[layer.module] : names.dotted[layer.module] else {
                throw DiffusionError(.unknownTensor,
                    "\(source): LoRA layer '\(layer.key)' matches no weight of the \(component.rawValue)")
            }
            guard name != WeightNames.ambiguous else {
                throw DiffusionError(.unknownTensor,
                    "\(source): LoRA layer '\(layer.key)' matches several weights of the \(component.rawValue)")
            }
            if let other = adaptedBy[name] {
                throw DiffusionError(.invalidInput, "\(source): LoRA layers '\(other)' and '\(layer.key)' both adapt '\(name)'")
            }
            adaptedBy[name] = layer.key
            let weight = try weights.tensor(name)
            merged[name] = try Self.merge(layer, into: weight, name: name, scale: scale, source: source)
        }
        return WeightStore(tensors: merged)
    }

    /// W + scale · (alpha / rank) · (up · down), with the halves checked against W's shape.
    static func merge(_ layer: Layer, into weight: Tensor, name: String, scale: Float, source: String) throws -> Tensor {
        let (down, up, rank) = (layer.down, layer.up, layer.rank)
        let out = weight.shape.first ?? 0
        let fits: Bool
        switch weight.rank {
        case 2: fits = down.rank == 2 && down.shape == [rank, weight.shape[1]] && up.shape == [out, rank]
        case 4 where down.rank == 2:
            // Linear halves for a 1x1 convolution (some trainers store proj_in/proj_out so).
            fits = weight.shape[2] == 1 && weight.shape[3] == 1 && down.shape == [rank, weight.shape[1]] && up.shape == [out, rank]
        case 4: fits = down.shape == [rank] + weight.shape.dropFirst() && up.shape == [out, rank, 1, 1]
        default: fits = false
        }
        guard fits else {
            throw DiffusionError(.shapeMismatch,
                "\(source): LoRA layer '\(layer.key)' (down \(down.shape), up \(up.shape)) does not fit '\(name)' \(weight.shape)")
        }
        let inner = weight.count / out
        let product = matmul(up.reshaped([out, rank]), down.reshaped([rank, inner]))
        let factor = layer.alpha / Float(rank) * scale
        return weight.withUnsafeBufferPointer { w in
            product.withUnsafeBufferPointer { delta in
                Tensor(shape: weight.shape, unsafeUninitialized: { result in
                    for i in 0..<w.count { result[i] = w[i] + delta[i] * factor }
                })
            }
        }
    }

    /// A model's weight names by the module names a LoRA may use for them.
    private struct WeightNames {
        static let ambiguous = ""
        /// `down_blocks.0.….to_q` → `down_blocks.0.….to_q.weight` (text encoder: with or without `text_model.`).
        var dotted: [String: String] = [:]
        /// The same modules with `.` spelled `_` (kohya).
        var kohya: [String: String] = [:]

        init(_ names: [String], textEncoder: Bool) {
            for name in names where name.hasSuffix(".weight") {
                let module = String(name.dropLast(".weight".count))
                var spellings = [module]
                if textEncoder {
                    let prefix = CLIPTextModel.keyPrefix
                    spellings.append(module.hasPrefix(prefix) ? String(module.dropFirst(prefix.count)) : prefix + module)
                }
                for spelling in spellings {
                    Self.add(spelling, name, to: &dotted)
                    Self.add(spelling.replacingOccurrences(of: ".", with: "_"), name, to: &kohya)
                }
            }
        }

        private static func add(_ key: String, _ name: String, to table: inout [String: String]) {
            if let existing = table[key], existing != name { table[key] = ambiguous } else { table[key] = name }
        }
    }
}

/// A LoRA with the strength it is merged at.
public struct ScaledLoRA: Sendable {
    public let lora: LoRA
    /// Multiplies the LoRA's own alpha / rank (1 = as trained, 0 = no effect).
    public let scale: Float

    public init(_ lora: LoRA, scale: Float = 1) {
        self.lora = lora
        self.scale = scale
    }

    /// `weights` of `component` with this LoRA merged.
    public func apply(to weights: WeightStore, component: LoRA.Component) throws -> WeightStore {
        weights.overlaid(with: try lora.overlay(for: component, on: weights, scale: scale))
    }
}
