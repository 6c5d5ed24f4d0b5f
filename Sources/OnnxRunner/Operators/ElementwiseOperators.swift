import Foundation
import Tensor

// Elementwise operators: binary arithmetic with NumPy broadcasting, and unary activations.

/// `Add`, `Sub`, `Mul`, `Div`, `Pow` on float (and, except `Pow`, int64) tensors.
struct BinaryKernel: OnnxKernel {
    enum Op: String { case add = "Add", sub = "Sub", mul = "Mul", div = "Div", pow = "Pow" }

    let what: String
    let op: Op

    init(_ ctx: NodeContext, op: Op) throws(OnnxError) {
        try ctx.arity(inputs: 2...2, outputs: 1...1)
        what = ctx.what
        self.op = op
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let a = try inputs.value(0, what), b = try inputs.value(1, what)
        guard let shape = Broadcast.shape(a.shape, b.shape) else {
            throw OnnxError(.invalidInput, "\(what): shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        _ = try checkedCount(shape, what)
        switch (a, b) {
        case (.float(let x), .float(let y)):
            switch op {
            case .add: return [.float(x.adding(y))]
            case .sub: return [.float(x.subtracting(y))]
            case .mul: return [.float(x.multiplying(y))]
            case .div: return [.float(x.dividing(y))]
            case .pow:
                let (u, v) = (try BroadcastTo(shape: shape).apply(Dense(x)), try BroadcastTo(shape: shape).apply(Dense(y)))
                return [.float(Tensor(shape: shape, scalars: zip(u.data, v.data).map { Foundation.pow($0, $1) }))]
            }
        case (.int64(let x), .int64(let y)):
            let u = try BroadcastTo(shape: shape).apply(Dense(x)), v = try BroadcastTo(shape: shape).apply(Dense(y))
            var out = [Int64](repeating: 0, count: u.count)
            for i in 0..<u.count {
                let (p, q) = (u.data[i], v.data[i])
                switch op {
                case .add: out[i] = p &+ q
                case .sub: out[i] = p &- q
                case .mul: out[i] = p &* q
                case .div:
                    guard q != 0 else { throw OnnxError(.invalidInput, "\(what): integer division by zero") }
                    out[i] = q == -1 ? 0 &- p : p / q
                case .pow:
                    guard q >= 0 else { throw OnnxError(.invalidInput, "\(what): negative integer exponent") }
                    var r: Int64 = 1
                    for _ in 0..<min(q, 64) { r = r &* p }
                    out[i] = r
                }
            }
            return [.int64(Int64Tensor(shape: shape, scalars: out))]
        case (.float(let x), .int64(let y)) where op == .pow:
            let u = try BroadcastTo(shape: shape).apply(Dense(x)), v = try BroadcastTo(shape: shape).apply(Dense(y))
            return [.float(Tensor(shape: shape, scalars: zip(u.data, v.data).map { Foundation.pow($0, Float($1)) }))]
        default:
            throw OnnxError(.invalidInput, "\(what): inputs have different element types (\(a.dataType), \(b.dataType))")
        }
    }
}

/// Unary float activations.
struct UnaryKernel: OnnxKernel {
    let what: String
    let transform: @Sendable (Tensor) -> Tensor

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...1, outputs: 1...1)
        what = ctx.what
        switch ctx.node.opType {
        case "Sigmoid": transform = { $0.sigmoid() }
        case "Relu": transform = { $0.map { Swift.max($0, 0) } }
        case "Exp": transform = { $0.map { Foundation.exp($0) } }
        case "Sqrt": transform = { $0.map { Foundation.sqrt($0) } }
        case "Tanh": transform = { $0.map { Foundation.tanh($0) } }
        case "Erf": transform = { $0.map { Foundation.erf($0) } }
        case "Neg": transform = { $0.map { -$0 } }
        case "Abs": transform = { $0.map { Swift.abs($0) } }
        case "Log": transform = { $0.map { Foundation.log($0) } }
        case "Reciprocal": transform = { $0.map { 1 / $0 } }
        case "LeakyRelu":
            let alpha = try ctx.float("alpha", default: 0.01)
            transform = { $0.map { $0 >= 0 ? $0 : alpha * $0 } }
        case "Elu":
            let alpha = try ctx.float("alpha", default: 1)
            transform = { $0.map { $0 >= 0 ? $0 : alpha * (Foundation.exp($0) - 1) } }
        case "HardSigmoid":
            let alpha = try ctx.float("alpha", default: 0.2), beta = try ctx.float("beta", default: 0.5)
            transform = { $0.map { Swift.max(0, Swift.min(1, alpha * $0 + beta)) } }
        default:
            throw OnnxError(.unsupportedOperator, "\(ctx.what): not a unary operator")
        }
    }

    static let opTypes: Set<String> = ["Sigmoid", "Relu", "Exp", "Sqrt", "Tanh", "Erf", "Neg", "Abs", "Log", "Reciprocal", "LeakyRelu", "Elu", "HardSigmoid"]

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        [.float(transform(try inputs.float(0, what)))]
    }
}

/// `Clip` with optional scalar `min`/`max` inputs (opset ≥ 11).
struct ClipKernel: OnnxKernel {
    let what: String

    init(_ ctx: NodeContext) throws(OnnxError) {
        try ctx.arity(inputs: 1...3, outputs: 1...1)
        what = ctx.what
    }

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        let x = try inputs.float(0, what)
        let lo = try inputs.optionalFloat(1, what), hi = try inputs.optionalFloat(2, what)
        guard (lo?.count ?? 1) == 1, (hi?.count ?? 1) == 1 else { throw OnnxError(.invalidInput, "\(what): min and max must be scalars") }
        let l = lo?.scalars[0] ?? -.infinity, h = hi?.scalars[0] ?? .infinity
        return [.float(x.map { Swift.min(Swift.max($0, l), h) })]
    }
}

/// `x · sigmoid(x)` in one pass: the fusion of a `Sigmoid` and the `Mul` that consumes it.
struct SiLUKernel: OnnxKernel {
    let what: String

    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue] {
        [.float(try inputs.float(0, what).silu())]
    }
}
