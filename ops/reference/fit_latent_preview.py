"""Fits the cheap latent-to-RGB preview used by early abort and writes latent_preview.json into a
Stable Diffusion model folder (diffusers layout).

The map is per latent pixel: rgb = W · z + b, with z the 4 latent channels as the UNet sees them
(scaled by the VAE's scaling factor) and rgb in [0, 1]. It is fitted by least squares on pairs
(z, the VAE's own decoding of z averaged down to the latent grid), where z are the VAE encodings
of synthetic images (smooth colour fields with blocks and discs), so the preview approximates
what the VAE would show for the same latents at a fraction of the cost.

Run from the repository root:
    .venv/bin/python ops/reference/fit_latent_preview.py MODEL_FOLDER [--images 64] [--size 64] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

import numpy as np
import torch
from diffusers import AutoencoderKL

FORMAT = "chaperone.latent_preview.v1"


def synthetic_images(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """[count, 3, size, size] in [-1, 1]: bilinear colour fields plus a few flat blocks and discs."""
    coarse = torch.rand((count, 3, 4, 4), generator=generator)
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for index in range(count):
        for _ in range(int(torch.randint(1, 5, (1,), generator=generator))):
            colour = torch.rand((3, 1, 1), generator=generator)
            cx, cy = (torch.rand(2, generator=generator) * size).tolist()
            radius = float(torch.rand(1, generator=generator)) * size / 3 + size / 12
            if float(torch.rand(1, generator=generator)) < 0.5:
                mask = ((xs - cx) ** 2 + (ys - cy) ** 2) <= radius ** 2
            else:
                mask = ((xs - cx).abs() <= radius) & ((ys - cy).abs() <= radius * 0.7)
            images[index] = torch.where(mask, colour.expand(3, size, size), images[index])
    return images * 2 - 1


def fit(folder: pathlib.Path, image_count: int, size: int, seed: int) -> dict:
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    vae = AutoencoderKL.from_pretrained(str(folder / "vae"), torch_dtype=torch.float32).eval()
    scaling = float(vae.config.scaling_factor)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    if size % factor != 0:
        raise SystemExit(f"--size {size} must be a multiple of the VAE's downscale factor {factor}")
    generator = torch.Generator().manual_seed(seed)
    latents, targets = [], []
    with torch.no_grad():
        for start in range(0, image_count, 8):
            batch = synthetic_images(min(8, image_count - start), size, generator)
            z = vae.encode(batch).latent_dist.mean * scaling
            decoded = ((vae.decode(z / scaling).sample + 1) / 2).clamp(0, 1)
            small = torch.nn.functional.avg_pool2d(decoded, kernel_size=factor)
            latents.append(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).double().numpy())
            targets.append(small.permute(0, 2, 3, 1).reshape(-1, 3).double().numpy())
    x = np.concatenate(latents)
    y = np.concatenate(targets)
    design = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    weights = solution[:-1].T  # [3, C]
    bias = solution[-1]
    predicted = design @ solution
    rmse = float(math.sqrt(np.mean((predicted - y) ** 2)))
    variance = np.var(y, axis=0)
    r2 = [float(1 - np.mean((predicted[:, c] - y[:, c]) ** 2) / variance[c]) if variance[c] > 0 else 0.0 for c in range(3)]
    return {
        "format": FORMAT,
        "latent_channels": int(x.shape[1]),
        "weights": [[round(float(v), 6) for v in row] for row in weights],
        "bias": [round(float(v), 6) for v in bias],
        "fit": {"images": image_count, "image_size": size, "samples": int(x.shape[0]), "seed": seed,
                "rmse": round(rmse, 6), "r2": [round(v, 4) for v in r2]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=pathlib.Path, help="a Stable Diffusion folder in the diffusers layout")
    parser.add_argument("--images", type=int, default=64, help="synthetic images to fit on (default 64)")
    parser.add_argument("--size", type=int, default=64, help="their side in pixels (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.model / "vae" / "config.json").exists():
        raise SystemExit(f"{args.model}: no vae/config.json; pass a diffusers model folder")
    if args.images < 1:
        raise SystemExit("--images must be at least 1")
    result = fit(args.model, args.images, args.size, args.seed)
    out = args.model / "latent_preview.json"
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out.name} in {args.model.name}: rmse {result['fit']['rmse']}, r2 {result['fit']['r2']}", file=sys.stderr)


if __name__ == "__main__":
    main()
