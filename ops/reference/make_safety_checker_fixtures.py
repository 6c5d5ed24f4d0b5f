"""A small random-init Stable Diffusion safety checker and diffusers' verdicts on test images.

Writes Tests/Fixtures/safety-checker/{safety_checker,feature_extractor}/ in the diffusers layout
and io.safetensors + io.json with the images, the CLIP processor's pixel values, the image
embeddings, cosine similarities, per-concept scores and the nsfw flags.

Run from the repository root:  .venv/bin/python ops/reference/make_safety_checker_fixtures.py
"""
import json
import pathlib

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPImageProcessor
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker, cosine_distance

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/safety-checker"


def test_images():
    rng = np.random.default_rng(11)
    images = []
    for k, (h, w) in enumerate([(40, 48), (48, 40), (36, 36), (50, 64), (32, 32)]):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * (3 + k)) % 256, (y * (5 + k)) % 256, ((x + y) * 7) % 256], axis=-1)
        noise = rng.integers(0, 60, size=(h, w, 3))
        images.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return images


def main() -> None:
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=100),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8, hidden_act="quick_gelu", layer_norm_eps=1e-5),
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config).eval()
    with torch.no_grad():
        for parameter in checker.parameters():
            parameter.copy_(torch.randn(parameter.shape) * 0.2)
        for name, module in checker.named_modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape))

    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    images = test_images()
    pixel_values = processor([Image.fromarray(i) for i in images], return_tensors="pt").pixel_values

    with torch.no_grad():
        pooled = checker.vision_model(pixel_values)[1]
        embeds = checker.visual_projection(pooled)
        cos = cosine_distance(embeds, checker.concept_embeds)
        special = cosine_distance(embeds, checker.special_care_embeds)
        # Thresholds that exercise every branch: image 0 is flagged outright, image 1 triggers
        # special care and is flagged only thanks to its 0.01 adjustment, the rest pass.
        def margin(i, sims):
            others = torch.cat([sims[:i], sims[i + 1:]]).max(dim=0).values
            return sims[i] - others, others

        concept_thresholds = cos.max(dim=0).values + 0.1
        special_thresholds = special.max(dim=0).values + 0.1
        # Image A is flagged outright; image B triggers special care and is flagged only thanks
        # to its 0.01 adjustment; the others pass.
        plan = None
        for b in range(len(images)):
            gap_s, others_s = margin(b, special)
            js = int(gap_s.argmax())
            if gap_s[js] <= 0.002:
                continue
            gap_b, _ = margin(b, cos)
            for a in range(len(images)):
                if a == b:
                    continue
                gap_a, others_a = margin(a, cos)
                j0 = int(gap_a.argmax())
                candidates = [j for j in range(17) if j != j0 and gap_b[j] > 0.012]
                if gap_a[j0] > 0.002 and candidates:
                    plan = (a, j0, others_a, b, js, others_s, max(candidates, key=lambda j: float(gap_b[j])))
                    break
            if plan:
                break
        assert plan, "no thresholds separate the test images; change the seed"
        a, j0, others_a, b, js, others_s, j1 = plan
        concept_thresholds[j0] = (cos[a, j0] + others_a[j0]) / 2
        special_thresholds[js] = (special[b, js] + others_s[js]) / 2
        concept_thresholds[j1] = cos[b, j1] + 0.004
        checker.concept_embeds_weights.copy_(concept_thresholds)
        checker.special_care_embeds_weights.copy_(special_thresholds)
        _, flags = checker(clip_input=pixel_values, images=[np.zeros((1,))] * len(images))

    adjusted_scores, special_scores = [], []
    for i in range(len(images)):
        adjustment = 0.0
        row_special = []
        for j in range(3):
            s = round(float(special[i, j]) - checker.special_care_embeds_weights[j].item() + adjustment, 3)
            row_special.append(s)
            if s > 0:
                adjustment = 0.01
        special_scores.append(row_special)
        adjusted_scores.append([round(float(cos[i, j]) - checker.concept_embeds_weights[j].item() + adjustment, 3)
                                for j in range(17)])

    OUT.mkdir(parents=True, exist_ok=True)
    checker.save_pretrained(str(OUT / "safety_checker"), safe_serialization=True)
    processor.save_pretrained(str(OUT / "feature_extractor"))
    tensors = {f"image_{i}": torch.from_numpy(img.astype(np.float32)) for i, img in enumerate(images)}
    tensors.update({"pixel_values": pixel_values.contiguous(), "image_embeds": embeds.contiguous(),
                    "concept_cos": cos.contiguous(), "special_cos": special.contiguous()})
    save_file(tensors, str(OUT / "io.safetensors"))
    record = {"images": len(images), "has_nsfw": [bool(f) for f in flags],
              "concept_scores": adjusted_scores, "special_scores": special_scores}
    (OUT / "io.json").write_text(json.dumps(record, indent=1) + "\n")
    print("flags", record["has_nsfw"])


if __name__ == "__main__":
    main()
