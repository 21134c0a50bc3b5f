#include "wanka/estimate.hpp"

#include "train/step_model.hpp"

#include <algorithm>
#include <cmath>

#include "wanka/accelerator.hpp"
#include "wanka/collective.hpp"
#include "wanka/model.hpp"
#include "wanka/pipeline.hpp"

namespace wanka::detail {

namespace {

// Bytes per parameter for mixed-precision Adam (Rajbhandari et al. 2020, ZeRO §3.1):
// 16-bit weights and gradients, fp32 master weights, momentum and variance (K = 12).
constexpr double kWeightBytes = 2.0;
constexpr double kOptimizerBytes = 12.0;
// Optimizer step traffic per parameter besides the gradient: read+write fp32 master, m and v
// (24 B), write the 16-bit weight (2 B); the gradient is read twice (the norm pass and Adam).
constexpr double kOptimizerStepBytes = 26.0;

// Bytes per gradient element: 16-bit (ZeRO's accounting), or 4 with training.fp32_grads
// (Megatron-LM's fp32 main_grad buffer: megatron/training/arguments.py sets
// accumulate_allreduce_grads_in_fp32 for bf16, and megatron/core/distributed/
// param_and_grad_buffer.py allocates the buffer, which the DP collectives reduce, in fp32).
double grad_bytes(const Scenario& s) { return s.training.fp32_grads ? 4.0 : 2.0; }

// Extra HBM traffic of accumulating `weight_elems` weight gradients into an fp32 buffer, per
// micro-batch: the wgrad GEMM then reads and writes fp32 C (C = X^T dY + C, Megatron's
// gradient_accumulation_fusion, fused_weight_gradient_mlp_cuda.wgrad_gemm_accum_fp32, and
// Transformer Engine's fuse_wgrad_accumulation), 8 bytes per element where Accelerator::gemm
// charges a 2-byte output.
Bytes fp32_wgrad_extra(const Scenario& s, double weight_elems) {
  return Bytes(s.training.fp32_grads ? (4.0 + 4.0 - 2.0) * weight_elems : 0.0);
}
// CUDA context, NCCL and cuBLAS workspaces, allocator slack: a fixed reserve per GPU
// (PyTorch's CUDA context alone is 0.3-0.6 GiB; NCCL buffers add a few hundred MiB).
constexpr double kFrameworkReserveBytes = 1.5 * kGiB;
// GPU power draw as a fraction of TDP while not computing (communication, bubbles);
// during compute it is taken as TDP. Engineering estimate; see docs/model.md.
constexpr double kNonComputePowerFraction = 0.4;

struct Context {
  const Scenario& s;
  const Accelerator& acc;
  const Fabric& fab;
  Group tp, cp, ep;
};

Seconds tp_pair(const Context& c, Bytes b) {
  // With sequence parallelism an all-gather and a reduce-scatter replace one all-reduce
  // (Korthikanti et al. 2022 §4.2.2); the bytes moved are the same.
  return c.s.parallel.sequence_parallel ? all_gather(b, c.tp, c.fab) + reduce_scatter(b, c.tp, c.fab)
                                        : all_reduce(b, c.tp, c.fab);
}

FwdBwd layer_cost(const Context& c, const LayerWork& w, double& b_comp) {
  const auto& p = c.s.parallel;
  FwdBwd r;
  double gemm_f = 0, gemm_b = 0, expert_gemm = 0, weight_elems = 0;
  for (const auto& g : w.gemms) {
    const double tf = c.acc.gemm_fwd(g).value, tb = c.acc.gemm_bwd(g).value;
    gemm_f += tf;
    gemm_b += tb;
    weight_elems += g.k * g.n * g.count;
    if (g.name[0] == 'e') expert_gemm += tf;
  }
  gemm_b += c.acc.memory_bound(fp32_wgrad_extra(c.s, weight_elems)).value;
  // Unfused attention runs its two bmms as GEMMs (non-causal: the mask is applied after QK^T,
  // so twice the causal FLOPs) plus the score traffic; fused attention at its calibrated rate.
  const bool unfused = c.s.training.attention == AttentionKernel::kUnfused;
  // Load-balanced context parallelism (Megatron-Core/Transformer Engine: 2cp chunks, rank i holds
  // chunks i and 2cp-1-i) gives every rank the same work. Ring step 0 is one causal call over
  // the rank's own s/cp tokens, 1/cp of its attention FLOPs; the cp-1 others are non-causal
  // calls of equal work: step j on rank i is its s/cp queries against the first s/(2cp) keys of
  // rank i-j's chunks when j <= i, else its second s/(2cp) queries against all s/cp keys
  // (Transformer Engine, AttnFuncWithCPAndKVP2P). The slowest rank paces the ring: forward,
  // rank cp-1 sweeps s/(2cp) keys at every step; backward (kernels loop over key blocks),
  // rank 0 sweeps s/(2cp) queries. So s/(2cp) is the span of the length term. Without CP:
  // one causal call over the sequence.
  // Ulysses (cp_comm_type a2a) instead: one causal call over the whole sequence with the rank's
  // heads/cp heads, the same FLOPs.
  const bool ulysses = p.cp > 1 && p.cp_comm_type == CpComm::kA2a;
  const double seq = double(c.s.training.seq_len), cp = ulysses ? 1.0 : double(p.cp);
  const Flops f_causal = w.attention_fwd / cp, f_full = w.attention_fwd - f_causal;
  const double span = seq / cp, span_full = seq / (2.0 * cp);
  const double attn_f = unfused ? (c.acc.gemm_flops_time(w.attention_fwd * 2.0) +
                                   c.acc.memory_bound(w.attention_scores_fwd)).value
                                : (c.acc.attention_fwd(f_causal, span) +
                                   c.acc.attention_fwd(f_full, span_full, AttentionMask::kFull)).value;
  const double attn_b = unfused ? (c.acc.gemm_flops_time(w.attention_fwd * 4.0) +
                                   c.acc.memory_bound(w.attention_scores_bwd)).value
                                : (c.acc.attention_bwd(f_causal, span) +
                                   c.acc.attention_bwd(f_full, span_full, AttentionMask::kFull)).value;
  r.f.comp = gemm_f + attn_f + c.acc.memory_bound(w.elementwise_fwd + w.fp8_cast_fwd).value;
  r.b.comp = gemm_b + attn_b + c.acc.memory_bound(w.elementwise_bwd + w.fp8_cast_bwd).value;

  const double tp = w.tp_collectives_fwd * (tp_pair(c, w.tp_bytes) + tp_pair(c, w.tp_ffn_bytes)).value;
  r.f.tp = p.overlap.tp ? std::max(0.0, tp - gemm_f) : tp;
  r.b.tp = p.overlap.tp ? std::max(0.0, tp - gemm_b) : tp;

  if (ulysses) {
    // Four all-to-alls forward (q, k, v in, the output back), their gradients backward; exposed:
    // attention needs its heads before it starts, the projection its tokens after it ends.
    double a2a = 0;
    for (const Bytes& b : w.cp_a2a) a2a += all_to_all(b, c.cp, c.fab).value;
    r.f.cp = r.b.cp = a2a;
  } else if (p.cp > 1) {
    // Ring attention: cp-1 exchanges of the local K,V chunk forward; K,V and their
    // gradients backward (Liu et al. 2023; Megatron-Core context parallelism).
    const Seconds step = p2p(w.cp_kv_bytes, c.cp.domains() > 1, c.fab);
    const double f = double(p.cp - 1) * step.value, b = 2.0 * f;
    r.f.cp = p.overlap.cp ? std::max(0.0, f - attn_f) : f;
    r.b.cp = p.overlap.cp ? std::max(0.0, b - attn_b) : b;
  }
  if (w.ep_all_to_alls_fwd > 0) {
    double a2a_f = 0, a2a_b = 0;
    if (p.ep_dispatcher == EpDispatcher::kDeepEp) {
      // Dispatch and combine deduplicated per destination GPU and node (docs/model.md §5.2).
      // Training in FP8, the transfers in the dispatch direction carry FP8 with one fp32 scale
      // per 128 elements: the forward dispatch and, backward, the activation gradient before
      // the down-projections; the combine components stay 16-bit both ways (DeepSeek-V3 §3.3.2).
      const auto& moe = c.s.model.moe;
      const MoeRouting rt{moe.experts, moe.top_k, moe.groups, moe.topk_groups};
      const double dispatch_bytes = c.s.training.precision == Precision::kFp8 ? 1.0 + 4.0 / 128.0 : 2.0;
      const double t16 = deduplicated_all_to_all(Bytes(2.0 * w.ep_token_elems), rt, c.ep, c.fab).value;
      const double td = deduplicated_all_to_all(Bytes(dispatch_bytes * w.ep_token_elems), rt, c.ep, c.fab).value;
      a2a_f = a2a_b = td + t16;
    } else {
      a2a_f = a2a_b = w.ep_all_to_alls_fwd * all_to_all(w.ep_bytes, c.ep, c.fab).value;
    }
    r.f.ep = p.overlap.ep ? std::max(0.0, a2a_f - expert_gemm) : a2a_f;
    r.b.ep = p.overlap.ep ? std::max(0.0, a2a_b - 2.0 * expert_gemm) : a2a_b;
  }
  b_comp = r.b.comp;
  // Recomputation repeats the forward (and its communication) inside backward.
  if (p.recompute == Recompute::kFull) {
    r.b.comp += r.f.comp;
    r.b.tp += r.f.tp;
    r.b.cp += r.f.cp;
    r.b.ep += r.f.ep;
  } else if (p.recompute == Recompute::kSelective) {
    // What the recompute modules rebuild (docs/model.md §6.6). Core attention again, and with CP
    // its ring exchange again: the recomputed attention needs the other ranks' K,V chunks
    // (hidden by that attention as in the forward when overlapped). A recomputed MLP or MoE
    // block repeats its TP collectives, and the MoE block its dispatch and combine.
    double rc_gemm = 0;
    for (const auto& g : w.recompute_gemms) rc_gemm += c.acc.gemm_fwd(g).value;
    r.b.comp += rc_gemm + c.acc.memory_bound(w.recompute_elementwise).value;
    if (w.recompute_attention) {
      r.b.comp += attn_f;
      r.b.cp += r.f.cp;
    }
    if (w.recompute_tp_bytes.value > 0) {
      // Hidden behind the recomputed GEMMs when TP overlap is on, as in the forward.
      const double t = tp_pair(c, w.recompute_tp_bytes).value;
      r.b.tp += p.overlap.tp ? std::max(0.0, t - rc_gemm) : t;
    }
    if (w.recompute_ep) r.b.ep += r.f.ep;
  }
  return r;
}

}  // namespace


Fabric make_fabric(const ClusterConfig& cl) {
  const Calibration& cal = cl.gpu.calibration;
  // Designated initializers: Link has several fields of the same types.
  const Link up{.bandwidth = BytesPerSecond(cl.scale_up_gbytes_per_s * kGiga * cal.scale_up_efficiency),
                .latency = Seconds(cal.scale_up_latency_s),
                .half_size = Bytes(cal.scale_up_half_bytes),
                .size_exponent = cal.scale_up_size_exponent,
                // NVLS only on a switch that has it (not a PCIe card, not a mesh), where calibrated.
                .nvls_bandwidth = BytesPerSecond(cl.scale_up_nvls && !cl.scale_up_mesh
                                                     ? cl.scale_up_gbytes_per_s * kGiga * cal.scale_up_nvls_efficiency
                                                     : 0.0),
                .nvls_latency = Seconds(cal.scale_up_nvls_latency_s),
                .mesh_peers = cl.scale_up_mesh ? long(cl.scale_up_domain) - 1 : 0L,
                .nvls_min_ranks = long(cal.scale_up_nvls_min_gpus)};
  const Link out{.bandwidth = BytesPerSecond(cl.nic_gbps / 8.0 * kGiga * cal.scale_out_efficiency / cl.oversubscription),
                 .latency = Seconds(cal.scale_out_latency_s),
                 .half_size = Bytes(cal.scale_out_half_bytes),
                 .size_exponent = cal.scale_out_size_exponent};
  return Fabric{up, out};
}

double power_w_per_gpu(const ClusterConfig& cl, double busy_frac) {
  return cl.gpu.tdp_w * (kNonComputePowerFraction + (1.0 - kNonComputePowerFraction) * busy_frac) +
         cl.node_overhead_w_per_gpu;
}

LayerCosts layer_costs(const Scenario& s, const Accelerator& acc, const Fabric& fab) {
  const auto& m = s.model;
  const auto& p = s.parallel;
  const auto& tr = s.training;
  const long domain = std::max(1, s.cluster.scale_up_domain);
  // Rank order tp, cp, (ep within dp x cp), dp, pp: Megatron-Core's default "tp-cp-ep-dp-pp".
  const Context c{s, acc, fab, place_group(p.tp, 1, domain), place_group(p.cp, p.tp, domain),
                  place_group(p.ep, p.tp, domain)};
  const ShardSpec sh{p.micro_batch, tr.seq_len, p.tp, p.cp, p.ep, p.sequence_parallel, p.recompute,
                     p.recompute_modules, tr.precision, tr.attention,
                     tr.cross_entropy};
  LayerCosts lc;
  lc.dense_w = layer_work(m, sh, false);
  lc.dense_c = layer_cost(c, lc.dense_w, lc.dense_b_comp);
  if (m.is_moe()) {
    lc.moe_w = layer_work(m, sh, true);
    lc.moe_c = layer_cost(c, lc.moe_w, lc.moe_b_comp);
  } else {
    lc.moe_w = lc.dense_w;
    lc.moe_c = lc.dense_c;
    lc.moe_b_comp = lc.dense_b_comp;
  }
  lc.emb = embedding_work(m, sh);
  lc.lg = logits_work(m, sh);
  const EdgeWork& emb = lc.emb;
  const EdgeWork& lg = lc.lg;
  FwdBwd& emb_c = lc.emb_c;
  FwdBwd& lg_c = lc.lg_c;
  emb_c.f.comp = acc.memory_bound(emb.elementwise_fwd).value;
  emb_c.b.comp = acc.memory_bound(emb.elementwise_bwd).value;
  // Vocab-parallel embedding: all-reduce (or reduce-scatter with SP) of its output.
  emb_c.f.tp = p.sequence_parallel ? reduce_scatter(emb.tp_bytes, c.tp, fab).value : all_reduce(emb.tp_bytes, c.tp, fab).value;
  if (p.sequence_parallel) emb_c.b.tp = all_gather(emb.tp_bytes, c.tp, fab).value;  // backward of the reduce-scatter
  for (const auto& g : lg.gemms) {
    lg_c.f.comp += acc.gemm_fwd(g).value;
    lg_c.b.comp += acc.gemm_bwd(g).value;
  }
  lg_c.f.comp += acc.memory_bound(lg.elementwise_fwd).value;
  lg_c.b.comp += acc.memory_bound(lg.elementwise_bwd).value;
  for (const auto& g : lg.gemms) lg_c.b.comp += acc.memory_bound(fp32_wgrad_extra(s, g.k * g.n * g.count)).value;
  if (tr.fp32_grads) {
    // The embedding's gradient comes from PyTorch's embedding backward, not a GEMM; Megatron's
    // DDP grad hook adds it into the fp32 main_grad every micro-batch (param.main_grad.add_(
    // param.grad), megatron/core/distributed/distributed_data_parallel.py): read 4 + 2, write 4.
    lc.emb_grad_add = acc.memory_bound(Bytes((4.0 + 2.0 + 4.0) * emb.params)).value;
    emb_c.b.comp += lc.emb_grad_add;
  }
  if (p.sequence_parallel) {
    lg_c.f.tp = all_gather(lg.tp_bytes, c.tp, fab).value;
    lg_c.b.tp = reduce_scatter(lg.tp_bytes, c.tp, fab).value;
  }
  if (p.tp > 1 && !p.sequence_parallel) lg_c.b.tp = all_reduce(lg.tp_bytes, c.tp, fab).value;
  if (m.mtp_layers > 0) {
    lc.mtp = mtp_work(m, sh);
    FwdBwd& mc = lc.mtp_c;
    for (const auto& g : lc.mtp.gemms) {
      mc.f.comp += acc.gemm_fwd(g).value;
      mc.b.comp += acc.gemm_bwd(g).value + acc.memory_bound(fp32_wgrad_extra(s, g.k * g.n * g.count)).value;
    }
    mc.f.comp += acc.memory_bound(lc.mtp.elementwise_fwd).value;
    mc.b.comp += acc.memory_bound(lc.mtp.elementwise_bwd).value;
    // TP traffic (Megatron-Core MultiTokenPredictionLayer.forward), in T x h buffers B: the
    // vocab-parallel embedding as the first stage's (reduce-scatter with SP, all-reduce
    // without); the column-parallel projection gathers its sequence-sharded 2h-wide input (SP;
    // its backward reduce-scatters the input gradient, all-reduces it without SP); its h/tp-wide
    // output is gathered to h (backward: a split), then split to the sequence shards for the
    // layer (SP; backward: an all-gather).
    const Bytes B = lc.mtp.tp_bytes;
    if (p.sequence_parallel) {
      mc.f.tp = (reduce_scatter(B, c.tp, fab) + all_gather(B * 2.0, c.tp, fab) + all_gather(B, c.tp, fab)).value;
      mc.b.tp = (all_gather(B, c.tp, fab) + reduce_scatter(B * 2.0, c.tp, fab) + all_gather(B, c.tp, fab)).value;
    } else {
      mc.f.tp = (all_reduce(B, c.tp, fab) + all_gather(B, c.tp, fab)).value;
      mc.b.tp = all_reduce(B * 2.0, c.tp, fab).value;
    }
    // Full recompute checkpoints the module's projection with its layer (Megatron-Core
    // MultiTokenPredictionLayer: _proj_and_transformer_layer), communication included.
    if (p.recompute == Recompute::kFull) {
      mc.b.comp += mc.f.comp;
      mc.b.tp += mc.f.tp;
    }
  }
  return lc;
}

namespace {

// Sets a dense model's per-stage arrays (and, with_cost, the breakdown) for global stages
// [0, limit) from its four stage shapes.
void fill_stage_arrays(StepModel& st, long limit, bool with_cost) {
  const DenseStages& d = st.dense;
  PipelineSpec& ps = st.ps;
  const long G = static_cast<long>(ps.fwd.size());
  auto put = [&](long g0, long g1, int i) {  // stages [g0, g1) of shape i, up to `limit`
    g1 = std::min(g1, limit);
    if (g0 >= g1) return;
    std::fill(ps.fwd.begin() + g0, ps.fwd.begin() + g1, d.fwd[i]);
    std::fill(ps.bwd.begin() + g0, ps.bwd.begin() + g1, d.bwd[i]);
    std::fill(ps.activation_bytes.begin() + g0, ps.activation_bytes.begin() + g1, d.act[i]);
    if (with_cost) std::fill(st.stage_cost.begin() + g0, st.stage_cost.begin() + g1, d.cost[i]);
  };
  put(0, G, 0);
  put(d.plus_first, d.plus_first + d.plus_count, 1);
  put(G - 1, G, 3);
  put(0, 1, 2);
  const long pp = static_cast<long>(st.hop.size()), n = std::min(G, limit);
  for (long g0 = 0; g0 < n; g0 += pp) {  // chunk by chunk: stage g sends like rank g mod pp
    std::copy_n(st.hop.begin(), std::min(pp, n - g0), ps.p2p.begin() + g0);
  }
  if (limit >= G) ps.p2p[static_cast<std::size_t>(G - 1)] = 0;
  st.filled = std::min(G, limit);
}

}  // namespace

void complete_stage_arrays(StepModel& st) {
  if (st.dense.valid && st.filled < static_cast<long>(st.ps.fwd.size())) {
    fill_stage_arrays(st, static_cast<long>(st.ps.fwd.size()), false);
  }
}

void build_step(const Scenario& s, std::shared_ptr<const LayerCosts> lcp, StepModel& st, bool full) {
  const auto& m = s.model;
  const auto& p = s.parallel;
  const auto& cl = s.cluster;
  const auto& tr = s.training;
  const LayerCosts& lc = *lcp;
  st.lc = std::move(lcp);
  const Fabric fab_new = make_fabric(cl);
  auto same_link = [](const Link& x, const Link& y) {
    return x.bandwidth.value == y.bandwidth.value && x.latency.value == y.latency.value &&
           x.half_size.value == y.half_size.value && x.size_exponent == y.size_exponent &&
           x.nvls_bandwidth.value == y.nvls_bandwidth.value && x.nvls_latency.value == y.nvls_latency.value &&
           x.mesh_peers == y.mesh_peers && x.nvls_min_ranks == y.nvls_min_ranks;
  };
  if (!same_link(fab_new.scale_up, st.fab.scale_up) || !same_link(fab_new.scale_out, st.fab.scale_out)) {
    for (auto& memo : st.dp_memo) memo = DpCommMemo{};
    for (auto& memo : st.edge_memo) memo = StepModel::GatherMemo{};
    st.sync_memo = StepModel::SyncMemo{};
  }
  st.fab = fab_new;
  const Fabric& fab = st.fab;
  const long domain = std::max(1, cl.scale_up_domain);
  st.dp_dense = place_group(static_cast<long>(p.dp) * p.cp, p.tp, domain);
  st.dp_expert = place_group(static_cast<long>(p.dp) * p.cp / p.ep, static_cast<long>(p.tp) * p.ep, domain);

  // ZeRO-3 (FSDP): gather each layer's parameters before forward and again before backward
  // (not again when they are kept from the forward: reshard_after_forward false, FSDP's
  // SHARD_GRAD_OP), and reduce-scatter its gradients after backward (Zhao et al. 2023, PyTorch
  // FSDP §3), overlapped with that layer's compute (before recomputation) when prefetching.
  auto zero3 = [&](const LayerWork& w, const FwdBwd& c, double b_comp) {
    FwdBwd z;
    if (p.zero != 3) return z;
    const double dense = w.params - w.expert_params;
    const double ag = all_gather(Bytes(kWeightBytes * dense), st.dp_dense, fab).value +
                      all_gather(Bytes(kWeightBytes * w.expert_params), st.dp_expert, fab).value;
    const double rs = ag * grad_bytes(s) / kWeightBytes;
    z.f.dp = p.overlap.zero3 ? std::max(0.0, ag - c.f.comp) : ag;
    const double bwd = (p.reshard_after_forward ? ag : 0.0) + rs;
    z.b.dp = p.overlap.zero3 ? std::max(0.0, bwd - b_comp) : bwd;
    return z;
  };
  // The embedding, final norm and output layer sit in FSDP's root unit, which is not resharded
  // after forward (FSDP1 `_post_forward_reshard` keeps the root's parameters; FSDP2 sets the
  // root's reshard_after_forward to False, "since its parameters would typically be immediately
  // all-gathered for backward"): one gather per micro-batch in forward, one gradient
  // reduce-scatter after backward, whatever reshard_after_forward says for the layers. Both are
  // exposed even with overlap.zero3: the root's gather precedes the embedding, the first
  // operation, and its reduce-scatter follows the embedding's backward, the last.
  auto zero3_edge = [&](double params, int which) {
    FwdBwd z;
    if (p.zero != 3 || params <= 0) return z;
    StepModel::GatherMemo& memo = st.edge_memo[which];
    const double bytes = kWeightBytes * params;
    if (memo.bytes != bytes || memo.size != st.dp_dense.size || memo.local != st.dp_dense.local) {
      memo = {bytes, st.dp_dense.size, st.dp_dense.local, all_gather(Bytes(bytes), st.dp_dense, fab).value};
    }
    z.f.dp = memo.seconds;
    z.b.dp = z.f.dp * grad_bytes(s) / kWeightBytes;
    return z;
  };
  const FwdBwd z_dense = zero3(lc.dense_w, lc.dense_c, lc.dense_b_comp);
  const FwdBwd z_moe = m.is_moe() ? zero3(lc.moe_w, lc.moe_c, lc.moe_b_comp) : z_dense;
  FwdBwd dense_layer = lc.dense_c, moe_layer = lc.moe_c;  // one layer, ZeRO-3 gathers included
  dense_layer.f += z_dense.f;
  dense_layer.b += z_dense.b;
  moe_layer.f += z_moe.f;
  moe_layer.b += z_moe.b;

  // --- assign layers to global stages: the given first/last stage counts, the rest evenly, the
  // extra layers of an uneven share in the middle stages, keeping the embedding and logits
  // stages light.
  const int G = p.pp * p.vpp;
  const StageLayout layout = stage_layout(m.layers, G, p.first_stage_layers, p.last_stage_layers);
  const long rem = layout.rem;
  auto layers_of = [&layout](long g) { return layout.layers_of(g); };

  st.micro = s.grad_accum_steps();
  PipelineSpec& ps = st.ps;
  ps.ranks = p.pp;
  ps.chunks = p.vpp;
  ps.micro_batches = st.micro;
  ps.overlap_p2p = p.overlap.pp;
  ps.fwd.resize(G);
  ps.bwd.resize(G);
  ps.p2p.resize(G);
  ps.activation_bytes.resize(G);
  if (full) st.stage_cost.resize(G);
  st.dense.valid = false;
  st.filled = G;
  st.rank.assign(static_cast<std::size_t>(p.pp), RankSummary{});
  const double t_loc = double(p.micro_batch) * double(tr.seq_len) / p.cp;
  // Megatron sends the SP-sharded activation between stages (scatter-gather optimisation).
  const Bytes act_msg(2.0 * t_loc * double(m.hidden) / (p.sequence_parallel ? p.tp : 1));
  // The transfer out of each pipeline rank r (to r + 1; from the last rank to rank 0, the next
  // virtual chunk). Ranks are laid out tp, cp, ep, dp, pp from fastest to slowest (Megatron's
  // order), so rank r holds GPUs [r S, (r + 1) S) with S = tp cp dp, and each GPU x sends to
  // x + (r' - r) S. A hop is as slow as its slowest pair: it leaves the scale-up domain when
  // some pair straddles a domain boundary (a multiple of the domain size).
  st.hop.assign(static_cast<std::size_t>(p.pp), 0);
  st.embedding_sync = 0;
  if (p.pp > 1) {
    const long S = static_cast<long>(p.tp) * p.cp * p.dp;
    // The embedding's copy on the last stage (the tied output layer, or the embedding the
    // multi-token-prediction modules look up) and the embedding on the first have their
    // gradients summed before the optimizer step: an all-reduce of the vocabulary shard's
    // gradient between each GPU of rank 0 and its peer (pp - 1) S ranks away, after the
    // data-parallel reduction and outside any overlap (Megatron-Core finalize_model_grads:
    // _allreduce_word_embedding_grads over the embedding group, its whole main_grad buffer with
    // ZeRO 0-1; with ZeRO 2-3 the gradients are sharded over data parallelism, §8, and each GPU
    // sums its shard).
    if (m.tied_embeddings || m.mtp_layers > 0) {
      const double shards = p.zero >= 2 && st.dp_dense.size > 1 ? double(st.dp_dense.size) : 1.0;
      const Bytes grad(grad_bytes(s) * double(m.vocab) * double(m.hidden) / p.tp / shards);
      const bool cross = straddles_domain(0, S, (p.pp - 1) * S, domain);
      StepModel::SyncMemo& memo = st.sync_memo;
      if (memo.bytes != grad.value || memo.cross != cross) memo = {grad.value, cross, all_reduce(grad, Group{2, cross ? 1 : 2}, fab).value};
      st.embedding_sync = memo.seconds;
    }
    // The common cases without a division per rank (the planner builds millions of steps):
    // every hop crosses when a rank fills a domain, none when the whole pipeline fits in one.
    if (S >= domain || double(S) * p.pp <= double(domain)) {
      const bool cross = S >= domain;
      std::fill(st.hop.begin(), st.hop.end(), to_sim_time(wanka::p2p(act_msg, cross, fab)));
    } else {
      SimTime inside = -1, across = -1;
      for (int r = 0; r < p.pp; ++r) {
        const long next = (r + 1) % p.pp;
        const bool cross = straddles_domain(std::min<long>(r, next) * S, S, std::labs(next - r) * S, domain);
        SimTime& t = cross ? across : inside;
        if (t < 0) t = to_sim_time(wanka::p2p(act_msg, cross, fab));
        st.hop[static_cast<std::size_t>(r)] = t;
      }
    }
  }

  // One global stage of nd dense and nm MoE layers, with the embedding and/or the logits.
  struct Stage {
    FwdBwd cost;
    SimTime fwd = 0, bwd = 0;
    double act = 0, params = 0, expert_params = 0, transient = 0;
    double edge_params = 0;  // embedding and output layer (FSDP's root unit)
  };
  auto make_stage = [&](long nd, long nm, bool with_emb, bool with_lg) {
    Stage x;
    x.cost.f = dense_layer.f.scaled(double(nd));
    x.cost.b = dense_layer.b.scaled(double(nd));
    if (nm) {
      x.cost.f += moe_layer.f.scaled(double(nm));
      x.cost.b += moe_layer.b.scaled(double(nm));
    }
    x.act = double(nd) * lc.dense_w.activations_saved.value + double(nm) * lc.moe_w.activations_saved.value;
    x.params = double(nd) * lc.dense_w.params + double(nm) * lc.moe_w.params;
    x.expert_params = double(nm) * lc.moe_w.expert_params;
    x.transient = std::max(nd ? lc.dense_w.activations_transient.value : 0.0, nm ? lc.moe_w.activations_transient.value : 0.0);
    if (with_emb) {
      x.cost.f += lc.emb_c.f;
      x.cost.b += lc.emb_c.b;
      x.edge_params += lc.emb.params;
    }
    if (with_lg) {
      x.cost.f += lc.lg_c.f;
      x.cost.b += lc.lg_c.b;
      x.act += lc.lg.activations_saved.value;
      // A tied output layer shares the embedding only when both sit on the same GPU.
      const bool shares = m.tied_embeddings && G == 1;
      x.edge_params += shares ? lc.lg.params - double(m.vocab) * double(m.hidden) / p.tp : lc.lg.params;
      if (m.mtp_layers > 0) {
        // Multi-token-prediction modules follow the output layer on the last stage (Megatron-
        // Core builds them in the post-process stage; DeepSeek-V3 puts them with the output
        // head): per module a layer of the model's last kind with its ZeRO-3 gathers, its own
        // work, and the shared head and loss again. The layer counts as a layer; the
        // projection and norms join the root unit, and so does the embedding the modules look
        // up, a copy on this stage unless the embedding sits here or is the output layer.
        const double n = double(m.mtp_layers);
        const bool moe = m.is_moe();
        const LayerWork& w = moe ? lc.moe_w : lc.dense_w;
        const FwdBwd& layer = moe ? moe_layer : dense_layer;
        Cost f = layer.f, b = layer.b;
        f += lc.mtp_c.f;
        f += lc.lg_c.f;
        b += lc.mtp_c.b;
        b += lc.lg_c.b;
        x.cost.f += f.scaled(n);
        x.cost.b += b.scaled(n);
        x.act += n * (w.activations_saved + lc.mtp.activations_saved + lc.lg.activations_saved).value;
        x.params += n * w.params;
        x.expert_params += n * w.expert_params;
        x.transient = std::max(x.transient, w.activations_transient.value);
        x.edge_params += n * lc.mtp.params;
        if (!with_emb) {
          // The lookup's gradient reaches the fp32 main_grad through the embedding hook, tied
          // (the output layer is the copy) or not.
          if (!m.tied_embeddings) x.edge_params += lc.emb.params;
          x.cost.b.comp += lc.emb_grad_add;
        }
      }
    }
    if (x.edge_params > 0) {
      const FwdBwd z = zero3_edge(x.edge_params, with_lg ? 1 : 0);
      x.cost.f += z.f;
      x.cost.b += z.b;
      x.params += x.edge_params;
    }
    x.fwd = to_sim_time(Seconds(x.cost.f.total()));
    x.bwd = to_sim_time(Seconds(x.cost.b.total()));
    return x;
  };
  // Every global stage but the first and last holds q or q + 1 layers, the q + 1 ones in the
  // contiguous range [a, a + rem). For a dense model these two inner shapes and the two edge
  // stages are all there is: each is built once, the per-stage arrays are filled by ranges and
  // each rank's summary is counted in closed form (O(pp), not O(pp * vpp)). MoE models (with a
  // dense/MoE boundary inside a stage) build and sum stage by stage, g = c * pp + r.
  const long q = layout.q;
  if (!m.is_moe()) {
    const long a = layout.plus_begin;
    DenseStages& d = st.dense;
    d.valid = true;
    d.plus_first = a;
    d.plus_count = rem;
    const Stage shapes[4] = {make_stage(q, 0, false, false), make_stage(q + 1, 0, false, false),
                             make_stage(layers_of(0), 0, true, G == 1), make_stage(layers_of(G - 1), 0, G == 1, true)};
    for (int i = 0; i < 4; ++i) {
      d.fwd[i] = shapes[i].fwd;
      d.bwd[i] = shapes[i].bwd;
      d.act[i] = shapes[i].act;
      d.cost[i] = shapes[i].cost;
    }
    // The planner's memory filter and bound read only chunk 0's stages (and the summaries):
    // the rest is filled when an exact activation peak or a simulation needs it.
    fill_stage_arrays(st, full ? G : std::min<long>(G, p.pp), full);
    const Stage &inner0 = shapes[0], &inner1 = shapes[1], &edge0 = shapes[2], &edge1 = shapes[3];
    auto ceil_div = [](long x, long den) { return x >= 0 ? (x + den - 1) / den : -((-x) / den); };
    const long v = p.vpp;
    for (int r = 0; r < p.pp; ++r) {
      // Chunks c of rank r (stage c * pp + r) inside [a, a + rem), less the edge stages.
      auto chunks_in = [&](long lo, long hi) {
        return std::max(0L, std::clamp(ceil_div(hi - r, p.pp), 0L, v) - std::clamp(ceil_div(lo - r, p.pp), 0L, v));
      };
      const bool e0 = r == 0, e1 = r == p.pp - 1 && G > 1;
      const auto in_plus = [&](long g) { return g >= a && g < a + rem ? 1L : 0L; };
      const long n1 = chunks_in(a, a + rem) - (e0 ? in_plus(0) : 0) - (e1 ? in_plus(G - 1) : 0);
      const long n0 = v - n1 - (e0 ? 1 : 0) - (e1 ? 1 : 0);
      RankSummary& rs = st.rank[static_cast<std::size_t>(r)];
      auto add = [&](const Stage& x, long count, long layers) {
        if (count <= 0) return;
        rs.params += double(count) * x.params;
        rs.edge_params += double(count) * x.edge_params;
        rs.transient = std::max(rs.transient, x.transient);
        rs.layers += count * layers;
        rs.fwd += count * x.fwd;
        rs.bwd += count * x.bwd;
        rs.comp += double(count) * (x.cost.f.comp + x.cost.b.comp);
        rs.act_min = std::min(rs.act_min, x.act);
        rs.act_max = std::max(rs.act_max, x.act);
      };
      if (e0) add(edge0, 1, layers_of(0));
      add(inner0, n0, q);
      add(inner1, n1, q + 1);
      if (e1) add(edge1, 1, layers_of(G - 1));
    }
  } else {
    auto moe_split = [&](long first, long n) {  // MoE layers are those at index >= dense_layers
      const long dense_layers = static_cast<long>(m.moe.dense_layers);
      return std::min(n, std::max(0L, first + n - std::max(first, dense_layers)));
    };
    long first = 0;
    for (int c = 0, g = 0; c < p.vpp; ++c) {
      for (int r = 0; r < p.pp; ++r, ++g) {
        const long n = layers_of(g);
        const long nm = moe_split(first, n);
        const Stage x = make_stage(n - nm, nm, g == 0, g == G - 1);
        first += n;
        if (full) st.stage_cost[g] = x.cost;
        ps.fwd[g] = x.fwd;
        ps.bwd[g] = x.bwd;
        ps.p2p[g] = g + 1 < G ? st.hop[static_cast<std::size_t>(r)] : 0;
        ps.activation_bytes[g] = x.act;
        RankSummary& rs = st.rank[static_cast<std::size_t>(r)];
        rs.params += x.params;
        rs.expert_params += x.expert_params;
        rs.edge_params += x.edge_params;
        rs.transient = std::max(rs.transient, x.transient);
        rs.layers += n;
        rs.fwd += x.fwd;
        rs.bwd += x.bwd;
        rs.comp += x.cost.f.comp + x.cost.b.comp;
        rs.act_min = std::min(rs.act_min, x.act);
        rs.act_max = std::max(rs.act_max, x.act);
      }
    }
  }
  const double dense_dp = double(st.dp_dense.size), expert_dp = double(st.dp_expert.size);
  for (RankSummary& rs : st.rank) {
    const double dprm = rs.params - rs.expert_params, eprm = rs.expert_params;
    auto both = [&](double per_param, double (&out)[2]) {
      out[0] = per_param * dprm + per_param * eprm;
      out[1] = per_param * dprm / dense_dp + per_param * eprm / expert_dp;
    };
    both(kWeightBytes, rs.weights);
    // ZeRO-3 (FSDP) with fp32 gradients: PyTorch FSDP keeps the sharded FlatParameter in its
    // original fp32 dtype, which is the master copy counted with the optimizer state, and
    // casts it to 16 bits only when gathering (MixedPrecision.param_dtype applies to the
    // unsharded copy); no 16-bit shard persists: 4 (fp32 param) + 4 (fp32 grad) + 8 (Adam m, v)
    // = 16 B per parameter, as ZeRO-3's 2 + 2 + 12.
    if (s.training.fp32_grads) rs.weights[1] = 0;
    both(grad_bytes(s), rs.gradients);
    both(kOptimizerBytes, rs.optimizer);
  }
}

MemoryReport step_memory(const Scenario& s, const StepModel& st) { return step_memory(s, st, activation_peaks(st.ps)); }

namespace {

// 16-bit weights on a GPU of a rank: whole, or sharded with ZeRO-3; ZeRO-3 without resharding
// after forward holds every layer's gathered copy from its forward to its backward on top of
// the shard (docs/model.md §6.5, §8).
// ZeRO-3 shards over data parallelism; with none (every data-parallel group of one GPU) PyTorch
// FSDP runs as NO_SHARD ("switching to use NO_SHARD ... since the world size is 1"): no
// gathered copies, no temporaries, whole weights once.
bool zero3_shards(const Scenario& s, const StepModel& st) {
  return s.parallel.zero >= 3 && (st.dp_dense.size > 1 || st.dp_expert.size > 1);
}

double rank_weights(const Scenario& s, const StepModel& st, const RankSummary& rk) {
  const int z = s.parallel.zero;
  return zero3_shards(s, st) && !s.parallel.reshard_after_forward ? rk.weights[0] + rk.weights[1] : rk.weights[z >= 3];
}

// Transient working set of a rank, framework reserve and ZeRO-3's gathered layers (bytes).
double rank_temporary(const Scenario& s, const StepModel& st, const RankSummary& rk) {
  double temp = rk.transient + kFrameworkReserveBytes;
  if (zero3_shards(s, st)) {
    // Two layers' parameters gathered at once (current + prefetched), plus their gradients;
    // without resharding after forward the gathered parameters are counted as weights (§8).
    // The root unit's (embedding, output layer) stay gathered from forward to backward, and the
    // output layer's whole gradient lives from the first backward to the root's reduce-scatter.
    const double layer = std::max(st.lc->dense_w.params, st.lc->moe_w.params);
    const double per_param = (s.parallel.reshard_after_forward ? kWeightBytes : 0.0) + grad_bytes(s);
    temp += 2.0 * per_param * layer;
    temp += per_param * rk.edge_params;
  }
  return temp;
}

// Memory of one GPU of pipeline rank r (16 B/param split by ZeRO, activations at their peak,
// transient working set and framework reserve).
StageMemory rank_memory(const Scenario& s, const StepModel& st, int r, const ActivationPeak& peak) {
  const int z = s.parallel.zero;
  const RankSummary& rk = st.rank[static_cast<std::size_t>(r)];
  StageMemory sm;
  sm.stage = r;
  sm.layers = rk.layers;
  sm.params = rk.params;
  sm.weights = Bytes(rank_weights(s, st, rk));
  sm.persistent_weights = Bytes(rk.weights[z >= 3]);
  sm.gradients = Bytes(rk.gradients[z >= 2]);
  sm.optimizer = Bytes(rk.optimizer[z >= 1]);
  sm.activations = Bytes(peak.bytes);
  sm.peak_in_flight = peak.in_flight;
  sm.temporary = Bytes(rank_temporary(s, st, rk));
  sm.total = sm.weights + sm.gradients + sm.optimizer + sm.activations + sm.temporary;
  return sm;
}

}  // namespace

MemoryReport step_memory(const Scenario& s, const StepModel& st, const std::vector<ActivationPeak>& peaks) {
  MemoryReport mr;
  mr.capacity_bytes_per_gpu = s.cluster.gpu.hbm_capacity();
  for (int r = 0; r < s.parallel.pp; ++r) {
    mr.per_stage.push_back(rank_memory(s, st, r, peaks[r]));
    if (mr.per_stage.back().total > mr.peak_bytes_per_gpu) mr.peak_bytes_per_gpu = mr.per_stage.back().total;
  }
  mr.fits = mr.peak_bytes_per_gpu <= mr.capacity_bytes_per_gpu;
  return mr;
}

double peak_memory_bytes(const Scenario& s, const StepModel& st, const std::vector<ActivationPeak>& peaks) {
  // rank_memory's total, summed in the same order, without the report.
  const int z = s.parallel.zero;
  double peak = 0;
  for (int r = 0; r < s.parallel.pp; ++r) {
    const RankSummary& rk = st.rank[static_cast<std::size_t>(r)];
    const double total =
        rank_weights(s, st, rk) + rk.gradients[z >= 2] + rk.optimizer[z >= 1] + peaks[r].bytes + rank_temporary(s, st, rk);
    peak = std::max(peak, total);
  }
  return peak;
}

namespace {

// Optimizer step time of pipeline rank r: memory-bound over its (ZeRO-sharded) parameters.
double optimizer_time(const Scenario& s, const Accelerator& acc, const StepModel& st, int r) {
  const RankSummary& rk = st.rank[static_cast<std::size_t>(r)];
  const double prm = rk.params, eprm = rk.expert_params;
  const double local = s.parallel.zero >= 1 ? (prm - eprm) / double(st.dp_dense.size) + eprm / double(st.dp_expert.size)
                                            : prm;
  return acc.memory_bound(Bytes((kOptimizerStepBytes + 2.0 * grad_bytes(s)) * local)).value;
}

// The embedding-gradient all-reduce that ends the step of the first and last pipeline ranks
// (build_step).
double embedding_sync(const StepModel& st, int r) {
  return r == 0 || r + 1 == static_cast<int>(st.rank.size()) ? st.embedding_sync : 0.0;
}

// The data-parallel collectives of a rank holding `prm` parameters (`eprm` of them routed
// experts), before any overlap: gradient reduction (reduce-scatter with a sharded optimizer,
// else all-reduce) and the sharded optimizer's parameter all-gather. ZeRO-2 shards the
// gradient buffer, which therefore cannot accumulate whole gradients over micro-batches: it
// reduce-scatters after every micro-batch's backward (DeepSpeed stage 2; PyTorch FSDP
// SHARD_GRAD_OP), `reductions` = m times per step. ZeRO-3 has none here: its gathers and
// reduce-scatters run per micro-batch inside the stages.
struct DpComm {
  double reduce = 0, gather = 0;
  double reductions = 1;
};
DpComm dp_comm(const Scenario& s, const StepModel& st, double prm, double eprm) {
  const auto& p = s.parallel;
  const double dprm = prm - eprm;
  DpComm c;
  if (p.zero == 3) return c;
  if (p.zero == 2) c.reductions = double(st.micro);
  const double g = grad_bytes(s);
  const bool sharded = p.zero >= 1;
  for (const auto& memo : st.dp_memo) {
    if (memo.prm == prm && memo.eprm == eprm && memo.grad_bytes == g && memo.sharded == sharded &&
        memo.dense_size == st.dp_dense.size && memo.dense_local == st.dp_dense.local &&
        memo.expert_size == st.dp_expert.size && memo.expert_local == st.dp_expert.local) {
      c.reduce = memo.reduce;
      c.gather = memo.gather;
      return c;
    }
  }
  if (sharded) {
    c.reduce = reduce_scatter(Bytes(g * dprm), st.dp_dense, st.fab).value +
               reduce_scatter(Bytes(g * eprm), st.dp_expert, st.fab).value;
    c.gather = all_gather(Bytes(kWeightBytes * dprm), st.dp_dense, st.fab).value +
               all_gather(Bytes(kWeightBytes * eprm), st.dp_expert, st.fab).value;
  } else {
    c.reduce = all_reduce(Bytes(g * dprm), st.dp_dense, st.fab).value +
               all_reduce(Bytes(g * eprm), st.dp_expert, st.fab).value;
  }
  st.dp_memo[st.dp_memo_next] = DpCommMemo{prm, eprm, g, st.dp_dense.size, st.dp_dense.local, st.dp_expert.size,
                                           st.dp_expert.local, sharded, c.reduce, c.gather};
  st.dp_memo_next = (st.dp_memo_next + 1) % 8;
  return c;
}

// Data-parallel time left exposed after a rank's pipeline work: the gradient reduction
// overlaps the last micro-batch's backwards (`last_bwd`, seconds), ZeRO-2's per-micro-batch
// reductions each their own micro-batch's; the parameter all-gather of a sharded optimizer
// overlaps the next step's first forwards (`first_fwd`) (Megatron
// --overlap-grad-reduce/--overlap-param-gather).
double exposed_dp(const Scenario& s, const DpComm& c, double last_bwd, double first_fwd) {
  const bool ov = s.parallel.overlap.dp;
  return c.reductions * (ov ? std::max(0.0, c.reduce - last_bwd) : c.reduce) +
         (ov ? std::max(0.0, c.gather - first_fwd) : c.gather);
}

double exposed_dp(const Scenario& s, const StepModel& st, int r, double last_bwd, double first_fwd) {
  const RankSummary& rk = st.rank[static_cast<std::size_t>(r)];
  return exposed_dp(s, dp_comm(s, st, rk.params, rk.expert_params), last_bwd, first_fwd);
}

// step_time_lower_bound of the scenario (`own`) and, when `alt_reductions` > 0, of the same split
// with that many gradient reductions per step (`alt`): ZeRO-2 (m) against ZeRO-1 (1) share the
// pipeline and the collectives, so one pass bounds both.
void lower_bounds(const Scenario& s, const Accelerator& acc, const StepModel& st, double alt_reductions, double& own,
                  double& alt, double* own_mono = nullptr, double* alt_mono = nullptr) {
  // Rank r cannot start before global stages 0..r-1 have run the first micro-batch's forward;
  // it then has m x (its chunks' forward + backward) of work; and its last task is chunk 0's
  // backward of the last micro-batch, after which stages r-1..0 still run that backward (true
  // for 1F1B and for Megatron's interleaved order). So rank 0 ends no earlier than
  //   max_r [ sum_{g<r} (f_g + b_g + 2 p2p_g) + m * sum_c (f + b)(c*p + r) ],
  // and every rank r no earlier than sum_{g<r} (f_g + p2p_g) + m * busy_r; each then adds its exposed
  // data-parallel time (known without simulating: it depends on the last backwards and first
  // forwards of the rank only) and its optimizer step. Transfers and bubbles beyond fill and
  // drain only add. Uniform 1F1B without transfers or DP meets the bound: (m + p - 1)(f + b).
  const auto& p = s.parallel;
  const auto& ps = st.ps;
  const double m = double(st.micro);
  double head_f = 0, head_fb = 0, rank0 = 0, best = 0, tail0 = 0, best_alt = 0, tail0_alt = 0;
  for (int r = 0; r < p.pp; ++r) {
    const RankSummary& rk = st.rank[static_cast<std::size_t>(r)];
    const double busy = m * double(rk.fwd + rk.bwd);
    rank0 = std::max(rank0, head_fb + busy);
    // Ranks mostly hold the same parameters (only the embedding, logits and uneven-layer ranks
    // differ), and so do neighbouring splits: dp_comm answers repeats from st.dp_memo.
    DpComm c = dp_comm(s, st, rk.params, rk.expert_params);
    const double last_bwd = from_sim_time(rk.bwd).value, first_fwd = from_sim_time(rk.fwd).value;
    const double opt = optimizer_time(s, acc, st, r) + embedding_sync(st, r);
    const double tail = exposed_dp(s, c, last_bwd, first_fwd) + opt;
    if (r == 0) tail0 = tail;
    best = std::max(best, (head_f + busy) * 1e-9 + tail);
    if (alt_reductions > 0) {
      c.reductions = alt_reductions;
      const double tail_alt = exposed_dp(s, c, last_bwd, first_fwd) + opt;
      if (r == 0) tail0_alt = tail_alt;
      best_alt = std::max(best_alt, (head_f + busy) * 1e-9 + tail_alt);
    }
    // The chain through stage r also waits for its transfer to stage r + 1 (forward) and back
    // (backward), overlapped or not.
    head_f += double(ps.fwd[r] + ps.p2p[r]);
    head_fb += double(ps.fwd[r] + ps.bwd[r] + 2 * ps.p2p[r]);
  }
  own = std::max(best, rank0 * 1e-9 + tail0);
  alt = alt_reductions > 0 ? std::max(best_alt, rank0 * 1e-9 + tail0_alt) : own;
  // Each rank's own term never decreases when tasks lengthen (its busy time grows by m times
  // what its tails can lose); the rank-0 drain term can, when another rank sets the drain.
  if (own_mono) *own_mono = best;
  if (alt_mono) *alt_mono = alt_reductions > 0 ? best_alt : best;
}
}  // namespace

bool dp_tail_hidden(const Scenario& s, const StepModel& st) {
  for (int r = 0; r < s.parallel.pp; ++r) {
    const RankSummary& rk = st.rank[static_cast<std::size_t>(r)];
    if (exposed_dp(s, st, r, from_sim_time(rk.bwd).value, from_sim_time(rk.fwd).value) > 0) return false;
  }
  return true;
}

double step_time_lower_bound(const Scenario& s, const Accelerator& acc, const StepModel& st) {
  double own = 0, alt = 0;
  lower_bounds(s, acc, st, 0, own, alt);
  return own;
}

std::pair<double, double> step_time_lower_bounds_zero12(const Scenario& s, const Accelerator& acc, const StepModel& st) {
  double z1 = 0, z2 = 0;
  lower_bounds(s, acc, st, double(st.micro), z1, z2);
  return {z1, z2};
}

StepBound step_time_bound(const Scenario& s, const Accelerator& acc, const StepModel& st) {
  StepBound b;
  double alt = 0;
  lower_bounds(s, acc, st, 0, b.time, alt, &b.monotone);
  return b;
}

std::pair<StepBound, StepBound> step_time_bounds_zero12(const Scenario& s, const Accelerator& acc, const StepModel& st) {
  StepBound z1, z2;
  lower_bounds(s, acc, st, double(st.micro), z1.time, z2.time, &z1.monotone, &z2.monotone);
  return {z1, z2};
}

Estimate finish_estimate(const Scenario& s, const Accelerator& acc, const StepModel& st, const PipelineResult* given) {
  const auto& m = s.model;
  const auto& p = s.parallel;
  const auto& cl = s.cluster;
  const auto& tr = s.training;
  const PipelineResult simulated = given ? PipelineResult{} : simulate_pipeline(st.ps);
  const PipelineResult& pr = given ? *given : simulated;

  Estimate e;
  e.micro_batches = st.micro;
  e.ep_load_imbalance = st.lc->moe_w.ep_imbalance;
  e.sim_events = pr.events;
  std::vector<ActivationPeak> peaks(pr.peak_activation_bytes.size());
  for (std::size_t r = 0; r < peaks.size(); ++r) peaks[r] = {pr.peak_activation_bytes[r], pr.peak_in_flight[r]};
  e.memory = step_memory(s, st, peaks);

  // --- per pipeline rank: data-parallel tail and optimizer. The step ends with the last rank
  // to finish; the breakdown describes the busiest rank (most time working, communicating or
  // blocked), the pipeline's bottleneck: in 1F1B rank 0 finishes last, and when the stages are
  // unequal (dense first layers of an MoE, the embedding or logits stage) its own work would hide
  // what the others wait for.
  double best_end = -1, most_work = -1;
  int crit = 0;
  std::vector<double> exposed(p.pp), opt(p.pp);
  for (int r = 0; r < p.pp; ++r) {
    exposed[r] = exposed_dp(s, st, r, from_sim_time(pr.last_backward[r]).value, from_sim_time(pr.first_forward[r]).value);
  }
  // The embedding all-reduce starts when both edge ranks have reduced their gradients.
  const double edges_ready = std::max(from_sim_time(pr.finish[0]).value + exposed[0],
                                      from_sim_time(pr.finish[p.pp - 1]).value + exposed[p.pp - 1]);
  for (int r = 0; r < p.pp; ++r) {
    opt[r] = optimizer_time(s, acc, st, r);
    const double sync = embedding_sync(st, r);
    const double ready = sync > 0 ? edges_ready : from_sim_time(pr.finish[r]).value + exposed[r];
    best_end = std::max(best_end, ready + sync + opt[r]);
    const double work = from_sim_time(pr.busy[r] + pr.blocked[r]).value + exposed[r] + sync + opt[r];
    if (work > most_work) {
      most_work = work;
      crit = r;
    }
  }
  e.step_time = Seconds(best_end);

  // --- breakdown of the busiest rank; compute time of every rank (energy)
  Cost sum;
  double compute_all_ranks = 0;
  for (int r = 0; r < p.pp; ++r) {
    for (int ch = 0; ch < p.vpp; ++ch) {
      const int g = ch * p.pp + r;
      Cost c = st.stage_cost[g].f.scaled(double(st.micro));
      c += st.stage_cost[g].b.scaled(double(st.micro));
      compute_all_ranks += c.comp;
      if (r == crit) sum += c;
    }
  }
  // Power is linear in the computing share (power_w_per_gpu), so the mean over the pipeline
  // ranks' shares gives the cluster's mean draw.
  e.compute_fraction = std::clamp(compute_all_ranks / double(p.pp) / e.step_time.value, 0.0, 1.0);
  // The simulation runs on whole nanoseconds; scale the per-category sums so that they add up
  // exactly to the busiest rank's simulated busy time.
  const double busy = from_sim_time(pr.busy[crit]).value;
  if (sum.total() > 0) sum = sum.scaled(busy / sum.total());
  Breakdown& b = e.breakdown;
  b.rank = crit;
  b.compute = Seconds(sum.comp);
  b.tp_comm = Seconds(sum.tp);
  b.cp_comm = Seconds(sum.cp);
  b.ep_comm = Seconds(sum.ep);
  b.dp_comm = Seconds(sum.dp + exposed[crit]);
  b.pp_comm = from_sim_time(pr.blocked[crit]) + Seconds(embedding_sync(st, crit));
  b.optimizer = Seconds(opt[crit]);
  b.pp_bubble = Seconds(std::max(0.0, e.step_time.value - (b.compute + b.tp_comm + b.cp_comm + b.ep_comm + b.dp_comm +
                                                           b.pp_comm + b.optimizer).value));

  // --- throughput and utilisation
  const ModelCounts mc = count_model(m, tr.seq_len);
  e.params_total = mc.params_total;
  e.params_active = mc.params_active;
  e.tokens_per_step = double(tr.global_batch) * double(tr.seq_len);
  e.tokens_per_s = e.tokens_per_step / e.step_time.value;
  e.tokens_per_s_per_gpu = e.tokens_per_s / double(cl.num_gpus);
  e.model_flops_per_token = mc.flops_per_token;
  // Hardware FLOPs add what recomputation repeats: the whole forward (full) or attention (selective).
  double recompute_extra = 0;
  if (p.recompute == Recompute::kFull) {
    // The recomputed forward covers the transformer layers (and the multi-token-prediction
    // modules' layers and projections), not the logits GEMMs.
    recompute_extra = (mc.flops_per_token - 6.0 * double(m.vocab) * double(m.hidden) * double(1 + m.mtp_layers)) / 3.0;
  } else if (p.recompute == Recompute::kSelective) {
    // Forward attention per token, counted like the model FLOPs (whole s x s scores), when core
    // attention is recomputed; plus the recomputed GEMMs of each layer kind, per token of the
    // rank (the layer work is one rank's share of tp x the micro-batch's tokens).
    const double dqk_dv = m.mla ? double(m.mla->qk_nope_head_dim + m.mla->qk_rope_head_dim + m.mla->v_head_dim)
                                : 2.0 * double(m.head_dim);
    const long layers = m.layers + m.mtp_layers;  // the modules' layers are of the last kind
    if (p.recompute_modules & kRecomputeCoreAttn) {
      recompute_extra = 2.0 * double(tr.seq_len) * double(m.heads) * dqk_dv * double(layers);
    }
    const double rank_tokens = double(p.micro_batch) * double(tr.seq_len) / double(p.cp) / double(p.tp);
    auto gemm_flops = [](const LayerWork& w) {
      double f = 0;
      for (const auto& g : w.recompute_gemms) f += g.flops().value / g.load;
      return f;
    };
    const long moe_layers = m.is_moe() ? layers - m.moe.dense_layers : 0;
    recompute_extra += (double(layers - moe_layers) * gemm_flops(st.lc->dense_w) +
                        double(moe_layers) * gemm_flops(st.lc->moe_w)) /
                       rank_tokens;
  }
  e.hardware_flops_per_token = mc.flops_per_token + recompute_extra;
  const double peak = cl.gpu.peak(tr.precision).value;
  e.model_tflops_per_gpu = e.model_flops_per_token * e.tokens_per_s_per_gpu / kTera;
  e.mfu = e.model_flops_per_token * e.tokens_per_s_per_gpu / peak;
  e.hfu = e.hardware_flops_per_token * e.tokens_per_s_per_gpu / peak;

  // --- run totals
  RunTotals& run = e.run;
  if (tr.tokens > 0 || tr.flops > 0) {
    run.defined = true;
    run.tokens = tr.tokens > 0 ? tr.tokens : tr.flops / e.model_flops_per_token;
    run.flops = run.tokens * e.model_flops_per_token;
    run.steps = run.tokens / e.tokens_per_step;
    const double seconds = run.steps * e.step_time.value;
    run.days = seconds / 86400.0;
    run.gpu_hours = double(cl.num_gpus) * seconds / 3600.0;
    run.cost_usd = run.gpu_hours * cl.price_per_gpu_hour_usd;
    run.avg_power_w_per_gpu = detail::power_w_per_gpu(cl, e.compute_fraction);
    run.energy_mwh = double(cl.num_gpus) * run.avg_power_w_per_gpu * cl.pue * seconds / 3600.0 / 1e6;
  }
  return e;
}

}  // namespace wanka::detail

namespace wanka {

Estimate estimate(const Scenario& s) {
  validate_scenario(s);
  const Accelerator acc(s.cluster.gpu, s.training.precision, s.training.attention, attention_head_dim(s.model));
  detail::StepModel st;
  build_step(s, std::make_shared<const detail::LayerCosts>(detail::layer_costs(s, acc, detail::make_fabric(s.cluster))), st);
  return detail::finish_estimate(s, acc, st);
}

}  // namespace wanka
