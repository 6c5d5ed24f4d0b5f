import Tensor

/// Row-major elements with a shape, generic over the element type, so layout operators
/// (transpose, slice, concat, gather, expand) are written once for float and int64 values.
struct Dense<Element: Sendable>: Sendable {
    var shape: [Int]
    var data: [Element]

    var rank: Int { shape.count }
    var count: Int { data.count }

    /// Row-major strides of `shape`.
    static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// Copies elements read from `data` at `base + Σ index[d]·strides[d]` into a new tensor of
    /// `outShape`. Negative and zero strides express reversed slices and broadcasting.
    func strided(outShape: [Int], strides: [Int], base: Int) -> Dense<Element> {
        let n = outShape.reduce(1, *)
        guard n > 0 else { return Dense(shape: outShape, data: []) }
        if outShape.isEmpty { return Dense(shape: outShape, data: [data[base]]) }
        let rank = outShape.count
        let inner = outShape[rank - 1]
        let innerStride = strides[rank - 1]
        var result: [Element] = []
        result.reserveCapacity(n)
        var index = [Int](repeating: 0, count: rank - 1)
        var offset = base
        data.withUnsafeBufferPointer { src in
            let rows = n / inner
            for _ in 0..<rows {
                if innerStride == 1 {
                    result.append(contentsOf: src[offset..<(offset + inner)])
                } else {
                    var o = offset
                    for _ in 0..<inner {
                        result.append(src[o])
                        o += innerStride
                    }
                }
                // Advance the odometer over the outer dimensions.
                var d = rank - 2
                while d >= 0 {
                    index[d] += 1
                    offset += strides[d]
                    if index[d] < outShape[d] { break }
                    offset -= strides[d] * outShape[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return Dense(shape: outShape, data: result)
    }
}

extension Dense where Element == Float {
    init(_ tensor: Tensor) { self.init(shape: tensor.shape, data: tensor.scalars) }
    var tensor: Tensor { Tensor(shape: shape, scalars: data) }
}

extension Dense where Element == Int64 {
    init(_ tensor: Int64Tensor) { self.init(shape: tensor.shape, data: tensor.scalars) }
    var int64Tensor: Int64Tensor { Int64Tensor(shape: shape, scalars: data) }
}

/// A layout operation written once for every element type.
protocol LayoutTransform {
    func apply<E: Sendable>(_ x: Dense<E>) throws(OnnxError) -> Dense<E>
}

extension OnnxValue {
    /// Applies a layout transform to either element type.
    func transformed(_ transform: some LayoutTransform) throws(OnnxError) -> OnnxValue {
        switch self {
        case .float(let t): .float(try transform.apply(Dense(t)).tensor)
        case .int64(let t): .int64(try transform.apply(Dense(t)).int64Tensor)
        }
    }

    /// The same elements with another shape (element count already checked by the caller).
    func reshaped(_ shape: [Int]) -> OnnxValue {
        switch self {
        case .float(let t): .float(t.reshaped(shape))
        case .int64(let t): .int64(Int64Tensor(shape: shape, scalars: t.scalars))
        }
    }
}
