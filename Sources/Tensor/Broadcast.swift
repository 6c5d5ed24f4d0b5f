/// NumPy broadcasting: shapes are aligned on the right; a dimension of 1 stretches.
public enum Broadcast {
    /// The broadcast result of two shapes, or nil if they are incompatible.
    public static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 {
                out[i] = da
            } else if da == 1 {
                out[i] = db
            } else {
                return nil
            }
        }
        return out
    }

    /// Strides (in elements) to read an input of `shape` as if it had `outShape`: 0 where stretched.
    static func strides(of shape: [Int], broadcastTo outShape: [Int]) -> [Int] {
        let own = Tensor.strides(for: shape)
        let lead = outShape.count - shape.count
        return outShape.indices.map { i in
            i < lead ? 0 : (shape[i - lead] == 1 && outShape[i] != 1 ? 0 : own[i - lead])
        }
    }

    /// Element offsets of an input (read with `strides`) for every index of the leading `shape`.
    static func offsets(shape: [Int], strides: [Int]) -> [Int] {
        let n = shape.reduce(1, *)
        var result = [Int](repeating: 0, count: n)
        if shape.isEmpty || n == 0 { return result }
        var index = [Int](repeating: 0, count: shape.count)
        var current = 0
        for flat in 0..<n {
            result[flat] = current
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                current += strides[axis]
                if index[axis] < shape[axis] { break }
                current -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }
}

extension Tensor {
    /// This tensor materialised at a broadcast-compatible larger `shape` (copies).
    public func expanded(to outShape: [Int]) -> Tensor {
        OpProfile.measure(.copy) {
            precondition(
                Broadcast.shape(shape, outShape) == outShape,
                "expanded: shape \(shape) cannot broadcast to \(outShape)")
            if shape == outShape { return self }
            let strides = Broadcast.strides(of: shape, broadcastTo: outShape)
            let innerLen = outShape.last ?? 1
            let innerStride = strides.last ?? 0
            let outer = Broadcast.offsets(shape: Array(outShape.dropLast()), strides: Array(strides.dropLast()))
            return withUnsafeBufferPointer { src in
                Tensor(shape: outShape) { dst in
                    for (row, base) in outer.enumerated() {
                        let o = row * innerLen
                        for j in 0..<innerLen { dst[o + j] = src[base + j * innerStride] }
                    }
                }
            }
        }
    }
}
