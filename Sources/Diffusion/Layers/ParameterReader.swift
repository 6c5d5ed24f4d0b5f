import Tensor

/// Hands named weights to layers while a model is built, checking each shape, and records the
/// outcome so a load reports every problem at once.
///
/// Layers ask for their tensors by exact diffusers state-dict name (`prefix + "weight"`), so the
/// tree of layers *is* the checkpoint's key space. After building, `finish()` compares what was
/// asked for with what the checkpoint holds and throws one `DiffusionError` that lists missing,
/// wrong-shape and unknown tensors separately, each by name.
///
/// Layers ask for their large weight matrices with `weight(_:_:)`, which holds them in the
/// reader's `WeightPrecision`; every other tensor (biases, norms, embeddings) is float32.
///
/// A reader is used by one thread for one build; it is not `Sendable`.
public final class ParameterReader {
    private enum Source {
        case store(WeightStore)
        case random(seed: UInt64)
    }

    /// Where the tensors came from (a file or folder path), used in error messages.
    public let origin: String
    private let source: Source
    /// The precision `weight(_:_:)` holds weight matrices in.
    public let precision: WeightPrecision
    private var taken: [String: WeightTensor] = [:]
    private var missing: [String] = []
    private var wrongShape: [(name: String, expected: [Int], actual: [Int])] = []
    private var unreadable: [String] = []
    private var skippedPrefixes: [String] = []

    /// Reads from `store` (for example the safetensors of a `unet/` folder).
    public init(_ store: WeightStore, origin: String, precision: WeightPrecision = .file) {
        self.source = .store(store)
        self.origin = origin
        self.precision = precision
    }

    /// Reads from tensors in memory.
    public convenience init(_ tensors: [String: Tensor], origin: String, precision: WeightPrecision = .file) {
        self.init(WeightStore(tensors: tensors), origin: origin, precision: precision)
    }

    /// Makes up seeded random weights of sensible scale for every tensor asked for: for
    /// benchmarks and tests that need an architecture, not a checkpoint.
    /// `precision` `.float16` rounds them to half, as a float32 checkpoint stored in fp16.
    public init(randomSeed seed: UInt64, precision: WeightPrecision = .file) {
        self.source = .random(seed: seed)
        self.origin = "random weights (seed \(seed))"
        self.precision = precision
    }

    /// The float32 tensor `name` with `shape` (biases, norms). A missing or wrong-shape tensor is
    /// recorded and an empty placeholder returned; `finish()` then throws, so a placeholder never
    /// reaches a forward pass.
    public func callAsFunction(_ name: String, _ shape: [Int]) -> Tensor {
        read(name, shape, precision: .float32).float32()
    }

    /// The weight matrix `name` with `shape`, held in the reader's `precision` (a Linear or
    /// convolution weight). Problems are recorded as by `callAsFunction`.
    public func weight(_ name: String, _ shape: [Int]) -> WeightTensor {
        read(name, shape, precision: precision)
    }

    private func read(_ name: String, _ shape: [Int], precision: WeightPrecision) -> WeightTensor {
        if let already = taken[name] { return already }
        switch source {
        case .store(let store):
            guard let actual = store.shape(of: name) else {
                missing.append(name)
                return .float32(Tensor.zeros([0]))
            }
            guard actual == shape else {
                wrongShape.append((name, shape, actual))
                return .float32(Tensor.zeros([0]))
            }
            do {
                let weight = try store.weight(name, precision: precision)
                taken[name] = weight
                return weight
            } catch {
                unreadable.append("\(error)")
                return .float32(Tensor.zeros([0]))
            }
        case .random(let seed):
            let weight = precision.store(RandomWeights.tensor(name: name, shape: shape, seed: seed))
            taken[name] = weight
            return weight
        }
    }

    /// Every tensor handed out, by name and as held: the built model's parameters.
    public var parameters: [String: WeightTensor] { taken }

    /// Declares the checkpoint's tensors under `prefix` known but not wanted (a part of the model
    /// that is not built), so `finish()` does not call them unknown. They are never read.
    public func skip(prefix: String) {
        skippedPrefixes.append(prefix)
    }

    /// Throws if any tensor was missing or had the wrong shape, or if the checkpoint holds
    /// tensors no layer asked for (outside skipped prefixes); otherwise returns the parameters
    /// handed out.
    @discardableResult
    public func finish() throws -> [String: WeightTensor] {
        if let first = unreadable.first {
            throw DiffusionError(.io, "\(origin): \(unreadable.count) tensor(s) could not be read; first: \(first)")
        }
        var unknown: [String] = []
        if case .store(let store) = source {
            let asked = Set(missing).union(wrongShape.map(\.name))
            unknown = store.names.filter { name in
                taken[name] == nil && !asked.contains(name) && !skippedPrefixes.contains { name.hasPrefix($0) }
            }
        }
        guard missing.isEmpty && wrongShape.isEmpty && unknown.isEmpty else {
            throw ParameterReader.loadError(
                origin: origin, missing: missing.sorted(),
                wrongShape: wrongShape.sorted { $0.name < $1.name }, unknown: unknown.sorted())
        }
        return taken
    }

    /// One error naming every problem; the code is that of the first kind present.
    static func loadError(
        origin: String, missing: [String], wrongShape: [(name: String, expected: [Int], actual: [Int])], unknown: [String]
    ) -> DiffusionError {
        var parts: [String] = []
        func list(_ names: [String]) -> String {
            let shown = names.prefix(20).joined(separator: ", ")
            return names.count > 20 ? shown + ", … (\(names.count) in all)" : shown
        }
        if !missing.isEmpty { parts.append("missing \(missing.count): \(list(missing))") }
        if !wrongShape.isEmpty {
            parts.append("wrong shape \(wrongShape.count): " + list(wrongShape.map {
                "\($0.name) is \($0.actual), expected \($0.expected)"
            }))
        }
        if !unknown.isEmpty { parts.append("unknown \(unknown.count): \(list(unknown))") }
        let code: DiffusionError.Code = !missing.isEmpty ? .missingTensor : (!wrongShape.isEmpty ? .shapeMismatch : .unknownTensor)
        return DiffusionError(code, "\(origin): " + parts.joined(separator: "; "))
    }
}

/// Seeded random weights of sensible scale, for architecture benchmarks without a checkpoint.
///
/// Like PyTorch's default init, values are uniform in ±1/√fan_in; norm scales are 1 and norm
/// shifts 0, so activations keep a realistic range through deep models. Each tensor's values
/// depend only on the seed and its name (the name's FNV-1a hash is the `SyntheticWeights` stream).
enum RandomWeights {
    static func tensor(name: String, shape: [Int], seed: UInt64) -> Tensor {
        if name.contains("norm") && shape.count == 1 {
            return Tensor(shape: shape, repeating: name.hasSuffix(".weight") ? 1 : 0)
        }
        let fanIn = shape.count > 1 ? shape.dropFirst().reduce(1, *) : shape[0]
        let bound = 1 / Double(max(fanIn, 1)).squareRoot()
        return SyntheticWeights.tensor(seed: seed, stream: fnv1a(name), shape: shape, mean: 0, halfWidth: bound)
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
