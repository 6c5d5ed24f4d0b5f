"""Scheduler fixtures: diffusers' timesteps and every step's outputs on a fixed latent.

For each case the script builds a scheduler the way StableDiffusionPipeline users do: first the
scheduler named by the config's `_class_name` (as loaded from `scheduler/scheduler_config.json`),
then, when another scheduler is wanted, `Target.from_config(loaded.config)`. It then runs
`set_timesteps(steps)` and a full denoising loop on a fixed latent, feeding fixed "model outputs"
(seeded noise, independent of the sample, which is all a scheduler's arithmetic needs), and records
the timesteps, init_noise_sigma, and per step the scaled model input, prev_sample and the
predicted x0 (LCM: `denoised`). Ancestral and LCM steps draw their noise from a seeded torch.Generator, so the Swift side
checks its PyTorch-matching random source in the same run.

Writes Tests/Fixtures/schedulers/cases.json. Run:  .venv/bin/python ops/reference/make_scheduler_fixtures.py
"""

from __future__ import annotations

import math

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
)

from common import fixture_dir, relative, seed_everything, write_json

SHAPE = [1, 4, 3, 5]  # 60 elements: not a multiple of 16, so randn's tail path is exercised too

# The scheduler config Stable Diffusion v1.4/v1.5 ship (scheduler/scheduler_config.json).
SD_CONFIG = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}

CLASSES = {
    "DDIMScheduler": DDIMScheduler,
    "PNDMScheduler": PNDMScheduler,
    "EulerDiscreteScheduler": EulerDiscreteScheduler,
    "EulerAncestralDiscreteScheduler": EulerAncestralDiscreteScheduler,
    "DPMSolverMultistepScheduler": DPMSolverMultistepScheduler,
    "LCMScheduler": LCMScheduler,
}


def case(name, target, steps, overrides=None, base=SD_CONFIG):
    config = dict(base)
    config.update(overrides or {})
    return {"name": name, "target": target, "steps": steps, "config": config}


CASES = [
    case("pndm-sd-3", "PNDMScheduler", 3),
    case("pndm-sd-10", "PNDMScheduler", 10),
    case("pndm-sd-25", "PNDMScheduler", 25),
    case("pndm-trailing-7", "PNDMScheduler", 7, {"timestep_spacing": "trailing"}),
    case("pndm-linspace-v-6", "PNDMScheduler", 6, {"timestep_spacing": "linspace", "prediction_type": "v_prediction"}),
    case("ddim-sd-4", "DDIMScheduler", 4),
    case("ddim-sd-20", "DDIMScheduler", 20),
    case("ddim-trailing-one-5", "DDIMScheduler", 5, {"timestep_spacing": "trailing", "set_alpha_to_one": True}),
    case("ddim-linspace-linear-v-6", "DDIMScheduler", 6,
         {"timestep_spacing": "linspace", "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
          "prediction_type": "v_prediction"}),
    case("ddim-clip-5", "DDIMScheduler", 5, {"clip_sample": True}),
    case("euler-sd-5", "EulerDiscreteScheduler", 5),
    case("euler-sd-20", "EulerDiscreteScheduler", 20),
    case("euler-linspace-7", "EulerDiscreteScheduler", 7, {"timestep_spacing": "linspace"}),
    case("euler-trailing-karras-8", "EulerDiscreteScheduler", 8,
         {"timestep_spacing": "trailing", "use_karras_sigmas": True}),
    case("euler-v-6", "EulerDiscreteScheduler", 6, {"prediction_type": "v_prediction"}),
    case("euler-ancestral-sd-5", "EulerAncestralDiscreteScheduler", 5),
    case("euler-ancestral-sd-12", "EulerAncestralDiscreteScheduler", 12),
    case("euler-ancestral-trailing-6", "EulerAncestralDiscreteScheduler", 6, {"timestep_spacing": "trailing"}),
    case("dpmpp-2m-sd-5", "DPMSolverMultistepScheduler", 5),
    case("dpmpp-2m-sd-20", "DPMSolverMultistepScheduler", 20),
    case("dpmpp-2m-linspace-16", "DPMSolverMultistepScheduler", 16, {"timestep_spacing": "linspace"}),
    case("dpmpp-2m-karras-10", "DPMSolverMultistepScheduler", 10, {"use_karras_sigmas": True}),
    case("dpmpp-2m-karras-trailing-18", "DPMSolverMultistepScheduler", 18,
         {"use_karras_sigmas": True, "timestep_spacing": "trailing"}),
    case("dpmpp-2m-heun-v-8", "DPMSolverMultistepScheduler", 8,
         {"solver_type": "heun", "prediction_type": "v_prediction"}),
    # A config that names the target class itself (defaults are the target's own).
    case("dpmpp-2m-own-defaults-6", "DPMSolverMultistepScheduler", 6,
         {"_class_name": "DPMSolverMultistepScheduler"}, base={
             "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}),
    case("euler-own-defaults-6", "EulerDiscreteScheduler", 6,
         {"_class_name": "EulerDiscreteScheduler"}, base={
             "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}),
    # LCM: from the SD config, and with its own keys (which only a config naming LCMScheduler keeps).
    case("lcm-sd-4", "LCMScheduler", 4),
    case("lcm-sd-8", "LCMScheduler", 8),
    case("lcm-sd-1", "LCMScheduler", 1),
    case("lcm-own-defaults-6", "LCMScheduler", 6, {"_class_name": "LCMScheduler"}, base={}),
    case("lcm-original-20-3", "LCMScheduler", 3,
         {"_class_name": "LCMScheduler", "original_inference_steps": 20, "timestep_scaling": 4.0}),
    case("lcm-original-7-v-7", "LCMScheduler", 7,
         {"_class_name": "LCMScheduler", "original_inference_steps": 7, "prediction_type": "v_prediction",
          "timestep_spacing": "trailing"}),
    case("lcm-sample-clip-5", "LCMScheduler", 5,
         {"_class_name": "LCMScheduler", "prediction_type": "sample", "clip_sample": True,
          "clip_sample_range": 0.8}),
]


def flat(tensor: torch.Tensor) -> list[float]:
    """float32 values written with the shortest digits that round-trip to the same float32."""
    return [float(repr(v)) for v in tensor.detach().to(torch.float32).flatten().numpy()]


def json_safe(value):
    """Config values for the record: non-finite floats (e.g. lambda_min_clipped) as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def build(case_spec):
    config = case_spec["config"]
    loaded = CLASSES[config["_class_name"]].from_config(config)
    if config["_class_name"] == case_spec["target"]:
        return loaded
    return CLASSES[case_spec["target"]].from_config(loaded.config)


def predicted_x0_from_epsilon(scheduler, timestep, sample, model_output):
    """x0 for PNDM (which does not return it): the DDIM formula at the current timestep."""
    alpha_prod = scheduler.alphas_cumprod[int(timestep)]
    beta_prod = 1 - alpha_prod
    if scheduler.config.prediction_type == "v_prediction":
        return alpha_prod**0.5 * sample - beta_prod**0.5 * model_output
    return (sample - beta_prod**0.5 * model_output) / alpha_prod**0.5


def run(case_spec, index):
    scheduler = build(case_spec)
    scheduler.set_timesteps(case_spec["steps"])
    data_gen = torch.Generator().manual_seed(1000 + index)
    latent = torch.randn(SHAPE, generator=data_gen)
    outputs = [torch.randn(SHAPE, generator=data_gen) for _ in scheduler.timesteps]
    noise_seed = 77 + index
    generator = torch.Generator().manual_seed(noise_seed)

    sample = latent * scheduler.init_noise_sigma
    steps = []
    for i, t in enumerate(scheduler.timesteps):
        scaled = scheduler.scale_model_input(sample, t)
        model_output = outputs[i]
        stochastic = isinstance(scheduler, (EulerAncestralDiscreteScheduler, LCMScheduler))
        kwargs = {"generator": generator} if stochastic else {}
        result = scheduler.step(model_output, t, sample, **kwargs)
        if isinstance(scheduler, LCMScheduler):
            x0 = result.denoised  # LCM's clean estimate after the boundary condition
        elif hasattr(result, "pred_original_sample") and result.pred_original_sample is not None:
            x0 = result.pred_original_sample
        elif isinstance(scheduler, DPMSolverMultistepScheduler):
            x0 = scheduler.model_outputs[-1]
        else:
            x0 = predicted_x0_from_epsilon(scheduler, t, sample, model_output)
        steps.append({
            "scaled_input": flat(scaled),
            "prev_sample": flat(result.prev_sample),
            "predicted_x0": flat(x0),
        })
        sample = result.prev_sample

    return {
        "name": case_spec["name"],
        "target": case_spec["target"],
        "steps": case_spec["steps"],
        "config": case_spec["config"],
        "resolved_config": {k: json_safe(v) for k, v in dict(scheduler.config).items() if not k.startswith("_")},
        "timesteps": [float(t) for t in scheduler.timesteps],
        "init_noise_sigma": float(scheduler.init_noise_sigma),
        "alphas_cumprod_checks": {str(i): float(scheduler.alphas_cumprod[i]) for i in (0, 1, 500, 998, 999)},
        "shape": SHAPE,
        "latent": flat(latent),
        "model_outputs": [flat(o) for o in outputs],
        "noise_seed": noise_seed,
        "step_results": steps,
    }


def main() -> None:
    seed_everything(0)
    out = fixture_dir("schedulers")
    cases = [run(spec, i) for i, spec in enumerate(CASES)]
    path = out / "cases.json"
    write_json(path, {
        "generator": f"diffusers {diffusers.__version__}, torch {torch.__version__}",
        "cases": cases,
    }, compact=True)
    print(f"wrote {relative(path)} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
