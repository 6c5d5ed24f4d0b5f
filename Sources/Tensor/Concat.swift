// Concatenation and splitting along an axis: tensors seen as [outer, axis, inner].

/// Joins tensors along `axis`; all other dimensions must match.
public func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
    OpProfile.measure(.copy) {
        precondition(!tensors.isEmpty, "concat: no tensors given")
        let first = tensors[0]
        let a = first.normalizedAxis(axis, op: "concat")
        for t in tensors {
            precondition(t.rank == first.rank && t.shape.enumerated().allSatisfy { $0.offset == a || $0.element == first.shape[$0.offset] },
                         "concat: shape \(t.shape) does not match \(first.shape) outside axis \(axis)")
        }
        if tensors.count == 1 { return first }
        var outShape = first.shape
        outShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        let split = AxisSplit(first.shape, axis: a)
        let outRow = outShape[a] * split.inner
        return Tensor(shape: outShape) { out in
            let o = out.baseAddress!
            var column = 0
            for t in tensors {
                let len = t.shape[a] * split.inner
                t.withUnsafeBufferPointer { src in
                    guard let x = src.baseAddress else { return }
                    for r in 0..<split.outer {
                        (o + r * outRow + column).update(from: x + r * len, count: len)
                    }
                }
                column += len
            }
        }
    }
}

/// Stacks equally shaped tensors along a new axis.
public func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    precondition(!tensors.isEmpty, "stack: no tensors given")
    return concat(tensors.map { $0.unsqueezed(axis: axis) }, axis: axis)
}

extension Tensor {
    /// `length` entries of `axis` starting at `start` (like `torch.narrow`).
    /// A view without copying when every axis before `axis` has size 1.
    public func narrowed(axis: Int, start: Int, length: Int) -> Tensor {
        OpProfile.measure(.copy) {
            let a = normalizedAxis(axis, op: "narrowed")
            precondition(start >= 0 && length >= 0 && start + length <= shape[a],
                         "narrowed: range \(start)..<\(start + length) out of bounds for axis \(axis) of \(shape)")
            var outShape = shape
            outShape[a] = length
            let split = AxisSplit(shape, axis: a)
            if split.outer == 1 {
                var view = self
                view.offset = offset + start * split.inner
                view.shape = outShape
                return view
            }
            return withUnsafeBufferPointer { src in
                Tensor(shape: outShape) { out in
                    let len = length * split.inner
                    for r in 0..<split.outer {
                        (out.baseAddress! + r * len).update(from: src.baseAddress! + (r * split.length + start) * split.inner, count: len)
                    }
                }
            }
        }
    }

    /// Splits `axis` into consecutive pieces of the given sizes (which must sum to its length).
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let a = normalizedAxis(axis, op: "split")
        precondition(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[a],
                     "split: sizes \(sizes) do not add up to axis \(axis) of \(shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return narrowed(axis: a, start: start, length: size)
        }
    }

    /// Splits `axis` into `chunks` pieces like `torch.chunk`: each ⌈len/chunks⌉ long, the last shorter.
    public func chunked(_ chunks: Int, axis: Int) -> [Tensor] {
        let a = normalizedAxis(axis, op: "chunked")
        precondition(chunks > 0, "chunked: chunk count must be positive, got \(chunks)")
        let len = shape[a]
        let size = (len + chunks - 1) / chunks
        guard size > 0 else { return [self] }
        var sizes: [Int] = []
        var left = len
        while left > 0 {
            sizes.append(Swift.min(size, left))
            left -= size
        }
        return split(sizes: sizes, axis: a)
    }
}
