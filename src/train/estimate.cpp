#include "wanka/estimate.hpp"

#include <algorithm>
#include <cmath>

#include "wanka/accelerator.hpp"
#include "wanka/collective.hpp"
#include "wanka/model.hpp"
#include "wanka/pipeline.hpp"

namespace wanka {

namespace {

// Bytes per parameter for mixed-precision Adam (Rajbhandari et al. 2020, ZeRO §3.1):
// 16-bit weights and gradients, fp32 master weights, momentum and variance (K = 12).
constexpr double kWeightBytes = 2.0;
constexpr double kGradBytes = 2.0;
constexpr double kOptimizerBytes = 12.0;
// Optimizer step traffic per parameter: read+write fp32 master, m and v (24 B), read the
// gradient (2 B), write the 16-bit weight (2 B), plus the gradient-norm pass (2 B).
constexpr double kOptimizerStepBytes = 30.0;
// CUDA context, NCCL and cuBLAS workspaces, allocator slack: a fixed reserve per GPU
// (PyTorch's CUDA context alone is 0.3-0.6 GiB; NCCL buffers add a few hundred MiB).
constexpr double kFrameworkReserveBytes = 1.5 * kGiB;
// GPU power draw as a fraction of TDP while not computing (communication, bubbles);
// during compute it is taken as TDP. Engineering estimate; see docs/model.md.
constexpr double kNonComputePowerFraction = 0.4;

struct Cost {
  double comp = 0, tp = 0, cp = 0, ep = 0, dp = 0;
  double total() const { return comp + tp + cp + ep + dp; }
  Cost& operator+=(const Cost& o) {
    comp += o.comp; tp += o.tp; cp += o.cp; ep += o.ep; dp += o.dp;
    return *this;
  }
  Cost scaled(double k) const { return {comp * k, tp * k, cp * k, ep * k, dp * k}; }
};

struct FwdBwd {
  Cost f, b;
};

struct Context {
  const Scenario& s;
  Accelerator acc;
  Fabric fab;
  Group tp, cp, ep, dp_dense, dp_expert;
  bool pp_cross;
};

Seconds tp_pair(const Context& c, Bytes b) {
  // With sequence parallelism an all-gather and a reduce-scatter replace one all-reduce
  // (Korthikanti et al. 2022 §4.2.2); the bytes moved are the same.
  return c.s.parallel.sequence_parallel ? all_gather(b, c.tp, c.fab) + reduce_scatter(b, c.tp, c.fab)
                                        : all_reduce(b, c.tp, c.fab);
}

FwdBwd layer_cost(const Context& c, const LayerWork& w) {
  const auto& p = c.s.parallel;
  FwdBwd r;
  double gemm_f = 0, gemm_b = 0, expert_gemm = 0;
  for (const auto& g : w.gemms) {
    const double tf = c.acc.gemm_fwd(g).value, tb = c.acc.gemm_bwd(g).value;
    gemm_f += tf;
    gemm_b += tb;
    if (g.name[0] == 'e') expert_gemm += tf;
  }
  // Unfused attention runs its two bmms as GEMMs (non-causal: the mask is applied after QK^T,
  // so twice the causal FLOPs) plus the score traffic; fused attention at its calibrated rate.
  const bool unfused = c.s.training.attention == AttentionKernel::kUnfused;
  const double attn_f = unfused ? (c.acc.gemm_flops_time(w.attention_fwd * 2.0) +
                                   c.acc.memory_bound(w.attention_scores_fwd)).value
                                : c.acc.attention_fwd(w.attention_fwd).value;
  const double attn_b = unfused ? (c.acc.gemm_flops_time(w.attention_fwd * 4.0) +
                                   c.acc.memory_bound(w.attention_scores_bwd)).value
                                : c.acc.attention_bwd(w.attention_fwd).value;
  r.f.comp = gemm_f + attn_f + c.acc.memory_bound(w.elementwise_fwd + w.fp8_cast_fwd).value;
  r.b.comp = gemm_b + attn_b + c.acc.memory_bound(w.elementwise_bwd + w.fp8_cast_bwd).value;

  const double tp = w.tp_collectives_fwd * (tp_pair(c, w.tp_bytes) + tp_pair(c, w.tp_ffn_bytes)).value;
  r.f.tp = p.overlap.tp ? std::max(0.0, tp - gemm_f) : tp;
  r.b.tp = p.overlap.tp ? std::max(0.0, tp - gemm_b) : tp;

  if (p.cp > 1) {
    // Ring attention: cp-1 exchanges of the local K,V chunk forward; K,V and their
    // gradients backward (Liu et al. 2023; Megatron-Core context parallelism).
    const Seconds step = p2p(w.cp_kv_bytes, c.cp.domains() > 1, c.fab);
    const double f = double(p.cp - 1) * step.value, b = 2.0 * f;
    r.f.cp = p.overlap.cp ? std::max(0.0, f - attn_f) : f;
    r.b.cp = p.overlap.cp ? std::max(0.0, b - attn_b) : b;
  }
  if (w.ep_all_to_alls_fwd > 0) {
    const double a2a = w.ep_all_to_alls_fwd * all_to_all(w.ep_bytes, c.ep, c.fab).value;
    r.f.ep = p.overlap.ep ? std::max(0.0, a2a - expert_gemm) : a2a;
    r.b.ep = p.overlap.ep ? std::max(0.0, a2a - 2.0 * expert_gemm) : a2a;
  }
  if (p.zero == 3) {
    // FSDP: gather this layer's parameters before forward and again before backward, and
    // reduce-scatter its gradients after backward (Zhao et al. 2023, PyTorch FSDP §3).
    const double dense = w.params - w.expert_params;
    const double ag = all_gather(Bytes(kWeightBytes * dense), c.dp_dense, c.fab).value +
                      all_gather(Bytes(kWeightBytes * w.expert_params), c.dp_expert, c.fab).value;
    const double rs = ag * kGradBytes / kWeightBytes;
    r.f.dp = p.overlap.zero3 ? std::max(0.0, ag - r.f.comp) : ag;
    r.b.dp = p.overlap.zero3 ? std::max(0.0, ag + rs - r.b.comp) : ag + rs;
  }
  // Recomputation repeats the forward (and its communication) inside backward.
  if (p.recompute == Recompute::kFull) {
    r.b.comp += r.f.comp;
    r.b.tp += r.f.tp;
    r.b.cp += r.f.cp;
    r.b.ep += r.f.ep;
  } else if (p.recompute == Recompute::kSelective) {
    r.b.comp += attn_f;
  }
  return r;
}

}  // namespace

Estimate estimate(const Scenario& s) {
  validate_scenario(s);
  const auto& m = s.model;
  const auto& p = s.parallel;
  const auto& cl = s.cluster;
  const auto& tr = s.training;
  const Calibration& cal = cl.gpu.calibration;

  Fabric fab{{BytesPerSecond(cl.scale_up_gbytes_per_s * kGiga * cal.scale_up_efficiency), Seconds(cal.scale_up_latency_s)},
             {BytesPerSecond(cl.nic_gbps / 8.0 * kGiga * cal.scale_out_efficiency / cl.oversubscription),
              Seconds(cal.scale_out_latency_s)}};
  const long domain = std::max(1, cl.scale_up_domain);
  // Rank order tp, cp, (ep within dp x cp), dp, pp: Megatron-Core's default "tp-cp-ep-dp-pp".
  Context c{s,
            Accelerator(cl.gpu, tr.precision),
            fab,
            place_group(p.tp, 1, domain),
            place_group(p.cp, p.tp, domain),
            place_group(p.ep, p.tp, domain),
            place_group(static_cast<long>(p.dp) * p.cp, p.tp, domain),
            place_group(static_cast<long>(p.dp) * p.cp / p.ep, static_cast<long>(p.tp) * p.ep, domain),
            static_cast<long>(p.tp) * p.cp * p.dp >= domain};

  const ShardSpec sh{p.micro_batch, tr.seq_len, p.tp, p.cp, p.ep, p.sequence_parallel, p.recompute, tr.precision, tr.attention};
  const LayerWork dense_w = layer_work(m, sh, false);
  const LayerWork moe_w = m.is_moe() ? layer_work(m, sh, true) : dense_w;
  const FwdBwd dense_c = layer_cost(c, dense_w);
  const FwdBwd moe_c = m.is_moe() ? layer_cost(c, moe_w) : dense_c;
  const EdgeWork emb = embedding_work(m, sh);
  const EdgeWork lg = logits_work(m, sh);

  FwdBwd emb_c, lg_c;
  emb_c.f.comp = c.acc.memory_bound(emb.elementwise_fwd).value;
  emb_c.b.comp = c.acc.memory_bound(emb.elementwise_bwd).value;
  // Vocab-parallel embedding: all-reduce (or reduce-scatter with SP) of its output.
  emb_c.f.tp = p.sequence_parallel ? reduce_scatter(emb.tp_bytes, c.tp, fab).value : all_reduce(emb.tp_bytes, c.tp, fab).value;
  if (p.sequence_parallel) emb_c.b.tp = all_gather(emb.tp_bytes, c.tp, fab).value;  // backward of the reduce-scatter
  for (const auto& g : lg.gemms) {
    lg_c.f.comp += c.acc.gemm_fwd(g).value;
    lg_c.b.comp += c.acc.gemm_bwd(g).value;
  }
  lg_c.f.comp += c.acc.memory_bound(lg.elementwise_fwd).value;
  lg_c.b.comp += c.acc.memory_bound(lg.elementwise_bwd).value;
  if (p.sequence_parallel) {
    lg_c.f.tp = all_gather(lg.tp_bytes, c.tp, fab).value;
    lg_c.b.tp = reduce_scatter(lg.tp_bytes, c.tp, fab).value;
  }
  if (p.tp > 1 && !p.sequence_parallel) lg_c.b.tp = all_reduce(lg.tp_bytes, c.tp, fab).value;

  // --- assign layers to global stages (uneven: the extra layers go to the middle stages,
  // keeping the embedding and logits stages light).
  const int G = p.pp * p.vpp;
  std::vector<long> n_layers(G, m.layers / G);
  const long rem = m.layers % G;
  for (long i = 0; i < rem; ++i) n_layers[(G - rem) / 2 + i] += 1;
  std::vector<long> n_moe(G, 0);
  {
    long first = 0;
    for (int g = 0; g < G; ++g) {
      for (long i = first; i < first + n_layers[g]; ++i) n_moe[g] += (m.is_moe() && i >= m.moe.dense_layers) ? 1 : 0;
      first += n_layers[g];
    }
  }

  const std::int64_t micro = s.grad_accum_steps();
  PipelineSpec ps;
  ps.ranks = p.pp;
  ps.chunks = p.vpp;
  ps.micro_batches = micro;
  ps.overlap_p2p = p.overlap.pp;
  ps.fwd.resize(G);
  ps.bwd.resize(G);
  ps.p2p.resize(G);
  ps.activation_bytes.resize(G);
  std::vector<FwdBwd> stage_cost(G);
  std::vector<double> stage_params(G), stage_expert_params(G), stage_transient(G);
  const double t_loc = double(p.micro_batch) * double(tr.seq_len) / p.cp;
  // Megatron sends the SP-sharded activation between stages (scatter-gather optimisation).
  const Bytes act_msg(2.0 * t_loc * double(m.hidden) / (p.sequence_parallel ? p.tp : 1));
  const SimTime p2p_ns = p.pp > 1 ? to_sim_time(wanka::p2p(act_msg, c.pp_cross, fab)) : 0;
  for (int g = 0; g < G; ++g) {
    const long nd = n_layers[g] - n_moe[g], nm = n_moe[g];
    FwdBwd sc;
    sc.f += dense_c.f.scaled(double(nd));
    sc.b += dense_c.b.scaled(double(nd));
    sc.f += moe_c.f.scaled(double(nm));
    sc.b += moe_c.b.scaled(double(nm));
    double act = double(nd) * dense_w.activations_saved.value + double(nm) * moe_w.activations_saved.value;
    double prm = double(nd) * dense_w.params + double(nm) * moe_w.params;
    double eprm = double(nm) * moe_w.expert_params;
    double transient = std::max(nd ? dense_w.activations_transient.value : 0.0, nm ? moe_w.activations_transient.value : 0.0);
    if (g == 0) {
      sc.f += emb_c.f;
      sc.b += emb_c.b;
      prm += emb.params;
    }
    if (g == G - 1) {
      sc.f += lg_c.f;
      sc.b += lg_c.b;
      act += lg.activations_saved.value;
      // A tied output layer shares the embedding only when both sit on the same GPU.
      const bool shares = m.tied_embeddings && G == 1;
      prm += shares ? lg.params - double(m.vocab) * double(m.hidden) / p.tp : lg.params;
    }
    stage_cost[g] = sc;
    ps.fwd[g] = to_sim_time(Seconds(sc.f.total()));
    ps.bwd[g] = to_sim_time(Seconds(sc.b.total()));
    ps.p2p[g] = g + 1 < G ? p2p_ns : 0;
    ps.activation_bytes[g] = act;
    stage_params[g] = prm;
    stage_expert_params[g] = eprm;
    stage_transient[g] = transient;
  }
  const PipelineResult pr = simulate_pipeline(ps);

  // --- per pipeline rank: memory, data-parallel tail, optimizer
  Estimate e;
  e.micro_batches = micro;
  e.sim_events = pr.events;
  const double dense_dp = double(c.dp_dense.size), expert_dp = double(c.dp_expert.size);
  double best_end = -1;
  int crit = 0;
  std::vector<double> exposed(p.pp), opt(p.pp);
  e.memory.capacity_bytes_per_gpu = cl.gpu.hbm_capacity();
  for (int r = 0; r < p.pp; ++r) {
    double prm = 0, eprm = 0, transient = 0;
    long layers = 0;
    for (int ch = 0; ch < p.vpp; ++ch) {
      const int g = ch * p.pp + r;
      prm += stage_params[g];
      eprm += stage_expert_params[g];
      transient = std::max(transient, stage_transient[g]);
      layers += n_layers[g];
    }
    const double dprm = prm - eprm;
    auto shard = [&](int level, double dense_bytes, double expert_bytes) {
      return p.zero >= level ? dense_bytes / dense_dp + expert_bytes / expert_dp : dense_bytes + expert_bytes;
    };
    StageMemory sm;
    sm.stage = r;
    sm.layers = layers;
    sm.params = prm;
    sm.weights = Bytes(shard(3, kWeightBytes * dprm, kWeightBytes * eprm));
    sm.gradients = Bytes(shard(2, kGradBytes * dprm, kGradBytes * eprm));
    sm.optimizer = Bytes(shard(1, kOptimizerBytes * dprm, kOptimizerBytes * eprm));
    sm.activations = Bytes(pr.peak_activation_bytes[r]);
    sm.peak_in_flight = pr.peak_in_flight[r];
    double temp = transient + kFrameworkReserveBytes;
    if (p.zero == 3) {
      // Two layers' parameters gathered at once (current + prefetched), plus their gradients.
      const double layer = std::max(dense_w.params, moe_w.params);
      temp += 2.0 * (kWeightBytes + kGradBytes) * layer;
    }
    sm.temporary = Bytes(temp);
    sm.total = sm.weights + sm.gradients + sm.optimizer + sm.activations + sm.temporary;
    e.memory.per_stage.push_back(sm);
    if (sm.total > e.memory.peak_bytes_per_gpu) e.memory.peak_bytes_per_gpu = sm.total;

    // Gradient reduction (reduce-scatter with a sharded optimizer, else all-reduce) overlaps
    // the last micro-batch's backward; the parameter all-gather of a sharded optimizer
    // overlaps the next step's first forward (Megatron --overlap-grad-reduce/--overlap-param-gather).
    double rs = 0, ag = 0;
    if (p.zero == 3) {
      rs = 0;  // already per micro-batch inside the stages
    } else if (p.zero >= 1) {
      rs = reduce_scatter(Bytes(kGradBytes * dprm), c.dp_dense, fab).value +
           reduce_scatter(Bytes(kGradBytes * eprm), c.dp_expert, fab).value;
      ag = all_gather(Bytes(kWeightBytes * dprm), c.dp_dense, fab).value +
           all_gather(Bytes(kWeightBytes * eprm), c.dp_expert, fab).value;
    } else {
      rs = all_reduce(Bytes(kGradBytes * dprm), c.dp_dense, fab).value +
           all_reduce(Bytes(kGradBytes * eprm), c.dp_expert, fab).value;
    }
    const double lb = from_sim_time(pr.last_backward[r]).value, ff = from_sim_time(pr.first_forward[r]).value;
    exposed[r] = (p.overlap.dp ? std::max(0.0, rs - lb) : rs) + (p.overlap.dp ? std::max(0.0, ag - ff) : ag);
    const double local_params = p.zero >= 1 ? dprm / dense_dp + eprm / expert_dp : prm;
    opt[r] = c.acc.memory_bound(Bytes(kOptimizerStepBytes * local_params)).value;
    const double end = from_sim_time(pr.finish[r]).value + exposed[r] + opt[r];
    if (end > best_end) {
      best_end = end;
      crit = r;
    }
  }
  e.memory.fits = e.memory.peak_bytes_per_gpu <= e.memory.capacity_bytes_per_gpu;
  e.step_time = Seconds(best_end);

  // --- breakdown of the critical rank
  Cost sum;
  for (int ch = 0; ch < p.vpp; ++ch) {
    const int g = ch * p.pp + crit;
    sum += stage_cost[g].f.scaled(double(micro));
    sum += stage_cost[g].b.scaled(double(micro));
  }
  // The simulation runs on whole nanoseconds; scale the per-category sums so that they add up
  // exactly to the critical rank's simulated busy time.
  const double busy = from_sim_time(pr.busy[crit]).value;
  if (sum.total() > 0) sum = sum.scaled(busy / sum.total());
  Breakdown& b = e.breakdown;
  b.compute = Seconds(sum.comp);
  b.tp_comm = Seconds(sum.tp);
  b.cp_comm = Seconds(sum.cp);
  b.ep_comm = Seconds(sum.ep);
  b.dp_comm = Seconds(sum.dp + exposed[crit]);
  b.pp_comm = from_sim_time(pr.blocked[crit]);
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
    // The recomputed forward covers the transformer layers, not the logits GEMM.
    recompute_extra = (mc.flops_per_token - 6.0 * double(m.vocab) * double(m.hidden)) / 3.0;
  } else if (p.recompute == Recompute::kSelective) {
    // Forward attention per token, counted like the model FLOPs (whole s x s scores).
    const double dqk_dv = m.mla ? double(m.mla->qk_nope_head_dim + m.mla->qk_rope_head_dim + m.mla->v_head_dim)
                                : 2.0 * double(m.head_dim);
    recompute_extra = 2.0 * double(tr.seq_len) * double(m.heads) * dqk_dv * double(m.layers);
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
    const double busy_frac = std::clamp(b.compute.value / e.step_time.value, 0.0, 1.0);
    const double gpu_w = cl.gpu.tdp_w * (kNonComputePowerFraction + (1.0 - kNonComputePowerFraction) * busy_frac);
    run.avg_power_w_per_gpu = gpu_w + cl.node_overhead_w_per_gpu;
    run.energy_mwh = double(cl.num_gpus) * run.avg_power_w_per_gpu * cl.pue * seconds / 3600.0 / 1e6;
  }
  return e;
}

}  // namespace wanka
