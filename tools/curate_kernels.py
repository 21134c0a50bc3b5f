#!/usr/bin/env python3
"""Build the curated kernel-level validation set for wanka (`wanka validate --kernels`).

Reads ../shared/data/validation/calibration.csv (microbenchmarks on one device) and writes
data/validation/kernels.csv: one row per microbenchmark that the operation models of src/hw
(docs/model.md §4) can be asked about, with the shape and settings they need.

Usage:
    python3 tools/curate_kernels.py [SHARED_CALIBRATION_CSV] [OUTPUT_CSV]

Kept (source column of the output):
  gemm-azure     cuBLASLt/hipBLASLt GEMM TFLOP/s by shape (Azure AI-benchmarking-guide: A100 FP16,
                 H100/H200/GB200 FP8, MI300X FP8)
  gemm-torch     PyTorch square BF16 matmuls on one H100 (single user run, low-medium trust)
  gemm-mamf      best achievable matmul (MAMF finder) at its best shape, catalog GPUs only
  gemm-deepgemm  DeepGEMM FP8 GEMMs on H800: dense M = 64 / 128 / 4096 and grouped MoE layouts
                 (a grouped GEMM is costed as one kernel: the sum of the groups' FLOPs and bytes
                 plus one fixed cost)
  attention-fa3-causal, attention-fa3-full
                 FlashAttention-3 paper figure values on H100, 16-bit, forward and backward, causal
                 and not (training only runs causal attention; the non-causal rows show what the
                 mask costs): FlashAttention-2 series -> training.attention flash2, cuDNN and
                 FlashAttention-3 series -> flash (the best fused kernel)
  hbm-stream     STREAM-like kernels (Copy/Mul/Add/Triad/Dot) and one memory-bound softmax
  p2p            one GPU-to-GPU transfer inside a node at its plateau (CUDA p2pBandwidthLatencyTest,
                 NCCL sendrecv)
  collective-small, collective-mid, collective-large
                 all-reduce, all-gather and reduce-scatter bus bandwidth by message size (<= 256 KiB,
                 between, >= 16 MiB) and GPU count (nccl-tests and torch.distributed sweeps), inside
                 one scale-up domain and across nodes; the message-size curve of docs/model.md §5.2
                 was fitted to the sweeps among them, so those rows are in-sample
  ep-a2a         MoE expert-parallel dispatch and combine (DeepEP V1 normal kernels on H800, 4,096
                 tokens, hidden 7,168: NVLink inside one node, RDMA across 2-8 nodes) as bottleneck-link
                 bandwidth: the all-to-all model of docs/model.md §5.3
  ep-a2a-lowlatency
                 DeepEP V1 low-latency kernels (128 decode tokens, top-8, every byte over RDMA, also
                 inside a node) as latency: the same model, which sends intra-node bytes over NVLink
Dropped, with the reason printed to stderr: GPUs that are not in the catalog, FP8 attention
(wanka runs attention in 16 bit), rows whose kernel, direction or causality are not stated,
and measurements that are not one kernel on one device.
Standard library only.
"""

import csv
import os
import re
import sys

from fit_collective_curve import message_size  # the same size-label reading the curve fit uses

OUT = ["id", "source", "model", "kind", "gpu", "precision", "m", "n", "k", "groups", "batch", "seq_len", "heads",
       "head_dim", "causal", "attention", "num_gpus", "bytes", "nic_gbps", "nvls", "metric", "value", "unit", "trust",
       "derivation", "citation"]

COLLECTIVES = {"allreduce_busbw": "all_reduce", "allgather_busbw": "all_gather", "reducescatter_busbw": "reduce_scatter"}
# Scale-out line rate per GPU of the multi-node sweeps, from the node description in gpu_type.
# p5en.48xlarge: 16 x 200 Gb/s EFA per 8-GPU node, as the sibling row of the same source states.
NIC_GBPS = {"8x 50 GB/s EFA v4": 400, "16x 200 Gb/s EFA per node": 400, "p5en.48xlarge": 400,
            "400 Gb/s IB per GPU": 400}


# calibration.csv gpu_type -> catalog name (None: not in the catalog)
def catalog_gpu(gpu_type):
    g = gpu_type
    if "GH200" in g or "GB300" in g or "B300" in g or "Gaudi" in g or "MI325" in g or "MI355" in g or "MI250" in g:
        return None
    if "GB200" in g:
        return "gb200"
    if "B200" in g:
        return "b200"
    if "H200" in g:
        return "h200"
    if "H800" in g:
        return "h800"
    if "H100" in g:
        return "h100-pcie" if "PCIe" in g else "h100-sxm"
    if "A100" in g:
        if "PCIe" in g:
            return None  # the catalog's A100 entries are SXM parts
        return "a100-40g" if "40GB" in g else "a100-80g"
    if "MI300X" in g:
        return "mi300x"
    return None


def precision(p):
    p = p.upper()
    if p.startswith("FP8"):
        return "fp8"
    if p.startswith("BF16") or p == "FP16/BF16":
        return "bf16"
    if p.startswith("FP16"):
        return "fp16"
    return None


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def shape(text):
    """M, N, K, groups from 'M=..; N=..; K=..', 'groups=g; M_per_group=..', 'AxBxC' or 'square matmul S'."""
    d = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", text))
    if "N" in d and "K" in d and ("M" in d or "M_per_group" in d):
        return d.get("M", d.get("M_per_group")), d["N"], d["K"], d.get("groups", 1)
    m = re.search(r"(\d+)x(\d+)x(\d+)", text)
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(3)), 1
    m = re.search(r"square matmul (\d+)", text)
    if m:
        s = int(m.group(1))
        return s, s, s, 1
    return None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "shared", "data", "validation",
                                                                 "calibration.csv")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "data", "validation", "kernels.csv")
    out, seen = [], set()

    def drop(x, why):
        print(f"dropped: {x['source'][:40]} | {x['gpu_type'][:30]} | {x['model'][:50]}: {why}", file=sys.stderr)

    def emit(row):
        base, i = row["id"], 2
        while row["id"] in seen:
            row["id"] = f"{base}-{i}"
            i += 1
        seen.add(row["id"])
        out.append(row)

    for x in csv.DictReader(open(src, newline="")):
        metric, gpu = x["metric"], catalog_gpu(x["gpu_type"])
        cite = x["source_url"] or x["source"]
        common = {"model": x["model"], "trust": x["trust"], "citation": cite}
        if metric in ("gemm_tflops", "matmul_tflops", "max_achievable_matmul_tflops"):
            if gpu is None:
                drop(x, "GPU not in the catalog")
                continue
            if "torch.bmm" in x["model"]:
                drop(x, "d_ff alignment sweep on an unstated H100 variant (alignment is not modelled)")
                continue
            sh = shape(x["other"] + " " + x["model"])
            p = precision(x["precision"])
            if sh is None or p is None:
                drop(x, "shape or precision not given")
                continue
            m, n, k, g = sh
            if "DeepGEMM" in x["source"]:
                source = "gemm-deepgemm"
                layout = "grouped-contiguous" if "contiguous" in x["model"] else (
                    "grouped-masked" if "masked" in x["model"] else "dense")
                deriv = (f"DeepGEMM {layout}: {g} group(s) of M={m}, N={n}, K={k}; FP8 e4m3 with block scaling "
                         "(scale bytes not counted), BF16 output; H800 has H100 SXM compute and HBM")
            elif metric == "max_achievable_matmul_tflops":
                source = "gemm-mamf"
                deriv = f"MAMF finder best shape {m}x{n}x{k} ({x['table_or_section']}); the figure e_mm is derived from"
            elif "torch-performance" in x["source"]:
                source = "gemm-torch"
                deriv = f"torch.matmul {m}^3, {x['other']}"
            else:
                source = "gemm-azure"
                deriv = f"{x['model']} {m}x{n}x{k}, {x['other']}"
            emit(dict(common, id=slug(f"{source}-{gpu}-{p}-{g}x{m}x{n}x{k}"), source=source, kind="gemm", gpu=gpu,
                      precision=p, m=m, n=n, k=k, groups=g, metric="tflops", value=x["value"], unit="TFLOP/s",
                      derivation=deriv))
        elif metric in ("attention_forward_tflops", "attention_backward_tflops"):
            if "FlashAttention-3 paper" not in x["source"]:
                drop(x, "GPU model not stated")
                continue
            p = precision(x["precision"])
            if p == "fp8":
                drop(x, "FP8 attention (wanka runs attention in 16 bit)")
                continue
            o = x["other"]
            direction = "fwd" if metric == "attention_forward_tflops" else "bwd"
            d = dict((kk, int(v)) for kk, v in re.findall(r"(\w+)=(\d+)", o))
            if "inferred causal" in o or "causal=true" in o:
                causal = "true"
            elif "inferred non-causal" in o or "causal=false" in o:
                causal = "false"
            elif direction == "bwd" and "not stated" in o:
                # The backward figure does not say; calibration.yaml reads it as non-causal (its
                # h100-sxm basis), and so does this check.
                causal = "false"
            else:
                drop(x, "causality not determined")
                continue
            kern = x["model"]
            attention = "flash2" if "FlashAttention-2" in kern else "flash"
            hd, b, s = d["head_dim"], d["batch"], int(x["seq_len"])
            heads = int(x["heads"]) if x["heads"] else int(x["hidden"]) // hd
            label = re.search(r"\((.*)\)", kern).group(1)
            emit(dict(common, id=slug(f"attn-{direction}-{label}-{gpu}-d{hd}-s{s}-{'causal' if causal == 'true' else 'full'}"),
                      source="attention-fa3-" + ("causal" if causal == "true" else "full"), kind="attention_" + direction, gpu=gpu, precision="bf16", batch=b,
                      seq_len=s, heads=heads, head_dim=hd, causal=causal, attention=attention, metric="tflops",
                      value=x["value"], unit="TFLOP/s",
                      derivation=(f"{label} {direction}, batch {b} x {heads} heads x head dim {hd}, sequence {s}, "
                                  f"causal {causal} ({'inferred by the transcriber' if 'inferred' in o else 'not stated; assumed non-causal as in calibration.yaml'}); "
                                  "FLOPs by the FlashAttention convention (forward 4 b s^2 H d, halved when causal; "
                                  f"backward 2.5x); {label} -> training.attention {attention}")))
        elif metric in COLLECTIVES:
            if gpu is None:
                drop(x, "GPU not in the catalog")
                continue
            size = message_size(x["model"]) or message_size(x["other"])
            if not x["num_gpus"] or size is None or re.search(r"\d+G-\d+G", x["model"] + x["other"]):
                drop(x, "GPU count or one message size not given")
                continue
            n = int(x["num_gpus"])
            nic = ""
            if n > 8 and "NVL72" not in x["gpu_type"]:
                nic = next((str(v) for k, v in NIC_GBPS.items() if k in x["gpu_type"]), None)
                if nic is None:
                    drop(x, "multi-node sweep without a stated NIC rate")
                    continue
            coll = COLLECTIVES[metric]
            regime = "large" if size >= 16 * 2**20 else ("small" if size <= 256 * 1024 else "mid")
            emit(dict(common, id=slug(f"{coll}-{gpu}-n{n}-{size}-{x['source'][:12]}"), source=f"collective-{regime}",
                      kind=coll, gpu=gpu, num_gpus=n, bytes=size, nic_gbps=nic,
                      # NVLS switched off by the benchmark (NCCL_NVLS_ENABLE=0): the model runs without it
                      nvls="off" if "NVLS_ENABLE=0" in x["other"] else "", metric="busbw_gbytes_per_s",
                      value=x["value"], unit="GB/s",
                      derivation=(f"{coll.replace('_', '-')} of {size} B on {n} GPUs ({x['gpu_type']}); "
                                  f"{x['other']}; bus bandwidth as nccl-tests defines it "
                                  "(all-reduce 2(n-1)/n S/t, all-gather and reduce-scatter (n-1)/n S/t)").strip()))
        elif metric in ("p2p_unidirectional_bandwidth", "sendrecv_bandwidth_plateau"):
            # One GPU-to-GPU transfer inside a node at its plateau (the p2p model has no size
            # curve; 1 GiB stands for "large"): CUDA p2pBandwidthLatencyTest copies, NCCL sendrecv.
            if gpu is None:
                drop(x, "GPU not in the catalog")
                continue
            tool = "nccl-sendrecv" if metric.startswith("sendrecv") else "copy-engine"
            emit(dict(common, id=slug(f"p2p-{tool}-{gpu}"), source="p2p", kind="p2p", gpu=gpu,
                      num_gpus=x["num_gpus"] or "2", bytes=2**30, metric="gbytes_per_s", value=x["value"], unit="GB/s",
                      derivation=f"{x['model']}: {x['other']}; {x['notes']}".strip()))
        elif metric.startswith("ep_dispatch_") or metric.startswith("ep_combine_"):
            # DeepEP (DeepSeek-V3 setting: hidden 7,168, top-8 of 256 experts in 8 groups, FP8
            # dispatch with one fp32 scale per 128 elements, BF16 combine). Only the V1 figures
            # name the GPU (H800); the V2 rows give "SM90"/"SM100" without a model.
            if gpu is None or "legacy" not in x["source"]:
                drop(x, "GPU model not stated")
                continue
            op = "dispatch" if metric.startswith("ep_dispatch_") else "combine"
            n = int(x["num_gpus"])
            tokens = int(re.search(r"(\d+) tokens per batch", x["other"]).group(1))
            hidden = 7168
            elem = 1.0 + 4.0 / 128 if op == "dispatch" else 2.0  # FP8 + scales, or BF16
            if "low-latency" in x["model"]:
                # Every token to each of its top-8 experts, no deduplication.
                copies, source = 8, "ep-a2a-lowlatency"
            else:
                # Normal kernels send a token once per destination rank (at most the 4 groups it
                # may route to; DeepSeek-V3 maps a group to a node, so inside one node to a rank).
                copies, source = 4, "ep-a2a"
            nbytes = int(tokens * copies * hidden * elem)
            nic = next((str(v) for k, v in NIC_GBPS.items() if k in x["gpu_type"]), None) if n > 8 else ""
            if nic is None:
                drop(x, "multi-node run without a stated NIC rate")
                continue
            if metric.endswith("_latency"):
                kind_metric, unit, value = "latency_us", "us", x["value"]
            elif metric.endswith("_bottleneck_bandwidth") or metric.endswith("_rdma_bandwidth"):
                if source == "ep-a2a-lowlatency":
                    drop(x, "low-latency RDMA bandwidth counts intra-node bytes sent over RDMA: compared as latency instead")
                    continue
                kind_metric, unit, value = "gbytes_per_s", "GB/s", x["value"]
            else:
                drop(x, "metric not modelled")
                continue
            emit(dict(common, id=slug(f"{source}-{op}-{gpu}-ep{n}-{kind_metric}"), source=source, kind="all_to_all",
                      gpu=gpu, num_gpus=n, bytes=nbytes, nic_gbps=nic, metric=kind_metric,
                      value=value, unit=unit,
                      derivation=(f"DeepEP {x['model']}: {x['other']}; {x['notes']}; modelled as one all-to-all of "
                                  f"{tokens} tokens x {copies} destinations x hidden {hidden} x {elem:g} B = {nbytes} B "
                                  "per rank (hidden and element sizes: DeepSeek-V3, as DeepEP's benchmark); "
                                  + ("bandwidth = the bytes the model sends over the bottleneck link (NVLink inside "
                                     "a node, the NIC across nodes) / its time" if kind_metric == "gbytes_per_s"
                                     else "latency = the model's all-to-all time"))))
        elif metric in ("hbm_bandwidth", "dram_throughput"):
            if gpu is None:
                drop(x, "GPU not in the catalog")
                continue
            unit = x["unit"]
            scale = {"TB/s": 1.0, "GB/s": 1e-3}.get(unit)
            if scale is None:
                drop(x, f"unit {unit}")
                continue
            emit(dict(common, id=slug(f"hbm-{gpu}-{x['model']}"), source="hbm-stream", kind="hbm", gpu=gpu,
                      metric="tbytes_per_s", value=f"{float(x['value']) * scale:g}", unit="TB/s",
                      derivation=f"{x['model']} {x['other']}".strip()))
    out.sort(key=lambda r: (r["source"], r["id"]))
    with open(dst, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=OUT, lineterminator="\n")
        w.writeheader()
        for r in out:
            w.writerow(r)
    print(f"{len(out)} rows -> {dst}", file=sys.stderr)


if __name__ == "__main__":
    main()
