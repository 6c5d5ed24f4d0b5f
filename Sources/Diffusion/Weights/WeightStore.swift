import Foundation
import Tensor

/// Named model weights from one or more safetensors files (or memory), looked up by the exact
/// checkpoint key (`text_model.encoder.layers.0.mlp.fc1.weight`, `down_blocks.0.attentions.0…`).
///
/// Files stay memory-mapped; a tensor is converted to float32 when asked for, or handed out in
/// a chosen `WeightPrecision` by `weight(_:precision:)` (a 16-bit file tensor then stays a view
/// of the mapping). `overlaid(with:)` replaces some entries (for example a SafeGen `attn1`
/// overlay) while sharing the rest.
public struct WeightStore: Sendable {
    enum Entry: Sendable {
        case file(SafeTensorsFile, SafeTensorInfo)
        case memory(WeightTensor)

        var shape: [Int] {
            switch self {
            case .file(_, let info): info.shape
            case .memory(let tensor): tensor.shape
            }
        }
    }

    private var entries: [String: Entry]

    /// A store over tensors already in memory (tests, benchmarks, synthetic weights).
    public init(tensors: [String: Tensor]) {
        entries = tensors.mapValues { .memory(.float32($0)) }
    }

    /// A store over weights already in memory, each in the precision it is held in (a model's
    /// `parameters`, so a rebuilt model shares them).
    public init(weights: [String: WeightTensor]) {
        entries = weights.mapValues { .memory($0) }
    }

    /// A store over the union of `files`; a name present in two files is an error.
    public init(files: [URL]) throws {
        entries = [:]
        for url in files {
            let file = try SafeTensorsFile(url: url)
            for info in file.header.tensors {
                if case .file(let other, _)? = entries[info.name] {
                    throw DiffusionError(.invalidSafeTensors,
                        "tensor '\(info.name)' appears in both \(other.path) and \(url.path)")
                }
                entries[info.name] = .file(file, info)
            }
        }
    }

    /// Loads the weights of a diffusers/transformers model folder (`text_encoder/`, `unet/`, …).
    ///
    /// Looks for a shard index (`model.safetensors.index.json`,
    /// `diffusion_pytorch_model.safetensors.index.json`), then a single `model.safetensors` or
    /// `diffusion_pytorch_model.safetensors`, then the folder's only `*.safetensors` file.
    public static func load(folder: URL) throws -> WeightStore {
        let fm = FileManager.default
        for stem in ["model", "diffusion_pytorch_model"] {
            let index = folder.appendingPathComponent("\(stem).safetensors.index.json")
            if fm.fileExists(atPath: index.path) { return try load(index: index) }
        }
        for stem in ["model", "diffusion_pytorch_model"] {
            let file = folder.appendingPathComponent("\(stem).safetensors")
            if fm.fileExists(atPath: file.path) { return try WeightStore(files: [file]) }
        }
        let contents = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
        let candidates = contents.filter { $0.hasSuffix(".safetensors") }.sorted()
        guard candidates.count == 1 else {
            throw DiffusionError(.io, candidates.isEmpty
                ? "\(folder.path): no .safetensors weights found"
                : "\(folder.path): several .safetensors files and no index: \(candidates.joined(separator: ", "))")
        }
        return try WeightStore(files: [folder.appendingPathComponent(candidates[0])])
    }

    /// Loads a sharded checkpoint from its `*.safetensors.index.json` (`weight_map`: name → shard).
    ///
    /// Every name in the map must be in its shard; shards are opened once each.
    public static func load(index: URL) throws -> WeightStore {
        struct Index: Decodable { var weight_map: [String: String] }
        let parsed: Index
        do {
            parsed = try JSONDecoder().decode(Index.self, from: Data(contentsOf: index))
        } catch {
            throw DiffusionError(.invalidConfig, "\(index.path): not a safetensors index with a weight_map (\(error))")
        }
        let folder = index.deletingLastPathComponent()
        var files: [String: SafeTensorsFile] = [:]
        var store = WeightStore(tensors: [:])
        for (name, shard) in parsed.weight_map.sorted(by: { $0.key < $1.key }) {
            guard !shard.contains("/"), !shard.hasPrefix(".") else {
                throw DiffusionError(.invalidConfig, "\(index.path): shard name '\(shard)' for '\(name)' must be a file in the same folder")
            }
            let file: SafeTensorsFile
            if let open = files[shard] {
                file = open
            } else {
                file = try SafeTensorsFile(url: folder.appendingPathComponent(shard))
                files[shard] = file
            }
            guard let info = file.info(name) else {
                throw DiffusionError(.missingTensor, "\(index.path): tensor '\(name)' is mapped to \(shard), which does not contain it")
            }
            store.entries[name] = .file(file, info)
        }
        return store
    }

    /// All tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// Whether the store holds `name`.
    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The shape of `name`, or nil when absent.
    public func shape(of name: String) -> [Int]? { entries[name]?.shape }

    /// Tensor `name` as float32; throws `.missingTensor` naming it when absent.
    public func tensor(_ name: String) throws -> Tensor {
        switch entries[name] {
        case .file(let file, let info)?: return try file.tensor(info.name)
        case .memory(let weight)?: return weight.float32()
        case nil: throw DiffusionError(.missingTensor, "weight '\(name)' is missing from the checkpoint")
        }
    }

    /// Tensor `name` held in `precision`: a 16-bit file tensor stays a view of the mapped file
    /// unless `precision` is `.float32`; float32 values are rounded to half for `.float16`.
    public func weight(_ name: String, precision: WeightPrecision) throws -> WeightTensor {
        switch entries[name] {
        case .file(let file, let info)?:
            if precision != .float32, let half = try file.halfTensor(info.name) { return .half(half) }
            return precision.store(try file.tensor(info.name))
        case .memory(let weight)?: return precision.store(weight)
        case nil: throw DiffusionError(.missingTensor, "weight '\(name)' is missing from the checkpoint")
        }
    }

    /// Tensor `name`, which must have exactly `shape`; throws `.missingTensor` or `.shapeMismatch`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let actual = entries[name]?.shape else {
            throw DiffusionError(.missingTensor, "weight '\(name)' is missing from the checkpoint")
        }
        guard actual == shape else {
            throw DiffusionError(.shapeMismatch, "weight '\(name)' has shape \(actual), expected \(shape)")
        }
        return try tensor(name)
    }

    /// Compares the store with the names and shapes a model expects.
    public func check(expected: [String: [Int]]) -> WeightReport {
        var report = WeightReport()
        for (name, shape) in expected {
            guard let actual = entries[name]?.shape else {
                report.missing.append(name)
                continue
            }
            if actual != shape { report.wrongShape.append(.init(name: name, expected: shape, actual: actual)) }
        }
        report.unknown = entries.keys.filter { expected[$0] == nil }
        report.missing.sort()
        report.unknown.sort()
        report.wrongShape.sort { $0.name < $1.name }
        return report
    }

    /// A store where every entry of `overlay` replaces (or adds) the entry of the same name.
    public func overlaid(with overlay: WeightStore) -> WeightStore {
        var result = self
        result.entries.merge(overlay.entries) { _, new in new }
        return result
    }

    /// The same tensors under new names; throws when two names map to one.
    public func renamed(_ rename: (String) -> String) throws -> WeightStore {
        var result = WeightStore(tensors: [:])
        for (name, entry) in entries {
            let newName = rename(name)
            guard result.entries[newName] == nil else {
                throw DiffusionError(.invalidInput, "renaming weights: two tensors map to '\(newName)'")
            }
            result.entries[newName] = entry
        }
        return result
    }

    /// Only the entries whose names satisfy `isIncluded`.
    public func filtered(_ isIncluded: (String) -> Bool) -> WeightStore {
        var result = WeightStore(tensors: [:])
        result.entries = entries.filter { isIncluded($0.key) }
        return result
    }
}

/// How a checkpoint compares with a model: tensors it lacks, tensors the model does not know,
/// and tensors whose shape differs, each by name (sorted).
public struct WeightReport: Sendable, Equatable {
    /// A tensor present in both with different shapes.
    public struct WrongShape: Sendable, Equatable {
        public var name: String
        public var expected: [Int]
        public var actual: [Int]
    }

    public var missing: [String] = []
    public var unknown: [String] = []
    public var wrongShape: [WrongShape] = []

    /// True when nothing is missing, unknown or mis-shaped.
    public var isClean: Bool { missing.isEmpty && unknown.isEmpty && wrongShape.isEmpty }

    /// Throws one error listing every problem; `allowUnknown` tolerates extra tensors.
    ///
    /// - Parameter source: names the checkpoint in the message.
    public func throwIfProblems(source: String, allowUnknown: Bool = false) throws {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing \(missing.count): \(Self.list(missing))") }
        if !wrongShape.isEmpty {
            parts.append("wrong shape \(wrongShape.count): "
                + Self.list(wrongShape.map { "\($0.name) \($0.actual) (expected \($0.expected))" }))
        }
        if !allowUnknown, !unknown.isEmpty { parts.append("unknown \(unknown.count): \(Self.list(unknown))") }
        guard !parts.isEmpty else { return }
        let code: DiffusionError.Code = !missing.isEmpty ? .missingTensor : (!wrongShape.isEmpty ? .shapeMismatch : .unknownTensor)
        throw DiffusionError(code, "\(source): " + parts.joined(separator: "; "))
    }

    private static func list(_ items: [String]) -> String {
        items.count <= 8 ? items.joined(separator: ", ") : items.prefix(8).joined(separator: ", ") + ", …"
    }
}
