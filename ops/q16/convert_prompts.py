"""Converts Q16's learned prompt embeddings (`prompts.p` of the Q16 repository: a pickled
[2, P] array, row 0 "non inappropriate", row 1 "inappropriate") into the safetensors file that
`chaperone eval --q16` reads: one float32 tensor `prompts` [2, P].

Unpickling runs code from the file: convert only a file from a source you trust.

    .venv/bin/python ops/q16/convert_prompts.py prompts.p MODEL/q16-prompts.safetensors
"""
import argparse
import pickle

import numpy as np
from safetensors.numpy import save_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pickle", help="Q16 prompts.p")
    parser.add_argument("out", help="output .safetensors")
    args = parser.parse_args()
    with open(args.pickle, "rb") as handle:
        value = pickle.load(handle)
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    prompts = np.asarray(value, dtype=np.float32)
    if prompts.ndim != 2 or prompts.shape[0] != 2:
        raise SystemExit(f"{args.pickle}: expected a [2, P] array, got shape {prompts.shape}")
    save_file({"prompts": np.ascontiguousarray(prompts)}, args.out)
    print(f"wrote {args.out}: prompts {list(prompts.shape)} (P must equal the vision tower's projection size)")


if __name__ == "__main__":
    main()
