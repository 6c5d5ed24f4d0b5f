"""Pipeline and PNG fixtures.

1. PNG files written by Pillow and OpenCV (libpng) with their raw pixels, plus files the
   decoder must reject (palette, 16-bit): Tests/Fixtures/pipeline/png/.
2. Full diffusers StableDiffusionPipeline runs on the tiny random-init model in
   Tests/Fixtures/tiny-sd (made by make_tiny_sd.py): prompt + negative prompt, classifier-free
   guidance on, several schedulers, from given latents or from a seed. For each run the text
   embeddings, the latents after every step and the final 8-bit image are recorded:
   Tests/Fixtures/pipeline/runs.json and <name>.rgb (raw RGB bytes, row-major).

Run:  .venv/bin/python ops/reference/make_pipeline_fixtures.py
"""

from __future__ import annotations

import cv2
import diffusers
import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    LCMScheduler,
    PNDMScheduler,
    StableDiffusionPipeline,
)
from PIL import Image

from common import FIXTURES, fixture_dir, relative, seed_everything, write_json

SCHEDULERS = {
    "PNDMScheduler": PNDMScheduler,
    "DDIMScheduler": DDIMScheduler,
    "EulerDiscreteScheduler": EulerDiscreteScheduler,
    "EulerAncestralDiscreteScheduler": EulerAncestralDiscreteScheduler,
    "DPMSolverMultistepScheduler": DPMSolverMultistepScheduler,
    "LCMScheduler": LCMScheduler,
}


def write_png_fixtures() -> None:
    out = fixture_dir("pipeline/png")
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:23, 0:37]
    gradient = np.stack([x * 7, y * 11, (x + y) * 3], axis=-1).astype(np.int64)
    noise = rng.integers(0, 40, size=gradient.shape)
    rgb = ((gradient + noise) % 256).astype(np.uint8)
    rgba = np.concatenate([rgb, ((x * y) % 256).astype(np.uint8)[..., None]], axis=-1)
    gray = rgb[..., 1].copy()

    files = {}
    Image.fromarray(rgb, "RGB").save(out / "pillow-rgb.png")
    files["pillow-rgb.png"] = rgb
    Image.fromarray(rgba, "RGBA").save(out / "pillow-rgba.png")
    files["pillow-rgba.png"] = rgba
    Image.fromarray(gray, "L").save(out / "pillow-gray.png")
    files["pillow-gray.png"] = gray
    # OpenCV stores BGR; libpng picks filters adaptively per row.
    cv2.imwrite(str(out / "opencv-rgb.png"), rgb[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    files["opencv-rgb.png"] = rgb
    for name, pixels in files.items():
        (out / (name.removesuffix(".png") + ".raw")).write_bytes(np.ascontiguousarray(pixels).tobytes())

    # A palette (Pillow's web palette, dithered) and a 16-bit gray file (its high bytes are `gray`).
    Image.fromarray(rgb, "RGB").convert("P").save(out / "pillow-palette.png")
    with Image.open(out / "pillow-palette.png") as palette:
        (out / "pillow-palette.raw").write_bytes(np.asarray(palette.convert("RGB")).tobytes())
    cv2.imwrite(str(out / "opencv-gray16.png"), (gray.astype(np.uint16) * 257))
    print(f"wrote PNG fixtures in {relative(out)}")


RUNS = [
    # name, scheduler, steps, guidance, rescale, seed (None: given latents), prompt, negative
    ("pndm-given-latents", "PNDMScheduler", 4, 7.5, 0.0, None, "a watercolor fox in the snow", "blurry"),
    ("euler-ancestral-seeded", "EulerAncestralDiscreteScheduler", 4, 6.0, 0.0, 1234, "a red bicycle", ""),
    ("dpmpp-seeded-rescale", "DPMSolverMultistepScheduler", 5, 5.0, 0.7, 42, "portrait photo, studio light", "cartoon"),
    ("ddim-given-latents", "DDIMScheduler", 3, 3.0, 0.0, None, "mountains at dawn", "low quality"),
    ("lcm-seeded", "LCMScheduler", 4, 1.5, 0.0, 2024, "a lighthouse on a cliff", "fog"),
]


def write_pipeline_fixtures() -> None:
    out = fixture_dir("pipeline")
    model = FIXTURES / "tiny-sd"
    base = StableDiffusionPipeline.from_pretrained(
        model, safety_checker=None, requires_safety_checker=False, torch_dtype=torch.float32)
    base.set_progress_bar_config(disable=True)
    size = base.unet.config.sample_size * base.vae_scale_factor
    runs = []
    for name, scheduler_name, steps, guidance, rescale, seed, prompt, negative in RUNS:
        pipe = base
        pipe.scheduler = SCHEDULERS[scheduler_name].from_config(base.scheduler.config)
        shape = (1, pipe.unet.config.in_channels, size // pipe.vae_scale_factor, size // pipe.vae_scale_factor)
        if seed is None:
            latents = torch.randn(shape, generator=torch.Generator().manual_seed(99))
            generator = None
        else:
            latents = None
            generator = torch.Generator().manual_seed(seed)
        recorded = []

        def on_step_end(_pipe, _index, _timestep, kwargs):
            recorded.append([float(v) for v in kwargs["latents"].flatten()])
            return kwargs

        prompt_embeds, negative_embeds = pipe.encode_prompt(prompt, "cpu", 1, True, negative)
        image = pipe(
            prompt,
            negative_prompt=negative,
            height=size,
            width=size,
            num_inference_steps=steps,
            guidance_scale=guidance,
            guidance_rescale=rescale,
            latents=latents,
            generator=generator,
            output_type="pil",
            callback_on_step_end=on_step_end,
        ).images[0]
        pixels = np.array(image, dtype=np.uint8)
        (out / f"{name}.rgb").write_bytes(pixels.tobytes())
        runs.append({
            "name": name,
            "scheduler": scheduler_name,
            "steps": steps,
            "guidance_scale": guidance,
            "guidance_rescale": rescale,
            "seed": seed,
            "prompt": prompt,
            "negative_prompt": negative,
            "width": size,
            "height": size,
            "latents": None if latents is None else [float(v) for v in latents.flatten()],
            "timesteps": [float(t) for t in pipe.scheduler.timesteps],
            "prompt_embeds_head": [float(v) for v in prompt_embeds.detach().flatten()[:64]],
            "negative_embeds_head": [float(v) for v in negative_embeds.detach().flatten()[:64]],
            "step_latents": recorded,
            "image_file": f"{name}.rgb",
        })
    write_json(out / "runs.json", {
        "generator": f"diffusers {diffusers.__version__}, torch {torch.__version__}",
        "model": "Tests/Fixtures/tiny-sd",
        "runs": runs,
    }, compact=True)
    print(f"wrote {len(runs)} pipeline runs in {relative(out)}")


def main() -> None:
    seed_everything(0)
    write_png_fixtures()
    write_pipeline_fixtures()


if __name__ == "__main__":
    main()
