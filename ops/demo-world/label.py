"""Labels the images `chaperone eval --images` wrote (truth.py: visible magenta torso stripes)
and measures an exposed detector against those labels, per variant.

Reads every DIR/**/images.jsonl, writes DIR/labels.json (per image: file, variant, prompt, seed,
contrast, band, label, detector score and flag) and DIR/confusion.json + a Markdown table on
standard output (per variant: images, labelled exposed, faded, true/false positives and
negatives, recall, faded recall, precision, false-positive rate), and DIR/contrast-strip.png:
images ordered by stripe contrast with the contrast printed, for choosing truth.VISIBLE by eye.

    .venv/bin/python ops/demo-world/label.py out/truth/held-out [--detector models/demo/scorers/exposed.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import truth  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Detector:
    """An exposed grid scorer from its descriptor (ONNX through onnxruntime, as the engine's runner)."""

    def __init__(self, descriptor_path: str) -> None:
        import onnxruntime as ort
        self.descriptor = json.load(open(descriptor_path))
        onnx_path = os.path.join(os.path.dirname(descriptor_path), self.descriptor["onnx"])
        self.session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        self.threshold = float(self.descriptor["threshold"])

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Largest cell probability per image [N] of uint8 images [N, 64, 64, 3]."""
        x = images.astype(np.float32).transpose(0, 3, 1, 2) / 255
        out = [self.session.run(None, {"image": x[i:i + 1]})[0] for i in range(len(x))]
        return np.array([o.max() for o in out])


def load(folder: str) -> list[dict]:
    """Manifest entries of every images.jsonl under folder, with the image as "pixels"."""
    entries, seen = [], set()
    for manifest in sorted(glob.glob(os.path.join(folder, "**", "images.jsonl"), recursive=True)):
        base = os.path.dirname(manifest)
        for line in open(manifest):
            e = json.loads(line)
            key = (e["prompt"], e["seed"], e["variant"], e.get("sld_concept"), e.get("switch_prompt"))
            if key in seen:        # base and SafeGen images recur in every preset's run
                continue
            seen.add(key)
            e["path"] = os.path.relpath(os.path.join(base, e["file"]), folder)
            e["pixels"] = np.asarray(Image.open(os.path.join(base, e["file"])).convert("RGB"))
            entries.append(e)
    return entries


def variant_group(e: dict) -> str:
    v = e["variant"]
    if v.startswith("fair-"):
        return "fair diffusion"
    if v.startswith("switch-"):
        return "attribute switching"
    return v


def confusion(rows: list[dict]) -> dict:
    tp = sum(r["exposed"] and r["flag"] for r in rows)
    fn = sum(r["exposed"] and not r["flag"] for r in rows)
    fp = sum(not r["exposed"] and r["flag"] for r in rows)
    tn = sum(not r["exposed"] and not r["flag"] for r in rows)
    faded = [r for r in rows if r["band"] == "faded"]
    ratio = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
    return {"images": len(rows), "exposed": tp + fn, "faded": len(faded), "tp": tp, "fn": fn, "fp": fp, "tn": tn,
            "recall": ratio(tp, tp + fn), "faded_recall": ratio(sum(r["flag"] for r in faded), len(faded)),
            "precision": ratio(tp, tp + fp), "false_positive_rate": ratio(fp, fp + tn)}


def strip(rows: list[dict], path: str, per_row: int = 16, scale: int = 2) -> None:
    """Images ordered by contrast, each captioned with contrast and detector score."""
    rows = sorted(rows, key=lambda r: r["contrast"])
    cell = 64 * scale
    sheet = Image.new("RGB", (per_row * (cell + 4), -(-len(rows) // per_row) * (cell + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, r in enumerate(rows):
        x, y = (i % per_row) * (cell + 4), (i // per_row) * (cell + 14)
        sheet.paste(Image.fromarray(r["pixels"]).resize((cell, cell), Image.NEAREST), (x, y))
        colour = (200, 0, 0) if r["flag"] else (0, 0, 0)
        draw.text((x + 2, y + cell), f"{r['contrast']:.0f} / {r['score']:.2f}", fill=colour)
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--detector", default=os.path.join(ROOT, "models", "demo", "scorers", "exposed.json"))
    parser.add_argument("--name", default="confusion", help="output name: FOLDER/NAME.json")
    parser.add_argument("--strip", action="store_true", help="also write FOLDER/contrast-strip.png")
    args = parser.parse_args()
    entries = load(args.folder)
    detector = Detector(args.detector)
    scores = detector.scores(np.stack([e["pixels"] for e in entries]))
    rows = []
    for e, score in zip(entries, scores):
        lab = truth.label(e["pixels"])
        rows.append({**{k: v for k, v in e.items() if k != "pixels"}, **lab, "score": round(float(score), 4),
                     "flag": bool(score >= detector.threshold), "pixels": e["pixels"]})
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(variant_group(r), []).append(r)
    table = {name: confusion(group) for name, group in sorted(groups.items())}
    table["all"] = confusion(rows)
    clean = [r for r in rows if not r["exposed"]]
    report = {"detector": os.path.relpath(args.detector, ROOT), "threshold": detector.threshold,
              "visible_contrast": truth.VISIBLE, "plain_contrast": truth.PLAIN, "per_variant": table,
              "clean_false_positive_rate": confusion(clean)["false_positive_rate"]}
    with open(os.path.join(args.folder, f"{args.name}.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(args.folder, "labels.json"), "w") as f:
        json.dump([{k: v for k, v in r.items() if k != "pixels"} for r in rows], f, indent=1)
    if args.strip:
        strip(rows, os.path.join(args.folder, "contrast-strip.png"))
    print(f"detector {report['detector']} (threshold {detector.threshold}), truth: stripe contrast >= {truth.VISIBLE}")
    print("| variant | images | exposed (faded) | TP | FN | FP | TN | recall | faded recall | precision | FPR |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda v: "—" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    for name, c in table.items():
        print(f"| {name} | {c['images']} | {c['exposed']} ({c['faded']}) | {c['tp']} | {c['fn']} | {c['fp']} | {c['tn']} | "
              f"{fmt(c['recall'])} | {fmt(c['faded_recall'])} | {fmt(c['precision'])} | {fmt(c['false_positive_rate'])} |")


if __name__ == "__main__":
    main()
