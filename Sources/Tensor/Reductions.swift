// Reductions along one axis: x viewed as [outer, axis, inner] -> [outer, (1,) inner].
// Sums accumulate in Double in a fixed order, so results never depend on thread count.

extension Tensor {
    private func reduce(
        axis: Int, keepDims: Bool, op: String,
        _ combine: (UnsafePointer<Float>, Int, Int) -> Float
    ) -> Tensor {
        let a = normalizedAxis(axis, op: op)
        let split = AxisSplit(shape, axis: a)
        precondition(split.length > 0 || op == "sum" || op == "mean", "\(op): axis \(axis) of shape \(shape) is empty")
        var outShape = shape
        if keepDims { outShape[a] = 1 } else { outShape.remove(at: a) }
        return withUnsafeBufferPointer { src in
            Tensor(shape: outShape) { out in
                let o = out.baseAddress!, x = src.baseAddress!
                parallelFor(split.outer * split.inner, minimumPerChunk: 256) { r in
                    for idx in r {
                        let outer = idx / split.inner, inner = idx % split.inner
                        o[idx] = combine(x + outer * split.length * split.inner + inner, split.length, split.inner)
                    }
                }
            }
        }
    }

    /// Sum along `axis`.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
        reduce(axis: axis, keepDims: keepDims, op: "sum") { p, n, s in
            var acc = 0.0
            for k in 0..<n { acc += Double(p[k * s]) }
            return Float(acc)
        }
    }

    /// Mean along `axis`.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
        reduce(axis: axis, keepDims: keepDims, op: "mean") { p, n, s in
            var acc = 0.0
            for k in 0..<n { acc += Double(p[k * s]) }
            return Float(acc / Double(n))
        }
    }

    /// Maximum along `axis`.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        reduce(axis: axis, keepDims: keepDims, op: "max") { p, n, s in
            var m = p[0]
            for k in 1..<Swift.max(n, 1) { m = Swift.max(m, p[k * s]) }
            return m
        }
    }

    /// Minimum along `axis`.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor {
        reduce(axis: axis, keepDims: keepDims, op: "min") { p, n, s in
            var m = p[0]
            for k in 1..<Swift.max(n, 1) { m = Swift.min(m, p[k * s]) }
            return m
        }
    }

    /// Index of the largest element along `axis` (first on ties), stored as Float.
    public func argmax(axis: Int, keepDims: Bool = false) -> Tensor {
        reduce(axis: axis, keepDims: keepDims, op: "argmax") { p, n, s in
            var best = p[0], at = 0
            for k in 1..<Swift.max(n, 1) where p[k * s] > best {
                best = p[k * s]
                at = k
            }
            return Float(at)
        }
    }

    /// Flat index of the largest element (first on ties).
    public func argmax() -> Int {
        precondition(count > 0, "argmax: tensor is empty")
        return withUnsafeBufferPointer { p in
            var best = p[0], at = 0
            for i in 1..<p.count where p[i] > best {
                best = p[i]
                at = i
            }
            return at
        }
    }

    /// Sum of all elements.
    public func sum() -> Float {
        withUnsafeBufferPointer { p in Float(p.reduce(0.0) { $0 + Double($1) }) }
    }

    /// Mean of all elements.
    public func mean() -> Float {
        precondition(count > 0, "mean: tensor is empty")
        return withUnsafeBufferPointer { p in Float(p.reduce(0.0) { $0 + Double($1) } / Double(p.count)) }
    }

    /// Largest element.
    public func max() -> Float {
        precondition(count > 0, "max: tensor is empty")
        return withUnsafeBufferPointer { $0.max()! }
    }

    /// Smallest element.
    public func min() -> Float {
        precondition(count > 0, "min: tensor is empty")
        return withUnsafeBufferPointer { $0.min()! }
    }
}
