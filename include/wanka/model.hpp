// A transformer as the operations one GPU executes: GEMMs with their shapes, fused attention,
// memory-bound element-wise work, parameters and saved activations, for one micro-batch after
// tensor/sequence/context/expert sharding. Formulas: Narayanan et al. 2021 (arXiv 2104.04473)
// §5.1 for GEMM FLOPs; Korthikanti et al. 2022 (arXiv 2205.05198) §4 for activation memory;
// Dao 2023 (FlashAttention-2, arXiv 2307.08691) for attention FLOPs (causal: half).
#pragma once

#include <vector>

#include "wanka/catalog.hpp"
#include "wanka/units.hpp"

namespace wanka {

enum class Recompute;
enum class AttentionKernel;
enum class CrossEntropyKernel;

// One forward GEMM: C[m,n] = A[m,k] * B[k,n], `count` times. Backward runs dgrad (m,k,n)
// and wgrad (k,n,m), twice the forward FLOPs.
struct Gemm {
  const char* name;
  double m, n, k;
  double count = 1;
  // Runs in 16 bits whatever the training precision: FP8 recipes keep the output head and the
  // MoE router in BF16 (DeepSeek-V3 §3.3.1; Megatron-Core builds both outside Transformer
  // Engine's FP8 modules: the output layer is a plain ColumnParallelLinear, the router a
  // torch linear).
  bool wide = false;
  // Routed experts: the busiest expert-parallel rank's rows over the mean (ep_load_imbalance),
  // already in m; the mean rank does flops() / load.
  double load = 1;
  Flops flops() const { return Flops(2.0 * m * n * k * count); }
};

// What one GPU does for one layer and one micro-batch.
struct LayerWork {
  std::vector<Gemm> gemms;       // forward
  Flops attention_fwd;           // fused causal attention, forward
  Bytes elementwise_fwd;         // norms, residuals, activation functions, rope, permutes
  Bytes elementwise_bwd;
  Bytes attention_scores_fwd;    // unfused attention: s x s score traffic (0 for flash)
  Bytes attention_scores_bwd;
  Bytes fp8_cast_fwd;            // FP8 quantization of GEMM inputs (0 unless fp8)
  Bytes fp8_cast_bwd;
  double params = 0;             // parameters held by this GPU (all of the layer's kinds)
  double expert_params = 0;      // of which routed-expert parameters (sharded by EP)
  double ep_imbalance = 1;       // the busiest EP rank's routed rows over the mean (its GEMMs, all-to-alls)
  Bytes activations_saved;       // saved for backward per micro-batch, per recompute mode
  Bytes activations_transient;   // largest extra working set while this layer runs backward
  // Selective recompute (ShardSpec::recompute_modules): forward work repeated in the backward.
  std::vector<Gemm> recompute_gemms;
  Bytes recompute_elementwise;   // element-wise and FP8-cast bytes of the recomputed parts
  bool recompute_attention = false;  // core attention (and, with CP, its ring exchange)
  Bytes recompute_tp_bytes;          // TP collective buffer repeated (mlp / moe / shared_experts)
  bool recompute_ep = false;         // MoE dispatch and combine (moe module)
  // Communication per micro-batch (full buffer sizes as the collective APIs take them).
  Bytes tp_bytes;                // attention block: one TP all-gather/reduce-scatter buffer
  Bytes tp_ffn_bytes;            // FFN block: 2*T*h dense; 2*T*k*h (+2*T*h shared) for MoE with expert TP
  int tp_collectives_fwd = 0;    // 1 when TP > 1: one AG+RS pair (or all-reduce) per block
  Bytes ep_bytes;                // all-to-all payload per rank (dispatch or combine), one copy per expert
  double ep_token_elems = 0;     // the rank's tokens x hidden (deduplicated dispatch, docs/model.md §5.2)
  int ep_all_to_alls_fwd = 0;
  Bytes cp_kv_bytes;             // K and V chunk one CP rank passes per ring step
  Bytes cp_a2a[4];               // Ulysses: the q, k, v and output buffers one CP rank all-to-alls
};

// Model-level counts (whole model, unsharded).
struct ModelCounts {
  double params_total = 0;        // all parameters incl. embeddings
  double params_active = 0;       // touched per token (top-k experts only)
  double params_embedding = 0;    // input embedding (+ position table)
  double params_logits = 0;       // output projection (0 when tied)
  double params_mtp = 0;          // multi-token-prediction modules (not in params_total)
  // Model FLOPs per token, forward+backward, no recompute, multi-token-prediction modules
  // included. Attention counted non-causal, as Megatron-LM, MosaicML and PaLM (Chowdhery et
  // al. 2022, App. B) do.
  double flops_per_token = 0;
};

struct ShardSpec {
  long micro_batch = 1;
  long seq_len = 1;
  int tp = 1, cp = 1, ep = 1;
  bool sequence_parallel = true;
  Recompute recompute{};
  unsigned recompute_modules = 1;  // RecomputeModule bits (scenario.hpp), used when selective
  Precision precision = Precision::kBf16;
  AttentionKernel attention{};
  CrossEntropyKernel cross_entropy{};
};

ModelCounts count_model(const ModelSpec& m, long seq_len);

// Parameter counts of one layer (whole, unsharded): attention, dense FFN, routed experts,
// shared experts, norms and router.
struct LayerParams {
  double attention = 0, mlp = 0, experts = 0, shared = 0, other = 0;
  double total() const { return attention + mlp + experts + shared + other; }
};
LayerParams layer_params(const ModelSpec& m, bool moe_layer);
// The query/key head size a fused attention kernel runs at (MLA: nope + rope dims).
double attention_head_dim(const ModelSpec& m);

// Expected largest of n independent standard normal draws (0 for n <= 1), by Blom's (1958)
// plotting position: Phi^-1((n - 0.375) / (n + 0.25)); 4.5 % above the exact value at n = 2,
// within 0.8 % from n = 8 on (test_model.cpp integrates the exact one).
double expected_max_normal(double n);
// The busiest of `ep` expert-parallel ranks' routed rows over the mean `rows_per_rank` under
// uniform top-k routing, the balance that auxiliary losses and bias terms aim at (docs/model.md
// §6.4): 1 + z(ep) sqrt((E - k) / ((E - 1) rows_per_rank)), at most ep min(k, E/ep) / k (one
// rank receives every token). 1 without expert parallelism.
double ep_load_imbalance(const MoeSpec& moe, int ep, double rows_per_rank);
// The expected most distinct experts any of `ep` ranks (E/ep experts each) sees used by
// `tokens` tokens under uniform top-k routing: L p + z(ep) sigma, at most L, with p = 1 - (1 -
// k/E)^T the chance an expert is used and sigma^2 the variance of a rank's count (its experts'
// pairwise covariance included). The mean L p without expert parallelism.
double busiest_rank_experts_used(const MoeSpec& moe, int ep, double tokens);

// `moe_layer` selects the MoE or dense FFN (DeepSeek-V3's first layers are dense).
LayerWork layer_work(const ModelSpec& m, const ShardSpec& s, bool moe_layer);

// Embedding (first stage) and logits + loss (last stage) work for one micro-batch.
struct EdgeWork {
  std::vector<Gemm> gemms;     // logits projection
  Bytes elementwise_fwd;       // embedding gather, softmax/cross-entropy
  Bytes elementwise_bwd;
  double params = 0;
  Bytes activations_saved;     // logits kept for the loss backward
  Bytes tp_bytes;              // vocab-parallel embedding all-reduce / logits reductions
};
EdgeWork embedding_work(const ModelSpec& m, const ShardSpec& s);
EdgeWork logits_work(const ModelSpec& m, const ShardSpec& s);
// One multi-token-prediction module's own work (ModelSpec::mtp_layers): its projection, norms
// and embedding lookup, without its transformer layer (layer_work) and output head
// (logits_work), which the last stage adds per module.
EdgeWork mtp_work(const ModelSpec& m, const ShardSpec& s);

}  // namespace wanka
