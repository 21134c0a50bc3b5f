#!/usr/bin/env python3
"""Regenerate tests/scenarios/*/expected.json from the current build (after an intended model
change; review the diff). Usage: tools/update_golden.py [build/release/wanka]"""
import json, pathlib, subprocess, sys

FIELDS = ["/step_time_s", "/tokens_per_s_per_gpu", "/mfu", "/hfu", "/model_flops_per_token", "/params_total",
          "/breakdown_s/compute", "/breakdown_s/tp_comm", "/breakdown_s/pp_bubble", "/breakdown_s/ep_comm",
          "/breakdown_s/cp_comm", "/breakdown_s/dp_comm", "/memory/peak_bytes_per_gpu", "/memory/fits",
          "/scenario/parallel/dp"]
wanka = sys.argv[1] if len(sys.argv) > 1 else "build/release/wanka"
root = pathlib.Path(__file__).resolve().parent.parent / "tests" / "scenarios"
for d in sorted(p for p in root.iterdir() if p.is_dir()):
    out = json.loads(subprocess.check_output([wanka, "estimate", str(d / "scenario.yaml"), "--json"]))
    fields = {}
    for ptr in FIELDS:
        node = out
        for part in ptr.strip("/").split("/"):
            node = node[part]
        fields[ptr] = node
    (d / "expected.json").write_text(json.dumps({"tolerance": 0.005, "fields": fields}, indent=2) + "\n")
    print("updated", d.name)
