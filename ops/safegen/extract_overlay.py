"""Extract a SafeGen overlay from a full SafeGen-edited UNet.

SafeGen edits only the UNet's vision-only self-attention (`attn1`) parameters. This tool
compares an edited `unet/` folder with the base model's `unet/` folder, checks that nothing
outside `attn1` changed, and writes the `attn1` tensors to one safetensors file: the overlay
Chaperone loads with `--safegen-overlay`.

    python ops/safegen/extract_overlay.py BASE_UNET_DIR EDITED_UNET_DIR overlay.safetensors

Exit status 2 with a message naming the first offending tensor when the edited UNet changed
anything but self-attention, or when the two folders do not hold the same tensor names/shapes.
"""
import argparse
import hashlib
import pathlib
import sys

import torch
from safetensors.torch import load_file, save_file


def load_unet(folder: pathlib.Path) -> dict:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        sys.exit(f"{folder}: no .safetensors file (convert .bin checkpoints to safetensors first)")
    tensors = {}
    for file in files:
        tensors.update(load_file(str(file)))
    return tensors


def is_self_attention(name: str) -> bool:
    return ".attn1." in name and ".transformer_blocks." in name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=pathlib.Path)
    parser.add_argument("edited", type=pathlib.Path)
    parser.add_argument("output", type=pathlib.Path)
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="largest abs difference tolerated outside attn1 (default exact)")
    args = parser.parse_args()

    base, edited = load_unet(args.base), load_unet(args.edited)
    if set(base) != set(edited):
        only = sorted(set(base) ^ set(edited))
        print(f"the UNets differ in tensor names, e.g. {only[0]}", file=sys.stderr)
        sys.exit(2)
    overlay = {}
    for name in sorted(base):
        a, b = base[name], edited[name]
        if a.shape != b.shape:
            print(f"{name}: shape {tuple(b.shape)} in the edited UNet, {tuple(a.shape)} in the base", file=sys.stderr)
            sys.exit(2)
        if is_self_attention(name):
            overlay[name] = b.to(torch.float32).contiguous()
        elif (a.float() - b.float()).abs().max().item() > args.tolerance:
            print(f"{name} changed, but SafeGen edits only self-attention (attn1)", file=sys.stderr)
            sys.exit(2)
    if not overlay:
        print("the UNet has no attn1 tensors", file=sys.stderr)
        sys.exit(2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_file(overlay, str(args.output), metadata={"format": "pt", "chaperone": "safegen-overlay"})
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    changed = sum(int(not torch.equal(base[n].float(), overlay[n])) for n in overlay)
    print(f"{args.output}: {len(overlay)} attn1 tensors ({changed} changed), sha256 {digest}")


if __name__ == "__main__":
    main()
