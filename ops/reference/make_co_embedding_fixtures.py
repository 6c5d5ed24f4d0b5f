"""A small random-init CLIPModel (text and vision towers with projections) and its features.

The co-embedding measure of harm amplification compares prompt and image with a harm type's
concept texts in one CLIP embedding space: text features are transformers'
CLIPModel.get_text_features (the text tower's final state at the end token through
`text_projection`), image features CLIPModel.get_image_features (the vision tower's pooled
output through `visual_projection`).

Writes Tests/Fixtures/co-embedding/:
  clip/              config.json + model.safetensors (CLIPModel, transformers' layout), and a byte-level
                     CLIP tokenizer (vocab.json, merges.txt, tokenizer_config.json) small enough for
                     the tiny vocabulary: the 256 byte symbols, the same with </w>, a few merges, the
                     start and end tokens; preprocessor_config.json (CLIPImageProcessor at 32 px)
  io.safetensors     input_ids [B, L] (as float), text_embeds [B, P], pixel_values [N, 3, S, S], image_embeds [N, P],
                     prompt_ids / prompt_embeds: the texts of io.json through the tokenizer and get_text_features
  io.json            texts

Run from the repository root:  .venv/bin/python ops/reference/make_co_embedding_fixtures.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer
from common import bytes_to_unicode, randomize_clip


ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/co-embedding"


LENGTH = 16
TEXTS = ["a photo of a naked person", "a person at the beach", "nude", "a bowl of fruit on a table"]


def write_tokenizer(folder: pathlib.Path) -> int:
    """A byte-level CLIP BPE vocabulary with a handful of merges; returns the vocabulary size."""
    symbols = list(bytes_to_unicode().values())
    merges = [("o", "n</w>"), ("p", "h"), ("e", "r"), ("ph", "o")]
    vocab = symbols + [s + "</w>" for s in symbols] + ["on</w>", "ph", "er", "pho"]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": LENGTH, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}))
    return len(vocab)


def main() -> None:
    clip = OUT / "clip"
    vocab_size = write_tokenizer(clip)
    bos, eos = vocab_size - 2, vocab_size - 1
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=16, hidden_act="quick_gelu",
                         layer_norm_eps=1e-5, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8, hidden_act="quick_gelu", layer_norm_eps=1e-5),
        projection_dim=16)
    model = CLIPModel(config).eval()
    randomize_clip(model)

    # Sequences as the CLIP tokenizer pads them: start token, content, end token, then end tokens
    # as padding; pooling is at the first end token (eos_token_id is not the legacy 2).
    generator = torch.Generator().manual_seed(3)
    rows = []
    for content in [3, 7, 14, 1]:
        ids = [bos] + torch.randint(0, bos, (content,), generator=generator).tolist() + [eos]
        rows.append(ids + [eos] * (LENGTH - len(ids)))
    input_ids = torch.tensor(rows)
    pixel_values = torch.randn(3, 3, 32, 32, generator=generator)
    tokenizer = CLIPTokenizer.from_pretrained(clip)
    prompt_ids = tokenizer(TEXTS, padding="max_length", max_length=LENGTH, truncation=True,
                           return_tensors="pt").input_ids
    with torch.no_grad():
        prompt_embeds = model.get_text_features(input_ids=prompt_ids)
        if not isinstance(prompt_embeds, torch.Tensor):
            prompt_embeds = prompt_embeds.pooler_output
        text_embeds = model.get_text_features(input_ids=input_ids)
        image_embeds = model.get_image_features(pixel_values=pixel_values)
        # transformers 5 may return a model output; the features are its pooled output.
        if not isinstance(text_embeds, torch.Tensor):
            text_embeds = text_embeds.pooler_output
        if not isinstance(image_embeds, torch.Tensor):
            image_embeds = image_embeds.pooler_output

    model.save_pretrained(clip, safe_serialization=True)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(clip)
    save_file({"input_ids": input_ids.float().contiguous(), "text_embeds": text_embeds.contiguous(),
               "pixel_values": pixel_values.contiguous(), "image_embeds": image_embeds.contiguous(),
               "prompt_ids": prompt_ids.float().contiguous(), "prompt_embeds": prompt_embeds.contiguous()},
              OUT / "io.safetensors")
    (OUT / "io.json").write_text(json.dumps({"texts": TEXTS}, indent=1) + "\n")
    print("prompt_ids", prompt_ids.tolist())
    print("text_embeds", tuple(text_embeds.shape), "image_embeds", tuple(image_embeds.shape))


if __name__ == "__main__":
    main()
