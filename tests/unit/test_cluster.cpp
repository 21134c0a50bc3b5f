// Cluster scheduling simulator: hand-derived examples per policy, placement and failure
// mechanics, trace parsing errors, and property tests of the invariants.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "wanka/cluster.hpp"
#include "wanka/error.hpp"

namespace wanka::cluster {
namespace {

const std::string kTraces = std::string(WANKA_SOURCE_DIR) + "/../shared/data/traces";

Workload csv(const std::string& body) {
  return parse_trace("id,submit_s,gpus,duration_s,vc\n" + body, TraceFormat::kCsv, "t.csv");
}

ClusterSpec cluster(int nodes, int gpus_per_node, int nodes_per_rack = 0) {
  ClusterSpec c;
  c.pools.push_back(GpuPool{"v100", nodes, gpus_per_node, 1.0});
  c.nodes_per_rack = nodes_per_rack;
  return c;
}

PolicyResult run(const std::string& policy, const Workload& w, const ClusterSpec& c, SimOptions o = {}) {
  const auto p = make_policy(policy, o, w, c);
  return simulate(w, c, *p, o);
}

// One GPU, three jobs at t = 0 in the order A (10 s), B (4 s), C (1 s).
// FIFO: A 0-10, B 10-14, C 14-15: JCT 10, 14, 15 (mean 13); queue 0, 10, 14 (mean 8).
// SJF:  C 0-1, B 1-5, A 5-15:   JCT 1, 5, 15 (mean 7);    queue 0, 1, 5 (mean 2).
TEST(Cluster, FifoVersusSjfByHand) {
  const Workload w = csv("A,0,1,10,\nB,0,1,4,\nC,0,1,1,\n");
  const auto c = cluster(1, 1);
  const auto f = run("fifo", w, c), s = run("sjf", w, c);
  EXPECT_DOUBLE_EQ(f.avg_jct_s, 13.0);
  EXPECT_DOUBLE_EQ(f.avg_queue_s, 8.0);
  EXPECT_DOUBLE_EQ(f.makespan_s, 15.0);
  EXPECT_DOUBLE_EQ(s.avg_jct_s, 7.0);
  EXPECT_DOUBLE_EQ(s.avg_queue_s, 2.0);
  EXPECT_DOUBLE_EQ(f.utilization, 1.0);
  // p50 (nearest rank 2 of 3) and p99 (rank 3).
  EXPECT_DOUBLE_EQ(f.p50_jct_s, 14.0);
  EXPECT_DOUBLE_EQ(f.p99_jct_s, 15.0);
}

// Rounds of 1,000 s on one GPU: A (10 s) at 0 starts at the first pass (t = 0) and ends at 10;
// B (10 s) arrives at 5 and waits for the pass at 1,000, ending at 1,010. The GPU is busy 20 of
// 1,010 s, and idle while B waits from 10 to 1,000: utilization 20/1010, fragmentation
// 990/1010 (the GPU is freed when A ends, not at the next round).
TEST(Cluster, RoundsFreeGpusWhenJobsEndNotAtTheBoundary) {
  const Workload w = csv("A,0,1,10,\nB,5,1,10,\n");
  SimOptions o;
  o.round_s = 1000;
  o.series_points = 101;
  const auto r = run("fifo", w, cluster(1, 1), o);
  EXPECT_DOUBLE_EQ(r.makespan_s, 1010.0);
  EXPECT_NEAR(r.utilization, 20.0 / 1010.0, 1e-12);
  EXPECT_NEAR(r.fragmentation, 990.0 / 1010.0, 1e-12);
  // Buckets of 10 s: [0, 10) busy, B waiting from 5; [500, 510) idle with B waiting.
  EXPECT_NEAR(r.series[0].busy_gpus, 1.0, 1e-9);
  EXPECT_NEAR(r.series[0].waiting_jobs, 0.5, 1e-9);
  EXPECT_NEAR(r.series[50].busy_gpus, 0.0, 1e-9);
  EXPECT_NEAR(r.series[50].waiting_jobs, 1.0, 1e-9);
  EXPECT_NEAR(r.series[50].idle_gpus_while_waiting, 1.0, 1e-9);
}

// SRTF on one GPU, restart cost 1 s: A (10 s) at 0, B (2 s) at 3. At 3 A has 7 s left > 2, so
// B preempts it and runs 3-5 (a first start costs nothing). A restarts at 5, is productive
// from 6 and needs its 7 s: done at 13. JCT A 13, B 2.
TEST(Cluster, SrtfPreemptsWithRestartCost) {
  const Workload w = csv("A,0,1,10,\nB,3,1,2,\n");
  SimOptions o;
  o.restart_s = 1;
  const auto r = run("srtf", w, cluster(1, 1), o);
  EXPECT_DOUBLE_EQ(r.jct_s[0], 13.0);
  EXPECT_DOUBLE_EQ(r.jct_s[1], 2.0);
  EXPECT_EQ(r.preemptions, 1u);
}

// A backlog makes a replay quadratic, so the jobs it goes over in its lists are bounded
// (SimOptions::max_scanned_jobs). Five 1-GPU jobs at t = 0 on one GPU: a replay that goes over
// N jobs stops with an error naming --trace under a bound of N - 1 and runs under N. fifo is
// charged its list updates only (before a pass the running list; after one that started a job
// both lists): t = 0, 0 then 0 + 5 (A starts); at each of A-D's completions 1 (the finished job)
// then 0 + 4, 3, 2, 1 (the next starts); at E's, 1 then 0: 20 in all. srtf is also charged the
// lists it asks for, so more.
TEST(Cluster, ReplaysGoOverBoundedListsOfJobs) {
  const Workload w = csv("A,0,1,5,\nB,0,1,4,\nC,0,1,3,\nD,0,1,2,\nE,0,1,1,\n");
  const double n_srtf = run("srtf", w, cluster(1, 1)).scanned_jobs, n_fifo = run("fifo", w, cluster(1, 1)).scanned_jobs;
  EXPECT_EQ(n_fifo, 20.0);
  EXPECT_GT(n_srtf, n_fifo);
  for (const auto& [policy, n] : {std::pair<std::string, double>{"srtf", n_srtf}, {"fifo", n_fifo}}) {
    SimOptions o;
    o.max_scanned_jobs = n - 1;
    try {
      run(policy, w, cluster(1, 1), o);
      ADD_FAILURE() << policy << ": expected the bound";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--trace: the " + policy + " policy's passes would go over more than"), std::string::npos)
          << e.what();
    }
    o.max_scanned_jobs = n;
    EXPECT_EQ(run(policy, w, cluster(1, 1), o).jct_s.size(), 5u) << policy;
  }
}

// Comparing policies reports the error of the first failing policy in list order, whatever the
// threads: a failure cancels only the policies after it. fifo goes over 20 jobs here and srtf
// more, so a bound of 19 stops both (fifo reported when listed first) and a bound of 20 srtf.
TEST(Cluster, ComparedPoliciesReportTheFirstFailureInListOrder) {
  const Workload w = csv("A,0,1,5,\nB,0,1,4,\nC,0,1,3,\nD,0,1,2,\nE,0,1,1,\n");
  const auto first_error = [&](const std::vector<std::string>& names, double bound, int threads) -> std::string {
    SimOptions o;
    o.max_scanned_jobs = bound;
    try {
      compare(w, cluster(1, 1), names, o, threads);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  for (int threads : {1, 2}) {
    for (const auto& [names, bound, failing] :
         {std::tuple<std::vector<std::string>, double, std::string>{{"fifo", "srtf"}, 19, "fifo"},
          {{"srtf", "fifo"}, 19, "srtf"},
          {{"fifo", "srtf"}, 20, "srtf"},
          {{"fifo", "srtf", "fifo"}, 20, "srtf"}}) {
      EXPECT_NE(first_error(names, bound, threads).find("the " + failing + " policy's passes"), std::string::npos)
          << names.front() << " first, bound " << bound << ", " << threads << " threads";
    }
    EXPECT_EQ(first_error({"fifo", "fifo"}, 20, threads), "");
  }
}

// 4 GPUs; at t = 0 in order: A 2 GPUs 10 s, B 4 GPUs 5 s, C 2 GPUs 8 s, D 2 GPUs 20 s.
// FIFO: A 0-10; B blocks until 10 (10-15); C 15-23 and D 15-35: JCT 10, 15, 23, 35, mean 20.75.
// EASY: B's reservation is at 10 (A's end) with no spare GPU; C ends at 8 <= 10 and backfills
// (0-8); D would end at 20 > 10 and may not. B 10-15, D 15-35: JCT 10, 15, 8, 35, mean 17.
TEST(Cluster, EasyBackfillsOnlyBeforeTheReservation) {
  const Workload w = csv("A,0,2,10,\nB,0,4,5,\nC,0,2,8,\nD,0,2,20,\n");
  const auto c = cluster(1, 4);
  EXPECT_DOUBLE_EQ(run("fifo", w, c).avg_jct_s, 20.75);
  const auto e = run("easy", w, c);
  EXPECT_DOUBLE_EQ(e.avg_jct_s, 17.0);
  EXPECT_DOUBLE_EQ(e.jct_s[2], 8.0);
}

// Tiresias 2D-LAS, one GPU, one threshold at 5 GPU-s, no restart cost: A (10 s) at 0, B (3 s)
// at 1. At 1 both are in queue 0 and A arrived first, so A keeps running; at 5 A's attained
// service reaches 5 and it drops to queue 1: B runs 5-8, A resumes 8-13. JCT A 13, B 7.
TEST(Cluster, TiresiasDemotesAtTheThreshold) {
  const Workload w = csv("A,0,1,10,\nB,1,1,3,\n");
  SimOptions o;
  o.restart_s = 0;
  o.las_thresholds_gpu_s = {5};
  const auto r = run("tiresias", w, cluster(1, 1), o);
  EXPECT_DOUBLE_EQ(r.jct_s[0], 13.0);
  EXPECT_DOUBLE_EQ(r.jct_s[1], 7.0);
  EXPECT_EQ(r.preemptions, 1u);
}

// Quota: one GPU, VC x guaranteed 1, VC y 0. y's job (10 s) borrows the idle GPU at 0; x's job
// (3 s) arrives at 2 and takes it back: x runs 2-5, y resumes at 5 with 8 s left: done at 13.
TEST(Cluster, QuotaReclaimsBorrowedGpus) {
  const Workload w = csv("Y,0,1,10,y\nX,2,1,3,x\n");
  SimOptions o;
  o.restart_s = 0;
  o.quota_gpus = {{"x", 1}, {"y", 0}};
  const auto r = run("quota", w, cluster(1, 1), o);
  EXPECT_DOUBLE_EQ(r.jct_s[0], 13.0);
  EXPECT_DOUBLE_EQ(r.jct_s[1], 3.0);
}

// quota-strict: two GPUs, VC x guaranteed 1, VC y guaranteed 1. x1 (10 s), x2 (5 s) and y (2
// GPUs, 4 s) arrive at 0 in that order. x1 starts; x2 would put x over its quota and waits
// although a GPU is idle; y is larger than its quota but its VC runs nothing, so it may run, yet
// needs 2 GPUs. At 10 x1 ends: x2 (earlier in arrival order) takes one GPU, 10-15; y gets both at
// 15, 15-19. JCT 10, 15, 19. With borrowing (quota) x2 runs at once: JCT 5.
TEST(Cluster, QuotaStrictDoesNotBorrow) {
  const Workload w = csv("x1,0,1,10,x\nx2,0,1,5,x\ny,0,2,4,y\n");
  SimOptions o;
  o.quota_gpus = {{"x", 1}, {"y", 1}};
  const auto r = run("quota-strict", w, cluster(1, 2), o);
  EXPECT_DOUBLE_EQ(r.jct_s[0], 10.0);
  EXPECT_DOUBLE_EQ(r.jct_s[1], 15.0);
  EXPECT_DOUBLE_EQ(r.jct_s[2], 19.0);
  EXPECT_DOUBLE_EQ(run("quota", w, cluster(1, 2), o).jct_s[1], 5.0);
}

// Strict placement keeps a 2-GPU job on one node: with 3-GPU jobs on both 4-GPU nodes, the two
// free GPUs sit on different nodes and C waits for A (10 s); consolidate lets it span them.
TEST(Cluster, StrictPlacementWaitsForOneNode) {
  const Workload w = csv("A,0,3,10,\nB,0,3,20,\nC,0,2,5,\n");
  auto c = cluster(2, 4);
  c.placement = Placement::kStrict;
  EXPECT_DOUBLE_EQ(run("fifo", w, c).queue_s[2], 10.0);
  c.placement = Placement::kConsolidate;
  EXPECT_DOUBLE_EQ(run("fifo", w, c).queue_s[2], 0.0);
}

// An 8-GPU job on two racks of one 4-GPU node each runs 1.5x longer with a 1.5 cross-rack
// slowdown: 10 s -> 15 s. On one rack of two nodes the cross-node factor (1.2) applies: 12 s.
TEST(Cluster, CrossRackSlowdown) {
  const Workload w = csv("A,0,8,10,\n");
  auto c = cluster(2, 4, 1);
  c.cross_node_slowdown = 1.2;
  c.cross_rack_slowdown = 1.5;
  EXPECT_DOUBLE_EQ(run("fifo", w, c).jct_s[0], 15.0);
  c.nodes_per_rack = 2;
  EXPECT_DOUBLE_EQ(run("fifo", w, c).jct_s[0], 12.0);
}

// A per-size factor (as the estimator fills in) overrides the scalar: the 8-GPU job across two
// racks with 2.5 for size 8 takes 25 s.
TEST(Cluster, CrossRackSlowdownBySize) {
  const Workload w = csv("A,0,8,10,\n");
  auto c = cluster(2, 4, 1);
  c.cross_rack_slowdown = 1.5;
  c.cross_rack_slowdown_by_gpus = {{8, 2.5}};
  EXPECT_DOUBLE_EQ(run("fifo", w, c).jct_s[0], 25.0);
}

// From the training estimator: no taper, no slowdown (the two step times are the same
// scenario); with a 4:1 taper every multi-GPU size slows down (data-parallel gpt-1.7b on V100
// exposes part of its all-reduce), and 1-GPU jobs get no entry.
TEST(Cluster, RackSlowdownFromTheEstimator) {
  const Workload w = csv("A,0,1,10,\nB,0,8,10,\nC,0,32,10,\n");
  const auto c = cluster(8, 4);
  for (const auto& [g, f] : estimated_rack_slowdowns(w, c, "gpt-1.7b", 1.0)) EXPECT_DOUBLE_EQ(f, 1.0) << g;
  const auto s = estimated_rack_slowdowns(w, c, "gpt-1.7b", 4.0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_GT(s.at(8), 1.0);
  EXPECT_GT(s.at(32), 1.0);
  EXPECT_THROW(estimated_rack_slowdowns(w, c, "gpt-1.7", 4.0), InputError);  // unknown model
  EXPECT_THROW(estimated_rack_slowdowns(w, c, "gpt-1.7b", 0.5), InputError);
}

// Two pools of one GPU, speeds 1 and 2: a type-agnostic FIFO takes the first pool (10 s); the
// heterogeneity-aware policy puts the job on the faster type (5 s). A job's own speed column
// overrides the pool's: speed_fast = 4 makes it 2.5 s.
TEST(Cluster, HeteroPicksTheFasterType) {
  ClusterSpec c;
  c.pools = {GpuPool{"slow", 1, 1, 1.0}, GpuPool{"fast", 1, 1, 2.0}};
  const Workload w = csv("A,0,1,10,\n");
  EXPECT_DOUBLE_EQ(run("fifo", w, c).jct_s[0], 10.0);
  EXPECT_DOUBLE_EQ(run("hetero", w, c).jct_s[0], 5.0);
  const Workload w2 = parse_trace("id,submit_s,gpus,duration_s,speed_fast\nA,0,1,10,4\n", TraceFormat::kCsv, "t.csv");
  EXPECT_DOUBLE_EQ(run("hetero", w2, c).jct_s[0], 2.5);
}

// Migration (hetero): pools "slow" (speed 1) and "fast" (speed 2), one GPU each. B (10 s of work)
// and A (100 s) arrive at 0: B takes the fast GPU (ends at 5), A starts on the slow one. At 5, A
// has 95 s of work left: staying costs 95 s; moving costs restart 30 + 95 / 2 = 77.5 s, so it
// moves and ends at 5 + 77.5 = 82.5. With a 60 s restart moving would cost 107.5 s > 95 s: A stays
// and ends at 100.
TEST(Cluster, HeteroMigratesToAFasterTypeWhenItPaysForTheRestart) {
  ClusterSpec c;
  c.pools = {GpuPool{"slow", 1, 1, 1.0}, GpuPool{"fast", 1, 1, 2.0}};
  const Workload w = csv("B,0,1,10,\nA,0,1,100,\n");
  SimOptions o;
  o.restart_s = 30;
  const auto moved = run("hetero", w, c, o);
  EXPECT_DOUBLE_EQ(moved.jct_s[0], 5.0);
  EXPECT_DOUBLE_EQ(moved.jct_s[1], 82.5);
  o.restart_s = 60;
  const auto stayed = run("hetero", w, c, o);
  EXPECT_DOUBLE_EQ(stayed.jct_s[1], 100.0);
}

TEST(Cluster, OversizeJobsAreSkippedOrRefused) {
  const Workload w = csv("A,0,1,10,\nB,0,16,10,\n");
  const auto r = run("fifo", w, cluster(1, 8));
  EXPECT_EQ(r.skipped_jobs, 1u);
  EXPECT_EQ(r.jobs, 1u);
  SimOptions o;
  o.oversize = Oversize::kRefuse;
  EXPECT_THROW(run("fifo", w, cluster(1, 8), o), InputError);
}

TEST(Cluster, BadInputNamesTheLineAndField) {
  try {
    csv("A,0,1,10,\nB,0,1,-5,\n");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t.csv:3: duration_s: -5 is negative"), std::string::npos) << e.what();
  }
  EXPECT_THROW(csv("A,0,0,10,\n"), InputError);         // zero GPUs
  EXPECT_THROW(csv("A,0,1,ten,\n"), InputError);        // not a number
  EXPECT_THROW(csv("A,0,1\n"), InputError);             // missing field
  EXPECT_THROW(parse_trace("id,gpus\n", TraceFormat::kCsv, "t.csv"), InputError);  // missing column
  try {
    make_policy("tiresia", SimOptions{}, Workload{}, cluster(1, 1));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("closest: tiresias"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_pools("v100:4"), InputError);
  EXPECT_EQ(parse_pools("v100:16x4,a100-80g:8x8:2.5").size(), 2u);
}

// A job interrupted by a node failure goes straight back to waiting and restarts on the other
// node after its restart cost, not at the next unrelated event. One 5,000-s job on two one-GPU
// nodes, repairs of 10^6 s, failure rates x 2,000 (~1 per 15,000 s per node, so some of the 40
// seeds fail the job's node, none fails both in 5,000 s in practice). Bound: duration + failures
// x restart_s; a job left waiting would wait for the next failure or the repair, ~10^4-10^6 s.
TEST(Cluster, InterruptedJobRestartsAtOnce) {
  const Workload w = csv("A,0,1,5000,\n");
  SimOptions o;
  o.failures = FailureMode::kInterrupt;
  o.failure_rate_scale = 2000;
  o.repair_s = 1e6;
  int hit = 0;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    o.seed = seed;
    const auto r = run("fifo", w, cluster(2, 1), o);
    if (r.jct_s[0] > 5000) ++hit;
    EXPECT_LE(r.jct_s[0], 5000 + static_cast<double>(r.failures) * o.restart_s + 1e-6) << "seed " << seed;
  }
  EXPECT_GT(hit, 0);  // the case under test happened
}

Workload random_workload(std::uint64_t seed, int jobs, int max_gpus) {
  Workload fit = csv("a,0,1,100,v\nb,50,2,1000,w\n");
  for (int i = 1; i < max_gpus; i *= 2) fit.jobs.push_back(Job{"x", 100.0 + i, i * 2, 30.0 * i, "v", "", {}, {}, 0});
  return synthesize(fit, static_cast<std::size_t>(jobs), seed);
}

// Node failures: every job still completes, failures happen, and the same seed gives the same
// numbers (the seed drives the failure times and nodes).
TEST(Cluster, FailuresInterruptAndTheRunIsDeterministic) {
  const Workload w = random_workload(3, 300, 8);
  SimOptions o;
  o.failures = FailureMode::kInterrupt;
  o.failure_rate_scale = 2000;  // Llama 3 rates x 2000: a failure every ~15 min on 64 GPUs
  o.repair_s = 600;
  const auto c = cluster(8, 8);
  for (const auto& p : policy_names()) {
    const auto a = run(p, w, c, o), b = run(p, w, c, o);
    EXPECT_EQ(a.jobs, w.jobs.size()) << p;
    EXPECT_GT(a.failures, 0u) << p;
    EXPECT_EQ(a.avg_jct_s, b.avg_jct_s) << p;
    EXPECT_EQ(a.failures, b.failures) << p;
  }
  o.failures = FailureMode::kKill;
  EXPECT_EQ(run("fifo", w, c, o).jobs, w.jobs.size());
}

// Invariants on random workloads and clusters, for every policy and placement: every job
// completes; GPUs held never exceed the cluster (series and utilization <= 1); queueing >= 0;
// without slowdowns a job's JCT is at least its duration.
RC_GTEST_PROP(ClusterProps, Invariants, ()) {
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1000000);
  const int nodes = *rc::gen::inRange(1, 6);
  const int gpn = *rc::gen::element(1, 2, 4, 8);
  const auto placement = *rc::gen::element(Placement::kConsolidate, Placement::kSpread, Placement::kStrict);
  const Workload w = random_workload(seed, *rc::gen::inRange(1, 80), nodes * gpn);
  auto c = cluster(nodes, gpn, *rc::gen::inRange(0, 3));
  c.placement = placement;
  for (const auto& p : policy_names()) {
    const auto r = run(p, w, c);
    RC_ASSERT(r.jobs + r.skipped_jobs == w.jobs.size());
    RC_ASSERT(r.utilization <= 1.0 + 1e-9);
    for (const auto& s : r.series) RC_ASSERT(s.busy_gpus <= static_cast<double>(c.total_gpus()) + 1e-6);
    for (std::size_t j = 0; j < w.jobs.size(); ++j) {
      if (std::isnan(r.jct_s[j])) continue;
      RC_ASSERT(r.queue_s[j] >= 0.0);
      RC_ASSERT(r.jct_s[j] >= w.jobs[j].duration_s - 1e-6);
    }
  }
}

// With a cluster larger than the sum of all jobs, FIFO never queues: every JCT is the duration.
RC_GTEST_PROP(ClusterProps, InfiniteClusterFifoHasNoQueue, ()) {
  const Workload w = random_workload(*rc::gen::inRange<std::uint64_t>(1, 1000000), *rc::gen::inRange(1, 60), 8);
  long total = 0;
  for (const auto& j : w.jobs) total += j.gpus;
  const auto r = run("fifo", w, cluster(static_cast<int>(total), 1));
  RC_ASSERT(r.avg_queue_s == 0.0);
  for (std::size_t j = 0; j < w.jobs.size(); ++j) RC_ASSERT(std::abs(r.jct_s[j] - w.jobs[j].duration_s) < 1e-6);
}

TEST(Cluster, JsonIsByteIdentical) {
  const Workload w = random_workload(5, 100, 8);
  const auto c = cluster(4, 4);
  const SimOptions o;
  const auto a = compare(w, c, policy_names(), o, 2), b = compare(w, c, policy_names(), o, 1);
  const RunInfo info{"x", "csv", w.jobs.size()};
  EXPECT_EQ(results_json(info, c, o, a, false), results_json(info, c, o, b, false));
  EXPECT_NE(results_json(info, c, o, a, false).find("\"p99_jct_s\""), std::string::npos);
}

// Pollux durations and placement speeds from a hand-made profile: app "toy", validation-64 ends
// at 100 iterations.
// 4 replicas, batch 64: local 16 on placement "4", between the profiled 8 (1.0 s) and 24 (3.0 s):
// 2.0 s per step, 200 s. 1 replica, batch 64: local 64 > the largest profiled 32, so 2 micro-steps
// of 32 (placement "1": step 4.0 s, sync 1.0 s): 4 + (4 - 1) = 7 s per step, 700 s.
TEST(ClusterTraces, PolluxDurationFromProfiles) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "wanka_pollux_profile_test";
  fs::create_directories(dir / "toy");
  auto put = [&](const std::string& name, const std::string& text) { std::ofstream(dir / "toy" / name) << text; };
  put("placements.csv",
      "placement,local_bsz,step_time,sync_time\n4,8,1.0,0.5\n4,24,3.0,0.5\n1,32,4.0,1.0\n1,8,1.0,1.0\n"
      "22,8,2.0,1.0\n22,24,6.0,1.0\n");
  put("scalability.csv", "num_nodes,num_replicas,local_bsz,step_time,sync_time\n");
  put("validation-64.csv", "progress,iteration,metric,grad_sqr,grad_var\n50,50,0,0,0\n100,100,0,0,0\n");
  const auto w = parse_trace("name,time,application,num_replicas,batch_size\na,0,toy,4,64\nb,5,toy,1,64\n",
                             TraceFormat::kPollux, "p.csv", dir.string());
  EXPECT_DOUBLE_EQ(w.jobs[0].duration_s, 200.0);
  EXPECT_DOUBLE_EQ(w.jobs[1].duration_s, 700.0);
  // Placement "22" steps in 4.0 s at local batch 16, half the speed of "4": spread over two
  // nodes (2 + 2 GPUs) job a takes 400 s; consolidated on one node, 200 s.
  EXPECT_DOUBLE_EQ(w.jobs[0].placement_speed.at("22"), 0.5);
  auto c = cluster(2, 4);
  c.placement = Placement::kSpread;
  EXPECT_DOUBLE_EQ(run("fifo", w, c).jct_s[0], 400.0);
  c.placement = Placement::kConsolidate;
  EXPECT_DOUBLE_EQ(run("fifo", w, c).jct_s[0], 200.0);
  EXPECT_THROW(parse_trace("name,time,application,num_replicas,batch_size\na,0,toy,4,128\n", TraceFormat::kPollux,
                           "p.csv", dir.string()),
               InputError);  // no validation-128.csv
  fs::remove_all(dir);
}

// The synthetic generator reproduces what it fits: the arrival rate ((n-1)/span), GPU counts
// from the trace's set, and per GPU count a log-normal with the trace's median and mean.
// Trace: 1-GPU jobs of 100, 200 and 900 s (median 200, mean 400: sigma^2 = 2 ln 2) and 4-GPU
// jobs of 1000 s (sigma 0), 5 arrivals over 40 s (rate 0.1/s). 20,000 draws: the sample rate
// within 3 %, the 1-GPU sample median within 5 % and mean within 10 % (sd of a log-normal with
// sigma^2 = 2 ln 2 is sqrt(3) x its mean, so ~13,000 draws give a standard error of 1.5 %).
TEST(Cluster, SyntheticMatchesItsFit) {
  const Workload fit = csv("a,0,1,100,\nb,10,1,200,\nc,20,1,900,\nd,30,4,1000,\ne,40,4,1000,\n");
  const Workload w = synthesize(fit, 20000, 7);
  ASSERT_EQ(w.jobs.size(), 20000u);
  EXPECT_NEAR(19999 / w.jobs.back().submit_s, 0.1, 0.003);
  std::vector<double> one, four;
  for (const auto& j : w.jobs) {
    ASSERT_TRUE(j.gpus == 1 || j.gpus == 4);
    (j.gpus == 1 ? one : four).push_back(j.duration_s);
  }
  std::sort(one.begin(), one.end());
  std::sort(four.begin(), four.end());
  EXPECT_NEAR(one[one.size() / 2], 200, 10);
  double sum = 0;
  for (double d : one) sum += d;
  EXPECT_NEAR(sum / static_cast<double>(one.size()), 400, 40);
  EXPECT_NEAR(four[four.size() / 2], 1000, 1e-6);  // zero spread: every draw is 1000 s
  EXPECT_NEAR(static_cast<double>(one.size()) / 20000, 0.6, 0.02);
  // Same seed, same workload.
  EXPECT_EQ(synthesize(fit, 100, 7).jobs.back().submit_s, synthesize(fit, 100, 7).jobs.back().submit_s);
}

// The real traces in ../shared (present in CI): they parse, with the documented job counts.
TEST(ClusterTraces, RealTracesParse) {
  if (!std::filesystem::exists(kTraces)) GTEST_SKIP() << "no " << kTraces;
  const auto philly = read_trace(kTraces + "/philly-pollux/philly.csv", TraceFormat::kPhilly);
  EXPECT_EQ(philly.jobs.size(), 82247u);
  double gpu_h = 0;
  for (const auto& j : philly.jobs) gpu_h += j.gpus * j.duration_s / 3600;
  EXPECT_NEAR(gpu_h, 978078, 1);  // the README's total
  const auto t = read_trace(kTraces + "/tiresias-sample/60_job.csv", TraceFormat::kTiresias);
  EXPECT_EQ(t.jobs.size(), 60u);
  const auto p = read_trace(kTraces + "/pollux-workloads/workloads/workload-1.csv", TraceFormat::kPollux);
  ASSERT_EQ(p.jobs.size(), 160u);
  for (const auto& j : p.jobs) EXPECT_GT(j.duration_s, 0) << j.id;
}

}  // namespace
}  // namespace wanka::cluster
