"""LoRA fixtures on the tiny model: one random LoRA (UNet and text encoder) in the formats people
publish, and diffusers' outputs with it fused.

The LoRA is made with PEFT (`add_adapter(LoraConfig(...))`, seeded non-zero `lora_A`/`lora_B`)
on attention projections, the feed-forward output, the 1x1 `proj_in` convolution and the 3x3
resnet `conv1` of the UNet, and on `q_proj`/`v_proj`/`fc1` of the text encoder, with
lora_alpha ≠ rank. It is written three ways:

- `peft.safetensors`: `StableDiffusionPipeline.save_lora_weights` (keys `unet.….lora_A.weight` /
  `lora_B.weight`, `text_encoder.…`, the adapter configs in the `lora_adapter_metadata` header),
- `diffusers-old.safetensors`: the older diffusers keys (text encoder as `text_model.…`) `….lora.down.weight` / `lora.up.weight`
  with a `….alpha` scalar per layer, no metadata,
- `kohya.safetensors`: `lora_unet_…` / `lora_te_text_model_…` keys with `lora_down`/`lora_up` and `alpha`.

Diffusers loads `peft.safetensors` and `kohya.safetensors` into a fresh pipeline with
`load_lora_weights` and fuses them at scale 0.7 (`fuse_lora(lora_scale=0.7)`); the script checks the
two agree on the UNet (diffusers cannot load kohya text-encoder keys with transformers 5), then records the fused UNet's noise prediction on fixed inputs and the fused text
encoder's last hidden state on fixed token ids: `outputs.safetensors`.

Writes Tests/Fixtures/lora/. Run:  .venv/bin/python ops/reference/make_lora_fixtures.py
"""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import diffusers
import torch
from diffusers import StableDiffusionPipeline
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors import safe_open
from safetensors.torch import save_file

from common import FIXTURES, fixture_dir, relative, seed_everything

SCALE = 0.7
UNET_CONFIG = dict(r=4, lora_alpha=6, target_modules=["to_q", "to_k", "to_v", "to_out.0", "ff.net.2", "proj_in", "conv1"])
TEXT_CONFIG = dict(r=2, lora_alpha=3, target_modules=["q_proj", "v_proj", "fc1"])


def load_pipeline() -> StableDiffusionPipeline:
    pipe = StableDiffusionPipeline.from_pretrained(
        FIXTURES / "tiny-sd", safety_checker=None, requires_safety_checker=False, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def randomize_lora(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Seeded non-zero values for every lora_A / lora_B parameter (PEFT starts lora_B at zero)."""
    with torch.no_grad():
        for name, parameter in sorted(module.named_parameters()):
            if "lora_A" in name or "lora_B" in name:
                parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * 0.3)


def adapter_metadata(module: torch.nn.Module) -> dict:
    """The adapter config as diffusers serializes it (plain JSON values, no local path)."""
    config = module.peft_config["default"].to_dict()
    config["base_model_name_or_path"] = None
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in config.items()
            if isinstance(v, (int, float, str, bool, list, dict, set, type(None)))}


def write_sorted(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """A safetensors file with header keys in sorted order (the safetensors writer orders the
    `__metadata__` entries by hash, so its bytes change from run to run)."""
    header: dict = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    offset, blobs = 0, []
    for name in sorted(tensors):
        data = tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def rewrite_sorted(source: Path, target: Path) -> None:
    """`source` (as diffusers wrote it) with the same tensors and metadata, in a stable byte order."""
    with safe_open(str(source), "pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = handle.metadata() or {}
    write_sorted(target, tensors, metadata)


def layer_name(key: str) -> str:
    """`unet.x.y.lora_A.weight` → `unet.x.y`."""
    return key.rsplit(".lora_", 1)[0]


def published_path(component: str, path: str) -> str:
    """Text-encoder paths as most published files spell them (transformers 4: `text_model.…`)."""
    return f"text_model.{path}" if component == "text_encoder" and not path.startswith("text_model.") else path


def old_diffusers(state: dict[str, torch.Tensor], alphas: dict[str, float]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        component, path = layer_name(key).split(".", 1)
        layer = f"{component}.{published_path(component, path)}"
        part = "down" if ".lora_A." in key else "up"
        out[f"{layer}.lora.{part}.weight"] = value
        out[f"{layer}.alpha"] = torch.tensor(alphas[layer.split(".", 1)[0]])
    return out


def kohya(state: dict[str, torch.Tensor], alphas: dict[str, float]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        component, path = layer_name(key).split(".", 1)
        prefix = {"unet": "lora_unet_", "text_encoder": "lora_te_"}[component] + published_path(component, path).replace(".", "_")
        part = "lora_down" if ".lora_A." in key else "lora_up"
        out[f"{prefix}.{part}.weight"] = value
        out[f"{prefix}.alpha"] = torch.tensor(alphas[component])
    return out


def fused_outputs(path: Path, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    pipe = load_pipeline()
    pipe.load_lora_weights(str(path.parent), weight_name=path.name)
    pipe.fuse_lora(lora_scale=SCALE)
    with torch.no_grad():
        noise = pipe.unet(inputs["sample"], inputs["timesteps"], encoder_hidden_states=inputs["encoder_hidden_states"]).sample
        hidden = pipe.text_encoder(inputs["input_ids"].long()).last_hidden_state
    return {"noise": noise.contiguous(), "hidden_states": hidden.contiguous()}


def main() -> None:
    seed_everything(0)
    out = fixture_dir("lora")
    pipe = load_pipeline()
    generator = torch.Generator().manual_seed(31)
    pipe.unet.add_adapter(LoraConfig(init_lora_weights=False, **UNET_CONFIG))
    pipe.text_encoder.add_adapter(LoraConfig(init_lora_weights=False, **TEXT_CONFIG))
    randomize_lora(pipe.unet, generator)
    randomize_lora(pipe.text_encoder, generator)
    unet_state = {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(pipe.unet).items()}
    text_state = {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(pipe.text_encoder).items()}
    with tempfile.TemporaryDirectory() as scratch:
        StableDiffusionPipeline.save_lora_weights(
            scratch, unet_lora_layers=unet_state, text_encoder_lora_layers=text_state,
            unet_lora_adapter_metadata=adapter_metadata(pipe.unet),
            text_encoder_lora_adapter_metadata=adapter_metadata(pipe.text_encoder),
            weight_name="peft.safetensors")
        rewrite_sorted(Path(scratch) / "peft.safetensors", out / "peft.safetensors")

    prefixed = {f"unet.{k}": v for k, v in unet_state.items()} | {f"text_encoder.{k}": v for k, v in text_state.items()}
    alphas = {"unet": float(UNET_CONFIG["lora_alpha"]), "text_encoder": float(TEXT_CONFIG["lora_alpha"])}
    save_file(old_diffusers(prefixed, alphas), str(out / "diffusers-old.safetensors"))
    save_file(kohya(prefixed, alphas), str(out / "kohya.safetensors"))

    g = torch.Generator().manual_seed(7)
    cfg = pipe.unet.config
    inputs = {
        "sample": torch.randn((2, cfg.in_channels, 8, 8), generator=g),
        "encoder_hidden_states": torch.randn((2, 77, cfg.cross_attention_dim), generator=g),
        "timesteps": torch.tensor([951.0, 301.0]),
        "input_ids": torch.tensor([[49406, 320, 1125, 539, 320, 2368, 49407] + [49407] * 70]).float(),
    }
    fused = fused_outputs(out / "peft.safetensors", inputs)
    from_kohya = fused_outputs(out / "kohya.safetensors", inputs)
    # Only the UNet: diffusers 0.42.1 converts kohya text-encoder keys to names transformers 5
    # no longer accepts (it drops them with an "UNEXPECTED" load report).
    difference = float((fused["noise"] - from_kohya["noise"]).abs().max())
    assert difference < 1e-5, f"kohya and PEFT files disagree in diffusers: {difference}"
    plain = load_pipeline()
    with torch.no_grad():
        base_noise = plain.unet(inputs["sample"], inputs["timesteps"], encoder_hidden_states=inputs["encoder_hidden_states"]).sample
    change = float((fused["noise"] - base_noise).abs().max())
    assert change > 1e-2, f"the LoRA barely changes the UNet ({change})"
    write_sorted(out / "outputs.safetensors", {**inputs, **fused},
                 {"generator": f"diffusers {diffusers.__version__}, torch {torch.__version__}", "scale": str(SCALE)})
    print(f"wrote {relative(out)}: {len(unet_state)} UNet and {len(text_state)} text encoder LoRA tensors,"
          f" fused UNet output differs from the base by {change:.4f}")


if __name__ == "__main__":
    main()
