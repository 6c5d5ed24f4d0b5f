"""Writes a Stable Diffusion 1.5 model folder with random weights in diffusers' layout.

    ops/bench/random_sd15.py OUT [--dtype float16|float32]

The UNet, VAE and text encoder have SD-1.5's architectures (the configs `peers.py` uses, seeded
alike), the scheduler is SD-1.5's DDIM setting, and the tokenizer files are CLIP's (copied from
the tiny-sd test fixture). `chaperone generate --model OUT` loads it like a published checkpoint,
so peak memory can be measured on real files: float16 safetensors as SD is usually published,
or float32. Run with var/bench-venv's interpreter (`ops/bench/peers` creates it); the folder is
about 2.1 GB in float16 and 4.3 GB in float32.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

import peers

ROOT = peers.ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    args = parser.parse_args()
    import torch
    dtype = getattr(torch, args.dtype)
    os.makedirs(args.out, exist_ok=True)
    for name, build in (("unet", peers.build_unet), ("vae", peers.build_vae), ("text_encoder", peers.build_text_encoder)):
        build().to(dtype).save_pretrained(os.path.join(args.out, name), safe_serialization=True)
    os.makedirs(os.path.join(args.out, "scheduler"), exist_ok=True)
    with open(os.path.join(args.out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump({"_class_name": "DDIMScheduler", **peers.SD15_DDIM}, f, indent=2, sort_keys=True)
    shutil.copytree(os.path.join(ROOT, "Tests", "Fixtures", "tiny-sd", "tokenizer"), os.path.join(args.out, "tokenizer"),
                    dirs_exist_ok=True)
    with open(os.path.join(ROOT, "Tests", "Fixtures", "tiny-sd", "model_index.json")) as f:
        index = json.load(f)
    index["scheduler"] = ["diffusers", "DDIMScheduler"]
    with open(os.path.join(args.out, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
