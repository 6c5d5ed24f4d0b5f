"""Reference fixtures for the native AutoencoderTiny (TAESD) decoder.

Builds small random-init diffusers `AutoencoderTiny` models from fixed configs (seeded), saves
each one in the diffusers folder layout (config.json + diffusion_pytorch_model.safetensors)
under Tests/Fixtures/vae-tiny/<name>/, and writes fixed seeded latents and diffusers'
`decode` outputs beside them in io.safetensors:

  small:       SD's layout at width 8 (4 stages of 3, 3, 3, 1 blocks, ×2 nearest upsampling)
               latents_a [1,4,8,8] → decoded_a [1,3,64,64],
               latents_b [2,4,6,10] → decoded_b [2,3,48,80]
  three-stage: 3 stages of 2, 1, 1 blocks at width 12, ×3 upsampling
               latents_a [1,4,5,7] → decoded_a [1,3,45,63]

The latents have a spread of about 2.5 so the decoder's tanh clamp (tanh(x/3)·3) matters.
Weights are random, rounded to float16 and stored as float16 (small files); the reference
outputs are computed in float32 from those rounded values. The encoder's weights are saved too
(a real TAESD folder has them) although only the decoder is compared. Run from the repository
root with the reference venv:

    .venv/bin/python ops/reference/make_taesd_fixtures.py
"""

from __future__ import annotations

import os
import shutil

import torch
from diffusers import AutoencoderTiny
from safetensors.torch import save_file

from common import FIXTURES, seed_everything

SMALL = dict(
    encoder_block_out_channels=(8, 8, 8, 8),
    decoder_block_out_channels=(8, 8, 8, 8),
    num_encoder_blocks=(1, 3, 3, 3),
    num_decoder_blocks=(3, 3, 3, 1),
    latent_channels=4,
    upsampling_scaling_factor=2,
)

THREE_STAGE = dict(
    encoder_block_out_channels=(8, 8, 8),
    decoder_block_out_channels=(12, 12, 12),
    num_encoder_blocks=(1, 1, 1),
    num_decoder_blocks=(2, 1, 1),
    latent_channels=4,
    upsampling_scaling_factor=3,
)


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Random values of a sensible scale for every parameter (biases included), rounded to
    float16 so the float32 reference uses exactly the values a reader gets back."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            if param.dim() == 1:
                param.copy_(0.05 * torch.randn(param.shape, generator=gen))
            else:
                fan_in = param[0].numel()
                param.copy_(1.4 * torch.randn(param.shape, generator=gen) / fan_in**0.5)
            param.copy_(param.to(torch.float16).to(torch.float32))


def make(name: str, config: dict, seed: int, latent_shapes: dict[str, tuple[int, ...]]) -> None:
    seed_everything(seed)
    model = AutoencoderTiny(**config).eval()
    randomize(model, seed)
    out_dir = os.path.join(str(FIXTURES), "vae-tiny", name)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    gen = torch.Generator().manual_seed(seed + 1)
    io: dict[str, torch.Tensor] = {}
    for suffix, shape in latent_shapes.items():
        latents = 2.5 * torch.randn(shape, generator=gen)
        with torch.no_grad():
            decoded = model.decode(latents).sample
        io[f"latents_{suffix}"] = latents
        io[f"decoded_{suffix}"] = decoded
        print(f"vae-tiny/{name} {suffix}: {tuple(latents.shape)} -> {tuple(decoded.shape)} "
              f"absmax={decoded.abs().max().item():.4f} std={decoded.std().item():.4f}")
    model.to(torch.float16).save_pretrained(out_dir, safe_serialization=True)
    save_file({k: v.contiguous().to(torch.float32) for k, v in io.items()},
              os.path.join(out_dir, "io.safetensors"))


def main() -> None:
    make("small", SMALL, seed=5150, latent_shapes={"a": (1, 4, 8, 8), "b": (2, 4, 6, 10)})
    make("three-stage", THREE_STAGE, seed=5151, latent_shapes={"a": (1, 4, 5, 7)})


if __name__ == "__main__":
    main()
