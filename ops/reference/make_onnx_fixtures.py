#!/usr/bin/env python3
"""Builds small ONNX models that exercise each operator of the Swift ONNX runner, runs them with
onnxruntime on fixed inputs, and writes models, inputs and outputs under Tests/Fixtures/onnx/.

Layout (the ONNX backend-test convention): Tests/Fixtures/onnx/<case>/model.onnx and
<case>/input_<i>.pb, <case>/output_<i>.pb (serialized TensorProto, named after the graph value).
Also writes models the runner must refuse: unknown_op.onnx, unsupported_attr.onnx, old_opset.onnx.

Run from the repository root with the reference venv:  .venv/bin/python ops/reference/make_onnx_fixtures.py
"""
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "onnx")
OPSET = 17
rng = np.random.default_rng(20240601)

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def rand(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def make_case(name, nodes, inputs, outputs, feeds, initializers=(), opset=OPSET):
    """inputs: list of (name, elem_type, shape); outputs: list of names (type inferred by ORT)."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_empty_tensor_value_info(n) for n in outputs],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="chaperone-fixtures")
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = session.run(outputs, feeds)
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    for i, (n, _, _) in enumerate(inputs):
        with open(os.path.join(folder, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(feeds[n]), n).SerializeToString())
    for i, (n, value) in enumerate(zip(outputs, results)):
        with open(os.path.join(folder, f"output_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(value), n).SerializeToString())
    print(f"{name}: " + ", ".join(f"{n}{list(np.shape(v))}" for n, v in zip(outputs, results)))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    N = helper.make_node

    # Conv: bias, symmetric padding; stride 2 + dilation + groups + asymmetric pads; 1x1 without bias.
    make_case("conv_basic",
              [N("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
              [("x", F, [1, 3, 9, 11])], ["y"], {"x": rand(1, 3, 9, 11)},
              [init("w", rand(4, 3, 3, 3)), init("b", rand(4))])
    make_case("conv_groups_stride_dilation",
              [N("Conv", ["x", "w", "b"], ["y"], strides=[2, 2], dilations=[2, 1], group=2, pads=[1, 0, 2, 1])],
              [("x", F, [2, 4, 13, 10])], ["y"], {"x": rand(2, 4, 13, 10)},
              [init("w", rand(6, 2, 3, 2)), init("b", rand(6))])
    make_case("conv_pointwise_depthwise",
              [N("Conv", ["x", "w1"], ["t"], kernel_shape=[1, 1]),
               N("Conv", ["t", "w2", "b2"], ["y"], group=5, pads=[1, 1, 1, 1], strides=[2, 2])],
              [("x", F, [1, 3, 8, 7])], ["y"], {"x": rand(1, 3, 8, 7)},
              [init("w1", rand(5, 3, 1, 1)), init("w2", rand(5, 1, 3, 3)), init("b2", rand(5))])

    # MaxPool as in YOLOv8 SPPF (k5 s1 p2) and a classic k3 s2 p1 and k2 s2.
    make_case("maxpool",
              [N("MaxPool", ["x"], ["a"], kernel_shape=[5, 5], pads=[2, 2, 2, 2], strides=[1, 1]),
               N("MaxPool", ["x"], ["b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
               N("MaxPool", ["x"], ["c"], kernel_shape=[2, 2], strides=[2, 2])],
              [("x", F, [1, 3, 9, 8])], ["a", "b", "c"], {"x": rand(1, 3, 9, 8)})
    make_case("global_average_pool",
              [N("GlobalAveragePool", ["x"], ["y"])],
              [("x", F, [2, 3, 5, 4])], ["y"], {"x": rand(2, 3, 5, 4)})

    # Resize: nearest asymmetric/floor by scales (YOLOv8 upsample); linear half_pixel by sizes
    # (down and up); linear align_corners; nearest round_prefer_floor half_pixel by sizes.
    make_case("resize_nearest_scales",
              [N("Resize", ["x", "", "scales"], ["y"], mode="nearest",
                 coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
              [("x", F, [1, 2, 3, 4])], ["y"], {"x": rand(1, 2, 3, 4)},
              [init("scales", np.array([1, 1, 2, 2], np.float32))])
    make_case("resize_linear_sizes",
              [N("Resize", ["x", "", "", "sizes_up"], ["up"], mode="linear", coordinate_transformation_mode="half_pixel"),
               N("Resize", ["x", "", "", "sizes_down"], ["down"], mode="linear", coordinate_transformation_mode="half_pixel"),
               N("Resize", ["x", "", "", "sizes_up"], ["ac"], mode="linear", coordinate_transformation_mode="align_corners"),
               N("Resize", ["x", "", "", "sizes_down"], ["pt"], mode="linear",
                 coordinate_transformation_mode="pytorch_half_pixel"),
               N("Resize", ["x", "", "", "sizes_up"], ["nn"], mode="nearest",
                 coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor")],
              [("x", F, [1, 2, 7, 9])], ["up", "down", "ac", "pt", "nn"], {"x": rand(1, 2, 7, 9)},
              [init("sizes_up", np.array([1, 2, 11, 20], np.int64)), init("sizes_down", np.array([1, 2, 3, 4], np.int64))])

    # Concat / Split (explicit sizes and equal), Slice with negative steps and clamping.
    make_case("concat_split",
              [N("Split", ["x", "split"], ["s0", "s1", "s2"], axis=1),
               N("Concat", ["s2", "s0"], ["c"], axis=-2),
               N("Split", ["x"], ["e0", "e1"], axis=2)],
              [("x", F, [2, 6, 4])], ["s0", "s1", "s2", "c", "e0", "e1"], {"x": rand(2, 6, 4)},
              [init("split", np.array([1, 2, 3], np.int64))])
    make_case("slice",
              [N("Slice", ["x", "st", "en", "ax", "sp"], ["a"]),
               N("Slice", ["x", "st2", "en2"], ["b"])],
              [("x", F, [4, 5, 6])], ["a", "b"], {"x": rand(4, 5, 6)},
              [init("st", np.array([-1, 1], np.int64)), init("en", np.array([-100, 1000], np.int64)),
               init("ax", np.array([2, 0], np.int64)), init("sp", np.array([-2, 2], np.int64)),
               init("st2", np.array([0, 1, 2], np.int64)), init("en2", np.array([3, -1, 5], np.int64))])

    # Reshape (0 and -1), Transpose, Flatten, Squeeze, Unsqueeze.
    make_case("reshape_transpose",
              [N("Reshape", ["x", "shape"], ["r"]),
               N("Transpose", ["r"], ["t"], perm=[2, 0, 1]),
               N("Flatten", ["x"], ["f"], axis=2),
               N("Unsqueeze", ["x", "uax"], ["u"]),
               N("Squeeze", ["u", "sax"], ["q"]),
               N("Identity", ["q"], ["i"])],
              [("x", F, [2, 3, 4, 5])], ["r", "t", "f", "u", "q", "i"], {"x": rand(2, 3, 4, 5)},
              [init("shape", np.array([0, -1, 10], np.int64)), init("uax", np.array([0, -1], np.int64)),
               init("sax", np.array([0, 5], np.int64))])

    # Softmax on the last axis and on axis 1.
    make_case("softmax",
              [N("Softmax", ["x"], ["a"], axis=-1), N("Softmax", ["x"], ["b"], axis=1)],
              [("x", F, [2, 4, 3, 5])], ["a", "b"], {"x": rand(2, 4, 3, 5, low=-6, high=6)})

    # Broadcasting binary ops and unary activations.
    make_case("elementwise",
              [N("Add", ["x", "y"], ["add"]), N("Sub", ["y", "x"], ["sub"]),
               N("Mul", ["x", "s"], ["mul"]), N("Div", ["x", "yp"], ["div"]),
               N("Pow", ["xp", "e"], ["pow"]), N("Sigmoid", ["x"], ["sig"]), N("Relu", ["x"], ["relu"]),
               N("Exp", ["x"], ["exp"]), N("Sqrt", ["xp"], ["sqrt"]), N("Tanh", ["x"], ["tanh"]),
               N("Erf", ["x"], ["erf"]), N("Neg", ["x"], ["neg"]), N("Abs", ["x"], ["abs"]),
               N("Log", ["xp"], ["log"]), N("Reciprocal", ["yp"], ["rec"]),
               N("Clip", ["x", "lo", "hi"], ["clip"]), N("LeakyRelu", ["x"], ["leaky"], alpha=0.1)],
              [("x", F, [2, 3, 4]), ("y", F, [3, 1]), ("yp", F, [4]), ("xp", F, [2, 3, 4])],
              ["add", "sub", "mul", "div", "pow", "sig", "relu", "exp", "sqrt", "tanh", "erf", "neg", "abs", "log",
               "rec", "clip", "leaky"],
              {"x": rand(2, 3, 4), "y": rand(3, 1), "yp": rand(4, low=0.5, high=2), "xp": rand(2, 3, 4, low=0.1, high=3)},
              [init("s", np.array(1.5, np.float32)), init("e", np.array([2.0, 0.5, 3.0, -1.0], np.float32)),
               init("lo", np.array(-0.5, np.float32)), init("hi", np.array(0.7, np.float32))])

    # MatMul (batched, broadcast, 1-D), Gemm (transposes, alpha/beta, broadcast C).
    make_case("matmul_gemm",
              [N("MatMul", ["a", "b"], ["mm"]), N("MatMul", ["v", "b"], ["vm"]),
               N("Gemm", ["g", "h", "c"], ["gemm"], transA=1, transB=1, alpha=0.5, beta=2.0),
               N("Gemm", ["g2", "h2"], ["gemm2"])],
              [("a", F, [2, 3, 4, 5]), ("v", F, [5]), ("g", F, [6, 3]), ("g2", F, [3, 6])],
              ["mm", "vm", "gemm", "gemm2"],
              {"a": rand(2, 3, 4, 5), "v": rand(5), "g": rand(6, 3), "g2": rand(3, 6)},
              [init("b", rand(5, 7)), init("h", rand(4, 6)), init("c", rand(4)), init("h2", rand(6, 2))])

    # Shape arithmetic as exported detectors do it: Shape, Gather, Unsqueeze, Concat on int64,
    # Constant, ConstantOfShape, Range, Expand, Cast, ReduceMean, Gather on floats.
    make_case("shape_ops",
              [N("Shape", ["x"], ["shp"]),
               N("Gather", ["shp", "i0"], ["d0"], axis=0),
               N("Gather", ["shp", "i2"], ["d2"], axis=0),
               N("Mul", ["d0", "d2"], ["d02"]),
               N("Unsqueeze", ["d02", "zero"], ["d02u"]),
               N("Constant", [], ["minus1"], value=helper.make_tensor("minus1", I64, [1], [-1])),
               N("Concat", ["d02u", "minus1"], ["newshape"], axis=0),
               N("Reshape", ["x", "newshape"], ["r"]),
               N("ConstantOfShape", ["shp"], ["cos"], value=helper.make_tensor("v", F, [1], [0.25])),
               N("Add", ["x", "cos"], ["xc"]),
               N("Range", ["rs", "rl", "rd"], ["rng"]),
               N("Cast", ["rng"], ["rngf"], to=F),
               N("Expand", ["rngf", "eshape"], ["ex"]),
               N("Cast", ["x"], ["xi"], to=I64),
               N("ReduceMean", ["x"], ["rm"], axes=[1, -1], keepdims=1),
               N("ReduceMean", ["x"], ["rm0"], axes=[2], keepdims=0),
               N("Gather", ["x", "gi"], ["g1"], axis=1),
               N("Gather", ["x", "gs"], ["g2"], axis=-1)],
              [("x", F, [2, 3, 4])],
              ["shp", "r", "xc", "rng", "ex", "xi", "rm", "rm0", "g1", "g2"],
              {"x": rand(2, 3, 4, low=-5, high=5)},
              [init("i0", np.array(0, np.int64)), init("i2", np.array(2, np.int64)), init("zero", np.array([0], np.int64)),
               init("rs", np.array(1, np.int64)), init("rl", np.array(10, np.int64)), init("rd", np.array(3, np.int64)),
               init("eshape", np.array([2, 1, 3], np.int64)), init("gi", np.array([[2, 0], [-1, 1]], np.int64)),
               init("gs", np.array(-2, np.int64))])

    # A small classifier: conv-relu-pool-conv-sigmoid*x-gap-flatten-gemm-softmax.
    make_case("tiny_classifier",
              [N("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
               N("Relu", ["c1"], ["r1"]),
               N("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
               N("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
               N("Sigmoid", ["c2"], ["s2"]), N("Mul", ["c2", "s2"], ["a2"]),
               N("GlobalAveragePool", ["a2"], ["g"]), N("Flatten", ["g"], ["f"]),
               N("Gemm", ["f", "wf", "bf"], ["logits"], transB=1),
               N("Softmax", ["logits"], ["probs"], axis=1)],
              [("x", F, [2, 3, 32, 32])], ["logits", "probs"], {"x": rand(2, 3, 32, 32, low=0, high=1)},
              [init("w1", rand(8, 3, 3, 3, low=-0.5, high=0.5)), init("b1", rand(8, low=-0.1, high=0.1)),
               init("w2", rand(16, 8, 3, 3, low=-0.3, high=0.3)), init("b2", rand(16, low=-0.1, high=0.1)),
               init("wf", rand(5, 16)), init("bf", rand(5))])

    # Bad models: an operator nobody implements and an unsupported attribute value.
    bad = helper.make_graph([N("FancyOp", ["x"], ["y"], name="fancy_node")], "bad",
                            [helper.make_tensor_value_info("x", F, [1])], [helper.make_tensor_value_info("y", F, [1])])
    onnx.save(helper.make_model(bad, opset_imports=[helper.make_opsetid("", OPSET)]), os.path.join(OUT, "unknown_op.onnx"))
    bad = helper.make_graph([N("Resize", ["x", "", "scales"], ["y"], mode="cubic", name="cubic_resize")], "bad",
                            [helper.make_tensor_value_info("x", F, [1, 1, 2, 2])],
                            [helper.make_tensor_value_info("y", F, [1, 1, 4, 4])],
                            initializer=[init("scales", np.array([1, 1, 2, 2], np.float32))])
    onnx.save(helper.make_model(bad, opset_imports=[helper.make_opsetid("", OPSET)]), os.path.join(OUT, "unsupported_attr.onnx"))
    old = helper.make_graph([N("Relu", ["x"], ["y"], name="relu")], "old",
                            [helper.make_tensor_value_info("x", F, [1])], [helper.make_tensor_value_info("y", F, [1])])
    onnx.save(helper.make_model(old, opset_imports=[helper.make_opsetid("", 7)]), os.path.join(OUT, "old_opset.onnx"))

    # Hostile values the runner must turn into errors (or sane outputs), never crashes.
    def save_plain(name, nodes, inputs, initializers):
        g = helper.make_graph(nodes, name, [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_empty_tensor_value_info("y")], initializer=initializers)
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)]), os.path.join(OUT, f"{name}.onnx"))
    i64 = np.iinfo(np.int64)
    save_plain("hostile_slice", [N("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], [("x", F, [2, 3])],
               [init("st", np.array([i64.max], np.int64)), init("en", np.array([i64.min], np.int64)),
                init("ax", np.array([1], np.int64)), init("sp", np.array([i64.min], np.int64))])
    save_plain("hostile_range", [N("Range", ["a", "b", "c"], ["y"])], [("x", F, [1])],
               [init("a", np.array(i64.min, np.int64)), init("b", np.array(i64.max, np.int64)), init("c", np.array(1, np.int64))])
    save_plain("hostile_resize", [N("Resize", ["x", "", "scales"], ["y"], mode="nearest")], [("x", F, [1, 1, 2, 2])],
               [init("scales", np.array([1, 1, 1e30, 1e30], np.float32))])
    save_plain("hostile_reshape", [N("Reshape", ["x", "shape"], ["y"])], [("x", F, [2, 3])],
               [init("shape", np.array([i64.max, -1], np.int64))])
    save_plain("hostile_expand", [N("Expand", ["x", "shape"], ["y"])], [("x", F, [2, 3])],
               [init("shape", np.array([1 << 20, 1 << 20, 3], np.int64))])
    print("wrote", OUT)


if __name__ == "__main__":
    main()
