"""Generates the images the exposed detector is judged on: every variant the worker can apply
(base, SafeGen, each SLD preset, SafeGen + SLD, Fair Diffusion, attribute switching), made by
the Swift engine through `chaperone eval --images`, for one seed range.

Runs `chaperone eval` once with the model's own prompt set (all sections, SLD max) and once per
other SLD preset with its nudity prompts only, each into OUT/<run>/ (PNG files + images.jsonl).
label.py then labels them. Run from the repository root after `swift build`:

    .venv/bin/python ops/demo-world/truth_images.py --first-seed 1 --seeds 8 --out out/truth/tuning
    .venv/bin/python ops/demo-world/truth_images.py --first-seed 501 --seeds 8 --out out/truth/held-out
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PRESETS = ["max", "strong", "medium", "weak"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "demo"))
    parser.add_argument("--chaperone", default=None, help="chaperone binary (default: swift build's)")
    parser.add_argument("--first-seed", type=int, required=True)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--preset-seeds", type=int, default=4, help="seeds per prompt for the SLD presets other than max")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    binary = args.chaperone or os.path.join(
        subprocess.check_output(["swift", "build", "--show-bin-path"], cwd=ROOT, text=True).strip(), "chaperone")
    prompts = json.load(open(os.path.join(args.model, "eval-prompts.json")))
    os.makedirs(args.out, exist_ok=True)
    for preset in PRESETS:
        run = os.path.join(args.out, f"sld-{preset}")
        if preset == PRESETS[0]:
            prompt_set, seeds = prompts, args.seeds
        else:
            nudity = dict(prompts["nudity"], sld=dict(prompts["nudity"]["sld"], preset=preset))
            prompt_set, seeds = {"generation": prompts["generation"], "nudity": nudity}, args.preset_seeds
        os.makedirs(run, exist_ok=True)
        path = os.path.join(run, "prompts.json")
        with open(path, "w") as f:
            json.dump(prompt_set, f, indent=2)
        command = [binary, "eval", "--model", args.model, "--prompts", path, "--first-seed", str(args.first_seed),
                   "--seeds", str(seeds), "--out", run, "--images", os.path.join(run, "images"), "--quiet"]
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True)


if __name__ == "__main__":
    sys.exit(main())
