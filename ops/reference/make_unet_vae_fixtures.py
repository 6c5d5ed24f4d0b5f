"""Reference fixtures for the native UNet2DConditionModel and AutoencoderKL.

Builds small random-init diffusers models from fixed configs (seeded), saves each one in the
diffusers folder layout (config.json + diffusion_pytorch_model.safetensors) under
Tests/Fixtures/unet/<name>/ and Tests/Fixtures/vae/<name>/, and writes the inputs and
diffusers' outputs beside them in io.safetensors:

  unet: sample [2,4,h,w], timesteps [2] (different per batch item),
        encoder_hidden_states [2,77,D], noise_pred [2,4,h,w]
  vae:  latents [2,C,h,w], decoded [2,3,8h',8w'], image [2,3,H,W], encoded_mean [2,C,H/f,W/f]

Weights are random, rounded to float16 and stored as float16 (small files); the reference
outputs are computed in float32 from those rounded values. Run from the repository root with the reference venv:

    .venv/bin/python ops/reference/make_unet_vae_fixtures.py
"""

from __future__ import annotations

import json
import os
import shutil

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")

# SD-1.5's block structure at reduced width: 3 CrossAttnDown + DownBlock, cross-attention
# mid block, UpBlock + 3 CrossAttnUp, two layers per block, convolutional projections.
UNET_SD15_SMALL = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    block_out_channels=[32, 32, 64, 64],
    layers_per_block=2,
    cross_attention_dim=32,
    attention_head_dim=8,
    norm_num_groups=32,
    norm_eps=1e-5,
    flip_sin_to_cos=True,
    freq_shift=0,
    act_fn="silu",
    use_linear_projection=False,
)

# A different shape: two levels, per-block head counts, linear projections, sin-first
# timestep embedding with a frequency shift, fewer groups; fed an odd latent size so the
# up path must use the skip connection's size (forward_upsample_size).
UNET_LINEAR_2LEVEL = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "UpBlock2D"],
    block_out_channels=[32, 48],
    layers_per_block=1,
    cross_attention_dim=24,
    attention_head_dim=[2, 4],
    norm_num_groups=8,
    norm_eps=1e-5,
    flip_sin_to_cos=False,
    freq_shift=1,
    act_fn="silu",
    use_linear_projection=True,
)

# SD's VAE structure (4 levels, 2 layers per block, mid attention) at reduced width.
VAE_SD_SMALL = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[16, 32, 32, 32],
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=8,
    sample_size=32,
    scaling_factor=0.18215,
)

# Two levels, one layer per block, other group count; odd image size for the encoder's
# asymmetric downsampling padding.
VAE_TWO_LEVEL = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 2,
    up_block_types=["UpDecoderBlock2D"] * 2,
    block_out_channels=[16, 24],
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=4,
    sample_size=16,
    scaling_factor=0.5,
)


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Gives every parameter random values of a sensible scale.

    diffusers initialises some layers to zero or one (norm affines, biases); random values
    everywhere make the parity test sensitive to every tensor, including a swapped bias.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if "norm" in name and name.endswith(".weight"):
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=gen))
            elif param.dim() == 1:
                param.copy_(0.05 * torch.randn(param.shape, generator=gen))
            else:
                fan_in = param[0].numel()
                param.copy_(torch.randn(param.shape, generator=gen) / fan_in**0.5)
            # Stored as float16 to keep fixtures small: round here so the float32 reference
            # is computed from exactly the values a reader gets back.
            param.copy_(param.to(torch.float16).to(torch.float32))


def reset_dir(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


def save_io(path: str, tensors: dict[str, torch.Tensor]) -> None:
    save_file({k: v.detach().contiguous().to(torch.float32) for k, v in tensors.items()},
              os.path.join(path, "io.safetensors"))


def make_unet(name: str, config: dict, seed: int, height: int, width: int) -> None:
    torch.manual_seed(seed)
    model = UNet2DConditionModel(**config).eval()
    randomize(model, seed)
    out_dir = os.path.join(FIXTURES, "unet", name)
    reset_dir(out_dir)
    gen = torch.Generator().manual_seed(seed + 1)
    sample = torch.randn((2, config["in_channels"], height, width), generator=gen)
    timesteps = torch.tensor([981.0, 37.0])
    context = torch.randn((2, 77, config["cross_attention_dim"]), generator=gen)
    with torch.no_grad():
        noise = model(sample, timesteps, encoder_hidden_states=context).sample
        # A scalar timestep shared by the batch, as a pipeline without per-item timesteps calls it.
        noise_scalar_t = model(sample, torch.tensor(500.0), encoder_hidden_states=context).sample
    model.to(torch.float16).save_pretrained(out_dir, safe_serialization=True)
    save_io(out_dir, {
        "sample": sample,
        "timesteps": timesteps,
        "encoder_hidden_states": context,
        "noise_pred": noise,
        "noise_pred_t500": noise_scalar_t,
    })
    print(f"unet/{name}: params={sum(p.numel() for p in model.parameters())} "
          f"out_absmax={noise.abs().max().item():.4f}")


def make_vae(name: str, config: dict, seed: int, height: int, width: int) -> None:
    torch.manual_seed(seed)
    model = AutoencoderKL(**config).eval()
    randomize(model, seed)
    out_dir = os.path.join(FIXTURES, "vae", name)
    reset_dir(out_dir)
    factor = 2 ** (len(config["block_out_channels"]) - 1)
    gen = torch.Generator().manual_seed(seed + 1)
    latents = torch.randn((2, config["latent_channels"], height // factor, width // factor), generator=gen)
    image = torch.rand((2, config["in_channels"], height, width), generator=gen) * 2 - 1
    with torch.no_grad():
        decoded = model.decode(latents).sample
        encoded_mean = model.encode(image).latent_dist.mean
    model.to(torch.float16).save_pretrained(out_dir, safe_serialization=True)
    save_io(out_dir, {
        "latents": latents,
        "decoded": decoded,
        "image": image,
        "encoded_mean": encoded_mean,
    })
    print(f"vae/{name}: params={sum(p.numel() for p in model.parameters())} "
          f"decoded_absmax={decoded.abs().max().item():.4f} mean_absmax={encoded_mean.abs().max().item():.4f}")


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    make_unet("sd15-small", UNET_SD15_SMALL, seed=1234, height=16, width=24)
    make_unet("linear-2level", UNET_LINEAR_2LEVEL, seed=4321, height=9, width=13)
    make_vae("sd-small", VAE_SD_SMALL, seed=2024, height=32, width=48)
    make_vae("two-level", VAE_TWO_LEVEL, seed=4202, height=18, width=14)
    manifest = {
        "generator": "ops/reference/make_unet_vae_fixtures.py",
        "diffusers": __import__("diffusers").__version__,
        "torch": torch.__version__,
    }
    with open(os.path.join(FIXTURES, "unet", "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
