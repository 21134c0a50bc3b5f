// The reliability examples (examples/reliability-*.yaml) against the published figures they
// reproduce or explain (docs/validation.md, "Reliability"). Ranges are explained per test;
// 200 runs per Monte Carlo keep the test fast (standard error of a mean ETTR ~0.02 points).
#include <gtest/gtest.h>

#include <cmath>

#include "wanka/estimate.hpp"
#include "wanka/reliability.hpp"
#include "wanka/scenario.hpp"

namespace wanka {
namespace {

const std::string kSrc = WANKA_SOURCE_DIR;

ReliabilityResult run_example(const std::string& name, std::vector<Override> ov = {}) {
  ov.insert(ov.begin(), {"reliability.runs", "200"});
  const Scenario s = load_scenario_file(kSrc + "/examples/" + name, ov);
  return simulate_reliability(s, estimate(s));
}

// Llama 3, 54 days on 16,384 H100: the default rates are that paper's counts, so the mean
// number of interruptions is 466 (419 + 47); 200 runs give a standard error of
// sqrt(466 / 200) = 1.5, hence [459, 473]. ETTR: Meta reports "higher than 90 %"; with
// wanka's default 17-minute recovery (300 s detection + 600 s restart + 120 s swap) plus
// about 2 minutes of lost work per interruption, 466 x 19 min = 6.1 days of 54 are lost: ~89 %.
TEST(ReliabilityExamples, Llama3_405B_54Days) {
  const auto r = run_example("reliability-llama3-405b-54d.yaml");
  EXPECT_NEAR(r.interruptions.mean, 466, 7);
  EXPECT_NEAR(r.rates.total_per_s * 54 * 86400, 466, 1e-6);
  EXPECT_GT(r.ettr.p50, 0.86);
  EXPECT_LT(r.ettr.p50, 0.92);
  // Checkpoint: 14 bytes x 405.9B parameters = 5.68 TB at 2 TB/s = 2.84 s.
  EXPECT_NEAR(r.checkpoint.bytes_total / 1e12, 5.68, 0.01);
  EXPECT_NEAR(r.checkpoint.block_s, 2.84, 0.01);
}

// OPT-175B on 992 A100 (124 nodes): with Llama 3's per-GPU and per-node rates the job sees
// 371 x 992 / (16,384 x 54) + (46 + 47) x 124 / (2,048 x 54) + 2 / 54 = 0.557 interruptions a
// day (MTBI 43 h), not the ~7.5 h OPT's logbook implies: the OPT fleet failed about 6x more
// often per GPU (docs/validation.md). The test pins the scaling, not the published figure.
TEST(ReliabilityExamples, Opt175B_RatesScaledFromLlama3) {
  const auto r = run_example("reliability-opt175b-992-a100.yaml");
  const double per_day = (371.0 * 992 / (16384 * 54)) + (93.0 * 124 / (2048 * 54)) + 2.0 / 54;
  EXPECT_NEAR(r.rates.total_per_s * 86400, per_day, 1e-9);
  EXPECT_NEAR(r.rates.mtbi_s() / 3600, 43.1, 0.1);
}

// OPT-175B's throughput: the paper (Zhang et al. 2022, §2.4) reports "up to 147 TFLOP/s per
// GPU" on 992 A100 with TP8 + FSDP, without its FLOP convention. This test takes Megatron's
// convention (the recompute forward counted): with the FSDP gathers exposed (the default) the
// example gives 146 hardware TFLOP/s. Under the model-FLOP convention it gives 110 (-25 %) and
// the hidden-gather model 162 (+10 %), so the run does not decide the overlap question
// (docs/validation.md); the test pins the exposed model's figure. Range: 130-165.
TEST(ReliabilityExamples, Opt175B_HardwareTflopsNearThePublished147UnderMegatronsConvention) {
  const Scenario s = load_scenario_file(kSrc + "/examples/reliability-opt175b-992-a100.yaml");
  const Estimate e = estimate(s);
  const double hw_tflops = e.hfu * 312.0;  // A100 dense fp16 peak
  EXPECT_GT(hw_tflops, 130.0);
  EXPECT_LT(hw_tflops, 165.0);
  EXPECT_LT(e.model_tflops_per_gpu, hw_tflops);
}

// GEMINI: recovery from peer CPU memory versus remote storage at 2.5 GB/s. Per failure, the
// storage tier loses half its (long, optimal) interval of work plus a 564 s restore; the peer
// tier half of a ~20-minute interval plus 2 s: 11 GB per GPU pulled from a peer at 50 Gb/s
// (1.76 s) and copied to the GPU over the A100's 26 GB/s host link (0.42 s); a failure that
// swaps no node copies only its own replica, 0.42 s. GEMINI reports more than 13x faster
// recovery; the lost work alone differs by more than that.
TEST(ReliabilityExamples, GeminiPeerRecoveryVersusStorage) {
  const auto peer = run_example("reliability-gemini-100b-128-a100.yaml", {{"reliability.runs", "2000"}});
  const auto storage = run_example("reliability-gemini-100b-128-a100.yaml",
                                   {{"reliability.runs", "2000"}, {"reliability.checkpoint.tier", "storage"}});
  EXPECT_NEAR(storage.checkpoint.restore_s, 1.4096e12 / 2.5e9, 2);
  EXPECT_LT(peer.checkpoint.restore_s, 3);
  EXPECT_NEAR(peer.checkpoint.restore_s - peer.checkpoint.local_restore_s, peer.checkpoint.bytes_per_gpu / 6.25e9, 1e-9);
  EXPECT_NEAR(peer.checkpoint.local_restore_s, 0.42, 0.01);
  EXPECT_DOUBLE_EQ(storage.checkpoint.local_restore_s, storage.checkpoint.restore_s);
  const double per_fail_peer = (peer.lost_work_gpu_h) / peer.interruptions.mean;
  const double per_fail_storage = (storage.lost_work_gpu_h) / storage.interruptions.mean;
  EXPECT_GT(per_fail_storage / per_fail_peer, 13);
  EXPECT_GT(peer.ettr.mean, storage.ettr.mean);
}

// ByteRobust-like setup (peer checkpoints, 1-minute detection, 5-minute restart) on 9,600
// H100 for 90 days: 5.07 interruptions a day x (60 + 300 + 120 s + ~30 s lost) = 43 min a day,
// i.e. about 3 % lost: ETTR ~97 %, the figure ByteRobust reports.
TEST(ReliabilityExamples, ByteRobustLikeSetupReaches97Percent) {
  const auto r = run_example("reliability-byterobust-9600.yaml");
  EXPECT_GT(r.ettr.p50, 0.96);
  EXPECT_LT(r.ettr.p50, 0.98);
}

// "10 hours allocated, 8 used": 2023-style operations at 10,240 A100 (30-minute watchdog
// detection, 30-minute restart, 100 GB/s shared storage) keep 7-8 hours of 10.
TEST(ReliabilityExamples, TenHoursAllocatedEightUsed) {
  const auto r = run_example("reliability-10h-allocated-8h-used.yaml");
  EXPECT_GT(r.ettr.p50, 0.70);
  EXPECT_LT(r.ettr.p50, 0.85);
}

}  // namespace
}  // namespace wanka
