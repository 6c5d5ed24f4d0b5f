"""Writes the safetensors and CLIP text-encoder fixtures.

Tests/Fixtures/safetensors/
  dtypes.safetensors   tensors in F32, F16 and BF16 (with subnormals, +-0, +-inf) and
                       `__metadata__`, written by the `safetensors` package
  dtypes.json          each tensor's shape and its float32 values as IEEE bit patterns

Tests/Fixtures/text-encoder/<name>/
  text_encoder/        a diffusers `text_encoder/` folder (config.json + safetensors weights),
                       except for configs too large to commit (see `synthetic` below)
  weights.json         synthetic configs only: the manifest the Swift tests expand with
                       `SyntheticWeights` (bit-identical to common.synthetic_tensor)
  reference.json       input ids and output shapes
  reference.safetensors  transformers' last_hidden_state and pooler_output (F32) for them

Configs:
  tiny-gelu            4 layers, hidden 32, 4 heads, gelu, 16 positions, eos_token_id = last id;
                       F32, one file, tensor names with the `text_model.` prefix (as published)
  small-sharded-f16    3 layers, hidden 64, 8 heads, quick_gelu, eos_token_id 2 (legacy argmax
                       pooling), weights stored as F16 in two shards with an index json; the
                       reference is computed from the same F16-rounded weights in float32
  sd1-2layer           the SD 1.x text config (hidden 768, 12 heads, intermediate 3072,
                       quick_gelu, vocab 49408, 77 positions) with 2 layers; synthetic weights;
                       inputs are real prompts tokenized with the committed CLIP tokenizer

Usage: .venv/bin/python ops/reference/make_text_encoder_fixtures.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from common import fixture_dir, relative, seed_everything, synthetic_tensor, write_json

SEED = 1234


# --- safetensors dtype fixture -----------------------------------------------------------------

def make_safetensors_fixtures() -> None:
    out = fixture_dir("safetensors")
    g = torch.Generator().manual_seed(SEED)
    base = torch.randn(3, 5, generator=g) * 3
    special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), 1e-6, -3e-8, 65504.0, 1e-40, 3.0e38])
    tensors = {
        "f32.matrix": base.clone(),
        "f32.special": special.clone(),
        "f16.matrix": base.to(torch.float16),
        "f16.special": special.to(torch.float16),
        "bf16.matrix": base.to(torch.bfloat16),
        "bf16.special": special.to(torch.bfloat16),
        "f32.scalar": torch.tensor(2.5),
        "f32.empty": torch.zeros(0, 4),
        "f16.cube": (torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 7).to(torch.float16),
    }
    path = out / "dtypes.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt", "made_by": "make_text_encoder_fixtures.py"})
    expected = {}
    for name, t in tensors.items():
        as32 = t.to(torch.float32).contiguous().numpy()
        expected[name] = {
            "dtype": str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape),
            "bits": [int(b) for b in as32.reshape(-1).view(np.uint32)],
        }
    write_json(out / "dtypes.json", {"metadata": {"format": "pt", "made_by": "make_text_encoder_fixtures.py"},
                                     "tensors": expected})
    print(f"wrote {relative(path)}")


# --- text encoder ------------------------------------------------------------------------------

def clip_config(**overrides):
    from transformers import CLIPTextConfig

    values = dict(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
        layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=2, pad_token_id=1, projection_dim=768,
    )
    values.update(overrides)
    return CLIPTextConfig(**values)


def perturb_(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Random-init leaves layer norms at 1/0 and biases at 0; move them so they are tested."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=generator))
            elif "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=generator))


def run_reference(model, input_ids: torch.Tensor, out: Path, name: str) -> None:
    """Writes reference.json (input ids, shapes) and reference.safetensors (float32 outputs)."""
    model.eval()
    with torch.no_grad():
        result = model(input_ids=input_ids)
    last = result.last_hidden_state.to(torch.float32).contiguous()
    pooled = result.pooler_output.to(torch.float32).contiguous()
    save_file({"last_hidden_state": last, "pooler_output": pooled}, str(out / "reference.safetensors"))
    write_json(out / "reference.json", {
        "config": name,
        "input_ids": input_ids.tolist(),
        "last_hidden_state_shape": list(last.shape),
        "pooler_output_shape": list(pooled.shape),
    })


def random_ids(generator: torch.Generator, batch: int, length: int, vocab: int, eos: int, eos_positions) -> torch.Tensor:
    ids = torch.randint(0, vocab - 1, (batch, length), generator=generator)
    ids[ids == eos] = 0
    for b, pos in enumerate(eos_positions):
        ids[b, pos] = eos
        ids[b, pos + 1:] = eos  # padded with the end token, as SD pipelines do
    return ids


def make_saved_config(name: str, config, input_ids_fn, dtype=torch.float32, max_shard_size=None,
                      prefix_keys=False) -> None:
    from transformers import CLIPTextModel

    out = fixture_dir(f"text-encoder/{name}")
    folder = out / "text_encoder"
    if folder.exists():
        shutil.rmtree(folder)
    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    model = CLIPTextModel(config)
    perturb_(model, g)
    model = model.to(dtype)
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(str(folder), safe_serialization=True, **kwargs)
    if prefix_keys:
        # Published SD 1.x text encoders name tensors `text_model.…`; transformers 5 saves them
        # without the prefix. Commit one fixture in each layout.
        from safetensors.torch import load_file

        path = folder / "model.safetensors"
        state = load_file(str(path))
        save_file({f"text_model.{k}": v for k, v in state.items()}, str(path), metadata={"format": "pt"})
    # The reference runs in float32 on exactly the stored (possibly F16-rounded) weights.
    reloaded = CLIPTextModel.from_pretrained(str(folder), dtype=torch.float32)
    stored = model.float().state_dict()
    for key, value in reloaded.state_dict().items():
        assert torch.equal(value, stored[key]), f"{key} did not round-trip through {relative(folder)}"
    run_reference(reloaded, input_ids_fn(g), out, name)
    print(f"wrote {relative(folder)} ({sorted(p.name for p in folder.iterdir())})")


def synthetic_manifest(config) -> list[dict]:
    """Names, shapes and value ranges for every CLIPTextModel parameter, in a fixed order."""
    from transformers import CLIPTextModel

    with torch.device("meta"):
        model = CLIPTextModel(config)
    entries = []
    for stream, (name, p) in enumerate(sorted(model.named_parameters())):
        shape = list(p.shape)
        if "layer_norm" in name and name.endswith("weight"):
            mean, half = 1.0, 0.25
        elif name.endswith("bias"):
            mean, half = 0.0, 0.05
        elif "embedding" in name:
            mean, half = 0.0, 0.8
        else:
            mean, half = 0.0, float(np.sqrt(3.0 / shape[1]))  # unit-variance outputs
        entries.append({"name": name, "shape": shape, "stream": stream, "mean": mean, "halfwidth": half})
    return entries


def make_synthetic_config(name: str, config, input_ids: torch.Tensor) -> None:
    from transformers import CLIPTextModel

    out = fixture_dir(f"text-encoder/{name}")
    manifest = synthetic_manifest(config)
    state = {e["name"]: torch.from_numpy(synthetic_tensor(SEED, e["stream"], e["shape"], e["mean"], e["halfwidth"]))
             for e in manifest}
    model = CLIPTextModel(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
    # Prove the folder layout round-trips: save as a diffusers folder in a temp dir and reload.
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        shutil.copy(Path(tmp) / "config.json", out / "config.json")
        reloaded = CLIPTextModel.from_pretrained(tmp, dtype=torch.float32)
    write_json(out / "weights.json", {"seed": SEED, "tensors": manifest})
    run_reference(reloaded, input_ids, out, name)
    print(f"wrote {relative(out)} (synthetic weights, {len(manifest)} tensors)")


def main() -> None:
    seed_everything(SEED)
    make_safetensors_fixtures()

    tiny = clip_config(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                       num_attention_heads=4, max_position_embeddings=16, hidden_act="gelu",
                       eos_token_id=999, bos_token_id=998, pad_token_id=999, projection_dim=32)
    make_saved_config("tiny-gelu", tiny,
                      lambda g: random_ids(g, 3, 16, 1000, 999, [5, 15, 9]), prefix_keys=True)

    small = clip_config(vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                        num_attention_heads=8, max_position_embeddings=24, hidden_act="quick_gelu",
                        eos_token_id=2, layer_norm_eps=1e-5, projection_dim=64)
    make_saved_config("small-sharded-f16", small,
                      lambda g: random_ids(g, 2, 24, 500, 499, [7, 20]),
                      dtype=torch.float16, max_shard_size="100KB")

    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(fixture_dir("tokenizer") / "clip"))
    prompts = ["a photograph of an astronaut riding a horse",
               "portrait of a woman, oil on canvas, highly detailed, dramatic lighting, 8k"]
    ids = tokenizer(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt")["input_ids"]
    sd = clip_config(num_hidden_layers=2)
    make_synthetic_config("sd1-2layer", sd, ids)


if __name__ == "__main__":
    main()
