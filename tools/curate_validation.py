#!/usr/bin/env python3
"""Build the curated end-to-end training validation set for wanka.

Reads the published-measurement tables megatron.csv, nemo.csv and frameworks.csv
(see README.md next to them) and writes data/validation/training.csv: one row per
training configuration with exactly one metric (tokens_per_s_per_gpu when the
source gives it or it can be converted exactly, else step_time_s).

Usage:
    python3 tools/curate_validation.py [SHARED_VALIDATION_DIR] [OUTPUT_CSV]

SHARED_VALIDATION_DIR defaults to ../shared/data/validation (relative to the
current directory, then to the repository root). OUTPUT_CSV defaults to
<repo>/data/validation/training.csv. Skipped source configurations and the row
count per source are printed to stderr. Standard library only.
"""

import csv
import math
import os
import re
import sys

OUT_COLUMNS = [
    "id", "source", "model", "layers", "hidden", "heads", "kv_heads", "head_dim",
    "ffn_hidden", "vocab", "activation", "moe_experts", "moe_top_k", "moe_ffn_hidden",
    "seq_len", "global_batch", "gpu", "num_gpus", "gpus_per_node", "tp", "pp", "dp",
    "cp", "ep", "vpp", "mbs", "sequence_parallel", "recompute", "zero", "reshard_after_forward", "precision",
    "attention", "cross_entropy", "fp32_grads", "overlap_tp", "metric", "value", "unit", "trust", "derivation", "citation",
]

# Columns of the source tables that describe a configuration (everything except
# the metric, its value/unit, per-metric notes and per-metric trust wording).
CONFIG_KEY = [
    "source", "table_or_section", "model", "params_b", "layers", "hidden", "heads",
    "seq_len", "global_batch", "gpu_type", "num_gpus", "tp", "pp", "dp", "cp", "ep",
    "vp", "mbs", "precision", "other", "source_url",
]

H100_BF16_PEAK_TFLOPS = 989.4

# ---------------------------------------------------------------------------
# Model architectures that the source tables do not (fully) give.  Every value
# here comes from outside the source rows; rows that use it say so in
# `derivation`.  Keys are normalised model names (see arch_key()).
# ---------------------------------------------------------------------------
ARCH = {
    # NeMo GPT-3 family (NeMo/launcher gpt3 configs: learned abs. pos., LayerNorm, GeLU,
    # ffn = 4h, GPT-2 BPE vocabulary 50257 before padding)
    "gpt3-5b": dict(layers=24, hidden=4096, heads=32, kv_heads=None, ffn=16384, vocab=50257,
                    act="gelu", ref="NeMo gpt3 5b config: 24 layers, hidden 4096, 32 heads, "
                    "ffn 16384 (4h), GeLU, GPT-2 BPE vocab 50257"),
    "gpt3-20b": dict(layers=44, hidden=6144, heads=48, kv_heads=None, ffn=24576, vocab=50257,
                     act="gelu", ref="NeMo gpt3 20b config: 44 layers, hidden 6144, 48 heads, "
                     "ffn 24576 (4h), GeLU, GPT-2 BPE vocab 50257"),
    "gpt3-175b": dict(layers=96, hidden=12288, heads=96, kv_heads=None, ffn=49152, vocab=50257,
                      act="gelu", ref="NeMo gpt3 175b config: ffn 49152 (4h), GeLU, GPT-2 BPE "
                      "vocab 50257 (layers/hidden/heads from the table)"),
    # Nemotron: squared-ReLU, non-gated MLP.  The column only allows gelu|swiglu; it is
    # recorded as gelu (= non-gated two-matrix MLP, same GEMM shapes and FLOPs).
    "nemotron-8b": dict(layers=32, hidden=4096, heads=32, kv_heads=None, ffn=16384, vocab=256000,
                        act="gelu", ref="NeMo nemotron 8b config (Nemotron-3 8B): 32 layers, hidden "
                        "4096, 32 heads (MHA), ffn 16384, vocab 256000, squared-ReLU non-gated MLP "
                        "recorded as gelu"),
    "nemotron-22b": dict(layers=40, hidden=6144, heads=48, kv_heads=None, ffn=24576, vocab=256000,
                         act="gelu", ref="NeMo nemotron 22b config: 40 layers, hidden 6144, 48 heads, "
                         "ffn 24576, vocab 256000, squared-ReLU non-gated MLP recorded as gelu; "
                         "MHA (no GQA) inferred from the table's own TFLOP/s / tokens/s ratio"),
    "nemotron-340b": dict(layers=96, hidden=18432, heads=96, kv_heads=8, ffn=73728, vocab=256000,
                          act="gelu", ref="Nemotron-4 340B config: 96 layers, hidden 18432, 96 heads, "
                          "8 KV heads, ffn 73728, vocab 256000, squared-ReLU non-gated MLP "
                          "recorded as gelu"),
    # Llama family (SwiGLU, RoPE, RMSNorm)
    "llama2-7b": dict(layers=32, hidden=4096, heads=32, kv_heads=None, ffn=11008, vocab=32000,
                      act="swiglu", ref="Llama 2 7B config: ffn 11008, vocab 32000, SwiGLU, MHA"),
    "llama2-13b": dict(layers=40, hidden=5120, heads=40, kv_heads=None, ffn=13824, vocab=32000,
                       act="swiglu", ref="Llama 2 13B config: ffn 13824, vocab 32000, SwiGLU, MHA"),
    "llama2-70b": dict(layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=32000,
                       act="swiglu", ref="Llama 2 70B config: ffn 28672, 8 KV heads, vocab 32000, SwiGLU"),
    "llama3-8b": dict(layers=32, hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=128256,
                      act="swiglu", ref="Llama 3 8B config: ffn 14336, 8 KV heads, vocab 128256, SwiGLU"),
    "llama3-70b": dict(layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=128256,
                       act="swiglu", ref="Llama 3 70B config: ffn 28672, 8 KV heads, vocab 128256, SwiGLU"),
    "llama3-1-405b": dict(layers=126, hidden=16384, heads=128, kv_heads=8, ffn=53248, vocab=128256,
                          act="swiglu", ref="Llama 3.1 405B config: ffn 53248, 8 KV heads, vocab 128256, "
                          "SwiGLU"),
}

# MosaicML MPT (llm-foundry yamls): ffn = expansion_ratio 4 * d_model, vocab 50368, GeLU.
MPT_ARCH = {  # layers, d_model, n_heads
    "mpt-125m": (12, 768, 12), "mpt-350m": (24, 1024, 16), "mpt-760m": (24, 1536, 12),
    "mpt-1b": (24, 2048, 16), "mpt-3b": (32, 2560, 20), "mpt-7b": (32, 4096, 32),
    "mpt-13b": (40, 5120, 40), "mpt-30b": (48, 7168, 56), "mpt-70b": (80, 8192, 64),
}
MPT_VOCAB = 50368

GPU_MAP = [  # (regex on gpu_type, catalog name, note when the form factor is assumed)
    (r"GB200", "gb200", ""),
    (r"A100.*40", "a100-40g", ""),
    (r"A100.*80", "a100-80g", ""),
    (r"H100-SXM|DGX-H100", "h100-sxm", ""),
    (r"H100", "h100-sxm", "H100 form factor not stated; 80GB H100 in multi-node training clusters "
                          "taken as SXM"),
]

CITATIONS = {
    "narayanan2021": "Narayanan et al. 2021 arXiv 2104.04473 Table 1",
    "megatron-h100": "NVIDIA Megatron-LM README (Megatron-Core r0.8.0) H100 weak-scaling table, "
                     "commit 937571cfd4",
    "nemo": "NVIDIA NeMo 24.07 docs performance_summary.md pretraining table, commit 070a0bb168d4",
    "nemo-rev": "NVIDIA NeMo docs performance_summary.md pretraining table, other revision "
                "(container unknown)",
    "nemo-longseq": "NVIDIA NeMo 24.03.01 docs performance_long_sequence.md, commit 0aa267117ae5",
    "mosaicml": "MosaicML llm-foundry scripts/train/benchmarking/README.md @4952183768",
    "torchtitan": "PyTorch torchtitan docs/performance.md, commit 041336434916",
    "dgxc": "NVIDIA dgxc-benchmarking llama3.1/README.md, commit 14fb6ae60402",
}

SKIPPED = []


def warn(msg):
    sys.stderr.write(msg + "\n")


def skip(cfg, why):
    SKIPPED.append((cfg["model"], cfg["num_gpus"], why))
    warn("SKIP %s | %s | %s GPUs | %s" % (cfg["source"][:45], cfg["model"], cfg["num_gpus"] or "?", why))


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def slug(text):
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def arch_key(model):
    m = model.lower().replace("llama ", "llama").replace(" ", "-")
    return slug(m)


def to_int(text):
    text = (text or "").strip()
    if text == "":
        return None
    v = float(text)
    if v != int(v):
        raise ValueError("not an integer: %r" % text)
    return int(v)


def fnum(x, sig=5):
    """Fixed-point rendering of a derived number with `sig` significant digits."""
    digits = max(0, sig - 1 - int(math.floor(math.log10(abs(x))))) if x else 0
    text = "%.*f" % (digits, x)
    return text.rstrip("0").rstrip(".") if "." in text else text


def sci(x):
    return "%.4e" % x


def trust_word(trust):
    m = re.match(r"\s*([a-z]+)", trust.lower())
    word = m.group(1) if m else ""
    if word not in ("high", "medium", "low"):
        raise ValueError("unknown trust wording %r" % trust)
    return word


def precision_of(text):
    t = text.lower()
    if "fp8" in t:
        return "fp8"
    if "fp16" in t:
        return "fp16"
    if "bf16" in t:
        return "bf16"
    return ""


def gpu_of(gpu_type):
    for pat, name, note in GPU_MAP:
        if re.search(pat, gpu_type):
            return name, note
    return "", ""


def model_flops_per_token(layers, hidden, heads, kv_heads, head_dim, ffn, vocab, seq, gated):
    """Model FLOPs per token, 3 passes (fwd+bwd), no recompute, full (non-causal) s x s
    attention, GQA-aware, logits included: the Megatron-LM num_floating_point_operations
    / NeMo convention."""
    q = heads * head_dim
    kv = kv_heads * head_dim
    proj = 2 * hidden * q + 2 * 2 * hidden * kv + 2 * q * hidden
    core = 2 * 2 * seq * q
    mlp = (3 if gated else 2) * 2 * hidden * ffn
    return 3 * (layers * (proj + core + mlp) + 2 * hidden * vocab)


def blank_row():
    return {c: "" for c in OUT_COLUMNS}


def set_arch(row, layers, hidden, heads, kv_heads, ffn, vocab, act, head_dim=None):
    row.update(layers=layers, hidden=hidden, heads=heads, ffn_hidden=ffn, vocab=vocab,
               activation=act)
    row["kv_heads"] = kv_heads if kv_heads and kv_heads != heads else ""
    row["head_dim"] = head_dim if head_dim and head_dim * heads != hidden else ""


def set_parallel(row, cfg, num_gpus, tp, pp, cp, ep, vpp, mbs, notes):
    dp = to_int(cfg["dp"])
    if dp is None:
        dp = num_gpus // (tp * pp * cp)
        notes.append("dp = num_gpus/(tp*pp*cp) = %d (not given)" % dp)
    if tp * pp * dp * cp != num_gpus:
        raise ValueError("tp*pp*dp*cp != num_gpus")
    row.update(num_gpus=num_gpus, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp,
               mbs="" if mbs is None else mbs)


def check_arch_vs_source(cfg, arch, notes):
    for col, key in (("layers", "layers"), ("hidden", "hidden"), ("heads", "heads")):
        v = to_int(cfg[col])
        if v is not None and v != arch[key]:
            raise ValueError("%s: source %s=%d but architecture table has %d"
                             % (cfg["model"], col, v, arch[key]))


def metrics_of(group):
    out = {}
    for r in group:
        if r["metric"] in out:
            raise ValueError("duplicate metric %s in one configuration" % r["metric"])
        out[r["metric"]] = r
    return out


# ---------------------------------------------------------------------------
# per-source builders: each returns an output row or None (after skip())
# ---------------------------------------------------------------------------

def build_narayanan(cfg, group):
    met = metrics_of(group)
    if "achieved_tflops_per_gpu" not in met:
        return skip(cfg, "no achieved TFLOP/s per GPU")
    vm = re.search(r"vocab (\d+)", cfg["other"])
    if not vm:
        return skip(cfg, "vocabulary not given; needed for the FLOP conversion")
    l, h, a = to_int(cfg["layers"]), to_int(cfg["hidden"]), to_int(cfg["heads"])
    s, V = to_int(cfg["seq_len"]), int(vm.group(1))
    tflops = float(met["achieved_tflops_per_gpu"]["value"])
    f_tok = 96.0 * l * h * h * (1 + s / (6.0 * h) + V / (16.0 * l * h))
    tok = tflops * 1e12 / f_tok
    n, gbs = to_int(cfg["num_gpus"]), to_int(cfg["global_batch"])
    row = blank_row()
    notes = []
    row.update(source="narayanan2021", model=cfg["model"],
               id="narayanan2021-%s-%d" % (slug(cfg["model"]), n))
    set_arch(row, l, h, a, None, 4 * h, V, "gelu")
    row.update(seq_len=s, global_batch=gbs, gpus_per_node=8)
    row["gpu"], _ = gpu_of(cfg["gpu_type"])
    set_parallel(row, cfg, n, to_int(cfg["tp"]), to_int(cfg["pp"]), 1, 1, 1, None, notes)
    row.update(sequence_parallel="false", recompute="full", zero=0,
               precision=precision_of(cfg["precision"]), metric="tokens_per_s_per_gpu",
               value=fnum(tok), unit="tokens/s/GPU")
    agg = met.get("aggregate_pflops")
    agg_txt = ""
    if agg:
        agg_txt = "; check: %g TFLOP/s x %d GPUs = %.1f PFLOP/s vs printed %s" % (
            tflops, n, tflops * n / 1e3, agg["value"])
    row["derivation"] = (
        "tokens/s/GPU = achieved TFLOP/s per GPU x 1e12 / F_tok = %g e12 / %s = %s; "
        "F_tok = 96*l*h^2*(1 + s/(6h) + V/(16*l*h)) (paper Eq.3 per token; counts the "
        "recompute forward, i.e. 4 passes) with l=%d h=%d s=%d V=%d%s; implied step time = "
        "B*s/(tok/s/GPU*N) = %d*%d/(%s*%d) = %.2f s; dp from source (= GPUs/(TP*PP)); "
        "ffn=4h and GeLU are the GPT architecture of the paper (not in the table); "
        "vpp and micro-batch not in Table 1 (vpp=1 by curation convention, mbs empty); "
        "recompute=full (paper uses activation recomputation); zero=0, no SP (2021 Megatron)"
        % (tflops, sci(f_tok), fnum(tok), l, h, s, V, agg_txt, gbs, s, fnum(tok), n,
           gbs * s / (tok * n)))
    row["trust"] = trust_word(met["achieved_tflops_per_gpu"]["trust"])
    row["citation"] = CITATIONS["narayanan2021"]
    return row


def build_megatron_h100(cfg, group):
    met = metrics_of(group)
    if not cfg["tp"] or not cfg["pp"]:
        return skip(cfg, "TP/PP not given (README strong-scaling text; intermediate points only "
                         "in a figure)")
    if "achieved_tflops_per_gpu" not in met:
        return skip(cfg, "no achieved TFLOP/s per GPU")
    vm = re.search(r"vocab (\d+)", cfg["other"])
    if not vm:
        return skip(cfg, "vocabulary not given; needed for the FLOP conversion")
    l, h, a = to_int(cfg["layers"]), to_int(cfg["hidden"]), to_int(cfg["heads"])
    s, V = to_int(cfg["seq_len"]), int(vm.group(1))
    n, gbs = to_int(cfg["num_gpus"]), to_int(cfg["global_batch"])
    tp, pp = to_int(cfg["tp"]), to_int(cfg["pp"])
    tflops = float(met["achieved_tflops_per_gpu"]["value"])
    f_tok = 72.0 * l * h * h * (1 + s / (6.0 * h) + V / (12.0 * l * h))
    assert abs(f_tok - model_flops_per_token(l, h, a, a, h // a, 4 * h, V, s, False)) < 1e-6 * f_tok
    tok = tflops * 1e12 / f_tok
    mfu_txt = ""
    if "mfu" in met:
        mfu = float(met["mfu"]["value"])
        implied = 100.0 * tflops / H100_BF16_PEAK_TFLOPS
        if abs(implied - mfu) > 0.6:
            return skip(cfg, "achieved TFLOP/s (%g) inconsistent with printed MFU %g%%" % (tflops, mfu))
        mfu_txt = ("; consistency: %g/%g = %.1f%% vs printed MFU %g%%, so the TFLOP/s are model "
                   "FLOPs (MFU numerator)" % (tflops, H100_BF16_PEAK_TFLOPS, implied, mfu))
    params = float(cfg["params_b"])
    p_est = (12.0 * l * h * h + 2.0 * V * h) / 1e9
    gpu, gpu_note = gpu_of(cfg["gpu_type"])
    row = blank_row()
    notes = []
    row.update(source="megatron-h100", model=cfg["model"],
               id="megatron-h100-%s-%d" % (slug(cfg["model"]), n))
    set_arch(row, l, h, a, None, 4 * h, V, "gelu")
    row.update(seq_len=s, global_batch=gbs, gpu=gpu, gpus_per_node=8)
    set_parallel(row, cfg, n, tp, pp, 1, 1, 1, None, notes)
    row.update(sequence_parallel="true" if tp > 1 else "false", recompute="", zero=1,
               precision="bf16", metric="tokens_per_s_per_gpu", value=fnum(tok),
               unit="tokens/s/GPU")
    row["derivation"] = (
        "tokens/s/GPU = achieved TFLOP/s per GPU x 1e12 / F_tok = %g e12 / %s = %s; "
        "F_tok = 72*l*h^2*(1 + s/(6h) + V/(12*l*h)) = Megatron-LM num_floating_point_operations "
        "(3 passes, no recompute term, full s x s attention, logits) for MHA, ffn=4h, non-gated, "
        "with l=%d h=%d s=%d V=%d (formula not printed in the README: taken from the Megatron-LM "
        "code that logs this TFLOP/s; the shared README says Megatron counts attention FLOPs)%s; "
        "implied step time = %d*%d/(%s*%d) = %.2f s; "
        "ffn=4h and GeLU not in the source (GPT default; consistent with params: 12*l*h^2+2*V*h = "
        "%.1fB vs %gB; a SwiGLU MLP with ffn=8h/3 has the same FLOPs); precision not stated, bf16 "
        "taken (MFU matches the BF16 dense peak); dp from source; cp=ep=1, vpp=1 and mbs not given; "
        "sequence_parallel=true when tp>1 and zero=1 because --tp-comm-overlap needs sequence "
        "parallelism and --overlap-param-gather needs the distributed optimizer; recompute not "
        "stated (left empty)%s"
        % (tflops, sci(f_tok), fnum(tok), l, h, s, V, mfu_txt, gbs, s, fnum(tok), n,
           gbs * s / (tok * n), p_est, params, ("; " + gpu_note) if gpu_note else ""))
    row["trust"] = trust_word(met["achieved_tflops_per_gpu"]["trust"])
    row["citation"] = CITATIONS["megatron-h100"]
    return row


def nemo_arch(cfg):
    key = arch_key(cfg["model"])
    if key not in ARCH:
        return None, None
    arch = ARCH[key]
    check_arch_vs_source(cfg, arch, [])
    filled = []
    for col in ("layers", "hidden", "heads"):
        if not cfg[col]:
            filled.append(col)
    return arch, filled


def nemo_flops(arch, seq):
    h, a = arch["hidden"], arch["heads"]
    kv = arch["kv_heads"] or a
    return model_flops_per_token(arch["layers"], h, a, kv, h // a, arch["ffn"], arch["vocab"], seq,
                                 arch["act"] == "swiglu")


def build_nemo(cfg, group):
    met = metrics_of(group)
    if "pretrain" not in cfg["table_or_section"].lower():
        return skip(cfg, "fine-tuning (SFT/LoRA) row, not pretraining")
    if "tokens_per_s_per_gpu" not in met:
        return skip(cfg, "no tokens/s/GPU")
    arch, filled = nemo_arch(cfg)
    if arch is None:
        return skip(cfg, "architecture of %s unknown" % cfg["model"])
    s, n = to_int(cfg["seq_len"]), to_int(cfg["num_gpus"])
    tp, pp, cp = to_int(cfg["tp"]), to_int(cfg["pp"]), to_int(cfg["cp"]) or 1
    tok = float(met["tokens_per_s_per_gpu"]["value"])
    trust = trust_word(met["tokens_per_s_per_gpu"]["trust"])
    rev = "24.07" not in cfg["source"]
    row = blank_row()
    notes = []
    row.update(source="nemo", model=cfg["model"],
               id="nemo-%s-%d%s" % (slug(cfg["model"]), n, "-rev-unknown" if rev else ""))
    set_arch(row, arch["layers"], arch["hidden"], arch["heads"], arch["kv_heads"], arch["ffn"],
             arch["vocab"], arch["act"])
    gpu, _ = gpu_of(cfg["gpu_type"])
    row.update(seq_len=s, global_batch=to_int(cfg["global_batch"]), gpu=gpu, gpus_per_node=8)
    vpp = to_int(cfg["vp"]) or 1
    set_parallel(row, cfg, n, tp, pp, cp, to_int(cfg["ep"]) or 1, vpp, to_int(cfg["mbs"]), notes)
    row.update(sequence_parallel="true" if tp > 1 else "false", recompute="none", zero=1,
               precision=precision_of(cfg["precision"]), metric="tokens_per_s_per_gpu",
               value=met["tokens_per_s_per_gpu"]["value"], unit="tokens/s/GPU")
    check = ""
    if "model_tflops_per_gpu" in met:
        implied = float(met["model_tflops_per_gpu"]["value"]) * 1e12 / tok
        ours = nemo_flops(arch, s)
        dev = 100.0 * (ours / implied - 1)
        check = ("; check of the architecture: table model TFLOP/s / tokens/s = %s / %s = %s FLOP/token "
                 "vs 3*(fwd GEMMs + full s x s attention + logits) for this architecture = %s (%+.2f%%)"
                 % (met["model_tflops_per_gpu"]["value"], met["tokens_per_s_per_gpu"]["value"],
                    sci(implied), sci(ours), dev))
        if abs(dev) > 1.5:
            warn("WARN %s: architecture FLOP check off by %+.2f%%" % (row["id"], dev))
    row["derivation"] = (
        "tokens/s/GPU as printed; architecture %s: %s%s; sequence_parallel=true when tp>1 (table "
        "does not state it); recompute not stated in the table (none); zero=1 (NeMo distributed "
        "optimizer, not stated); ep=1 (dense)%s%s"
        % ("columns " + "/".join(filled) + " and ffn/vocab/activation filled from outside the table"
           if filled else "ffn/vocab/activation/kv_heads filled from outside the table",
           arch["ref"], check,
           "; other revision of the same doc page, container unknown (source trust medium)" if rev else "",
           ("; " + "; ".join(notes)) if notes else ""))
    row["trust"] = trust
    row["citation"] = CITATIONS["nemo-rev" if rev else "nemo"]
    return row


def build_nemo_longseq(cfg, group, calib):
    met = metrics_of(group)
    if "tflops_per_gpu_with_cp" not in met:
        return skip(cfg, "'without CP' best-case number: no parallel configuration given")
    if not (cfg["num_gpus"] and cfg["tp"] and cfg["pp"] and cfg["cp"]):
        return skip(cfg, "GPU count or TP/PP/CP missing")
    arch, filled = nemo_arch(cfg)
    if arch is None:
        return skip(cfg, "architecture of %s unknown" % cfg["model"])
    if calib is None:
        return skip(cfg, "no pretraining row to confirm the NeMo TFLOP/s convention")
    s, n = to_int(cfg["seq_len"]), to_int(cfg["num_gpus"])
    tp, pp, cp = to_int(cfg["tp"]), to_int(cfg["pp"]), to_int(cfg["cp"])
    tflops = float(met["tflops_per_gpu_with_cp"]["value"])
    f_tok = nemo_flops(arch, s)
    tok = tflops * 1e12 / f_tok
    row = blank_row()
    notes = []
    seq_txt = "%dk" % (s // 1024) if s % 1024 == 0 else str(s)
    row.update(source="nemo-longseq", model=cfg["model"],
               id="nemo-longseq-%s-%s-%d" % (slug(cfg["model"]), seq_txt, n))
    set_arch(row, arch["layers"], arch["hidden"], arch["heads"], arch["kv_heads"], arch["ffn"],
             arch["vocab"], arch["act"])
    gpu, _ = gpu_of(cfg["gpu_type"])
    gbs = to_int(cfg["global_batch"])
    if gbs is None:
        # Not given: the batch of the same docs' Llama 2 7B pretraining row (NeMo 24.07 table).
        # Per-GPU throughput hardly depends on it at PP = 1 (the DP collectives hide behind the
        # last micro-batch; wanka predicts within 2 % from 4 to 64 micro-batches per DP rank);
        # at PP = 2 (the 8K row) it sets the pipeline bubble.
        gbs = calib["llama2_7b_global_batch"]
        if gbs is None:
            return skip(cfg, "global batch not given, nor in the NeMo Llama 2 7B pretraining row")
        notes.append("global batch not given: %d assumed (the NeMo Llama 2 7B pretraining row's)" % gbs)
    row.update(seq_len=s, global_batch=gbs, gpu=gpu, gpus_per_node=8)
    set_parallel(row, cfg, n, tp, pp, cp, 1, to_int(cfg["vp"]) or 1, to_int(cfg["mbs"]), notes)
    row.update(sequence_parallel="true" if tp > 1 else "false", recompute="none", zero=1,
               precision=precision_of(cfg["precision"]), metric="tokens_per_s_per_gpu",
               value=fnum(tok), unit="tokens/s/GPU")
    a = arch
    row["derivation"] = (
        "tokens/s/GPU = TFLOP/s per GPU with CP x 1e12 / F_tok = %g e12 / %s = %s; F_tok = 3*(l*(8h^2 "
        "+ 4*s*h + 6*h*ffn) + 2*h*V) (NeMo/Megatron model FLOPs: full s x s attention, SwiGLU, "
        "logits, no recompute) with l=%d h=%d s=%d ffn=%d V=%d; the long-sequence page does not "
        "state its FLOP convention: assumed equal to the NeMo 24.07 pretraining table, where it "
        "reproduces %s; attention is %.0f%% of F_tok here, so a causal-halved convention would "
        "change the value by up to ~2x -> trust lowered from the source's 'high' to low; seq_len "
        "given in K (x1024); micro-batch not given (1); vpp=1 (not given); "
        "sequence_parallel=true when tp>1, recompute none, zero=1: not stated (NeMo defaults); "
        "architecture: %s%s"
        % (tflops, sci(f_tok), fnum(tok), a["layers"], a["hidden"], s, a["ffn"], a["vocab"], calib["text"],
           100.0 * 3 * a["layers"] * 4 * s * a["hidden"] / f_tok, a["ref"],
           ("; " + "; ".join(notes)) if notes else ""))
    row["trust"] = "low"
    row["citation"] = CITATIONS["nemo-longseq"]
    return row


def build_mosaicml(cfg, group):
    met = metrics_of(group)
    if "tokens_per_s_per_gpu" not in met:
        return skip(cfg, "no tokens/s/GPU")
    key = slug(cfg["model"])
    if key not in MPT_ARCH:
        return skip(cfg, "unknown MPT size %s" % cfg["model"])
    l, h, a = MPT_ARCH[key]
    for col, v in (("layers", l), ("hidden", h), ("heads", a)):
        if to_int(cfg[col]) not in (None, v):
            return skip(cfg, "%s=%s in source differs from MPT yaml %d" % (col, cfg[col], v))
    other = cfg["other"]
    ac = re.search(r"activation checkpointing=(True|False)", other)
    ga = re.search(r"grad_accum=(\d+)", other)
    shard = re.search(r"FSDP (\w+)", other)
    mp = re.search(r"MP mode (\w+)", other)
    if not (ac and ga and shard and mp):
        return skip(cfg, "FSDP/activation-checkpointing/grad-accum settings not parseable")
    # SHARD_GRAD_OP: parameters sharded outside computation, gathered per FSDP unit before the
    # forward and kept until after its backward (no backward re-gather); gradients and optimizer
    # state sharded: ZeRO-3 without resharding after forward (docs/model.md §6.5).
    zero = {"FULL_SHARD": 3, "SHARD_GRAD_OP": 3, "NO_SHARD": 0}.get(shard.group(1))
    sgo = shard.group(1) == "SHARD_GRAD_OP"
    if zero is None:
        return skip(cfg, "unknown FSDP sharding strategy %s" % shard.group(1))
    n, s, gbs, mbs = (to_int(cfg[c]) for c in ("num_gpus", "seq_len", "global_batch", "mbs"))
    ga = int(ga.group(1))
    if mbs * ga * n != gbs:
        return skip(cfg, "global batch != mbs*grad_accum*GPUs")
    gpu, gpu_note = gpu_of(cfg["gpu_type"])
    prec = precision_of(cfg["precision"])
    recompute = "full" if ac.group(1) == "True" else "none"
    row = blank_row()
    notes = []
    row.update(source="mosaicml", model=cfg["model"])
    row["id"] = "mosaicml-%s-%s-%s-s%d-n%d-mbs%d-gbs%d%s%s%s" % (
        key, gpu, prec, s, n, mbs, gbs, "-ac" if recompute == "full" else "",
        "-pure" if mp.group(1) == "PURE" else "", "-sgo" if sgo else "")
    set_arch(row, l, h, a, None, 4 * h, MPT_VOCAB, "gelu")
    row.update(seq_len=s, global_batch=gbs, gpu=gpu, gpus_per_node=8)
    set_parallel(row, cfg, n, 1, 1, 1, 1, 1, mbs, notes)
    if sgo:
        row["reshard_after_forward"] = "false"
    row.update(sequence_parallel="false", recompute=recompute, zero=zero, precision=prec,
               metric="tokens_per_s_per_gpu", value=met["tokens_per_s_per_gpu"]["value"],
               unit="tokens/s/GPU")
    mfu = met.get("mfu")
    row["derivation"] = (
        "tokens/s/GPU as printed (table '%s'); FSDP %s over all GPUs -> tp=pp=cp=ep=1, dp=num_gpus, "
        "zero=%d%s; mixed-precision mode %s (%s); activation checkpointing=%s; grad_accum=%d "
        "(global batch = mbs*grad_accum*GPUs = %d*%d*%d); printed MFU %s%% (MosaicML: 6N + 12*l*s*h "
        "per token); architecture: layers/d_model/heads from the llm-foundry MPT yaml (as in the "
        "source rows), ffn=4*d_model, vocab 50368, GeLU from the MPT yaml (not in the table); "
        "params %sB as printed%s"
        % (cfg["table_or_section"], shard.group(1), zero,
           " without resharding after forward (SHARD_GRAD_OP keeps each unit's gathered parameters "
           "from its forward to its backward)" if sgo else "", mp.group(1), cfg["precision"], ac.group(1),
           ga, mbs, ga, n, mfu["value"] if mfu else "n/a", cfg["params_b"],
           ("; " + gpu_note) if gpu_note else ""))
    if key == "mpt-30b":
        row["derivation"] += ("; n_heads=56 as in the source rows (llm-foundry yaml); the curation brief "
                              "listed 64 - head count does not change the FLOPs, only the head size")
    row["trust"] = trust_word(met["tokens_per_s_per_gpu"]["trust"])
    row["citation"] = "%s, table '%s'" % (CITATIONS["mosaicml"], cfg["table_or_section"])
    return row


TORCHTITAN_AC = {  # source wording -> (recompute value, explanation)
    "no": ("none", "no activation checkpointing"),
    "full": ("full", "full activation checkpointing of every block"),
    "selective op": ("selective", "op-level selective AC (saves matmul outputs, recomputes the rest)"),
    "selective layer": ("selective-layer", "layer-level selective AC: a subset of transformer blocks "
                        "fully checkpointed (frequency not in the source; torchtitan default every 2nd "
                        "block)"),
}


def build_torchtitan(cfg, group):
    met = metrics_of(group)
    if "tokens_per_s_per_gpu" not in met:
        return skip(cfg, "no tokens/s/GPU")
    key = arch_key(cfg["model"])
    if key not in ARCH:
        return skip(cfg, "architecture of %s unknown" % cfg["model"])
    arch = ARCH[key]
    check_arch_vs_source(cfg, arch, [])
    acm = re.search(r"activation checkpointing=([a-z ]+)", cfg["other"])
    if not acm or acm.group(1).strip() not in TORCHTITAN_AC:
        return skip(cfg, "activation checkpointing mode not recognised")
    recompute, ac_txt = TORCHTITAN_AC[acm.group(1).strip()]
    n, s, gbs, mbs = (to_int(cfg[c]) for c in ("num_gpus", "seq_len", "global_batch", "mbs"))
    gpu, _ = gpu_of(cfg["gpu_type"])
    row = blank_row()
    notes = []
    row.update(source="torchtitan", model=cfg["model"],
               id="torchtitan-%s-%s-n%d-gbs%d-ac-%s" % (key, gpu, n, gbs, slug(recompute)))
    set_arch(row, arch["layers"], arch["hidden"], arch["heads"], arch["kv_heads"], arch["ffn"],
             arch["vocab"], arch["act"])
    row.update(seq_len=s, global_batch=gbs, gpu=gpu, gpus_per_node=8)
    set_parallel(row, cfg, n, to_int(cfg["tp"]) or 1, to_int(cfg["pp"]) or 1, 1, 1, 1, mbs, notes)
    row.update(sequence_parallel="false", recompute=recompute, zero=3,
               precision=precision_of(cfg["precision"]), metric="tokens_per_s_per_gpu",
               value=met["tokens_per_s_per_gpu"]["value"], unit="tokens/s/GPU")
    mfu = met.get("mfu")
    row["derivation"] = (
        "tokens/s/GPU = WPS per GPU as printed; FSDP2 1D over all %d GPUs -> zero=3, dp=%d; %s; "
        "printed MFU %s%%; seq_len is the Llama default stated in the docs text; gpus_per_node 8 "
        "(not stated); architecture (%s) filled from outside the table; %s"
        % (n, n, ac_txt, mfu["value"] if mfu else "n/a", arch["ref"],
           "layers/hidden/heads from the table"))
    row["trust"] = trust_word(met["tokens_per_s_per_gpu"]["trust"])
    row["citation"] = CITATIONS["torchtitan"]
    return row


def build_dgxc(cfg, group):
    met = metrics_of(group)
    if "train_step_time" not in met:
        return skip(cfg, "no step time")
    key = arch_key(cfg["model"])
    if key not in ARCH:
        return skip(cfg, "architecture of %s unknown" % cfg["model"])
    arch = ARCH[key]
    check_arch_vs_source(cfg, arch, [])
    n, s, gbs, mbs = (to_int(cfg[c]) for c in ("num_gpus", "seq_len", "global_batch", "mbs"))
    tp, pp, cp = to_int(cfg["tp"]), to_int(cfg["pp"]), to_int(cfg["cp"]) or 1
    gpu, _ = gpu_of(cfg["gpu_type"])
    step = met["train_step_time"]
    row = blank_row()
    notes = []
    worked = "worked" in cfg["table_or_section"].lower()
    row.update(source="dgxc", model=cfg["model"],
               id="dgxc-%s-%s-%s-n%d-gbs%d" % (key, gpu, precision_of(cfg["precision"]), n, gbs))
    set_arch(row, arch["layers"], arch["hidden"], arch["heads"], arch["kv_heads"], arch["ffn"],
             arch["vocab"], arch["act"])
    row.update(seq_len=s, global_batch=gbs, gpu=gpu, gpus_per_node=4 if gpu == "gb200" else 8)
    set_parallel(row, cfg, n, tp, pp, cp, to_int(cfg["ep"]) or 1, to_int(cfg["vp"]) or 1, mbs, notes)
    row.update(sequence_parallel="true" if tp > 1 else "false", recompute="", zero=1,
               precision=precision_of(cfg["precision"]), metric="step_time_s", value=step["value"],
               unit="s")
    extra = ""
    if "tflops_per_gpu" in met:
        extra = "; same output line reports %s TFLOP/s per GPU" % met["tflops_per_gpu"]["value"]
    row["derivation"] = (
        "step time (s/iteration) as printed in the README %s (%s)%s; equivalent tokens/s/GPU = "
        "gbs*s/(step*N) = %d*%d/(%s*%d) = %s; gpus_per_node=4 for GB200 (compute tray; NVL72 "
        "NVLink domain 72) - not stated in the source; sequence_parallel=true when tp>1 and zero=1 "
        "(distributed optimizer) are NeMo recipe defaults, not stated; recompute not stated (empty); "
        "architecture (%s) filled from outside the source; layers/hidden/heads from the source"
        % ("MFU worked example" if worked else "example parse_train_timing output",
           step["notes"].replace("\n", " "), extra, gbs, s, step["value"], n,
           fnum(gbs * s / (float(step["value"]) * n)), arch["ref"]))
    row["trust"] = trust_word(step["trust"])
    row["citation"] = "%s, %s" % (CITATIONS["dgxc"],
                                  "MFU worked example" if worked else "example output")
    return row


# ---------------------------------------------------------------------------

def load(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def group_configs(rows):
    groups, order = {}, []
    for r in rows:
        key = tuple(r[c] for c in CONFIG_KEY)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(r)
    return [(dict(zip(CONFIG_KEY, k)), groups[k]) for k in order]


def nemo_calibration(nemo_rows):
    """The NeMo 24.07 Llama 2 7B pretraining row: text confirming the NeMo TFLOP/s convention on
    it, and its global batch."""
    for cfg, group in group_configs(nemo_rows):
        if ("24.07" in cfg["source"] and "pretrain" in cfg["table_or_section"].lower()
                and arch_key(cfg["model"]) == "llama2-7b"):
            met = metrics_of(group)
            if "tokens_per_s_per_gpu" in met and "model_tflops_per_gpu" in met:
                implied = float(met["model_tflops_per_gpu"]["value"]) * 1e12 / float(
                    met["tokens_per_s_per_gpu"]["value"])
                ours = nemo_flops(ARCH["llama2-7b"], to_int(cfg["seq_len"]))
                text = ("24.07 LLAMA2-7B s=%s: %s TFLOP/s / %s tokens/s = %s vs formula %s (%+.2f%%)"
                        % (cfg["seq_len"], met["model_tflops_per_gpu"]["value"],
                           met["tokens_per_s_per_gpu"]["value"], sci(implied), sci(ours),
                           100.0 * (ours / implied - 1)))
                return {"text": text, "llama2_7b_global_batch": to_int(cfg["global_batch"])}
    return None


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    src = argv[1] if len(argv) > 1 else "../shared/data/validation"
    if not os.path.isdir(src) and not os.path.isabs(src):
        alt = os.path.join(repo, src)
        if os.path.isdir(alt):
            src = alt
    out = argv[2] if len(argv) > 2 else os.path.join(repo, "data", "validation", "training.csv")

    megatron = load(os.path.join(src, "megatron.csv"))
    nemo = load(os.path.join(src, "nemo.csv"))
    frameworks = load(os.path.join(src, "frameworks.csv"))
    calib = nemo_calibration(nemo)

    out_rows = []

    def add(row):
        if row is not None:
            out_rows.append(row)

    for cfg, group in group_configs(megatron):
        if cfg["source"].startswith("Narayanan"):
            add(build_narayanan(cfg, group))
        elif "Megatron-LM README" in cfg["source"]:
            add(build_megatron_h100(cfg, group))
        else:
            skip(cfg, "unrecognised source")
    for cfg, group in group_configs(nemo):
        if "performance_long_sequence" in cfg["source"]:
            add(build_nemo_longseq(cfg, group, calib))
        elif "performance_summary" in cfg["source"]:
            add(build_nemo(cfg, group))
        else:
            skip(cfg, "unrecognised source")
    for cfg, group in group_configs(frameworks):
        if cfg["source"].startswith("MosaicML"):
            add(build_mosaicml(cfg, group))
        elif "torchtitan" in cfg["source"]:
            add(build_torchtitan(cfg, group))
        elif "dgxc" in cfg["source"]:
            add(build_dgxc(cfg, group))
        else:
            skip(cfg, "unrecognised source")

    # unique ids (suffix on collision), deterministic order: source, then id
    seen = {}
    for row in sorted(out_rows, key=lambda r: (r["source"], r["id"])):
        base = row["id"]
        if base in seen:
            seen[base] += 1
            row["id"] = "%s-%d" % (base, seen[base])
        else:
            seen[base] = 1
    out_rows.sort(key=lambda r: (r["source"], r["id"]))
    ids = [r["id"] for r in out_rows]
    assert len(ids) == len(set(ids))

    for row in out_rows:
        for c in ("layers", "hidden", "heads", "seq_len", "num_gpus", "tp", "pp", "dp", "cp", "ep",
                  "vpp", "gpus_per_node"):
            if row[c] == "" or int(row[c]) <= 0:
                raise ValueError("%s: bad %s" % (row["id"], c))
        if row["activation"] not in ("gelu", "swiglu"):
            raise ValueError("%s: bad activation" % row["id"])
        if row["precision"] not in ("bf16", "fp16", "fp8"):
            raise ValueError("%s: bad precision" % row["id"])
        if not math.isfinite(float(row["value"])) or float(row["value"]) <= 0:
            raise ValueError("%s: bad value" % row["id"])

    # Attention kernel: Narayanan et al. 2021 (Megatron-LM, April 2021) predates FlashAttention
    # (Dao et al., May 2022) and materialised the s x s scores. MosaicML's 2023 MPT runs use ALiBi,
    # which in 2023 only the Triton FlashAttention kernel (attn_impl: triton) or FlashAttention-2
    # supported: FlashAttention-2-class kernels, not the Hopper-native cuDNN / FlashAttention-3
    # (July 2024) that wanka's "flash" is calibrated on for H100 ("flash2"; on A100 the two are
    # the same).
    #
    # NVIDIA's 2024 H100 runs (NeMo 24.03.01 long-sequence table, NeMo 24.07 pretraining table,
    # Megatron-LM README on Megatron-Core r0.8.0, the release NeMo 24.07 is built on) do not name
    # the attention backend Transformer Engine chose. Its speed class is inferred from the
    # long-sequence table: the same Llama 2 7B from 4K to 1M tokens, attention from about a
    # quarter of the step to nearly all of it. With the FlashAttention-2 curve wanka predicts
    # the nine rows within -3 ... +7 %; with the cuDNN curve of "flash" the error grows with the
    # attention share, +17 % at 4K to +57 % at 1M. The rows that decide are 16K-64K (CP inside
    # a node or off: "flash" +24 ... +36 % whether the CP exchange is hidden or not); beyond,
    # an exposed CP exchange would bring "flash" within +1 ... +10 %. The 24.07 Llama 2 7B 4K
    # TP1 PP1 row (776 TFLOP/s per GPU against 768 in the 24.03 table, where a cuDNN-class
    # kernel would be 10 % faster in wanka) is consistent with the same class; the Megatron-LM
    # rows take it by lineage, the NeMo rows of an unknown revision by assumption. The choice
    # is made on these rows (docs/validation.md, "The attention kernel of NVIDIA's 2024 H100
    # runs", says so and gives both curves' errors). Sources from 2025 on (torchtitan, DGX
    # Cloud) keep the best fused kernel of their stack ("flash").
    nvidia_2024 = ("nemo", "nemo-longseq", "megatron-h100")
    kernel = {"narayanan2021": "unfused", "mosaicml": "flash2"}
    kernel.update((s, "flash2") for s in nvidia_2024)
    for row in out_rows:
        row["attention"] = kernel.get(row["source"], "flash")
        if row["source"] == "mosaicml":
            row["derivation"] += ("; attention flash2: ALiBi in 2023 ran on the Triton FlashAttention "
                                  "or FlashAttention-2 kernels, not on Hopper-native kernels")
        elif row["source"] in nvidia_2024:
            row["derivation"] += ("; attention flash2: the backend is not stated; FlashAttention-2-class "
                                  "speed is inferred for NVIDIA's 2024 H100 runs from the NeMo long-sequence "
                                  "series (4K-1M tokens, attention from a quarter to nearly all of the step; "
                                  "tools/curate_validation.py)")

    # Cross-entropy kernel: Megatron-LM computes the vocab-parallel loss with
    # _VocabParallelCrossEntropy (megatron/core/tensor_parallel/cross_entropy.py; mpu/cross_entropy.py
    # in 2021): fp32 cast, max, subtract, exp, sum, divide and the backward multiply as separate
    # PyTorch element-wise kernels over the [s, b, V/tp] logits. 2021 Megatron-LM had no other
    # path; Megatron-Core's fused kernel is opt-in (--cross-entropy-loss-fusion, default off) and
    # the README run does not list it, so both Megatron-LM sources ran the unfused path. Other frameworks keep wanka's default (one fused pass).
    for row in out_rows:
        row["cross_entropy"] = "unfused" if row["source"] in ("narayanan2021", "megatron-h100") else "fused"
        if row["cross_entropy"] == "unfused":
            row["derivation"] += ("; cross_entropy unfused: Megatron-LM's vocab-parallel cross-entropy "
                                  "runs as separate fp32 element-wise kernels (%s)" % (
                                      "the only loss path of 2021 Megatron-LM"
                                      if row["source"] == "narayanan2021" else
                                      "the fused loss, --cross-entropy-loss-fusion, is opt-in and "
                                      "not listed"))

    # Gradient precision: Megatron-LM keeps an fp32 main_grad buffer for bf16 training (its
    # argument checks set --accumulate-allreduce-grads-in-fp32 whenever --bf16 is given,
    # megatron/training/arguments.py): weight-gradient GEMMs accumulate into fp32 and the
    # data-parallel reduce-scatter moves fp32. With fp16 (Narayanan 2021) the flag defaults off
    # and the gradients stay 16-bit. PyTorch FSDP reduces in fp32 when its mixed-precision policy
    # says so: Composer's FSDP mixed_precision DEFAULT is param_dtype = the autocast precision,
    # reduce_dtype = buffer_dtype = fp32 (PURE keeps all three in bf16), and torchtitan's FSDP2
    # MixedPrecisionPolicy takes --training.mixed_precision_reduce, whose only choice (and
    # default) is float32. The gradient is cast to fp32 before the reduce-scatter, which then
    # moves 4 bytes per element, and the sharded gradient the optimizer reads is fp32.
    for row in out_rows:
        fsdp_fp32 = (row["source"] == "mosaicml" and "-pure" not in row["id"]) or row["source"] == "torchtitan"
        fp32 = (row["source"] == "megatron-h100" and row["precision"] == "bf16") or fsdp_fp32
        row["fp32_grads"] = "true" if fp32 else "false"
        if row["source"] == "megatron-h100" and fp32:
            row["derivation"] += ("; fp32_grads: Megatron-LM forces gradient accumulation and "
                                  "all-reduce in fp32 for bf16 (arguments.py: "
                                  "accumulate_allreduce_grads_in_fp32)")
        elif row["source"] == "mosaicml":
            row["derivation"] += ("; fp32_grads %s: Composer's FSDP mixed precision %s" % (
                ("true", "DEFAULT reduces gradients in fp32 (reduce_dtype=float32)") if fp32 else
                ("false", "PURE reduces gradients in bf16")))
        elif row["source"] == "torchtitan":
            row["derivation"] += ("; fp32_grads: torchtitan's FSDP2 mixed precision reduces in fp32"
                                  " (--training.mixed_precision_reduce, default and only choice float32)")
        elif row["source"] == "narayanan2021":
            row["derivation"] += ("; fp32_grads false: an fp16 run, whose Megatron-LM gradients stay "
                                  "fp16 unless --accumulate-allreduce-grads-in-fp32 is given")

    # TP communication overlap: the Megatron-LM README run lists --tp-comm-overlap (Transformer
    # Engine userbuffers: the sequence-parallel all-gathers and reduce-scatters are split and
    # pipelined with the GEMMs that consume or produce them). wanka models it as
    # parallel.overlap.tp: the TP collectives hide behind the layer's compute (docs/model.md
    # §6.2). Sources that do not state it keep the exposed default.
    for row in out_rows:
        ov = row["source"] == "megatron-h100"
        row["overlap_tp"] = "true" if ov else "false"
        if ov:
            row["derivation"] += ("; overlap_tp: the run lists --tp-comm-overlap (TE userbuffers), modelled"
                                  " as parallel.overlap.tp")

    # torchtitan's "selective op" activation checkpointing is not Megatron's selective recompute.
    for row in out_rows:
        if row["source"] == "torchtitan" and row["recompute"] == "selective":
            row["recompute"] = "selective-op"

    # A throughput without the global batch cannot be simulated (micro-batches per step unknown).
    for row in out_rows:
        if not row["global_batch"]:
            print("skip %s: source gives no global batch" % row["id"], file=sys.stderr)
    out_rows = [r for r in out_rows if r["global_batch"]]

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=OUT_COLUMNS, lineterminator="\n")
        w.writeheader()
        for row in out_rows:
            w.writerow({c: row[c] for c in OUT_COLUMNS})

    counts = {}
    for row in out_rows:
        counts[row["source"]] = counts.get(row["source"], 0) + 1
    warn("wrote %d rows to %s" % (len(out_rows), out))
    for k in sorted(counts):
        warn("  %-14s %4d" % (k, counts[k]))
    warn("skipped %d source configurations" % len(SKIPPED))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
