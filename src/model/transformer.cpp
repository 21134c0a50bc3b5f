#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

#include "wanka/model.hpp"
#include "wanka/scenario.hpp"

namespace wanka {

namespace {

constexpr double kAct = 2.0;  // bytes per activation element (bf16/fp16; FP8 training keeps bf16 activations)

// Matrices in one FFN: gated (SwiGLU: gate, up, down) or plain (GeLU: up, down).
double ffn_mats(const ModelSpec& m) { return m.activation == Activation::kSwiglu ? 3.0 : 2.0; }

struct AttnShape {
  double dqk, dv;       // per-head query/key and value sizes
  double kv_heads;      // heads of K and V as stored for attention
  double rope_dim;      // rotary part of the query/key head
};

AttnShape attn_shape(const ModelSpec& m) {
  if (m.mla) {
    const auto& a = *m.mla;
    return {double(a.qk_nope_head_dim + a.qk_rope_head_dim), double(a.v_head_dim), double(m.heads),
            double(a.qk_rope_head_dim)};
  }
  const double rope = m.position == Position::kRope ? double(m.head_dim) : 0.0;
  return {double(m.head_dim), double(m.head_dim), double(m.kv_heads), rope};
}

// What the embedding, the output head and a multi-token-prediction module see of one
// micro-batch: the TP degree, its tokens on this CP rank, those in sequence-sharded regions,
// the hidden size.
struct EdgeDims {
  double t, T, Tr, h;
};
EdgeDims edge_dims(const ModelSpec& m, const ShardSpec& s) {
  const double t = s.tp, T = double(s.micro_batch) * double(s.seq_len) / s.cp;
  return {t, T, s.sequence_parallel ? T / t : T, double(m.hidden)};
}

}  // namespace

double attention_head_dim(const ModelSpec& m) { return attn_shape(m).dqk; }

LayerParams layer_params(const ModelSpec& m, bool moe_layer) {
  LayerParams p;
  const double h = double(m.hidden), a = double(m.heads);
  if (m.mla) {
    const auto& l = *m.mla;
    const double dqk = double(l.qk_nope_head_dim + l.qk_rope_head_dim);
    const double q = l.q_lora_rank > 0 ? h * double(l.q_lora_rank) + double(l.q_lora_rank) * a * dqk : h * a * dqk;
    const double kv = h * double(l.kv_lora_rank + l.qk_rope_head_dim) +
                      double(l.kv_lora_rank) * a * double(l.qk_nope_head_dim + l.v_head_dim);
    p.attention = q + kv + a * double(l.v_head_dim) * h;
    p.other += double(l.q_lora_rank + l.kv_lora_rank);  // latent norms
  } else {
    const double d = double(m.head_dim), g = double(m.kv_heads);
    p.attention = h * a * d + 2.0 * h * g * d + a * d * h;
  }
  const double mats = ffn_mats(m);
  if (moe_layer) {
    p.experts = double(m.moe.experts) * mats * h * double(m.moe.ffn_hidden);
    p.shared = double(m.moe.shared) * mats * h * double(m.moe.shared_ffn_hidden);
    p.other += h * double(m.moe.experts);  // router
  } else {
    const double f = m.is_moe() ? double(m.moe.dense_ffn_hidden) : double(m.ffn_hidden);
    p.mlp = mats * h * f;
  }
  p.other += (m.norm == Norm::kLayerNorm ? 4.0 : 2.0) * h;
  return p;
}

ModelCounts count_model(const ModelSpec& m, long seq_len) {
  ModelCounts c;
  const double h = double(m.hidden);
  double matmul_active = 0;  // parameters multiplied per token (excludes embedding gather)
  // A layer's parameters touched per token: the routed experts' top_k of experts.
  const auto active = [&](const LayerParams& p, bool moe) {
    const double experts = moe ? p.experts * double(m.moe.top_k) / double(m.moe.experts) : 0.0;
    return p.attention + p.mlp + experts + p.shared + p.other;
  };
  for (int moe = 0; moe <= 1; ++moe) {
    const long n = moe ? (m.is_moe() ? m.layers - m.moe.dense_layers : 0)
                       : (m.is_moe() ? m.moe.dense_layers : m.layers);
    if (n == 0) continue;
    const LayerParams p = layer_params(m, moe != 0);
    c.params_total += double(n) * p.total();
    c.params_active += double(n) * active(p, moe != 0);
    matmul_active += double(n) * active(p, moe != 0);
  }
  c.params_embedding = double(m.vocab) * h + (m.position == Position::kLearned ? double(m.max_seq_len) * h : 0.0);
  c.params_logits = m.tied_embeddings ? 0.0 : double(m.vocab) * h;
  const double final_norm = (m.norm == Norm::kLayerNorm ? 2.0 : 1.0) * h;
  c.params_total += c.params_embedding + c.params_logits + final_norm;
  c.params_active += c.params_embedding + c.params_logits + final_norm;
  matmul_active += double(m.vocab) * h;  // logits GEMM runs even when tied
  if (m.mtp_layers > 0) {
    // Each multi-token-prediction module (mtp_work): a layer of the model's last kind, the 2h x h
    // projection and three norms, and one more pass through the shared output head.
    const LayerParams p = layer_params(m, m.is_moe());
    const double norms = 3.0 * (m.norm == Norm::kLayerNorm ? 2.0 : 1.0) * h;
    const double n = double(m.mtp_layers);
    c.params_mtp = n * (p.total() + 2.0 * h * h + norms);
    matmul_active += n * (active(p, m.is_moe()) + 2.0 * h * h + norms + double(m.vocab) * h);
  }
  const AttnShape at = attn_shape(m);
  // 2 FLOPs per multiply-add, x3 for forward + backward (Kaplan et al. 2020, Eq. 2.1), plus
  // attention scores and values over the whole sequence: 2*s*heads*(dqk + dv) forward per token.
  c.flops_per_token = 6.0 * matmul_active + 3.0 * 2.0 * double(seq_len) * double(m.heads) * (at.dqk + at.dv) *
                                                double(m.layers + m.mtp_layers);
  return c;
}

namespace {

// Inverse of the standard normal distribution function, p in (0, 1): Acklam's rational
// approximation (relative error 1.15e-9) and one Newton step on erfc.
double normal_quantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                 1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                 6.680131188771972e+01,  -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                 -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                 3.754408661907416e+00};
  constexpr double lo = 0.02425;
  auto tail = [&](double q) {
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  };
  double x;
  if (p < lo) {
    x = tail(std::sqrt(-2.0 * std::log(p)));
  } else if (p > 1.0 - lo) {
    x = -tail(std::sqrt(-2.0 * std::log1p(-p)));
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  return x - e * std::sqrt(2.0 * M_PI) * std::exp(0.5 * x * x);
}

}  // namespace

double expected_max_normal(double n) {
  if (!(n > 1.0)) return 0.0;
  // Whole n up to 4,096 from a table built once (the serving cost model asks per iteration).
  static const std::array<double, 4097> table = [] {
    std::array<double, 4097> t{};
    for (std::size_t i = 2; i < t.size(); ++i) t[i] = normal_quantile((double(i) - 0.375) / (double(i) + 0.25));
    return t;
  }();
  if (n == std::floor(n) && n < double(table.size())) return table[static_cast<std::size_t>(n)];
  return normal_quantile((n - 0.375) / (n + 0.25));
}

double ep_load_imbalance(const MoeSpec& moe, int ep, double rows_per_rank) {
  if (ep <= 1 || moe.experts <= 1 || moe.top_k <= 0 || !(rows_per_rank > 0)) return 1.0;
  // A token's k distinct experts put a hypergeometric count on a rank holding L = E/ep of them;
  // over the N tokens of the group the rank's rows S have mean A = N k / ep and variance
  // A (1 - 1/ep)(E - k)/(E - 1), and the ranks' rows sum to N k. Exchangeable normals with a
  // fixed sum are Y_r - mean(Y) for independent Y of variance tau^2 = A (E - k)/(E - 1), so the
  // expected busiest rank is A + tau z(ep).
  const double E = moe.experts, k = std::min<double>(moe.top_k, E), n = ep;
  const double l = 1.0 + expected_max_normal(n) * std::sqrt((E - k) / ((E - 1.0) * rows_per_rank));
  return std::min(l, n * std::min(k, E / n) / k);
}

double busiest_rank_experts_used(const MoeSpec& moe, int ep, double tokens) {
  if (moe.experts <= 0 || moe.top_k <= 0 || !(tokens > 0)) return 0.0;
  const double E = moe.experts, k = std::min<double>(moe.top_k, E), L = E / std::max(1, ep);
  // An expert goes unused by all T tokens with probability q = (1 - k/E)^T, a pair of experts
  // with q2 = (1 - 2k/E + k(k-1)/(E(E-1)))^T (a token picks either of them with 2k/E less the
  // chance it picks both).
  const double q = std::pow(1.0 - k / E, tokens), p = 1.0 - q;
  if (ep <= 1) return L * p;
  const double q2 = E > 1 ? std::pow(std::max(0.0, 1.0 - 2.0 * k / E + k * (k - 1.0) / (E * (E - 1.0))), tokens) : 0.0;
  const double both = 1.0 - 2.0 * q + q2;
  const double var = L * p * (1.0 - p) + L * (L - 1.0) * (both - p * p);
  return std::min(L, L * p + expected_max_normal(ep) * std::sqrt(std::max(0.0, var)));
}

LayerWork layer_work(const ModelSpec& m, const ShardSpec& s, bool moe_layer) {
  LayerWork w;
  const double t = s.tp;
  const double seq = double(s.seq_len) / s.cp;          // tokens of one sequence on this CP rank
  const double T = double(s.micro_batch) * seq;         // tokens entering a GEMM
  const double Tr = s.sequence_parallel ? T / t : T;    // tokens in replicated (non-TP) regions
  const double h = double(m.hidden);
  const double a_loc = double(m.heads) / t;
  const AttnShape at = attn_shape(m);
  const double kv_loc = std::max(1.0, at.kv_heads / t);  // KV heads are replicated when tp > kv_heads
  const bool swiglu = m.activation == Activation::kSwiglu;

  // --- attention projections
  if (m.mla) {
    const auto& l = *m.mla;
    const double q_in = l.q_lora_rank > 0 ? double(l.q_lora_rank) : h;
    // Down projections are replicated across TP ranks (Megatron-Core MLA), up projections split.
    if (l.q_lora_rank > 0) w.gemms.push_back({"q_down", T, double(l.q_lora_rank), h});
    w.gemms.push_back({"q_up", T, a_loc * at.dqk, q_in});
    w.gemms.push_back({"kv_down", T, double(l.kv_lora_rank + l.qk_rope_head_dim), h});
    w.gemms.push_back({"kv_up", T, a_loc * double(l.qk_nope_head_dim + l.v_head_dim), double(l.kv_lora_rank)});
  } else {
    w.gemms.push_back({"qkv", T, (a_loc + 2.0 * kv_loc) * at.dqk, h});
  }
  w.gemms.push_back({"attn_out", T, h, a_loc * at.dv});
  // Causal attention computes half of the s x s score matrix; with load-balanced context
  // parallelism each CP rank does 1/cp of it.
  w.attention_fwd = Flops(double(s.micro_batch) * a_loc * double(s.seq_len) * double(s.seq_len) *
                          (at.dqk + at.dv) / s.cp);

  // --- FFN: the dense MLP, or the routed and shared experts, each as rows x the width of one
  // activation-function input on this rank
  struct FfnPart {
    double rows = 0, width = 0;
    double elems() const { return rows * width; }
  };
  FfnPart dense, routed, shared;
  if (moe_layer) {
    const double E = m.moe.experts, k = m.moe.top_k, fe = double(m.moe.ffn_hidden);
    routed.rows = T * k;  // each rank's experts receive T*k tokens on average
    routed.width = fe / t;
    // The layer waits for the busiest rank, which receives ep_imbalance times that under
    // uniform routing (its GEMMs, activation function and all-to-all traffic; the memory
    // below keeps the mean, as the excess averages out over the micro-batches in flight).
    w.ep_imbalance = ep_load_imbalance(m.moe, s.ep, routed.rows);
    w.gemms.push_back({"router", Tr, E, h, 1, true});
    const double per_expert = routed.rows * w.ep_imbalance * s.ep / E;
    const double local = E / s.ep;
    w.gemms.push_back({"expert_fc1", per_expert, (swiglu ? 2.0 : 1.0) * fe / t, h, local, false, w.ep_imbalance});
    w.gemms.push_back({"expert_fc2", per_expert, h, fe / t, local, false, w.ep_imbalance});
    if (m.moe.shared > 0) {
      const double fs = double(m.moe.shared) * double(m.moe.shared_ffn_hidden);
      shared = {T, fs / t};
      w.gemms.push_back({"shared_fc1", T, (swiglu ? 2.0 : 1.0) * fs / t, h});
      w.gemms.push_back({"shared_fc2", T, h, fs / t});
    }
  } else {
    const double f = m.is_moe() ? double(m.moe.dense_ffn_hidden) : double(m.ffn_hidden);
    dense = {T, f / t};
    w.gemms.push_back({"fc1", T, (swiglu ? 2.0 : 1.0) * f / t, h});
    w.gemms.push_back({"fc2", T, h, f / t});
  }
  const double act_inputs = swiglu ? 2.0 : 1.0;  // activation-function inputs per hidden unit
  // Activation function: read its input(s), write the output.
  auto act_bytes = [&](const FfnPart& q) { return (act_inputs + 1.0) * q.elems() * kAct; };

  // --- memory-bound element-wise work (bytes moved), forward; backward moves about twice as
  // much (reads saved inputs and incoming gradients, writes gradients).
  const double norms = 2.0 * 2.0 * Tr * h * kAct;                  // two norms: read + write
  const double rope = 2.0 * T * (a_loc + kv_loc) * at.rope_dim * kAct;  // rotary on q and k: read + write
  const double permute = moe_layer ? 2.0 * 2.0 * Tr * double(m.moe.top_k) * h * kAct : 0.0;  // permute + unpermute
  double ew = norms + rope + permute;
  ew += 2.0 * 3.0 * Tr * h * kAct;                            // two residual adds: 2 reads + 1 write
  ew += act_bytes(dense) + act_bytes(routed) * w.ep_imbalance + act_bytes(shared);
  w.elementwise_fwd = Bytes(ew);
  w.elementwise_bwd = Bytes(2.0 * ew);
  const bool fp8 = s.precision == Precision::kFp8;
  // Transformer Engine casts each GEMM's activation input (fwd) and output gradient (bwd) to
  // FP8: read 2 bytes, write 1 byte per element, plus the amax reduction pass (~1 byte).
  auto cast_fwd = [&](const Gemm& g) { return fp8 && !g.wide ? 4.0 * g.m * g.k * g.count : 0.0; };
  if (fp8) {
    double fwd = 0, bwd = 0;
    for (const auto& g : w.gemms) {
      fwd += cast_fwd(g);
      if (!g.wide) bwd += 4.0 * g.m * g.n * g.count;  // 16-bit GEMMs take their inputs as they are
    }
    w.fp8_cast_fwd = Bytes(fwd);
    w.fp8_cast_bwd = Bytes(bwd);
  }

  // --- parameters on this GPU
  const LayerParams p = layer_params(m, moe_layer);
  // K and V projections are replicated when tp exceeds the KV heads (kv_loc heads per rank).
  double attn_local = m.mla ? p.attention / t
                            : (p.attention - 2.0 * h * at.kv_heads * at.dqk) / t + 2.0 * h * kv_loc * at.dqk;
  if (m.mla) {  // replicated down projections
    const auto& l = *m.mla;
    const double down = (l.q_lora_rank > 0 ? h * double(l.q_lora_rank) : 0.0) + h * double(l.kv_lora_rank + l.qk_rope_head_dim);
    attn_local = (p.attention - down) / t + down;
  }
  w.expert_params = p.experts / (t * s.ep);
  w.params = attn_local + p.mlp / t + w.expert_params + p.shared / t + p.other;

  // Unfused attention (pre-FlashAttention Megatron): QK^T writes the scores (2 B), the fused
  // scale-mask-softmax reads and writes them (4 B), dropout reads, writes and stores a mask
  // (5 B), the value bmm reads them (2 B): 13 bytes per score element forward, about twice
  // that backward. The two bmms themselves are counted as attention FLOPs.
  const double scores = double(s.micro_batch) * a_loc * seq * double(s.seq_len);
  if (s.attention == AttentionKernel::kUnfused) {
    w.attention_scores_fwd = Bytes(13.0 * scores);
    w.attention_scores_bwd = Bytes(26.0 * scores);
  }

  // --- activations saved for backward (Korthikanti et al. 2022 §4.1, generalised to GQA,
  // gated FFNs and MoE; flash attention stores only q, k, v, output and the softmax
  // statistics, so the 5*a*s/h score term of the paper is absent).
  // With FP8 GEMMs, Transformer Engine keeps the FP8 copy (1 byte) of each GEMM input for the
  // weight-gradient GEMM instead of the 16-bit tensor (TE Linear/LayerNormLinear/GroupedLinear
  // save_for_backward).
  // Selective recompute drops what its modules rebuild in the backward (Megatron-Core
  // --recompute-modules; "output-discarding" modules free their outputs after use,
  // checkpointed ones keep only their inputs).
  const bool sel = s.recompute == Recompute::kSelective;
  auto rc = [&](unsigned module) { return sel && (s.recompute_modules & module) != 0; };
  const double gin = fp8 ? 1.0 : 2.0;
  // A part's internals: the activation function's input(s) (fc1 output, 16-bit) and output
  // (fc2 input, a GEMM input).
  auto internals = [&](const FfnPart& q, bool act_recomputed) {
    return q.elems() * (kAct * act_inputs + (act_recomputed ? 0.0 : gin));
  };
  // Pre-norm outputs. Transformer Engine fuses a norm into the one GEMM that consumes it
  // (LayerNormLinear: the QKV projection, a dense FFN's fc1), which keeps the normalized input
  // (its FP8 copy with FP8) and which the layernorm module cannot split off. The MLA input norm
  // (read by q_down and kv_down) and the MoE pre-MLP norm (read by the router, the dispatch
  // and the shared experts) are separate modules (Megatron-Core layer specs): their outputs
  // are kept once in 16 bits, and with FP8 each consuming GEMM keeps its own 1-byte copy (the
  // MoE router stays 16-bit). The layernorm module discards those outputs, FP8 copies included
  // (the GEMMs then keep a reference to their original input, TE save_original_input).
  const bool drop_norms = rc(kRecomputeLayernorm);
  const double separate_norms = (m.mla ? 1.0 : 0.0) + (moe_layer ? 1.0 : 0.0);
  double saved = 0;
  saved += 2.0 * Tr * h;                                         // norm-1 input
  if (!m.mla) {
    saved += gin * Tr * h;                                       // QKV input (fused norm-1 output)
  } else if (!drop_norms) {
    saved += 2.0 * Tr * h;                                       // norm-1 output: one 16-bit tensor, or q_down's and kv_down's FP8 copies
  }
  if (m.mla) saved += 2.0 * T * double(m.mla->q_lora_rank + m.mla->kv_lora_rank);  // latents
  if (!(m.mla && rc(kRecomputeMlaUpProj))) {
    saved += 2.0 * T * (a_loc * at.dqk + kv_loc * (at.dqk + at.dv));  // q, k, v
  }
  saved += gin * T * a_loc * at.dv;                              // attention output (proj input)
  const double lse = 4.0 * double(s.micro_batch) * a_loc * seq;  // fp32 log-sum-exp
  if (s.attention == AttentionKernel::kUnfused) {
    // Softmax output (2 B), dropout mask (1 B), dropout output (2 B): Korthikanti's 5as/h;
    // core-attention recompute (Korthikanti §5) keeps only the statistics of the recomputation.
    saved += rc(kRecomputeCoreAttn) ? lse : 5.0 * scores;
  } else {
    saved += lse;
  }
  saved += 2.0 * Tr * h;                                         // norm-2 input
  if (moe_layer) {
    const double k = double(m.moe.top_k);
    if (rc(kRecomputeMoe)) {
      // The checkpointed block keeps its input, the norm-2 output, unless the layernorm module
      // discards that too.
      if (!drop_norms) saved += kAct * Tr * h;
    } else {
      if (!drop_norms) saved += kAct * Tr * h;                   // router input (norm-2 output)
      saved += gin * T * k * h;                                  // permuted tokens (expert fc1 input)
      saved += internals(routed, rc(kRecomputeMoeAct));
      // The expert outputs, back on the tokens' own rank (after the TP reduce-scatter and the
      // return all-to-all), which the unpermute keeps to weight them by the router probabilities.
      saved += kAct * Tr * k * h;
      if (shared.rows > 0 && !rc(kRecomputeSharedExperts)) {
        if (fp8 && !drop_norms) saved += gin * Tr * h;           // the shared fc1's own FP8 copy of its input
        saved += internals(shared, false);
      }
    }
  } else if (!rc(kRecomputeMlp)) {
    // (a checkpointed MLP keeps only its input, the norm-2 input counted above)
    saved += gin * Tr * h;                                       // FFN input (fused norm-2 output)
    saved += internals(dense, false);
  }
  const double none_bytes = saved;
  w.activations_saved = Bytes(s.recompute == Recompute::kFull ? 2.0 * Tr * h : saved);
  w.activations_transient = Bytes((s.recompute == Recompute::kFull ? none_bytes : 0.0) + 2.0 * 2.0 * T * h);

  // --- communication
  if (s.tp > 1) {
    w.tp_bytes = Bytes(kAct * T * h);
    // Megatron-Core's all-to-all dispatcher with expert TP = TP gathers the dispatched tokens
    // (T*k rows) across TP; shared experts run on the plain T rows.
    w.tp_ffn_bytes = moe_layer ? Bytes(kAct * T * (double(m.moe.top_k) * w.ep_imbalance + (m.moe.shared > 0 ? 1.0 : 0.0)) * h)
                               : Bytes(kAct * T * h);
    w.tp_collectives_fwd = 1;  // per block (SP: AG before, RS after; else one all-reduce)
  }
  if (moe_layer && s.ep > 1) {
    w.ep_bytes = Bytes(kAct * Tr * double(m.moe.top_k) * h * w.ep_imbalance);
    w.ep_token_elems = Tr * h * w.ep_imbalance;
    w.ep_all_to_alls_fwd = 2;  // dispatch and combine
  }
  if (s.cp > 1) {
    w.cp_kv_bytes = Bytes(kAct * T * kv_loc * (at.dqk + at.dv));
    // Ulysses (a2a): the rank's T tokens of every local head go out, whole heads for the whole
    // sequence come back (cp divides both head counts: check_split).
    w.cp_a2a[0] = Bytes(kAct * T * a_loc * at.dqk);
    w.cp_a2a[1] = Bytes(kAct * T * kv_loc * at.dqk);
    w.cp_a2a[2] = Bytes(kAct * T * kv_loc * at.dv);
    w.cp_a2a[3] = Bytes(kAct * T * a_loc * at.dv);
  }

  // --- what selective recompute repeats in the backward (its TP buffers are the forward's)
  if (sel) {
    double rew = 0;
    auto redo = [&](const char* name) {
      for (const auto& g : w.gemms) {
        if (std::string_view(g.name) == name) {
          w.recompute_gemms.push_back(g);
          rew += cast_fwd(g);
        }
      }
    };
    const double one_norm = norms / 2.0;
    w.recompute_attention = rc(kRecomputeCoreAttn);
    if (drop_norms) rew += separate_norms * one_norm;
    if (m.mla && rc(kRecomputeMlaUpProj)) {
      redo("q_up");
      redo("kv_up");
      rew += rope;
    }
    if (moe_layer && rc(kRecomputeMoe)) {
      for (const char* g : {"router", "expert_fc1", "expert_fc2", "shared_fc1", "shared_fc2"}) redo(g);
      rew += act_bytes(routed) * w.ep_imbalance + act_bytes(shared) + permute;
      w.recompute_tp_bytes = w.tp_ffn_bytes;
      w.recompute_ep = s.ep > 1;
    } else if (moe_layer) {
      if (rc(kRecomputeMoeAct)) rew += act_bytes(routed) * w.ep_imbalance;
      if (rc(kRecomputeSharedExperts) && shared.rows > 0) {
        redo("shared_fc1");
        redo("shared_fc2");
        rew += act_bytes(shared);
        w.recompute_tp_bytes = w.tp_bytes;  // the shared experts' T rows: one block buffer
      }
    } else if (rc(kRecomputeMlp)) {
      redo("fc1");
      redo("fc2");
      rew += act_bytes(dense) + one_norm;  // with its fused norm
      w.recompute_tp_bytes = w.tp_ffn_bytes;
    }
    w.recompute_elementwise = Bytes(rew);
  }
  return w;
}

EdgeWork embedding_work(const ModelSpec& m, const ShardSpec& s) {
  EdgeWork e;
  const auto [t, T, Tr, h] = edge_dims(m, s);
  e.params = double(m.vocab) * h / t + (m.position == Position::kLearned ? double(m.max_seq_len) * h : 0.0);
  e.elementwise_fwd = Bytes(2.0 * kAct * T * h);  // gather rows, write hidden states
  e.elementwise_bwd = Bytes(3.0 * kAct * T * h);  // scatter-add into the embedding gradient
  if (s.tp > 1) e.tp_bytes = Bytes(kAct * T * h);  // vocab-parallel all-reduce (RS with SP)
  return e;
}

EdgeWork logits_work(const ModelSpec& m, const ShardSpec& s) {
  EdgeWork e;
  const auto [t, T, Tr, h] = edge_dims(m, s);
  const double v_loc = double(m.vocab) / t;
  e.gemms.push_back({"logits", T, v_loc, h, 1, true});
  e.params = v_loc * h + (m.norm == Norm::kLayerNorm ? 2.0 : 1.0) * h;
  // Final norm, then vocab-parallel cross-entropy in fp32, bytes per logit (T x V/tp of them):
  // fused: read the 16-bit logits, write the fp32 copy, one exp-sum pass (2 + 4 + 4) forward;
  // the softmax-minus-one-hot gradient read in fp32 and written in 16 bits (4 + 2) backward.
  // unfused: Megatron's _VocabParallelCrossEntropy (megatron/core/tensor_parallel/
  // cross_entropy.py, Megatron-Core r0.8: calculate_logits_max, calculate_predicted_logits,
  // calculate_cross_entropy_loss, backward), each step its own PyTorch kernel over the fp32
  // [s, b, V/tp] tensor: .float() (read 2, write 4), max (read 4), in-place subtract of the
  // max (4 + 4), in-place exp (4 + 4), sum (4), in-place division by the sum (4 + 4) = 38
  // forward; grad_input.mul_(grad_output) (4 + 4) and autograd's cast of the fp32 gradient
  // to the 16-bit logits' dtype (4 + 2) = 14 backward (the one-hot subtraction touches one
  // element per token).
  const bool unfused_ce = s.cross_entropy == CrossEntropyKernel::kUnfused;
  const double ce_fwd = unfused_ce ? 38.0 : 2.0 + 4.0 + 4.0;
  const double ce_bwd = unfused_ce ? 14.0 : 4.0 + 2.0;
  e.elementwise_fwd = Bytes(4.0 * kAct * Tr * h + ce_fwd * T * v_loc);
  e.elementwise_bwd = Bytes(6.0 * kAct * Tr * h + ce_bwd * T * v_loc);
  e.activations_saved = Bytes(4.0 * T * v_loc + 2.0 * 2.0 * Tr * h);
  if (s.tp > 1) e.tp_bytes = Bytes(kAct * T * h);
  return e;
}

EdgeWork mtp_work(const ModelSpec& m, const ShardSpec& s) {
  // One multi-token-prediction module of depth k (DeepSeek-V3, arXiv 2412.19437, §2.2, Eq. 21;
  // Megatron-Core MultiTokenPredictionLayer): h' = M [RMSNorm(h); RMSNorm(Emb(t_{i+k}))] with
  // M of 2h x h (eh_proj, column-parallel), then one transformer layer and a final norm before
  // the shared output head. The layer and the head are layer_work and logits_work; this is the
  // rest: the embedding of the shifted tokens, the two input norms, the concatenation, the
  // projection and the final norm.
  EdgeWork e;
  const auto [t, T, Tr, h] = edge_dims(m, s);
  const double norm_params = (m.norm == Norm::kLayerNorm ? 2.0 : 1.0) * h;
  e.gemms.push_back({"mtp_proj", T, h / t, 2.0 * h});
  e.params = 2.0 * h * h / t + 3.0 * norm_params;
  // Embedding gather (read the rows, write the hidden states) as embedding_work; the two input
  // norms (read + write) and the concatenation (read 2h, write 2h) per token as layer_work
  // counts norms (the final norm's traffic is logits_work's, charged again per module); the
  // backward moves twice that, plus the embedding gradient's scatter-add.
  const double replicated = (2.0 * 2.0 + 4.0) * kAct * Tr * h;
  e.elementwise_fwd = Bytes(2.0 * kAct * T * h + replicated);
  e.elementwise_bwd = Bytes(3.0 * kAct * T * h + 2.0 * replicated);
  if (s.precision == Precision::kFp8) {  // the projection's FP8 casts, as layer_work's GEMMs
    e.elementwise_fwd += Bytes(4.0 * T * 2.0 * h);
    e.elementwise_bwd += Bytes(4.0 * T * h / t);
  }
  // Saved for backward: the two input norms' inputs (16 bits) and the projection's input (its
  // FP8 copy with FP8), sequence-sharded like the layers' GEMM inputs (the final norm's input is
  // logits_work's).
  const double gin = s.precision == Precision::kFp8 ? 1.0 : 2.0;
  e.activations_saved = Bytes(2.0 * kAct * Tr * h + gin * Tr * 2.0 * h);
  if (s.tp > 1) e.tp_bytes = Bytes(kAct * T * h);  // one T x h buffer; layer_costs charges its collectives
  return e;
}

}  // namespace wanka
