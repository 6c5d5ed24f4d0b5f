import Tensor

/// Largest absolute elementwise difference of two tensors, the measure every parity test
/// holds to its tolerance. Infinite when the shapes differ or only one side is NaN at some
/// element (so no tolerance passes); elements NaN on both sides agree.
public func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    var worst: Float = 0
    for (x, y) in zip(a.scalars, b.scalars) {
        if x.isNaN != y.isNaN { return .infinity }
        if !x.isNaN { worst = max(worst, abs(x - y)) }
    }
    return worst
}

/// Largest absolute value: the output scale a parity error is judged against.
public func maxAbs(_ a: Tensor) -> Float {
    a.scalars.reduce(0) { max($0, abs($1)) }
}

