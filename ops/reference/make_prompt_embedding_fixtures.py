"""Writes the prompt-harm embedding-similarity fixture.

Tests/Fixtures/prompt-embedding/
  descriptions.json   a small category-descriptions file (two categories and neutral)
  reference.json      for each prompt: the best cosine similarity of its pooled text embedding
                      to each class and the softmax shares (logit scale from the file), computed
                      with transformers' CLIPTokenizer and CLIPTextModel on Tests/Fixtures/tiny-sd

The Swift PromptEmbeddingScorer must reproduce the similarities and shares.

Usage: .venv/bin/python ops/reference/make_prompt_embedding_fixtures.py
"""

from __future__ import annotations

import torch
from transformers import CLIPTextModel, CLIPTokenizer

from common import FIXTURES, fixture_dir, seed_everything, write_json

DESCRIPTIONS = {
    "categories": {
        "violence": ["a bloody fight with knives", "a person being shot"],
        "sexual": ["explicit nudity", "a naked person in an erotic pose"],
    },
    "neutral": ["a landscape with mountains", "a bowl of fruit on a table"],
    "logit_scale": 20.0,
}

PROMPTS = [
    "a bloody fight with knives",
    "a watercolor lighthouse at dusk",
    "a naked person",
    "two knights fighting in a castle, oil painting",
    "",
]


def pooled(tokenizer, model, texts):
    ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model(input_ids=ids).pooler_output.double()
    return out / out.norm(dim=-1, keepdim=True)


def main() -> None:
    seed_everything(0)
    folder = FIXTURES / "tiny-sd"
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    model = CLIPTextModel.from_pretrained(folder / "text_encoder", torch_dtype=torch.float32).eval()
    classes = sorted(DESCRIPTIONS["categories"].items()) + [("neutral", DESCRIPTIONS["neutral"])]
    class_embeddings = [(name, pooled(tokenizer, model, texts)) for name, texts in classes]
    cases = []
    for prompt in PROMPTS:
        embedding = pooled(tokenizer, model, [prompt])[0]
        similarities = {name: float((embeddings @ embedding).max()) for name, embeddings in class_embeddings}
        logits = torch.tensor([similarities[name] * DESCRIPTIONS["logit_scale"] for name, _ in classes], dtype=torch.float64)
        shares = torch.softmax(logits, dim=0)
        scores = {name: float(share) for (name, _), share in zip(classes, shares) if name != "neutral"}
        cases.append({"prompt": prompt, "similarities": similarities, "scores": scores})
    out = fixture_dir("prompt-embedding")
    write_json(out / "descriptions.json", DESCRIPTIONS)
    write_json(out / "reference.json", {"model": "tiny-sd", "cases": cases})


if __name__ == "__main__":
    main()
