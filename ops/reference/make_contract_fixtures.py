#!/usr/bin/env python3
"""Writes the contract example documents and judges each one with the JSON Schema files.

Run from the repository root with a Python that has `jsonschema` (>= 4.18):

    python ops/reference/make_contract_fixtures.py

Outputs Tests/Fixtures/contracts/: one file per example and manifest.json, which records for
each example the schema's verdict (valid or not, judged here by jsonschema's Draft 2020-12
validator) and the rejection code the Swift decoder must give. The Swift tests check that the
decoder agrees with the schema on every example.
"""
import copy
import json
import pathlib

import jsonschema

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "contracts"
SCHEMAS = ROOT / "schemas"


def base_request():
    return {
        "request_id": "req-0001",
        "tenant": "acme",
        "prompt": "a watercolor painting of a lighthouse at dawn",
        "negative_prompt": "blurry, low quality",
        "seed": 42,
        "width": 512,
        "height": 512,
        "steps": 25,
        "guidance_scale": 7.5,
        "scheduler": "pndm",
        "mitigations": {"safegen": True},
    }


def with_changes(**changes):
    doc = base_request()
    for key, value in changes.items():
        if value is DELETE:
            del doc[key]
        else:
            doc[key] = value
    return doc


def with_mitigations(**changes):
    doc = base_request()
    doc["mitigations"].update(changes)
    return doc


DELETE = object()

# name -> (document or raw bytes, expected Swift rejection code or None when accepted)
REQUESTS_SCHEMA_VALID = {
    "minimal": (base_request(), None),
    "all-mitigations": (with_mitigations(
        safety_guidance={"preset": "strong", "concept": "violence, nudity"},
        semantic_edits=[{"concept": "blood", "reverse": True, "guidance_scale": 7, "warmup_steps": 5, "threshold": 0.85},
                        {"concept": "flowers", "reverse": False}],
        semantic_momentum={"scale": 0.3, "beta": 0.6},
        fairness={"family": "gender", "proportions": {"female": 0.5, "male": 0.5}},
        attribute_switching={"switch_prompt": "a color photo of the woman", "tau": 650},
    ), None),
    "explicit-sld": (with_mitigations(safety_guidance={"parameters": {
        "warmup_steps": 10, "guidance_scale": 1000, "threshold": 0.01, "momentum_scale": 0.3, "momentum_beta": 0.4}}), None),
    "unicode-and-sql": (with_changes(prompt="日本の庭園 🌸 '); DROP TABLE decisions; --", negative_prompt="tab\tand\nnewline"), None),
    "max-seed": (with_changes(seed=9007199254740991, width=768, height=64), None),
    "attributes": (with_changes(attributes={"group": "women", "campaign.id": "spring-26", "replay_of": "req-0000"}), None),
    # Valid under the schema, over a worker limit (default RequestLimits).
    "limit-steps": (with_changes(steps=1000), "steps_out_of_range"),
    "limit-pixels": (with_changes(width=2048, height=2048), "dimensions_out_of_range"),
    "limit-prompt-length": (with_changes(prompt="a " * 1500), "prompt_too_long"),
    "limit-scheduler": (with_changes(scheduler="heun_magic"), "unsupported_scheduler"),
    "limit-guidance": (with_changes(guidance_scale=75.0), "guidance_out_of_range"),
    "limit-fairness-sum-not-one": (with_mitigations(fairness={"family": "gender", "proportions": {"female": 0.7, "male": 0.7}}), "invalid_mitigation"),
    "limit-guidance-without-cfg": (with_changes(guidance_scale=1.0, mitigations={"safety_guidance": {"preset": "max"}}), "invalid_mitigation"),
    "safegen-absent": (with_changes(mitigations={}), None),
    "limit-edits": (with_mitigations(semantic_edits=[{"concept": f"c{i}", "reverse": False} for i in range(6)]), "invalid_mitigation"),
}

REQUESTS_SCHEMA_INVALID = {
    "missing-seed": (with_changes(seed=DELETE), "missing_field"),
    "missing-mitigations": (with_changes(mitigations=DELETE), "missing_field"),
    "steps-string": (with_changes(steps="25"), "wrong_type"),
    "steps-fraction": (with_changes(steps=25.5), "wrong_type"),
    "prompt-null": (with_changes(prompt=None), "wrong_type"),
    "safegen-string": (with_mitigations(safegen="yes"), "wrong_type"),
    "unknown-top-level": (with_changes(priority="high"), "unknown_field"),
    "unknown-in-mitigations": (with_mitigations(nsfw_filter=True), "unknown_field"),
    "request-id-bad-chars": (with_changes(request_id="req 1; DROP"), "invalid_request_id"),
    "request-id-too-long": (with_changes(request_id="r" * 129), "invalid_request_id"),
    "tenant-empty": (with_changes(tenant=""), "invalid_tenant"),
    "prompt-empty": (with_changes(prompt=""), "empty_prompt"),
    "prompt-nul": (with_changes(prompt="a cat\u0000 on a mat"), "control_characters"),
    "prompt-escape": (with_changes(prompt="a cat \u001b[31m red"), "control_characters"),
    "negative-c1-control": (with_changes(negative_prompt="bad\u0085"), "control_characters"),
    "steps-zero": (with_changes(steps=0), "steps_out_of_range"),
    "width-not-multiple-of-8": (with_changes(width=500), "dimension_not_multiple_of_8"),
    "height-too-small": (with_changes(height=32), "dimensions_out_of_range"),
    "seed-negative": (with_changes(seed=-1), "seed_out_of_range"),
    "seed-too-large": (with_changes(seed=9007199254740992), "seed_out_of_range"),
    "guidance-negative": (with_changes(guidance_scale=-1.0), "guidance_out_of_range"),
    "preset-unknown": (with_mitigations(safety_guidance={"preset": "extreme"}), "invalid_mitigation"),
    "preset-and-parameters": (with_mitigations(safety_guidance={"preset": "weak", "parameters": {
        "warmup_steps": 1, "guidance_scale": 1, "threshold": 0, "momentum_scale": 0, "momentum_beta": 0}}), "invalid_mitigation"),
    "fairness-one-value": (with_mitigations(fairness={"family": "gender", "proportions": {"female": 1.0}}), "invalid_mitigation"),
    "fairness-share-above-one": (with_mitigations(fairness={"family": "gender", "proportions": {"female": 1.5, "male": -0.5}}), "invalid_mitigation"),
    "fairness-old-shape": (with_mitigations(fairness={"attributes": ["a", "b"], "target_share": 0.5}), "unknown_field"),
    "momentum-beta-one": (with_mitigations(semantic_momentum={"scale": 0.1, "beta": 1.0}), "invalid_mitigation"),
    "switching-tau-too-large": (with_mitigations(attribute_switching={"switch_prompt": "x", "tau": 1001}), "invalid_mitigation"),
    "attributes-key-uppercase": (with_changes(attributes={"Group": "x"}), "invalid_attributes"),
    "attributes-value-empty": (with_changes(attributes={"group": ""}), "invalid_attributes"),
    "attributes-value-control": (with_changes(attributes={"group": "a\u0007b"}), "invalid_attributes"),
    "attributes-too-many": (with_changes(attributes={f"k{i}": "v" for i in range(17)}), "invalid_attributes"),
    "attributes-not-string": (with_changes(attributes={"group": 3}), "wrong_type"),
    "top-level-array": ([base_request()], "not_an_object"),
    "top-level-string": ("req-0001", "not_an_object"),
}

# Not JSON at all: the schema cannot accept them.
REQUESTS_RAW = {
    "malformed-json": (b'{"request_id": "req-0001", "prompt": ', "malformed_json"),
    "trailing-garbage": (json.dumps(base_request()).encode() + b" }", "malformed_json"),
    "invalid-utf8": (json.dumps(base_request()).encode().replace(b"lighthouse", b"light\xff\xfehouse"), "invalid_utf8"),
    "empty": (b"", "empty_message"),
}


def sample_result(decision="allow"):
    doc = {
        "request_id": "req-0001",
        "tenant": "acme",
        "decision": decision,
        "reasons": [] if decision == "allow" else [{"scorer": "nudenet", "label": "FEMALE_BREAST_EXPOSED", "score": 0.91, "threshold": 0.6}],
        "scores": [{"scorer": "nudenet", "label": "FEMALE_BREAST_EXPOSED", "score": 0.91 if decision != "allow" else 0.02, "subject": "image"},
                   {"scorer": "prompt_harm", "label": "sexual", "score": 0.1, "subject": "prompt"}],
        "generated_image_sha256": "a" * 64,
        "model_sha256": "b" * 64,
        "overlay_sha256": "c" * 64,
        "mitigations": {
            "safegen": True,
            "safety_guidance": {"preset": "medium", "parameters": {
                "warmup_steps": 10, "guidance_scale": 1000, "threshold": 0.01, "momentum_scale": 0.3, "momentum_beta": 0.4},
                "concept": "nudity"},
            "semantic_edits": [],
            "semantic_momentum": {"scale": 0.5, "beta": 0.6},
            "fairness": {"family": "gender", "proportions": {"female": 0.5, "male": 0.5}, "value": "female", "draw": 0.25,
                         "edits": [{"concept": "female person", "reverse": False}, {"concept": "male person", "reverse": True}]},
            "forced_by_policy": ["safegen"],
        },
        "worker_id": "worker-1",
        "decided_at": "2026-01-31T12:00:00.123Z",
        "timings": {"decode_ms": 0.2, "generate_ms": 5000.0, "score_ms": 120.5},
    }
    if decision != "block":
        doc["image"] = "iVBORw0KGgo="
        doc["image_sha256"] = "d" * 64
    return doc


RESULTS = {
    "allow": (sample_result("allow"), True),
    "censor": (sample_result("censor"), True),
    "block": (sample_result("block"), True),
    "block-with-image": ({**sample_result("block"), "image": "iVBORw0KGgo="}, False),
    "allow-without-image": ({k: v for k, v in sample_result("allow").items() if k != "image"}, False),
    "bad-decision": ({**sample_result("allow"), "decision": "maybe"}, False),
    "unknown-field": ({**sample_result("allow"), "extra": 1}, False),
}

DLQ_BASE = {
    "request_id": "req-0002",
    "audit_id": "req-0002",
    "reason_code": "steps_out_of_range",
    "reason_message": "`steps` is 1000; the worker accepts 1 to 100",
    "original_value": "eyJyZXF1ZXN0X2lkIjogInJlcS0wMDAyIn0=",
    "original_key": "cmVxLTAwMDI=",
    "source": {"topic": "chaperone.requests", "partition": 3, "offset": 17},
    "worker_id": "worker-1",
    "rejected_at": "2026-01-31T12:00:00.123Z",
}

DLQ = {
    "readable": (DLQ_BASE, True),
    "unreadable": ({**{k: v for k, v in DLQ_BASE.items() if k not in ("request_id", "original_key")},
                    "audit_id": "kafka:chaperone.requests:3:17", "reason_code": "malformed_json",
                    "reason_message": "the message is not valid JSON"}, True),
    "unknown-code": ({**DLQ_BASE, "reason_code": "because"}, False),
    "missing-source": ({k: v for k, v in DLQ_BASE.items() if k != "source"}, False),
}


def validator(name):
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main():
    manifest = {"requests": [], "results": [], "dlq": []}
    request_validator = validator("generation-request.schema.json")
    for group in (REQUESTS_SCHEMA_VALID, REQUESTS_SCHEMA_INVALID):
        for name, (doc, code) in group.items():
            data = json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")
            write(OUT / "requests" / f"{name}.json", data)
            valid = request_validator.is_valid(doc)
            manifest["requests"].append({"file": f"requests/{name}.json", "schema_valid": valid, "rejection": code})
    for name, (data, code) in REQUESTS_RAW.items():
        write(OUT / "requests" / f"{name}.json", data)
        manifest["requests"].append({"file": f"requests/{name}.json", "schema_valid": False, "rejection": code})
    for key, schema_name, table in (("results", "moderation-result.schema.json", RESULTS), ("dlq", "dlq-envelope.schema.json", DLQ)):
        check = validator(schema_name)
        for name, (doc, expected) in table.items():
            valid = check.is_valid(doc)
            if valid != expected:
                raise SystemExit(f"{key}/{name}: schema says valid={valid}, expected {expected}")
            write(OUT / key / f"{name}.json", json.dumps(doc, indent=2, sort_keys=True).encode())
            manifest[key].append({"file": f"{key}/{name}.json", "schema_valid": valid})
    for entry in manifest["requests"]:
        expected_valid = entry["rejection"] is None or entry["file"].split("/")[1].startswith("limit-")
        if entry["schema_valid"] != expected_valid:
            raise SystemExit(f"{entry['file']}: schema says valid={entry['schema_valid']}, expected {expected_valid}")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {sum(len(v) for v in manifest.values())} examples to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
