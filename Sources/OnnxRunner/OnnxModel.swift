import Foundation
import Tensor

/// A loaded ONNX model, ready to run on the CPU with the Tensor kernels.
///
/// Loading decodes the protobuf, checks the opset, converts initializers, prepares one kernel
/// per node (refusing unknown operators and unsupported attribute values) and orders the nodes
/// topologically, so `run` only fails for inputs that do not fit. Immutable and `Sendable`:
/// one instance can serve concurrent `run` calls.
public struct OnnxModel: Sendable {
    /// Default-domain opset versions this runner accepts.
    public static let supportedOpsets: ClosedRange<Int64> = 11...21

    /// Declared graph inputs that are not initializers, in order.
    public let inputs: [OnnxValueInfoProto]
    /// Declared graph outputs, in order.
    public let outputs: [OnnxValueInfoProto]
    /// Opset version of the default domain.
    public let opset: Int
    /// Producer recorded in the file (for logs).
    public let producer: String

    private let initializers: [String: OnnxValue]
    private let steps: [Step]

    private struct Step: Sendable {
        let node: OnnxNodeProto
        let kernel: any OnnxKernel
        /// Values whose last use is this step (freed afterwards).
        let releases: [String]
    }

    /// Reads and prepares the model at `url`.
    public init(contentsOf url: URL) throws(OnnxError) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw OnnxError(.io, "cannot read \(url.path): \(error.localizedDescription)")
        }
        do {
            try self.init(serialized: [UInt8](data))
        } catch {
            throw OnnxError(error.code, "\(url.path): \(error.message)")
        }
    }

    /// Decodes and prepares a serialized `ModelProto`.
    public init(serialized bytes: [UInt8]) throws(OnnxError) {
        guard !bytes.isEmpty else { throw OnnxError(.malformed, "empty file") }
        let model = try OnnxModelProto(serialized: bytes)
        try self.init(model: model)
    }

    /// Prepares an already decoded model.
    public init(model: OnnxModelProto) throws(OnnxError) {
        guard let graph = model.graph else { throw OnnxError(.invalidModel, "the model has no graph (ModelProto field 7 missing)") }
        guard graph.sparseInitializerCount == 0 else { throw OnnxError(.unsupportedType, "sparse initializers are not supported") }
        let defaultOpsets = model.opsetImports.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        guard let opset = defaultOpsets.first?.version else {
            throw OnnxError(.invalidModel, "the model imports no default-domain opset")
        }
        guard Self.supportedOpsets.contains(opset) else {
            throw OnnxError(.invalidModel, "opset \(opset) is not supported (supported: \(Self.supportedOpsets.lowerBound)...\(Self.supportedOpsets.upperBound))")
        }
        self.opset = Int(opset)
        producer = model.producerName + (model.producerVersion.isEmpty ? "" : " \(model.producerVersion)")

        var initializers: [String: OnnxValue] = [:]
        for proto in graph.initializers {
            guard !proto.name.isEmpty else { throw OnnxError(.invalidModel, "an initializer has no name (byte offset \(proto.fileOffset))") }
            initializers[proto.name] = try OnnxValue(proto: proto, context: "initializer")
        }
        self.initializers = initializers
        inputs = graph.inputs.filter { initializers[$0.name] == nil }
        outputs = graph.outputs
        guard !outputs.isEmpty else { throw OnnxError(.invalidModel, "the graph declares no outputs") }

        // Prepare kernels (all refusals happen here), then order nodes so every input exists.
        var kernels: [any OnnxKernel] = []
        for node in graph.nodes {
            kernels.append(try OperatorRegistry.kernel(for: NodeContext(node: node, opset: Int(opset))))
        }
        var available = Set(initializers.keys).union(inputs.map(\.name))
        var producedBy: [String: Int] = [:]
        for (i, node) in graph.nodes.enumerated() {
            for output in node.outputs where !output.isEmpty {
                guard producedBy[output] == nil, !available.contains(output) else {
                    throw OnnxError(.invalidModel, "value '\(output)' is produced twice (node '\(node.displayName)')")
                }
                producedBy[output] = i
            }
        }
        var order: [Int] = []
        var pending = Array(graph.nodes.indices)
        while !pending.isEmpty {
            var next: [Int] = []
            for i in pending {
                let node = graph.nodes[i]
                if node.inputs.allSatisfy({ $0.isEmpty || available.contains($0) }) {
                    order.append(i)
                    for output in node.outputs where !output.isEmpty { available.insert(output) }
                } else {
                    next.append(i)
                }
            }
            if next.count == pending.count {
                let node = graph.nodes[next[0]]
                let missing = node.inputs.first { !$0.isEmpty && !available.contains($0) } ?? "?"
                let reason = producedBy[missing] == nil ? "is never produced" : "is part of a cycle"
                throw OnnxError(.invalidModel, "node '\(node.displayName)' (\(node.opType)) needs '\(missing)', which \(reason)")
            }
            pending = next
        }
        for output in outputs where !available.contains(output.name) {
            throw OnnxError(.invalidModel, "graph output '\(output.name)' is never produced")
        }

        // Fuse x·sigmoid(x) (SiLU, in every YOLOv8 block) into one pass when the sigmoid has
        // no other consumer, then free each intermediate after its last use.
        let keep = Set(outputs.map(\.name))
        var consumers: [String: Int] = [:]
        for node in graph.nodes { for input in node.inputs where !input.isEmpty { consumers[input, default: 0] += 1 } }
        var planned: [(node: OnnxNodeProto, kernel: any OnnxKernel)] = order.map { (graph.nodes[$0], kernels[$0]) }
        var fusedAway = Set<Int>()
        for (position, step) in planned.enumerated() where step.node.opType == "Sigmoid" && step.node.inputs.count == 1 {
            let x = step.node.inputs[0], s = step.node.outputs.first ?? ""
            guard !s.isEmpty, consumers[s] == 1, !keep.contains(s), initializers[x] == nil else { continue }
            guard let m = planned.indices.first(where: { $0 > position && planned[$0].node.inputs.contains(s) }),
                  planned[m].node.opType == "Mul", Set(planned[m].node.inputs) == [x, s], planned[m].node.inputs.count == 2
            else { continue }
            var fused = planned[m].node
            fused.inputs = [x]
            planned[m] = (fused, SiLUKernel(what: "node '\(fused.displayName)' (Mul of Sigmoid)"))
            fusedAway.insert(position)
        }
        planned = planned.enumerated().filter { !fusedAway.contains($0.offset) }.map(\.element)

        var lastUse: [String: Int] = [:]
        for (position, step) in planned.enumerated() {
            for input in step.node.inputs where !input.isEmpty && initializers[input] == nil && !keep.contains(input) {
                lastUse[input] = position
            }
        }
        var releases = [[String]](repeating: [], count: planned.count)
        for (name, position) in lastUse { releases[position].append(name) }
        steps = planned.enumerated().map { Step(node: $0.element.node, kernel: $0.element.kernel, releases: releases[$0.offset]) }
    }

    /// Names of the graph inputs to feed.
    public var inputNames: [String] { inputs.map(\.name) }

    /// Names of the graph outputs, in order.
    public var outputNames: [String] { outputs.map(\.name) }

    /// Runs the graph on `feeds` (one value per graph input) and returns every graph output.
    public func run(_ feeds: [String: OnnxValue]) throws(OnnxError) -> [String: OnnxValue] {
        try execute(feeds, timing: nil)
    }

    /// Like `run`, and also returns the wall time spent per operator type in milliseconds
    /// (for benchmarks; the clock reads add a little overhead per node).
    public func runProfiled(_ feeds: [String: OnnxValue]) throws(OnnxError) -> (outputs: [String: OnnxValue], millisecondsByOperator: [String: Double]) {
        var timing: [String: Double] = [:]
        let outputs = try execute(feeds) { op, duration in
            let c = duration.components
            timing[op, default: 0] += Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
        }
        return (outputs, timing)
    }

    private func execute(_ feeds: [String: OnnxValue], timing: ((String, Duration) -> Void)?) throws(OnnxError) -> [String: OnnxValue] {
        var values: [String: OnnxValue] = [:]
        for input in inputs {
            guard let value = feeds[input.name] else { throw OnnxError(.invalidInput, "missing input '\(input.name)'") }
            try check(value, against: input)
            values[input.name] = value
        }
        for name in feeds.keys where !inputs.contains(where: { $0.name == name }) {
            throw OnnxError(.invalidInput, "unknown input '\(name)' (the graph takes \(inputNames))")
        }
        let clock = ContinuousClock()
        for step in steps {
            let args = step.node.inputs.map { $0.isEmpty ? nil : (values[$0] ?? initializers[$0]) }
            let start = timing == nil ? nil : clock.now
            let results = try step.kernel.run(args)
            if let start, let timing { timing(step.node.opType, clock.now - start) }
            guard results.count >= step.node.outputs.count else {
                throw OnnxError(.invalidInput, "node '\(step.node.displayName)' produced \(results.count) outputs, expected \(step.node.outputs.count)")
            }
            for (name, value) in zip(step.node.outputs, results) where !name.isEmpty { values[name] = value }
            for name in step.releases { values[name] = nil }
        }
        var result: [String: OnnxValue] = [:]
        for output in outputs { result[output.name] = values[output.name] ?? initializers[output.name] ?? feeds[output.name] }
        return result
    }

    /// Runs a graph with one float input and returns its first output as a float tensor.
    public func run(_ input: Tensor) throws(OnnxError) -> Tensor {
        guard inputs.count == 1 else { throw OnnxError(.invalidInput, "the graph takes \(inputs.count) inputs, not one") }
        let outputs = try run([inputs[0].name: .float(input)])
        guard let first = outputs[self.outputs[0].name]?.floatTensor else {
            throw OnnxError(.invalidInput, "output '\(self.outputs[0].name)' is not a float tensor")
        }
        return first
    }

    private func check(_ value: OnnxValue, against info: OnnxValueInfoProto) throws(OnnxError) {
        if let type = info.elementType, type != 0 {
            let expected: OnnxDataType? = OnnxDataType(rawValue: type)
            guard expected == value.dataType else {
                throw OnnxError(.invalidInput, "input '\(info.name)' must be \(OnnxDataType.name(type)), got \(value.dataType)")
            }
        }
        if let shape = info.shape {
            guard shape.count == value.shape.count else {
                throw OnnxError(.invalidInput, "input '\(info.name)' must have rank \(shape.count), got shape \(value.shape)")
            }
            for (dim, actual) in zip(shape, value.shape) {
                if case .value(let expected) = dim, expected != Int64(actual) {
                    throw OnnxError(.invalidInput, "input '\(info.name)' must have shape \(shape), got \(value.shape)")
                }
            }
        }
    }
}
