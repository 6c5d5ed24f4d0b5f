// Elementwise choice by mask with broadcasting (torch.where / ONNX Where).

/// `condition != 0 ? a : b` for every element of the broadcast shape of all three.
public func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    guard let ab = Broadcast.shape(a.shape, b.shape), let outShape = Broadcast.shape(condition.shape, ab) else {
        preconditionFailure("select: condition \(condition.shape), a \(a.shape), b \(b.shape) do not broadcast")
    }
    let c = condition.expanded(to: outShape), x = a.expanded(to: outShape), y = b.expanded(to: outShape)
    return c.withUnsafeBufferPointer { pc in
        x.withUnsafeBufferPointer { px in
            y.withUnsafeBufferPointer { py in
                Tensor(shape: outShape) { out in
                    for i in 0..<out.count { out[i] = pc[i] != 0 ? px[i] : py[i] }
                }
            }
        }
    }
}

extension Tensor {
    /// 1 where `self > other`, else 0 (broadcasting); handy to build masks for `select`.
    public func greater(_ other: Tensor) -> Tensor { Tensor.broadcastBinary(self, other, name: "greater") { $0 > $1 ? 1 : 0 } }
    /// 1 where `self < other`, else 0 (broadcasting).
    public func less(_ other: Tensor) -> Tensor { Tensor.broadcastBinary(self, other, name: "less") { $0 < $1 ? 1 : 0 } }
    /// 1 where `self == other`, else 0 (broadcasting).
    public func equal(_ other: Tensor) -> Tensor { Tensor.broadcastBinary(self, other, name: "equal") { $0 == $1 ? 1 : 0 } }
}
