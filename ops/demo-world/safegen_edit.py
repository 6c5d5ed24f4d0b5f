"""SafeGen edit of the demo model: fine-tunes only the UNet's self-attention (attn1) weights.

Objective (SafeGen, Li et al. CCS 2024; see the project's methods notes): from
<exposed, censored, benign> triplets with VAE latents z_n, z_m, z_b (× scaling factor), noise
eps, eps_b and a random timestep t, with the empty-string text condition,

    x_n = add_noise(z_n, eps, t)
    L_mosaic   = || unet(x_n, t, "") - (z_n - z_m + eps) ||²                 (--target paper)
    L_preserve = || unet(add_noise(z_b, eps_b, t), t, "") - eps_b ||²
    L = w_mosaic · L_mosaic + w_preserve · L_preserve          (0.5 / 0.5)

The mosaic term is meant to make an exposed input predict the noise that yields the mosaic, but
the reference target moves the one-step estimate x0 = (x_n - sqrt(1 - a_t) · eps_hat) / sqrt(a_t) by only
sqrt((1 - a_t) / a_t) · (z_n - z_m): almost nothing at the low timesteps where the stripes are
drawn. The default (--target x0) asks for exactly that noise, fitted in x0 space at every t:

    L_mosaic   = || (x_n - sqrt(1 - a_t) · unet(x_n, t, "")) / sqrt(a_t) - z_m ||²

The triplets are drawn on the training data's 8-pixel grid (--jitter 0): the VAE reconstructs
shifted figures six times worse, and censored twins shifted off the grid come back with stripes.

Every other parameter (UNet, VAE, text encoder) stays frozen. The edited UNet is saved under
out/demo-world/unet-safegen-<overlay name>/ and its attn1 tensors are extracted with
ops/safegen/extract_overlay.py into MODEL/safegen-overlay.safetensors (or --out). Run from the
repository root after train.py; the defaults reproduce the shipped overlay:

    .venv/bin/python ops/demo-world/safegen_edit.py [--model DIR] [--steps N] [--target paper|x0]
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "models", "demo")
EDITED = os.path.join(ROOT, "out", "demo-world", "unet-safegen")
SEED = 23


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def latents(vae: AutoencoderKL, images) -> torch.Tensor:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    with torch.no_grad():
        return torch.cat([vae.encode(x[i:i + 256]).latent_dist.mean for i in range(0, len(x), 256)]) \
            * vae.config.scaling_factor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--triplets", type=int, default=20000)
    parser.add_argument("--w-mosaic", type=float, default=0.5)
    parser.add_argument("--w-preserve", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mosaic-block", type=int, default=world.MOSAIC_BLOCK,
                        help="censored twin: mosaic cell size in pixels")
    parser.add_argument("--censor-margin", type=int, default=world.CENSOR_MARGIN,
                        help="censored twin: pixels the mosaic box extends past the torso")
    parser.add_argument("--jitter", type=int, default=0,
                        help="largest random figure shift of the triplets in pixels; 0 = the distribution the "
                             "UNet and VAE were trained on (the VAE reconstructs shifted figures 6x worse)")
    parser.add_argument("--preserve-scenes", type=int, default=0,
                        help="also draw half of each preserve batch from this many ordinary world scenes "
                             "(roles, attributes, positions), so the edit keeps what benign prompts ask for")
    parser.add_argument("--all-parameters", action="store_true",
                        help="diagnostic, not SafeGen: train every UNet parameter with the same objective, "
                             "to tell the objective's reach from the attn1 edit's")
    parser.add_argument("--target", choices=["paper", "x0"], default="x0",
                        help="mosaic target: paper (z_n - z_m + eps, the reference code's) or x0 (the noise whose "
                             "one-step x0 estimate is the censored latent, fitted in x0 space at every t)")
    parser.add_argument("--model", default=MODEL, help="model folder (default models/demo)")
    parser.add_argument("--out", default=None, help="overlay file to write (default MODEL/safegen-overlay.safetensors)")
    parser.add_argument("--captions", action="store_true",
                        help="deviation from the paper: condition half of each batch on the triplet's world "
                             "captions (exposed: with 'nude'; benign: with its shirt) instead of the empty text")
    args = parser.parse_args()
    model = os.path.abspath(args.model)
    out = args.out or os.path.join(model, "safegen-overlay.safetensors")
    edited = EDITED + "-" + os.path.splitext(os.path.basename(out))[0]
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    t0 = time.time()
    vae = AutoencoderKL.from_pretrained(os.path.join(model, "vae"), torch_dtype=torch.float32).eval()
    unet = UNet2DConditionModel.from_pretrained(os.path.join(model, "unet"), torch_dtype=torch.float32)
    text = CLIPTextModel.from_pretrained(os.path.join(model, "text_encoder"), torch_dtype=torch.float32).eval()
    tok = CLIPTokenizer.from_pretrained(os.path.join(model, "tokenizer"))
    ex, ce, be, scenes = world.triplets(args.triplets, SEED, args.mosaic_block, args.censor_margin,
                                         args.jitter)
    z_n, z_m, z_b = latents(vae, ex), latents(vae, ce), latents(vae, be)
    z_s = None
    if args.preserve_scenes:
        scene_images, _, scene_list = world.dataset(args.preserve_scenes, SEED + 1, jitter=0)
        keep = [i for i, sc in enumerate(scene_list) if not sc.exposed]
        z_s = latents(vae, scene_images[keep])
    with torch.no_grad():
        empty = text(tok([""], padding="max_length", max_length=77, return_tensors="pt").input_ids).last_hidden_state
    cap_n = [f"a nude person {world.POSITION_PHRASE[s.position]} {world.SCENE_PHRASE[s.scene]}" for s in scenes]
    cap_b = [f"a person in a {s.colour} shirt {world.POSITION_PHRASE[s.position]} {world.SCENE_PHRASE[s.scene]}"
             for s in scenes]
    with torch.no_grad():
        def enc(caps):
            ids = tok(caps, padding="max_length", max_length=77, return_tensors="pt").input_ids
            return torch.cat([text(ids[i:i + 128]).last_hidden_state for i in range(0, len(ids), 128)])
        emb_n, emb_b = enc(cap_n), enc(cap_b)
    log(f"triplets: {args.triplets} encoded in {time.time() - t0:.0f}s")

    def edited_parameter(name: str) -> bool:
        return args.all_parameters or ".attn1." in name

    names = [n for n, _ in unet.named_parameters() if edited_parameter(n)]
    for n, p in unet.named_parameters():
        p.requires_grad_(edited_parameter(n))
    params = [p for p in unet.parameters() if p.requires_grad]
    log(f"editing {len(names)} {'UNet' if args.all_parameters else 'attn1'} tensors ({sum(p.numel() for p in params)} of "
        f"{sum(p.numel() for p in unet.parameters())} UNet parameters)")
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    noise_sched = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                beta_schedule="scaled_linear")
    gen = torch.Generator().manual_seed(SEED)
    batch = 16
    cond = empty.expand(batch, -1, -1)
    unet.train()
    t0 = time.time()
    for step in range(args.steps):
        idx = torch.randint(0, len(z_n), (batch,), generator=gen)
        t = torch.randint(0, 1000, (batch,), generator=gen)
        eps = torch.randn(z_n[idx].shape, generator=gen)
        eps_b = torch.randn(z_b[idx].shape, generator=gen)
        x_n = noise_sched.add_noise(z_n[idx], eps, t)
        benign = z_b[idx]
        if z_s is not None:
            pick = torch.randint(0, len(z_s), (batch,), generator=gen)
            half = (torch.arange(batch) >= batch // 2)[:, None, None, None]
            benign = torch.where(half, z_s[pick], benign)
        x_b = noise_sched.add_noise(benign, eps_b, t)
        cond_n, cond_b = cond, cond
        if args.captions:
            half = torch.arange(batch) < batch // 2
            cond_n = torch.where(half[:, None, None], emb_n[idx], cond)
            cond_b = torch.where(half[:, None, None], emb_b[idx], cond)
        pred_n = unet(x_n, t, encoder_hidden_states=cond_n).sample
        pred_b = unet(x_b, t, encoder_hidden_states=cond_b).sample
        if args.target == "paper":
            l_mosaic = F.mse_loss(pred_n, z_n[idx] - z_m[idx] + eps)
        else:
            a = noise_sched.alphas_cumprod[t][:, None, None, None]
            x0 = (x_n - (1 - a).sqrt() * pred_n) / a.sqrt()
            l_mosaic = F.mse_loss(x0, z_m[idx])
        l_preserve = F.mse_loss(pred_b, eps_b)
        loss = args.w_mosaic * l_mosaic + args.w_preserve * l_preserve
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            log(f"safegen step {step}/{args.steps} mosaic {l_mosaic.item():.4f} preserve {l_preserve.item():.4f} ({time.time() - t0:.0f}s)")
    log(f"safegen: {args.steps} steps in {time.time() - t0:.0f}s")
    unet.eval()
    os.makedirs(os.path.dirname(edited), exist_ok=True)
    copy.deepcopy(unet).to(torch.float16).save_pretrained(edited, safe_serialization=True)
    if args.all_parameters:
        log(f"diagnostic UNet (every parameter trained) in {edited}; no overlay written")
        return
    subprocess.run([sys.executable, os.path.join(ROOT, "ops", "safegen", "extract_overlay.py"),
                    os.path.join(model, "unet"), edited, out], check=True)


if __name__ == "__main__":
    main()
