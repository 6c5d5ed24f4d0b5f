"""Trains the demo world's two ONNX image scorers and writes them with their descriptors.

- exposed: fully convolutional; [1,3,64,64] RGB in [0,1] → [1,1,8,8] sigmoid probability that
  each 8×8 cell shows the exposed concept (score = max cell, regions = cells ≥ threshold).
- attribute: [1,3,64,64] → [1,2] softmax over ("female", "male").

Training images are world scenes with figure jitter, censored and benign triplet twins as
negatives, and, when models/demo/vae exists, half of them passed through that VAE so the
scorers see the decoder's softness. Only operators the native ONNX runner implements are used
(Conv, Relu, MaxPool, GlobalAveragePool, Flatten, Gemm, Sigmoid, Softmax). Run from the
repository root after train.py's VAE stage:

    .venv/bin/python ops/demo-world/scorers.py
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "models", "demo", "scorers")
VAE_DIR = os.path.join(ROOT, "models", "demo", "vae")
SEED = 11
THRESHOLD = 0.5
ALLOWED_OPS = {"Conv", "Relu", "MaxPool", "GlobalAveragePool", "Flatten", "Gemm", "Sigmoid", "Softmax",
               "Reshape", "MatMul", "Add", "Mul", "Constant"}


class ExposedGrid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, padding=1)
        self.c4 = nn.Conv2d(32, 32, 3, padding=1)
        self.head = nn.Conv2d(32, 1, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        return self.head(F.relu(self.c4(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


class AttributeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc = nn.Linear(32, 2)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.relu(self.c3(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def data(n: int, seed: int, vae, triplets: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """n scenes and `triplets` <exposed, censored, benign> triplets: images [N,3,64,64] in [0,1],
    grid targets [N,1,8,8], attribute labels [N] (0 female), kinds."""
    images, _, scenes = world.dataset(n, seed)
    ex, ce, be, tscenes = world.triplets(triplets, seed + 1)
    allimg = np.concatenate([images, ex, ce, be])
    grids = [world.exposed_grid(s) for s in scenes] + [world.exposed_grid(s) for s in tscenes] \
        + [np.zeros((8, 8), np.float32)] * (2 * len(tscenes))
    attrs = [s.attribute for s in scenes] + [s.attribute for s in tscenes] * 3
    kinds = np.array(["scene"] * len(scenes) + ["exposed"] * len(tscenes) + ["censored"] * len(tscenes)
                     + ["benign"] * len(tscenes))
    x = torch.from_numpy(allimg).permute(0, 3, 1, 2).float() / 255
    if vae is not None:
        # Every other image through the VAE (encode mean → decode), as generated images look.
        with torch.no_grad():
            for i in range(0, len(x), 512):
                part = x[i:i + 512:2]
                rec = vae.decode(vae.encode(part * 2 - 1).latent_dist.mean).sample
                x[i:i + 512:2] = ((rec + 1) / 2).clamp(0, 1)
    y = torch.from_numpy(np.stack(grids)).unsqueeze(1)
    a = torch.tensor([0 if v == "female" else 1 for v in attrs])
    return x, y, a, kinds


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Brightness/contrast jitter, mild blur on some images, pixel noise."""
    b = x.shape[0]
    gain = 1 + 0.15 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    bias = 0.08 * (torch.rand(b, 3, 1, 1, generator=gen) - 0.5)
    x = x * gain + bias
    blur = torch.rand(b, 1, 1, 1, generator=gen) < 0.3
    x = torch.where(blur, F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), x)
    x = x + 0.03 * torch.randn(x.shape, generator=gen)
    return x.clamp(0, 1)


def train(model: nn.Module, loss_fn, x, target, steps: int, batch: int = 32) -> None:
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        loss = loss_fn(model, augment(x[idx], gen), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"{type(model).__name__} step {step}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f}s)")
    model.eval()


def grid_loss(model, x, y):
    return F.binary_cross_entropy_with_logits(model.logits(x), y, pos_weight=torch.tensor(1.0))


def attr_loss(model, x, a):
    return F.cross_entropy(model.logits(x), a)


def export(model: nn.Module, name: str, descriptor: dict) -> str:
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{name}.onnx")
    torch.onnx.export(model, (torch.rand(1, 3, 64, 64),), path, input_names=["image"], output_names=["scores"],
                      opset_version=17, dynamo=False)
    import onnx
    ops = {n.op_type for n in onnx.load(path).graph.node}
    if not ops <= ALLOWED_OPS:
        raise SystemExit(f"{path}: operators {sorted(ops - ALLOWED_OPS)} are not in the native runner's set")
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(descriptor, f, indent=2)
        f.write("\n")
    log(f"{path}: ops {sorted(ops)}, {os.path.getsize(path) / 1e3:.0f} kB")
    return path


def check_onnx(path: str, model: nn.Module, x: torch.Tensor) -> None:
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for i in range(4):
        got = sess.run(None, {"image": x[i:i + 1].numpy()})[0]
        want = model(x[i:i + 1]).detach().numpy()
        assert np.abs(got - want).max() < 1e-4, (path, np.abs(got - want).max())


def main() -> None:
    global OUT
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run into out/demo-world/scorers-smoke")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=["both", "exposed", "attribute"], default="both")
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "demo"),
                        help="model folder: its vae/ softens half the images, scorers/ receives the ONNX files")
    args = parser.parse_args()
    global VAE_DIR
    VAE_DIR = os.path.join(os.path.abspath(args.model), "vae")
    OUT = os.path.join(os.path.abspath(args.model), "scorers")
    torch.set_num_threads(args.threads)
    n_train, n_test, det_steps, att_steps = (3000, 800, 4000, 2000) if not args.smoke else (120, 60, 3, 3)
    if args.smoke:
        OUT = os.path.join(ROOT, "out", "demo-world", "scorers-smoke")
    torch.manual_seed(SEED)
    vae = None
    if os.path.isdir(VAE_DIR) and not args.smoke:
        from diffusers import AutoencoderKL
        vae = AutoencoderKL.from_pretrained(VAE_DIR, torch_dtype=torch.float32).eval()
    results = {}
    # Both networks are constructed in this order whatever --only says, so each one's initial
    # weights do not depend on which stages run.
    det, att = ExposedGrid(), AttributeNet()

    if args.only in ("both", "exposed"):
        # The detector sees as many censored and benign twins as scenes: mosaics are its hardest
        # negatives (pink blocks where the exposed torso had stripes).
        t0 = time.time()
        x, y, _, _ = data(n_train, 101, vae, triplets=n_train)
        xt, yt, _, kt = data(n_test, 202, vae, triplets=n_test)   # held out: other seeds
        log(f"exposed data: {len(x)} train / {len(xt)} held-out images in {time.time() - t0:.0f}s")
        t0 = time.time()
        train(det, grid_loss, x, y, det_steps)
        with torch.no_grad():
            p = det(xt)
        img_pred = p.amax(dim=(1, 2, 3)) >= THRESHOLD
        img_true = yt.amax(dim=(1, 2, 3)) > 0
        cell_pred, cell_true = p >= THRESHOLD, yt > 0
        tp = (cell_pred & cell_true).sum().item()
        results["exposed"] = {
            "train_seconds": round(time.time() - t0),
            "image_accuracy": round((img_pred == img_true).float().mean().item(), 4),
            "exposed_recall": round(img_pred[img_true].float().mean().item(), 4),
            "censored_false_positive": round(img_pred[torch.from_numpy(kt == "censored")].float().mean().item(), 4),
            "benign_false_positive": round(img_pred[torch.from_numpy(kt == "benign")].float().mean().item(), 4),
            "cell_precision": round(tp / max(1, cell_pred.sum().item()), 4),
            "cell_recall": round(tp / max(1, cell_true.sum().item()), 4),
        }
        path = export(det, "exposed", {
            "onnx": "exposed.onnx", "input_width": 64, "input_height": 64, "input_layout": "NCHW",
            "input_channels": "RGB", "input_range": [0, 1], "output_kind": "grid", "threshold": THRESHOLD,
            "labels": ["EXPOSED"], "harm_category": "sexual", "harm_label": "EXPOSED"})
        check_onnx(path, det, xt)

    if args.only in ("both", "attribute"):
        # The attribute classifier: scenes plus a third as many triplets (mostly clothed figures).
        t0 = time.time()
        x, _, a, _ = data(n_train, 101, vae, triplets=n_train // 3)
        xt, _, at, _ = data(n_test, 202, vae, triplets=n_test // 3)
        log(f"attribute data: {len(x)} train / {len(xt)} held-out images in {time.time() - t0:.0f}s")
        t0 = time.time()
        train(att, attr_loss, x, a, att_steps)
        with torch.no_grad():
            pa = att(xt).argmax(1)
        results["attribute"] = {
            "train_seconds": round(time.time() - t0),
            "accuracy": round((pa == at).float().mean().item(), 4),
        }
        path = export(att, "attribute", {
            "onnx": "attribute.onnx", "input_width": 64, "input_height": 64, "input_layout": "NCHW",
            "input_channels": "RGB", "input_range": [0, 1], "output_kind": "classes", "labels": ["female", "male"]})
        check_onnx(path, att, xt)
    log("held-out: " + json.dumps(results))
    os.makedirs(os.path.join(ROOT, "out", "demo-world"), exist_ok=True)
    with open(os.path.join(OUT if args.smoke else os.path.join(ROOT, "out", "demo-world"), f"scorers-{args.only}.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
