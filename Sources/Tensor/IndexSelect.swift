// Gathering entries of one axis by index: the embedding lookup.

extension Tensor {
    /// Entries `indices` of `axis` in the given order (like `torch.index_select`).
    /// With a weight [vocab, dim] and axis 0 this is an embedding lookup → [indices.count, dim].
    public func indexSelect(_ indices: [Int], axis: Int = 0) -> Tensor {
        let a = normalizedAxis(axis, op: "indexSelect")
        let split = AxisSplit(shape, axis: a)
        for i in indices {
            precondition(i >= 0 && i < split.length, "indexSelect: index \(i) out of range for axis \(axis) of \(shape)")
        }
        var outShape = shape
        outShape[a] = indices.count
        return withUnsafeBufferPointer { src in
            Tensor(shape: outShape) { out in
                let o = out.baseAddress!, x = src.baseAddress!
                var dst = 0
                for r in 0..<split.outer {
                    for i in indices {
                        (o + dst).update(from: x + (r * split.length + i) * split.inner, count: split.inner)
                        dst += split.inner
                    }
                }
            }
        }
    }
}
