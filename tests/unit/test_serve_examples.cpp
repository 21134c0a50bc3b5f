// The serving seed case (examples/serve-gpt4-25-messages-per-3h.yaml) against ranges derived
// by hand; docs/validation.md ("Serving: the GPT-4 rate limit") discusses the result.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "wanka/serve.hpp"
#include "wanka/validate.hpp"

namespace wanka {
namespace {

ServeScenario load(const std::string& name) {
  std::ifstream in(std::string(WANKA_SOURCE_DIR) + "/examples/" + name);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_serve_scenario(ss.str(), name);
}

// Why the answer lands where it does. 16-bit weights of 1.83T parameters are 3.66 TB: a replica
// needs >= 46 A100-80GB before any KV cache, so tp x pp is 56 (7 x 8) or 64 GPUs. With
// pipeline parallelism a token passes every stage in turn, so TPOT ~ pp x stage time. At a
// decode batch of T tokens a stage reads its attention weights (55.5B x 2 B / 56 = 2.0 GB per
// GPU) and the experts the tokens route to: 1 - (1 - 2/16)^T of 63 GB per GPU, i.e. 23 % at
// T = 2 and 88 % at T = 16. At 1.69 TB/s (2.039 x 0.83) that is ~10 ms per stage at T = 2 and
// ~34 ms at T = 16, so TPOT <= 100 ms over 8 stages allows only ~2 sequences per stream:
// with 8 streams and ~30 s per message the replica serves ~16 / 30 ~ 0.5 messages/s.
// A TP group of 7 keeps to one 8-GPU node, so a 56-GPU replica occupies 64: 30,720 / 64 = 480
// replicas (or 240 of twice the stages and twice the rate) then serve ~240 messages/s = ~0.9M
// messages/hour: about one message per user per hour for 1M users (range [0.5, 2]), and 25
// per 3 hours (8.33/h) for ~100k users (range [60k, 240k]). The limit is set by expert weights streamed per token, not by
// FLOPs: at these rates the fleet's A100s are nearly idle in compute.
TEST(ServeExamples, Gpt4RateLimitOnThirtyThousandA100) {
  const ServeScenario s = load("serve-gpt4-25-messages-per-3h.yaml");
  const CapacityResult c = plan_capacity(s);
  EXPECT_GE(c.best.tp * c.best.pp, 46);
  EXPECT_LE(c.best.tp * c.best.pp, 128);
  EXPECT_TRUE(c.best.at_max.slo_met);
  EXPECT_LE(c.best.at_max.tpot_s.p90, 0.1);
  EXPECT_GT(c.max_requests_per_user_per_hour, 0.5);
  EXPECT_LT(c.max_requests_per_user_per_hour, 2.0);
  EXPECT_GT(c.max_users, 60000);
  EXPECT_LT(c.max_users, 240000);
  EXPECT_LE(c.gpus, 30720);
  // A TP group never straddles an 8-GPU node: a replica occupies pp x 8 / floor(8 / tp) GPUs.
  const int tp = c.best.tp, pp = c.best.pp;
  EXPECT_DOUBLE_EQ(c.best.footprint_gpus, tp <= 8 && 8 % tp != 0 ? double(pp) * 8 / (8 / tp) : double(tp) * pp);
  EXPECT_LE(double(c.replicas) * c.best.footprint_gpus, 30720.0);
  // The answer's rate was checked on a 10,000-request run.
  EXPECT_EQ(c.best.at_max.requests, 10000);
  EXPECT_TRUE(c.best.checked);
  // 25 messages per 3 hours for 1M users would need max_users / 1M of today's fleet: 4-17x more.
  EXPECT_NEAR(c.max_users / 1e6 * 8.333, c.max_requests_per_user_per_hour, 1e-3 * c.max_requests_per_user_per_hour);
}

// Disaggregation (examples/serve-llama3-70b-disaggregated.yaml): colocated replicas mix prompt
// chunks into every decode iteration, so their TPOT carries prefill work; dedicated decode
// replicas do not. With the tight 12 ms TPOT target the colocated deployment misses it and the
// 2 + 2 split meets it (DistServe's observation; the margins, ~13.5 and ~10.3 ms, are explained
// in the file).
TEST(ServeExamples, DisaggregationMeetsTheTpotTarget) {
  ServeScenario s = load("serve-llama3-70b-disaggregated.yaml");
  const ServeResult split = simulate_serving(s);
  s.serving.disaggregation.prefill_replicas = 0;
  const ServeResult colocated = simulate_serving(s);
  EXPECT_EQ(split.completed, 5000);
  EXPECT_LT(split.tpot_s.p90, 0.012);
  EXPECT_GT(colocated.tpot_s.p90, 0.012);
  EXPECT_TRUE(split.slo_met);
  EXPECT_FALSE(colocated.slo_met);
  EXPECT_GT(split.ttft_s.p90, colocated.ttft_s.p90);  // the price: the KV hand-off and one prefill pool
}

// PaLM 540B on TPU v4 (examples/serve-palm-540b-tpu-v4.yaml) against Pope et al. 2022, a
// published result outside ../shared: 29 ms per generated token at low batch, int8 weights,
// 2,048-token context. By hand: 540.4B 1-byte weights / 48 chips = 11.3 GB (+ the 16-bit
// lm_head shard) per chip at 1.2 TB/s x 0.85 is ~12 ms, the floor; 4 GEMM launches per layer x
// 118 layers x t0 = 8 us add 3.8 ms; 236 latency-bound all-reduces of 36.9 kB over 48 chips add
// the rest. wanka gives 25.0 ms (-14 %); the range [20, 35] ms holds it near the published point.
TEST(ServeExamples, PalmDecodeLatencyOnTpuV4) {
  const ServeResult r = simulate_serving(load("serve-palm-540b-tpu-v4.yaml"));
  EXPECT_EQ(r.completed, 1);
  EXPECT_GT(r.tpot_s.mean, 0.020);
  EXPECT_LT(r.tpot_s.mean, 0.035);
}

// Speculative decoding with DeepSeek-V3's MTP module (examples/serve-deepseek-v3-mtp.yaml):
// with k = 1 at acceptance 0.875 a step emits 1.875 tokens on average; the step itself costs
// more (a verification pass of twice the tokens, the module's layer and head), so the output
// rate gains more than nothing and less than 1.875x; every step at least as dear as a plain
// decode step, so the gain is below the tokens per step (prefill is the same in both).
TEST(ServeExamples, MtpDraftSpeedUpBelowTokensPerStep) {
  auto s = load("serve-deepseek-v3-mtp.yaml");
  const ServeResult spec = simulate_serving(s);
  s.serving.speculative.tokens = 0;
  const ServeResult plain = simulate_serving(s);
  const double gain = spec.output_tokens_per_s / plain.output_tokens_per_s;
  EXPECT_GT(gain, 1.0);
  EXPECT_LT(gain, 1.875);
  EXPECT_GT(spec.decode_step_s, plain.decode_step_s);
  EXPECT_NEAR(spec.spec_tokens / spec.spec_steps, 1.875, 0.03);  // 64 x 999 tokens in ~34,000 steps
}

// Attention DP against TP8 + EP8 at the same total batch limits (examples/serve-qwen3-235b-
// attention-dp.yaml): each GPU's KV pool holds whole KV heads of its own sequences, 94 x 4 x 128
// x 2 x 1 B = 96,256 B per token, with nothing replicated, where TP8 replicates the 4 KV heads
// twice: per GPU 2 x 96,256 / 8 B per token, so the replica's pool holds about twice as many
// tokens with attention DP (less the attention weights each GPU now holds whole). Decode
// drops the per-layer all-reduces, so the step is shorter at the same batch.
TEST(ServeExamples, AttentionDpAgainstTensorParallel) {
  ServeScenario dp = load("serve-qwen3-235b-attention-dp.yaml");
  ServeScenario tp = dp;
  tp.serving.attention_dp = false;
  tp.base.parallel.ep = 8;
  tp.serving.max_batch *= 8;
  tp.serving.max_batch_tokens *= 8;
  const ServeResult a = simulate_serving(dp), b = simulate_serving(tp);
  EXPECT_DOUBLE_EQ(a.kv_bytes_per_token, b.kv_bytes_per_token);
  EXPECT_GT(a.kv_capacity_tokens, 1.6 * b.kv_capacity_tokens);
  EXPECT_LT(a.kv_capacity_tokens, 2.0 * b.kv_capacity_tokens);
  EXPECT_NEAR(a.batch_mean, b.batch_mean, 0.05 * b.batch_mean);
  EXPECT_LT(a.decode_step_s, b.decode_step_s);
  EXPECT_GT(a.output_tokens_per_s, b.output_tokens_per_s);
}

// Serving validation (docs/validation.md): the errors measured when the model was written, held
// as regression bounds (not targets the model was tuned to): the dense models of the current
// TensorRT-LLM max-throughput tables and vLLM on MI300X within 15 % MAPE (9.3 % measured), every
// source within 30 %, except trtllm-perf's Qwen3 MoE rows, run with attention DP and EP, whose
// over-prediction (docs/validation.md) is bounded apart; every row evaluated.
TEST(ServeExamples, ValidationRegressionBounds) {
  const ValidationReport r = run_serve_validation();
  ASSERT_GE(r.rows.size(), 180u);
  double dense = 0, moe = 0;
  int n_dense = 0, n_moe = 0;
  for (const auto& v : r.rows) {
    ASSERT_TRUE(v.failure.empty()) << v.id << ": " << v.failure;
    if (v.source != "trtllm-perf" && v.source != "vllm-mi300x") continue;
    if (v.model == "qwen3-235b-a22b") {
      moe += std::abs(v.error);
      ++n_moe;
    } else {
      dense += std::abs(v.error);
      ++n_dense;
    }
  }
  ASSERT_GE(n_dense, 90);
  ASSERT_GT(n_moe, 20);
  EXPECT_LT(dense / n_dense, 0.15);
  EXPECT_LT(moe / n_moe, 0.90);  // 80.4 % measured (over-predicted; docs/validation.md)
  for (const auto& s : r.sources) {
    if (s.source != "trtllm-perf") {
      EXPECT_LT(s.mape, 0.30) << s.source;
    }
  }
}

}  // namespace
}  // namespace wanka
