/// A layer's weight as it is held: float32, or 16-bit and widened to float32 for each use.
///
/// Large Linear and convolution weights may stay in a checkpoint's half precision to halve a
/// model's memory; `linear` and `conv2d` accept either and, for 16-bit weights, widen one layer's
/// weight into a temporary float32 buffer that is freed when the call returns. The widening is
/// exact, so a 16-bit weight gives the same result as the float32 tensor of the same values.
public enum WeightTensor: Sendable {
    case float32(Tensor)
    case half(HalfTensor)

    /// Dimensions, outermost first.
    public var shape: [Int] {
        switch self {
        case .float32(let tensor): tensor.shape
        case .half(let tensor): tensor.shape
        }
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Bytes held for the values (4 or 2 per element).
    public var storedBytes: Int {
        switch self {
        case .float32(let tensor): 4 * tensor.count
        case .half(let tensor): tensor.byteCount
        }
    }

    /// The values as float32: the tensor itself, or a widened copy.
    public func float32() -> Tensor {
        switch self {
        case .float32(let tensor): tensor
        case .half(let tensor): tensor.widened()
        }
    }

    /// Rows `start..<start + length` of the first axis (a view, no copy).
    public func narrowed(rows start: Int, length: Int) -> WeightTensor {
        switch self {
        case .float32(let tensor): .float32(tensor.narrowed(axis: 0, start: start, length: length))
        case .half(let tensor): .half(tensor.narrowed(rows: start, length: length))
        }
    }

    /// The same values with a new shape (no copy).
    public func reshaped(_ shape: [Int]) -> WeightTensor {
        switch self {
        case .float32(let tensor): .float32(tensor.reshaped(shape))
        case .half(let tensor): .half(tensor.reshaped(shape))
        }
    }

    /// `parts` stacked along the first axis: 16-bit when all are 16-bit of one format,
    /// float32 otherwise.
    public static func concatenated(rows parts: [WeightTensor]) -> WeightTensor {
        let halves = parts.compactMap { part -> HalfTensor? in
            if case .half(let tensor) = part { return tensor } else { return nil }
        }
        if halves.count == parts.count, let format = halves.first?.format, halves.allSatisfy({ $0.format == format }) {
            return .half(HalfTensor.concatenated(rows: halves))
        }
        return .float32(concat(parts.map { $0.float32() }, axis: 0))
    }

    /// Whether both read the same memory (one shares the other's storage rather than a copy).
    public func sharesStorage(with other: WeightTensor) -> Bool {
        switch (self, other) {
        case (.float32(let a), .float32(let b)):
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in pa.baseAddress == pb.baseAddress } }
        case (.half(let a), .half(let b)): a.sharesStorage(with: b)
        default: false
        }
    }
}

/// `linear` with a weight held in either precision (see `WeightTensor`).
public func linear(_ x: Tensor, weight: WeightTensor, bias: Tensor? = nil) -> Tensor {
    switch weight {
    case .float32(let tensor): linear(x, weight: tensor, bias: bias)
    case .half(let tensor): linear(x, weight: tensor.widened(), bias: bias)
    }
}

/// `conv2d` with a weight held in either precision (see `WeightTensor`).
public func conv2d(_ x: Tensor, weight: WeightTensor, bias: Tensor? = nil, options: Conv2DOptions) -> Tensor {
    switch weight {
    case .float32(let tensor): conv2d(x, weight: tensor, bias: bias, options: options)
    case .half(let tensor): conv2d(x, weight: tensor.widened(), bias: bias, options: options)
    }
}
