"""Runs SD-1.5's UNet on every peer, one after the other on the same threads, and prints one JSON.

Peers: `chaperone bench unet` (the release build), diffusers on PyTorch, and the same diffusers
UNet exported to ONNX (torch.onnx) on onnxruntime and on OpenVINO with an f32 and a bf16
inference precision hint. All evaluate the UNet2DConditionModel architecture of Stable Diffusion
1.5 with random weights (320/640/1280/1280 channels, cross-attention width 768) at batch 2
(classifier-free guidance), 64x64 latents (a 512x512 image), 77 conditioning tokens and per-item
timesteps, float32 inputs, the same warm-up and timed evaluations and the same thread count. Each
peer runs in its own process, so its peak RSS is its own and no two peers compete for cores.

    ops/bench/unet [--threads N] [--runs R] [--warmup W] [--peers chaperone,diffusers,...]

(`ops/bench/unet` makes the virtual environment; this file is what it runs.) Prints one JSON
object: per peer the median seconds per evaluation, GFLOPS (chaperone's FLOP count for the work),
peak RSS and `ratio_seconds_over_diffusers` (below 1: faster than diffusers); chaperone's entry
also has its per-kernel time breakdown (`op_seconds`, `op_share`). The ONNX export is cached
under var/bench-cache/.
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
CACHE = os.path.join(ROOT, "var", "bench-cache")
PEERS = ["chaperone", "diffusers", "onnxruntime", "openvino-f32", "openvino-bf16"]

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
    for pattern in (".build*/release/chaperone", ".build*/*/release/chaperone"):
        candidates += glob.glob(os.path.join(ROOT, pattern))
    candidates = [c for c in candidates if os.access(c, os.X_OK)]
    if not candidates:
        sys.exit("no release chaperone binary found: build it (swift build -c release --product chaperone) "
                 "or pass --chaperone PATH")
    return max(candidates, key=os.path.getmtime)


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"seconds_all": times, "seconds_best": ordered[0], "seconds_median": ordered[len(ordered) // 2]}


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(args: argparse.Namespace, run) -> dict:
    for _ in range(args.warmup):
        run()
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return summary(times)


def inputs(args: argparse.Namespace):
    import torch
    gen = torch.Generator().manual_seed(2)
    sample = torch.rand((args.batch, 4, args.size, args.size), generator=gen) * 2 - 1
    context = torch.rand((args.batch, 77, 768), generator=gen) * 2 - 1
    timesteps = torch.tensor([981.0 - 40 * i for i in range(args.batch)])
    return sample, timesteps, context


def build_unet():
    import torch
    from diffusers import UNet2DConditionModel
    torch.manual_seed(1)
    return UNet2DConditionModel(**SD15_UNET).eval()


def onnx_path(args: argparse.Namespace) -> str:
    return os.path.join(CACHE, f"unet-sd15-random-b{args.batch}-s{args.size}", "unet.onnx")


# Peers, each run in a child process (`--peer NAME`) that prints one JSON object.

def peer_diffusers(args: argparse.Namespace) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    unet = build_unet()
    sample, timesteps, context = inputs(args)
    with torch.no_grad():
        result = timed(args, lambda: unet(sample, timesteps, encoder_hidden_states=context))
    return {"version": {"torch": torch.__version__}, "threads": torch.get_num_threads(),
            "parameters": sum(p.numel() for p in unet.parameters()), **result}


def peer_export(args: argparse.Namespace) -> dict:
    """Exports the diffusers UNet (same seed, same architecture) to ONNX once."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, context):
            return self.unet(sample, timestep, encoder_hidden_states=context, return_dict=False)[0]

    path = onnx_path(args)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.set_num_threads(args.threads)
    model = Wrapped(build_unet())
    sample, timesteps, context = inputs(args)
    start = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(model, (sample, timesteps, context), path, input_names=["sample", "timestep", "context"],
                          output_names=["noise"], opset_version=18, dynamo=False, external_data=True)
    return {"path": os.path.relpath(path, ROOT), "export_seconds": time.perf_counter() - start}


def onnx_feeds(args: argparse.Namespace) -> dict:
    sample, timesteps, context = inputs(args)
    return {"sample": sample.numpy(), "timestep": timesteps.numpy(), "context": context.numpy()}


def peer_onnxruntime(args: argparse.Namespace) -> dict:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(onnx_path(args), options, providers=["CPUExecutionProvider"])
    feeds = onnx_feeds(args)
    result = timed(args, lambda: session.run(None, feeds))
    return {"version": {"onnxruntime": ort.__version__}, "threads": args.threads, **result}


def peer_openvino(args: argparse.Namespace, precision: str) -> dict:
    import openvino as ov
    core = ov.Core()
    compiled = core.compile_model(onnx_path(args), "CPU", {
        "INFERENCE_NUM_THREADS": args.threads, "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    request = compiled.create_infer_request()
    feeds = onnx_feeds(args)
    result = timed(args, lambda: request.infer(feeds))
    return {"version": {"openvino": ov.__version__}, "threads": args.threads,
            "inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(), **result}


def run_peer(name: str, args: argparse.Namespace) -> dict:
    if name == "diffusers":
        result = peer_diffusers(args)
    elif name == "export":
        return peer_export(args)
    elif name == "onnxruntime":
        result = peer_onnxruntime(args)
    elif name == "openvino-f32":
        result = peer_openvino(args, "f32")
    elif name == "openvino-bf16":
        result = peer_openvino(args, "bf16")
    else:
        raise SystemExit(f"unknown peer {name}")
    result["peak_resident_bytes"] = peak_rss()
    return result


def child(name: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--peer", name, "--threads", str(args.threads),
               "--runs", str(args.runs), "--warmup", str(args.warmup), "--batch", str(args.batch),
               "--size", str(args.size)]
    print(f"running: {name}", file=sys.stderr)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout)


def run_chaperone(path: str, args: argparse.Namespace) -> dict:
    command = [path, "bench", "unet", "--threads", str(args.threads), "--runs", str(args.runs),
               "--warmup", str(args.warmup), "--batch", str(args.batch), "--size", str(args.size)]
    print("running: chaperone " + " ".join(command[1:]), file=sys.stderr)
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chaperone", help="path to the chaperone binary (default: newest release build)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of " + ", ".join(PEERS))
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(run_peer(args.peer, args)))
        return

    peers = [p for p in args.peers.split(",") if p]
    results: dict[str, dict] = {}
    gflops = None
    for name in peers:
        if name == "chaperone":
            results[name] = run_chaperone(args.chaperone or find_chaperone(), args)
            gflops = results[name]["gflops_per_evaluation"]
            continue
        if name.startswith(("onnxruntime", "openvino")) and not os.path.exists(onnx_path(args)):
            export = child("export", args)
            if "error" in export:
                results[name] = {"error": "ONNX export failed: " + export["error"]}
                continue
            results["onnx_export"] = export
        results[name] = child(name, args)
    base = results.get("diffusers", {}).get("seconds_median")
    for name, result in results.items():
        median = result.get("seconds_median")
        if median is None:
            continue
        if gflops:
            result["gflops_per_second"] = gflops / median
        if base:
            result["ratio_seconds_over_diffusers"] = median / base
    print(json.dumps({
        "work": {"model": "sd1.5 UNet2DConditionModel, random weights", "batch": args.batch,
                 "latent_size": args.size, "context_length": 77, "dtype": "float32", "threads": args.threads,
                 "runs": args.runs, "warmup": args.warmup, "gflops_per_evaluation": gflops},
        "peers": results,
    }, indent=2, sort_keys=True))
    for name, result in results.items():
        if "seconds_median" in result:
            ratio = result.get("ratio_seconds_over_diffusers")
            print(f"{name}: {result['seconds_median']:.2f} s per evaluation"
                  + (f", {ratio:.2f}x diffusers" if ratio else ""), file=sys.stderr)
        elif "error" in result:
            print(f"{name}: {result['error']}", file=sys.stderr)


if __name__ == "__main__":
    main()
