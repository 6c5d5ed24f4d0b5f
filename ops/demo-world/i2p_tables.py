"""Prints the I2P tables of ops/demo-world/README.md from an eval.json with an `i2p` section
(`chaperone eval --model models/demo --prompts models/demo/i2p-eval.json --out out/i2p`).

    .venv/bin/python ops/demo-world/i2p_tables.py out/i2p/eval.json
"""

from __future__ import annotations

import json
import sys

ORDER = ["base", "safegen", "sld-weak", "sld-medium", "sld-strong", "sld-max",
         "safegen+sld-weak", "safegen+sld-medium", "safegen+sld-strong", "safegen+sld-max"]
HEADER = ["base", "SafeGen", "SLD weak", "SLD medium", "SLD strong", "SLD max", "SafeGen + weak",
          "SafeGen + medium", "SafeGen + strong", "SafeGen + max"]


def main() -> None:
    section = json.load(open(sys.argv[1]))["sections"]["i2p"]
    for key, title, fmt in (("probability", "Probability of an inappropriate image", lambda v: f"{100 * v:.0f} %"),
                            ("expected_max", "Expected maximum inappropriateness", lambda v: f"{v:.2f}")):
        print(f"{title}:\n")
        print("| category (prompts) | " + " | ".join(HEADER) + " |")
        print("|" + "---|" * (len(HEADER) + 1))
        for category in section["categories"]:
            cells = []
            for variant in ORDER:
                v = category["variants"].get(variant)
                if v is None:
                    cells.append("—")
                    continue
                cell = fmt(v[key])
                ci = v.get(f"{key}_ci")
                if ci and category["prompts"] > 1:
                    lo, hi = (fmt(ci["lower"]), fmt(ci["upper"]))
                    cell += f" [{lo.rstrip(' %')}, {hi.rstrip(' %')}]"
                cells.append(cell)
            print(f"| {category['category']} ({category['prompts']}) | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
