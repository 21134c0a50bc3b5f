#!/usr/bin/env python3
"""Build the curated serving validation set for wanka (issue 5).

Reads ../shared/data/validation/inference.csv (see README.md next to it) and writes
data/validation/inference.csv: one row per configuration and metric that wanka can
reproduce, with every setting the simulator needs and how each was obtained.

Usage:
    python3 tools/curate_inference.py [SHARED_INFERENCE_CSV] [OUTPUT_CSV]

Kept (per source):
  trtllm-perf      TensorRT-LLM perf-overview max-throughput tables (trtllm-bench, uniform
                   ISL/OSL, all requests at once): output tokens/s
  trtllm-0.19-tp   TensorRT-LLM 0.19 TP-scaling series (same benchmark): output tokens/s
  trtllm-0.6-static  TensorRT-LLM v0.6.1 static-batch peak throughput (batch given): per GPU
  trtllm-0.5-static  TensorRT-LLM v0.5.0 static-batch throughput (batch given): output tokens/s
  trtllm-0.5-ttft  TensorRT-LLM v0.5 batch-1 first-token latency: TTFT
  vllm-mi300x      vLLM on 8 MI300X (Oracle blog): benchmark_latency (static batch; mean
                   end-to-end latency and output tokens/s) and benchmark_throughput
Dropped, with the reason printed to stderr: MLPerf rows (the OpenOrca length distribution is
not given), A100 rows of the v0.6.1 table (the source does not say per GPU or total), L40S
(not in the catalog), the SGLang DeepSeek PD run (DeepEP/EPLB large-scale EP and two-batch
overlap are not modelled) and third-party blogs (input/output lengths not stated).
Standard library only.
"""

import csv
import os
import re
import sys

OUT = ["id", "source", "model", "model_spec", "gpu", "num_gpus", "tp", "pp", "ep", "attention_dp", "weight_precision",
       "kv_precision", "input_len", "output_len", "requests", "max_batch", "max_batch_tokens", "kv_pool", "decode_kv_reads", "mode",
       "metric", "value", "unit", "trust", "derivation", "citation"]

MODELS = {
    "Llama-3.3-70B": ("llama3-70b", ""),
    "Llama-3.1-8B": ("llama3-8b", ""),
    "Llama-3.1-405B": ("llama3-405b", ""),
    "LLaMA-7B": ("llama2-7b", ""),   # LLaMA-1 7B: same shapes as Llama-2-7B (32 x 4096, 32 heads, ffn 11008, vocab 32000)
    "LLaMA-70B": ("llama2-70b", ""),  # TRT-LLM 0.5/0.6 era "LLaMA 70B" = Llama-2-70B (GQA 8)
    # Shapes from the Hugging Face config.json of each model (outside the source rows).
    "GPT-J-6B": ("gpt-j-6b", "{name: gpt-j-6b, layers: 28, hidden: 4096, heads: 16, ffn_hidden: 16384, vocab: 50400, "
                             "activation: gelu, norm: layernorm, position: rope, max_seq_len: 2048}"),
    "Falcon-180B": ("falcon-180b", "{name: falcon-180b, layers: 80, hidden: 14848, heads: 232, kv_heads: 8, head_dim: 64, "
                                   "ffn_hidden: 59392, vocab: 65024, activation: gelu, norm: layernorm, position: rope, "
                                   "max_seq_len: 2048}"),
    "Qwen3-235B-A22B (MoE)": ("qwen3-235b-a22b", "{name: qwen3-235b-a22b, layers: 94, hidden: 4096, heads: 64, kv_heads: 4, "
                                                 "head_dim: 128, ffn_hidden: 12288, vocab: 151936, activation: swiglu, "
                                                 "norm: rmsnorm, position: rope, max_seq_len: 40960, "
                                                 "moe: {experts: 128, top_k: 8, ffn_hidden: 1536}}"),
}
GPUS = {"H100-SXM-80GB": "h100-sxm", "H100-80GB": "h100-sxm", "H200-SXM-141GB": "h200", "B200-180GB": "b200",
        "A100-80GB": "a100-80g", "MI300X-192GB": "mi300x"}


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "..", "shared", "data", "validation", "inference.csv")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(repo, "data", "validation", "inference.csv")
    rows = list(csv.DictReader(open(src, newline="")))
    out, dropped = [], {}
    for r in rows:
        s, sc, metric = r["source"], r["scenario"], r["metric"]
        def drop(why):
            dropped[why] = dropped.get(why, 0) + 1
        if s.startswith("github:mlcommons"):
            drop("MLPerf: OpenOrca length distribution not given"); continue
        if "lmsys.org" in s:
            drop("SGLang DeepSeek PD + large-scale EP (DeepEP, EPLB, two-batch overlap) not modelled"); continue
        if "spheron" in s or "runinfra" in s:
            drop("third-party blog, input/output lengths not stated"); continue
        if r["model"] not in MODELS:
            drop("model not available: " + r["model"]); continue
        if r["gpu_type"] not in GPUS:
            drop("GPU not in the catalog: " + r["gpu_type"]); continue
        model, spec = MODELS[r["model"]]
        gpu = GPUS[r["gpu_type"]]
        prec = r["precision"].strip().lower()
        tp = int(r["tp"] or r["num_gpus"])
        pp = int(r["pp"] or 1)
        n = int(r["num_gpus"])
        isl, osl = int(r["input_len"]), int(r["output_len"])
        row = dict(model=model, model_spec=spec, gpu=gpu, num_gpus=n, tp=tp, pp=pp, ep=1, attention_dp="false",
                   input_len=isl, output_len=osl, value=r["value"], trust="high", citation=s)
        deriv = []
        if "attention DP enabled" in r["notes"]:
            # The source: "MoE run with --ep, attention DP enabled" (its EP size is not printed):
            # attention data-parallel on every GPU, routed experts expert-parallel over the tp GPUs.
            row.update(ep=tp, attention_dp="true")
            deriv.append("attention DP and expert parallelism from the source's note; ep = tp = %d assumed (the EP"
                         " size is not printed)" % tp)
        if "perf-overview" in s or "0.19.0" in s:
            source = "trtllm-0.19-tp" if "0.19.0" in s else "trtllm-perf"
            # trtllm-bench throughput: all requests at once; ModelOpt FP8/FP4 checkpoints carry an FP8 KV cache.
            row.update(weight_precision=prec, kv_precision="fp8", requests=2000, max_batch=2048, max_batch_tokens=8192,
                       mode="offline", metric="output_tokens_per_s", unit="tokens/s")
            deriv.append("trtllm-bench throughput mode: all requests at t=0 (infinite rate); 2,000 requests simulated;"
                         " max_batch 2048 and max_num_tokens 8192 assumed (trtllm-bench tunes them per ISL/OSL, not"
                         " printed); FP8 KV cache assumed for the ModelOpt-quantized checkpoints")
        elif "static batch peak" in sc:
            if gpu == "a100-80g":
                drop("v0.6.1 A100 table: per GPU or total not stated"); continue
            b = int(r["batch_or_concurrency"])
            source = "trtllm-0.6-static"
            row.update(weight_precision=prec, kv_precision="fp8" if prec == "fp8" else prec, requests=b, max_batch=b,
                       max_batch_tokens=max(8192, b * isl), mode="static",
                       metric="output_tokens_per_s_per_gpu" if metric == "output_throughput_per_gpu" else "output_tokens_per_s",
                       unit=r["unit"])
            deriv.append("static batching: one batch of %d requests, whole context phase in one iteration" % b)
        elif "static batch throughput (v0.5" in sc:
            b = int(r["batch_or_concurrency"])
            source = "trtllm-0.5-static"
            row.update(weight_precision=prec, kv_precision="fp8" if prec == "fp8" else prec, requests=b, max_batch=b,
                       max_batch_tokens=max(8192, b * isl), mode="static", metric="output_tokens_per_s", unit="tokens/s")
            deriv.append("static batching: one batch of %d requests; 'out tok/s' read as total over the GPUs;"
                         " FP8 KV cache assumed as in the v0.6.1 table" % b)
        elif "first-token" in sc:
            source = "trtllm-0.5-ttft"
            row.update(weight_precision=prec, kv_precision=prec, requests=1, max_batch=1, max_batch_tokens=max(8192, isl),
                       mode="latency", metric="ttft_s", value=str(float(r["value"]) / 1000), unit="s")
            deriv.append("one request, output 1 token: TTFT = one prefill iteration; value converted from ms")
        elif "oracle" in s:
            source = "vllm-mi300x"
            row.update(weight_precision=prec, kv_precision="bf16", trust="medium")
            if r["batch_or_concurrency"]:
                b = int(r["batch_or_concurrency"])
                row.update(requests=b, max_batch=b, max_batch_tokens=max(8192, b * isl), mode="static")
                if metric == "e2e_latency_avg":
                    row.update(metric="e2e_s", unit="s")
                else:
                    row.update(metric="output_tokens_per_s", unit="tokens/s")
                deriv.append("vLLM benchmark_latency: one batch of %d requests (static); vLLM default bf16 KV cache" % b)
            else:
                row.update(requests=1000, max_batch=256, max_batch_tokens=8192, mode="offline",
                           metric="output_tokens_per_s", unit="tokens/s")
                deriv.append("vLLM benchmark_throughput: 1,000 requests at once (vLLM default), max_num_seqs 256 (vLLM"
                             " default), bf16 KV cache (vLLM default 'auto')")
        else:
            drop("unrecognised table: " + sc); continue
        if spec:
            deriv.append("architecture from the model's Hugging Face config.json (outside the source)")
        # KV pool sizing of the framework (docs/model.md §17.1): TensorRT-LLM gives the KV cache
        # 90 % of the memory left after weights (KvCacheConfig.free_gpu_memory_fraction); vLLM
        # gives it what is left of 90 % of HBM.
        row["kv_pool"] = "vllm" if source.startswith("vllm") else "tensorrt-llm"
        # Decode attention kernel of the software version (docs/model.md §17.1): TensorRT-LLM
        # v0.5 and v0.6 generate with the masked multi-head attention kernel, one thread block
        # per query head, so a GQA model's KV head is read once per query head; XQA, which
        # shares it across the group, came after v0.6.1 (NVIDIA's December 2023 TensorRT-LLM
        # H200 blog). Current TensorRT-LLM and vLLM read each KV head once.
        old = source.startswith("trtllm-0.5") or source.startswith("trtllm-0.6")
        row["decode_kv_reads"] = "per_query_head" if old else "per_kv_head"
        if old:
            deriv.append("pre-XQA decode kernel (TensorRT-LLM %s): KV read once per query head"
                         % ("v0.5.0" if source.startswith("trtllm-0.5") else "v0.6.1"))
        row["source"] = source
        row["id"] = "-".join([source, slug(model), gpu, "tp%d" % tp, "%d-%d" % (isl, osl)] +
                             (["b%s" % r["batch_or_concurrency"]] if r["batch_or_concurrency"] and row["mode"] != "offline" else []) +
                             [row["metric"].split("_")[0]])
        row["derivation"] = "; ".join(deriv)
        out.append(row)
    ids = set()
    for row in out:
        assert row["id"] not in ids, row["id"]
        ids.add(row["id"])
    with open(dst, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=OUT, lineterminator="\n")
        w.writeheader()
        for row in out:
            w.writerow(row)
    counts = {}
    for row in out:
        counts[row["source"]] = counts.get(row["source"], 0) + 1
    for k, v in sorted(counts.items()):
        print("kept %-18s %d" % (k, v), file=sys.stderr)
    for k, v in sorted(dropped.items()):
        print("dropped %3d: %s" % (v, k), file=sys.stderr)


if __name__ == "__main__":
    main()
