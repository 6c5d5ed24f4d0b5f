"""The demo-world tables of ops/demo-world/README.md, from eval JSON committed beside them.

`run` makes the JSON: `chaperone eval` on the model's prompt set (SLD with the paper's default
safety concept, as the worker applies SLD when a request names no concept) and on its nudity
prompts with the concept ops/moderation/demo-policy.json's escalation names, each on the
tuning seeds (1-8, on which the SafeGen edit, Fair Diffusion settings and detector threshold
were chosen) and on held-out seeds (501-508, never used to choose anything). It copies each
eval.json to ops/demo-world/results/ and labels the generated images (label.py: the exposed
detector against visible stripes) into results/truth-eval-*.json. The SLD presets with the
concept "nude" (as ops/moderation/demo-policy.json names it) come from truth_images.py's runs,
labelled into results/truth-tuning.json and results/truth-held-out.json.

`tables` prints the README's Markdown tables from those files, tuning and held-out side by side.

    .venv/bin/python ops/demo-world/eval_tables.py run [--only tuning,held-out]
    .venv/bin/python ops/demo-world/eval_tables.py tables
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RESULTS = os.path.join(ROOT, "ops", "demo-world", "results")
MODEL = os.path.join(ROOT, "models", "demo")
SEEDS = {"tuning": 1, "held-out": 501}
POLICY = os.path.join(ROOT, "ops", "moderation", "demo-policy.json")


def demo_concept() -> str:
    """The SLD concept the demo policy's escalation ladder names (its `sld-max` step)."""
    steps = json.load(open(POLICY))["default"]["escalation"]["steps"]
    return next(step["sld_concept"] for step in steps if step.get("sld") == "max")


def run(args: argparse.Namespace) -> None:
    binary = args.chaperone or os.path.join(
        subprocess.check_output(["swift", "build", "--show-bin-path"], cwd=ROOT, text=True).strip(), "chaperone")
    prompts = json.load(open(os.path.join(MODEL, "eval-prompts.json")))
    concept = {"generation": prompts["generation"],
               "nudity": dict(prompts["nudity"], sld=dict(prompts["nudity"]["sld"], concept=demo_concept()))}
    os.makedirs(RESULTS, exist_ok=True)
    for seeds in args.only.split(","):
        runs = {"all": [(seeds, prompts), (f"{seeds}-demo-concept", concept)],
                "sections": [(seeds, prompts)], "demo-concept": [(f"{seeds}-demo-concept", concept)]}[args.runs]
        for name, prompt_set in runs:
            out = os.path.join(ROOT, "out", "demo-world", "eval", name)
            os.makedirs(out, exist_ok=True)
            path = os.path.join(out, "prompts.json")
            with open(path, "w") as f:
                json.dump(prompt_set, f, indent=2)
            command = [binary, "eval", "--model", MODEL, "--prompts", path, "--first-seed", str(SEEDS[seeds]),
                       "--out", out, "--images", os.path.join(out, "images")]
            print(" ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in command), flush=True)
            subprocess.run(command, check=True)
            shutil.copyfile(os.path.join(out, "eval.json"), os.path.join(RESULTS, f"eval-{name}.json"))
            subprocess.run([sys.executable, os.path.join(ROOT, "ops", "demo-world", "label.py"), out, "--name", "truth"],
                           check=True)
            add_nudity_truth(out, prompt_set, os.path.join(RESULTS, f"truth-eval-{name}.json"))


def add_nudity_truth(out: str, prompt_set: dict, destination: str) -> None:
    """Copies out/truth.json to destination with `nudity_per_variant`: images with visible
    stripes among the nudity prompts' images only, per variant."""
    report = json.load(open(os.path.join(out, "truth.json")))
    nudity = set(prompt_set["nudity"]["prompts"])
    per_variant: dict[str, dict] = {}
    for row in json.load(open(os.path.join(out, "labels.json"))):
        if row["prompt"] in nudity:
            entry = per_variant.setdefault(row["variant"], {"images": 0, "exposed": 0, "faded": 0, "flagged": 0})
            entry["images"] += 1
            entry["exposed"] += row["exposed"]
            entry["faded"] += row["band"] == "faded"
            entry["flagged"] += row["flag"]
    report["nudity_per_variant"] = per_variant
    with open(destination, "w") as f:
        json.dump(report, f, indent=2)


def pct(v) -> str:
    return "—" if v is None else f"{100 * v:.1f} %".replace(".0 %", " %")


def tables(_: argparse.Namespace) -> None:
    load = lambda name: json.load(open(os.path.join(RESULTS, f"{name}.json")))  # noqa: E731
    ev = {k: load(f"eval-{k}") for k in ("tuning", "held-out", "tuning-demo-concept", "held-out-demo-concept")}
    truth = {k: load(f"truth-eval-{k}") for k in ev}
    print("### Nudity (10 explicit prompts × 8 seeds)\n")
    print("Exposed regions the `exposed` detector finds, nudity-removal rate (1 − regions / base "
          "regions), and images with visible stripes by `truth.py` (of 80):\n")
    print("| SLD concept | seeds | base | SafeGen | SLD max | SafeGen + SLD max |")
    print("|---|---|---|---|---|---|")
    for key, concept in (("", "default (the paper's)"), ("-demo-concept", f"`{demo_concept()}`")):
        for seeds in ("tuning", "held-out"):
            n = ev[seeds + key]["sections"]["nudity"]
            counts, nrr = n["counts"], n["nudity_removal_rate"]
            per_variant = truth[seeds + key]["nudity_per_variant"]
            seen = lambda v: per_variant.get({"sld": "sld-max", "safegen+sld": "safegen+sld-max"}.get(v, v), {}).get("exposed")  # noqa: E731
            cells = [f"{counts[v]['exposed_regions']} ({pct(nrr.get(v))}); {seen(v)} seen"
                     for v in ("safegen", "sld", "safegen+sld")]
            print(f"| {concept} | {seeds} | {counts['base']['exposed_regions']}; {seen('base')} seen | " + " | ".join(cells) + " |")
    print("\n### Benign (10 prompts × 8 seeds; attribute accuracy)\n")
    print("| seeds | base | SafeGen | mean abs pixel change | PSNR |")
    print("|---|---|---|---|---|")
    for seeds in ("tuning", "held-out"):
        b = ev[seeds]["sections"]["benign"]
        d = b.get("pixel_distance") or {}
        print(f"| {seeds} | {pct(b['accuracy'].get('base'))} | {pct(b['accuracy'].get('safegen'))} | "
              f"{d.get('mean_abs', 0):.3f} | {d.get('psnr_db') or 0:.1f} dB |")
    fairness = ev["tuning"]["sections"]["fairness"]
    print(f"\n### Fairness (female share per role, 8 seeds; target 50 %; switching τ {fairness.get('switch_tau')})\n")
    print("| role | seeds | plain | Fair Diffusion | attribute switching |")
    print("|---|---|---|---|---|")
    for role in [r["role"] for r in fairness["roles"]]:
        for seeds in ("tuning", "held-out"):
            r = next(x for x in ev[seeds]["sections"]["fairness"]["roles"] if x["role"] == role)
            share = lambda m: pct(((r["methods"].get(m) or {}).get("proportions") or {}).get("female"))  # noqa: E731
            print(f"| {role} | {seeds} | {share('plain')} | {share('fair_diffusion')} | {share('attribute_switching')} |")
    print("\n### Harm amplification (4 prompts × 8 seeds per group; τ 0.2 on raw scores)\n")
    print("| group | seeds | base | SafeGen |")
    print("|---|---|---|---|")
    for g in [g["name"] for g in ev["tuning"]["sections"]["amplification"]["groups"]]:
        for seeds in ("tuning", "held-out"):
            group = next(x for x in ev[seeds]["sections"]["amplification"]["groups"] if x["name"] == g)
            rate = lambda v: pct(next((x["rate"] for x in group["rates"].get(v, [])), None))  # noqa: E731
            print(f"| {g} | {seeds} | {rate('base')} | {rate('safegen')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--chaperone", default=None)
    r.add_argument("--only", default="tuning,held-out")
    r.add_argument("--runs", choices=["all", "sections", "demo-concept"], default="all",
                   help="the whole prompt set (SLD's default concept), the nudity prompts with the demo policy's concept, or both")
    r.set_defaults(func=run)
    t = sub.add_parser("tables")
    t.set_defaults(func=tables)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
