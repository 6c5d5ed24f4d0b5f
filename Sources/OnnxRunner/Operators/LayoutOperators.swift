import Tensor

// Operators that move or select elements without arithmetic: shapes, reshapes, transposes,
// concatenation, splitting, slicing, gathering and broadcasting copies.

/// `Identity`.
struct IdentityKernel: OnnxKernel {
    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] { [try inputs.value(0, "Identity")] }
}

/// `Reshape` (with `allowzero`).
struct ReshapeKernel: OnnxKernel {
    let what: String
    let allowZero: Bool

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 2...2, outputs: 1...1)
        what = ctx.what
        allowZero = try ctx.int("allowzero", default: 0) != 0
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let data = try inputs.value(0, what)
        let requested = try checkedInts(try inputs.int64(1, what).scalars, what)
        var shape = requested
        var inferred: Int?
        for (i, d) in requested.enumerated() {
            if d == 0 && !allowZero {
                guard i < data.shape.count else { throw OnnxError(.invalidInput, "\(what): 0 at position \(i) but input has rank \(data.shape.count)") }
                shape[i] = data.shape[i]
            } else if d == -1 {
                guard inferred == nil else { throw OnnxError(.invalidInput, "\(what): more than one -1 in shape \(requested)") }
                inferred = i
            } else if d < 0 {
                throw OnnxError(.invalidInput, "\(what): invalid dimension \(d) in shape \(requested)")
            }
        }
        let total = try checkedCount(data.shape, what)
        if let i = inferred {
            let known = try checkedCount(shape.enumerated().filter { $0.offset != i }.map(\.element), what)
            guard known > 0, total % known == 0 else {
                throw OnnxError(.invalidInput, "\(what): cannot reshape \(data.shape) to \(requested)")
            }
            shape[i] = total / known
        }
        guard try checkedCount(shape, what) == total else {
            throw OnnxError(.invalidInput, "\(what): cannot reshape \(data.shape) (\(total) elements) to \(requested)")
        }
        return [data.reshaped(shape)]
    }
}

/// `Flatten`: [d0..d(axis-1)] × [d(axis)..] as a 2-D tensor.
struct FlattenKernel: OnnxKernel {
    let what: String
    let axis: Int

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...1, outputs: 1...1)
        what = ctx.what
        axis = try ctx.int("axis", default: 1)
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let data = try inputs.value(0, what)
        let rank = data.shape.count
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a <= rank else { throw OnnxError(.invalidInput, "\(what): axis \(axis) out of range for rank \(rank)") }
        let outer = data.shape[..<a].reduce(1, *)
        let inner = data.shape[a...].reduce(1, *)
        return [data.reshaped([outer, inner])]
    }
}

/// `Squeeze` and `Unsqueeze`: axes from the attribute (opset < 13) or the second input.
struct SqueezeKernel: OnnxKernel {
    let what: String
    let unsqueeze: Bool
    let attributeAxes: [Int]?

    init(_ ctx: NodeContext, unsqueeze: Bool) throws(OnnxError) {
        try ctx.arity(inputs: 1...2, outputs: 1...1)
        what = ctx.what
        self.unsqueeze = unsqueeze
        attributeAxes = try ctx.ints("axes")
        if unsqueeze && attributeAxes == nil && ctx.node.inputs.count < 2 {
            throw OnnxError(.invalidModel, "\(ctx.what) has no axes")
        }
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let data = try inputs.value(0, what)
        var axes = attributeAxes
        if let given = try inputs.optionalInt64(1, what) { axes = try checkedInts(given.scalars, what) }
        var shape = data.shape
        if unsqueeze {
            let outRank = shape.count + (axes?.count ?? 0)
            var normalized: [Int] = []
            for axis in axes ?? [] { normalized.append(try normalizeAxis(axis, rank: outRank, what)) }
            guard Set(normalized).count == normalized.count else { throw OnnxError(.invalidInput, "\(what): repeated axes \(axes ?? [])") }
            for a in normalized.sorted() { shape.insert(1, at: a) }
        } else if let axes {
            var normalized: [Int] = []
            for axis in axes { normalized.append(try normalizeAxis(axis, rank: shape.count, what)) }
            for a in normalized.sorted(by: >) {
                guard shape[a] == 1 else { throw OnnxError(.invalidInput, "\(what): axis \(a) of shape \(data.shape) is not 1") }
                shape.remove(at: a)
            }
        } else {
            shape.removeAll { $0 == 1 }
        }
        return [data.reshaped(shape)]
    }
}

/// `Transpose` with `perm` (default: reverse the axes).
struct TransposeKernel: OnnxKernel, LayoutTransform {
    let what: String
    let perm: [Int]?

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...1, outputs: 1...1)
        what = ctx.what
        perm = try ctx.ints("perm")
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        [try inputs.value(0, what).transformed(self)]
    }

    func apply<E: Sendable>(_ x: Dense<E>) throws(OnnxError) -> Dense<E> {
        let p = perm ?? Array((0..<x.rank).reversed())
        guard p.count == x.rank, Set(p) == Set(0..<x.rank) else {
            throw OnnxError(.invalidInput, "\(what): perm \(p) is not a permutation for shape \(x.shape)")
        }
        let inStrides = Dense<E>.strides(x.shape)
        return x.strided(outShape: p.map { x.shape[$0] }, strides: p.map { inStrides[$0] }, base: 0)
    }
}

/// `Concat` along `axis`; all inputs must share the element type and the other dimensions.
struct ConcatKernel: OnnxKernel {
    let what: String
    let axis: Int

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...Int.max, outputs: 1...1)
        what = ctx.what
        guard ctx.node.attribute("axis") != nil else { throw OnnxError(.invalidModel, "\(ctx.what) has no axis attribute") }
        axis = try ctx.int("axis", default: 0)
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let values = inputs.compactMap { $0 }
        guard let first = values.first else { throw OnnxError(.invalidInput, "\(what): no inputs") }
        switch first {
        case .float:
            var parts: [Dense<Float>] = []
            for v in values {
                guard case .float(let t) = v else { throw OnnxError(.invalidInput, "\(what): mixed element types") }
                parts.append(Dense(t))
            }
            return [.float(try concat(parts).tensor)]
        case .int64:
            var parts: [Dense<Int64>] = []
            for v in values {
                guard case .int64(let t) = v else { throw OnnxError(.invalidInput, "\(what): mixed element types") }
                parts.append(Dense(t))
            }
            return [.int64(try concat(parts).int64Tensor)]
        }
    }

    private func concat<E>(_ parts: [Dense<E>]) throws(OnnxError) -> Dense<E> {
        let rank = parts[0].rank
        let a = try normalizeAxis(axis, rank: rank, what)
        var shape = parts[0].shape
        shape[a] = 0
        for p in parts {
            guard p.rank == rank, p.shape.enumerated().allSatisfy({ $0.offset == a || $0.element == parts[0].shape[$0.offset] }) else {
                throw OnnxError(.invalidInput, "\(what): shapes \(parts.map(\.shape)) do not match outside axis \(axis)")
            }
            shape[a] += p.shape[a]
        }
        let outer = shape[..<a].reduce(1, *)
        let inner = shape[(a + 1)...].reduce(1, *)
        var data: [E] = []
        data.reserveCapacity(try checkedCount(shape, what))
        for o in 0..<outer {
            for p in parts {
                let block = p.shape[a] * inner
                data.append(contentsOf: p.data[(o * block)..<((o + 1) * block)])
            }
        }
        return Dense(shape: shape, data: data)
    }
}

/// `Split` along `axis` by sizes (attribute before opset 13, input after) or into equal parts.
struct SplitKernel: OnnxKernel {
    let what: String
    let axis: Int
    let attributeSplit: [Int]?
    let outputCount: Int

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...2, outputs: 1...Int.max)
        what = ctx.what
        axis = try ctx.int("axis", default: 0)
        attributeSplit = try ctx.ints("split")
        outputCount = ctx.node.outputs.count
        let numOutputs = try ctx.int("num_outputs", default: outputCount)
        guard numOutputs == outputCount else {
            throw OnnxError(.invalidModel, "\(ctx.what): num_outputs \(numOutputs) differs from its \(outputCount) outputs")
        }
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let data = try inputs.value(0, what)
        let a = try normalizeAxis(axis, rank: data.shape.count, what)
        let length = data.shape[a]
        var sizes = attributeSplit
        if let given = try inputs.optionalInt64(1, what) { sizes = try checkedInts(given.scalars, what) }
        if sizes == nil {
            // Equal parts; the last may be smaller (opset 18 semantics, same as before when divisible).
            let part = (length + outputCount - 1) / outputCount
            sizes = (0..<outputCount).map { min(part, max(0, length - $0 * part)) }
        }
        guard let sizes, sizes.count == outputCount, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == length else {
            throw OnnxError(.invalidInput, "\(what): split sizes \(sizes ?? []) do not cover axis length \(length) with \(outputCount) outputs")
        }
        var results: [OnnxValue] = []
        var start = 0
        for size in sizes {
            results.append(try data.transformed(SliceRange(axis: a, start: start, count: size)))
            start += size
        }
        return results
    }
}

/// A contiguous range along one axis.
struct SliceRange: LayoutTransform {
    let axis: Int
    let start: Int
    let count: Int

    func apply<E: Sendable>(_ x: Dense<E>) throws(OnnxError) -> Dense<E> {
        let outer = x.shape[..<axis].reduce(1, *)
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        var shape = x.shape
        shape[axis] = count
        var data: [E] = []
        data.reserveCapacity(outer * count * inner)
        for o in 0..<outer {
            let base = (o * x.shape[axis] + start) * inner
            data.append(contentsOf: x.data[base..<(base + count * inner)])
        }
        return Dense(shape: shape, data: data)
    }
}

/// `Slice` (opset ≥ 10: starts, ends, axes, steps as inputs; clamped like NumPy).
struct SliceKernel: OnnxKernel {
    let what: String

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 3...5, outputs: 1...1)
        what = ctx.what
    }

    private struct Plan: LayoutTransform {
        let outShape: [Int]
        let steps: [Int]
        let starts: [Int]
        func apply<E: Sendable>(_ x: Dense<E>) throws(OnnxError) -> Dense<E> {
            let strides = Dense<E>.strides(x.shape)
            var base = 0
            for d in 0..<x.rank where outShape[d] > 0 { base += starts[d] * strides[d] }
            return x.strided(outShape: outShape, strides: zip(strides, steps).map { $0 * $1 }, base: base)
        }
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let data = try inputs.value(0, what)
        let shape = data.shape
        let starts = try inputs.int64(1, what).scalars
        let ends = try inputs.int64(2, what).scalars
        var axes = Array(0..<starts.count)
        if let given = try inputs.optionalInt64(3, what) { axes = try checkedInts(given.scalars, what) }
        let steps = try inputs.optionalInt64(4, what)?.scalars ?? [Int64](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw OnnxError(.invalidInput, "\(what): starts, ends, axes and steps differ in length")
        }
        var outShape = shape
        var first = [Int](repeating: 0, count: shape.count)
        var step = [Int](repeating: 1, count: shape.count)
        var seen = Set<Int>()
        for i in 0..<starts.count {
            let a = try normalizeAxis(axes[i], rank: shape.count, what)
            guard seen.insert(a).inserted else { throw OnnxError(.invalidInput, "\(what): axis \(axes[i]) repeated") }
            let dim = Int64(shape[a])
            let s = max(min(steps[i], 1 << 40), -(1 << 40))
            guard s != 0 else { throw OnnxError(.invalidInput, "\(what): step 0 on axis \(a)") }
            var b = starts[i] < 0 ? starts[i] + dim : starts[i]
            var e = ends[i] < 0 ? ends[i] + dim : ends[i]
            if s > 0 {
                b = min(max(b, 0), dim)
                e = min(max(e, 0), dim)
            } else {
                b = min(max(b, 0), dim - 1)
                e = min(max(e, -1), dim - 1)
            }
            let n = s > 0 ? (e - b + s - 1) / s : (b - e + (-s) - 1) / (-s)
            outShape[a] = Int(max(0, n))
            first[a] = Int(b)
            step[a] = Int(s)
        }
        return [try data.transformed(Plan(outShape: outShape, steps: step, starts: first))]
    }
}

/// `Gather` along `axis` with int64 indices (negative counts from the end).
struct GatherKernel: OnnxKernel {
    let what: String
    let axis: Int

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 2...2, outputs: 1...1)
        what = ctx.what
        axis = try ctx.int("axis", default: 0)
    }

    private struct Plan: LayoutTransform {
        let axis: Int
        let indices: Int64Tensor
        let what: String
        func apply<E: Sendable>(_ x: Dense<E>) throws(OnnxError) -> Dense<E> {
            let a = try normalizeAxis(axis, rank: x.rank, what)
            let dim = x.shape[a]
            let outer = x.shape[..<a].reduce(1, *)
            let inner = x.shape[(a + 1)...].reduce(1, *)
            var idx: [Int] = []
            for i in indices.scalars {
                let j = i < 0 ? i + Int64(dim) : i
                guard j >= 0, j < Int64(dim) else { throw OnnxError(.invalidInput, "\(what): index \(i) out of range for axis of length \(dim)") }
                idx.append(Int(j))
            }
            let shape = Array(x.shape[..<a]) + indices.shape + Array(x.shape[(a + 1)...])
            var data: [E] = []
            data.reserveCapacity(outer * idx.count * inner)
            for o in 0..<outer {
                for j in idx {
                    let base = (o * dim + j) * inner
                    data.append(contentsOf: x.data[base..<(base + inner)])
                }
            }
            return Dense(shape: shape, data: data)
        }
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let data = try inputs.value(0, what)
        let indices = try inputs.int64(1, what)
        return [try data.transformed(Plan(axis: axis, indices: indices, what: what))]
    }
}

/// `Expand`: broadcast to a shape (NumPy rules, both ways).
struct ExpandKernel: OnnxKernel {
    let what: String

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 2...2, outputs: 1...1)
        what = ctx.what
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let data = try inputs.value(0, what)
        let requested = try checkedInts(try inputs.int64(1, what).scalars, what)
        guard let shape = Broadcast.shape(data.shape, requested), requested.allSatisfy({ $0 >= 0 }) else {
            throw OnnxError(.invalidInput, "\(what): cannot expand \(data.shape) to \(requested)")
        }
        _ = try checkedCount(shape, what)
        return [try data.transformed(BroadcastTo(shape: shape))]
    }
}

/// Materialises a broadcast to a compatible larger shape.
struct BroadcastTo: LayoutTransform {
    let shape: [Int]
    func apply<E: Sendable>(_ x: Dense<E>) throws(OnnxError) -> Dense<E> {
        if x.shape == shape { return x }
        let inStrides = Dense<E>.strides(x.shape)
        let pad = shape.count - x.rank
        var strides = [Int](repeating: 0, count: shape.count)
        for d in 0..<x.rank where x.shape[d] != 1 { strides[pad + d] = inStrides[d] }
        return x.strided(outShape: shape, strides: strides, base: 0)
    }
}

/// `Shape` (with opset-15 `start`/`end`).
struct ShapeKernel: OnnxKernel {
    let what: String
    let start: Int
    let end: Int?

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...1, outputs: 1...1)
        what = ctx.what
        start = try ctx.int("start", default: 0)
        end = ctx.node.attribute("end") == nil ? nil : try ctx.int("end", default: 0)
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let shape = try inputs.value(0, what).shape
        let r = shape.count
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + r : v, 0), r) }
        let s = clamp(start), e = clamp(end ?? r)
        let dims = s < e ? shape[s..<e].map { Int64($0) } : []
        return [.int64(Int64Tensor(shape: [dims.count], scalars: dims))]
    }
}

/// `Constant` (tensor, float(s) or int(s) value).
struct ConstantKernel: OnnxKernel {
    let value: OnnxValue

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 0...0, outputs: 1...1)
        let set = ctx.node.attributes.filter { !$0.name.isEmpty }
        guard set.count == 1, let a = set.first else { throw ctx.unsupported("needs exactly one value attribute") }
        switch a.name {
        case "value":
            guard let t = a.t else { throw ctx.unsupported("'value' is not a tensor") }
            value = try OnnxValue(proto: t, context: "Constant of \(ctx.what)")
        case "value_float": value = .float(Tensor(a.f))
        case "value_floats": value = .float(Tensor(shape: [a.floats.count], scalars: a.floats))
        case "value_int": value = .int64(Int64Tensor(shape: [], scalars: [a.i]))
        case "value_ints": value = .int64(Int64Tensor(shape: [a.ints.count], scalars: a.ints))
        default: throw ctx.unsupported("attribute '\(a.name)' is not supported")
        }
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] { [value] }
}

/// `ConstantOfShape`: a tensor of the given shape filled with the one-element `value`.
struct ConstantOfShapeKernel: OnnxKernel {
    let what: String
    let fill: OnnxValue

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...1, outputs: 1...1)
        what = ctx.what
        if let t = ctx.node.attribute("value")?.t {
            fill = try OnnxValue(proto: t, context: "value of \(ctx.what)")
            guard fill.shape.reduce(1, *) == 1 else { throw ctx.unsupported("value must hold one element") }
        } else {
            fill = .float(Tensor(shape: [1], scalars: [0]))
        }
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let shape = try checkedInts(try inputs.int64(0, what).scalars, what)
        let n = try checkedCount(shape, what)
        switch fill {
        case .float(let t): return [.float(Tensor(shape: shape, repeating: t.scalars[0]))]
        case .int64(let t): return [.int64(Int64Tensor(shape: shape, scalars: [Int64](repeating: t.scalars[0], count: n)))]
        }
    }
}

/// `Range` for float or int64 scalars.
struct RangeKernel: OnnxKernel {
    let what: String

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 3...3, outputs: 1...1)
        what = ctx.what
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        switch try inputs.value(0, what) {
        case .int64:
            let s = try inputs.int64(0, what).scalars, l = try inputs.int64(1, what).scalars, d = try inputs.int64(2, what).scalars
            guard s.count == 1, l.count == 1, d.count == 1, d[0] != 0 else { throw OnnxError(.invalidInput, "\(what): needs scalar start, limit and non-zero delta") }
            let count = ((Double(l[0]) - Double(s[0])) / Double(d[0])).rounded(.up)
            guard count <= Double(1 << 30) else { throw OnnxError(.invalidInput, "\(what): range too long") }
            let n = max(0, Int(count))
            return [.int64(Int64Tensor(shape: [n], scalars: (0..<n).map { s[0] + Int64($0) * d[0] }))]
        case .float:
            let s = try inputs.float(0, what).scalars, l = try inputs.float(1, what).scalars, d = try inputs.float(2, what).scalars
            guard s.count == 1, l.count == 1, d.count == 1, d[0] != 0, s[0].isFinite, l[0].isFinite, d[0].isFinite else {
                throw OnnxError(.invalidInput, "\(what): needs finite scalar start, limit and non-zero delta")
            }
            let count = ((l[0] - s[0]) / d[0]).rounded(.up)
            guard count <= Float(1 << 30) else { throw OnnxError(.invalidInput, "\(what): range too long") }
            let n = max(0, Int(count))
            return [.float(Tensor(shape: [n], scalars: (0..<n).map { s[0] + Float($0) * d[0] }))]
        }
    }
}

/// `Cast` between float and integer types (integers are held as int64).
///
/// Float to integer truncates toward zero; NaN becomes 0 and out-of-range values saturate.
struct CastKernel: OnnxKernel {
    let what: String
    let toFloat: Bool
    let toBool: Bool
    let bits: Int

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...1, outputs: 1...1)
        what = ctx.what
        let to = try ctx.int("to", default: 0)
        switch OnnxDataType(rawValue: Int32(to)) {
        case .float, .double: (toFloat, toBool, bits) = (true, false, 0)
        case .int64: (toFloat, toBool, bits) = (false, false, 64)
        case .int32: (toFloat, toBool, bits) = (false, false, 32)
        case .bool: (toFloat, toBool, bits) = (false, true, 1)
        default: throw ctx.unsupported("cast to \(OnnxDataType.name(Int32(to))) is not supported")
        }
    }

    private func integer(_ x: Float) -> Int64 {
        if x.isNaN { return 0 }
        if x >= 9.2e18 { return Int64.max }
        if x <= -9.2e18 { return Int64.min }
        return Int64(x.rounded(.towardZero))
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let value = try inputs.value(0, what)
        switch (value, toFloat) {
        case (.float, true): return [value]
        case (.int64(let t), true): return [.float(Tensor(shape: t.shape, scalars: t.scalars.map { Float($0) }))]
        case (.float(let t), false):
            let ints = toBool ? t.scalars.map { $0 != 0 ? Int64(1) : 0 } : t.scalars.map { narrow(integer($0)) }
            return [.int64(Int64Tensor(shape: t.shape, scalars: ints))]
        case (.int64(let t), false):
            let ints = toBool ? t.scalars.map { $0 != 0 ? Int64(1) : 0 } : t.scalars.map(narrow)
            return [.int64(Int64Tensor(shape: t.shape, scalars: ints))]
        }
    }

    private func narrow(_ v: Int64) -> Int64 { bits == 32 ? Int64(Int32(truncatingIfNeeded: v)) : v }
}
