"""A small random-init CLIP vision tower with projection and Q16-style verdicts on test images.

Q16 (Schramowski et al., "Can Machines Help Us Answering Question 16 in Datasheets") compares a
CLIP image embedding with two learned prompt embeddings (row 0 "non inappropriate", row 1
"inappropriate"): softmax(100 * cos) over the two, inappropriate when row 1 wins. The I2P
evaluation takes the embedding from transformers' CLIPVisionModelWithProjection (`image_embeds`)
after CLIPImageProcessor; this script does the same on a tiny config.

Writes Tests/Fixtures/q16/:
  vision/            config.json + model.safetensors (CLIPVisionModelWithProjection), preprocessor_config.json
  prompts.safetensors  `prompts` [2, 16] float32
  io.safetensors     image_<i> (H, W, 3 as float), pixel_values, image_embeds
  io.json            per image: similarity (100 * cos, both rows), probabilities, inappropriate

Run from the repository root:  .venv/bin/python ops/reference/make_q16_fixtures.py
"""
import json
import pathlib

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection
from common import randomize_clip

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/q16"


def test_images():
    rng = np.random.default_rng(16)
    images = []
    for k, (h, w) in enumerate([(40, 48), (48, 40), (36, 36), (50, 64), (32, 32), (33, 45)]):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * (4 + k)) % 256, (y * (6 + k)) % 256, ((x + 2 * y) * 5) % 256], axis=-1)
        noise = rng.integers(0, 50, size=(h, w, 3))
        images.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return images


def q16(image_embeds, prompts):
    """eval/q16.py of the I2P repository: normalise both sides, 100 * cosine, softmax, argmax."""
    prompts_norm = prompts / prompts.norm(dim=-1, keepdim=True)
    images_norm = image_embeds / image_embeds.norm(dim=-1, keepdim=True)
    similarity = 100.0 * images_norm @ prompts_norm.T
    probs = similarity.softmax(dim=-1)
    return similarity, probs, probs.argmax(dim=-1)


def main() -> None:
    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                              projection_dim=16)
    model = CLIPVisionModelWithProjection(config).eval()
    randomize_clip(model)

    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    images = test_images()
    pixel_values = processor([Image.fromarray(i) for i in images], return_tensors="pt").pixel_values
    with torch.no_grad():
        embeds = model(pixel_values=pixel_values).image_embeds

    # Prompt embeddings between the images: both verdicts occur, and some probabilities are
    # far from 0 and 1 so the softmax arithmetic is checked, not only the argmax.
    generator = torch.Generator().manual_seed(5)
    unit = embeds / embeds.norm(dim=-1, keepdim=True)
    centre = unit.mean(dim=0)
    chosen = None
    for attempt in range(200):
        direction = torch.randn(16, generator=generator) * 0.05
        prompts = torch.stack([centre - direction, centre + direction]) * (1 + attempt % 3)
        _, probs, labels = q16(embeds, prompts)
        p = probs[:, 1]
        moderate = ((p > 0.05) & (p < 0.95)).sum().item()
        if 0 < labels.sum().item() < len(images) and moderate >= 2:
            chosen = prompts
            break
    assert chosen is not None, "no prompt pair splits the test images; change the seed"
    similarity, probs, labels = q16(embeds, chosen)

    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(OUT / "vision"), safe_serialization=True)
    processor.save_pretrained(str(OUT / "vision"))
    save_file({"prompts": chosen.contiguous()}, str(OUT / "prompts.safetensors"))
    tensors = {f"image_{i}": torch.from_numpy(img.astype(np.float32)) for i, img in enumerate(images)}
    tensors.update({"pixel_values": pixel_values.contiguous(), "image_embeds": embeds.contiguous()})
    save_file(tensors, str(OUT / "io.safetensors"))
    record = {
        "images": len(images),
        "similarity": [[float(v) for v in row] for row in similarity],
        "probabilities": [[float(v) for v in row] for row in probs],
        "inappropriate": [bool(v) for v in labels],
    }
    (OUT / "io.json").write_text(json.dumps(record, indent=1) + "\n")
    print("inappropriate", record["inappropriate"])
    print("p(inappropriate)", [round(r[1], 4) for r in record["probabilities"]])


if __name__ == "__main__":
    main()
