// Parameter, FLOP and activation counts of the transformer model (include/wanka/model.hpp),
// checked against hand derivations and published model sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "wanka/accelerator.hpp"
#include "wanka/catalog.hpp"
#include "wanka/model.hpp"
#include "wanka/scenario.hpp"

namespace wanka {
namespace {

double rel(double got, double want) { return std::fabs(got - want) / std::fabs(want); }

// GPT-3 175B (Brown et al. 2020, Table 2.1): 96 layers, h = 12288, 96 heads, ffn 4h = 49152,
// vocab 50257, GeLU, LayerNorm, learned positions (2048).
ModelSpec gpt3(bool tied) {
  ModelSpec m = Catalog::builtin().model("gpt3-175b");
  m.tied_embeddings = tied;
  return m;
}

ShardSpec shard(int tp, bool sp, Recompute rc, long seq = 2048, int cp = 1) {
  ShardSpec s;
  s.micro_batch = 1;
  s.seq_len = seq;
  s.tp = tp;
  s.cp = cp;
  s.sequence_parallel = sp;
  s.recompute = rc;
  return s;
}

TEST(CountModel, Gpt3CatalogShapeMatchesTheCatalogEntry) {
  const ModelSpec& m = Catalog::builtin().model("gpt3-175b");
  EXPECT_EQ(m.layers, 96);
  EXPECT_EQ(m.hidden, 12288);
  EXPECT_EQ(m.heads, 96);
  EXPECT_EQ(m.head_dim, 128);
  EXPECT_EQ(m.kv_heads, 96);
  EXPECT_EQ(m.ffn_hidden, 49152);
  EXPECT_EQ(m.vocab, 50257);
}

TEST(CountModel, Gpt3UntiedParametersFollowTwelveLHSquaredPlusEmbeddings) {
  // Per layer (no biases): attention 4h^2 (Q, K, V, O), MLP 2 x h x 4h = 8h^2, two LayerNorms
  // 2 x 2h = 4h -> 12h^2 + 4h = 12 x 150994944 + 49152 = 1811988480.
  //   96 layers                  = 173950894080
  //   token embedding V h        = 50257 x 12288 = 617558016
  //   position table 2048 h      = 25165824
  //   output projection V h      = 617558016 (untied)
  //   final LayerNorm 2h         = 24576
  //   total                      = 175211200512
  const ModelCounts c = count_model(gpt3(false), 2048);
  EXPECT_NEAR(c.params_total, 175211200512.0, 175211200512.0 * 1e-9);
  EXPECT_NEAR(c.params_embedding, 642723840.0, 1e-3);
  EXPECT_NEAR(c.params_logits, 617558016.0, 1e-3);
  EXPECT_LT(rel(c.params_total, 174.6e9), 0.005);  // 0.35 % above 174.6e9
  EXPECT_LT(rel(c.params_total, 175e9), 0.01);     // published "175B": 0.12 % above
  EXPECT_DOUBLE_EQ(c.params_active, c.params_total);
}

TEST(CountModel, Gpt3TiedEmbeddingsDropTheOutputProjection) {
  // The catalog entry ties embeddings (GPT-2 lineage): 175211200512 - 617558016 = 174593642496
  // = 174.6e9, the figure usually quoted for GPT-3's exact size.
  const ModelCounts c = count_model(Catalog::builtin().model("gpt3-175b"), 2048);
  EXPECT_NEAR(c.params_total, 174593642496.0, 174593642496.0 * 1e-9);
  EXPECT_EQ(c.params_logits, 0.0);
  EXPECT_LT(rel(c.params_total, 174.6e9), 0.005);
  EXPECT_LT(rel(c.params_total, 175e9), 0.01);
}

TEST(CountModel, Gpt3FlopsPerTokenAreSixMatmulParamsPlusAttention) {
  // N_matmul = 96 (12h^2 + 4h) + V h (logits GEMM runs even when tied) = 173950894080 + 617558016
  //          = 174568452096; attention 12 l s h = 12 x 96 x 2048 x 12288 = 28991029248.
  //   6 N_matmul + 12 l s h = 1047410712576 + 28991029248 = 1076401741824 FLOPs/token (s = 2048)
  // Narayanan et al. 2021 eq. (per token, no recompute): 72 l h^2 (1 + s/6h + V/12lh)
  //   = 72 l h^2 + 12 l s h + 6 V h = 1076373430272; the difference 24 l h = 28311552 is the
  //   6 x 4h LayerNorm parameters per layer that the count includes (2.6e-5 relative).
  const double l = 96, h = 12288, s = 2048, V = 50257;
  for (bool tied : {false, true}) {
    const ModelCounts c = count_model(gpt3(tied), 2048);
    EXPECT_NEAR(c.flops_per_token, 1076401741824.0, 1076401741824.0 * 1e-9) << "tied " << tied;
    const double narayanan = 72.0 * l * h * h * (1.0 + s / (6.0 * h) + V / (12.0 * l * h));
    EXPECT_NEAR(narayanan, 1076373430272.0, 1.0);
    EXPECT_NEAR(c.flops_per_token - narayanan, 24.0 * l * h, 1.0);
    EXPECT_LT(rel(c.flops_per_token, narayanan), 1e-4);
  }
}

TEST(CountModel, FlopsPerTokenGrowWithSequenceThroughAttentionOnly) {
  // Doubling s adds 12 l s h = 28991029248 FLOPs/token for GPT-3 (s: 2048 -> 4096).
  const double a = count_model(gpt3(false), 2048).flops_per_token;
  const double b = count_model(gpt3(false), 4096).flops_per_token;
  EXPECT_NEAR(b - a, 28991029248.0, 1.0);
}

TEST(CountModel, Llama3_70bIsWithinOnePercentOfPublished) {
  // h = 8192, 64 heads, 8 KV heads, d = 128, ffn 28672 (SwiGLU), V = 128256, 80 layers, untied:
  //   attention h(64 d) + 2h(8 d) + (64 d)h = 67108864 + 16777216 + 67108864 = 150994944
  //   MLP 3 x 8192 x 28672 = 704643072;  RMSNorms 2h = 16384
  //   per layer 855654400; x 80 = 68452352000
  //   + embeddings 2 x 128256 x 8192 = 2101346304 + final norm 8192 = 70553706496
  const ModelCounts c = count_model(Catalog::builtin().model("llama3-70b"), 8192);
  EXPECT_NEAR(c.params_total, 70553706496.0, 70553706496.0 * 1e-9);
  EXPECT_LT(rel(c.params_total, 70.6e9), 0.01);
}

TEST(CountModel, Mixtral8x7bTotalAndActiveMatchThePaper) {
  // h = 4096, 32 layers, 32 heads / 8 KV, 8 experts of 3 x 4096 x 14336, top-2, V = 32000:
  //   attention 2 x 4096^2 + 2 x 4096 x 1024 = 41943040
  //   experts 8 x 176160768 = 1409286144; router 4096 x 8 = 32768; norms 8192
  //   layer total 1451270144 x 32 = 46440644608; + 2 x 131072000 + 4096 = 46702792704
  //   active: experts 2/8 -> 352321536; layer 394305536 x 32 = 12617777152 + 262148096 = 12879925248
  // Jiang et al. 2024: 46.7B total, 12.9B active.
  const ModelCounts c = count_model(Catalog::builtin().model("mixtral-8x7b"), 4096);
  EXPECT_NEAR(c.params_total, 46702792704.0, 46702792704.0 * 1e-9);
  EXPECT_NEAR(c.params_active, 12879925248.0, 12879925248.0 * 1e-9);
  EXPECT_LT(rel(c.params_total, 46.7e9), 0.02);
  EXPECT_LT(rel(c.params_active, 12.9e9), 0.02);
}

TEST(CountModel, DeepSeekV3TotalAndActiveMatchTheReport) {
  // MLA (h = 7168, 128 heads, q rank 1536, kv rank 512, nope 128, rope 64, v 128):
  //   q  = 7168 x 1536 + 1536 x 128 x 192 = 48758784
  //   kv = 7168 x 576 + 512 x 128 x 256   = 20905984;  out = 128 x 128 x 7168 = 117440512
  //   attention 187105280; latent norms 2048; RMSNorms 14336
  // 3 dense layers: MLP 3 x 7168 x 18432 = 396361728 -> 583483392 each, 1750450176
  // 58 MoE layers: 256 experts x 3 x 7168 x 2048 = 11274289152, shared 44040192,
  //   router 7168 x 256 = 1835008 -> 11507286016 each, 667422588928
  // embeddings 2 x 129280 x 7168 = 1853358080, final norm 7168
  //   total  = 671026404352
  //   active = 58 x (11507286016 - 11274289152 x 248/256) + 1750450176 + 1853358080 + 7168
  //          = 58 x 585318400 + 3603815424 = 37552282624
  // DeepSeek-V3 report: 671B total, 37B activated (excluding the MTP module).
  const ModelCounts c = count_model(Catalog::builtin().model("deepseek-v3"), 4096);
  EXPECT_NEAR(c.params_total, 671026404352.0, 671026404352.0 * 1e-9);
  EXPECT_NEAR(c.params_active, 37552282624.0, 37552282624.0 * 1e-9);
  EXPECT_LT(rel(c.params_total, 671e9), 0.03);
  EXPECT_LT(rel(c.params_active, 37e9), 0.03);
}

// DeepSeek-V3's multi-token-prediction module (mtp_layers 1, §2.2): one MoE layer (11507286016
// parameters, 585318400 of them active per token, as above), the projection 2 x 7168^2 =
// 102760448 and three norms 21504: params_mtp 11610067968, outside params_total (the report's
// 671B). Per token it adds 6 x (585318400 + 102760448 + 21504 + V h 926679040) = 9688676352
// FLOPs of matmuls and one layer's attention, 6 x 4096 x 128 x (192 + 128) = 1006632960:
// 10695309312 in all, 3.8 % of the model's FLOPs per token.
TEST(ModelCounts, DeepSeekV3MultiTokenPrediction) {
  const ModelSpec& m = Catalog::builtin().model("deepseek-v3");
  ASSERT_EQ(m.mtp_layers, 1);
  ModelSpec without = m;
  without.mtp_layers = 0;
  const ModelCounts c = count_model(m, 4096), c0 = count_model(without, 4096);
  EXPECT_DOUBLE_EQ(c.params_mtp, 11610067968.0);
  EXPECT_DOUBLE_EQ(c0.params_mtp, 0.0);
  EXPECT_DOUBLE_EQ(c.params_total, c0.params_total);
  EXPECT_NEAR(c.flops_per_token - c0.flops_per_token, 10695309312.0, 1.0);
  EXPECT_NEAR((c.flops_per_token - c0.flops_per_token) / c0.flops_per_token, 0.038, 0.0005);
}

// FP8 training keeps the output head and the MoE router in 16 bits (Gemm::wide): their time is
// the 16-bit accelerator's, their inputs are not cast, and in a 16-bit run nothing changes.
TEST(LayerWork, Fp8TrainingKeepsTheOutputHeadAndRouterIn16Bits) {
  const GpuSpec& h100 = Catalog::builtin().gpu("h100-sxm");
  const Accelerator fp8(h100, Precision::kFp8), bf16(h100, Precision::kBf16);
  const Gemm head{"logits", 8192, 16032, 8192, 1, true}, plain{"fc1", 8192, 16032, 8192};
  EXPECT_DOUBLE_EQ(fp8.gemm_fwd(head).value, bf16.gemm_fwd(head).value);
  EXPECT_DOUBLE_EQ(fp8.gemm_bwd(head).value, bf16.gemm_bwd(head).value);
  EXPECT_LT(fp8.gemm_fwd(plain).value, 0.7 * bf16.gemm_fwd(plain).value);
  EXPECT_DOUBLE_EQ(bf16.gemm_fwd(head).value, bf16.gemm_fwd(plain).value);
  ShardSpec s;
  s.seq_len = 4096;
  s.precision = Precision::kFp8;
  const ModelSpec& ds = Catalog::builtin().model("deepseek-v3");
  const LayerWork w = layer_work(ds, s, true);
  double casts = 0;  // 4 bytes per GEMM input element forward, none for the router
  for (const auto& g : w.gemms) {
    EXPECT_EQ(g.wide, std::string(g.name) == "router") << g.name;
    if (!g.wide) casts += 4.0 * g.m * g.k * g.count;
  }
  EXPECT_DOUBLE_EQ(w.fp8_cast_fwd.value, casts);
  EXPECT_TRUE(logits_work(ds, s).gemms.at(0).wide);
  // Recomputed (the moe module), the router is still not cast.
  s.recompute = Recompute::kSelective;
  s.recompute_modules = kRecomputeMoe;
  const LayerWork rw = layer_work(ds, s, true);
  double recast = 0;
  for (const auto& g : rw.recompute_gemms) {
    if (!g.wide) recast += 4.0 * g.m * g.k * g.count;
  }
  bool router = false;
  for (const auto& g : rw.recompute_gemms) router = router || std::string(g.name) == "router";
  ASSERT_TRUE(router);
  ShardSpec s16 = s;
  s16.precision = Precision::kBf16;
  const LayerWork rw16 = layer_work(ds, s16, true);
  EXPECT_DOUBLE_EQ(rw.recompute_elementwise.value - rw16.recompute_elementwise.value, recast);
}

// An fp16 run's attention and 16-bit GEMMs run at the fp16 peak, not bf16's (a GPU entry may
// give different figures; the built-in ones give equal ones): doubling the bf16 peak changes
// nothing in fp16, halving the fp16 one doubles the long-span attention time.
TEST(Accelerator, Fp16RunsAttentionAtTheFp16Peak) {
  GpuSpec g = Catalog::builtin().gpu("a100-80g");
  const Accelerator base(g, Precision::kFp16);
  GpuSpec bf = g;
  bf.peak_tflops[Precision::kBf16] *= 2.0;
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_DOUBLE_EQ(Accelerator(bf, Precision::kFp16).attention_fwd(Flops(1e12), inf).value,
                   base.attention_fwd(Flops(1e12), inf).value);
  GpuSpec fp = g;
  fp.peak_tflops[Precision::kFp16] /= 2.0;
  EXPECT_DOUBLE_EQ(Accelerator(fp, Precision::kFp16).attention_fwd(Flops(1e12), inf).value,
                   2.0 * base.attention_fwd(Flops(1e12), inf).value);
  EXPECT_DOUBLE_EQ(Accelerator(fp, Precision::kBf16).attention_fwd(Flops(1e12), inf).value,
                   Accelerator(g, Precision::kBf16).attention_fwd(Flops(1e12), inf).value);
}

TEST(LayerWork, Gpt3ActivationsWithSequenceParallelAndNoRecompute) {
  // Korthikanti et al. 2022 Table 2 (TP + SP, no recompute): s b h (34 + 5 a s / h) / t bytes.
  // Flash attention removes 5as/h (no s x s softmax or dropout mask is stored); the model has
  // no dropout, so the two s b h / t one-byte dropout masks (attention output, MLP output) go
  // too: 32 s b h / t. What remains, per token and divided by t:
  //   LayerNorm inputs 2 x 2h, QKV input 2h, Q K V 6h, attention output 2h, MLP input 2h,
  //   fc1 output 8h, GeLU output 8h = 32h.
  // Plus the fp32 log-sum-exp of flash attention, 4 b (a/t) s bytes.
  // s = 2048, b = 1, h = 12288, a = 96, t = 8: s b h = 25165824
  //   32 x 25165824 / 8 = 100663296;  4 x 12 x 2048 = 98304;  total 100761600 bytes
  const LayerWork w = layer_work(gpt3(false), shard(8, true, Recompute::kNone), false);
  EXPECT_NEAR(w.activations_saved.value, 100761600.0, 1e-3);
}

TEST(LayerWork, Gpt3ActivationsWithoutSequenceParallel) {
  // Korthikanti Table 2 (TP only): s b h (10 + 24/t + 5as/(ht)); without flash scores and
  // dropout masks the replicated part is 8 (LayerNorm inputs 4, QKV input 2, MLP input 2):
  //   s b h (8 + 24/8) + 4 x 12 x 2048 = 11 x 25165824 + 98304 = 276922368 bytes
  const LayerWork w = layer_work(gpt3(false), shard(8, false, Recompute::kNone), false);
  EXPECT_NEAR(w.activations_saved.value, 276922368.0, 1e-3);
}

TEST(LayerWork, FullRecomputeKeepsOnlyTheLayerInput) {
  // Korthikanti §4.3: full recompute stores the layer input, 2 s b h / t with SP:
  //   2 x 25165824 / 8 = 6291456 bytes; without SP 2 s b h = 50331648 bytes.
  EXPECT_NEAR(layer_work(gpt3(false), shard(8, true, Recompute::kFull), false).activations_saved.value, 6291456.0, 1e-3);
  EXPECT_NEAR(layer_work(gpt3(false), shard(8, false, Recompute::kFull), false).activations_saved.value, 50331648.0,
              1e-3);
}

TEST(LayerWork, SelectiveRecomputeWithFlashAttentionStoresTheSameAsNone) {
  // With fused attention there is no s x s tensor left for selective recompute to drop.
  const ModelSpec m = gpt3(false);
  EXPECT_DOUBLE_EQ(layer_work(m, shard(8, true, Recompute::kSelective), false).activations_saved.value,
                   layer_work(m, shard(8, true, Recompute::kNone), false).activations_saved.value);
}

TEST(LayerWork, DenseGptLayerForwardGemmFlopsAre24TokensHSquaredOverT) {
  // (2 T h 3h + 2 T h h + 2 x 2 T h 4h) / t = 24 T h^2 / t:
  //   T = 2048, h^2 = 150994944, t = 8: 24 x 2048 x 150994944 / 8 = 927712935936 FLOPs
  const LayerWork w = layer_work(gpt3(false), shard(8, true, Recompute::kNone), false);
  double f = 0;
  for (const auto& g : w.gemms) f += g.flops().value;
  EXPECT_NEAR(f, 927712935936.0, 1.0);
  // Four GEMMs: QKV, attention output, fc1, fc2.
  ASSERT_EQ(w.gemms.size(), 4u);
}

TEST(LogitsWork, UnfusedCrossEntropyMoves52BytesPerLogitAgainst16Fused) {
  // GPT-3 175B without TP (T = 2048 tokens, V = 50257, h = 12288): T V = 102926336 logits,
  // T h = 25165824. The final LayerNorm moves 4 x 2 T h = 201326592 bytes forward and
  // 6 x 2 T h = 301989888 backward; the loss adds per logit
  //   fused:   10 forward (2 + 4 + 4), 6 backward (4 + 2)
  //   unfused: 38 forward (cast 6, max 4, subtract 8, exp 8, sum 4, divide 8),
  //            14 backward (multiply by the incoming gradient 8, cast to 16 bits 6).
  //   fused forward    201326592 + 10 x 102926336 = 1230589952
  //   fused backward   301989888 +  6 x 102926336 =  919547904
  //   unfused forward  201326592 + 38 x 102926336 = 4112527360
  //   unfused backward 301989888 + 14 x 102926336 = 1742958592
  ShardSpec sh = shard(1, false, Recompute::kNone);
  sh.cross_entropy = CrossEntropyKernel::kFused;
  const EdgeWork fused = logits_work(gpt3(false), sh);
  sh.cross_entropy = CrossEntropyKernel::kUnfused;
  const EdgeWork unfused = logits_work(gpt3(false), sh);
  EXPECT_NEAR(fused.elementwise_fwd.value, 1230589952.0, 1e-3);
  EXPECT_NEAR(fused.elementwise_bwd.value, 919547904.0, 1e-3);
  EXPECT_NEAR(unfused.elementwise_fwd.value, 4112527360.0, 1e-3);
  EXPECT_NEAR(unfused.elementwise_bwd.value, 1742958592.0, 1e-3);
  // Same GEMM, same saved fp32 softmax (4 T V = 411705344 plus the norm's 2 x 2 T h).
  EXPECT_DOUBLE_EQ(unfused.activations_saved.value, fused.activations_saved.value);
  EXPECT_NEAR(unfused.activations_saved.value, 411705344.0 + 100663296.0, 1e-3);
}

TEST(LayerWork, CausalAttentionForwardFlopsAreHalfTheScoreMatrix) {
  // b (a/t) s^2 2d / cp: non-causal QK^T and PV are 2 x 2 s^2 d per head; causal halves it.
  //   b = 1, a/t = 12, s = 2048, d = 128: 12 x 4194304 x 256 = 12884901888 FLOPs
  EXPECT_NEAR(layer_work(gpt3(false), shard(8, true, Recompute::kNone), false).attention_fwd.value, 12884901888.0,
              1.0);
  // Load-balanced context parallelism over 2 ranks: each does half, 6442450944 FLOPs.
  EXPECT_NEAR(layer_work(gpt3(false), shard(8, true, Recompute::kNone, 2048, 2), false).attention_fwd.value,
              6442450944.0, 1.0);
}

TEST(LayerWork, TensorParallelSplitsLayerParametersButNotNorms) {
  // Per GPU with t = 8: (12 h^2) / 8 + 4h = 226492416 + 49152 = 226541568.
  const LayerWork w = layer_work(gpt3(false), shard(8, true, Recompute::kNone), false);
  EXPECT_NEAR(w.params, 226541568.0, 1e-3);
  // One TP all-gather + reduce-scatter pair per block, each on the full (b s h) bf16 activation:
  // 2 x 2048 x 12288 = 50331648 B for attention and again for the MLP.
  EXPECT_NEAR(w.tp_bytes.value, 50331648.0, 1e-3);
  EXPECT_NEAR(w.tp_ffn_bytes.value, 50331648.0, 1e-3);
  EXPECT_EQ(w.tp_collectives_fwd, 1);
}

TEST(LayerWork, NoTensorParallelMeansNoTensorParallelTraffic) {
  const LayerWork w = layer_work(gpt3(false), shard(1, false, Recompute::kNone), false);
  EXPECT_EQ(w.tp_collectives_fwd, 0);
  EXPECT_EQ(w.tp_bytes.value, 0.0);
  EXPECT_EQ(w.tp_ffn_bytes.value, 0.0);
}

TEST(LayerWork, KeyValueProjectionsAreReplicatedWhenTpExceedsKvHeads) {
  // Llama-3-70B at t = 16 with 8 KV heads: each rank keeps one whole KV head.
  //   Q and O: 2 h^2 / 16 = 2 x 67108864 / 16 = 8388608
  //   K and V: 2 h x 1 x 128 = 2097152 (not 2 h x 8 x 128 / 16 = 1048576)
  //   MLP 3 x 8192 x 28672 / 16 = 44040192; RMSNorms 2h = 16384
  //   total 8388608 + 2097152 + 44040192 + 16384 = 54542336
  const LayerWork w = layer_work(Catalog::builtin().model("llama3-70b"), shard(16, true, Recompute::kNone, 8192), false);
  EXPECT_NEAR(w.params, 54542336.0, 1e-3);
}

TEST(LayerWork, MoeExpertTensorParallelMovesTopKRowsPerToken) {
  // Mixtral (top-2, no shared expert), T = 4096 tokens, h = 4096, t = 2: the dispatched tokens
  // (T k rows) are gathered across TP: 2 B x 4096 x 2 x 4096 = 67108864 B; attention keeps
  // 2 x 4096 x 4096 = 33554432 B.
  const LayerWork w = layer_work(Catalog::builtin().model("mixtral-8x7b"), shard(2, true, Recompute::kNone, 4096), true);
  EXPECT_NEAR(w.tp_ffn_bytes.value, 67108864.0, 1e-3);
  EXPECT_NEAR(w.tp_bytes.value, 33554432.0, 1e-3);
}

TEST(LayerParams, GroupedQueryAttentionSharesKeyAndValueHeads) {
  // Llama-3-70B: Q and O are h x h each, K and V are h x (8 x 128) each.
  const LayerParams p = layer_params(Catalog::builtin().model("llama3-70b"), false);
  EXPECT_NEAR(p.attention, 150994944.0, 1e-3);
  EXPECT_NEAR(p.mlp, 704643072.0, 1e-3);
  EXPECT_NEAR(p.other, 16384.0, 1e-9);
}

// A small MoE model with multi-head latent attention, numbers small enough to add by hand:
// h = 1024, 8 heads, MLA q_lora 256, kv_lora 128, nope 32 + rope 16 (dqk 48), v 32; 8 experts,
// top-2, expert and shared-expert ffn 512, one shared expert, SwiGLU; one sequence of 1024
// tokens, TP1 (T = Tr = 1024).
ModelSpec tiny_mla_moe() {
  ModelSpec m = Catalog::builtin().model("llama2-7b");
  m.name = "tiny";
  m.hidden = 1024;
  m.heads = 8;
  m.kv_heads = 8;
  m.head_dim = 48;
  m.mla = MlaSpec{256, 128, 32, 16, 32};
  m.moe.experts = 8;
  m.moe.top_k = 2;
  m.moe.ffn_hidden = 512;
  m.moe.shared = 1;
  m.moe.shared_ffn_hidden = 512;
  return m;
}

ShardSpec modules(Precision p, unsigned bits) {
  ShardSpec s = shard(1, false, bits == 0 ? Recompute::kNone : Recompute::kSelective, 1024);
  s.precision = p;
  s.recompute_modules = bits;
  return s;
}

// MoE layer activations, bf16, no recompute (bytes). With MLA and MoE both pre-norms are
// separate modules (Megatron-Core layer specs), not fused into a GEMM:
//   norm-1 input 2Th, its output (the down-projections' input) 2Th   2097152 x 2
//   latents 2T(256 + 128)                                            786432
//   q, k, v 2T(8 x 48 + 8 x (48 + 32))                               2097152
//   attention output 2T x 8 x 32                                     524288
//   log-sum-exp 4 x 8 x 1024                                         32768
//   norm-2 input 2Th, router input 2Th                               2097152 x 2
//   permuted tokens 2Tkh = 2 x 1024 x 2 x 1024                       4194304
//   expert SwiGLU inputs 2 x 2 x (T k 512) + output 2 x (T k 512)    6291456
//   expert outputs kept for the probability gradient 2 T_r k h       4194304
//   shared expert: SwiGLU inputs and output 6 x T x 512              3145728
//   total                                                            29655040
// With FP8 every GEMM input is its 1-byte copy: attention output -262144, permuted tokens
// -2097152, the two SwiGLU outputs -1048576 and -524288; the norm-1 output becomes q_down's and
// kv_down's two 1-byte copies (the same 2097152), and the shared expert's fc1 keeps its own
// copy of the router input, +1048576: 26771456. The router input stays 16-bit.
TEST(LayerWork, MoeActivationsCountRouterInputExpertOutputsAndFp8Copies) {
  const ModelSpec m = tiny_mla_moe();
  EXPECT_NEAR(layer_work(m, modules(Precision::kBf16, 0), true).activations_saved.value, 29655040.0, 1e-3);
  EXPECT_NEAR(layer_work(m, modules(Precision::kFp8, 0), true).activations_saved.value, 26771456.0, 1e-3);
}

// Megatron-Core --recompute-modules, from the 29655040 bytes above (bf16):
//   layernorm, mla_up_proj, moe_act (DeepSeek-V3's choices): the norm-1 output, q, k, v, the
//     router input and the experts' SwiGLU output go, 4 x 2097152: 21266432. Recomputed: the
//     q_up (1024 x 384 x 256) and kv_up (1024 x 512 x 128) GEMMs; element-wise, the two norms
//     (2 x 2 x Th x 2 = 8388608), the rotary (2 x T x 16 heads x 16 x 2 = 1048576) and the
//     experts' SwiGLU (3 x T k 512 x 2 = 6291456): 15728640; no attention.
//   moe: the whole MoE block goes (router input, permuted tokens, expert internals and outputs,
//     shared expert: 19922944) but its input stays (2097152): 11829248; its dispatch and
//     combine run again.
//   shared_experts: -3145728: 26509312.
// FP8 with layernorm: the norm outputs go with their FP8 copies (the GEMMs keep a reference to
// the original input instead, which is discarded): the down-projections' copies 2097152, the
// router input 2097152 and the shared fc1's copy 1048576: 26771456 - 5242880 = 21528576.
TEST(LayerWork, RecomputeModulesDropWhatTheyRebuild) {
  const ModelSpec m = tiny_mla_moe();
  const LayerWork ds =
      layer_work(m, modules(Precision::kBf16, kRecomputeLayernorm | kRecomputeMlaUpProj | kRecomputeMoeAct), true);
  EXPECT_NEAR(ds.activations_saved.value, 21266432.0, 1e-3);
  ASSERT_EQ(ds.recompute_gemms.size(), 2u);
  EXPECT_NEAR(ds.recompute_gemms[0].flops().value + ds.recompute_gemms[1].flops().value,
              2.0 * 1024 * (384.0 * 256 + 512.0 * 128), 1e-3);
  EXPECT_NEAR(ds.recompute_elementwise.value, 15728640.0, 1e-3);
  EXPECT_FALSE(ds.recompute_attention);
  EXPECT_FALSE(ds.recompute_ep);

  const LayerWork moe = layer_work(m, modules(Precision::kBf16, kRecomputeMoe), true);
  EXPECT_NEAR(moe.activations_saved.value, 11829248.0, 1e-3);
  EXPECT_EQ(moe.recompute_gemms.size(), 5u);  // router, expert fc1/fc2, shared fc1/fc2
  EXPECT_NEAR(layer_work(m, modules(Precision::kBf16, kRecomputeSharedExperts), true).activations_saved.value,
              26509312.0, 1e-3);
  EXPECT_NEAR(layer_work(m, modules(Precision::kFp8, kRecomputeLayernorm), true).activations_saved.value, 21528576.0,
              1e-3);
  // Core attention alone (the default) keeps everything with flash attention and recomputes it.
  const LayerWork core = layer_work(m, modules(Precision::kBf16, kRecomputeCoreAttn), true);
  EXPECT_NEAR(core.activations_saved.value, 29655040.0, 1e-3);
  EXPECT_TRUE(core.recompute_attention);
  EXPECT_TRUE(core.recompute_gemms.empty());
}

// The dense MLP checkpointed: its first GEMM carries the fused norm-2 (TE LayerNormLinear), so
// the checkpoint's input is the norm-2 input, already kept. A GPT-3 layer at TP8 with SP
// (Tr = 256, T = 2048, h = 12288): from the 100761600 bytes of the SP test above, the fused
// norm-2 output 2 x 256 x 12288 = 6291456 and the GeLU input and output,
// 2 x 2 x 2048 x 6144 = 50331648, go: 44138496. The backward repeats the FFN block's
// all-gather and reduce-scatter of 2 x 2048 x 12288 = 50331648 bytes.
TEST(LayerWork, MlpRecomputeKeepsOnlyTheMlpInput) {
  ShardSpec s = shard(8, true, Recompute::kSelective);
  s.recompute_modules = kRecomputeMlp;
  const LayerWork w = layer_work(gpt3(false), s, false);
  EXPECT_NEAR(w.activations_saved.value, 44138496.0, 1e-3);
  EXPECT_NEAR(w.recompute_tp_bytes.value, 50331648.0, 1e-3);
  EXPECT_EQ(w.recompute_gemms.size(), 2u);
}

// ---- the busiest expert-parallel rank (docs/model.md §6.7)

// E[max of n independent standard normals] = integral of x n phi(x) Phi(x)^(n-1), midpoint rule.
double exact_max_normal(int n) {
  double sum = 0;
  const double dx = 1e-3;
  for (double x = -12 + dx / 2; x < 12; x += dx) {
    const double phi = std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI), cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
    sum += x * n * phi * std::pow(cdf, n - 1) * dx;
  }
  return sum;
}

TEST(ExpertLoad, BlomsExpectedMaximumIsWithinItsStatedErrorOfTheExactOne) {
  EXPECT_EQ(expected_max_normal(1), 0.0);
  EXPECT_EQ(expected_max_normal(0.5), 0.0);
  EXPECT_NEAR(exact_max_normal(2), 1 / std::sqrt(M_PI), 1e-9);  // E[max of 2] = 1/sqrt(pi)
  EXPECT_LT(rel(expected_max_normal(2), exact_max_normal(2)), 0.045);
  for (int n : {8, 16, 64, 256, 1024, 4096}) EXPECT_LT(rel(expected_max_normal(n), exact_max_normal(n)), 0.008) << n;
}

// Monte Carlo of uniform top-k routing: the mean over trials of the busiest rank's rows and of
// the most distinct experts any rank uses.
struct Routed {
  double rows = 0, used = 0;
};
Routed route(int E, int k, int ep, int tokens, int trials) {
  std::mt19937_64 rng(12345);
  std::vector<int> experts(E), rows(ep);
  std::vector<char> hit(E);
  Routed r;
  const int L = E / ep;
  for (int t = 0; t < trials; ++t) {
    std::fill(rows.begin(), rows.end(), 0);
    std::fill(hit.begin(), hit.end(), 0);
    for (int i = 0; i < tokens; ++i) {
      std::iota(experts.begin(), experts.end(), 0);
      for (int j = 0; j < k; ++j) {  // k distinct experts: a partial Fisher-Yates shuffle
        std::swap(experts[j], experts[j + static_cast<int>(rng() % static_cast<unsigned>(E - j))]);
        ++rows[experts[j] / L];
        hit[experts[j]] = 1;
      }
    }
    int most = 0;
    for (int q = 0; q < ep; ++q) most = std::max(most, static_cast<int>(std::count(hit.begin() + q * L, hit.begin() + (q + 1) * L, 1)));
    r.rows += *std::max_element(rows.begin(), rows.end());
    r.used += most;
  }
  r.rows /= trials;
  r.used /= trials;
  return r;
}

MoeSpec moe(int experts, int top_k) {
  MoeSpec m;
  m.experts = experts;
  m.top_k = top_k;
  return m;
}

// DeepSeek-V3's routing (256 experts, top 8) over EP8, 32 rows per rank on average (a decode
// batch of 32): 1 + z(8) sqrt(248 / (255 x 32)) = 1 + 1.43420 x 0.174334 = 1.25003. Without
// expert parallelism nothing waits; a rank never gets more than every token (the cap).
TEST(ExpertLoad, BusiestRankRowsByHandAndAgainstMonteCarlo) {
  EXPECT_NEAR(ep_load_imbalance(moe(256, 8), 8, 32), 1.25003, 2e-5);
  EXPECT_EQ(ep_load_imbalance(moe(256, 8), 1, 32), 1.0);
  // Mixtral (8 experts, top 2) on EP8 with a hundredth of a row per rank: capped at
  // ep min(k, E/ep) / k = 8 x 1 / 2 = 4.
  EXPECT_EQ(ep_load_imbalance(moe(8, 2), 8, 0.01), 4.0);
  struct Case {
    int E, k, ep, tokens;
    double tol;  // relative, on the excess over the mean
  };
  for (const Case c : {Case{256, 8, 8, 32, 0.05}, Case{256, 8, 8, 256, 0.05}, Case{128, 8, 4, 8, 0.05},
                       Case{64, 6, 8, 32, 0.05}, Case{8, 2, 2, 16, 0.15}, Case{256, 8, 8, 1, 0.12}}) {
    const double mean = double(c.tokens) * c.k / c.ep;
    const double mc = route(c.E, c.k, c.ep, c.tokens, 4000).rows / mean;
    EXPECT_NEAR(ep_load_imbalance(moe(c.E, c.k), c.ep, mean) - 1, mc - 1, c.tol * (mc - 1))
        << c.E << " " << c.k << " " << c.ep << " " << c.tokens;
  }
}

// Experts used by a decode batch: with one rank the mean E (1 - (1 - k/E)^T); with EP the busiest
// rank's, within 3 % of a Monte Carlo from 16 tokens on, and 11 % low at one token (where the
// count is 1, 2 or 3 and the normal approximation is coarsest).
TEST(ExpertLoad, BusiestRankExpertsUsedAgainstMonteCarlo) {
  EXPECT_NEAR(busiest_rank_experts_used(moe(256, 8), 1, 1), 8.0, 1e-12);
  EXPECT_NEAR(busiest_rank_experts_used(moe(128, 8), 1, 32), 128 * (1 - std::pow(1 - 8.0 / 128, 32)), 1e-9);
  struct Case {
    int E, k, ep, tokens;
    double tol;
  };
  for (const Case c : {Case{256, 8, 8, 16, 0.03}, Case{256, 8, 8, 32, 0.03}, Case{128, 8, 8, 32, 0.03},
                       Case{128, 8, 4, 8, 0.03}, Case{256, 8, 32, 16, 0.03}, Case{256, 8, 8, 1, 0.13}}) {
    const double mc = route(c.E, c.k, c.ep, c.tokens, 4000).used;
    EXPECT_NEAR(busiest_rank_experts_used(moe(c.E, c.k), c.ep, c.tokens), mc, c.tol * mc)
        << c.E << " " << c.k << " " << c.ep << " " << c.tokens;
  }
  EXPECT_EQ(busiest_rank_experts_used(moe(8, 2), 8, 64), 1.0);  // never more than the rank holds
}

// Training (Megatron-Core, expert TP = TP): DeepSeek-V3 on EP64 at 4,096 tokens per micro-batch.
// Each rank's 4 experts receive T k = 32,768 rows on average; the busiest 1 + z(64) sqrt(248 /
// (255 x 32768)), z(64) = 2.33669: 1.012730. Its expert GEMMs and all-to-alls carry that, its
// saved activations the mean (the same bytes as without expert parallelism).
TEST(LayerWork, ExpertGemmsAndAllToAllsAreTheBusiestRanks) {
  const ModelSpec& m = Catalog::builtin().model("deepseek-v3");
  ShardSpec s = shard(1, false, Recompute::kNone, 4096);
  s.ep = 64;
  const LayerWork w = layer_work(m, s, true);
  EXPECT_NEAR(w.ep_imbalance, 1.012730, 1e-6);
  for (const auto& g : w.gemms) {
    if (std::string(g.name) == "expert_fc1") {
      EXPECT_NEAR(g.m, 8192 * 1.012730, 0.02);  // per local expert: T k lb ep / E, 4 of them
      EXPECT_EQ(g.count, 4);
      EXPECT_NEAR(g.load, w.ep_imbalance, 0);
    }
  }
  EXPECT_NEAR(w.ep_bytes.value, 2.0 * 4096 * 8 * 7168 * 1.012730, 1e3);
  s.ep = 1;
  const LayerWork one = layer_work(m, s, true);
  EXPECT_EQ(one.ep_imbalance, 1.0);
  EXPECT_EQ(w.activations_saved.value, one.activations_saved.value);
}

}  // namespace
}  // namespace wanka
