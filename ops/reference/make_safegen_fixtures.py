"""SafeGen overlay fixtures on the tiny model: an edited UNet, its overlay, bad overlays, and
diffusers' noise prediction of the edited UNet.

Run from the repository root:  .venv/bin/python ops/reference/make_safegen_fixtures.py
"""
import json
import pathlib
import subprocess
import sys

import torch
from safetensors.torch import save_file
from diffusers import UNet2DConditionModel

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASE = ROOT / "Tests/Fixtures/tiny-sd/unet"
OUT = ROOT / "Tests/Fixtures/safegen"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    unet = UNet2DConditionModel.from_pretrained(str(BASE), torch_dtype=torch.float32)
    generator = torch.Generator().manual_seed(2024)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if ".attn1." in name:
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    edited_dir = OUT / "edited-unet"
    unet.save_pretrained(str(edited_dir), safe_serialization=True)
    config_path = edited_dir / "config.json"
    config = json.loads(config_path.read_text())
    config["_name_or_path"] = "tiny-sd/unet"  # no machine paths in committed fixtures
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    overlay = OUT / "overlay.safetensors"
    subprocess.run([sys.executable, str(ROOT / "ops/safegen/extract_overlay.py"), str(BASE), str(edited_dir), str(overlay)], check=True)

    # Inputs and the edited UNet's output (batch of 2, different timesteps).
    g = torch.Generator().manual_seed(7)
    cfg = unet.config
    sample = torch.randn((2, cfg.in_channels, 4, 4), generator=g)
    states = torch.randn((2, 77, cfg.cross_attention_dim), generator=g)
    timesteps = torch.tensor([951, 301])
    with torch.no_grad():
        noise = unet(sample, timesteps, encoder_hidden_states=states).sample
    save_file({"sample": sample.contiguous(), "encoder_hidden_states": states.contiguous(),
               "timesteps": timesteps.float(), "noise": noise.contiguous()}, str(OUT / "edited-unet-io.safetensors"))

    # Bad overlays: a cross-attention tensor, a wrong shape, a name the UNet lacks.
    state = {k: v.detach().float().contiguous() for k, v in unet.state_dict().items()}
    attn1 = sorted(k for k in state if ".attn1." in k)
    attn2 = sorted(k for k in state if ".attn2." in k)
    save_file({attn1[0]: state[attn1[0]], attn2[0]: state[attn2[0]]}, str(OUT / "bad-cross-attention.safetensors"))
    wrong = state[attn1[0]]
    save_file({attn1[0]: torch.zeros((wrong.shape[0] + 1, *wrong.shape[1:]))}, str(OUT / "bad-shape.safetensors"))
    save_file({"down_blocks.9.attentions.0.transformer_blocks.0.attn1.to_q.weight": wrong}, str(OUT / "bad-unknown.safetensors"))
    data = overlay.read_bytes()
    (OUT / "bad-truncated.safetensors").write_bytes(data[: len(data) // 2])
    print("attn1 tensors:", len(attn1), "noise mean abs", float(noise.abs().mean()))


if __name__ == "__main__":
    main()
