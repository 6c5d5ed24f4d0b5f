"""Runs `chaperone bench unet` and diffusers on the same work, in one run, and prints the ratio.

Both evaluate Stable Diffusion 1.5's UNet2DConditionModel architecture with random weights
(320/640/1280/1280 channels, cross-attention width 768), at the same batch (2: classifier-free
guidance), latent size (64x64 = a 512x512 image), 77 conditioning tokens, per-item timesteps,
the same number of warm-up and timed evaluations, and the same thread count (PyTorch CPU,
float32, no_grad; OpenBLAS and our kernels for chaperone). The processes run one after the other so
they do not compete for cores.

    .venv/bin/python ops/bench/unet_vs_diffusers.py [--chaperone PATH] [--threads N] [--runs R]

Prints one JSON object: both results, and `ratio_seconds_chaperone_over_diffusers` (below 1
means chaperone is faster).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SD15_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    block_out_channels=[320, 640, 1280, 1280],
    layers_per_block=2,
    cross_attention_dim=768,
    attention_head_dim=8,
    norm_num_groups=32,
    flip_sin_to_cos=True,
    freq_shift=0,
)


def find_chaperone() -> str:
    candidates = []
    for pattern in (".build*/release/chaperone", ".build*/*/release/chaperone",
                    ".build*/debug/chaperone", ".build*/*/debug/chaperone"):
        candidates += glob.glob(os.path.join(ROOT, pattern))
    candidates = [c for c in candidates if os.access(c, os.X_OK)]
    if not candidates:
        sys.exit("no chaperone binary found: build it (swift build -c release --product chaperone) "
                 "or pass --chaperone PATH")
    release = [c for c in candidates if "/release/" in c]
    return max(release or candidates, key=os.path.getmtime)


def run_chaperone(path: str, args: argparse.Namespace) -> dict:
    command = [path, "bench", "unet", "--threads", str(args.threads), "--runs", str(args.runs),
               "--warmup", str(args.warmup), "--batch", str(args.batch), "--size", str(args.size)]
    print("running: " + " ".join(command[1:]), file=sys.stderr)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def run_diffusers(args: argparse.Namespace) -> dict:
    import torch
    from diffusers import UNet2DConditionModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    start = time.perf_counter()
    unet = UNet2DConditionModel(**SD15_UNET).eval()
    build_seconds = time.perf_counter() - start
    gen = torch.Generator().manual_seed(2)
    sample = torch.rand((args.batch, 4, args.size, args.size), generator=gen) * 2 - 1
    context = torch.rand((args.batch, 77, 768), generator=gen) * 2 - 1
    timesteps = torch.tensor([981.0 - 40 * i for i in range(args.batch)])
    print(f"running: diffusers UNet2DConditionModel, {args.threads} threads", file=sys.stderr)
    times = []
    with torch.no_grad():
        for _ in range(args.warmup):
            unet(sample, timesteps, encoder_hidden_states=context)
        for _ in range(args.runs):
            t0 = time.perf_counter()
            unet(sample, timesteps, encoder_hidden_states=context)
            times.append(time.perf_counter() - t0)
    ordered = sorted(times)
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in unet.parameters()),
        "build_seconds": build_seconds,
        "seconds_all": times,
        "seconds_best": ordered[0],
        "seconds_median": ordered[len(ordered) // 2],
        "peak_resident_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chaperone", help="path to the chaperone binary (default: newest under .build*)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()

    ours = run_chaperone(args.chaperone or find_chaperone(), args)
    theirs = run_diffusers(args)
    ratio = ours["seconds_median"] / theirs["seconds_median"]
    gflops = ours["gflops_per_evaluation"]
    theirs["gflops_per_second"] = gflops / theirs["seconds_median"]
    print(json.dumps({
        "work": {"batch": args.batch, "latent_size": args.size, "context_length": 77,
                 "threads": args.threads, "runs": args.runs, "warmup": args.warmup,
                 "gflops_per_evaluation": gflops},
        "chaperone": ours,
        "diffusers": theirs,
        "ratio_seconds_chaperone_over_diffusers": ratio,
    }, indent=2, sort_keys=True))
    print(f"chaperone {ours['seconds_median']:.2f} s vs diffusers {theirs['seconds_median']:.2f} s "
          f"per evaluation: ratio {ratio:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
