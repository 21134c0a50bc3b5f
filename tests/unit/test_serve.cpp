// Serving (issue 5): the inference cost model against hand-derived roofline numbers, the
// continuous-batching simulator's invariants, trace parsing and capacity planning.
#include <gtest/gtest.h>

#include <algorithm>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <limits>

#include "train/step_model.hpp"
#include "wanka/accelerator.hpp"
#include "wanka/collective.hpp"
#include "wanka/error.hpp"
#include "wanka/model.hpp"
#include "wanka/serve.hpp"

namespace wanka {
namespace {

ServeScenario scenario(const std::string& extra, const std::string& model = "llama3-70b", int gpus = 8, int tp = 8) {
  return parse_serve_scenario("model: {name: " + model + "}\ncluster: {gpu: h100-sxm, num_gpus: " + std::to_string(gpus) +
                                  "}\nparallel: {tp: " + std::to_string(tp) + "}\nserving: {" + extra + "}\n",
                              "<test>");
}

InferenceCost cost_of(const ServeScenario& s) {
  const auto& p = s.base.parallel;
  return InferenceCost(s.base.model, s.base.cluster, p.tp, p.pp, p.ep, s.serving);
}

// KV bytes per token = 2 (K and V) x layers x kv_heads x head_dim x bytes.
// Llama-3-70B: 2 x 80 x 8 x 128 x 2 B = 327,680 B in bf16, half in fp8. On 8 GPUs each holds one
// KV head: 327,680 / 8 = 40,960 B.
TEST(ServeCost, KvBytesPerTokenGqa) {
  const auto s = scenario("kv_precision: bf16");
  EXPECT_DOUBLE_EQ(cost_of(s).kv_bytes_per_token(), 327680.0);
  EXPECT_DOUBLE_EQ(cost_of(s).kv_bytes_per_token_per_gpu(), 40960.0);
  EXPECT_DOUBLE_EQ(cost_of(scenario("kv_precision: fp8")).kv_bytes_per_token(), 163840.0);
}

// With tp 16 > kv_heads 8 the KV heads are replicated: each GPU still holds one head.
TEST(ServeCost, KvHeadsReplicatedBeyondKvHeads) {
  const auto s = scenario("", "llama3-70b", 16, 16);
  EXPECT_DOUBLE_EQ(cost_of(s).kv_bytes_per_token_per_gpu(), 40960.0);
}

// MLA (DeepSeek-V3): one latent of kv_lora_rank 512 + rope 64 per layer:
// 61 x 576 x 2 B = 70,272 B per token, the same on every TP rank.
TEST(ServeCost, KvBytesPerTokenMla) {
  const auto s = scenario("weight_precision: fp8", "deepseek-v3", 16, 16);
  EXPECT_DOUBLE_EQ(cost_of(s).kv_bytes_per_token(), 61.0 * 576 * 2);
  EXPECT_DOUBLE_EQ(cost_of(s).kv_bytes_per_token_per_gpu(), 61.0 * 576 * 2);
}

// MLA prefills in its decompressed (MHA) form and decodes in the absorbed one. DeepSeek-V3 at
// tp 8 on H200 (FP8 GEMMs): 16 heads per GPU; a prefill pair costs 2 x 16 x (128 + 64 + 128) =
// 10,240 FLOPs at the kernel's rate for 192-wide heads, a decode pair 2 x 16 x (512 + 64 + 512)
// = 34,816 at the rate for the 576-wide latent. One 4,096-token prompt with no cached context
// has 4096 x 4097 / 2 causal pairs; the per-query term of the length curve (half-saturation
// span / 2 pairs per query token) stays at the absorbed rate. 61 layers on the one stage.
TEST(ServeCost, MlaPrefillsDecompressedAndDecodesAbsorbed) {
  const auto s = parse_serve_scenario("model: {name: deepseek-v3}\ncluster: {gpu: h200, num_gpus: 8}\n"
                                      "parallel: {tp: 8}\nserving: {weight_precision: fp8}\n", "<t>");
  const InferenceCost c = cost_of(s);
  const GpuSpec& g = s.base.cluster.gpu;
  const double inf = std::numeric_limits<double>::infinity();
  const Accelerator mha(g, Precision::kFp8, AttentionKernel::kFlash, 192), absorbed(g, Precision::kFp8, AttentionKernel::kFlash, 576);
  const double r_p = mha.attention_fwd(Flops(2.0 * 16 * 320), inf).value;
  const double r_a = absorbed.attention_fwd(Flops(2.0 * 16 * 1088), inf).value;
  const double r_af = absorbed.attention_fwd(Flops(2.0 * 16 * 1088), inf, AttentionMask::kFull).value;
  const double q = 4096, pairs = q * (q + 1) / 2;
  BatchShape prefill{q, 1, 1, q, pairs};
  EXPECT_NEAR(c.breakdown(prefill).attention.value, 61.0 * (pairs * r_p + q * absorbed.attention_fwd_half_seq() / 2 * r_a),
              1e-12);
  // 64 sequences decoding one token over 4,095 cached ones: 4,095 non-causal pairs and 1 causal each.
  BatchShape decode{64, 64, 64, 64 * 4096.0, 64 * 4096.0};
  decode.attn_full_pairs = 64 * 4095.0;
  decode.decode_kv_tokens = 64 * 4096.0;
  EXPECT_NEAR(c.breakdown(decode).attention.value,
              61.0 * ((64.0 + 64 * absorbed.attention_fwd_half_seq() / 2) * r_a + 64 * 4095.0 * r_af), 1e-12);
  EXPECT_GT(r_a / r_p, 2.0);  // the absorbed form costs 3.4x the FLOPs per pair
}

// Decode of Llama-3-70B bf16 on 8 H100 at batch 1 is bound by reading the weights:
// per GPU the layers hold (params - embedding - lm_head) / 8 = 68.45B / 8 parameters, 2 bytes
// each, read at 3.35 TB/s x 0.89 (calibrated HBM efficiency): 17.1 GB / 2.98 TB/s = 5.74 ms. The step adds the
// fixed per-GEMM cost (4 GEMMs x 80 layers x 5 us = 1.6 ms), the lm_head (128256 x 8192 / 8 x 2 B
// = 0.26 GB, 0.09 ms) and 160 small all-reduces.
TEST(ServeCost, DecodeStepIsWeightBandwidthBound) {
  const auto s = scenario("");
  const InferenceCost c = cost_of(s);
  const ModelCounts mc = count_model(s.base.model, 1);
  const double layer_bytes = (mc.params_total - mc.params_embedding - mc.params_logits) * 2.0 / 8.0;
  const double bw = 3.35e12 * 0.89;
  const StepBreakdown b = c.breakdown({1, 1, 1, 100, 100});
  // Norm weights are counted in the parameters but read as element-wise traffic: < 0.1 %.
  EXPECT_NEAR(b.weight_read.value, layer_bytes / bw, 0.001 * layer_bytes / bw);
  EXPECT_NEAR(layer_bytes / bw, 5.74e-3, 0.05e-3);
  EXPECT_GT(b.total.value, layer_bytes / bw + 1.6e-3);
  EXPECT_LT(b.total.value, layer_bytes / bw + 4.5e-3);
  EXPECT_LT(b.gemm_compute.value, 0.3 * b.total.value);
}

// Prefill of 8,192 tokens is compute-bound: 2 x N x T FLOPs with N = 68.5B non-embedding
// parameters -> 1.12e15 FLOP over 8 GPUs at 989.4 TFLOP/s x 0.803 = 0.1765 s of GEMM math.
// The calibrated GEMM model (src/hw, additive) also streams the activations: per token and
// layer, inputs (k x 2 B) and outputs (n x 2 B) of qkv (8192 -> 1280), attn_out (1024 -> 8192),
// fc1 (8192 -> 7168) and fc2 (3584 -> 8192) = 18,944 + 18,432 + 30,720 + 23,552 = 91,648 B,
// x 80 layers x 8,192 tokens / 2.98 TB/s = 20.1 ms; plus 4 x 80 GEMMs x 5 us = 1.6 ms.
TEST(ServeCost, PrefillIsComputeBound) {
  const auto s = scenario("");
  const InferenceCost c = cost_of(s);
  const ModelCounts mc = count_model(s.base.model, 1);
  const double n = mc.params_total - mc.params_embedding - mc.params_logits;
  const double T = 8192;
  const StepBreakdown b = c.breakdown({T, 1, 1, T, T * (T + 1) / 2});
  const double expect = 2.0 * n * T / 8.0 / (989.4e12 * 0.803) + 80.0 * T * 91648 / (3.35e12 * 0.89) + 320 * 5e-6;
  EXPECT_NEAR(b.gemm_compute.value, expect, 0.005 * expect);  // norms in n: < 0.1 %
  EXPECT_GT(b.gemm_compute.value, 5 * b.weight_read.value);
  // Causal attention: 2 x heads/8 x (128 + 128) FLOPs per pair x T(T+1)/2 pairs x 80 layers at
  // 989.4 x 0.570 TFLOP/s (the long-sequence rate), plus the kernel's fixed cost per query token
  // of half/2 = 397/2 pairs (docs/model.md §4.2): T(T+1)/2 + 198.5 T pairs, i.e. the causal
  // 8,192-token call at 0.570 x 8192 / (8192 + 397) of the peak.
  const double attn = 80.0 * 2.0 * 8.0 * 256.0 * (T * (T + 1) / 2 + 198.5 * T) / (989.4e12 * 0.570);
  EXPECT_NEAR(b.attention.value, attn, 1e-6 * attn);
}

// MoE expert loading: one token reads its top-k experts only (k/E of the expert weights);
// thousands of tokens touch every expert. Mixtral 8x7B, top-2 of 8: 1 - (1 - 2/8)^1 = 1/4.
TEST(ServeCost, MoeExpertLoading) {
  const auto s = scenario("", "mixtral-8x7b", 8, 8);
  const InferenceCost c = cost_of(s);
  const double one = c.breakdown({1, 1, 1, 1, 1}).expert_read.value;
  const double many = c.breakdown({4096, 16, 16, 4096, 4096}).expert_read.value;
  EXPECT_NEAR(one / many, 0.25, 1e-6);
}

// Weight precision: fp8 halves the weight bytes; weight-only int4 quarters them.
TEST(ServeCost, WeightPrecisionScalesWeightBytes) {
  const double bf16 = cost_of(scenario("")).breakdown({1, 1, 1, 1, 1}).weight_read.value;
  EXPECT_NEAR(cost_of(scenario("weight_precision: fp8")).breakdown({1, 1, 1, 1, 1}).weight_read.value, bf16 / 2, 1e-9);
  EXPECT_NEAR(cost_of(scenario("weight_precision: int4")).breakdown({1, 1, 1, 1, 1}).weight_read.value, bf16 / 4, 1e-9);
}

// Pipeline parallelism: with pp 2 each GPU holds half the layers, and a stream's iteration
// passes both stages, so the weight-read time of one iteration equals pp 1's (80 layers split
// evenly); the per-GPU KV bytes per token halve.
TEST(ServeCost, PipelineStagesShareTheLayers) {
  const auto one = scenario("", "llama3-70b", 8, 4);
  auto two = parse_serve_scenario("model: {name: llama3-70b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tp: 4, pp: 2}\n", "<t>");
  const InferenceCost c1 = cost_of(one), c2 = cost_of(two);
  const BatchShape b{64, 64, 64, 64 * 1000, 64 * 1000};
  EXPECT_NEAR(c2.breakdown(b).weight_read.value, c1.breakdown(b).weight_read.value, 1e-12);
  EXPECT_DOUBLE_EQ(c2.kv_bytes_per_token_per_gpu(), c1.kv_bytes_per_token_per_gpu() / 2);
  EXPECT_GT(c2.breakdown(b).pp_comm.value, 0);
  EXPECT_LT(c2.weight_bytes_per_gpu(), 0.55 * c1.weight_bytes_per_gpu());
  // Every per-layer cost is linear in the layers, so the iteration is pp 1's plus the transfer:
  // the logits run once, on the last stage (they were charged on every stage).
  EXPECT_NEAR(c2.breakdown(b).total.value - c2.breakdown(b).pp_comm.value, c1.breakdown(b).total.value, 1e-12);
  const Fabric fab = detail::make_fabric(two.base.cluster);
  const Bytes msg(64 * 8192 * 2.0);  // 64 tokens x h x 2 B
  EXPECT_NEAR(c2.breakdown(b).pp_comm.value, p2p(msg, false, fab).value, 1e-15);  // both stages in the node
  // tp 4 x pp 4 on two 8-GPU nodes: stages 0-1 on node 0, 2-3 on node 1; only the hop 1 -> 2 crosses.
  auto four = parse_serve_scenario("model: {name: llama3-70b}\ncluster: {gpu: h100-sxm, num_gpus: 16}\nparallel: {tp: 4, pp: 4}\n", "<t>");
  EXPECT_NEAR(cost_of(four).breakdown(b).pp_comm.value, 2.0 * p2p(msg, false, fab).value + p2p(msg, true, fab).value, 1e-15);
}

// Expert parallelism changes where experts live, not how many bytes a batch reads on average:
// ep 8 holds 1 whole expert per GPU, ep 1 an eighth of each of the 8; with top-2 of 8 a single
// token touches each expert with probability 1/4 either way. EP adds the all-to-alls.
// Mixtral (8 experts, top 2) on 8 GPUs decoding one token. Experts sharded over TP8 (ep 1): every
// GPU reads 1/8 of the 2 experts used, 0.25 of an expert. EP8 (one whole expert per GPU): the
// step waits for the busiest rank, which uses its expert with p = 0.25 each; the expected most
// any rank reads is p + z(8) sqrt(p (1 - p)) = 0.25 + 1.43420 x 0.43301 (Blom's z(8) =
// Phi^-1(7.625 / 8.25)), 3.484x TP's (the exact value is 1: some rank always reads a whole
// expert; the normal approximation is coarsest at one token). With 100 tokens every expert is
// used: both read one expert's worth per GPU.
TEST(ServeCost, ExpertParallelismWaitsForTheBusiestRank) {
  auto ep8 = parse_serve_scenario("model: {name: mixtral-8x7b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tp: 8, ep: 8}\n", "<t>");
  const auto ep1 = scenario("", "mixtral-8x7b", 8, 8);
  const BatchShape one{1, 1, 1, 100, 100};
  EXPECT_NEAR(cost_of(ep8).breakdown(one).expert_read.value / cost_of(ep1).breakdown(one).expert_read.value, 3.4841, 1e-3);
  const BatchShape many{100, 100, 100, 100 * 100, 100 * 100};
  EXPECT_NEAR(cost_of(ep8).breakdown(many).expert_read.value, cost_of(ep1).breakdown(many).expert_read.value, 1e-12);
  EXPECT_GT(cost_of(ep8).breakdown(one).ep_comm.value, 0);
  EXPECT_EQ(cost_of(ep1).breakdown(one).ep_comm.value, 0);
}

// Query-key pairs against the cached context are non-causal (each new token sees all of it) and
// run at the kernel's full-mask rate (H100 cuDNN forward 0.628 against 0.570 causal, long-span
// limits: docs/model.md §4.2). Llama-3-70B on TP8: 8 query heads per GPU of head dim 128, so
// 2 x 8 x 256 = 4,096 FLOPs a pair; one decoding sequence with 1,000 cached tokens has 1,001
// pairs of which 1,000 are non-causal: over 80 layers the attention time changes by
//   80 x 1000 x 4096 x (1 / (989.4e12 x 0.628) - 1 / (989.4e12 x 0.570)).
TEST(ServeCost, PairsAgainstTheCachedContextRunAtTheNonCausalRate) {
  const InferenceCost c = cost_of(scenario(""));
  BatchShape decode{1, 1, 1, 1001, 1001};
  const double causal = c.breakdown(decode).attention.value;
  decode.attn_full_pairs = 1000;
  const double P = 989.4e12;
  EXPECT_NEAR(c.breakdown(decode).attention.value - causal, 80.0 * 1000 * 4096 * (1 / (P * 0.628) - 1 / (P * 0.570)),
              1e-15);
  decode.attn_full_pairs = 5000;  // never more than all the pairs
  EXPECT_NEAR(c.breakdown(decode).attention.value - causal,
              80.0 * 1001 * 4096 * (1 / (P * 0.628) - 1 / (P * 0.570)), 1e-15);
}

// Decode KV reads: Llama-3-70B on TP8 holds one of the 8 KV heads and 8 of the 64 query heads
// per GPU. A decode kernel that loads the KV head once per query head (TensorRT-LLM's masked MHA
// before XQA) reads 8x the KV bytes of decode sequences: 1,000 context tokens of one decoding
// sequence cost 80 layers x 1,001 x 2 x 128 x 2 B x 8 / HBM instead of x 1. Prefill chunks
// (q > 1) and MHA models are unaffected.
TEST(ServeCost, PerQueryHeadDecodeReadsScaleByGroupSize) {
  const InferenceCost shared = cost_of(scenario(""));
  const InferenceCost per_q = cost_of(scenario("decode_kv_reads: per_query_head"));
  BatchShape decode{1, 1, 1, 1001, 1001};
  decode.decode_kv_tokens = 1001;
  const double write = shared.breakdown({1, 1, 1, 0, 0}).kv_read.value;  // the new token's KV write
  EXPECT_NEAR(per_q.breakdown(decode).kv_read.value - write, 8.0 * (shared.breakdown(decode).kv_read.value - write), 1e-12);
  const BatchShape prefill{1000, 1, 1, 1000, 500500};
  EXPECT_DOUBLE_EQ(per_q.breakdown(prefill).kv_read.value, shared.breakdown(prefill).kv_read.value);
  const auto mha = [](const char* extra) {
    return cost_of(parse_serve_scenario(std::string("model: {name: llama2-7b}\ncluster: {gpu: h100-sxm, num_gpus: 1}\n"
                                                    "parallel: {tp: 1}\nserving: {") + extra + "}\n", "<t>"));
  };
  EXPECT_DOUBLE_EQ(mha("decode_kv_reads: per_query_head").breakdown(decode).kv_read.value,
                   mha("").breakdown(decode).kv_read.value);
}

// Attention DP (Mixtral-8x7B: 32 layers, 8 KV heads of 128, 32 query heads; tp 8 = ep 8): each
// GPU caches whole KV heads for its own sequences, 2 x 32 x 8 x 128 x 2 B = 131,072 B per token,
// against one KV head (16,384 B) on TP8, and the replica's pool is the 8 GPUs' pools together.
// A decode batch of 8 equal sequences puts one on each GPU: one sequence x 32 heads is the same
// attention work and KV bytes as TP8's 8 sequences x 4 heads; a lone sequence costs its GPU 8x
// TP8's. No TP all-reduce; the MoE layers' all-to-alls remain.
TEST(ServeCost, AttentionDataParallel) {
  const auto tp8 = parse_serve_scenario("model: {name: mixtral-8x7b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tp: 8, ep: 8}\n", "<t>");
  auto adp = parse_serve_scenario(
      "model: {name: mixtral-8x7b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tp: 8, ep: 8}\nserving: {attention_dp: true}\n", "<t>");
  const InferenceCost ct = cost_of(tp8), ca = cost_of(adp);
  EXPECT_DOUBLE_EQ(ct.kv_bytes_per_token_per_gpu(), 16384.0);
  EXPECT_DOUBLE_EQ(ca.kv_bytes_per_token_per_gpu(), 131072.0);
  EXPECT_EQ(ca.kv_blocks() % 8, 0);
  EXPECT_EQ(ca.sequence_blocks(), ca.kv_blocks() / 8);
  EXPECT_NEAR(double(ca.kv_blocks() / 8), std::floor(ca.kv_capacity_bytes_per_gpu() / (131072.0 * 16)), 0.5);
  // Eight decoding sequences, one per rank (as the simulator assigns them; also the even-spread
  // default when rank_* is not given).
  BatchShape eight{8, 8, 8, 8 * 1001, 8 * 1001};
  eight.decode_kv_tokens = 8 * 1001;
  BatchShape eight_ranked = eight;
  eight_ranked.rank_tokens = 1;
  eight_ranked.rank_pairs = eight_ranked.rank_kv = eight_ranked.rank_decode_kv = 1001;
  eight_ranked.rank_rows = 1;
  EXPECT_NEAR(ca.breakdown(eight).attention.value, ct.breakdown(eight).attention.value, 1e-15);
  EXPECT_NEAR(ca.breakdown(eight).kv_read.value, ct.breakdown(eight).kv_read.value, 1e-15);
  EXPECT_DOUBLE_EQ(ca.breakdown(eight_ranked).total.value, ca.breakdown(eight).total.value);
  BatchShape one{1, 1, 1, 1001, 1001};
  one.decode_kv_tokens = 1001;
  EXPECT_NEAR(ca.breakdown(one).attention.value, 8.0 * ct.breakdown(one).attention.value, 1e-15);
  EXPECT_EQ(ca.breakdown(eight).tp_comm.value, 0.0);
  EXPECT_GT(ct.breakdown(eight).tp_comm.value, 0.0);
  EXPECT_GT(ca.breakdown(eight).ep_comm.value, 0.0);
  // A prefill chunk is not split over the ranks: 512 new tokens of one sequence on rank 0 beside
  // 7 decodes on the other ranks cost the busiest rank its 512 tokens' attention, as if alone.
  BatchShape mixed{519, 8, 8, 512 + 7 * 1001, 512 * 513 / 2.0 + 7 * 1001};
  mixed.rank_tokens = 512;
  mixed.rank_pairs = 512 * 513 / 2.0;
  mixed.rank_kv = 1001;
  mixed.rank_rows = 1;
  BatchShape alone{512, 1, 1, 512, 512 * 513 / 2.0};
  EXPECT_NEAR(ca.breakdown(mixed).attention.value, ca.breakdown(alone).attention.value, 1e-15);
  try {
    parse_serve_scenario("model: {name: mixtral-8x7b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tp: 8, ep: 4}\n"
                         "serving: {attention_dp: true}\n", "<t>");
    ADD_FAILURE() << "ep 4 with tp 8 and attention DP accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "parallel.ep");
  }
}

// KV transfer (disaggregation): 1,024 tokens of Llama-3-70B bf16 on TP8 are 1,024 x 40,960 B =
// 41.9 MB per GPU; over a 400 Gb/s NIC at 0.94 efficiency (47 GB/s) that is 0.892 ms plus the
// 10 us scale-out latency; over NVLink (450 GB/s x 0.82) 0.114 ms plus 2 us.
TEST(ServeCost, KvTransferTime) {
  const InferenceCost c = cost_of(scenario(""));
  EXPECT_NEAR(c.kv_transfer_time(1024, true).value, 1024 * 40960 / (50e9 * 0.94) + 10e-6, 1e-9);
  EXPECT_NEAR(c.kv_transfer_time(1024, false).value, 1024 * 40960 / (450e9 * 0.82) + 2e-6, 1e-9);
}

// The SLO: met at a light load, missed far beyond the replica's capacity; goodput never
// exceeds throughput.
TEST(ServeSim, SloAtLightAndHeavyLoad) {
  auto light = scenario("input_len: 512, output_len: 64, requests: 300, arrival_rate_per_s: 1, slo: {ttft_s: 0.5, tpot_s: 0.05}");
  const ServeResult a = simulate_serving(light);
  EXPECT_TRUE(a.slo_met);
  EXPECT_DOUBLE_EQ(a.slo_attainment, 1.0);
  auto heavy = light;
  heavy.serving.arrival_rate_per_s = 1000;
  const ServeResult b = simulate_serving(heavy);
  EXPECT_FALSE(b.slo_met);
  EXPECT_LE(b.goodput_requests_per_s, b.requests_per_s);
  EXPECT_GT(b.queue_s.p90, a.queue_s.p90);
}

// One static batch, all prompts fitting one iteration: the makespan is one prefill iteration
// plus (output - 1) decode iterations whose context grows by one each step.
TEST(ServeSim, StaticBatchEqualsSumOfIterations) {
  const long B = 16, in = 256, out = 32;
  auto s = scenario("input_len: 256, output_len: 32, requests: 16, offline: true, max_batch: 16, max_batch_tokens: 8192");
  const InferenceCost c = cost_of(s);
  double t = double(to_sim_time(c.iteration_time({double(B * in), double(B), double(B), double(B * in),
                                           double(B) * in * (in + 1) / 2.0}))) * 1e-9;
  for (long g = 1; g < out; ++g) {
    const double ctx = double(in + g - 1);
    BatchShape d{double(B), double(B), double(B), double(B) * (ctx + 1), double(B) * (ctx + 1)};
    d.attn_full_pairs = double(B) * ctx;  // each new token against its cached context
    t += double(to_sim_time(c.iteration_time(d))) * 1e-9;
  }
  const ServeResult r = simulate_serving(s);
  EXPECT_EQ(r.completed, B);
  EXPECT_EQ(r.iterations, out);
  EXPECT_NEAR(r.makespan_s, t, 1e-9);
  EXPECT_NEAR(r.output_tokens_per_s, double(B * out) / t, 1e-6);
}

TEST(ServeSim, DeterministicForSeed) {
  auto s = scenario("input_len: {dist: lognormal, mean: 600, stddev: 400, max: 4000}, output_len: {dist: uniform, min: 10, max: 300},"
                    " requests: 500, arrival_rate_per_s: 8, seed: 7");
  const ServeResult a = simulate_serving(s), b = simulate_serving(s);
  EXPECT_EQ(a.makespan_s, b.makespan_s);
  EXPECT_EQ(a.ttft_s.p99, b.ttft_s.p99);
  s.serving.seed = 8;
  EXPECT_NE(simulate_serving(s).makespan_s, a.makespan_s);
}

// A small KV cache forces preemption; every request still finishes.
TEST(ServeSim, PreemptionWhenKvFull) {
  auto s = scenario("input_len: 2000, output_len: 1000, requests: 300, offline: true, max_batch: 256, gpu_memory_utilization: 0.27");
  const ServeResult r = simulate_serving(s);
  EXPECT_EQ(r.completed, 300);
  EXPECT_GT(r.preemptions, 0);
  EXPECT_GT(r.kv_occupancy_peak, 0.9);
}

// Disaggregation: one prefill and one decode replica of TP4; TTFT comes from the prefill
// replica, decode carries on after the KV transfer.
// The decode kernel's KV read pattern is a decode cost: one request of Llama-3-70B (GQA 8:64)
// keeps its TTFT with per_query_head reads and decodes more slowly; an MHA model is unchanged.
TEST(ServeSim, PerQueryHeadReadsSlowDecodeOnlyForGqa) {
  const char* base = "input_len: 2048, output_len: 64, requests: 1, offline: true";
  const ServeResult a = simulate_serving(scenario(base));
  const ServeResult b = simulate_serving(scenario(std::string(base) + ", decode_kv_reads: per_query_head"));
  EXPECT_DOUBLE_EQ(a.ttft_s.mean, b.ttft_s.mean);
  EXPECT_GT(b.tpot_s.mean, a.tpot_s.mean * 1.01);
  const auto mha = [&](const std::string& extra) {
    return simulate_serving(parse_serve_scenario(
        "model: {name: llama2-7b}\ncluster: {gpu: h100-sxm, num_gpus: 1}\nparallel: {tp: 1}\nserving: {" + std::string(base) + extra + "}\n",
        "<t>"));
  };
  EXPECT_DOUBLE_EQ(mha("").tpot_s.mean, mha(", decode_kv_reads: per_query_head").tpot_s.mean);
}

// Attention DP keeps each sequence's KV cache on one rank: requests that need 60 % of one
// GPU's pool (a small pool, and a token budget that admits many prompts per iteration) can only
// be resident one per rank, so the replica holds at most 8 of them, peak occupancy = one
// request's blocks / one rank's blocks, although the summed pool would take 13.
TEST(ServeSim, AttentionDpPacksSequencesPerRank) {
  const std::string head = "model: {name: mixtral-8x7b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tp: 8}\n";
  const std::string common = "attention_dp: true, weight_precision: fp8, gpu_memory_utilization: 0.2, max_batch_tokens: 65536";
  auto probe = parse_serve_scenario(head + "serving: {" + common + "}\n", "<t>");
  const InferenceCost c = cost_of(probe);
  const long rank_blocks = c.sequence_blocks();
  const long tokens = static_cast<long>(0.6 * double(rank_blocks) * 16);
  const long blocks = (tokens + 15) / 16;
  auto s = parse_serve_scenario(head + "serving: {" + common + ", requests: 16, offline: true, input_len: " +
                                    std::to_string(tokens - 8) + ", output_len: 8}\n",
                                "<t>");
  const ServeResult r = simulate_serving(s);
  EXPECT_EQ(r.completed, 16);
  EXPECT_LE(r.kv_occupancy_peak, double(blocks) / double(rank_blocks) + 1e-9);
  EXPECT_GT(r.kv_occupancy_peak, 0.5);
}

TEST(ServeSim, DisaggregationCompletesEveryRequest) {
  auto s = scenario("input_len: 1024, output_len: 64, requests: 200, arrival_rate_per_s: 5, disaggregation: {prefill_replicas: 1}",
                    "llama3-70b", 8, 4);
  const ServeResult r = simulate_serving(s);
  EXPECT_EQ(r.completed, 200);
  EXPECT_EQ(r.prefill_replicas, 1);
  EXPECT_LE(r.ttft_s.p99, r.e2e_s.p99);
  EXPECT_GT(r.tpot_s.p50, 0);
}

TEST(ServeSim, ModelThatDoesNotFitIsInputError) {
  try {
    simulate_serving(scenario("", "llama3-405b", 1, 1));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "parallel");
    EXPECT_NE(std::string(e.what()).find("does not fit"), std::string::npos);
  }
}

TEST(ServeTrace, FormatsAndMalformedLines) {
  const auto csv = parse_trace("arrival_s,input,output\n0.5,100,10\n0.0,200,20\n", "t.csv");
  ASSERT_EQ(csv.size(), 2u);
  EXPECT_EQ(csv[0].input, 200);  // sorted by arrival, times relative to the first
  EXPECT_DOUBLE_EQ(csv[1].arrival_s, 0.5);
  const auto az = parse_trace("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
                              "2023-11-16 18:15:50.9951690,396,109\n",
                              "az.csv");
  EXPECT_NEAR(az[1].arrival_s, 4.314579, 1e-6);
  const auto mc = parse_trace("{\"timestamp\": 0, \"input_length\": 6758, \"output_length\": 500}\n"
                              "{\"timestamp\": 1500, \"input_length\": 10, \"output_length\": 5}\n",
                              "m.jsonl");
  EXPECT_DOUBLE_EQ(mc[1].arrival_s, 1.5);
  try {
    parse_trace("0,10,10\n1,20,20\n2,x,30\n", "bad.csv");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "serving.trace");
    EXPECT_NE(std::string(e.what()).find("bad.csv:3:"), std::string::npos);
  }
  EXPECT_THROW(parse_trace("0,10\n", "short.csv"), InputError);
  EXPECT_THROW(parse_trace("0,-10,5\n", "neg.csv"), InputError);
  EXPECT_THROW(parse_trace("{\"timestamp\": 0}\n", "m.jsonl"), InputError);
}

// Property: every request finishes, TTFT <= end-to-end at every percentile, occupancy <= 1,
// and a GPU with more HBM (more KV blocks) never lowers throughput at the same batch cap.
RC_GTEST_PROP(ServeProps, InvariantsAndMoreMemory, ()) {
  const long in = *rc::gen::inRange(16, 3000);
  const long out = *rc::gen::inRange(1, 400);
  const long n = *rc::gen::inRange(20, 200);
  const long mb = *rc::gen::element(8L, 32L, 128L, 512L);
  const long block = *rc::gen::element(8L, 16L, 32L);
  const bool offline = *rc::gen::arbitrary<bool>();
  std::string extra = "input_len: {dist: uniform, min: 1, max: " + std::to_string(in) + "}, output_len: {dist: uniform, min: 1, max: " +
                      std::to_string(out) + "}, requests: " + std::to_string(n) + ", max_batch: " + std::to_string(mb) +
                      ", kv_block_tokens: " + std::to_string(block) + ", gpu_memory_utilization: 0.3, " +
                      (offline ? std::string("offline: true") : std::string("arrival_rate_per_s: 20"));
  auto s = scenario(extra);
  const ServeResult r = simulate_serving(s);
  RC_ASSERT(r.completed == n);
  RC_ASSERT(r.ttft_s.p50 <= r.e2e_s.p50 + 1e-12);
  RC_ASSERT(r.ttft_s.p99 <= r.e2e_s.p99 + 1e-12);
  RC_ASSERT(r.kv_occupancy_peak <= 1.0 + 1e-12);
  if (offline) {
    auto big = s;
    big.serving.gpu_memory_utilization = 0.9;
    const ServeResult rb = simulate_serving(big);
    RC_ASSERT(rb.completed == n);
    RC_ASSERT(rb.output_tokens_per_s >= (1 - 1e-9) * r.output_tokens_per_s);
  }
}

// The serving block `extra` is refused with an InputError naming `field`.
void expect_field(const std::string& extra, const std::string& field, const std::string& model = "llama3-70b") {
  try {
    scenario(extra, model);
    ADD_FAILURE() << extra;
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), field) << e.what();
  }
}

TEST(ServeConfig, FieldNamedErrors) {
  expect_field("weight_precision: int3", "serving.weight_precision");
  expect_field("kv_precision: fp4", "serving.kv_precision");
  expect_field("max_batch: 0", "serving.max_batch");
  expect_field("input_len: {dist: gamma, mean: 3}", "serving.input_len.dist");
  expect_field("output_len: {dist: normal, mean: 30}", "serving.output_len.stddev");
  expect_field("slo: {ttft_s: -1}", "serving.slo.ttft_s");
  expect_field("offline: true, arrival_rate_per_s: 3", "serving.offline");
  expect_field("disaggregation: {prefill_replicas: 1}", "serving.disaggregation.prefill_replicas");
  expect_field("batch: 3", "serving.batch");
  expect_field("kv_pool: sglang", "serving.kv_pool");
  expect_field("decode_kv_reads: per_token", "serving.decode_kv_reads");
  expect_field("attention_dp: true", "serving.attention_dp");  // the dense default model
}

TEST(ServeConfig, SpeculativeErrorsNameTheField) {
  expect_field("speculative: {acceptance: 0.8}", "serving.speculative.tokens");
  expect_field("speculative: {tokens: 17}", "serving.speculative.tokens");
  expect_field("speculative: {tokens: 2, draft: llama3-8b}", "serving.speculative.acceptance");  // an input, no default
  expect_field("speculative: {tokens: 2, acceptance: 1.5}", "serving.speculative.acceptance");
  expect_field("speculative: {tokens: 2, acceptance: 0.8, draft: mtp}", "serving.speculative.draft");         // llama3-70b has no MTP module
  expect_field("speculative: {tokens: 2, acceptance: 0.8, draft: llama2-7b}", "serving.speculative.draft");   // 32,000-token vocabulary
  expect_field("speculative: {tokens: 2, acceptance: 0.8, draft: llama3-8bb}", "serving.speculative.draft");  // unknown name
  expect_field("speculative: {tokens: 2, acceptance: 0.8, draft: mixtral-8x7b}", "serving.speculative.draft", "mixtral-8x22b");  // MoE draft
  EXPECT_NO_THROW(scenario("speculative: {tokens: 0, draft: mtp}"));  // off: the draft is not needed
}

// The draft model's weights and KV cache sit on the replica's GPUs, and each iteration runs k
// draft passes over the drafting sequences (q = 1 each, the context growing by one per pass).
TEST(ServeCost, DraftModelWeightsKvAndPasses) {
  const auto plain = scenario("input_len: 512, output_len: 128");
  const auto spec = scenario("input_len: 512, output_len: 128, speculative: {tokens: 3, acceptance: 0.8, draft: llama3-8b}");
  const InferenceCost a = cost_of(plain), b = cost_of(spec);
  auto draft_s = scenario("input_len: 512, output_len: 128", "llama3-8b");  // llama3-8b on the same 8 GPUs, tp 8
  const InferenceCost d = cost_of(draft_s);
  EXPECT_NEAR(b.weight_bytes_per_gpu() - a.weight_bytes_per_gpu(), d.weight_bytes_per_gpu(), 1.0);
  EXPECT_NEAR(b.kv_capacity_bytes_per_gpu(), a.kv_capacity_bytes_per_gpu() - d.weight_bytes_per_gpu(), 1.0);
  // Per token and GPU: the target's 80 layers x 1 KV head and the draft's 32 x 1, x 2 x 128 x 2 B.
  EXPECT_DOUBLE_EQ(a.kv_bytes_per_token_per_gpu(), 80 * 2 * 128 * 2.0);
  EXPECT_DOUBLE_EQ(b.kv_bytes_per_token_per_gpu(), (80 + 32) * 2 * 128 * 2.0);
  EXPECT_EQ(b.kv_blocks(), static_cast<long>(std::floor(b.kv_capacity_bytes_per_gpu() / (b.kv_bytes_per_token_per_gpu() * 16))));
  // 8 sequences at context 1,000: the three passes see 1,001, 1,002 and 1,003 keys, 1,002 on average.
  BatchShape v{32, 8, 32, 8 * 1004.0, 8 * 4 * (1000 + 2.5)};
  v.attn_full_pairs = 8 * 4 * 1000.0;
  v.decode_kv_tokens = v.kv_tokens;
  v.draft_seqs = 8;
  v.draft_kv_tokens = 8 * 1000.0;
  BatchShape pass{8, 8, 8, 8 * 1002.0, 8 * 1002.0};
  pass.attn_full_pairs = 8 * 1001.0;
  pass.decode_kv_tokens = pass.kv_tokens;
  const StepBreakdown s = b.breakdown(v);
  EXPECT_NEAR(s.draft.value, 3 * d.iteration_time(pass).value, 1e-12);
  BatchShape no_draft = v;
  no_draft.draft_seqs = no_draft.draft_kv_tokens = 0;
  EXPECT_NEAR(s.total.value, a.iteration_time(no_draft).value + s.draft.value, 1e-12);
}

// DeepSeek-V3's MTP module as the draft: one MoE layer with the shared embedding and head, plus
// the 2h x h projection, 7,168 x 14,336 fp8 weights (arXiv 2412.19437 §2.2).
TEST(ServeCost, MtpDraftIsOneLayerAndTheProjection) {
  auto ds = [](const std::string& extra) {
    return parse_serve_scenario("model: deepseek-v3\ncluster: {gpu: h200, num_gpus: 8}\nparallel: {tp: 8, ep: 8}\n"
                                "serving: {weight_precision: fp8" + extra + "}\n", "<test>");
  };
  const auto plain = ds(""), spec = ds(", speculative: {tokens: 1, acceptance: 0.85}");
  const InferenceCost a = cost_of(plain), b = cost_of(spec);
  const ModelSpec& m = plain.base.model;
  const double h = double(m.hidden);
  // One MoE layer of the 58 the fullest stage holds beside 3 dense ones, on each GPU.
  auto one_layer = plain;
  one_layer.base.model.layers = 4;  // 3 dense + 1 MoE
  auto dense_only = plain;
  dense_only.base.model.layers = 3;
  dense_only.base.model.moe.dense_layers = 3;
  const double moe_layer = cost_of(one_layer).weight_bytes_per_gpu() - cost_of(dense_only).weight_bytes_per_gpu();
  EXPECT_NEAR(b.weight_bytes_per_gpu() - a.weight_bytes_per_gpu(), moe_layer + 2.0 * h * h * 1.0, 1.0);
  // One more layer of MLA latent per token (576 x 2 B, replicated on the TP ranks).
  EXPECT_DOUBLE_EQ(b.kv_bytes_per_token_per_gpu() - a.kv_bytes_per_token_per_gpu(), 576 * 2.0);
}

// Acceptance 1: every verification step emits 1 + k tokens. 16 requests of 32 output tokens,
// k = 3: the prefill gives token 1; then seven steps of 4 tokens (29 in all) and one of 3 (the
// output has 3 left: 2 drafts): 9 iterations, 8 verification steps, 31 tokens.
TEST(ServeSim, SpeculativeFullAcceptanceSteps) {
  auto s = scenario("input_len: 256, output_len: 32, requests: 16, offline: true, max_batch: 16, "
                    "speculative: {tokens: 3, acceptance: 1, draft: llama3-8b}");
  const ServeResult r = simulate_serving(s);
  EXPECT_EQ(r.completed, 16);
  EXPECT_EQ(r.iterations, 9);
  EXPECT_DOUBLE_EQ(r.spec_steps, 16 * 8.0);
  EXPECT_DOUBLE_EQ(r.spec_tokens, 16 * 31.0);
}

// Acceptance 0: one token per step, as without drafts, each step dearer (drafts + a wider
// verification pass); at 0.8 the mean tokens per step is (1 - 0.8^4) / 0.2 = 2.952 for k = 3.
TEST(ServeSim, SpeculativeAcceptanceSetsTokensPerStep) {
  const std::string base = "input_len: 256, output_len: 400, requests: 64, offline: true, max_batch: 16";
  const ServeResult plain = simulate_serving(scenario(base));
  const ServeResult none = simulate_serving(scenario(base + ", speculative: {tokens: 3, acceptance: 0, draft: llama3-8b}"));
  EXPECT_EQ(none.iterations, plain.iterations);
  EXPECT_GT(none.tpot_s.p50, plain.tpot_s.p50);
  const auto s = scenario(base + ", speculative: {tokens: 3, acceptance: 0.8, draft: llama3-8b}");
  const ServeResult r = simulate_serving(s);
  EXPECT_NEAR(expected_tokens_per_step(s.serving.speculative), 2.952, 1e-12);
  // 64 x 399 tokens over about 8,600 steps: the standard error of the mean is about 0.013; the
  // last steps of each request propose fewer drafts and pull the mean down slightly.
  EXPECT_NEAR(r.spec_tokens / r.spec_steps, 2.952, 0.06);
  EXPECT_LT(r.iterations, plain.iterations);
  EXPECT_LT(r.tpot_s.p50, plain.tpot_s.p50);
}

// Capacity: the chosen fleet serves the demand within the SLO at the probe's rate.
// For a MoE model the capacity search tries both layouts (tensor-parallel attention and
// attention DP with ep = tp) unless serving.attention_dp is given; the option list says which.
TEST(ServeCapacity, MoeSearchesBothAttentionLayouts) {
  const std::string head =
      "model: {name: mixtral-8x7b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {pp: 1}\n"
      "capacity: {users: 10000, requests_per_user_per_hour: 10, max_gpus_per_replica: 4}\nserving: {input_len: 512, output_len: 128, "
      "weight_precision: fp8, slo: {ttft_s: 1.0, tpot_s: 0.05}";
  auto count = [](const CapacityResult& c, bool dp) {
    return std::count_if(c.options.begin(), c.options.end(), [&](const ReplicaOption& o) { return o.attention_dp == dp; });
  };
  const CapacityResult both = plan_capacity(parse_serve_scenario(head + "}\n", "<t>"));
  EXPECT_GT(count(both, true), 0);
  EXPECT_GT(count(both, false), 0);
  for (const auto& o : both.options) {
    if (o.attention_dp) {
      EXPECT_EQ(o.ep, o.tp);
    }
  }
  const CapacityResult tp_only = plan_capacity(parse_serve_scenario(head + ", attention_dp: false}\n", "<t>"));
  EXPECT_EQ(count(tp_only, true), 0);
  const CapacityResult dp_only = plan_capacity(parse_serve_scenario(head + ", attention_dp: true}\n", "<t>"));
  EXPECT_EQ(count(dp_only, false), 0);
}

TEST(ServeCapacity, FleetMeetsDemand) {
  auto s = parse_serve_scenario(
      "model: {name: llama3-8b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n"
      "serving: {input_len: 512, output_len: 128, slo: {ttft_s: 0.5, tpot_s: 0.03}}\n"
      "capacity: {users: 100000, requests_per_user_per_hour: 2}\n",
      "<test>");
  const CapacityResult c = plan_capacity(s);
  EXPECT_GT(c.options.size(), 0u);
  EXPECT_TRUE(c.best.at_max.slo_met);
  EXPECT_GE(double(c.replicas) * c.best.max_rate_per_s, c.demand_per_s);
  EXPECT_NEAR(c.demand_per_s, 100000 * 2 / 3600.0, 1e-9);
  EXPECT_EQ(c.gpus, std::int64_t(c.replicas) * c.best.tp * c.best.pp);
  EXPECT_NEAR(c.cost_per_month_usd, double(c.gpus) * 2.5 * 730, 1e-6);
  // The reverse question on that fleet gives at least the demanded rate.
  s.serving.capacity->fleet_gpus = c.gpus;
  const CapacityResult r = plan_capacity(s);
  EXPECT_GE(r.max_requests_per_user_per_hour, 2.0 * 0.999);
}

TEST(ServeCapacity, UnmeetableSloIsInputError) {
  auto s = parse_serve_scenario(
      "model: {name: llama3-70b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n"
      "serving: {input_len: 512, output_len: 128, slo: {ttft_s: 0.001, tpot_s: 0.03}}\n"
      "capacity: {users: 1000, requests_per_user_per_hour: 2}\n",
      "<test>");
  try {
    plan_capacity(s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "serving.slo");
  }
}

}  // namespace
}  // namespace wanka
