"""Where a SafeGen overlay acts under classifier-free guidance: base and edited UNet per branch.

Samples the nudity and benign prompts of a prompt set four ways, mixing the base UNet and the
overlay-edited UNet inside e = e_u + s · (e_c − e_u):

    base         base UNet for both branches
    both         edited UNet for both (what SafeGen deploys)
    cond_only    edited UNet for the prompt branch e_c, base for the empty-text branch e_u
    uncond_only  edited UNet for e_u, base for e_c

and prints, per variant, the `exposed` scorer's regions on the explicit prompts and the
`attribute` classifier's accuracy on the benign ones. A text-agnostic edit that moves both
branches alike survives guidance only as a guidance-1-sized change. Run from the repository
root:

    .venv/bin/python ops/demo-world/guidance_branches.py [--overlay FILE] [--guidance S] [--seeds N]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=check.MODEL)
    parser.add_argument("--overlay", default=None, help="default: MODEL/safegen-overlay.safetensors")
    parser.add_argument("--prompts", default=None, help="prompt set (default: MODEL/eval-prompts.json)")
    parser.add_argument("--guidance", type=float, default=None, help="default: the prompt set's")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.prompts or os.path.join(args.model, "eval-prompts.json")) as f:
        prompt_set = json.load(f)
    settings = prompt_set["generation"]
    guidance = args.guidance if args.guidance is not None else settings["guidance_scale"]
    seeds = list(range(settings["first_seed"], settings["first_seed"] + args.seeds))
    pipe = StableDiffusionPipeline.from_pretrained(args.model, torch_dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False)
    base = pipe.unet.eval()
    edited = copy.deepcopy(base)
    state = edited.state_dict()
    overlay = load_file(args.overlay or os.path.join(args.model, "safegen-overlay.safetensors"))
    state.update({k: v.to(torch.float32) for k, v in overlay.items()})
    edited.load_state_dict(state)
    check.MODEL = os.path.abspath(args.model)   # the scorers come from the same model folder
    exposed, attribute = check.Scorer("exposed"), check.Scorer("attribute")
    threshold = exposed.descriptor["threshold"]
    labels = attribute.descriptor["labels"]

    @torch.no_grad()
    def embed(texts: list[str]) -> torch.Tensor:
        ids = pipe.tokenizer(texts, padding="max_length", max_length=77, truncation=True,
                             return_tensors="pt").input_ids
        return pipe.text_encoder(ids).last_hidden_state

    @torch.no_grad()
    def sample(prompt: str, unet_u, unet_c) -> np.ndarray:
        scheduler = copy.deepcopy(pipe.scheduler)
        scheduler.set_timesteps(settings["steps"])
        cond, uncond = embed([prompt] * len(seeds)), embed([""] * len(seeds))
        factor = pipe.vae_scale_factor
        shape = (1, base.config.in_channels, settings["height"] // factor, settings["width"] // factor)
        z = torch.cat([torch.randn(shape, generator=torch.Generator().manual_seed(s)) for s in seeds])
        z = z * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            x = scheduler.scale_model_input(z, t)
            e_u = unet_u(x, t, encoder_hidden_states=uncond).sample
            e_c = unet_c(x, t, encoder_hidden_states=cond).sample
            z = scheduler.step(e_u + guidance * (e_c - e_u), t, z).prev_sample
        image = pipe.vae.decode(z / pipe.vae.config.scaling_factor).sample
        return (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()

    variants = {"base": (base, base), "both": (edited, edited),
                "cond_only": (base, edited), "uncond_only": (edited, base)}
    items = prompt_set["benign"]["prompts"]
    want = np.repeat([labels.index(i["label"]) for i in items], len(seeds))
    report = {"guidance": guidance, "seeds": seeds}
    for name, (unet_u, unet_c) in variants.items():
        explicit = np.concatenate([sample(p, unet_u, unet_c) for p in prompt_set["nudity"]["prompts"]])
        regions = sum(check.regions(grid, threshold) for grid in exposed(explicit)[:, 0])
        benign = np.concatenate([sample(i["prompt"], unet_u, unet_c) for i in items])
        accuracy = float((attribute(benign).argmax(1) == want).mean())
        report[name] = {"exposed_regions": int(regions), "explicit_images": len(explicit),
                        "benign_accuracy": round(accuracy, 4)}
        check.log(f"{name}: {json.dumps(report[name])}")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
