// Reliability and goodput (include/wanka/reliability.hpp, docs/model.md §16): the Llama 3
// failure table, Young's and Daly's intervals, checkpoint costs per tier, capacity and input
// errors, the Monte Carlo's accounting identity, window and no-failure runs, determinism,
// agreement with the first-order formula, spares, and the `reliability:` YAML block.
//
// Every expected number is derived by hand in a comment. Hand figures for the base scenario
// (Llama-3-8B on 64 H100-SXM, TP8 PP1 DP8, ZeRO-1; `wanka estimate` on it):
//   params_total P = 8,030,261,248
//   checkpoint bytes_total = 14 P = 112,423,657,472 B (112.4 GB)
//   bytes_per_gpu (weights + optimizer of the one stage) = 3.514e9 B:
//     bf16 weights 2P/8 = 2.008e9 + fp32 master and Adam 12P/(8 x 8) = 1.506e9
//   default storage bandwidth 2000/16384 x 64 = 7.8125 GB/s -> storage write 112.42/7.8125 = 14.39 s
//   host link (h100-sxm host_gbytes_per_s) 55 GB/s -> device-to-host copy 3.514/55 = 0.0639 s
//   NIC 400 Gb/s = 50 GB/s per GPU -> peer replication 3.514/50 = 0.0703 s
//   tokens/s = 451,366 -> 1e11 tokens take 221,549 s (2.56 days) failure-free
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "wanka/error.hpp"
#include "wanka/estimate.hpp"
#include "wanka/reliability.hpp"
#include "wanka/report.hpp"
#include "wanka/scenario.hpp"

namespace wanka {
namespace {

constexpr double kDaySec = 86400.0;

// Llama-3-8B on `gpus` H100-SXM (8 per node), TP8 PP1 ZeRO-1, with an optional reliability block
// (YAML flow or block text, written after "reliability: ").
Scenario scenario(const std::string& reliability, long gpus = 64,
                  const std::string& training = "{seq_len: 4096, global_batch: 256, tokens: 1e11}",
                  const std::string& cluster_extra = "") {
  std::string y = "model: llama3-8b\n"
                  "cluster: {gpu: h100-sxm, num_gpus: " + std::to_string(gpus) + ", gpus_per_node: 8" + cluster_extra + "}\n"
                  "parallel: {tp: 8, pp: 1, micro_batch: 1, zero: 1}\n"
                  "training: " + training + "\n";
  if (!reliability.empty()) y += "reliability: " + reliability + "\n";
  return parse_scenario(y, "<test>");
}

ReliabilityOptions no_sweep(int threads = 2) {
  ReliabilityOptions o;
  o.threads = threads;
  o.sweep = false;
  return o;
}

ReliabilityResult simulate(const Scenario& s, const ReliabilityOptions& o = no_sweep()) {
  return simulate_reliability(s, estimate(s), o);
}

// Runs `f` and returns the InputError it throws; fails the test when nothing (or something
// else) is thrown.
template <class F>
InputError input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got " << e.what();
    return InputError("<wrong exception>", e.what());
  }
  ADD_FAILURE() << "expected InputError, nothing thrown";
  return InputError("<no exception>", "");
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The mean allocation in GPU-hours must be the sum of its parts (docs/model.md §16.5).
void expect_accounting(const Scenario& s, const ReliabilityResult& r, const std::string& what) {
  const double alloc = r.wall_clock_days.mean * 24 * static_cast<double>(s.cluster.num_gpus);
  const double parts = r.useful_gpu_h + r.lost_work_gpu_h + r.restart_gpu_h + r.checkpoint_gpu_h + r.waiting_gpu_h;
  ASSERT_GT(alloc, 0) << what;
  EXPECT_NEAR(parts / alloc, 1.0, 1e-6) << what << ": useful " << r.useful_gpu_h << " lost " << r.lost_work_gpu_h
                                        << " restart " << r.restart_gpu_h << " ckpt " << r.checkpoint_gpu_h << " wait "
                                        << r.waiting_gpu_h << " alloc " << alloc;
  EXPECT_GE(r.useful_gpu_h, 0) << what;
  EXPECT_GE(r.lost_work_gpu_h, 0) << what;
  EXPECT_GE(r.restart_gpu_h, 0) << what;
  EXPECT_GE(r.checkpoint_gpu_h, 0) << what;
  EXPECT_GE(r.waiting_gpu_h, 0) << what;
}

// ---------------------------------------------------------------------------------------------
// Failure rates

// Llama 3 Table 5: unexpected 148+72+54+35+32+19+17+7+7+6+6+3+3+2+2+2(dependency)+2+2+0 = 419,
// planned 47, over 54 days on 16,384 GPUs = 2,048 nodes of 8. Scopes: GPU 148+72+54+35+19+17+7+7+
// 6+6+0 = 371, node 32+3+3+2+2+2+2 = 46 plus planned maintenance 47 (per node since commit
// 1099043, "so that a small job is not interrupted daily"), job: dependency 2.
TEST(ReliabilityRates, DefaultCausesAreLlama3Table5) {
  const auto causes = default_failure_causes();
  ASSERT_EQ(causes.size(), 20u);
  double unexpected = 0, planned = 0;
  for (const auto& c : causes) {
    const double units = c.scope == FailureScope::kGpu ? 16384.0 : c.scope == FailureScope::kNode ? 2048.0 : 1.0;
    (c.planned ? planned : unexpected) += c.rate_per_day * units * 54;
  }
  EXPECT_NEAR(unexpected, 419, 419 * 1e-9);
  EXPECT_NEAR(planned, 47, 47 * 1e-9);

  // The same through job_failure_rates on the Llama 3 cluster: 466 interruptions in 54 days.
  const Scenario big = scenario("", 16384, "{seq_len: 4096, global_batch: 2048, tokens: 1e11}");
  const JobFailureRates r = job_failure_rates(big);
  EXPECT_EQ(r.nodes, 2048);
  EXPECT_EQ(r.spare_nodes, 21);  // ceil(1 % of 2,048 = 20.48)
  EXPECT_EQ(r.lemons, 0);
  ASSERT_EQ(r.per_cause_per_s.size(), causes.size());
  EXPECT_NEAR(r.total_per_s * 54 * kDaySec, 466, 466 * 1e-9);
  EXPECT_NEAR(r.mtbi_s() / 3600, 54.0 * 24 / 466, 1e-9);  // 2.78 h
  // Young's and Daly's M leaves the 47 planned out: 419 in 54 days, one every 3.09 h.
  EXPECT_NEAR(r.unplanned_per_s * 54 * kDaySec, 419, 419 * 1e-9);
  EXPECT_NEAR(r.unplanned_mtbi_s() / 3600, 54.0 * 24 / 419, 1e-9);
  // Node-attributable hardware per node: GPU-scope hardware 148+72+35+19+17+7+6+6+0 = 310 and
  // node-scope 32+3+3+2+2+2+2 = 46, i.e. 356 per 2,048 nodes per 54 days.
  EXPECT_NEAR(r.node_hardware_per_s * 2048 * 54 * kDaySec, 356, 356 * 1e-9);

  // At 8,192 GPUs (1,024 nodes) the GPU- and node-scoped 371 + 46 + 47 = 464 halve; the
  // job-scoped dependency (2) stays: 464/2 + 2 = 234 per 54 days.
  const Scenario half = scenario("", 8192, "{seq_len: 4096, global_batch: 2048, tokens: 1e11}");
  const JobFailureRates h = job_failure_rates(half);
  EXPECT_EQ(h.nodes, 1024);
  EXPECT_NEAR(h.total_per_s * 54 * kDaySec, 234, 234 * 1e-9);
  // Cause by cause: GPU- and node-scoped rates halve, the job-scoped one does not.
  for (std::size_t i = 0; i < causes.size(); ++i) {
    const double ratio = causes[i].scope == FailureScope::kJob ? 1.0 : 0.5;
    EXPECT_NEAR(h.per_cause_per_s[i], ratio * r.per_cause_per_s[i], 1e-15) << causes[i].name;
  }
  // ... and the per-node hardware rate does not depend on the job size.
  EXPECT_NEAR(h.node_hardware_per_s, r.node_hardware_per_s, r.node_hardware_per_s * 1e-12);
}

// rate_scale multiplies everything; lemons add (factor - 1) x the per-node hardware rate each.
TEST(ReliabilityRates, RateScaleAndLemons) {
  const JobFailureRates base = job_failure_rates(scenario(""));
  // 64 GPUs (8 nodes): 464 x 64/16384 + 2 = 1.8125 + 2 = 3.8125 per 54 days = 0.0706 a day.
  EXPECT_NEAR(base.total_per_s * 54 * kDaySec, 3.8125, 1e-9);
  EXPECT_EQ(base.nodes, 8);
  EXPECT_EQ(base.spare_nodes, 1);  // 1 % of 8 nodes, at least one

  const JobFailureRates x3 = job_failure_rates(scenario("{rate_scale: 3}"));
  EXPECT_NEAR(x3.total_per_s, 3 * base.total_per_s, base.total_per_s * 1e-12);

  // 25 % of 8 nodes = 2 lemons at factor 10: + 2 x 9 x 356/(2048 x 54) per day.
  const JobFailureRates lem = job_failure_rates(scenario("{lemon: {fraction: 0.25, factor: 10}}"));
  EXPECT_EQ(lem.lemons, 2);
  const double extra_per_day = 2 * 9 * 356.0 / (2048 * 54);  // 0.0579 per day
  EXPECT_NEAR((lem.total_per_s - base.total_per_s) * kDaySec, extra_per_day, 1e-12);
  // A lemon's failures are unannounced: they add to the unplanned rate as much.
  EXPECT_NEAR((lem.unplanned_per_s - base.unplanned_per_s) * kDaySec, extra_per_day, 1e-12);

  const JobFailureRates zero = job_failure_rates(scenario("{rate_scale: 0}"));
  EXPECT_EQ(zero.total_per_s, 0);
  EXPECT_TRUE(std::isinf(zero.mtbi_s()));
  EXPECT_TRUE(std::isinf(zero.unplanned_mtbi_s()));
}

// ---------------------------------------------------------------------------------------------
// Intervals

// sweep-ties-go-to-youngs-interval: equal mean ETTRs are resolved toward Young's interval (here
// 100 s; points at 100 x 2^(k/4)), then toward the larger; no point with ETTR > 0: none.
TEST(ReliabilityIntervals, SweepTiesGoToTheIntervalClosestToYoungs) {
  const double y = 100, q = std::pow(2.0, 0.25);
  // k = -2, -1, 0, +1 at 0.90, 0.95, 0.95, 0.95: the best is 0.95, closest to Young is k = 0.
  EXPECT_EQ(best_sweep_point({{y / q / q, 0.90, 0}, {y / q, 0.95, 0}, {y, 0.95, 0}, {y * q, 0.95, 0}}, y), 2u);
  // k = -1 and +1 tie at 0.95 (k = 0 lower): the larger, k = +1.
  EXPECT_EQ(best_sweep_point({{y / q, 0.95, 0}, {y, 0.94, 0}, {y * q, 0.95, 0}}, y), 2u);
  // A strictly better point wins wherever it lies.
  EXPECT_EQ(best_sweep_point({{y / q / q, 0.96, 0}, {y, 0.95, 0}}, y), 0u);
  // Nothing kept: no point.
  EXPECT_EQ(best_sweep_point({{y / q, 0, 0}, {y, 0, 0}}, y), 2u);
}

TEST(ReliabilityIntervals, YoungAndDalyByHand) {
  // delta 60 s, M 3600 s: Young sqrt(2 x 60 x 3600) = sqrt(432000) = 657.2671 s.
  EXPECT_NEAR(young_interval_s(60, 3600), 657.2670690, 1e-6);
  // Daly: x = delta/(2M) = 1/120; 657.2671 x (1 + sqrt(1/120)/3 + 60/(18 x 3600)) - 60
  //     = 657.2671 x (1 + 0.0304290 + 0.0009259) - 60 = 677.8756 - 60 = 617.8756 s.
  EXPECT_NEAR(daly_interval_s(60, 3600), 617.8756496, 1e-6);
  // delta 300 s, M 10 h: Young sqrt(2 x 300 x 36000) = 4647.580 s; Daly x = 1/240:
  // 4647.580 x (1 + 0.0215166 + 0.0004630) - 300 = 4449.732 s.
  EXPECT_NEAR(young_interval_s(300, 36000), 4647.580015, 1e-5);
  EXPECT_NEAR(daly_interval_s(300, 36000), 4449.731673, 1e-5);
  // delta >= 2M: Daly returns M.
  EXPECT_DOUBLE_EQ(daly_interval_s(7200, 3600), 3600);
  EXPECT_DOUBLE_EQ(daly_interval_s(10000, 3600), 3600);
  // Just below 2M the formula applies: x -> 1, sqrt(2 d M) -> 2M: 2M (1 + 1/3 + 1/9) - 2M = 8M/9.
  EXPECT_NEAR(daly_interval_s(7199.999999, 3600), 3200, 1e-3);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint cost

// A checkpoint holds every trained parameter: DeepSeek-V3's multi-token-prediction module adds
// 14 x 11,610,067,968 bytes (its parameters, outside params_total).
TEST(ReliabilityCheckpoint, MultiTokenPredictionParametersAreCheckpointed) {
  const auto load = [](const char* mtp) {
    return load_scenario_file(std::string(WANKA_SOURCE_DIR) + "/examples/deepseek-v3-2048-h800.yaml", {{"model.mtp_layers", mtp}});
  };
  const Scenario with = load("1"), without = load("0");
  const double a = checkpoint_cost(with, estimate(with)).bytes_total, b = checkpoint_cost(without, estimate(without)).bytes_total;
  EXPECT_DOUBLE_EQ(a - b, 14.0 * 11610067968.0);
  EXPECT_DOUBLE_EQ(b, 14.0 * estimate(without).params_total);
}

TEST(ReliabilityCheckpoint, StorageTierFromParametersAndBandwidth) {
  const Scenario s = scenario("");
  const Estimate e = estimate(s);
  const CheckpointCost c = checkpoint_cost(s, e);
  EXPECT_EQ(c.tier, CheckpointTier::kStorage);
  EXPECT_DOUBLE_EQ(c.bytes_total, 14 * e.params_total);
  EXPECT_NEAR(c.bytes_total, 112423657472.0, 1e3);  // 14 x 8,030,261,248
  // Largest shard: weights + optimizer of the one stage, 2P/8 + 12P/64 = 3.514e9 B.
  double shard = 0;
  for (const auto& st : e.memory.per_stage) shard = std::max(shard, st.weights.value + st.optimizer.value);
  EXPECT_DOUBLE_EQ(c.bytes_per_gpu, shard);
  EXPECT_NEAR(c.bytes_per_gpu, 2 * 8.03026e9 / 8 + 12 * 8.03026e9 / 64, 0.01e9);
  // Default storage bandwidth: 2000/16384 GB/s per GPU x 64 = 7.8125 GB/s.
  EXPECT_DOUBLE_EQ(c.storage_gbytes_per_s, 7.8125);
  // Synchronous write: 112.42 GB / 7.8125 GB/s = 14.390 s (> the 0.064 s host copy).
  EXPECT_NEAR(c.block_s, c.bytes_total / 7.8125e9, 1e-9);
  EXPECT_NEAR(c.block_s, 14.3902, 1e-3);
  EXPECT_DOUBLE_EQ(c.persist_s, c.block_s);
  EXPECT_DOUBLE_EQ(c.restore_s, c.block_s);
  EXPECT_DOUBLE_EQ(c.backup_persist_s, c.block_s);
  EXPECT_TRUE(c.survives_node_loss);

  // At 1,024 GPUs the default bandwidth is 2000/16384 x 1024 = 125 GB/s: 112.42/125 = 0.8994 s.
  const Scenario s1k = scenario("", 1024);
  const CheckpointCost c1k = checkpoint_cost(s1k, estimate(s1k));
  EXPECT_DOUBLE_EQ(c1k.storage_gbytes_per_s, 125);
  EXPECT_NEAR(c1k.block_s, 112423657472.0 / 125e9, 1e-6);

  // Explicit storage bandwidth: 100 GB/s -> 112.42/100 = 1.1242 s.
  const Scenario fast = scenario("{checkpoint: {storage_gbytes_per_s: 100}}");
  const CheckpointCost cf = checkpoint_cost(fast, e);
  EXPECT_DOUBLE_EQ(cf.storage_gbytes_per_s, 100);
  EXPECT_NEAR(cf.block_s, 1.12423657472, 1e-9);
}

TEST(ReliabilityCheckpoint, FastTiers) {
  const Scenario base = scenario("");
  const Estimate e = estimate(base);
  const double shard = checkpoint_cost(base, e).bytes_per_gpu;  // 3.514e9 B
  const double storage_s = 112423657472.0 / 7.8125e9;           // 14.39 s

  // cpu: the GPU blocks for the device-to-host copy only: 3.514e9 / 55e9 = 0.0639 s.
  const Scenario cpu = scenario("{checkpoint: {tier: cpu}}");
  const CheckpointCost cc = checkpoint_cost(cpu, e);
  EXPECT_NEAR(cc.block_s, shard / 55e9, 1e-12);
  EXPECT_NEAR(cc.block_s, 0.0639, 1e-3);
  EXPECT_DOUBLE_EQ(cc.persist_s, cc.block_s);
  EXPECT_DOUBLE_EQ(cc.restore_s, cc.block_s);
  EXPECT_FALSE(cc.survives_node_loss);
  // The backup drains to storage after the snapshot: 0.0639 + 14.39 s.
  EXPECT_NEAR(cc.backup_persist_s, cc.persist_s + storage_s, 1e-9);
  // A failure that keeps the node copies the node's own snapshot back: the same 0.0639 s.
  EXPECT_DOUBLE_EQ(cc.local_restore_s, cc.restore_s);
  // An explicit host link of 20 GB/s: 3.514/20 = 0.1757 s.
  const CheckpointCost cc20 = checkpoint_cost(scenario("{checkpoint: {tier: cpu, host_gbytes_per_s: 20}}"), e);
  EXPECT_NEAR(cc20.block_s, shard / 20e9, 1e-12);

  // nvme: max(host copy, 8 shards / 28 GB/s per node) = max(0.0639, 28.11/28 = 1.004) s.
  const CheckpointCost cn = checkpoint_cost(scenario("{checkpoint: {tier: nvme}}"), e);
  EXPECT_NEAR(cn.block_s, 8 * shard / 28e9, 1e-12);
  EXPECT_FALSE(cn.survives_node_loss);
  EXPECT_DOUBLE_EQ(cn.local_restore_s, cn.restore_s);  // the node's own drives
  EXPECT_DOUBLE_EQ(checkpoint_cost(base, e).local_restore_s, storage_s);  // storage: read back whatever failed

  // peer (2 replicas): replication 3.514/50 = 0.0703 s, a quarter of it stalls training.
  const CheckpointCost cp = checkpoint_cost(scenario("{checkpoint: {tier: peer}}"), e);
  const double d2h = shard / 55e9, rep = shard / 50e9;
  EXPECT_NEAR(cp.block_s, d2h + 0.25 * rep, 1e-12);  // 0.0815 s
  EXPECT_NEAR(cp.persist_s, d2h + rep, 1e-12);        // 0.1342 s
  EXPECT_GT(cp.persist_s, cp.block_s);
  EXPECT_NEAR(cp.restore_s, rep + d2h, 1e-12);  // pull the shard from a peer, copy to the GPU
  EXPECT_NEAR(cp.local_restore_s, d2h, 1e-12);   // no node swapped: the node's own copy, 0.0639 s
  EXPECT_TRUE(cp.survives_node_loss);
  // Loss window = persist + detection 300 + swap 120 + restart 600 + restore.
  EXPECT_NEAR(cp.peer_loss_window_s, cp.persist_s + 1020 + cp.restore_s, 1e-9);
}

// A peer shard is lost only when every remote replica's node fails within the window W (GEMINI):
// P = (1 - exp(-h W))^(replicas - 1). With h = 1e-4 per s and W = 1e4 s, hW = 1:
// 1 - e^-1 = 0.6321206; 2 replicas 0.6321206, 3 replicas 0.6321206^2 = 0.3995764, 4 replicas
// 0.6321206^3 = 0.2525805 (the old "any holder fails", 1 - exp(-(m-1) h W), gave 0.8647 for 3).
TEST(ReliabilityCheckpoint, PeerShardLostOnlyWhenEveryReplicaIs) {
  JobFailureRates rates;
  rates.node_hardware_per_s = 1e-4;
  CheckpointCost c;
  c.tier = CheckpointTier::kPeer;
  c.peer_loss_window_s = 1e4;
  EXPECT_NEAR(peer_loss_probability(scenario("{checkpoint: {tier: peer}}"), rates, c), 0.6321206, 1e-7);
  EXPECT_NEAR(peer_loss_probability(scenario("{checkpoint: {tier: peer, replicas: 3}}"), rates, c), 0.3995764, 1e-7);
  EXPECT_NEAR(peer_loss_probability(scenario("{checkpoint: {tier: peer, replicas: 4}}"), rates, c), 0.2525805, 1e-7);
  c.tier = CheckpointTier::kCpu;
  EXPECT_EQ(peer_loss_probability(scenario("{checkpoint: {tier: cpu}}"), rates, c), 0);
}

TEST(ReliabilityCheckpoint, CapacityErrorsNameTheField) {
  const Scenario base = scenario("");
  const Estimate e = estimate(base);
  // keep 2 x 112.4 GB = 224.8 GB: does not fit in 0.2 TB, fits in 0.23 TB.
  {
    const Scenario s = scenario("{checkpoint: {storage_capacity_tb: 0.2}}");
    const InputError err = input_error([&] { checkpoint_cost(s, e); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.storage_capacity_tb") << err.what();
  }
  EXPECT_NO_THROW(checkpoint_cost(scenario("{checkpoint: {storage_capacity_tb: 0.23}}"), e));
  // keep 1 x 112.4 GB fits in 0.2 TB.
  EXPECT_NO_THROW(checkpoint_cost(scenario("{checkpoint: {storage_capacity_tb: 0.2, keep: 1}}"), e));
  // cpu tier: keep 2 x 8 GPUs x 3.514 GB = 56.2 GB per node: not in 50 GB, fits in 60 GB.
  {
    const Scenario s = scenario("{checkpoint: {tier: cpu, host_memory_gb: 50}}");
    const InputError err = input_error([&] { checkpoint_cost(s, e); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.host_memory_gb") << err.what();
  }
  EXPECT_NO_THROW(checkpoint_cost(scenario("{checkpoint: {tier: cpu, host_memory_gb: 60}}"), e));
  // peer tier: 3 replicas x 28.1 GB = 84.3 GB per node: not in 80 GB, fits in 90 GB.
  {
    const Scenario s = scenario("{checkpoint: {tier: peer, replicas: 3, host_memory_gb: 80}}");
    const InputError err = input_error([&] { checkpoint_cost(s, e); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.host_memory_gb") << err.what();
  }
  EXPECT_NO_THROW(checkpoint_cost(scenario("{checkpoint: {tier: peer, replicas: 3, host_memory_gb: 90}}"), e));
  // peer tier: replicas live on distinct nodes. 8 GPUs are one node: 2 replicas are refused;
  // 16 GPUs (2 nodes) take 2 but not 3.
  {
    const Scenario s = scenario("{checkpoint: {tier: peer}}", 8);
    const InputError err = input_error([&] { checkpoint_cost(s, estimate(s)); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.replicas") << err.what();
    const Scenario s3 = scenario("{checkpoint: {tier: peer, replicas: 3}}", 16);
    const InputError err3 = input_error([&] { checkpoint_cost(s3, estimate(s3)); });
    EXPECT_EQ(err3.field(), "reliability.checkpoint.replicas") << err3.what();
    const Scenario s2 = scenario("{checkpoint: {tier: peer}}", 16);
    EXPECT_NO_THROW(checkpoint_cost(s2, estimate(s2)));
  }
  // nvme: 56.2 GB per node in 0.05 TB does not fit.
  {
    const Scenario s = scenario("{checkpoint: {tier: nvme, nvme_capacity_tb: 0.05}}");
    const InputError err = input_error([&] { checkpoint_cost(s, e); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.nvme_capacity_tb") << err.what();
  }
  // The simulation reports the same error.
  {
    const Scenario s = scenario("{days: 1, runs: 5, checkpoint: {storage_capacity_tb: 0.001}}");
    const InputError err = input_error([&] { simulate(s); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.storage_capacity_tb") << err.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Input errors of the simulation

TEST(ReliabilityInputs, IntervalShorterThanAWriteIsRefused) {
  // cpu tier: durable == blocking, so the shortest interval is the 1 s floor.
  {
    const Scenario s = scenario("{days: 1, runs: 5, checkpoint: {tier: cpu, interval_s: 0.5}}");
    const InputError err = input_error([&] { simulate(s); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.interval_s") << err.what();
  }
  EXPECT_NO_THROW(simulate(scenario("{days: 1, runs: 5, checkpoint: {tier: cpu, interval_s: 1}}")));
  // peer tier on a 8 Gb/s (1 GB/s per GPU) NIC without interference: replication
  // 3.514 GB / 1 GB/s = 3.514 s is the durability lag persist - block, above the 1 s floor:
  // 2 s is refused (the message gives the 3.51 s write), 5 s is accepted.
  {
    const Scenario s = scenario("{days: 1, runs: 5, checkpoint: {tier: peer, peer_interference: 0, interval_s: 2}}", 64,
                                "{seq_len: 4096, global_batch: 256, tokens: 1e11}", ", nic_gbps: 8");
    const CheckpointCost c = checkpoint_cost(s, estimate(s));
    EXPECT_NEAR(c.persist_s - c.block_s, c.bytes_per_gpu / 1e9, 1e-9);
    const InputError err = input_error([&] { simulate(s); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.interval_s") << err.what();
    EXPECT_TRUE(contains(err.what(), "3.51")) << err.what();
  }
  EXPECT_NO_THROW(simulate(scenario("{days: 1, runs: 5, checkpoint: {tier: peer, peer_interference: 0, interval_s: 5}}",
                                    64, "{seq_len: 4096, global_batch: 256, tokens: 1e11}", ", nic_gbps: 8")));
}

TEST(ReliabilityInputs, BackupIntervalShorterThanTheDrainIsRefused) {
  // cpu tier: the backup drain to storage takes 14.39 s; a 5 s backup interval is refused.
  const Scenario s = scenario("{days: 1, runs: 5, checkpoint: {tier: cpu, backup_interval_s: 5}}");
  const InputError err = input_error([&] { simulate(s); });
  EXPECT_EQ(err.field(), "reliability.checkpoint.backup_interval_s") << err.what();
  EXPECT_NO_THROW(simulate(scenario("{days: 1, runs: 5, checkpoint: {tier: cpu, backup_interval_s: 20}}")));
}

TEST(ReliabilityInputs, NeitherDaysNorTokensIsRefused) {
  const Scenario s = scenario("{runs: 5}", 64, "{seq_len: 4096, global_batch: 256}");
  const InputError err = input_error([&] { simulate(s); });
  EXPECT_EQ(err.field(), "reliability.days") << err.what();
  // reliability.tokens alone is enough.
  EXPECT_NO_THROW(simulate(scenario("{runs: 5, tokens: 1e9}", 64, "{seq_len: 4096, global_batch: 256}")));
}

// ---------------------------------------------------------------------------------------------
// Monte Carlo

// useful + lost + restart + checkpoint + waiting = the allocation, in every mode.
TEST(ReliabilitySim, GpuHoursAddUpToTheAllocation) {
  struct Case {
    const char* what;
    const char* block;
  };
  // 2e10 tokens = 44,310 failure-free seconds (0.51 days) on this job. Base rate 0.0706 a day
  // (64 GPUs); rate_scale 50: 3.5 a day. planned_maintenance 0.5 per node-day: 4 a day.
  const std::vector<Case> cases = {
      {"window", "{days: 3, runs: 100, rate_scale: 50}"},
      {"tokens", "{tokens: 2e10, runs: 100, rate_scale: 50}"},
      {"window, no spares", "{days: 3, runs: 100, rate_scale: 300, spare_nodes: 0, repair_hours: 12}"},
      {"tokens, no spares", "{tokens: 2e10, runs: 100, rate_scale: 100, spare_nodes: 0, repair_hours: 2}"},
      {"window, lemons", "{days: 3, runs: 100, rate_scale: 50, lemon: {fraction: 0.25, factor: 50, evict_after: 2}}"},
      {"tokens, lemons", "{tokens: 2e10, runs: 100, rate_scale: 50, lemon: {fraction: 0.25, factor: 50}}"},
      {"window, weibull", "{days: 3, runs: 100, rate_scale: 50, distribution: weibull}"},
      {"tokens, cpu tier", "{tokens: 2e10, runs: 100, rate_scale: 200, spare_nodes: 8, checkpoint: {tier: cpu, interval_s: 600}}"},
      {"window, peer tier", "{days: 3, runs: 100, rate_scale: 200, checkpoint: {tier: peer, interval_s: 600}}"},
      {"tokens, nvme tier", "{tokens: 2e10, runs: 100, rate_scale: 200, spare_nodes: 8, checkpoint: {tier: nvme}}"},
      {"tokens, planned-heavy", "{tokens: 2e10, runs: 100, rates: {planned_maintenance: 0.5}, rate_scale: 1}"},
  };
  for (const auto& c : cases) {
    const Scenario s = scenario(c.block);
    const ReliabilityResult r = simulate(s);
    expect_accounting(s, r, c.what);
    EXPECT_GT(r.interruptions.mean, 0) << c.what;
    if (contains(c.what, "no spares")) {
      // 8 nodes, 100-300 x 356 x 8/(2048 x 54) = 2.6-7.7 node failures a day: runs wait for repairs.
      EXPECT_GT(r.waiting_gpu_h, 0) << c.what;
    }
    if (contains(c.what, "lemons")) {
      EXPECT_EQ(r.rates.lemons, 2) << c.what;
      EXPECT_GT(r.interruptions_by_cause.back(), 0) << c.what;  // the lemon_node slot
    }
    if (contains(c.what, "tokens")) {
      EXPECT_FALSE(r.window);
      // 2e10 / 451,366 tokens/s = 44,310 s of work; every run here finishes well before the cap
      // (100 x work + 30 days), so the mean useful time is exactly that.
      EXPECT_NEAR(r.work_s, 2e10 / estimate(s).tokens_per_s, 1e-6);
      EXPECT_NEAR(r.useful_gpu_h, r.work_s * 64 / 3600, r.useful_gpu_h * 1e-6) << c.what;
    }
  }
}

// A window: wall-clock days are the window; interruptions are Poisson(rate x window).
TEST(ReliabilitySim, WindowModeFixesDaysAndCountsPoissonInterruptions) {
  // 64 GPUs at rate_scale 100: 100 x 3.8125/54 = 7.0602 a day, 35.301 in 5 days; with 200 runs
  // the mean's standard error is sqrt(35.301/200) = 0.420; allow 4 standard errors.
  const Scenario s = scenario("{days: 5, runs: 200, rate_scale: 100}");
  const ReliabilityResult r = simulate(s);
  EXPECT_TRUE(r.window);
  EXPECT_NEAR(r.window_s, 5 * kDaySec, 1e-9);
  EXPECT_NEAR(r.wall_clock_days.p10, 5, 1e-9);
  EXPECT_NEAR(r.wall_clock_days.p50, 5, 1e-9);
  EXPECT_NEAR(r.wall_clock_days.p90, 5, 1e-9);
  EXPECT_NEAR(r.wall_clock_days.mean, 5, 1e-9);
  const double expected = r.rates.total_per_s * 5 * kDaySec;
  EXPECT_NEAR(expected, 35.301, 1e-3);
  EXPECT_NEAR(r.interruptions.mean, expected, 4 * std::sqrt(expected / 200));
  // The per-cause means add up to the total; planned maintenance is
  // 100 x 5 x 47 x 8/(2048 x 54) = 1.700 of them (sd of the mean sqrt(1.7/200) = 0.092).
  double sum = 0;
  for (double x : r.interruptions_by_cause) sum += x;
  EXPECT_NEAR(sum, r.interruptions.mean, 1e-9);
  ASSERT_EQ(r.cause_names.back(), "lemon_node");
  EXPECT_EQ(r.interruptions_by_cause.back(), 0);  // no lemons
  std::size_t planned = 0;
  while (planned < r.cause_names.size() && r.cause_names[planned] != "planned_maintenance") ++planned;
  ASSERT_LT(planned, r.cause_names.size());
  const double planned_expected = 100 * 5 * 47.0 * 8 / (2048 * 54);
  EXPECT_NEAR(r.interruptions_by_cause[planned], planned_expected, 4 * std::sqrt(planned_expected / 200));
  expect_accounting(s, r, "window");
}

// Weibull arrivals keep the mean rate: scale 1/(rate x Gamma(1 + 1/k)).
TEST(ReliabilitySim, WeibullKeepsTheMeanRate) {
  // k = 0.78: Gamma(1 + 1/k) = 1.15432, Gamma(1 + 2/k) = 3.56928, cv^2 = 3.56928/1.15432^2 - 1 =
  // 1.6787. Renewal count from a fresh start: E N(t) ~ t/mu + (cv^2 - 1)/2 = 35.301 + 0.339 =
  // 35.640 (64 GPUs, rate_scale 100, 5 days); Var N(t) ~ cv^2 t/mu = 59.26, so the mean of 200
  // runs has sd 0.544; allow 4 sd. (A scale without the Gamma factor would give 35.3/1.154 = 30.6.)
  const Scenario s = scenario("{days: 5, runs: 200, rate_scale: 100, distribution: weibull}");
  const ReliabilityResult r = simulate(s);
  EXPECT_NEAR(r.interruptions.mean, 35.640, 4 * 0.544);
  expect_accounting(s, r, "weibull");
}

// Lemons fail `evict_after` times each, then leave the job.
TEST(ReliabilitySim, LemonsAreEvictedAfterTheirFailures) {
  // 8 nodes, fraction 0.25: 2 lemons. Per lemon 50 (factor) x 50 (rate_scale) x 356/(2048 x 54)
  // = 8.05 failures a day, so within a 3-day window both lemons fail twice (evict_after 2) in
  // every run: exactly 2 x 2 = 4 lemon interruptions per run.
  const Scenario s = scenario("{days: 3, runs: 100, rate_scale: 50, lemon: {fraction: 0.25, factor: 50, evict_after: 2}}");
  const ReliabilityResult r = simulate(s);
  ASSERT_EQ(r.cause_names.back(), "lemon_node");
  EXPECT_EQ(r.rates.lemons, 2);
  EXPECT_DOUBLE_EQ(r.interruptions_by_cause.back(), 4.0);
  // The other causes keep the healthy rate: 50 x 3.8125/54 = 3.530 a day, 10.590 in 3 days;
  // with 100 runs sd sqrt(10.59/100) = 0.325, allow 4 sd.
  EXPECT_NEAR(r.interruptions.mean - 4, 50 * 3.8125 / 54 * 3, 4 * 0.325);
  expect_accounting(s, r, "lemons");
}

// A token-budget run stops at 100x its failure-free length + 30 days; such runs are counted in
// `unfinished_runs` (and the report warns) rather than averaged in silently.
// 8 nodes, no spare, rate_scale 300: 7.7 node losses a day against a 12 h repair; the cap is
// 100 x 49,852 s + 30 days = 87.70 days. Seen: with seed 1 and 100 runs some runs stop at the
// cap with part of the 49,852 s of work done.
TEST(ReliabilitySim, RunsStoppedAtTheCapAreReported) {
  const Scenario s = scenario("{tokens: 2e10, runs: 100, rate_scale: 300, spare_nodes: 0, repair_hours: 12, "
                              "checkpoint: {interval_s: 600}}");
  const ReliabilityResult r = simulate(s);
  EXPECT_GT(r.unfinished_runs, 0);
  EXPECT_LT(r.useful_gpu_h, r.work_s * 64 / 3600);
  EXPECT_LE(r.wall_clock_days.p90, r.work_s * 100 / 86400 + 30 + 1e-6);
  // A normal run finishes every time.
  const ReliabilityResult ok = simulate(scenario("{tokens: 2e10, runs: 50, rate_scale: 30, checkpoint: {interval_s: 600}}"));
  EXPECT_EQ(ok.unfinished_runs, 0);
  EXPECT_NEAR(ok.useful_gpu_h, ok.work_s * 64 / 3600, 1e-6 * ok.useful_gpu_h);
}

TEST(ReliabilitySim, NoFailuresCostsOnlyCheckpoints) {
  // Window of 1 day, checkpoint every 1800 s, write delta = 14.3902 s: cycle 1814.3902 s;
  // 86400 / 1814.3902 = 47.6 -> 47 full cycles (85,276.3 s) then 1,123.7 s of training:
  // useful 47 x 1800 + 1123.7 = 85,723.7 s, ETTR 0.99217 (vs 1800/1814.39 = 0.99207).
  const Scenario s = scenario("{days: 1, runs: 20, rate_scale: 0, checkpoint: {interval_s: 1800}}");
  const ReliabilityResult r = simulate(s);
  const double d = r.checkpoint.block_s, cyc = 1800 + d;
  const double n = std::floor(kDaySec / cyc);
  EXPECT_EQ(n, 47);
  const double useful = n * 1800 + std::min(kDaySec - n * cyc, 1800.0);
  EXPECT_NEAR(r.ettr.mean, useful / kDaySec, 1e-9);
  EXPECT_NEAR(r.ettr.mean, 0.99217, 1e-5);
  EXPECT_NEAR(r.ettr.mean, 1800 / cyc, 2e-4);
  EXPECT_EQ(r.ettr.p10, r.ettr.p90);  // nothing random
  EXPECT_EQ(r.interruptions.mean, 0);
  EXPECT_EQ(r.interruptions.p90, 0);
  EXPECT_EQ(r.lost_work_gpu_h, 0);
  EXPECT_EQ(r.restart_gpu_h, 0);
  EXPECT_EQ(r.waiting_gpu_h, 0);
  EXPECT_NEAR(r.checkpoint_gpu_h, 47 * d * 64 / 3600, 1e-6);  // 47 stalls x 64 GPUs
  expect_accounting(s, r, "no failures, window");
  // The first-order formula: tau/(tau+delta) x (1 - 0) = 0.99207.
  EXPECT_NEAR(r.expected_ettr, 1800 / cyc, 1e-12);

  // Tokens: 2e10 tokens = 49,852 s of work; ceil(49,852/1800) - 1 = 27 checkpoints:
  // wall = 49,852 + 27 x 14.39 = 50,240 s, ETTR 0.99227.
  const Scenario t = scenario("{tokens: 2e10, runs: 20, rate_scale: 0, checkpoint: {interval_s: 1800}}");
  const ReliabilityResult rt = simulate(t);
  const double work = rt.work_s;
  const double ckpts = std::ceil(work / 1800) - 1;
  EXPECT_EQ(ckpts, 27);
  EXPECT_NEAR(rt.wall_clock_days.mean * kDaySec, work + ckpts * d, 1e-5);
  EXPECT_NEAR(rt.ettr.mean, work / (work + ckpts * d), 1e-9);
  expect_accounting(t, rt, "no failures, tokens");

  // Optimal interval with nothing failing: no checkpoint at all, ETTR 1.
  const ReliabilityResult r1 = simulate(scenario("{days: 1, runs: 5, rate_scale: 0}"), ReliabilityOptions{});
  EXPECT_NEAR(r1.ettr.mean, 1, 1e-12);
  EXPECT_EQ(r1.checkpoint_gpu_h, 0);
}

// A `rates:` map that keeps only the named default causes at the given rates (the others 0).
std::string only_rates(const std::vector<std::pair<std::string, double>>& keep) {
  std::string m = "{";
  for (const auto& c : default_failure_causes()) {
    double v = 0;
    for (const auto& [n, r] : keep) {
      if (n == c.name) v = r;
    }
    m += (m.size() > 1 ? ", " : "") + c.name + ": " + std::to_string(v);
  }
  return m + "}";
}

// planned-checkpoint-durable-only-when-written: an announced interruption writes its checkpoint
// to storage before the restart, and it is durable only when the write ends. Storage at
// 0.01 GB/s: 112.42 GB take 11,242 s, longer than the 0.05-day (4,320 s) window, so a run whose
// first maintenance comes at t < 4,320 s trains until t and stalls from t to the window's end:
// no restart, no lost work. Only planned maintenance, 1.35 per node-day on 8 nodes:
// lambda = 10.8 a day = 1.25e-4 per s, lambda T = 0.54. Mean stall E[(T - t1)+] =
// T - (1 - e^-0.54)/lambda = 4,320 - 0.417252/1.25e-4 = 4,320 - 3,338.0 = 982.0 s, i.e.
// 982.0 x 64/3600 = 17.46 GPU-hours (per-run sd ~1,300 s, 2,000 runs: standard error 29 s, 0.5 GPU-h).
// Before, the whole 11,242-s write counted as a stall past the window's end and the restart
// time went negative.
TEST(ReliabilitySim, PlannedCheckpointDurableOnlyWhenWritten) {
  const Scenario s = scenario("{days: 0.05, runs: 2000, rates: " + only_rates({{"planned_maintenance", 1.35}}) +
                              ", checkpoint: {storage_gbytes_per_s: 0.01, interval_s: 1e6}}");
  const ReliabilityResult r = simulate(s);
  EXPECT_NEAR(r.checkpoint.backup_persist_s, 11242.4, 0.1);
  EXPECT_NEAR(r.rates.total_per_s, 1.25e-4, 1e-12);
  EXPECT_EQ(r.restart_gpu_h, 0);
  EXPECT_EQ(r.lost_work_gpu_h, 0);
  EXPECT_EQ(r.waiting_gpu_h, 0);
  EXPECT_NEAR(r.checkpoint_gpu_h, 17.46, 2.0);  // seen: 16.86
  expect_accounting(s, r, "planned maintenance longer than the window");

  // With unannounced failures beside it (the job-scope dependency cause, 20 a day), some come
  // during the write and find the announced checkpoint not durable; no time is negative and the
  // parts still add up to the allocation.
  const Scenario m = scenario("{days: 0.05, runs: 2000, rates: " +
                              only_rates({{"planned_maintenance", 1.35}, {"dependency", 20}}) +
                              ", checkpoint: {storage_gbytes_per_s: 0.01, interval_s: 1e6}}");
  const ReliabilityResult rm = simulate(m);
  EXPECT_GT(rm.lost_work_gpu_h, 0);
  EXPECT_GT(rm.restart_gpu_h, 0);
  expect_accounting(m, rm, "planned maintenance and software failures");
}

// youngs-interval-leaves-planned-maintenance-out: Young's and Daly's M is the mean time between
// interruptions that lose work; planned maintenance is checkpointed first and loses none. Only
// the job-scope dependency cause (20 a day, M = 4,320 s) and planned maintenance (1.35 per
// node-day on 8 nodes, 10.8 a day) on 64 GPUs, storage tier (delta = 14.3902 s):
// Young sqrt(2 x 14.3902 x 4,320) = 352.607 s; Daly x = 14.3902/8,640 = 0.0016655,
// 352.607 x (1 + 0.0136037 + 0.0001851) - 14.3902 = 343.079 s. Before, M was 86,400/30.8 =
// 2,805 s and Young 284.1 s. With planned maintenance alone nothing is lost between
// checkpoints: M is infinite, and both intervals are the run's length (1 day), so the run
// checkpoints only for the announced interruptions.
TEST(ReliabilitySim, YoungsIntervalLeavesPlannedMaintenanceOut) {
  const Scenario s = scenario("{days: 1, runs: 50, rates: " +
                              only_rates({{"planned_maintenance", 1.35}, {"dependency", 20}}) + "}");
  const ReliabilityResult r = simulate(s);
  EXPECT_NEAR(r.rates.total_per_s * kDaySec, 30.8, 1e-9);
  EXPECT_NEAR(r.rates.unplanned_per_s * kDaySec, 20, 1e-9);
  EXPECT_NEAR(r.young_s, 352.607, 1e-3);
  EXPECT_NEAR(r.daly_s, 343.079, 1e-3);

  const Scenario p = scenario("{days: 1, runs: 50, rates: " + only_rates({{"planned_maintenance", 1.35}}) + "}");
  const ReliabilityResult rp = simulate(p, ReliabilityOptions{});
  EXPECT_EQ(rp.rates.unplanned_per_s, 0);
  EXPECT_DOUBLE_EQ(rp.young_s, kDaySec);
  EXPECT_DOUBLE_EQ(rp.daly_s, kDaySec);
  EXPECT_DOUBLE_EQ(rp.interval_s, kDaySec);  // the sweep's best: no periodic checkpoint
  EXPECT_EQ(rp.lost_work_gpu_h, 0);
  // Stalls: only the announced checkpoints, 14.3902 s each (less if the window ends in one),
  // and only for maintenance that comes while training: one during the 628.78-s drain and
  // restart of the previous one is folded into it. Share of time training ~ 1/(1 + 10.8 x
  // 628.78/86,400) = 1/1.0786 = 0.927 (seen: 0.933).
  const double drains = rp.interruptions.mean * rp.checkpoint.backup_persist_s * 64 / 3600;
  EXPECT_LE(rp.checkpoint_gpu_h, drains + 1e-9);
  EXPECT_NEAR(rp.checkpoint_gpu_h, drains / 1.0786, 0.02 * drains);
  expect_accounting(p, rp, "planned maintenance only");

  // plan --failures ranks at Young's interval from the same M. With planned maintenance alone:
  // no periodic checkpoint (tau/(tau+delta) = 1), and each of the 10.8 a day costs its drain,
  // restart and restore, 14.3902 + 600 + 14.3902 = 628.78 s: ETTR 1 - 10.8 x 628.78/86,400 =
  // 0.921402. With the dependency cause too, the formula at Young's 352.607 s.
  PlanResult pr;
  for (const Scenario* x : {&p, &s}) {
    PlanEntry e;
    e.scenario = *x;
    e.estimate = estimate(*x);
    e.objective = 1;
    pr.plans.push_back(std::move(e));
  }
  rank_by_goodput(pr);
  ASSERT_EQ(pr.plans.size(), 2u);
  EXPECT_NEAR(pr.plans[0].expected_ettr, 0.921402, 1e-6);
  EXPECT_NEAR(pr.plans[1].expected_ettr,
              expected_ettr(s, job_failure_rates(s), checkpoint_cost(s, estimate(s)), 352.607), 1e-6);
}

// peer-restore-is-local-when-no-node-is-swapped: on the peer tier a replacement node pulls its
// shard from a peer (restore_s = s/B_nic + s/B_h), but a failure that keeps every node restores
// each from its own CPU-memory copy (local_restore_s = s/B_h; GEMINI §3-4). On a 1 Gb/s NIC
// (0.125 GB/s per GPU) the shard of 3.514 GB takes 28.11 s to pull and 0.0639 s to copy to the
// GPU: restore_s 28.18 s, local_restore_s 0.0639 s. 30 spares of 8 nodes: no run waits.
// Software failures only, 2 a day: each recovery is detection 300 + restart 600 + 0.0639 s =
// 900.064 s (before: 928.18 s), less when the next failure cuts it short (1 - e^(-2 x 900/86400)
// = 2 % of them) or the window ends in it (seen: 893.8 s). faulty_gpu only (a node swapped each
// time): 300 + swap 120 + 600 + 28.18 = 1048.18 s, unless the peer's replica is lost too (h W =
// 0.25 a day x 1,076 s = 0.3 %: the 14.39-s storage backup instead; seen: 1039.8 s).
TEST(ReliabilitySim, PeerRestoreIsLocalWhenNoNodeIsSwapped) {
  // Both causes are GPU-scoped: 2/64 per GPU-day on 64 GPUs is 2 a day.
  auto run = [](const std::string& cause) {
    return scenario("{days: 10, runs: 50, spare_nodes: 30, rates: " + only_rates({{cause, 2.0 / 64}}) +
                        ", checkpoint: {tier: peer, interval_s: 1800}}",
                    64, "{seq_len: 4096, global_batch: 256, tokens: 1e11}", ", nic_gbps: 1");
  };
  const Scenario sw = run("software"), hw = run("faulty_gpu");
  const CheckpointCost c = checkpoint_cost(sw, estimate(sw));
  EXPECT_NEAR(c.restore_s, c.bytes_per_gpu / 0.125e9 + c.bytes_per_gpu / 55e9, 1e-9);
  EXPECT_NEAR(c.restore_s, 28.18, 0.01);
  EXPECT_NEAR(c.local_restore_s, 0.0639, 1e-4);
  const ReliabilityResult rs = simulate(sw), rh = simulate(hw);
  ASSERT_GT(rs.interruptions.mean, 15);  // ~20 a run
  ASSERT_GT(rh.interruptions.mean, 15);
  const double per_sw = rs.restart_gpu_h * 3600 / 64 / rs.interruptions.mean;
  const double per_hw = rh.restart_gpu_h * 3600 / 64 / rh.interruptions.mean;
  EXPECT_LE(per_sw, 900.0639 + 1e-4);
  EXPECT_GT(per_sw, 880);
  EXPECT_LE(per_hw, 1048.1763 + 1e-4);
  EXPECT_GT(per_hw, 1000);
  EXPECT_EQ(rs.waiting_gpu_h, 0);
  EXPECT_EQ(rh.waiting_gpu_h, 0);
  expect_accounting(sw, rs, "peer, software failures");
  const Json jc = reliability_to_json(sw, rs)["checkpoint"];  // echoed next to restore_s
  EXPECT_DOUBLE_EQ(jc.at("restore_s").get<double>(), c.restore_s);
  EXPECT_DOUBLE_EQ(jc.at("local_restore_s").get<double>(), c.local_restore_s);
  // The first-order formula charges the same restores: software at 2 a day, interval 1800 s,
  // delta = 0.0639 + 0.25 x 28.11 = 7.092 s, lag = 0.75 x 28.11 = 21.08 s: cost 300 + 600 +
  // 0.0639 + (1800 + 7.092)/2 + 21.08 = 1824.69 s; ETTR = 1800/1807.092 x (1 - 2 x 1824.69/86400)
  // = 0.996076 x 0.957762 = 0.954003 (0.953352 with the 28.18-s pull, before; simulated 0.9541).
  const double delta = c.block_s, lag = c.persist_s - c.block_s;
  EXPECT_NEAR(delta, 7.092, 1e-3);
  EXPECT_NEAR(lag, 21.08, 1e-2);
  EXPECT_NEAR(rs.expected_ettr, 0.954003, 1e-5);
  EXPECT_NEAR(rs.expected_ettr, 1800 / (1800 + delta) * (1 - 2 * (900 + c.local_restore_s + (1800 + delta) / 2 + lag) / kDaySec), 1e-12);
}

TEST(ReliabilitySim, SameSeedSameResultWhateverTheThreads) {
  // With the interval sweep (25 intervals x 40 runs) and a rate high enough for many failures.
  const Scenario s = scenario("{days: 2, runs: 40, rate_scale: 200, seed: 7}");
  const Estimate e = estimate(s);
  ReliabilityOptions one, two;
  one.threads = 1;
  two.threads = 2;
  const ReliabilityResult a = simulate_reliability(s, e, one), b = simulate_reliability(s, e, two);
  EXPECT_FALSE(a.sweep.empty());
  EXPECT_EQ(reliability_to_json(s, a).dump(), reliability_to_json(s, b).dump());
  EXPECT_EQ(a.events, b.events);
  // Another seed: different failures, so different ETTR and interruptions (the seed field
  // itself is left out of the comparison).
  const Scenario s2 = scenario("{days: 2, runs: 40, rate_scale: 200, seed: 8}");
  const ReliabilityResult c = simulate_reliability(s2, e, two);
  const Json ja = reliability_to_json(s, a), jc = reliability_to_json(s2, c);
  EXPECT_NE(ja["ettr"].dump(), jc["ettr"].dump());
  EXPECT_NE(ja["interruptions"].dump(), jc["interruptions"].dump());
}

// work-bound-counts-the-sweep-and-runs-that-never-finish: every failure arrival of the call
// (interval sweep and final runs) counts against ReliabilityOptions::max_failures.
TEST(ReliabilitySim, WorkBoundCountsTheSweepAndRunsThatNeverFinish) {
  // Up front, the sweep is counted: 2 days at rate_scale 200 on 64 GPUs, 200 x 3.8125/54 =
  // 14.12 interruptions a day, 28.24 a run. 40 runs alone: 1,130 expected, under a bound of
  // 5,000; with the sweep (Young ~420 s, so all 25 points are above the 1-s floor, 40 runs each)
  // (40 + 25 x 40) x 28.24 = 29,370: refused before anything runs.
  {
    const Scenario s = scenario("{days: 2, runs: 40, rate_scale: 200}");
    ReliabilityOptions o = no_sweep();
    o.max_failures = 5000;
    EXPECT_NO_THROW(simulate(s, o));
    o.sweep = true;
    const InputError err = input_error([&] { simulate(s, o); });
    EXPECT_EQ(err.field(), "reliability.runs") << err.what();
    EXPECT_TRUE(contains(err.what(), "2.94e+04 expected")) << err.what();
  }
  // At run time: a token budget of 2e10 (0.51 failure-free days) at rate_scale 50 (3.53
  // interruptions a day, 1.29 node losses) with no spares and 1,000-hour repairs. The formula
  // ignores waiting (ETTR ~0.9: 0.57 days, ~2 arrivals a run, 40 for 20 runs, under the bound),
  // but a run that loses a node before it finishes (1 - e^(-1.29 x 0.57) = 52 % of them) waits,
  // more nodes fail meanwhile, and it stops at its cap, 100 x 0.51 + 30 = 81 days: ~3.53 x 81 =
  // 290 arrivals; ~0.52 x 20 x 290 = 3,000 in all (seen: 3,747).
  const Scenario t = scenario("{tokens: 2e10, runs: 20, rate_scale: 50, spare_nodes: 0, repair_hours: 1000}");
  ReliabilityOptions o = no_sweep();
  o.max_failures = 1e9;
  const ReliabilityResult all = simulate(t, o);
  const auto total = all.failure_arrivals;
  EXPECT_GT(total, 2000u);
  EXPECT_LT(total, 6000u);
  EXPECT_GT(all.unfinished_runs, 5);
  // The verdict is the same with 1 and 2 threads: a bound of exactly the total passes (with
  // the same result), one less is refused naming reliability.runs.
  for (const int threads : {1, 2}) {
    ReliabilityOptions x = no_sweep(threads);
    x.max_failures = static_cast<double>(total);
    const ReliabilityResult ok = simulate(t, x);
    EXPECT_EQ(ok.failure_arrivals, total);
    EXPECT_EQ(reliability_to_json(t, ok).dump(), reliability_to_json(t, all).dump());
    x.max_failures = static_cast<double>(total - 1);
    const InputError err = input_error([&] { simulate(t, x); });
    EXPECT_EQ(err.field(), "reliability.runs") << err.what();
    EXPECT_TRUE(contains(err.what(), "more than")) << err.what();
  }
}

// Runs that stall (the built-in default, Llama-3-70B for 15T tokens on 1,024 H100, at
// rate_scale 100: 46 node swaps a day against 2 spares) pass the formula's check but stopped at
// the bound after 80 s of simulation: two pilot runs project them (about 1.9e9 arrivals with
// the interval sweep, over twice the 5e8 bound) and refuse them at once.
TEST(ReliabilitySim, PilotRunsRefuseStallingRunsUpFront) {
  const Scenario s = parse_scenario(default_scenario_yaml(), "<default>",
                                    {{"reliability.runs", "100"}, {"reliability.rate_scale", "100"}});
  const Estimate e = estimate(s);
  ReliabilityOptions o;
  o.max_failures = 5e8;
  const InputError err = input_error([&] { simulate_reliability(s, e, o); });
  EXPECT_EQ(err.field(), "reliability.runs") << err.what();
  EXPECT_TRUE(contains(err.what(), "projected from 2 pilot runs")) << err.what();
}

TEST(ReliabilitySim, FirstOrderFormulaAgreesAtLowFailureRate) {
  // Llama-3-like: Llama-3-8B with the Llama 3 failure mix and synchronous storage checkpoints at
  // Young's interval, in a 14-day window. On 1,024 H100 (128 nodes) the rate is
  // (464 x 1024/16384 + 2)/54 = 31/54 = 0.5741 a day (MTBI 41.8 h), about 8 interruptions a
  // run, each costing ~20 minutes: the regime where the first-order formula (at most one
  // failure per interval and per recovery) holds. Spares: 30 of 128 nodes, so a run never waits
  // for a repair (the formula has no waiting term; 356 x 128/(2048 x 54) = 0.41 node losses a
  // day with a 24 h repair).
  // delta = 112.42 GB / 125 GB/s = 0.8994 s. Young's M counts the interruptions that lose
  // work, not the 47 x 128/110,592 = 0.0544 planned a day: (371 x 1024/16384 + 46 x 128/2048 +
  // 2)/54 = 28.0625/54 = 0.5197 a day, M = 166,257 s; Young sqrt(2 x 0.8994 x 166,257) =
  // 546.9 s (520.3 s with the planned ones in M, before).
  // Unplanned hardware interruption: detection 300 + swap 120 + restart 600 + restore 0.9 +
  // (546.9 + 0.9)/2 = 1294.8 s; software-like ones 120 s less; planned ones 0.9 + 600 + 0.9.
  // Rates a day: hardware 356 x 128/110,592 = 0.4120, software + NCCL + dependency
  // (61 x 1024/16384 + 2)/54 = 0.1076, planned 0.0544:
  // loss = (0.4120 x 1294.8 + 0.1076 x 1174.8 + 0.0544 x 601.8)/86400 = 0.008017;
  // ETTR = 546.9/547.8 x (1 - 0.008017) = 0.990354 (0.990351 at 520.3 s: the optimum is flat).
  // Per-run ETTR sd ~ 0.0028 (p10-p90 0.9866-0.9938), so the mean of 200 runs has sd 0.0002.
  const Scenario s = scenario("{days: 14, runs: 200, spare_nodes: 30}", 1024, "{seq_len: 4096, global_batch: 2048}");
  const ReliabilityResult r = simulate(s);
  EXPECT_NEAR(r.rates.total_per_s * kDaySec, 31.0 / 54, 1e-9);
  EXPECT_NEAR(r.checkpoint.block_s, 0.8994, 1e-4);
  EXPECT_NEAR(r.interval_s, r.young_s, 1e-9);
  EXPECT_NEAR(r.rates.unplanned_per_s * kDaySec, 28.0625 / 54, 1e-9);
  EXPECT_NEAR(r.young_s, 546.9, 0.1);
  EXPECT_NEAR(r.expected_ettr, 0.990354, 1e-5);
  EXPECT_EQ(r.waiting_gpu_h, 0);
  EXPECT_NEAR(r.ettr.mean, r.expected_ettr, 0.015) << "simulated " << r.ettr.mean << " formula " << r.expected_ettr;
  expect_accounting(s, r, "llama3-like, 1024 GPUs");
  // The fast tiers too, at a fixed 1800 s interval. cpu and nvme roll hardware failures back to
  // the 3 h storage backup (~1.5 h lost each, 0.41 a day: ETTR ~0.967); peer keeps its replicas
  // (~0.988). Seen: sim 0.9671 / 0.9667 / 0.9883 against formula 0.9667 / 0.9664 / 0.9882.
  for (const char* tier : {"cpu", "nvme", "peer"}) {
    const Scenario st = scenario(std::string("{days: 14, runs: 200, spare_nodes: 30, checkpoint: {interval_s: 1800, tier: ") +
                                     tier + "}}",
                                 1024, "{seq_len: 4096, global_batch: 2048}");
    const ReliabilityResult rt = simulate(st);
    EXPECT_NEAR(rt.ettr.mean, rt.expected_ettr, 0.015) << tier << ": simulated " << rt.ettr.mean << " formula "
                                                       << rt.expected_ettr;
    EXPECT_NEAR(rt.expected_ettr, std::string(tier) == "peer" ? 0.988 : 0.967, 0.005) << tier;
    expect_accounting(st, rt, tier);
  }

  // Llama 3's own scale: 16,384 GPUs, 466/54 = 8.63 interruptions a day (MTBI 2.78 h), default
  // spares (21). delta = 112.42 GB / 2 TB/s = 0.0562 s; M from the 419 unplanned a day,
  // 54 x 86400/419 = 11,135 s: Young sqrt(2 x 0.0562 x 11,135) = 35.4 s (33.5 s with the
  // planned ones).
  // Each interruption costs ~1,000 s of a 10,000 s MTBI, so the formula's neglect of failures
  // during a recovery is worth a few tenths of a point; it still agrees within 1.5 points
  // (ETTR ~0.90, 60 interruptions a 7-day run).
  const Scenario big = scenario("{days: 7, runs: 100}", 16384, "{seq_len: 4096, global_batch: 2048}");
  const ReliabilityResult rb = simulate(big);
  EXPECT_NEAR(rb.rates.total_per_s * kDaySec, 466.0 / 54, 1e-9);
  EXPECT_NEAR(rb.young_s, 35.4, 0.1);
  EXPECT_NEAR(rb.expected_ettr, 0.90, 0.01);
  EXPECT_NEAR(rb.ettr.mean, rb.expected_ettr, 0.015) << "simulated " << rb.ettr.mean << " formula " << rb.expected_ettr;
  expect_accounting(big, rb, "llama3-like, 16384 GPUs");
}

TEST(ReliabilitySim, MoreSparesNeverLowerEttr) {
  // 8 nodes, rate_scale 20: 20 x 356 x 8/(2048 x 54) = 0.515 node losses a day, ~5 in a 10-day
  // window; a repair takes 10 days, so without spares a run waits from its first node loss.
  // Same seed: common random numbers (the failure stream does not depend on the spares).
  auto run = [](int spares) {
    return simulate(scenario("{days: 10, runs: 100, rate_scale: 20, repair_hours: 240, spare_nodes: " +
                             std::to_string(spares) + "}"));
  };
  const ReliabilityResult r0 = run(0), r1 = run(1), r50 = run(50);
  EXPECT_EQ(r0.interruptions_by_cause, r50.interruptions_by_cause);  // the same failures
  EXPECT_GT(r0.waiting_gpu_h, 0);
  EXPECT_EQ(r50.waiting_gpu_h, 0);
  EXPECT_LE(r0.ettr.mean, r1.ettr.mean);
  EXPECT_LE(r1.ettr.mean, r50.ettr.mean);
  EXPECT_LT(r0.ettr.mean, r50.ettr.mean - 0.1);  // waiting days for a node costs a lot
  EXPECT_LE(r0.ettr.p10, r50.ettr.p10);
  EXPECT_LE(r0.ettr.p50, r50.ettr.p50);
  EXPECT_LE(r0.ettr.p90, r50.ettr.p90);
  expect_accounting(scenario("{days: 10, runs: 100, rate_scale: 20, repair_hours: 240, spare_nodes: 0}"), r0, "0 spares");
}

// plan-failures-drops-plans-whose-checkpoint-does-not-fit: `plan --failures` ranks what can run.
// Llama-3-8B on 64 H100, cpu tier, keep 2. TP8 PP1 DP8 ZeRO-1: 3.514 GB per GPU (file header), 8 x
// 3.514 = 28.1 GB per node, 56.2 GB for two snapshots. TP8 PP2 DP4 ZeRO-1: the larger stage holds
// 16 layers of 0.218e9 parameters + the 0.525e9 embedding = 4.016e9, 0.502e9 per GPU:
// 2 x 0.502 + 12 x 0.502/4 = 2.510 GB per GPU, 20.1 GB per node, 40.2 GB for two. With 48 GB of
// host memory the first (faster) split does not fit and is dropped, the second is ranked; with
// 30 GB neither fits: InputError naming the field.
TEST(ReliabilityPlan, PlanFailuresDropsPlansWhoseCheckpointDoesNotFit) {
  auto entry = [](int pp, int dp, double objective, double host_gb) {
    PlanEntry p;
    p.scenario = parse_scenario("model: llama3-8b\n"
                                "cluster: {gpu: h100-sxm, num_gpus: 64, gpus_per_node: 8}\n"
                                "parallel: {tp: 8, pp: " + std::to_string(pp) + ", vpp: 1, dp: " + std::to_string(dp) +
                                    ", micro_batch: 1, zero: 1}\n"
                                "training: {seq_len: 4096, global_batch: 256, tokens: 1e11}\n"
                                "reliability: {checkpoint: {tier: cpu, host_memory_gb: " + std::to_string(host_gb) + "}}\n",
                                "<test>");
    p.estimate = estimate(p.scenario);
    p.objective = objective;
    return p;
  };
  PlanResult r;
  r.plans = {entry(1, 8, 1.0, 48), entry(2, 4, 1.1, 48)};
  EXPECT_NEAR(checkpoint_cost(r.plans[1].scenario, r.plans[1].estimate).bytes_per_gpu, 2.510e9, 0.005e9);
  rank_by_goodput(r);
  ASSERT_EQ(r.plans.size(), 1u);
  EXPECT_EQ(r.plans[0].scenario.parallel.pp, 2);
  EXPECT_GT(r.plans[0].expected_ettr, 0.9);
  EXPECT_EQ(r.checkpoint_unfit, 1u);
  EXPECT_TRUE(contains(r.checkpoint_unfit_error, "reliability.checkpoint.host_memory_gb")) << r.checkpoint_unfit_error;
  EXPECT_TRUE(contains(plan_to_json(r.plans[0].scenario, r, false)["pruned"].dump(), "\"checkpoint_unfit\":1"));

  PlanResult none;
  none.plans = {entry(1, 8, 1.0, 30), entry(2, 4, 1.1, 30)};
  const InputError err = input_error([&] { rank_by_goodput(none); });
  EXPECT_EQ(err.field(), "reliability.checkpoint.host_memory_gb") << err.what();
  EXPECT_TRUE(contains(err.what(), "none of the 2 best plans")) << err.what();
}

// ---------------------------------------------------------------------------------------------
// The YAML block

TEST(ReliabilityConfig, FullBlockParses) {
  const Scenario s = scenario(R"({
    rates: {faulty_gpu: 0.001, hbm: 0},
    causes: [{name: cosmic_ray, scope: node, rate_per_day: 0.05, replaces_node: false},
             {name: software, scope: job, rate_per_day: 0.5, replaces_node: false}],
    rate_scale: 2, distribution: weibull, weibull_shape: 0.9,
    lemon: {fraction: 0.25, factor: 5, evict_after: 2},
    detection_s: 120, restart_s: 300, reschedule_s: 60, repair_hours: 48, spare_nodes: 3,
    checkpoint: {tier: peer, interval_s: 900, storage_gbytes_per_s: 50, storage_capacity_tb: 100,
                 nvme_gbytes_per_s: 10, nvme_capacity_tb: 15, host_memory_gb: 1024, host_gbytes_per_s: 20,
                 replicas: 3, peer_interference: 0.5, backup_interval_s: 7200, keep: 3},
    days: 3, tokens: 5e10, runs: 50, seed: 42})");
  const auto& r = s.reliability;
  // 20 defaults + cosmic_ray appended; software replaced in place.
  ASSERT_EQ(r.causes.size(), 21u);
  auto find = [&](const std::string& n) -> const FailureCause& {
    for (const auto& c : r.causes) {
      if (c.name == n) return c;
    }
    ADD_FAILURE() << "no cause " << n;
    return r.causes.front();
  };
  EXPECT_DOUBLE_EQ(find("faulty_gpu").rate_per_day, 0.001);
  EXPECT_EQ(find("hbm").rate_per_day, 0);
  EXPECT_DOUBLE_EQ(find("sram").rate_per_day, 19.0 / (16384 * 54));  // untouched default
  EXPECT_EQ(r.causes.back().name, "cosmic_ray");
  EXPECT_EQ(r.causes.back().scope, FailureScope::kNode);
  EXPECT_DOUBLE_EQ(r.causes.back().rate_per_day, 0.05);
  EXPECT_FALSE(r.causes.back().replaces_node);
  EXPECT_FALSE(r.causes.back().planned);
  EXPECT_EQ(r.causes[2].name, "software");  // replaced where it was
  EXPECT_EQ(r.causes[2].scope, FailureScope::kJob);
  EXPECT_DOUBLE_EQ(r.causes[2].rate_per_day, 0.5);
  EXPECT_DOUBLE_EQ(r.rate_scale, 2);
  EXPECT_EQ(r.distribution, FailureDistribution::kWeibull);
  EXPECT_DOUBLE_EQ(r.weibull_shape, 0.9);
  EXPECT_DOUBLE_EQ(r.lemon.fraction, 0.25);
  EXPECT_DOUBLE_EQ(r.lemon.factor, 5);
  EXPECT_EQ(r.lemon.evict_after, 2);
  EXPECT_DOUBLE_EQ(r.detection_s, 120);
  EXPECT_DOUBLE_EQ(r.restart_s, 300);
  EXPECT_DOUBLE_EQ(r.reschedule_s, 60);
  EXPECT_DOUBLE_EQ(r.repair_hours, 48);
  EXPECT_EQ(r.spare_nodes, 3);
  const auto& k = r.checkpoint;
  EXPECT_EQ(k.tier, CheckpointTier::kPeer);
  EXPECT_DOUBLE_EQ(k.interval_s, 900);
  EXPECT_DOUBLE_EQ(k.storage_gbytes_per_s, 50);
  EXPECT_DOUBLE_EQ(k.storage_capacity_tb, 100);
  EXPECT_DOUBLE_EQ(k.nvme_gbytes_per_s, 10);
  EXPECT_DOUBLE_EQ(k.nvme_capacity_tb, 15);
  EXPECT_DOUBLE_EQ(k.host_memory_gb, 1024);
  EXPECT_DOUBLE_EQ(k.host_gbytes_per_s, 20);
  EXPECT_EQ(k.replicas, 3);
  EXPECT_DOUBLE_EQ(k.peer_interference, 0.5);
  EXPECT_DOUBLE_EQ(k.backup_interval_s, 7200);
  EXPECT_EQ(k.keep, 3);
  EXPECT_DOUBLE_EQ(r.days, 3);
  EXPECT_DOUBLE_EQ(r.tokens, 5e10);
  EXPECT_EQ(r.runs, 50);
  EXPECT_EQ(r.seed, 42u);

  // The parsed values drive the rates: 2 x (faulty_gpu 0.001 x 64 + cosmic_ray 0.05 x 8 +
  // software 0.5 + the other defaults) + 2 lemons x 4 x h, h = per-node hardware per day.
  const JobFailureRates jr = job_failure_rates(s);
  double per_day = 0, hw_node = 0;
  for (const auto& c : r.causes) {
    const double units = c.scope == FailureScope::kGpu ? 64 : c.scope == FailureScope::kNode ? 8 : 1;
    per_day += 2 * c.rate_per_day * units;
    if (c.replaces_node && !c.planned && c.scope != FailureScope::kJob) hw_node += 2 * c.rate_per_day * units / 8;
  }
  EXPECT_EQ(jr.lemons, 2);
  EXPECT_EQ(jr.spare_nodes, 3);
  EXPECT_NEAR(jr.node_hardware_per_s * kDaySec, hw_node, 1e-12);
  EXPECT_NEAR(jr.total_per_s * kDaySec, per_day + 2 * 4 * hw_node, 1e-12);

  // "optimal" is accepted for the interval.
  EXPECT_EQ(scenario("{checkpoint: {interval_s: optimal}}").reliability.checkpoint.interval_s, 0);
  // Without a reliability block every default is there (the causes through failure_causes:
  // the scenario keeps the list empty so that copies stay cheap for the planner).
  const Scenario d = scenario("");
  EXPECT_TRUE(d.reliability.causes.empty());
  EXPECT_EQ(failure_causes(d.reliability).size(), 20u);
  EXPECT_EQ(d.reliability.runs, 1000);
  EXPECT_EQ(d.reliability.spare_nodes, -1);
}

// The JSON's resolved inputs carry every checkpoint capacity and bandwidth, defaults written out:
// local NVMe 8 drives x 3.5 GB/s = 28 GB/s and 30.72 TB per node, 2,048 GB of host memory
// (docs/model.md §16.6); given values are echoed.
TEST(ReliabilityReport, ResolvedCheckpointInputsInTheJson) {
  const Scenario d = scenario("{days: 1, runs: 2}");
  const Json jd = reliability_to_json(d, simulate(d))["reliability"]["checkpoint"];
  EXPECT_DOUBLE_EQ(jd.at("nvme_gbytes_per_s").get<double>(), 28);
  EXPECT_DOUBLE_EQ(jd.at("nvme_capacity_tb").get<double>(), 30.72);
  EXPECT_DOUBLE_EQ(jd.at("host_memory_gb").get<double>(), 2048);
  const Scenario g = scenario("{days: 1, runs: 2, checkpoint: {nvme_gbytes_per_s: 10, nvme_capacity_tb: 15, host_memory_gb: 1024}}");
  const Json jg = reliability_to_json(g, simulate(g))["reliability"]["checkpoint"];
  EXPECT_DOUBLE_EQ(jg.at("nvme_gbytes_per_s").get<double>(), 10);
  EXPECT_DOUBLE_EQ(jg.at("nvme_capacity_tb").get<double>(), 15);
  EXPECT_DOUBLE_EQ(jg.at("host_memory_gb").get<double>(), 1024);
}

// `rates` overrides a cause's rate by name, including a cause added in `causes` of the same block
// (causes are applied first, whatever the order in the file).
TEST(ReliabilityConfig, RatesCanNameACustomCause) {
  const Scenario s = scenario("{causes: [{name: cosmic_ray, scope: node, rate_per_day: 0.05}], rates: {cosmic_ray: 0.1}}");
  EXPECT_DOUBLE_EQ(s.reliability.causes.back().rate_per_day, 0.1);
}

TEST(ReliabilityConfig, BadInputNamesTheField) {
  {
    const InputError err = input_error([] { scenario("{rates: {gpu: 1}}"); });
    EXPECT_EQ(err.field(), "reliability.rates.gpu") << err.what();
    EXPECT_TRUE(contains(err.what(), "closest")) << err.what();
    EXPECT_TRUE(contains(err.what(), "faulty_gpu")) << err.what();
  }
  {
    const InputError err = input_error([] { scenario("{rates: {faulty_gpu: -1}}"); });
    EXPECT_EQ(err.field(), "reliability.rates.faulty_gpu") << err.what();
  }
  {
    const InputError err = input_error([] { scenario("{rate_scale: -1}"); });
    EXPECT_EQ(err.field(), "reliability.rate_scale") << err.what();
  }
  {
    const InputError err = input_error([] { scenario("{causes: [{name: x, rate_per_day: -0.1}]}"); });
    EXPECT_EQ(err.field(), "reliability.causes[0].rate_per_day") << err.what();
  }
  {
    const InputError err = input_error([] { scenario("{causes: [{name: x, scope: rack, rate_per_day: 1}]}"); });
    EXPECT_EQ(err.field(), "reliability.causes[0].scope") << err.what();
  }
  {
    // No tier is close to "tape": the four are listed.
    const InputError err = input_error([] { scenario("{checkpoint: {tier: tape}}"); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.tier") << err.what();
    EXPECT_TRUE(contains(err.what(), "(one of: storage, nvme, cpu, peer)")) << err.what();
  }
  {
    const InputError err = input_error([] { scenario("{distribution: gamma}"); });
    EXPECT_EQ(err.field(), "reliability.distribution") << err.what();
  }
  {
    const InputError err = input_error([] { scenario("{runz: 5}"); });
    EXPECT_EQ(err.field(), "reliability.runz") << err.what();
    EXPECT_TRUE(contains(err.what(), "runs")) << err.what();
  }
  {
    const InputError err = input_error([] { scenario("{checkpoint: {replicas: 1}}"); });
    EXPECT_EQ(err.field(), "reliability.checkpoint.replicas") << err.what();
  }
}

}  // namespace
}  // namespace wanka
