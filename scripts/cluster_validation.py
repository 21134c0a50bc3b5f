#!/usr/bin/env python3
"""Reproduces the cluster-scheduling tables of docs/validation.md ("Cluster scheduling").

Usage: scripts/cluster_validation.py [WANKA_BINARY] [TRACES_DIR]
(defaults: build/release/wanka and ../shared/data/traces). Runs `wanka cluster` and prints
Markdown tables; the authors' figures are read from the trace folders, nothing is hard-coded.
"""
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

W = sys.argv[1] if len(sys.argv) > 1 else "build/release/wanka"
T = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "traces")
P = os.path.join(T, "pollux-workloads")


def wanka(*args):
    out = subprocess.run([W, "cluster", *args, "--json", "--no-timing"], check=True, capture_output=True, text=True).stdout
    return {p["name"]: p for p in json.loads(out)["policies"]}


def per_job(*args):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "jobs.csv")
        subprocess.run([W, "cluster", *args, "--csv", "--jobs", path], check=True, capture_output=True)
        return list(csv.DictReader(open(path)))


def pollux():
    print("### Pollux workloads, 16 nodes x 4 GPUs: average JCT (s), mean of the 8 workloads\n")
    print("wanka columns: event-driven defaults (restart 30 s, no startup cost); 'Pollux settings' adds the "
          "Pollux simulator's 60 s scheduling rounds and its 30 s delay on a job's first start.\n")
    print("| load | fifo | srtf | tiresias | tiresias, Pollux settings | authors' Tiresias | ratio (Pollux settings) "
          "| per-job median ratio | authors' Pollux |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for load in ["0.5", "1.0", "1.5", "2.0"]:
        folder = "workloads" if load == "1.0" else f"workloads-{load}"
        theirs = json.load(open(os.path.join(P, "results-jobload", f"tiresias-{load}", "summary.json")))
        pollux_mean = json.load(open(os.path.join(P, "results-jobload", f"pollux-{load}", "summary.json")))["mean"]
        ours = {"fifo": [], "tiresias": [], "srtf": [], "pollux-settings": []}
        ratios = []
        for i in range(1, 9):
            args = ["--trace", os.path.join(P, folder, f"workload-{i}.csv"), "--format", "pollux", "--pollux-profiles",
                    os.path.join(P, "throughput-traces"), "--nodes", "16", "--gpus-per-node", "4"]
            r = wanka(*args, "--policy", "fifo,tiresias,srtf")
            for k in ["fifo", "tiresias", "srtf"]:
                ours[k].append(r[k]["avg_jct_s"])
            pargs = args + ["--policy", "tiresias", "--startup-s", "30", "--round-s", "60"]
            ours["pollux-settings"].append(wanka(*pargs)["tiresias"]["avg_jct_s"])
            tj = theirs["jcts"][f"workload-{i}"]
            ratios += [float(row["jct_s"]) / tj[row["id"]] for row in per_job(*pargs) if tj.get(row["id"], 0) > 0]
        m = {k: statistics.mean(v) for k, v in ours.items()}
        print(f"| {load}x | {m['fifo']:.0f} | {m['srtf']:.0f} | {m['tiresias']:.0f} | {m['pollux-settings']:.0f} | "
              f"{theirs['mean']:.0f} | {m['pollux-settings'] / theirs['mean']:.2f} | {statistics.median(ratios):.2f} | "
              f"{pollux_mean:.0f} |")
    print()


def tiresias_sample():
    print("### Tiresias 60-job sample: average JCT (s) by cluster size\n")
    names = ["fifo", "sjf", "easy", "srtf", "tiresias"]
    thresholds = ["900", "3600", "57600"]
    print("| cluster | " + " | ".join(names[:-1]) + " | " + " | ".join(f"tiresias {t} GPU-s" for t in thresholds) + " |")
    print("|---|" + "---:|" * (len(names) - 1 + len(thresholds)))
    for nodes in [16, 4, 2, 1]:
        args = ["--trace", os.path.join(T, "tiresias-sample", "60_job.csv"), "--format", "tiresias", "--nodes",
                str(nodes), "--gpus-per-node", "4"]
        r = wanka(*args, "--policy", ",".join(names[:-1]))
        las = [wanka(*args, "--policy", "tiresias", "--las-thresholds", t)["tiresias"] for t in thresholds]
        print(f"| {nodes} x 4 GPUs | " + " | ".join(f"{r[n]['avg_jct_s']:.0f}" for n in names[:-1]) + " | " +
              " | ".join(f"{p['avg_jct_s']:.0f}" for p in las) + " |")
    print()


def philly():
    trace = os.path.join(T, "philly-pollux", "philly.csv")
    acme = {row["id"]: row for row in csv.DictReader(open(os.path.join(T, "acme-summary", "cluster_summary.csv")))}["Philly"]
    print("### Philly trace (82,247 jobs), 8-GPU nodes, racks of 8: queueing and run time (s)\n")
    print(f"Acme summary row for Philly: average queue {float(acme['avg_que_time_gpu']):.0f} s, median queue "
          f"{float(acme['med_que_time_gpu']):.0f} s, average run {float(acme['avg_run_time_gpu']):.0f} s, "
          f"median run {float(acme['med_run_time_gpu']):.0f} s, average GPUs {float(acme['avg_gpu_num']):.2f}.\n")
    # Demand with unlimited GPUs (every job starts on arrival): daily averages of GPUs busy.
    with tempfile.TemporaryDirectory() as d:
        series = os.path.join(d, "s.csv")
        subprocess.run([W, "cluster", "--trace", trace, "--format", "philly", "--nodes", "2000", "--gpus-per-node", "8",
                        "--series", series, "--series-points", "109", "--csv"], check=True, capture_output=True)
        busy = sorted(float(r["busy_gpus"]) for r in csv.DictReader(open(series)))
    q = lambda f: busy[min(len(busy) - 1, int(f * len(busy)))]
    print(f"Demand with unlimited GPUs, daily averages of busy GPUs over the 109 days: mean {statistics.mean(busy):.0f}, "
          f"median {q(0.5):.0f}, p90 {q(0.9):.0f}, p95 {q(0.95):.0f}, max {busy[-1]:.0f}.\n")
    print("| GPUs | placement | policy | avg queue | p50 queue | p99 queue | avg run | p50 JCT | utilization |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for nodes in [88, 92, 96, 100, 110]:
        for placement in ["consolidate", "strict"]:
            policies = "all" if nodes == 92 else "fifo,quota"
            r = wanka("--trace", trace, "--format", "philly", "--nodes", str(nodes), "--gpus-per-node", "8",
                      "--nodes-per-rack", "8", "--placement", placement, "--policy", policies)
            for n, p in r.items():
                print(f"| {nodes * 8} | {placement} | {n} | {p['avg_queue_s']:.0f} | {p['p50_queue_s']:.0f} | "
                      f"{p['p99_queue_s']:.0f} | {p['avg_run_s']:.0f} | {p['p50_jct_s']:.0f} | {p['utilization']:.3f} |")
    print()


def synthetic():
    trace = os.path.join(T, "philly-pollux", "philly.csv")
    print("### Synthetic workload fitted from Philly (82,247 jobs, seed 1) against the trace\n")
    print("| workload | mean duration s | median duration s | GPU-hours | FIFO avg queue at 736 GPUs |")
    print("|---|---:|---:|---:|---:|")
    for label, extra in [("Philly trace", []), ("synthetic", ["--synthetic", "82247", "--seed", "1"])]:
        args = ["--trace", trace, "--format", "philly", "--nodes", "92", "--gpus-per-node", "8", "--nodes-per-rack", "8",
                "--policy", "fifo", *extra]
        rows = per_job(*args)
        d = [float(r["duration_s"]) for r in rows]
        gpu_h = sum(float(r["duration_s"]) * int(r["gpus"]) for r in rows) / 3600
        q = wanka(*args)["fifo"]["avg_queue_s"]
        print(f"| {label} | {statistics.mean(d):.0f} | {statistics.median(d):.0f} | {gpu_h:.0f} | {q:.0f} |")
    print()


if __name__ == "__main__":
    pollux()
    tiresias_sample()
    philly()
    synthetic()
