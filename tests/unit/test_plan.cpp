// The planner (include/wanka/plan.hpp): pruning never changes the answer, results do not depend
// on the thread count, the bounds are bounds, pins are honoured, and the reverse solve and the
// smallest-fitting search return sizes that do what they claim.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <set>

#include "train/step_model.hpp"
#include "wanka/error.hpp"
#include "wanka/estimate.hpp"
#include "wanka/plan.hpp"
#include "wanka/report.hpp"
#include "wanka/scenario.hpp"

namespace wanka {
namespace {

const std::string kSrc = WANKA_SOURCE_DIR;

Scenario base(const std::string& yaml) {
  ScenarioDraft d = parse_scenario_draft(yaml, "<test>");
  return d.scenario;
}

// Llama-3-8B on 64 H100: a space small enough to search exhaustively in a test.
Scenario small() {
  return base("model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 64}\n"
              "training: {seq_len: 4096, global_batch: 256, tokens: 1e12}\n");
}

std::string json_of(const Scenario& s, const PlanResult& r) { return plan_to_json(s, r, false).dump(); }

// The planner's memory screen and the estimator agree for ZeRO-3 without resharding after
// forward (whole weights held): every listed plan fits by its own estimate, and the JSON of a
// plan with ZeRO < 3 carries reshard_after_forward true, a block `wanka estimate` accepts.
TEST(Plan, ListedPlansFitWithoutReshardAfterForward) {
  Scenario s = small();
  s.parallel.reshard_after_forward = false;
  PlanOptions o;
  o.threads = 2;
  const PlanResult r = plan(s, o);
  ASSERT_FALSE(r.plans.empty());
  for (const auto& e : r.plans) {
    EXPECT_TRUE(e.estimate.memory.fits);
    if (e.scenario.parallel.zero != 3) {
      EXPECT_TRUE(scenario_to_json(e.scenario)["parallel"]["reshard_after_forward"].get<bool>());
    }
  }
  o.space.zero.only = {3};
  const PlanResult z3 = plan(s, o);
  ASSERT_FALSE(z3.plans.empty());
  for (const auto& e : z3.plans) {
    EXPECT_TRUE(e.estimate.memory.fits);
    EXPECT_FALSE(e.scenario.parallel.reshard_after_forward);
  }
}

// The pruned search (`pruned`) and the exhaustive one list the same plans and the same front;
// returns the pruned search's simulated count over the exhaustive one's.
double expect_pruning_keeps_the_answer(const Scenario& s, const PlanOptions& pruned) {
  PlanOptions full = pruned;
  full.exhaustive = true;
  const PlanResult a = plan(s, pruned), b = plan(s, full);
  EXPECT_EQ(b.evaluated, b.fitting);  // exhaustive simulates every fitting split
  EXPECT_LT(a.evaluated, b.evaluated);
  EXPECT_EQ(a.plans.size(), b.plans.size());
  for (std::size_t i = 0; i < a.plans.size() && i < b.plans.size(); ++i) {
    EXPECT_EQ(plan_entry_to_json(a.plans[i]).dump(), plan_entry_to_json(b.plans[i]).dump()) << "rank " << i;
  }
  EXPECT_EQ(a.pareto.size(), b.pareto.size());
  for (std::size_t i = 0; i < a.pareto.size() && i < b.pareto.size(); ++i) {
    EXPECT_EQ(a.pareto[i].estimate.step_time.value, b.pareto[i].estimate.step_time.value);
    EXPECT_EQ(a.pareto[i].headroom_bytes, b.pareto[i].headroom_bytes);
  }
  return double(a.evaluated) / double(std::max<std::uint64_t>(1, b.evaluated));
}

TEST(Plan, PruningNeverChangesTheTopPlansOrTheFront) {
  PlanOptions pruned;
  pruned.threads = 2;
  pruned.space.micro_batch.only = {1, 2};  // the exhaustive run simulates every fitting split
  expect_pruning_keeps_the_answer(small(), pruned);
}

// On 96 GPUs with up to half of them idle, splits use different GPU counts (PP3 uses all 96,
// PP1 64), so a slower split can be cheaper per step (idle GPUs are not charged): the time/cost
// front has several entries, each at least 1 % cheaper than every faster split, and the pruned
// search lists the same front as the exhaustive one.
TEST(Plan, TimeCostFrontIsExactAndTradesTimeForCost) {
  const Scenario s = base("model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 96, price_per_gpu_hour_usd: 2}\n"
                          "training: {seq_len: 8192, global_batch: 512, tokens: 1e12}\n");
  PlanOptions pruned;
  pruned.threads = 2;
  pruned.max_idle_fraction = 0.5;
  pruned.space.tp.only = {1, 2};
  pruned.space.pp.only = {1, 3};
  PlanOptions full = pruned;
  full.exhaustive = true;
  const PlanResult a = plan(s, pruned), b = plan(s, full);
  EXPECT_LT(a.evaluated, b.evaluated);
  ASSERT_GT(a.cost_front.size(), 1u);
  ASSERT_EQ(a.cost_front.size(), b.cost_front.size());
  auto cost = [](const PlanEntry& e) {
    return e.estimate.step_time.value * double(e.scenario.cluster.num_gpus) * e.scenario.cluster.price_per_gpu_hour_usd / 3600;
  };
  EXPECT_EQ(a.cost_front.front().estimate.step_time.value, a.plans.front().estimate.step_time.value);
  for (std::size_t i = 0; i < a.cost_front.size(); ++i) {
    EXPECT_EQ(plan_entry_to_json(a.cost_front[i]).dump(), plan_entry_to_json(b.cost_front[i]).dump()) << "entry " << i;
    if (i > 0) {
      EXPECT_GT(a.cost_front[i].estimate.step_time.value, a.cost_front[i - 1].estimate.step_time.value);
      EXPECT_LT(cost(a.cost_front[i]), 0.99 * cost(a.cost_front[i - 1]));
      EXPECT_LT(a.cost_front[i].scenario.cluster.num_gpus, a.cost_front[i - 1].scenario.cluster.num_gpus);
    }
  }
  // With every split on all 64 GPUs the cost is proportional to the time: one entry.
  EXPECT_EQ(plan(small(), PlanOptions{}).cost_front.size(), 1u);
}

TEST(Plan, ResultDoesNotDependOnTheThreadCount) {
  const Scenario s = small();
  PlanOptions one, two, four;
  one.threads = 1;
  two.threads = 2;
  four.threads = 4;
  const std::string j1 = json_of(s, plan(s, one));
  EXPECT_EQ(j1, json_of(s, plan(s, two)));
  EXPECT_EQ(j1, json_of(s, plan(s, four)));
}

TEST(Plan, CountsAddUpAndEveryPlanFitsAndMatchesTheEstimator) {
  const Scenario s = small();
  const PlanResult r = plan(s, PlanOptions{});
  EXPECT_EQ(r.candidates, r.invalid + r.oom + r.fitting);
  EXPECT_EQ(r.fitting, r.evaluated + r.bounded);
  std::uint64_t reasons = 0;
  for (const auto& [k, v] : r.invalid_by_reason) reasons += v;
  EXPECT_EQ(reasons, r.invalid);
  ASSERT_EQ(r.plans.size(), 10u);
  for (std::size_t i = 0; i < r.plans.size(); ++i) {
    const PlanEntry& p = r.plans[i];
    EXPECT_TRUE(p.estimate.memory.fits);
    if (i > 0) {
      EXPECT_LE(r.plans[i - 1].objective, p.objective);
    }
    // A plan is exactly what `wanka estimate` says of its scenario.
    const Estimate e = estimate(p.scenario);
    EXPECT_EQ(e.step_time.value, p.estimate.step_time.value);
    EXPECT_EQ(e.memory.peak_bytes_per_gpu.value, p.estimate.memory.peak_bytes_per_gpu.value);
  }
  // The front starts at the fastest plan and trades time for headroom.
  ASSERT_FALSE(r.pareto.empty());
  EXPECT_EQ(r.pareto.front().estimate.step_time.value, r.plans.front().estimate.step_time.value);
  for (std::size_t i = 1; i < r.pareto.size(); ++i) {
    EXPECT_GE(r.pareto[i].estimate.step_time.value, r.pareto[i - 1].estimate.step_time.value);
    EXPECT_GT(r.pareto[i].headroom_bytes, r.pareto[i - 1].headroom_bytes);
  }
}

TEST(Plan, PinsAndExclusionsAreHonoured) {
  const Scenario s = small();
  PlanOptions o;
  o.space.tp.only = {2, 4};
  o.space.zero.except = {3};
  o.space.recompute.only = {Recompute::kFull};
  const PlanResult r = plan(s, o);
  ASSERT_FALSE(r.plans.empty());
  for (const auto& p : r.plans) {
    EXPECT_TRUE(p.scenario.parallel.tp == 2 || p.scenario.parallel.tp == 4);
    EXPECT_NE(p.scenario.parallel.zero, 3);
    EXPECT_EQ(p.scenario.parallel.recompute, Recompute::kFull);
  }
}

TEST(Plan, TinyPinnedSpaceIsCountedByHand) {
  // tp = pp = cp = 1 on 64 GPUs: dp = 64, 256 / 64 = 4 sequences per replica, so micro-batches
  // 1, 2, 4; no SP without TP; 4 ZeRO stages x 3 recompute modes: 3 x 4 x 3 = 36 splits.
  const Scenario s = small();
  PlanOptions o;
  o.space.tp.only = {1};
  o.space.pp.only = {1};
  o.space.cp.only = {1};
  const PlanResult r = plan(s, o);
  EXPECT_EQ(r.candidates, 36u);
  EXPECT_EQ(r.invalid, 0u);
}

// MoE models get a fourth recompute choice, selective with the memory-saving modules (norms and
// expert activations; MLA up-projections too where there is MLA), unless the scenario names its
// own modules. Mixtral on 64 H100 with tp = pp = cp = 1 (dp 64, 4 sequences per replica:
// micro-batches 1, 2, 4), EP 8, ZeRO 1: 3 micro-batches x 4 recompute choices = 12 splits; with
// modules given, 3 x 3 = 9, and every selective plan carries the given ones; naming the default
// (core_attn) also counts as given.
TEST(Plan, MoeModelsAlsoTryTheMemorySavingRecomputeModules) {
  Scenario s = base("model: mixtral-8x7b\ncluster: {gpu: h100-sxm, num_gpus: 64}\n"
                    "training: {seq_len: 4096, global_batch: 256, precision: fp8}\n");
  PlanOptions o;
  o.top = 100;
  o.space.tp.only = {1};
  o.space.pp.only = {1};
  o.space.cp.only = {1};
  o.space.ep.only = {8};
  o.space.zero.only = {1};
  const PlanResult r = plan(s, o);
  EXPECT_EQ(r.candidates, 12u);
  const unsigned preset = kRecomputeLayernorm | kRecomputeMoeAct;
  bool seen = false;
  for (const auto& e : r.plans) {
    const auto& p = e.scenario.parallel;
    if (p.recompute == Recompute::kSelective && p.recompute_modules == preset) seen = true;
    if (p.recompute != Recompute::kSelective) {
      EXPECT_EQ(p.recompute_modules, unsigned(kRecomputeCoreAttn));
    }
  }
  EXPECT_TRUE(seen);
  PlanOptions named = o;
  named.space.recompute_modules_given = true;
  EXPECT_EQ(plan(s, named).candidates, 9u);
  s.parallel.recompute_modules = kRecomputeMoe;
  const PlanResult given = plan(s, o);
  EXPECT_EQ(given.candidates, 9u);
  for (const auto& e : given.plans) {
    if (e.scenario.parallel.recompute == Recompute::kSelective) {
      EXPECT_EQ(e.scenario.parallel.recompute_modules, unsigned(kRecomputeMoe));
    }
  }
}

// Llama-3-8B on 64 H100 at 8K with both CP exchanges searched (pp <= 2 keeps it small): some
// Ulysses (a2a) splits are among the ten fastest, others are skipped as no faster than their
// ring twins, and the rest are bounded from their ring twin's bound (docs/model.md §14).
Scenario small_8k() {
  return base("model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 64}\n"
              "training: {seq_len: 8192, global_batch: 256, tokens: 1e12}\n");
}
PlanOptions both_exchanges() {
  PlanOptions o;
  o.threads = 2;
  o.space.pp.only = {1, 2};
  o.space.even_stages = true;  // as many splits as before lighter last stages were searched
  o.space.cp_comm.only = {CpComm::kP2p, CpComm::kA2a};
  return o;
}

TEST(Plan, UlyssesTwinsChangeNeitherTheTopPlansNorTheFront) {
  for (const bool zero3_hidden : {false, true}) {
    Scenario s = small_8k();
    s.parallel.overlap.zero3 = zero3_hidden;  // the twin's bound then reads every cost component
    const PlanOptions pruned = both_exchanges();
    PlanOptions full = pruned;
    full.exhaustive = true;
    const PlanResult a = plan(s, pruned), b = plan(s, full);
    EXPECT_EQ(a.candidates, a.invalid + a.oom + a.fitting + a.dominated);
    EXPECT_EQ(a.fitting, a.evaluated + a.bounded);
    EXPECT_EQ(b.evaluated, b.fitting);
    EXPECT_GT(a.dominated, 0u);
    EXPECT_LT(a.evaluated, b.evaluated);
    ASSERT_EQ(a.plans.size(), b.plans.size());
    int ulysses = 0;
    for (std::size_t i = 0; i < a.plans.size(); ++i) {
      EXPECT_EQ(plan_entry_to_json(a.plans[i]).dump(), plan_entry_to_json(b.plans[i]).dump()) << "rank " << i;
      const auto& p = a.plans[i].scenario.parallel;
      ulysses += p.cp > 1 && p.cp_comm_type == CpComm::kA2a ? 1 : 0;
    }
    if (!zero3_hidden) {
      EXPECT_GT(ulysses, 0);
    }
    ASSERT_EQ(a.pareto.size(), b.pareto.size());
    for (std::size_t i = 0; i < a.pareto.size(); ++i) {
      EXPECT_EQ(a.pareto[i].estimate.step_time.value, b.pareto[i].estimate.step_time.value);
      EXPECT_EQ(a.pareto[i].headroom_bytes, b.pareto[i].headroom_bytes);
    }
    PlanOptions one = pruned;
    one.threads = 1;
    EXPECT_EQ(json_of(s, a), json_of(s, plan(s, one)));
  }
}

// The energy objective skips no twin, so its exhaustive list holds every fitting a2a split with
// its ring twin; the time objective's exhaustive list leaves out the skipped ones, and each of
// those is indeed no faster than its twin.
TEST(Plan, SkippedUlyssesSplitsAreNoFasterThanTheirRingTwins) {
  const Scenario s = small_8k();
  PlanOptions o = both_exchanges();
  o.exhaustive = true;
  o.top = 1000000;
  PlanOptions e = o;
  e.objective = Objective::kEnergy;
  const PlanResult by_time = plan(s, o), by_energy = plan(s, e);
  EXPECT_EQ(by_energy.dominated, 0u);
  EXPECT_EQ(by_energy.fitting, by_time.fitting + by_time.dominated);
  auto key = [](const Scenario& x, CpComm c) {
    auto j = scenario_to_json(x)["parallel"];
    j["cp_comm_type"] = to_string(c);
    return j.dump();
  };
  std::map<std::string, double> listed, all;
  for (const auto& p : by_time.plans) listed[key(p.scenario, p.scenario.parallel.cp_comm_type)] = p.estimate.step_time.value;
  for (const auto& p : by_energy.plans) all[key(p.scenario, p.scenario.parallel.cp_comm_type)] = p.estimate.step_time.value;
  std::uint64_t skipped = 0;
  for (const auto& p : by_energy.plans) {
    const auto& q = p.scenario.parallel;
    if (q.cp == 1 || q.cp_comm_type != CpComm::kA2a || listed.count(key(p.scenario, CpComm::kA2a))) continue;
    ++skipped;
    const auto ring = all.find(key(p.scenario, CpComm::kP2p));
    ASSERT_NE(ring, all.end());
    EXPECT_GE(p.estimate.step_time.value, ring->second * (1 - 1e-9));
  }
  EXPECT_EQ(skipped, by_time.dominated);
}

// The energy bound (idle power over the time bound plus the computing power over the split's
// computing time, known before simulating) prunes without changing the answer, a2a twins
// included (theirs keeps the idle part only); it simulates a small share of the fitting splits
// (the idle-power bound alone simulated most of them: 56,604 of GPT-3 175B's at 32K tokens on
// 1,024 GB200, 590 now).
TEST(Plan, EnergyBoundPrunesWithoutChangingTheAnswer) {
  PlanOptions pruned = both_exchanges();
  pruned.objective = Objective::kEnergy;
  EXPECT_LT(expect_pruning_keeps_the_answer(small_8k(), pruned), 0.2);
}

// rank_split with both exchanges counts every a2a split, including those the planner leaves out
// as no faster than their ring twin (they may still beat the split being ranked): against the
// energy objective's exhaustive list (which skips none), the same fitting count and, with the
// whole space settled, the same number of faster splits.
TEST(Plan, RankSplitCountsEveryUlyssesSplit) {
  const Scenario s = small_8k();
  PlanOptions all = both_exchanges();
  all.exhaustive = true;
  all.top = 1000000;
  all.objective = Objective::kEnergy;
  const PlanResult r = plan(s, all);
  std::vector<double> times;
  for (const auto& p : r.plans) times.push_back(p.estimate.step_time.value);
  std::sort(times.begin(), times.end());
  // A ring split near the 10th percentile by time.
  const PlanEntry* given = nullptr;
  for (const auto& p : r.plans) {
    if (p.scenario.parallel.cp_comm_type == CpComm::kP2p && p.estimate.step_time.value >= times[times.size() / 10]) {
      if (!given || p.estimate.step_time.value < given->estimate.step_time.value) given = &p;
    }
  }
  ASSERT_NE(given, nullptr);
  const double bar = given->estimate.step_time.value * (1 - 0.01);
  const auto faster = std::uint64_t(std::lower_bound(times.begin(), times.end(), bar) - times.begin());
  // A top fraction just above the true count keeps rank_split simulating to the end.
  const SplitRank k = rank_split(given->scenario, (double(faster) + 0.5) / double(r.fitting), both_exchanges());
  EXPECT_EQ(k.fitting, r.fitting);
  EXPECT_TRUE(k.exact);
  EXPECT_EQ(k.faster, faster);
  EXPECT_GE(k.faster_bound, faster);
}

// Ulysses searched alone: its splits are built as themselves (none is skipped for lack of a
// ring twin), the ones whose heads cp does not divide are counted invalid (cp-heads), and the
// smallest-fitting search sees them fit.
TEST(Plan, UlyssesAloneIsSearchedAndCounted) {
  Scenario s = small_8k();
  PlanOptions o;
  o.space.pp.only = {1, 2};
  o.space.cp.only = {2, 16};
  o.space.cp_comm.only = {CpComm::kA2a};
  const PlanResult r = plan(s, o);
  ASSERT_FALSE(r.plans.empty());
  EXPECT_EQ(r.dominated, 0u);
  EXPECT_GT(r.invalid_by_reason.at("cp-heads"), 0u);  // cp 16 > 8 KV heads
  for (const auto& p : r.plans) {
    EXPECT_EQ(p.scenario.parallel.cp, 2);
    EXPECT_EQ(p.scenario.parallel.cp_comm_type, CpComm::kA2a);
  }
  s.cluster.num_gpus = 8;
  s.parallel.cp_comm_type = CpComm::kA2a;
  PlanOptions cp2;
  cp2.space.cp.only = {2};
  const auto a2a = smallest_fitting_gpus(s, cp2);
  s.parallel.cp_comm_type = CpComm::kP2p;
  EXPECT_TRUE(a2a.has_value());
  EXPECT_EQ(a2a, smallest_fitting_gpus(s, cp2));
}

// A slower a2a layer does not make a slower split when the exposed data-parallel tail shrinks
// faster than the makespan grows: ZeRO-2's reduction after every micro-batch, interleaved
// stages, a 10 Gb/s network (a second reader's case). There the a2a split wins by 0.04 % and
// the planner must not skip it.
TEST(Plan, UlyssesTwinIsNotSkippedWhenTheDataParallelTailCanShrink) {
  const Scenario s = base("model: mixtral-8x22b\ncluster: {gpu: a100-80g, num_gpus: 256, nic_gbps: 10}\n"
                          "training: {seq_len: 32768, global_batch: 512, fp32_grads: true}\n");
  PlanOptions o;
  o.space.tp.only = {4};
  o.space.cp.only = {2};
  o.space.pp.only = {16};
  o.space.vpp.only = {2};
  o.space.ep.only = {1, 2};
  o.space.zero.only = {2};
  o.space.sequence_parallel.only = {false};
  o.space.cp_comm.only = {CpComm::kP2p, CpComm::kA2a};
  const PlanResult r = plan(s, o);
  ASSERT_GE(r.plans.size(), 2u);
  const auto& best = r.plans[0].scenario.parallel;
  EXPECT_EQ(best.cp_comm_type, CpComm::kA2a);
  Scenario ring = r.plans[0].scenario;
  ring.parallel.cp_comm_type = CpComm::kP2p;
  EXPECT_LT(r.plans[0].estimate.step_time.value, estimate(ring).step_time.value);
}

// Without a CP exchange in the space the planner keeps the scenario's (ring by default): no
// twins, the same search as before the exchange was a dimension.
TEST(Plan, CpExchangeDefaultsToTheScenarios) {
  Scenario s = small_8k();
  PlanOptions o;
  o.space.pp.only = {1, 2};
  const PlanResult ring = plan(s, o);
  EXPECT_EQ(ring.dominated, 0u);
  for (const auto& p : ring.plans) EXPECT_EQ(p.scenario.parallel.cp_comm_type, CpComm::kP2p);
  o.space.cp_comm.only = {CpComm::kP2p};
  EXPECT_EQ(json_of(s, ring), json_of(s, plan(s, o)));
  s.parallel.cp_comm_type = CpComm::kA2a;
  PlanOptions d;
  d.space.pp.only = {1, 2};
  const PlanResult a2a = plan(s, d);
  for (const auto& p : a2a.plans) EXPECT_TRUE(p.scenario.parallel.cp == 1 || p.scenario.parallel.cp_comm_type == CpComm::kA2a);
}

TEST(Plan, PinsThatLeaveNothingValidAreAnError) {
  const Scenario s = small();
  PlanOptions o;
  o.space.tp.only = {3};  // does not divide 32 heads
  EXPECT_THROW(plan(s, o), InputError);
}

TEST(Plan, LowerBoundNeverExceedsTheSimulatedStepTime) {
  // Every fitting split of the small space, simulated, against its bound; tied, the pipelined
  // splits also sum the embedding gradients of their edge stages (the bound's tails hold it).
  for (const bool tied : {false, true}) {
    Scenario s = small();
    s.model.tied_embeddings = tied;
    PlanOptions o;
    o.exhaustive = true;
    o.top = 1000000;
    o.space.micro_batch.only = {1, 2};
    if (tied) {
      o.space.tp.only = {1, 2};
      o.space.pp.only = {2, 4};
    }
    const PlanResult r = plan(s, o);
    ASSERT_GT(r.plans.size(), 100u);
    int synced = 0;
    for (const auto& p : r.plans) {
      const Accelerator acc(p.scenario.cluster.gpu, p.scenario.training.precision);
      detail::StepModel st;
      detail::build_step(p.scenario,
                         std::make_shared<const detail::LayerCosts>(detail::layer_costs(p.scenario, acc, detail::make_fabric(p.scenario.cluster))),
                         st);
      synced += st.embedding_sync > 0 ? 1 : 0;
      const double lb = detail::step_time_lower_bound(p.scenario, acc, st);
      EXPECT_LE(lb * (1 - 1e-3), p.estimate.step_time.value) << scenario_to_json(p.scenario)["parallel"].dump();
      EXPECT_NEAR(p.estimate.breakdown.total().value, p.estimate.step_time.value, 1e-9 * p.estimate.step_time.value);
    }
    if (tied) {
      EXPECT_GT(synced, 100);
    } else {
      EXPECT_EQ(synced, 0);
    }
  }
}

// ZeRO-1 and ZeRO-2 splits are bounded together (step_time_lower_bounds_zero12: the same
// pipeline, ZeRO-2 reducing the gradients m times). For every ZeRO-1 split of the small space,
// with the DP reduction overlapped and not: the pair equals each stage's own bound, computed on
// a fresh step model, although the pair reuses one step model across all splits (as the
// planner's threads do, with their memoised collectives), and neither exceeds the simulation.
TEST(Plan, ZeroOneAndTwoBoundsInOnePassMatchTheirOwnAndTheSimulation) {
  PlanOptions o;
  o.exhaustive = true;
  o.top = 1000000;
  o.space.zero.only = {1};
  const PlanResult r = plan(small(), o);
  ASSERT_GT(r.plans.size(), 20u);
  detail::StepModel shared;
  int zero2_slower = 0;
  for (const bool overlap : {true, false}) {
    for (std::size_t i = 0; i < r.plans.size(); i += 1 + r.plans.size() / 40) {  // about 40 spread over the space
      Scenario s1 = r.plans[i].scenario;
      s1.parallel.overlap.dp = overlap;
      Scenario s2 = s1;
      s2.parallel.zero = 2;
      const Accelerator acc(s1.cluster.gpu, s1.training.precision);
      auto costs = std::make_shared<const detail::LayerCosts>(detail::layer_costs(s1, acc, detail::make_fabric(s1.cluster)));
      detail::build_step(s1, costs, shared, false);
      const auto [lb1, lb2] = detail::step_time_lower_bounds_zero12(s1, acc, shared);
      detail::StepModel fresh1, fresh2;
      detail::build_step(s1, costs, fresh1, false);
      detail::build_step(s2, costs, fresh2, false);
      EXPECT_EQ(lb1, detail::step_time_lower_bound(s1, acc, fresh1));
      EXPECT_EQ(lb2, detail::step_time_lower_bound(s2, acc, fresh2));
      EXPECT_LE(lb1 * (1 - 1e-3), estimate(s1).step_time.value);
      EXPECT_LE(lb2 * (1 - 1e-3), estimate(s2).step_time.value);
      zero2_slower += lb2 > lb1 ? 1 : 0;
    }
  }
  EXPECT_GT(zero2_slower, 0);  // the spaces include splits whose m reductions show
}

TEST(Plan, LowerBoundIsExactForUniform1F1BWithoutCommunication) {
  // One GPU per stage, no TP/DP: 1F1B makespan is (m + p - 1)(f + b) for uniform stages;
  // Llama-3-8B's 32 layers on 4 stages are uniform except the embedding and logits, so the
  // bound sits within the simulated time and within 2 % of it.
  Scenario s = parse_scenario("model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 4}\n"
                              "parallel: {tp: 1, pp: 4, micro_batch: 1, recompute: full, zero: 0}\n"
                              "training: {seq_len: 4096, global_batch: 32}\n",
                              "<test>");
  const Accelerator acc(s.cluster.gpu, s.training.precision);
  detail::StepModel st;
  detail::build_step(s, std::make_shared<const detail::LayerCosts>(detail::layer_costs(s, acc, detail::make_fabric(s.cluster))), st);
  const double lb = detail::step_time_lower_bound(s, acc, st);
  const double t = estimate(s).step_time.value;
  EXPECT_LE(lb, t * (1 + 1e-9));
  EXPECT_GT(lb, 0.98 * t);
}

TEST(Plan, ModelThatDoesNotFitReportsTheSmallestClusterThatDoes) {
  // Llama-3-405B cannot hold its 6.5 TB of training state on 8 H100.
  Scenario s = base("model: llama3-405b\ncluster: {gpu: h100-sxm, num_gpus: 8}\n"
                    "training: {seq_len: 4096, global_batch: 1024}\n");
  PlanOptions o;
  const PlanResult r = plan(s, o);
  EXPECT_TRUE(r.plans.empty());
  const auto n = smallest_fitting_gpus(s, o);
  ASSERT_TRUE(n.has_value());
  // 16 B/param x 406e9 / 80 GiB is 76 GPUs of model state alone: at least 10 nodes.
  EXPECT_GE(*n, 80);
  EXPECT_EQ(*n % 8, 0);
  s.cluster.num_gpus = *n;
  EXPECT_FALSE(plan(s, o).plans.empty());
  s.cluster.num_gpus = *n - 8;
  EXPECT_TRUE(plan(s, o).plans.empty());
}

TEST(Plan, ReverseSolveMeetsTheDeadlineAndNoSmallerTriedSizeDoes) {
  Scenario s = base("model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 8}\n"
                    "training: {seq_len: 8192, global_batch: 1024, tokens: 1.5e12}\n");
  PlanOptions o;
  o.top = 1;
  const DeadlineResult r = solve_deadline(s, 30, o);
  ASSERT_FALSE(r.plan.plans.empty());
  EXPECT_LE(r.plan.plans.front().estimate.run.days, 30.0);
  EXPECT_EQ(r.plan.plans.front().scenario.cluster.num_gpus + r.plan.plans.front().gpus_idle, r.num_gpus);
  // Every smaller size tried misses the deadline, and some smaller size was tried.
  int smaller = 0;
  for (const auto& t : r.tried) {
    if (t.num_gpus < r.num_gpus) {
      ++smaller;
      EXPECT_GT(t.days, 30.0) << t.num_gpus << " GPUs";
    }
  }
  EXPECT_GT(smaller, 0);
  // 6 N D = 6 x 8.0e9 x 1.5e12 = 7.2e22 FLOPs; at <= 989 TFLOP/s per GPU for 30 days that
  // needs at least 7.2e22 / (989e12 x 2.592e6) = 28 GPUs.
  EXPECT_GE(r.num_gpus, 28);
}

TEST(Plan, ImpossibleDeadlineIsAnError) {
  Scenario s = base("model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 8}\n"
                    "training: {seq_len: 8192, global_batch: 16, tokens: 1.5e13}\n");
  PlanOptions o;
  o.top = 1;
  // A 16-sequence batch caps data parallelism: a day is out of reach at any size.
  EXPECT_THROW(solve_deadline(s, 1.0, o), InputError);
  EXPECT_THROW(solve_deadline(s, -1.0, o), InputError);
}

TEST(Scale, OnePointPerCountAndFasterNetworksAreNeverSlower) {
  Scenario s = small();
  PlanOptions o;
  const std::vector<std::int64_t> counts{64, 128, 256};
  const ScaleResult a = scale_curve(s, counts, o, true);
  ASSERT_EQ(a.points.size(), 3u);
  s.cluster.nic_gbps *= 2;
  const ScaleResult b = scale_curve(s, counts, o, true);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    ASSERT_TRUE(a.points[i].feasible);
    EXPECT_EQ(a.points[i].num_gpus, counts[i]);
    EXPECT_EQ(a.points[i].global_batch, 256 * counts[i] / 64);  // weak scaling
    EXPECT_LE(b.points[i].best.estimate.step_time.value, a.points[i].best.estimate.step_time.value * (1 + 1e-12));
  }
  EXPECT_DOUBLE_EQ(a.points[0].scaling_efficiency, 1.0);
}

// The last stage also runs the output layer and loss. Llama 3 8B at 8K tokens: the head's
// 6 V h = 6 x 128256 x 4096 = 3.152e9 FLOPs per token against a layer's 6 x 218.1M parameters +
// 6 x 8192 x 32 x 256 attention = 1.711e9, e = 1.84 layers, so the search tries the last of 4
// stages (8 layers each) with 7 and 6 layers as well: three times the splits. A scenario that
// gives the edge counts is searched with them alone.
TEST(Plan, SearchesLighterLastStagesWhenTheHeadIsHeavy) {
  Scenario s = base("model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 32}\n"
                    "training: {seq_len: 8192, global_batch: 256}\n");
  PlanOptions o;
  o.threads = 2;
  o.space.tp.only = {1};
  o.space.pp.only = {4};
  o.space.vpp.only = {1};
  const PlanResult open = plan(s, o);
  Scenario pinned = s;
  pinned.parallel.last_stage_layers = 8;
  const PlanResult even = plan(pinned, o);
  EXPECT_EQ(open.candidates, 3 * even.candidates);
  ASSERT_FALSE(open.plans.empty());
  ASSERT_FALSE(even.plans.empty());
  std::set<int> lasts;
  for (const auto& e : open.plans) lasts.insert(e.scenario.parallel.last_stage_layers);
  for (const auto& e : even.plans) EXPECT_EQ(e.scenario.parallel.last_stage_layers, 8);
  EXPECT_TRUE(lasts.count(6) || lasts.count(7));
  EXPECT_FALSE(lasts.count(5));  // two layers lighter at most
  EXPECT_LE(open.plans.front().estimate.step_time.value, even.plans.front().estimate.step_time.value);
  // The winner's layout as estimate reads it back from its JSON.
  const Json j = plan_entry_to_json(open.plans.front());
  const int last = open.plans.front().scenario.parallel.last_stage_layers;
  ASSERT_GE(last, 6);  // the winner has a lighter last stage (6 layers: 6.447 s against 6.458 s with 7)
  EXPECT_EQ(j["parallel"]["last_stage_layers"].get<int>(), last);
}

TEST(Examples, PublishedLlama3_405BSplitIsInThePlannersTopTenPercent) {
  // Meta's split (TP8 PP16 DP128, 8K sequences, 16M-token batches) among all fitting splits.
  const Scenario s = load_scenario_file(kSrc + "/examples/llama3-405b-16k-h100.yaml");
  const SplitRank r = rank_split(s, 0.10, PlanOptions{});
  EXPECT_TRUE(r.in_top);
  EXPECT_GT(r.fitting, 1000u);
  EXPECT_LE(r.best_time, r.step_time);
}

// --objective cost returns the cheapest of every size it tried that meets the deadline (the
// doubling and bisection steps included; before, only 1.25-4 x the smallest passing size
// competed, and Llama-3-70B for 2e12 tokens in 30 days came back at 768 GPUs, $1.25M, while
// 1,024 GPUs, tried on the way, cost $1.07M).
TEST(Plan, DeadlineByCostIsTheCheapestSizeTried) {
  // The built-in default (Llama-3-70B, 8K tokens, H100) with the parallel block left open.
  ScenarioDraft d = parse_scenario_draft(default_scenario_yaml(), "<default>", {{"training.tokens", "2e12"}});
  Scenario s = d.scenario;
  PlanOptions o;
  o.top = 1;
  o.objective = Objective::kCost;
  const DeadlineResult r = solve_deadline(s, 30, o);
  double cheapest = std::numeric_limits<double>::infinity();
  for (const DeadlineStep& t : r.tried) {
    if (t.days <= 30) cheapest = std::min(cheapest, t.cost_usd);
  }
  bool found = false;
  for (const DeadlineStep& t : r.tried) found = found || (t.num_gpus == r.num_gpus && t.cost_usd == cheapest);
  EXPECT_TRUE(found) << r.num_gpus;
  EXPECT_EQ(r.num_gpus, 1024);
}

TEST(Examples, Seed500BOn15TBInAMonthNeedsAboutTenThousandH100) {
  // SEED-FACTS: "to finish in a month a 10,000-GPU cluster is the minimum". 1.13e25 FLOPs in
  // 30 days at 40-60 % MFU of 989 TFLOP/s is 7,300-11,000 H100; whole power-of-two node counts.
  std::ifstream in(kSrc + "/examples/seed-500b-15tb-one-month.yaml");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  const Scenario s = parse_scenario_draft(text, "seed").scenario;
  PlanOptions o;
  o.top = 1;
  const DeadlineResult r = solve_deadline(s, 30, o);
  EXPECT_GE(r.num_gpus, 4096);
  EXPECT_LE(r.num_gpus, 16384);
}

}  // namespace
}  // namespace wanka
