import Foundation
import OnnxRunner
import Tensor
import Testing
import TestSupport

/// Every operator case against onnxruntime 1.31.1 on the same inputs (max abs error ≤ 1e-4;
/// int64 outputs exactly). Fixtures: ops/reference/make_onnx_fixtures.py.
@Suite struct OnnxParityTests {
    static let cases = [
        "conv_basic", "conv_groups_stride_dilation", "conv_pointwise_depthwise", "maxpool", "global_average_pool",
        "resize_nearest_scales", "resize_linear_sizes", "concat_split", "slice", "reshape_transpose", "softmax",
        "elementwise", "matmul_gemm", "shape_ops", "tiny_classifier",
    ]

    @Test(arguments: cases)
    func matchesOnnxRuntime(_ name: String) throws {
        let model = try OnnxModel(contentsOf: OnnxFixtures.url(name).appendingPathComponent("model.onnx"))
        let inputs = try OnnxFixtures.tensors(name, prefix: "input")
        let expected = try OnnxFixtures.tensors(name, prefix: "output")
        #expect(!inputs.isEmpty && !expected.isEmpty)
        var feeds: [String: OnnxValue] = [:]
        for (n, v) in inputs { feeds[n] = v }
        let outputs = try model.run(feeds)
        for (n, reference) in expected {
            let actual = try #require(outputs[n], "output \(n) missing")
            #expect(actual.shape == reference.shape, "\(name).\(n): shape \(actual.shape) vs \(reference.shape)")
            switch (actual, reference) {
            case (.float(let a), .float(let r)):
                let error = maxAbsDifference(a, r)
                #expect(error <= 1e-4, "\(name).\(n): max abs error \(error)")
            case (.int64(let a), .int64(let r)):
                #expect(a == r, "\(name).\(n): \(a.scalars.prefix(16)) vs \(r.scalars.prefix(16))")
            default:
                Issue.record("\(name).\(n): element type \(actual.dataType) vs \(reference.dataType)")
            }
        }
    }

    @Test func reportsGraphInterface() throws {
        let model = try OnnxModel(contentsOf: OnnxFixtures.url("tiny_classifier/model.onnx"))
        #expect(model.inputNames == ["x"])
        #expect(model.outputNames == ["logits", "probs"])
        #expect(model.opset == 17)
    }

    @Test func refusesWrongInputsAtRun() throws {
        let model = try OnnxModel(contentsOf: OnnxFixtures.url("conv_basic/model.onnx"))
        let bad: [[String: OnnxValue]] = [
            ["x": .float(Tensor.zeros([1, 2, 9, 11]))],
            [:],
            ["x": .int64(Int64Tensor(shape: [1], scalars: [1]))],
            ["x": .float(Tensor.zeros([1, 3, 9, 11])), "extra": .float(Tensor.zeros([1]))],
        ]
        for feeds in bad {
            do {
                _ = try model.run(feeds)
                Issue.record("accepted bad feeds \(feeds.keys.sorted())")
            } catch {
                #expect(error.code == .invalidInput, "\(error)")
            }
        }
    }
}
