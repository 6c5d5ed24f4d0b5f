import Tensor

// Matrix products, softmax and reductions.

/// `MatMul` with NumPy semantics (1-D operands promoted and the unit axis removed again).
struct MatMulKernel: OnnxKernel {
    let what: String

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 2...2, outputs: 1...1)
        what = ctx.what
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        var a = try inputs.float(0, what), b = try inputs.float(1, what)
        guard a.rank >= 1, b.rank >= 1 else { throw OnnxError(.invalidInput, "\(what): scalar operands \(a.shape), \(b.shape)") }
        let vectorA = a.rank == 1, vectorB = b.rank == 1
        if vectorA { a = a.reshaped([1, a.shape[0]]) }
        if vectorB { b = b.reshaped([b.shape[0], 1]) }
        guard a.shape[a.rank - 1] == b.shape[b.rank - 2],
              let batch = Broadcast.shape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))
        else { throw OnnxError(.invalidInput, "\(what): cannot multiply \(a.shape) by \(b.shape)") }
        _ = try checkedCount(batch + [a.shape[a.rank - 2], b.shape[b.rank - 1]], what)
        var y = matmul(a, b)
        var shape = y.shape
        if vectorB { shape.removeLast() }
        if vectorA { shape.remove(at: shape.count - (vectorB ? 1 : 2)) }
        y = y.reshaped(shape)
        return [.float(y)]
    }
}

/// `Gemm`: alpha·op(A)·op(B) + beta·C with C broadcast to [M, N].
struct GemmKernel: OnnxKernel {
    let what: String
    let alpha: Float, beta: Float
    let transA: Bool, transB: Bool

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 2...3, outputs: 1...1)
        what = ctx.what
        alpha = try ctx.float("alpha", default: 1)
        beta = try ctx.float("beta", default: 1)
        transA = try ctx.int("transA", default: 0) != 0
        transB = try ctx.int("transB", default: 0) != 0
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let a = try inputs.float(0, what), b = try inputs.float(1, what)
        guard a.rank == 2, b.rank == 2 else { throw OnnxError(.invalidInput, "\(what): A and B must be 2-D, got \(a.shape), \(b.shape)") }
        let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
        let kb = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1]
        guard k == kb else { throw OnnxError(.invalidInput, "\(what): inner dimensions differ for \(a.shape) and \(b.shape)") }
        var y = matmul(a, b, transposeA: transA, transposeB: transB, alpha: alpha)
        if let c = try inputs.optionalFloat(2, what) {
            guard Broadcast.shape(c.shape, [m, n]) == [m, n] else {
                throw OnnxError(.invalidInput, "\(what): C of shape \(c.shape) does not broadcast to [\(m), \(n)]")
            }
            y = y.adding(beta == 1 ? c : c.map { $0 * beta })
        }
        return [.float(y)]
    }
}

/// `Softmax` (opset ≥ 13 along one axis; before 13 over the flattened trailing axes).
struct SoftmaxKernel: OnnxKernel {
    let what: String
    let axis: Int
    let legacy: Bool

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...1, outputs: 1...1)
        what = ctx.what
        legacy = ctx.opset < 13
        axis = try ctx.int("axis", default: legacy ? 1 : -1)
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let x = try inputs.float(0, what)
        let a = try normalizeAxis(axis, rank: x.rank, what)
        if legacy {
            let outer = x.shape[..<a].reduce(1, *), inner = x.shape[a...].reduce(1, *)
            return [.float(x.reshaped([outer, inner]).softmax(axis: 1).reshaped(x.shape))]
        }
        return [.float(x.softmax(axis: a))]
    }
}

/// `ReduceMean` over `axes` (attribute before opset 18, input after), with `keepdims`.
struct ReduceMeanKernel: OnnxKernel {
    let what: String
    let attributeAxes: [Int]?
    let keepDims: Bool
    let noopWithEmptyAxes: Bool

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...2, outputs: 1...1)
        what = ctx.what
        attributeAxes = try ctx.ints("axes")
        keepDims = try ctx.int("keepdims", default: 1) != 0
        noopWithEmptyAxes = try ctx.int("noop_with_empty_axes", default: 0) != 0
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let x = try inputs.float(0, what)
        var axes = attributeAxes ?? []
        if let given = try inputs.optionalInt64(1, what) { axes = try checkedInts(given.scalars, what) }
        if axes.isEmpty {
            if noopWithEmptyAxes { return [.float(x)] }
            axes = Array(0..<x.rank)
        }
        var reduced = Set<Int>()
        for axis in axes { reduced.insert(try normalizeAxis(axis, rank: x.rank, what)) }
        return [.float(reduceMean(x, axes: reduced, keepDims: keepDims))]
    }
}

/// Mean over a set of axes, accumulated in Double.
func reduceMean(_ x: Tensor, axes: Set<Int>, keepDims: Bool) -> Tensor {
    let shape = x.shape
    let keptShape = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
    let outStrides = Dense<Float>.strides(keptShape)
    let readStrides = shape.indices.map { axes.contains($0) ? 0 : outStrides[$0] }
    let outCount = keptShape.reduce(1, *)
    let groupSize = max(1, shape.enumerated().filter { axes.contains($0.offset) }.map(\.element).reduce(1, *))
    var sums = [Double](repeating: 0, count: outCount)
    x.withUnsafeBufferPointer { src in
        guard !shape.isEmpty, src.count > 0 else {
            if src.count > 0 { sums[0] = Double(src[0]) }
            return
        }
        var index = [Int](repeating: 0, count: shape.count)
        var o = 0
        for i in 0..<src.count {
            sums[o] += Double(src[i])
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                o += readStrides[d]
                if index[d] < shape[d] { break }
                o -= readStrides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
    }
    let outShape = keepDims ? keptShape : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    return Tensor(shape: outShape, scalars: sums.map { Float($0 / Double(groupSize)) })
}

/// `GlobalAveragePool`: mean over all spatial axes of [N, C, ...].
struct GlobalAveragePoolKernel: OnnxKernel {
    let what: String

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...1, outputs: 1...1)
        what = ctx.what
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let x = try inputs.float(0, what)
        guard x.rank >= 3 else { throw OnnxError(.invalidInput, "\(what): input must be [N, C, ...], got \(x.shape)") }
        return [.float(reduceMean(x, axes: Set(2..<x.rank), keepDims: true))]
    }
}
