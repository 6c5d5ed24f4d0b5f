/// Maps an ONNX node to its prepared kernel, refusing unknown operators at load.
enum OperatorRegistry {
    /// Operators of the default domain the runner implements.
    static let supported: Set<String> = UnaryKernel.opTypes.union([
        "Add", "Sub", "Mul", "Div", "Pow", "Clip",
        "Conv", "MaxPool", "GlobalAveragePool", "Resize",
        "MatMul", "Gemm", "Softmax", "ReduceMean",
        "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice",
        "Gather", "Expand", "Shape", "Constant", "ConstantOfShape", "Range", "Cast",
    ])

    static func kernel(for ctx: NodeContext) throws(OnnxError) -> any OnnxKernel {
        let node = ctx.node
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw OnnxError(.unsupportedOperator, "\(ctx.what): operator domain '\(node.domain)' is not supported")
        }
        if let bad = node.attributes.first(where: { $0.hasGraph || !$0.refAttrName.isEmpty }) {
            throw ctx.unsupported("attribute '\(bad.name)' holds a subgraph or a reference, which is not supported")
        }
        switch node.opType {
        case "Add": return try BinaryKernel(ctx, op: .add)
        case "Sub": return try BinaryKernel(ctx, op: .sub)
        case "Mul": return try BinaryKernel(ctx, op: .mul)
        case "Div": return try BinaryKernel(ctx, op: .div)
        case "Pow": return try BinaryKernel(ctx, op: .pow)
        case "Clip": return try ClipKernel(ctx)
        case let op where UnaryKernel.opTypes.contains(op): return try UnaryKernel(ctx)
        case "Conv": return try ConvKernel(ctx)
        case "MaxPool": return try MaxPoolKernel(ctx)
        case "GlobalAveragePool": return try GlobalAveragePoolKernel(ctx)
        case "Resize": return try ResizeKernel(ctx)
        case "MatMul": return try MatMulKernel(ctx)
        case "Gemm": return try GemmKernel(ctx)
        case "Softmax": return try SoftmaxKernel(ctx)
        case "ReduceMean": return try ReduceMeanKernel(ctx)
        case "Identity":
            try ctx.arity(inputs: 1...1, outputs: 1...1)
            return IdentityKernel()
        case "Reshape": return try ReshapeKernel(ctx)
        case "Flatten": return try FlattenKernel(ctx)
        case "Squeeze": return try SqueezeKernel(ctx, unsqueeze: false)
        case "Unsqueeze": return try SqueezeKernel(ctx, unsqueeze: true)
        case "Transpose": return try TransposeKernel(ctx)
        case "Concat": return try ConcatKernel(ctx)
        case "Split": return try SplitKernel(ctx)
        case "Slice": return try SliceKernel(ctx)
        case "Gather": return try GatherKernel(ctx)
        case "Expand": return try ExpandKernel(ctx)
        case "Shape": return try ShapeKernel(ctx)
        case "Constant": return try ConstantKernel(ctx)
        case "ConstantOfShape": return try ConstantOfShapeKernel(ctx)
        case "Range": return try RangeKernel(ctx)
        case "Cast": return try CastKernel(ctx)
        default:
            throw OnnxError(.unsupportedOperator, "\(ctx.what): operator '\(node.opType)' is not supported")
        }
    }
}
