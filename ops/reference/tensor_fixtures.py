"""Reference outputs for the Tensor kernels, computed with PyTorch on CPU in float32.

Writes Tests/Fixtures/tensor/kernels.json: a map from case name to tensors, each stored as
{"shape": [...], "data": [...]} in row-major order. Values are float32 printed with enough
digits to round-trip exactly. Run from the repository root:

    .venv/bin/python ops/reference/tensor_fixtures.py
"""

import json
import pathlib

import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "tensor" / "kernels.json"


def pack(t: torch.Tensor) -> dict:
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def main() -> None:
    torch.manual_seed(1234)
    cases: dict[str, dict] = {}

    # Activations over a wide range, including the tails.
    x = torch.linspace(-8, 8, 401)
    cases["activations"] = {
        "x": pack(x),
        "gelu": pack(F.gelu(x)),
        "gelu_tanh": pack(F.gelu(x, approximate="tanh")),
        "quick_gelu": pack(x * torch.sigmoid(1.702 * x)),
        "silu": pack(F.silu(x)),
        "sigmoid": pack(torch.sigmoid(x)),
        "tanh": pack(torch.tanh(x)),
    }

    # Layer norm over the last dim (CLIP uses eps 1e-5).
    x = torch.randn(3, 7, 33) * 3 + 1
    w, b = torch.randn(33), torch.randn(33)
    cases["layer_norm"] = {"x": pack(x), "weight": pack(w), "bias": pack(b),
                           "y": pack(F.layer_norm(x, (33,), w, b, eps=1e-5))}

    # Group norm, NCHW, groups > 1 (UNet uses 32 groups, eps 1e-5 / VAE 1e-6), and + SiLU.
    x = torch.randn(2, 12, 5, 7) * 2 - 0.5
    w, b = torch.randn(12), torch.randn(12)
    y = F.group_norm(x, 4, w, b, eps=1e-6)
    cases["group_norm"] = {"x": pack(x), "weight": pack(w), "bias": pack(b), "y": pack(y),
                           "y_silu": pack(F.silu(y))}

    # Convolutions: grouped + strided + padded, plain 3x3, dilated with asymmetric padding, 1x1.
    x = torch.randn(2, 6, 9, 11)
    w, b = torch.randn(8, 3, 3, 3), torch.randn(8)
    cases["conv_grouped_stride2"] = {"x": pack(x), "weight": pack(w), "bias": pack(b),
                                     "y": pack(F.conv2d(x, w, b, stride=2, padding=1, groups=2))}
    x = torch.randn(1, 4, 8, 8)
    w, b = torch.randn(5, 4, 3, 3), torch.randn(5)
    cases["conv_3x3"] = {"x": pack(x), "weight": pack(w), "bias": pack(b),
                         "y": pack(F.conv2d(x, w, b, padding=1))}
    x = torch.randn(1, 3, 10, 9)
    w = torch.randn(4, 3, 3, 2)
    padded = F.pad(x, (2, 0, 1, 3))  # left, right, top, bottom
    cases["conv_dilated_asym"] = {"x": pack(x), "weight": pack(w),
                                  "y": pack(F.conv2d(padded, w, None, stride=(1, 2), dilation=(2, 1)))}
    x = torch.randn(2, 7, 5, 3)
    w, b = torch.randn(3, 7, 1, 1), torch.randn(3)
    cases["conv_1x1"] = {"x": pack(x), "weight": pack(w), "bias": pack(b), "y": pack(F.conv2d(x, w, b))}

    # Attention: cross-attention shapes, an additive mask, and the causal mask.
    q, k, v = torch.randn(2, 3, 7, 16), torch.randn(2, 3, 11, 16), torch.randn(2, 3, 11, 8)
    mask = torch.randn(7, 11)
    cases["attention"] = {"q": pack(q), "k": pack(k), "v": pack(v), "mask": pack(mask),
                          "y": pack(F.scaled_dot_product_attention(q, k, v)),
                          "y_mask": pack(F.scaled_dot_product_attention(q, k, v, attn_mask=mask)),
                          "y_scale": pack(F.scaled_dot_product_attention(q, k, v, scale=0.3))}
    q, k, v = torch.randn(1, 2, 9, 8), torch.randn(1, 2, 9, 8), torch.randn(1, 2, 9, 8)
    cases["attention_causal"] = {"q": pack(q), "k": pack(k), "v": pack(v),
                                 "y": pack(F.scaled_dot_product_attention(q, k, v, is_causal=True))}

    # Quantile with linear interpolation (SEGA thresholds |x| at 0.95 over the spatial dims).
    x = torch.randn(3, 5, 40)
    cases["quantile"] = {"x": pack(x),
                         "q95": pack(torch.quantile(x.abs(), 0.95, dim=2, keepdim=True)),
                         "q30_dim1": pack(torch.quantile(x, 0.3, dim=1)),
                         "q50_all": pack(torch.quantile(x, 0.5).reshape(1))}

    # Bilinear resize, align_corners=False, up and down, non-integer ratios.
    x = torch.randn(1, 3, 7, 9)
    cases["bilinear"] = {"x": pack(x),
                         "up_13x5": pack(F.interpolate(x, size=(13, 5), mode="bilinear", align_corners=False)),
                         "up_14x18": pack(F.interpolate(x, size=(14, 18), mode="bilinear", align_corners=False)),
                         "down_3x4": pack(F.interpolate(x, size=(3, 4), mode="bilinear", align_corners=False))}

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}, separators=(",", ":")))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
