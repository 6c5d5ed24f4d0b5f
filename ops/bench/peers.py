"""Runs Stable Diffusion 1.5's parts on every peer, one after the other on the same threads, and prints one JSON.

Parts (all SD-1.5 architectures with random weights, float32):
  unet      UNet2DConditionModel at batch 2 (classifier-free guidance), 64x64 latents, 77 tokens,
            per-item timesteps
  vae       AutoencoderKL decode of one 64x64 latent to a 512x512 image
  encoder   CLIP text encoder (12 layers, 768 wide) at batch 2, 77 tokens
  generate  a whole 512x512 generation: text encoder, 20 DDIM steps of the UNet at batch 2 with
            guidance 7.5, VAE decode, 8-bit image

Peers: `chaperone bench PART` (the release build); diffusers/transformers on PyTorch (for
`generate`, diffusers' StableDiffusionPipeline); the same PyTorch modules exported to ONNX
(torch.onnx) on onnxruntime and on OpenVINO with an f32 and a bf16 inference precision hint (for
`generate`, the three exported parts driven by diffusers' DDIMScheduler in a Python loop). Every
peer runs each part in a process of its own, so its peak RSS is its own and no two peers compete
for cores.

    ops/bench/peers [--parts unet,vae,encoder,generate] [--peers chaperone,diffusers,...]
                    [--threads N] [--runs R] [--warmup W] [--generate-runs R] [--generate-peers P,...]
                    [--isa native|avx2]

(`ops/bench/peers` makes the virtual environment; this file is what it runs.) Prints one JSON
object: per part and peer the median seconds, GFLOPS (chaperone's FLOP count for the work), peak
RSS and `ratio_seconds_over_diffusers` (below 1: faster than diffusers); chaperone's entries also
carry the per-kernel time breakdown (`op_seconds`, `op_share`). ONNX exports are cached under
var/bench-cache/.
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
PARTS = ["unet", "vae", "encoder", "generate"]

# `--isa avx2`: the switches each peer's libraries read to stay within AVX2 + FMA on a CPU that
# also has AVX-512, so a run here stands for a machine without it. PyTorch's own kernels
# (ATen), its oneDNN convolutions and attention, MKL's GEMM, OpenVINO's oneDNN fork and OpenBLAS
# read them; onnxruntime's MLAS has no such switch and picks its kernels from the CPU alone.
ISA_LIMITS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OPENBLAS_CORETYPE": "Haswell"},
}

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

SD_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=512,
    scaling_factor=0.18215,
)

SD1_TEXT = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
)

# Stable Diffusion 1.5's scheduler settings with DDIM's class (`chaperone bench generate` uses the same).
SD15_DDIM = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 steps_offset=1, set_alpha_to_one=False, clip_sample=False, prediction_type="epsilon",
                 timestep_spacing="leading")

GENERATE = dict(size=512, steps=20, guidance_scale=7.5)


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


def timed(runs: int, warmup: int, run) -> dict:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return summary(times)


def runs_of(part: str, args: argparse.Namespace) -> tuple[int, int]:
    return (args.generate_runs, args.generate_warmup) if part == "generate" else (args.runs, args.warmup)


# The work: the same inputs for every peer.

def token_ids(batch: int = 2, length: int = 77) -> list[list[int]]:
    """What SD feeds its text encoder: start token, a short prompt from the second sequence on
    (the first is the empty unconditional prompt), end-token padding. As `chaperone bench`."""
    ids = []
    for b in range(batch):
        sequence = [49406] + ([320 + 97 * i + b for i in range(min(12, length - 2))] if b > 0 else [])
        ids.append(sequence + [49407] * (length - len(sequence)))
    return ids


def unet_inputs():
    import torch
    gen = torch.Generator().manual_seed(2)
    sample = torch.rand((2, 4, 64, 64), generator=gen) * 2 - 1
    context = torch.rand((2, 77, 768), generator=gen) * 2 - 1
    timesteps = torch.tensor([981.0 - 40 * i for i in range(2)])
    return sample, timesteps, context


def vae_inputs():
    import torch
    gen = torch.Generator().manual_seed(5)
    return torch.rand((1, 4, 64, 64), generator=gen) * 2 - 1


def build_unet():
    import torch
    from diffusers import UNet2DConditionModel
    torch.manual_seed(1)
    return UNet2DConditionModel(**SD15_UNET).eval()


def build_vae():
    import torch
    from diffusers import AutoencoderKL
    torch.manual_seed(4)
    return AutoencoderKL(**SD_VAE).eval()


def build_text_encoder():
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel
    torch.manual_seed(7)
    return CLIPTextModel(CLIPTextConfig(**SD1_TEXT)).eval()


def onnx_path(part: str) -> str:
    return os.path.join(CACHE, f"sd15-random-{part}", f"{part}.onnx")


# Peers, each run in a child process (`--peer NAME --part PART`) that prints one JSON object.

def peer_torch(part: str, args: argparse.Namespace) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    runs, warmup = runs_of(part, args)
    with torch.no_grad():
        if part == "unet":
            model = build_unet()
            sample, timesteps, context = unet_inputs()
            result = timed(runs, warmup, lambda: model(sample, timesteps, encoder_hidden_states=context))
        elif part == "vae":
            model = build_vae()
            latents = vae_inputs()
            result = timed(runs, warmup, lambda: model.decode(latents))
        elif part == "encoder":
            model = build_text_encoder()
            ids = torch.tensor(token_ids())
            result = timed(runs, warmup, lambda: model(ids))
        else:
            model, result = diffusers_generate(runs, warmup)
    import diffusers
    return {"version": {"torch": torch.__version__, "diffusers": diffusers.__version__},
            "threads": torch.get_num_threads(), "isa": torch.backends.cpu.get_cpu_capability(), "parameters": sum(p.numel() for p in model.parameters()), **result}


class Parameters:
    """The parameter count of a pipeline's three models."""

    def __init__(self, *models):
        self.models = models

    def parameters(self):
        for model in self.models:
            yield from model.parameters()


def diffusers_generate(runs: int, warmup: int):
    """diffusers' StableDiffusionPipeline; the text encoder runs inside the timed call on the
    fixed token ids (a random-weight model has no tokenizer)."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    text_encoder, unet, vae = build_text_encoder(), build_unet(), build_vae()
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=None, unet=unet,
                                   scheduler=DDIMScheduler(**SD15_DDIM), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    ids = torch.tensor(token_ids())

    def run():
        embeddings = text_encoder(ids)[0]
        return pipe(prompt_embeds=embeddings[1:2], negative_prompt_embeds=embeddings[0:1],
                    height=GENERATE["size"], width=GENERATE["size"], num_inference_steps=GENERATE["steps"],
                    guidance_scale=GENERATE["guidance_scale"], generator=torch.Generator().manual_seed(0),
                    output_type="pil").images[0]

    return Parameters(text_encoder, unet, vae), timed(runs, warmup, run)


def peer_export(part: str, args: argparse.Namespace) -> dict:
    """Exports the PyTorch module of `part` (same seed, same architecture) to ONNX once."""
    import torch

    class UNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.unet = build_unet()

        def forward(self, sample, timestep, context):
            return self.unet(sample, timestep, encoder_hidden_states=context, return_dict=False)[0]

    class VAEDecoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vae = build_vae()

        def forward(self, latents):
            return self.vae.decode(latents, return_dict=False)[0]

    class TextEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = build_text_encoder()

        def forward(self, ids):
            return self.model(ids, return_dict=False)[0]

    torch.set_num_threads(args.threads)
    if part == "unet":
        model, inputs, names, dynamic = UNet(), unet_inputs(), ["sample", "timestep", "context"], None
    elif part == "vae":
        model, inputs, names, dynamic = VAEDecoder(), (vae_inputs(),), ["latents"], None
    else:
        model, inputs, names, dynamic = TextEncoder(), (torch.tensor(token_ids()),), ["ids"], None
    path = onnx_path(part)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    start = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(model, inputs, path, input_names=names, output_names=["output"], opset_version=18,
                          dynamo=False, external_data=True, dynamic_axes=dynamic)
    return {"path": os.path.relpath(path, ROOT), "export_seconds": time.perf_counter() - start}


def onnx_feeds(part: str) -> dict:
    import numpy as np
    if part == "unet":
        sample, timesteps, context = unet_inputs()
        return {"sample": sample.numpy(), "timestep": timesteps.numpy(), "context": context.numpy()}
    if part == "vae":
        return {"latents": vae_inputs().numpy()}
    return {"ids": np.array(token_ids(), dtype=np.int64)}


class Runtime:
    """One exported part on onnxruntime or OpenVINO: `run(feeds)` returns the first output."""

    def __init__(self, peer: str, part: str, threads: int):
        self.peer = peer
        if peer == "onnxruntime":
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self.session = ort.InferenceSession(onnx_path(part), options, providers=["CPUExecutionProvider"])
            self.version = {"onnxruntime": ort.__version__}
            self.precision = "f32"
            self.isa = "not limited (MLAS picks kernels from the CPU)"
        else:
            import openvino as ov
            hint = peer.split("-")[1]
            compiled = ov.Core().compile_model(onnx_path(part), "CPU", {
                "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint,
                "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
            self.request = compiled.create_infer_request()
            self.version = {"openvino": ov.__version__}
            self.precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            # The kernels the CPU plugin chose, as its runtime graph names them (brgconv_avx512_f32, ...).
            kernels = {op.get_rt_info()["primitiveType"].astype(str) for op in compiled.get_runtime_model().get_ops()
                       if "primitiveType" in op.get_rt_info()}
            self.isa = next((isa for isa in ("avx512", "avx2") if any(isa in kernel for kernel in kernels)), "other")

    def run(self, feeds: dict):
        if self.peer == "onnxruntime":
            return self.session.run(None, feeds)[0]
        return self.request.infer(feeds)[0]


def peer_runtime(peer: str, part: str, args: argparse.Namespace) -> dict:
    runs, warmup = runs_of(part, args)
    if part == "generate":
        parts = {name: Runtime(peer, name, args.threads) for name in ("encoder", "unet", "vae")}
        result = timed(runs, warmup, lambda: runtime_generate(parts))
        first = parts["unet"]
    else:
        first = Runtime(peer, part, args.threads)
        feeds = onnx_feeds(part)
        result = timed(runs, warmup, lambda: first.run(feeds))
    return {"version": first.version, "threads": args.threads, "inference_precision": first.precision, "isa": first.isa,
            **result}


def runtime_generate(parts: dict):
    """The pipeline's loop around exported parts: encode, 20 DDIM steps at batch 2 with
    classifier-free guidance, decode, 8-bit image; the scheduler is diffusers' own."""
    import numpy as np
    import torch
    from diffusers import DDIMScheduler
    scheduler = DDIMScheduler(**SD15_DDIM)
    scheduler.set_timesteps(GENERATE["steps"])
    context = parts["encoder"].run({"ids": np.array(token_ids(), dtype=np.int64)})
    size = GENERATE["size"] // 8
    latents = torch.randn((1, 4, size, size), generator=torch.Generator().manual_seed(0)) * scheduler.init_noise_sigma
    scale = GENERATE["guidance_scale"]
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
        noise = torch.from_numpy(parts["unet"].run({
            "sample": model_input.numpy(), "timestep": np.array([float(t)] * 2, dtype=np.float32),
            "context": context}))
        unconditional, conditional = noise.chunk(2)
        latents = scheduler.step(unconditional + scale * (conditional - unconditional), t, latents).prev_sample
    image = parts["vae"].run({"latents": (latents / SD_VAE["scaling_factor"]).numpy()})
    return ((np.clip(image / 2 + 0.5, 0, 1) * 255).round().astype(np.uint8))


def run_peer(name: str, part: str, args: argparse.Namespace) -> dict:
    if name == "export":
        return peer_export(part, args)
    if name == "diffusers":
        result = peer_torch(part, args)
    elif name in ("onnxruntime", "openvino-f32", "openvino-bf16"):
        result = peer_runtime(name, part, args)
    else:
        raise SystemExit(f"unknown peer {name}")
    result["peak_resident_bytes"] = peak_rss()
    return result


def child(name: str, part: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--peer", name, "--part-of-peer", part,
               "--threads", str(args.threads), "--runs", str(args.runs), "--warmup", str(args.warmup),
               "--generate-runs", str(args.generate_runs), "--generate-warmup", str(args.generate_warmup)]
    print(f"running: {part} on {name}", file=sys.stderr)
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ISA_LIMITS[args.isa]})
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout)


def run_chaperone(path: str, part: str, args: argparse.Namespace) -> dict:
    runs, warmup = runs_of(part, args)
    command = [path, "bench", part, "--threads", str(args.threads), "--runs", str(runs), "--warmup", str(warmup)]
    print(f"running: {part} on chaperone (" + " ".join(command[1:]) + ")", file=sys.stderr)
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True,
                                     env={**os.environ, **ISA_LIMITS[args.isa]}).stdout)


def exported(part: str, args: argparse.Namespace, results: dict) -> str | None:
    """Makes sure the ONNX files `part` needs exist; returns an error text when an export failed."""
    for needed in (("encoder", "unet", "vae") if part == "generate" else (part,)):
        if os.path.exists(onnx_path(needed)):
            continue
        export = child("export", needed, args)
        if "error" in export:
            return f"ONNX export of {needed} failed: " + export["error"]
        results.setdefault("onnx_exports", {})[needed] = export
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chaperone", help="path to the chaperone binary (default: newest release build)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of unet, vae and encoder")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before them")
    parser.add_argument("--generate-runs", type=int, default=1, help="timed whole generations")
    parser.add_argument("--generate-warmup", type=int, default=0, help="untimed generations before them")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of " + ", ".join(PARTS))
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of " + ", ".join(PEERS))
    parser.add_argument("--generate-peers", help="peers for the generate part (default: --peers); whole generations take minutes each")
    parser.add_argument("--isa", choices=sorted(ISA_LIMITS), default="native",
                        help="avx2: keep every peer that has a switch for it within AVX2 + FMA (a machine without AVX-512)")
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--part-of-peer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(run_peer(args.peer, args.part_of_peer, args)))
        return

    parts = [p for p in args.parts.split(",") if p]
    peers = [p for p in args.peers.split(",") if p]
    for name in parts:
        if name not in PARTS:
            sys.exit(f"unknown part {name}: choose from {', '.join(PARTS)}")
    for name in peers:
        if name not in PEERS:
            sys.exit(f"unknown peer {name}: choose from {', '.join(PEERS)}")
    generate_peers = [p for p in (args.generate_peers or args.peers).split(",") if p]
    for name in generate_peers:
        if name not in PEERS:
            sys.exit(f"unknown peer {name}: choose from {', '.join(PEERS)}")
    chaperone = (args.chaperone or find_chaperone()) if "chaperone" in peers + generate_peers else None
    report: dict[str, dict] = {}
    for part in parts:
        results: dict[str, dict] = {}
        gflops = None
        for name in (generate_peers if part == "generate" else peers):
            if name == "chaperone":
                results[name] = run_chaperone(chaperone, part, args)
                gflops = results[name]["gflops_per_evaluation"]
                continue
            if name != "diffusers":
                problem = exported(part, args, results)
                if problem:
                    results[name] = {"error": problem}
                    continue
            results[name] = child(name, part, args)
        base = results.get("diffusers", {}).get("seconds_median")
        for name, result in results.items():
            median = result.get("seconds_median")
            if median is None:
                continue
            if gflops:
                result["gflops_per_second"] = gflops / median
            if base:
                result["ratio_seconds_over_diffusers"] = median / base
        runs, warmup = runs_of(part, args)
        report[part] = {"work": {"part": part, "dtype": "float32", "threads": args.threads, "runs": runs,
                                 "warmup": warmup, "gflops_per_evaluation": gflops,
                                 **(GENERATE if part == "generate" else {})},
                        "peers": results}
        for name, result in results.items():
            if "seconds_median" in result:
                ratio = result.get("ratio_seconds_over_diffusers")
                print(f"{part} on {name}: {result['seconds_median']:.3f} s"
                      + (f", {ratio:.2f}x diffusers" if ratio else "")
                      + (f", peak RSS {result['peak_resident_bytes'] / 1e9:.2f} GB" if result.get("peak_resident_bytes") else ""),
                      file=sys.stderr)
            elif "error" in result:
                print(f"{part} on {name}: {result['error']}", file=sys.stderr)
    print(json.dumps({"threads": args.threads, "isa": args.isa, "isa_environment": ISA_LIMITS[args.isa], "parts": report}, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
