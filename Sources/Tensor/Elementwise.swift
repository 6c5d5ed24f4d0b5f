// Elementwise binary ops with NumPy broadcasting, and their operator and scalar forms.

extension Tensor {
    /// Applies `op` elementwise after broadcasting `a` and `b` to a common shape.
    @inline(__always)
    static func broadcastBinary(_ a: Tensor, _ b: Tensor, name: String, _ op: (Float, Float) -> Float) -> Tensor {
        OpProfile.measure(.elementwise) {
            if a.shape == b.shape {
                return a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        Tensor(shape: a.shape) { out in
                            let o = out.baseAddress!
                            let x = pa.baseAddress!, y = pb.baseAddress!
                            parallelFor(out.count, minimumPerChunk: 1 << 15) { r in
                                for i in r { o[i] = op(x[i], y[i]) }
                            }
                        }
                    }
                }
            }
            guard let outShape = Broadcast.shape(a.shape, b.shape) else {
                preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) do not broadcast")
            }
            if b.count == 1 && outShape == a.shape {
                let s = b.withUnsafeBufferPointer { $0[0] }
                return a.map { op($0, s) }
            }
            if a.count == 1 && outShape == b.shape {
                let s = a.withUnsafeBufferPointer { $0[0] }
                return b.map { op(s, $0) }
            }
            let sa = Broadcast.strides(of: a.shape, broadcastTo: outShape)
            let sb = Broadcast.strides(of: b.shape, broadcastTo: outShape)
            let inner = outShape.last ?? 1
            let ia = sa.last ?? 0, ib = sb.last ?? 0
            let outerShape = Array(outShape.dropLast())
            let offA = Broadcast.offsets(shape: outerShape, strides: Array(sa.dropLast()))
            let offB = Broadcast.offsets(shape: outerShape, strides: Array(sb.dropLast()))
            return a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    Tensor(shape: outShape) { out in
                        let o = out.baseAddress!
                        let x = pa.baseAddress!, y = pb.baseAddress!
                        parallelFor(offA.count, minimumPerChunk: Swift.max(1, (1 << 15) / Swift.max(1, inner))) { rows in
                            for row in rows {
                                let dst = o + row * inner
                                let xa = x + offA[row], yb = y + offB[row]
                                switch (ia, ib) {
                                case (1, 1): for j in 0..<inner { dst[j] = op(xa[j], yb[j]) }
                                case (1, 0): let s = yb[0]; for j in 0..<inner { dst[j] = op(xa[j], s) }
                                case (0, 1): let s = xa[0]; for j in 0..<inner { dst[j] = op(s, yb[j]) }
                                default: for j in 0..<inner { dst[j] = op(xa[j * ia], yb[j * ib]) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Applies `transform` to every element (parallel for large tensors).
    @inline(__always)
    public func map(_ transform: (Float) -> Float) -> Tensor {
        OpProfile.measure(.elementwise) {
            withUnsafeBufferPointer { src in
                Tensor(shape: shape) { out in
                    let o = out.baseAddress!, x = src.baseAddress!
                    parallelFor(out.count, minimumPerChunk: 1 << 14) { r in
                        for i in r { o[i] = transform(x[i]) }
                    }
                }
            }
        }
    }

    /// Elementwise `self + other` with broadcasting.
    public func adding(_ other: Tensor) -> Tensor { Tensor.broadcastBinary(self, other, name: "add") { $0 + $1 } }
    /// Elementwise `self - other` with broadcasting.
    public func subtracting(_ other: Tensor) -> Tensor { Tensor.broadcastBinary(self, other, name: "sub") { $0 - $1 } }
    /// Elementwise `self * other` with broadcasting.
    public func multiplying(_ other: Tensor) -> Tensor { Tensor.broadcastBinary(self, other, name: "mul") { $0 * $1 } }
    /// Elementwise `self / other` with broadcasting.
    public func dividing(_ other: Tensor) -> Tensor { Tensor.broadcastBinary(self, other, name: "div") { $0 / $1 } }
    /// Elementwise maximum with broadcasting.
    public func maximum(_ other: Tensor) -> Tensor { Tensor.broadcastBinary(self, other, name: "maximum") { Swift.max($0, $1) } }
    /// Elementwise minimum with broadcasting.
    public func minimum(_ other: Tensor) -> Tensor { Tensor.broadcastBinary(self, other, name: "minimum") { Swift.min($0, $1) } }

    public static func + (a: Tensor, b: Tensor) -> Tensor { a.adding(b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.subtracting(b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.multiplying(b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { a.dividing(b) }

    public static func + (a: Tensor, s: Float) -> Tensor { a.map { $0 + s } }
    public static func - (a: Tensor, s: Float) -> Tensor { a.map { $0 - s } }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static func / (a: Tensor, s: Float) -> Tensor { a.map { $0 / s } }
    public static func + (s: Float, a: Tensor) -> Tensor { a.map { s + $0 } }
    public static func - (s: Float, a: Tensor) -> Tensor { a.map { s - $0 } }
    public static func * (s: Float, a: Tensor) -> Tensor { a.map { s * $0 } }
    public static func / (s: Float, a: Tensor) -> Tensor { a.map { s / $0 } }
    public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }

    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
    public static func *= (a: inout Tensor, s: Float) { a = a * s }
}
