"""Trains the demo-world Stable Diffusion v1.x-architecture model on CPU.

Stages (each deterministic from fixed seeds):
  1. tokenizer: CLIP-format BPE over the world vocabulary (wordtokenizer.py);
  2. vae: a small AutoencoderKL (4 levels, downsample factor 8: 64×64×3 ↔ 8×8×8), and on
     request (--stage decoder) a refinement of its decoder alone;
  3. unet: a small UNet2DConditionModel (SD v1.x blocks) and a small CLIPTextModel trained
     jointly, epsilon prediction on SD's scaled-linear schedule, with an EMA of both.
The result is written in the diffusers layout to models/demo/ or --out (float16 weights), also at every
checkpoint, so a partial run is usable. Run from the repository root:

    .venv/bin/python ops/demo-world/train.py [--stage all|vae|unet|decoder] [--unet-steps N] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, PNDMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
import wordtokenizer  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "models", "demo")
WORK = os.path.join(ROOT, "out", "demo-world")
SEED = 7
DATA_SEED = 1
N_IMAGES = 12000
VAE_CROP = 32   # the VAE trains on random 32×32 crops (aligned to its 8-pixel grid): 4× cheaper

VAE_CONFIG = dict(
    in_channels=3, out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[16, 32, 64, 64],
    layers_per_block=1,
    latent_channels=8,
    norm_num_groups=8,
    sample_size=64,
)

UNET_CONFIG = dict(
    sample_size=8,
    in_channels=8, out_channels=8,
    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
    block_out_channels=[64, 128],
    layers_per_block=1,
    cross_attention_dim=64,
    attention_head_dim=4,
    norm_num_groups=16,
    flip_sin_to_cos=True,
    freq_shift=0,
)

SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1, trained_betas=None,
    prediction_type="epsilon",
)


def text_config(vocab_size: int, bos: int, eos: int) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=256, num_hidden_layers=3,
                num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                layer_norm_eps=1e-5, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos,
                projection_dim=64)


def set_out(folder: str) -> None:
    """Writes (and reads the VAE) in folder instead of models/demo."""
    global OUT
    OUT = os.path.abspath(folder)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N,H,W,3] → float [N,3,H,W] in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1)


def write_model_index() -> None:
    index = {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
        "feature_extractor": [None, None], "image_encoder": [None, None],
        "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    with open(os.path.join(OUT, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")
    folder = os.path.join(OUT, "scheduler")
    PNDMScheduler(**SCHEDULER_CONFIG).save_pretrained(folder)
    # As SD v1.x's own file: DDIM and others built from this config must not clip x0 to [-1, 1]
    # (PNDM has no such option, so save_pretrained leaves the key out).
    path = os.path.join(folder, "scheduler_config.json")
    with open(path) as f:
        config = json.load(f)
    config["clip_sample"] = False
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def save_half(model: torch.nn.Module, folder: str) -> None:
    """save_pretrained as float16 (atomically replaces the folder)."""
    tmp = folder + ".tmp"
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    copy.deepcopy(model).to(torch.float16).save_pretrained(tmp, safe_serialization=True)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.rename(tmp, folder)


def stage_tokenizer() -> CLIPTokenizer:
    wordtokenizer.write(os.path.join(OUT, "tokenizer"), world.vocabulary())
    tok = CLIPTokenizer.from_pretrained(os.path.join(OUT, "tokenizer"))
    for w in world.vocabulary():
        ids = tok(w).input_ids
        assert len(ids) == 3, (w, ids)
    log(f"tokenizer: {len(tok)} tokens, {len(world.vocabulary())} world words, one token each")
    return tok


def stage_vae(images: np.ndarray, steps: int) -> AutoencoderKL:
    torch.manual_seed(SEED)
    vae = AutoencoderKL(**VAE_CONFIG)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)) + 0.02)
    gen = np.random.default_rng(SEED)
    batch = 16
    t0 = time.time()
    vae.train()
    for step in range(steps):
        idx = gen.integers(0, len(images), batch)
        oy, ox = (int(v) * 8 for v in gen.integers(0, (64 - VAE_CROP) // 8 + 1, 2))
        x = to_tensor(images[idx, oy:oy + VAE_CROP, ox:ox + VAE_CROP])
        post = vae.encode(x).latent_dist
        z = post.sample(generator=torch.Generator().manual_seed(SEED * 100003 + step))
        rec = vae.decode(z).sample
        kl = post.kl().mean() / z[0].numel()
        loss = F.mse_loss(rec, x) + 0.5 * F.l1_loss(rec, x) + 1e-3 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps} loss {loss.item():.4f} mse {F.mse_loss(rec, x).item():.4f} kl {kl.item():.2f} ({time.time() - t0:.0f}s)")
    vae.eval()
    with torch.no_grad():
        x = to_tensor(images[:512])
        lat = vae.encode(x).latent_dist.mean
        std = lat.std().item()
        rec = vae.decode(lat).sample
        log(f"vae: held mse {F.mse_loss(rec, x).item():.5f}, latent std {std:.4f}")
    vae.register_to_config(scaling_factor=round(1.0 / std, 5))
    save_half(vae, os.path.join(OUT, "vae"))
    log(f"vae: trained in {time.time() - t0:.0f}s, scaling_factor {vae.config.scaling_factor}")
    return vae


def stage_decoder(images: np.ndarray, steps: int) -> None:
    """Further trains the VAE decoder only (encoder frozen, so latents and the UNet stay valid)."""
    torch.manual_seed(SEED + 3)
    vae = AutoencoderKL.from_pretrained(os.path.join(OUT, "vae"), torch_dtype=torch.float32)
    for p in vae.parameters():
        p.requires_grad_(False)
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)) + 0.02)
    gen = np.random.default_rng(SEED + 3)
    batch = 16
    t0 = time.time()
    vae.decoder.train()
    for step in range(steps):
        idx = gen.integers(0, len(images), batch)
        x = to_tensor(images[idx])
        with torch.no_grad():
            post = vae.encode(x).latent_dist
            z = post.sample(generator=torch.Generator().manual_seed(SEED * 100019 + step))
        rec = vae.decode(z).sample
        loss = F.mse_loss(rec, x) + 0.5 * F.l1_loss(rec, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"decoder step {step}/{steps} loss {loss.item():.4f} mse {F.mse_loss(rec, x).item():.4f} ({time.time() - t0:.0f}s)")
        if (step + 1) % 500 == 0 or step == steps - 1:
            vae.eval()
            save_half(vae, os.path.join(OUT, "vae"))
            vae.decoder.train()
            log(f"decoder checkpoint at step {step + 1}")
    vae.eval()
    with torch.no_grad():
        x = to_tensor(images[:512])
        rec = vae.decode(vae.encode(x).latent_dist.mean).sample
        log(f"decoder: held mse {F.mse_loss(rec, x).item():.5f}, trained in {time.time() - t0:.0f}s")


def encode_latents(vae: AutoencoderKL, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(images), 256):
            d = vae.encode(to_tensor(images[i:i + 256])).latent_dist
            means.append(d.mean)
            stds.append(d.std)
    return torch.cat(means), torch.cat(stds)


def stage_unet(vae: AutoencoderKL, tok: CLIPTokenizer, images: np.ndarray, captions: list[str],
               steps: int, checkpoint_every: int) -> None:
    t0 = time.time()
    mean, std = encode_latents(vae, images)
    scale = vae.config.scaling_factor
    log(f"unet: encoded {len(images)} latents in {time.time() - t0:.0f}s")
    ids = torch.tensor(tok(captions, padding="max_length", max_length=77, truncation=True).input_ids)

    torch.manual_seed(SEED + 1)
    cfg = text_config(len(tok), tok.bos_token_id, tok.eos_token_id)
    text = CLIPTextModel(CLIPTextConfig(**cfg))
    unet = UNet2DConditionModel(**UNET_CONFIG)
    log(f"unet: {sum(p.numel() for p in unet.parameters()) / 1e6:.2f}M params, text encoder {sum(p.numel() for p in text.parameters()) / 1e6:.2f}M")
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text).eval()
    for p in list(ema_unet.parameters()) + list(ema_text.parameters()):
        p.requires_grad_(False)
    params = list(unet.parameters()) + list(text.parameters())
    lr = 8e-4
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    warm = 200
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))))
    noise_sched = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                beta_schedule="scaled_linear")
    gen = torch.Generator().manual_seed(SEED + 2)
    batch = 32
    t0 = time.time()
    unet.train()
    text.train()
    for step in range(steps):
        idx = torch.randint(0, len(images), (batch,), generator=gen)
        z = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen)) * scale
        noise = torch.randn(z.shape, generator=gen)
        t = torch.randint(0, 1000, (batch,), generator=gen)
        x = noise_sched.add_noise(z, noise, t)
        cond = text(ids[idx]).last_hidden_state
        pred = unet(x, t, encoder_hidden_states=cond).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(list(ema_unet.parameters()) + list(ema_text.parameters()), params):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        if step % 50 == 0 or step == steps - 1:
            rate = (step + 1) / (time.time() - t0)
            log(f"unet step {step}/{steps} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e} ({time.time() - t0:.0f}s, {rate:.2f} it/s)")
        if (step + 1) % checkpoint_every == 0 or step == steps - 1:
            save_half(ema_unet, os.path.join(OUT, "unet"))
            save_half(ema_text, os.path.join(OUT, "text_encoder"))
            log(f"checkpoint at step {step + 1}")
    log(f"unet: trained {steps} steps in {time.time() - t0:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["all", "vae", "unet", "decoder"], default="all")
    parser.add_argument("--vae-steps", type=int, default=800)
    parser.add_argument("--unet-steps", type=int, default=3000)
    parser.add_argument("--decoder-steps", type=int, default=1500)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--images", type=int, default=N_IMAGES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=OUT, help="model folder (default models/demo)")
    args = parser.parse_args()
    set_out(args.out)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    start = time.time()
    tok = stage_tokenizer()
    write_model_index()
    t0 = time.time()
    images, captions, _ = world.dataset(args.images, DATA_SEED, jitter=0)
    log(f"world: {len(images)} images in {time.time() - t0:.0f}s")
    if args.stage == "decoder":
        stage_decoder(images, args.decoder_steps)
        log(f"total {time.time() - start:.0f}s")
        return
    if args.stage in ("all", "vae"):
        vae = stage_vae(images, args.vae_steps)
    else:
        vae = AutoencoderKL.from_pretrained(os.path.join(OUT, "vae"), torch_dtype=torch.float32)
    vae = AutoencoderKL.from_pretrained(os.path.join(OUT, "vae"), torch_dtype=torch.float32).eval()
    if args.stage in ("all", "unet"):
        stage_unet(vae, tok, images, captions, args.unet_steps, args.checkpoint_every)
    log(f"total {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
