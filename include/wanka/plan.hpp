// The planner: every parallel split of a model on a cluster, filtered by memory and ranked by
// step time, cost or energy (issue 3). Built on the estimator's internals (src/train/step_model.hpp):
// each split's memory is exact without simulation and its step time has a cheap lower bound,
// so only splits that could reach the top k or the time/headroom Pareto front are simulated.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wanka/estimate.hpp"
#include "wanka/scenario.hpp"

namespace wanka {

enum class Objective { kTime, kCost, kEnergy };
const char* to_string(Objective o);
std::optional<Objective> parse_objective(const std::string& s);

// Values a dimension may take: `only` (empty: every valid value) minus `except`.
template <class T>
struct Dim {
  std::vector<T> only, except;
};

// The search space. dp is derived: the largest data-parallel size that the GPUs, the global
// batch and whole nodes allow (leaving at most max_idle_fraction of the GPUs idle).
struct PlanSpace {
  Dim<int> tp, pp, vpp, cp, ep, micro_batch, zero;
  Dim<Recompute> recompute;
  Dim<bool> sequence_parallel;
  // The CP exchange (cp > 1 only; a2a where cp divides the heads per TP rank). Empty (neither
  // only nor except): the base scenario's exchange alone, p2p by default. Searching both adds
  // an a2a twin to every ring split with CP, priced from the ring split's bound (docs/model.md §14).
  Dim<CpComm> cp_comm;
  bool even_stages = false;  // require pp x vpp to divide the layers (Megatron without uneven stages)
  // The input named parallel.recompute_modules: selective recompute tries only those (otherwise
  // MoE and MLA models also try the memory-saving set, docs/model.md §14).
  bool recompute_modules_given = false;
};

struct PlanResult;
struct PlanOptions {
  Objective objective = Objective::kTime;
  int top = 10;
  int threads = 0;                 // 0: all hardware threads
  bool exhaustive = false;         // simulate every fitting split (no bound pruning)
  double max_idle_fraction = 0.05; // splits may leave up to this share of the GPUs idle
  PlanSpace space;
  // Called from the calling thread about ten times a second with the fraction done.
  std::function<void(double)> progress;
  // solve_deadline only: applied to every size's plan (plan --failures: rank_by_goodput); the
  // days and cost held against the deadline are then divided by the best plan's expected ETTR.
  std::function<void(PlanResult&)> rerank;
};

struct PlanEntry {
  Scenario scenario;        // the split, as `wanka estimate` would take it (num_gpus = GPUs used)
  Estimate estimate;
  double objective = 0;     // seconds per step, USD per step or joules per step
  double headroom_bytes = 0;
  std::int64_t gpus_idle = 0;
  double expected_ettr = 0;  // with `plan --failures` (0: not computed); see rank_by_goodput
};

struct PlanResult {
  std::int64_t num_gpus = 0;       // GPUs available
  // The Adam state alone (12 bytes per parameter) sharded over all the GPUs; above a GPU's
  // memory nothing can fit and the search is skipped (optimizer_floor_bytes).
  double optimizer_floor_bytes = 0;
  Objective objective = Objective::kTime;
  std::uint64_t candidates = 0;    // splits enumerated
  std::uint64_t fitting = 0;       // valid splits that fit in memory (exact, without simulation)
  std::uint64_t evaluated = 0;     // splits fully estimated (pipeline simulated)
  std::uint64_t invalid = 0;
  std::map<std::string, std::uint64_t> invalid_by_reason;  // SplitIssue name or "idle-gpus"
  std::uint64_t oom = 0;
  std::uint64_t dominated = 0;     // fitting Ulysses (a2a) splits proved no faster than their ring twin
                                   // (layers no faster, data-parallel tail hidden): not built
  std::uint64_t bounded = 0;       // fitting, not simulated: provably outside the top k and both fronts
  // `plan --failures` (rank_by_goodput): plans dropped because their checkpoint does not fit its
  // tier's capacity, and the first such error (field: message).
  std::uint64_t checkpoint_unfit = 0;
  std::string checkpoint_unfit_error;
  // ... and plans dropped because interruptions come faster than one recovery takes (no
  // progress: `estimate --failures` refuses such a split), with the first reason.
  std::uint64_t no_progress = 0;
  std::string no_progress_error;
  std::vector<PlanEntry> plans;    // best first
  std::vector<PlanEntry> pareto;   // step time vs memory headroom, fastest first: splits within 1.5x
                                   // of the best time, each freeing >= 1 % of HBM more than any faster one
  // Step time vs cost per step (the GPUs a split uses, at the cluster's price; GPU-hours without
  // one), fastest first: splits within 1.5x of the best time, each >= 1 % cheaper than any faster
  // one. With one GPU type the cost differs only through the GPUs a split leaves idle, so this
  // has more than one entry only when splits use different GPU counts.
  std::vector<PlanEntry> cost_front;
  double elapsed_s = 0;
  int threads = 1;
};

// Searches the splits of `base` (its model, cluster, training and overlap settings; its parallel
// degrees are ignored unless pinned in `opt.space`). Throws InputError when the pins leave no
// valid split. An empty `plans` means nothing fits (see smallest_fitting_gpus).
PlanResult plan(const Scenario& base, const PlanOptions& opt);

// The smallest GPU count of `base`'s GPU (any count up to one node, whole nodes beyond) on which
// some allowed split fits in memory using all of them; nullopt if none up to 1e7 GPUs.
std::optional<std::int64_t> smallest_fitting_gpus(const Scenario& base, const PlanOptions& opt);

// A lower bound on any split's memory per GPU: the fp32 master weights and Adam moments (12 bytes
// per parameter, multi-token-prediction modules included) sharded over `gpus` GPUs.
double optimizer_floor_bytes(const ModelSpec& m, std::int64_t gpus);

// Reverse solve: the smallest cluster of base's GPU (whole nodes) whose best plan trains
// base.training.tokens (or .flops) within `days`; with Objective::kCost, the cheapest among
// that size and larger ones up to 4x. Assumes the best time falls as GPUs are added (checked
// on the way: the search stops when doubling the cluster no longer helps). Throws InputError
// when no cluster up to 1e7 GPUs meets the deadline or the run length is not set.
struct DeadlineStep {
  std::int64_t num_gpus = 0;
  double days = 0;      // best plan's days (infinity when nothing fits)
  double cost_usd = 0;
};
struct DeadlineResult {
  std::int64_t num_gpus = 0;
  PlanResult plan;                  // at num_gpus
  std::vector<DeadlineStep> tried;  // every cluster size evaluated, in search order
};
DeadlineResult solve_deadline(const Scenario& base, double days, const PlanOptions& opt);

// Scaling curve: the best plan at each GPU count. With scale_batch the global batch grows in
// proportion to the GPU count (from base's batch at the first count), else it stays fixed.
struct ScalePoint {
  std::int64_t num_gpus = 0;
  std::int64_t global_batch = 0;
  bool feasible = false;          // some split fits
  std::string note;               // why not, when infeasible
  PlanEntry best;
  double scaling_efficiency = 0;  // tokens/s per GPU relative to the first feasible point
  double comm_share = 0;          // exposed communication (tp+cp+ep+pp+dp) / step time
  std::uint64_t evaluated = 0, candidates = 0;
};
struct ScaleResult {
  std::vector<ScalePoint> points;
  std::int64_t network_bound_from = 0;  // first count whose exposed communication exceeds kNetworkBoundShare; 0: none
  double elapsed_s = 0;
};
constexpr double kNetworkBoundShare = 0.25;
ScaleResult scale_curve(const Scenario& base, const std::vector<std::int64_t>& counts, const PlanOptions& opt,
                        bool scale_batch);

// Where a given split (e.g. a published one) ranks by step time among all fitting splits of its
// model and cluster. Splits whose lower bound is not below the given split's time cannot be
// faster; the others are simulated (in bound order) until the answer to "is it in the top
// `top_fraction`?" is settled.
struct SplitRank {
  std::uint64_t fitting = 0;
  std::uint64_t faster = 0;       // fitting splits simulated faster (by > 1 %) than the given one
  std::uint64_t faster_bound = 0; // upper bound on that count (splits whose bound is below)
  bool exact = false;             // faster counted exactly (every possibly faster split simulated)
  bool in_top = false;            // faster < top_fraction x fitting (proved)
  double step_time = 0;           // the given split's step time
  double best_time = 0;           // fastest simulated split (the planner's best when exact)
  std::uint64_t simulated = 0;
};
SplitRank rank_split(const Scenario& split, double top_fraction, const PlanOptions& opt);

// Objective value of an estimate on `s` (per optimizer step).
double objective_value(Objective o, const Scenario& s, const Estimate& e);

}  // namespace wanka
