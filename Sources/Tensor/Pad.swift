// Padding every axis by given amounts before and after.

/// How `padded` fills new elements.
public enum PadMode: Sendable, Hashable {
    /// A constant value.
    case constant(Float)
    /// Mirror without repeating the edge (PyTorch `reflect`).
    case reflect
    /// Repeat the edge element (PyTorch `replicate`, ONNX `edge`).
    case replicate
}

extension Tensor {
    /// Pads axis i with `before[i]` elements in front and `after[i]` behind (one entry per axis).
    public func padded(before: [Int], after: [Int], mode: PadMode = .constant(0)) -> Tensor {
        OpProfile.measure(.copy) {
            precondition(before.count == rank && after.count == rank,
                         "padded: need \(rank) before/after amounts for \(shape), got \(before) and \(after)")
            precondition(before.allSatisfy { $0 >= 0 } && after.allSatisfy { $0 >= 0 },
                         "padded: negative padding \(before) / \(after)")
            let outShape = (0..<rank).map { shape[$0] + before[$0] + after[$0] }
            if case .reflect = mode {
                for i in 0..<rank {
                    precondition(before[i] < Swift.max(shape[i], 1) && after[i] < Swift.max(shape[i], 1),
                                 "padded: reflect padding \(before[i])/\(after[i]) must be smaller than axis \(i) of \(shape)")
                }
            }
            if case .replicate = mode {
                precondition(shape.allSatisfy { $0 > 0 } || outShape == shape, "padded: cannot replicate an empty axis of \(shape)")
            }
            let inStrides = Tensor.strides(for: shape)
            let outCount = Tensor.elementCount(outShape)
            let fill: Float
            if case .constant(let v) = mode { fill = v } else { fill = 0 }
            return withUnsafeBufferPointer { src in
                Tensor(shape: outShape) { out in
                    guard outCount > 0 else { return }
                    let o = out.baseAddress!, x = src.baseAddress!
                    var index = [Int](repeating: 0, count: rank)
                    for flat in 0..<outCount {
                        var srcOffset = 0
                        var inside = true
                        for axis in 0..<rank {
                            var i = index[axis] - before[axis]
                            let n = shape[axis]
                            if i < 0 || i >= n {
                                switch mode {
                                case .constant: inside = false
                                case .reflect: i = i < 0 ? -i : 2 * (n - 1) - i
                                case .replicate: i = i < 0 ? 0 : n - 1
                                }
                            }
                            if !inside { break }
                            srcOffset += i * inStrides[axis]
                        }
                        o[flat] = inside ? x[srcOffset] : fill
                        var axis = rank - 1
                        while axis >= 0 {
                            index[axis] += 1
                            if index[axis] < outShape[axis] { break }
                            index[axis] = 0
                            axis -= 1
                        }
                    }
                }
            }
        }
    }
}
