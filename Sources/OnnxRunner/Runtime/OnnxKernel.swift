import Tensor

/// One prepared operator: attributes parsed and checked at load, applied to values at run time.
protocol OnnxKernel: Sendable {
    /// Computes the node's outputs. `inputs` has one entry per node input; nil for an omitted
    /// optional input (empty name). Throws `.invalidInput` for shapes the operator cannot take.
    func run(_ inputs: [OnnxValue?]) throws(OnnxError) -> [OnnxValue]
}

/// What a kernel factory can see of a node at load time.
struct NodeContext: Sendable {
    let node: OnnxNodeProto
    /// Opset version of the default domain.
    let opset: Int

    var what: String { "node '\(node.displayName)' (\(node.opType))" }

    func unsupported(_ detail: String) -> OnnxError {
        OnnxError(.unsupportedAttribute, "\(what): \(detail)")
    }

    func invalid(_ detail: String) -> OnnxError {
        OnnxError(.invalidInput, "\(what): \(detail)")
    }

    // MARK: Attributes (typed, with defaults; a wrong attribute type is an error at load)

    func int(_ name: String, default value: Int) throws(OnnxError) -> Int {
        guard let a = node.attribute(name) else { return value }
        guard a.kind == .int || (a.kind == .undefined && a.ints.isEmpty) else { throw unsupported("attribute '\(name)' must be an int") }
        guard a.i >= Int64(Int32.min), a.i <= Int64(Int32.max) else { throw unsupported("attribute '\(name)' value \(a.i) out of range") }
        return Int(a.i)
    }

    func ints(_ name: String) throws(OnnxError) -> [Int]? {
        guard let a = node.attribute(name) else { return nil }
        guard a.kind == .ints || (a.kind == .undefined && !a.ints.isEmpty) else { throw unsupported("attribute '\(name)' must be a list of ints") }
        var result: [Int] = []
        for v in a.ints {
            guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { throw unsupported("attribute '\(name)' value \(v) out of range") }
            result.append(Int(v))
        }
        return result
    }

    func float(_ name: String, default value: Float) throws(OnnxError) -> Float {
        guard let a = node.attribute(name) else { return value }
        guard a.kind == .float || a.kind == .undefined else { throw unsupported("attribute '\(name)' must be a float") }
        return a.f
    }

    func string(_ name: String, default value: String) throws(OnnxError) -> String {
        guard let a = node.attribute(name) else { return value }
        guard a.kind == .string || a.kind == .undefined else { throw unsupported("attribute '\(name)' must be a string") }
        return a.stringValue
    }

    /// Refuses attributes that are set to anything but their default (for features not implemented).
    func requireAbsentOrDefault(_ name: String, default value: Int) throws(OnnxError) {
        let actual = try int(name, default: value)
        guard actual == value else { throw unsupported("attribute \(name)=\(actual) is not supported (only \(value))") }
    }

    /// Checks the number of inputs and outputs the node declares.
    func arity(inputs: ClosedRange<Int>, outputs: ClosedRange<Int>) throws(OnnxError) {
        guard inputs.contains(node.inputs.count) else {
            throw OnnxError(.invalidModel, "\(what) has \(node.inputs.count) inputs, expected \(inputs.lowerBound)...\(inputs.upperBound)")
        }
        guard outputs.contains(node.outputs.count) else {
            throw OnnxError(.invalidModel, "\(what) has \(node.outputs.count) outputs, expected \(outputs.lowerBound)...\(outputs.upperBound)")
        }
    }
}

// MARK: Input access helpers used by kernels at run time

extension Array where Element == OnnxValue? {
    func float(_ index: Int, _ what: @autoclosure () -> String) throws(OnnxError) -> Tensor {
        guard index < count, let value = self[index] else { throw OnnxError(.invalidInput, "\(what()): input \(index) is missing") }
        guard case .float(let t) = value else { throw OnnxError(.invalidInput, "\(what()): input \(index) must be float, got int64") }
        return t
    }

    func optionalFloat(_ index: Int, _ what: @autoclosure () -> String) throws(OnnxError) -> Tensor? {
        guard index < count, self[index] != nil else { return nil }
        return try float(index, what())
    }

    func int64(_ index: Int, _ what: @autoclosure () -> String) throws(OnnxError) -> Int64Tensor {
        guard index < count, let value = self[index] else { throw OnnxError(.invalidInput, "\(what()): input \(index) is missing") }
        guard case .int64(let t) = value else { throw OnnxError(.invalidInput, "\(what()): input \(index) must be int64, got float") }
        return t
    }

    func optionalInt64(_ index: Int, _ what: @autoclosure () -> String) throws(OnnxError) -> Int64Tensor? {
        guard index < count, self[index] != nil else { return nil }
        return try int64(index, what())
    }

    func value(_ index: Int, _ what: @autoclosure () -> String) throws(OnnxError) -> OnnxValue {
        guard index < count, let value = self[index] else { throw OnnxError(.invalidInput, "\(what()): input \(index) is missing") }
        return value
    }
}

/// Converts int64 values that must fit a machine Int with a sane magnitude (sizes, axes, indices).
func checkedInts(_ values: [Int64], _ what: String) throws(OnnxError) -> [Int] {
    var result: [Int] = []
    result.reserveCapacity(values.count)
    for v in values {
        guard v >= -(1 << 40), v <= 1 << 40 else { throw OnnxError(.invalidInput, "\(what): value \(v) out of range") }
        result.append(Int(v))
    }
    return result
}

/// Normalises a possibly negative axis for a tensor of `rank`, or throws.
func normalizeAxis(_ axis: Int, rank: Int, _ what: String) throws(OnnxError) -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0, a < rank else { throw OnnxError(.invalidInput, "\(what): axis \(axis) out of range for rank \(rank)") }
    return a
}

/// Element count of a shape with an overflow and size guard (at most 2^31 elements).
func checkedCount(_ shape: [Int], _ what: String) throws(OnnxError) -> Int {
    var n = 1
    for d in shape {
        guard d >= 0 else { throw OnnxError(.invalidInput, "\(what): negative dimension in shape \(shape)") }
        let (m, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow, m <= 1 << 31 else { throw OnnxError(.invalidInput, "\(what): shape \(shape) is too large") }
        n = m
    }
    return n
}
