// Property tests of wanka::estimate over random small, valid scenarios (rapidcheck).
// Each scenario is written as YAML and parsed, so it passes the same validation as user input.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "wanka/catalog.hpp"
#include "wanka/estimate.hpp"
#include "wanka/model.hpp"
#include "wanka/report.hpp"
#include "wanka/scenario.hpp"

namespace wanka {
namespace {

struct Params {
  long layers = 2, heads = 1, kv_heads = 1, head_dim = 64, vocab = 1000;
  bool swiglu = true;
  int tp = 1, pp = 1, vpp = 1, micro_batch = 1, zero = 1;
  long dp = 1, grad_accum = 1, seq_len = 128;
  std::string recompute = "selective";
  double hbm_gib = 80, nic_gbps = 400;

  long hidden() const { return heads * head_dim; }
  long num_gpus() const { return long(tp) * pp * dp; }
  long global_batch() const { return dp * micro_batch * grad_accum; }
};

std::ostream& operator<<(std::ostream& os, const Params& p) {
  return os << "layers=" << p.layers << " hidden=" << p.hidden() << " heads=" << p.heads << " kv=" << p.kv_heads
            << " vocab=" << p.vocab << (p.swiglu ? " swiglu" : " gelu") << " tp=" << p.tp << " pp=" << p.pp
            << " vpp=" << p.vpp << " dp=" << p.dp << " mb=" << p.micro_batch << " ga=" << p.grad_accum
            << " seq=" << p.seq_len << " recompute=" << p.recompute << " zero=" << p.zero << " hbm=" << p.hbm_gib
            << " nic=" << p.nic_gbps;
}

std::vector<int> divisors_up_to(long n, int limit) {
  std::vector<int> out;
  for (int d = 1; d <= limit; ++d)
    if (n % d == 0) out.push_back(d);
  return out;
}

// Draws a valid scenario: GPT-like model with layers in [2, 48], hidden = heads x 64k,
// TP in {1, 2, 4, 8} dividing the heads, PP dividing the layers.
Params draw_params() {
  Params p;
  p.layers = *rc::gen::inRange(2L, 49L);
  p.heads = *rc::gen::element(1L, 2L, 4L, 8L, 16L, 32L);
  p.head_dim = 64 * *rc::gen::inRange(1L, 3L);
  std::vector<long> kv;
  for (long k = p.heads; k >= 1; k /= 2) kv.push_back(k);
  p.kv_heads = *rc::gen::elementOf(kv);
  p.vocab = *rc::gen::inRange(1000L, 50001L);
  p.swiglu = *rc::gen::arbitrary<bool>();
  std::vector<int> tps;
  for (int t : {1, 2, 4, 8})
    if (p.heads % t == 0) tps.push_back(t);
  p.tp = *rc::gen::elementOf(tps);
  p.pp = *rc::gen::elementOf(divisors_up_to(p.layers, 8));
  p.dp = *rc::gen::inRange(1L, 5L);
  p.micro_batch = *rc::gen::inRange(1, 3);
  p.grad_accum = *rc::gen::inRange(1L, 9L);
  if (p.pp > 1 && p.layers % (2L * p.pp) == 0 && p.grad_accum % p.pp == 0) p.vpp = *rc::gen::element(1, 2);
  p.seq_len = *rc::gen::element(128L, 256L, 512L, 1024L);
  p.recompute = *rc::gen::element(std::string("none"), std::string("selective"), std::string("full"));
  p.zero = *rc::gen::inRange(0, 4);
  p.hbm_gib = double(*rc::gen::inRange(1, 200));
  p.nic_gbps = double(*rc::gen::inRange(25, 801));
  return p;
}

std::string to_yaml(const Params& p) {
  std::ostringstream y;
  y << "model: {layers: " << p.layers << ", hidden: " << p.hidden() << ", heads: " << p.heads
    << ", kv_heads: " << p.kv_heads << ", ffn_hidden: " << 4 * p.hidden() << ", vocab: " << p.vocab
    << ", activation: " << (p.swiglu ? "swiglu" : "gelu") << "}\n"
    << "cluster: {gpu: {base: h100-sxm, hbm_gib: " << p.hbm_gib << "}, num_gpus: " << p.num_gpus()
    << ", gpus_per_node: 1, nic_gbps: " << p.nic_gbps << "}\n"
    << "parallel: {tp: " << p.tp << ", pp: " << p.pp << ", vpp: " << p.vpp << ", dp: " << p.dp
    << ", micro_batch: " << p.micro_batch << ", recompute: " << p.recompute << ", zero: " << p.zero << "}\n"
    << "training: {seq_len: " << p.seq_len << ", global_batch: " << p.global_batch() << ", tokens: 1.0e9}\n";
  return y.str();
}

Scenario scenario(const Params& p) { return parse_scenario(to_yaml(p), "<property>"); }

Params draw() {
  const Params p = draw_params();
  RC_LOG() << p << "\n";
  return p;
}

}  // namespace

RC_GTEST_PROP(EstimateProperties, MoreHbmNeverTurnsFitsIntoNotFits, ()) {
  Params p = draw();
  const Estimate small = estimate(scenario(p));
  p.hbm_gib += double(*rc::gen::inRange(1, 200));
  const Estimate big = estimate(scenario(p));
  RC_ASSERT(!small.memory.fits || big.memory.fits);
  // Capacity is the only thing HBM size changes.
  RC_ASSERT(big.memory.peak_bytes_per_gpu.value == small.memory.peak_bytes_per_gpu.value);
}

RC_GTEST_PROP(EstimateProperties, StepTimeIsPositiveFiniteAndEqualsItsBreakdownUpToSimRounding, ()) {
  const Params p = draw();
  const Estimate e = estimate(scenario(p));
  const double t = e.step_time.value;
  RC_ASSERT(t > 0.0);
  RC_ASSERT(std::isfinite(t));
  const Breakdown& b = e.breakdown;
  for (double part : {b.compute.value, b.tp_comm.value, b.cp_comm.value, b.ep_comm.value, b.pp_comm.value,
                      b.pp_bubble.value, b.dp_comm.value, b.optimizer.value}) {
    RC_ASSERT(part >= 0.0);
  }
  // The pipeline simulation rounds each of the critical rank's 2 m v tasks to whole nanoseconds
  // (at most 0.5 ns each); the breakdown adds the unrounded costs.
  const double rounding = 1e-9 * double(e.micro_batches) * double(p.vpp);
  RC_LOG() << "step " << t << " breakdown total " << b.total().value << "\n";
  RC_ASSERT(std::fabs(b.total().value - t) <= rounding + 1e-12 * t);
}

TEST(EstimateProperties, BreakdownFieldsSumToStepTimeWithinOnePartPerBillion) {
  const bool ok = rc::check("breakdown sums to step time within 1e-9 relative", [] {
    const Params p = draw();
    const Estimate e = estimate(scenario(p));
    const double t = e.step_time.value;
    RC_ASSERT(std::fabs(e.breakdown.total().value - t) <= 1e-9 * t);
  });
  EXPECT_TRUE(ok);
}

RC_GTEST_PROP(EstimateProperties, FullRecomputeNeverStoresMoreActivationsThanNone, ()) {
  Params p = draw();
  p.recompute = "none";
  const Estimate none = estimate(scenario(p));
  p.recompute = "full";
  const Estimate full = estimate(scenario(p));
  RC_ASSERT(none.memory.per_stage.size() == full.memory.per_stage.size());
  for (std::size_t i = 0; i < none.memory.per_stage.size(); ++i) {
    RC_ASSERT(full.memory.per_stage[i].activations.value <= none.memory.per_stage[i].activations.value);
  }
}

// Any set of recompute modules that applies to the model stores no more than no recompute and
// no less than full recompute (each module only drops what it rebuilds; docs/model.md §3.6), on
// dense, GQA, MoE and MLA+MoE layers, in bf16 and FP8, with and without SP.
RC_GTEST_PROP(LayerProperties, RecomputeModulesStoreBetweenFullAndNone, ()) {
  const std::string name = *rc::gen::element(std::string("gpt3-175b"), std::string("llama3-8b"),
                                              std::string("mixtral-8x7b"), std::string("deepseek-v3"));
  const ModelSpec& m = Catalog::builtin().model(name);
  ShardSpec sh;
  sh.micro_batch = *rc::gen::inRange(1L, 4L);
  sh.seq_len = *rc::gen::element(1024L, 4096L);
  sh.tp = *rc::gen::element(1, 2, 4, 8);
  sh.sequence_parallel = sh.tp > 1 && *rc::gen::arbitrary<bool>();
  sh.precision = *rc::gen::element(Precision::kBf16, Precision::kFp8);
  unsigned modules = *rc::gen::inRange(1u, 128u);
  if (!m.mla) modules &= ~unsigned(kRecomputeMlaUpProj);
  if (!m.is_moe()) modules &= ~unsigned(kRecomputeMoeAct | kRecomputeMoe | kRecomputeSharedExperts);
  if (m.moe.shared == 0) modules &= ~unsigned(kRecomputeSharedExperts);
  if (modules == 0) modules = kRecomputeCoreAttn;
  sh.recompute_modules = modules;
  const bool moe_layer = m.is_moe() && *rc::gen::arbitrary<bool>();
  RC_LOG() << name << " tp " << sh.tp << " sp " << sh.sequence_parallel << " modules " << modules << " moe layer "
           << moe_layer << "\n";
  sh.recompute = Recompute::kNone;
  const double none = layer_work(m, sh, moe_layer).activations_saved.value;
  sh.recompute = Recompute::kFull;
  const double full = layer_work(m, sh, moe_layer).activations_saved.value;
  sh.recompute = Recompute::kSelective;
  const LayerWork sel = layer_work(m, sh, moe_layer);
  RC_ASSERT(sel.activations_saved.value <= none);
  RC_ASSERT(sel.activations_saved.value >= full);
  RC_ASSERT(sel.recompute_elementwise.value >= 0.0);
  // What is dropped is rebuilt: a selective layer that stores less than none recomputes work.
  if (sel.activations_saved.value < none) {
    RC_ASSERT(!sel.recompute_gemms.empty() || sel.recompute_elementwise.value > 0.0);
  }
}

RC_GTEST_PROP(EstimateProperties, DoublingNicBandwidthNeverSlowsTheStep, ()) {
  Params p = draw();
  const double slow = estimate(scenario(p)).step_time.value;
  p.nic_gbps *= 2.0;
  const double fast = estimate(scenario(p)).step_time.value;
  RC_LOG() << "slow " << slow << " fast " << fast << "\n";
  RC_ASSERT(fast <= slow * (1.0 + 1e-12));
}

RC_GTEST_PROP(EstimateProperties, MfuIsAtMostHfuIsAtMostOne, ()) {
  const Params p = draw();
  const Estimate e = estimate(scenario(p));
  RC_LOG() << "mfu " << e.mfu << " hfu " << e.hfu << "\n";
  RC_ASSERT(e.mfu > 0.0);
  RC_ASSERT(e.mfu <= e.hfu);
  RC_ASSERT(e.hfu <= 1.0);
}

RC_GTEST_PROP(EstimateProperties, JsonIsByteIdenticalAcrossEvaluations, ()) {
  const Params p = draw();
  const Scenario s1 = scenario(p);
  const Scenario s2 = scenario(p);
  const std::string a = estimate_to_json(s1, estimate(s1)).dump();
  const std::string b = estimate_to_json(s2, estimate(s2)).dump();
  RC_ASSERT(a == b);
}

}  // namespace wanka
