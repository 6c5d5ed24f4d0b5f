"""Reference runs of diffusers' Safe Latent Diffusion and SEGA pipelines on the tiny model.

Writes Tests/Fixtures/guidance/<case>.safetensors (initial latents, latents after every step,
the float image before 8-bit quantisation) and <case>.json (the exact call parameters), so the
Swift guidance terms can be compared step by step without PyTorch.

Run from the repository root:  .venv/bin/python ops/reference/make_guidance_fixtures.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file
from diffusers import (
    StableDiffusionPipeline,
    StableDiffusionPipelineSafe,
    SemanticStableDiffusionPipeline,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = ROOT / "Tests/Fixtures/tiny-sd"
OUT = ROOT / "Tests/Fixtures/guidance"

SAFETY_CONCEPT = (
    "an image showing hate, harassment, violence, suffering, humiliation, harm, suicide, sexual, "
    "nudity, bodily fluids, blood, obscene gestures, illegal activity, drug use, theft, vandalism, "
    "weapons, child abuse, brutality, cruelty"
)
# diffusers SafetyConfig presets (the SLD paper's weak/medium/strong/max).
SLD_PRESETS = {
    "weak": dict(sld_warmup_steps=15, sld_guidance_scale=20, sld_threshold=0.0, sld_momentum_scale=0.0, sld_mom_beta=0.0),
    "medium": dict(sld_warmup_steps=10, sld_guidance_scale=1000, sld_threshold=0.01, sld_momentum_scale=0.3, sld_mom_beta=0.4),
    "strong": dict(sld_warmup_steps=7, sld_guidance_scale=2000, sld_threshold=0.025, sld_momentum_scale=0.5, sld_mom_beta=0.7),
    "max": dict(sld_warmup_steps=0, sld_guidance_scale=5000, sld_threshold=1.0, sld_momentum_scale=0.5, sld_mom_beta=0.7),
}
PROMPT = "a red circle above a blue square"
NEGATIVE = "green"
STEPS = 12
SIZE = 32
SEED = 1234


def base_pipeline():
    pipe = StableDiffusionPipeline.from_pretrained(
        str(MODEL), safety_checker=None, requires_safety_checker=False, torch_dtype=torch.float32
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def initial_latents(pipe):
    factor = pipe.vae_scale_factor
    shape = (1, pipe.unet.config.in_channels, SIZE // factor, SIZE // factor)
    return torch.randn(shape, generator=torch.Generator().manual_seed(SEED), dtype=torch.float32)


def run(name, pipe, call):
    latents0 = initial_latents(pipe)
    steps, indices, timesteps = [], [], []

    def on_step(step, timestep, latents):
        # The safe pipeline reports only loop iterations past the scheduler's warm-up (PNDM
        # has one more timestep than steps); keep the loop index of every recorded latent.
        steps.append(latents.detach().clone())
        indices.append(step)
        timesteps.append(int(timestep))

    with torch.no_grad():
        image = pipe(latents=latents0.clone(), output_type="np", callback=on_step, callback_steps=1, **call).images
    tensors = {
        "initial_latents": latents0.contiguous(),
        "step_latents": torch.cat(steps).contiguous(),
        "image": torch.from_numpy(image).float().contiguous(),
    }
    save_file(tensors, str(OUT / f"{name}.safetensors"))
    record = {"prompt": PROMPT, "width": SIZE, "height": SIZE, "steps": STEPS, "seed": SEED, **call,
              "recorded_loop_indices": indices, "recorded_timesteps": timesteps,
              "scheduler_timesteps": [int(t) for t in pipe.scheduler.timesteps]}
    (OUT / f"{name}.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(name, tuple(tensors["step_latents"].shape), float(image.mean()))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    base = base_pipeline()
    components = dict(base.components)
    components.pop("image_encoder", None)

    safe = StableDiffusionPipelineSafe(
        vae=components["vae"], text_encoder=components["text_encoder"], tokenizer=components["tokenizer"],
        unet=components["unet"], scheduler=components["scheduler"], safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    safe.set_progress_bar_config(disable=True)
    assert safe.safety_concept == SAFETY_CONCEPT, "diffusers' default safety concept changed"
    for preset, params in SLD_PRESETS.items():
        call = dict(prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=7.5, **params)
        run(f"sld-{preset}", safe, call)
    # A warm-up boundary inside the run and sld_guidance_scale <= 1 (must equal plain CFG).
    run("sld-warmup4", safe, dict(prompt=PROMPT, num_inference_steps=STEPS, guidance_scale=6.0, sld_warmup_steps=4,
                                  sld_guidance_scale=300, sld_threshold=0.02, sld_momentum_scale=0.4, sld_mom_beta=0.5))
    run("sld-off", safe, dict(prompt=PROMPT, num_inference_steps=STEPS, guidance_scale=7.5, sld_guidance_scale=1.0))

    semantic = SemanticStableDiffusionPipeline(
        vae=components["vae"], text_encoder=components["text_encoder"], tokenizer=components["tokenizer"],
        unet=components["unet"], scheduler=components["scheduler"], safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    semantic.set_progress_bar_config(disable=True)
    # Two edits, one reversed, different warm-ups (exercises the partial warm-up renormalisation).
    run("sega-two-edits", semantic, dict(
        prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=7.5,
        editing_prompt=["a yellow triangle", "a blue square"], reverse_editing_direction=[False, True],
        edit_guidance_scale=[6.0, 4.0], edit_warmup_steps=[2, 5], edit_threshold=[0.9, 0.8],
        edit_momentum_scale=0.3, edit_mom_beta=0.6, edit_weights=[1.0, 0.5]))
    # One edit with a cool-down and default weights.
    run("sega-cooldown", semantic, dict(
        prompt=PROMPT, num_inference_steps=STEPS, guidance_scale=7.5,
        editing_prompt=["a green circle"], reverse_editing_direction=False, edit_guidance_scale=5.0,
        edit_warmup_steps=3, edit_cooldown_steps=9, edit_threshold=0.95, edit_momentum_scale=0.1, edit_mom_beta=0.4))
    # SEGA safety preset "strong" (safety concept, reversed) as ml-research/i2p applies it.
    run("sega-safety-strong", semantic, dict(
        prompt=PROMPT, num_inference_steps=STEPS, guidance_scale=7.5, editing_prompt=[SAFETY_CONCEPT],
        reverse_editing_direction=True, edit_guidance_scale=7, edit_warmup_steps=5, edit_momentum_scale=0.5,
        edit_threshold=0.85))
    # Fair Diffusion's recipe: remove one attribute phrase, add the other.
    run("fair-diffusion", semantic, dict(
        prompt="a photo of the face of a doctor", num_inference_steps=STEPS, guidance_scale=7.0,
        editing_prompt=["male person", "female person"], reverse_editing_direction=[True, False],
        edit_guidance_scale=4, edit_warmup_steps=5, edit_threshold=0.95, edit_momentum_scale=0.5, edit_mom_beta=0.6))
    # Plain CFG through the base pipeline, for the "all terms off" identity.
    run("cfg-plain", base, dict(prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=7.5))


if __name__ == "__main__":
    main()
