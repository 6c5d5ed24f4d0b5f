"""Shared helpers for the reference tooling that writes committed test fixtures.

Run the scripts with the project's virtual environment (see README.md in this folder). Every
script is seeded and writes only under Tests/Fixtures/<area>/, so rerunning it reproduces the
committed files.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "Tests" / "Fixtures"


def fixture_dir(area: str) -> Path:
    """Returns (and creates) Tests/Fixtures/<area>."""
    path = FIXTURES / area
    path.mkdir(parents=True, exist_ok=True)
    return path


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and (when imported) PyTorch, and pins PyTorch to one thread."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
    except ImportError:
        pass


def write_json(path: Path, value, compact: bool = False) -> None:
    """Writes JSON deterministically (sorted keys, ASCII escapes, trailing newline)."""
    with open(path, "w", encoding="ascii") as handle:
        if compact:
            json.dump(value, handle, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        else:
            json.dump(value, handle, sort_keys=True, ensure_ascii=True, indent=1)
        handle.write("\n")


def relative(path: Path) -> str:
    """A repository-relative path for log lines (never an absolute machine path)."""
    return os.path.relpath(path, REPO_ROOT)


# --- Synthetic weights -------------------------------------------------------------------------
#
# Checkpoints with the full SD-1.x text-encoder shapes are far too large to commit. Instead the
# fixture stores a manifest (tensor name, shape, stream, mean, half-width) and both this tooling
# and the Swift tests expand it with the same counter-based generator, bit for bit:
#
#   base    = seed * 0xD1B54A32D192ED03 + stream                    (mod 2^64)
#   z_i     = splitmix64_mix(base + (i + 1) * 0x9E3779B97F4A7C15)   (mod 2^64)
#   u_i     = (z_i >> 40) * 2^-24                                   (exact in [0, 1))
#   value_i = float32(mean + halfwidth * (2 * u_i - 1))             (computed in float64)
#
# Swift twin: `SyntheticWeights` in Sources/Diffusion/Weights/SyntheticWeights.swift.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SEED_MUL = np.uint64(0xD1B54A32D192ED03)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def synthetic_uniform(seed: int, stream: int, count: int) -> np.ndarray:
    """`count` float64 values in [0, 1) from the shared counter-based generator."""
    with np.errstate(over="ignore"):
        base = np.uint64(seed) * _SEED_MUL + np.uint64(stream)
        index = np.arange(1, count + 1, dtype=np.uint64)
        z = base + index * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) * (1.0 / (1 << 24))


def synthetic_tensor(seed: int, stream: int, shape, mean: float, halfwidth: float) -> np.ndarray:
    """A float32 tensor of the given shape from the shared generator (see the comment above)."""
    count = int(np.prod(shape)) if len(shape) else 1
    u = synthetic_uniform(seed, stream, count)
    values = np.float64(mean) + np.float64(halfwidth) * (2.0 * u - 1.0)
    return values.astype(np.float32).reshape(shape)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def randomize_clip(model) -> None:
    """Random weights far enough from the init that parity tests see every parameter: normal
    0.2 everywhere, LayerNorm weights near 1 and biases near 0 (draws from torch's global RNG)."""
    import torch
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape) * 0.2)
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape))
