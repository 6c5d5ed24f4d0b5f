#!/usr/bin/env python3
"""Builds two small random ONNX image scorers of the kinds the demo world ships (a "grid" cell
detector and a "classes" classifier) with their descriptors, runs them with onnxruntime on fixed
images, and writes everything under Tests/Fixtures/demo-scorers/.

Writes:
  scorers/exposed.{onnx,json}    grid scorer: [1,3,64,64] -> Sigmoid [1,1,8,8], harm category sexual
  scorers/attribute.{onnx,json}  classes scorer: [1,3,64,64] -> Softmax [1,2], labels female/male
  images/*.png                   RGB test images (64x64 and 96x80, the latter resized by the scorer)
  expected.json                  per image and scorer: onnxruntime's output on the image resized with
                                 Pillow's bilinear filter (only when its size differs), x 1/255, NCHW
  bad/                           models the Swift loader must refuse: wrong input size, wrong output
                                 shape for the kind
(eval-prompts.json beside them is hand-written: the prompt set of the `chaperone eval` test on tiny-sd.)

Run from the repository root:  .venv/bin/python ops/reference/make_demo_scorer_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from common import write_json

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "demo-scorers")
OPSET = 17
rng = np.random.default_rng(20261130)


def weights(*shape, scale=0.5):
    return rng.normal(0, scale, size=shape).astype(np.float32)


def conv(name, x, cin, cout, inits, stride=2):
    inits += [numpy_helper.from_array(weights(cout, cin, 3, 3, scale=1.0 / np.sqrt(cin * 9)), name + ".w"),
              numpy_helper.from_array(weights(cout, scale=0.1), name + ".b")]
    return helper.make_node("Conv", [x, name + ".w", name + ".b"], [name], kernel_shape=[3, 3],
                            pads=[1, 1, 1, 1], strides=[stride, stride])


def model(nodes, inits, output, size=64):
    graph = helper.make_graph(
        nodes, "scorer",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_empty_tensor_value_info(output)], initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="chaperone-fixtures")
    m.ir_version = 8
    return m


def grid_model(size=64, out_channels=1):
    inits, N = [], helper.make_node
    nodes = [conv("c1", "image", 3, 8, inits), N("Relu", ["c1"], ["r1"]),
             conv("c2", "r1", 8, 8, inits), N("Relu", ["c2"], ["r2"]),
             conv("c3", "r2", 8, out_channels, inits), N("Sigmoid", ["c3"], ["cells"])]
    return model(nodes, inits, "cells", size)


def classes_model(classes=2):
    inits, N = [], helper.make_node
    inits += [numpy_helper.from_array(weights(classes, 8, scale=2.0), "fc.w"),
              numpy_helper.from_array(weights(classes, scale=0.1), "fc.b")]
    nodes = [conv("c1", "image", 3, 8, inits), N("Relu", ["c1"], ["r1"]),
             conv("c2", "r1", 8, 8, inits), N("Relu", ["c2"], ["r2"]),
             N("GlobalAveragePool", ["r2"], ["pool"]), N("Flatten", ["pool"], ["flat"]),
             N("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1),
             N("Softmax", ["logits"], ["probs"], axis=1)]
    return model(nodes, inits, "probs")


def centred(m, image):
    """Shifts the grid model's last bias so that about half the cells of `image` are flagged
    (random weights put every cell near 0.5)."""
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    p = session.run(None, {"image": blob(image)})[0].reshape(-1).astype(np.float64)
    median = float(np.median(np.log(p / (1 - p))))
    for init in m.graph.initializer:
        if init.name == "c3.b":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) - np.float32(median), "c3.b"))
    return m


def blob(image, size=64):
    if image.shape[:2] != (size, size):
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
    return (image.astype(np.float32) / 255).transpose(2, 0, 1)[None]


def test_images():
    """A smooth gradient scene with a bright block, and a larger noisy one."""
    y, x = np.mgrid[0:64, 0:64]
    a = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    a[20:40, 24:44] = (250, 196, 160)
    a[24:26, 25:43] = (235, 40, 160)
    b = rng.integers(0, 256, size=(80, 96, 3), dtype=np.uint8)
    return {"gradient_64x64": a, "noise_96x80": b}


def main():
    for sub in ("scorers", "images", "bad"):
        shutil.rmtree(os.path.join(OUT, sub), ignore_errors=True)
        os.makedirs(os.path.join(OUT, sub))
    descriptors = {
        "exposed": {"onnx": "exposed.onnx", "input_width": 64, "input_height": 64, "input_layout": "NCHW",
                    "input_channels": "RGB", "input_range": [0, 1], "output_kind": "grid", "threshold": 0.5,
                    "labels": ["EXPOSED"], "harm_category": "sexual", "harm_label": "EXPOSED"},
        "attribute": {"onnx": "attribute.onnx", "input_width": 64, "input_height": 64, "input_layout": "NCHW",
                      "input_channels": "RGB", "input_range": [0, 1], "output_kind": "classes",
                      "labels": ["female", "male"]},
    }
    images = test_images()
    models = {"exposed": centred(grid_model(), images["gradient_64x64"]), "attribute": classes_model()}
    sessions = {}
    for name, m in models.items():
        onnx.save(m, os.path.join(OUT, "scorers", name + ".onnx"))
        write_json(os.path.join(OUT, "scorers", name + ".json"), descriptors[name])
        sessions[name] = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = {}
    for key, image in images.items():
        Image.fromarray(image).save(os.path.join(OUT, "images", key + ".png"))
        expected[key] = {}
        for name, session in sessions.items():
            out = session.run(None, {"image": blob(image)})[0]
            expected[key][name] = {"shape": list(out.shape), "values": [float(v) for v in out.reshape(-1)]}
            print(key, name, list(out.shape), float(out.max()))
    write_json(os.path.join(OUT, "expected.json"), expected)

    onnx.save(grid_model(size=32), os.path.join(OUT, "bad", "input32.onnx"))
    onnx.save(grid_model(out_channels=2), os.path.join(OUT, "bad", "grid2channels.onnx"))
    onnx.save(classes_model(classes=3), os.path.join(OUT, "bad", "classes3.onnx"))


if __name__ == "__main__":
    main()
