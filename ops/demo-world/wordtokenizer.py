"""A CLIP-format BPE tokenizer (vocab.json + merges.txt) over the demo world's vocabulary.

The vocabulary keeps CLIP's byte-level base alphabet (256 byte symbols and their end-of-word
forms), so any text tokenizes; merges are added so every world word is exactly one token.
Special tokens come last: <|startoftext|>, then <|endoftext|> (the largest id, as in CLIP).
"""

from __future__ import annotations

import json
import os


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte → printable-unicode table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def _apply(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Plain BPE on one word's pieces with the given merge ranks."""
    while len(pieces) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(pieces, pieces[1:]))]
        rank, i = min(pairs)
        if rank == 1 << 30:
            break
        pieces = pieces[:i] + [pieces[i] + pieces[i + 1]] + pieces[i + 2:]
    return pieces


def build(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary (token → id) and ordered merges so each word is one token."""
    base = list(bytes_to_unicode().values())
    vocab_list = base + [b + "</w>" for b in base]
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    known = set(vocab_list)
    for word in words:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        pieces = _apply(pieces, ranks)
        # Chain the remaining pieces left to right; new merges rank after every existing one.
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            merged = pieces[0] + pieces[1]
            if pair not in ranks:
                ranks[pair] = len(merges)
                merges.append(pair)
            if merged not in known:
                known.add(merged)
                vocab_list.append(merged)
            pieces = [merged] + pieces[2:]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    # Check: each word is one token under the final merge list.
    for word in words:
        got = _apply(list(word[:-1]) + [word[-1] + "</w>"], ranks)
        if got != [word + "</w>"]:
            raise SystemExit(f"tokenizer: '{word}' splits into {got}")
    return vocab, merges


def write(out_dir: str, words: list[str]) -> None:
    """Writes vocab.json, merges.txt, special_tokens_map.json and tokenizer_config.json."""
    vocab, merges = build(words)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.write("\n".join(f"{a} {b}" for a, b in merges) + "\n")
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    }
    config = dict(special, add_prefix_space=False, do_lower_case=True, errors="replace",
                  model_max_length=77, tokenizer_class="CLIPTokenizer")
    for name, value in (("special_tokens_map.json", special), ("tokenizer_config.json", config)):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2, sort_keys=True)
            f.write("\n")
