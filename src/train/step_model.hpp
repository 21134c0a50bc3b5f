// The training step of one split, assembled but not yet simulated: the estimator's internals
// shared with the planner (src/plan). A StepModel holds per-global-stage costs, the pipeline
// spec and per-stage parameters; from it come the exact memory per GPU (no simulation needed),
// a lower bound on the step time, and the full estimate (pipeline simulation + tails).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "wanka/accelerator.hpp"
#include "wanka/collective.hpp"
#include "wanka/estimate.hpp"
#include "wanka/model.hpp"
#include "wanka/pipeline.hpp"
#include "wanka/scenario.hpp"

namespace wanka::detail {

struct Cost {
  double comp = 0, tp = 0, cp = 0, ep = 0, dp = 0;
  double total() const { return comp + tp + cp + ep + dp; }
  Cost& operator+=(const Cost& o) {
    comp += o.comp; tp += o.tp; cp += o.cp; ep += o.ep; dp += o.dp;
    return *this;
  }
  Cost scaled(double k) const { return {comp * k, tp * k, cp * k, ep * k, dp * k}; }
};

struct FwdBwd {
  Cost f, b;
};

// One micro-batch's work and time for a dense and a MoE layer, the embedding and the logits
// on one GPU. Depends on tp, cp, ep, sequence parallelism, recompute and the micro-batch (and
// the model, cluster and training settings) but not on pp, vpp, dp or ZeRO: the planner reuses
// one LayerCosts across all of those.
struct LayerCosts {
  LayerWork dense_w, moe_w;
  FwdBwd dense_c, moe_c;  // without ZeRO-3 gathers
  double dense_b_comp = 0, moe_b_comp = 0;  // backward compute before recomputation
  EdgeWork emb, lg;
  FwdBwd emb_c, lg_c;
  EdgeWork mtp;          // one multi-token-prediction module's own work (model.mtp_layers > 0)
  FwdBwd mtp_c;
  double emb_grad_add = 0;  // the embedding gradient's fp32 main_grad add per micro-batch (s)
};

// What one pipeline rank holds and does per micro-batch, summed over its virtual chunks
// (g = chunk * pp + rank): filled once by build_step so that memory, the lower bound and the
// data-parallel tail are O(pp), not O(pp * vpp), per ZeRO stage the planner tries.
struct RankSummary {
  double params = 0, expert_params = 0;  // parameters held (all chunks); of which routed experts
  double edge_params = 0;                // of which embedding and output layer
  double transient = 0;                  // largest per-layer working set of its chunks (bytes)
  long layers = 0;
  SimTime fwd = 0, bwd = 0;              // one micro-batch's forwards / backwards, all chunks
  double comp = 0;                       // their computing seconds (Cost::comp), all chunks
  double act_min = 1e300, act_max = 0;   // smallest / largest chunk's saved activations (bytes)
  // Model-state bytes per GPU, [0] replicated and [1] sharded over data parallelism (ZeRO
  // shards the optimizer state from stage 1, gradients from 2, weights from 3).
  double weights[2] = {0, 0}, gradients[2] = {0, 0}, optimizer[2] = {0, 0};
};

// A dense model's stages come in four shapes: inner stages of q and q + 1 layers, the
// embedding stage and the logits stage (index 0..3); the q + 1 ones are
// [plus_first, plus_first + plus_count).
struct DenseStages {
  bool valid = false;
  long plus_first = 0, plus_count = 0;
  SimTime fwd[4] = {}, bwd[4] = {};
  double act[4] = {};
  FwdBwd cost[4];
};

// One evaluated set of data-parallel collectives (estimate.cpp, dp_comm) and what it depends on.
struct DpCommMemo {
  double prm = -1, eprm = -1, grad_bytes = 0;
  long dense_size = 0, dense_local = 0, expert_size = 0, expert_local = 0;
  bool sharded = false;
  double reduce = 0, gather = 0;
};

struct StepModel {
  Fabric fab;
  Group dp_dense, dp_expert;
  // The last data-parallel collectives evaluated with this fabric: the planner's candidates and
  // pipeline ranks repeat the same parameter counts over the same groups (cleared by build_step
  // when the fabric changes). Written by functions that take a const StepModel&
  // (step_time_lower_bound, finish_estimate): a StepModel must not be shared between threads
  // (the planner's are thread-local).
  mutable DpCommMemo dp_memo[8];
  mutable int dp_memo_next = 0;
  // The last ZeRO-3 gathers of the embedding and output layer (bytes, group, seconds): the
  // planner's consecutive splits repeat them (cleared with dp_memo).
  struct GatherMemo {
    double bytes = -1;
    long size = 0, local = 0;
    double seconds = 0;
  };
  GatherMemo edge_memo[2];
  std::shared_ptr<const LayerCosts> lc;
  std::int64_t micro = 0;
  std::vector<FwdBwd> stage_cost;       // per global stage, per micro-batch
  std::vector<RankSummary> rank;        // per pipeline rank
  std::vector<SimTime> hop;             // per pipeline rank: its activation transfer to the next
  double embedding_sync = 0;             // seconds: the edge ranks' embedding-gradient all-reduce
  // The last embedding all-reduce evaluated (bytes, across domains or not, seconds): the
  // planner's consecutive splits repeat it (cleared with dp_memo).
  struct SyncMemo {
    double bytes = -1;
    bool cross = false;
    double seconds = 0;
  } sync_memo;
  DenseStages dense;
  long filled = 0;                      // leading global stages whose ps arrays are set
  PipelineSpec ps;
};

Fabric make_fabric(const ClusterConfig& cl);

// Average power of one GPU plus its node share (before PUE) when it computes `busy_frac` of the
// time (docs/model.md §11): the run totals' and the planner's energy figures.
double power_w_per_gpu(const ClusterConfig& cl, double busy_frac);
LayerCosts layer_costs(const Scenario& s, const Accelerator& acc, const Fabric& fab);

// Assembles the step for a split-valid scenario (validate_scenario passed). `lc` must have
// been computed for the same tp, cp, ep, sequence_parallel, recompute and micro_batch.
// `full = false` skips the per-stage cost breakdown (stage_cost), which only finish_estimate
// reads, and (dense models) fills the per-stage arrays for chunk 0 only.
void build_step(const Scenario& s, std::shared_ptr<const LayerCosts> lc, StepModel& out, bool full = true);
// With full = false a dense model's per-stage arrays (st.ps) are set for chunk 0 only (what the
// memory filter and the lower bound read); this sets the rest (activation_peaks needs them).
void complete_stage_arrays(StepModel& st);

// Exact memory per pipeline rank (the same figures estimate() reports). `peaks` are
// activation_peaks(st.ps), which do not depend on the ZeRO stage: the planner passes them in.
MemoryReport step_memory(const Scenario& s, const StepModel& st);
MemoryReport step_memory(const Scenario& s, const StepModel& st, const std::vector<ActivationPeak>& peaks);

// Peak bytes per GPU only (what step_memory reports as peak_bytes_per_gpu), without building
// the per-stage report: the planner's memory filter, called once per ZeRO stage.
double peak_memory_bytes(const Scenario& s, const StepModel& st, const std::vector<ActivationPeak>& peaks);

// A lower bound on estimate(s).step_time, without simulating (docs/model.md, planner): the
// busiest rank's compute plus the fill and drain it cannot avoid, plus the optimizer step.
double step_time_lower_bound(const Scenario& s, const Accelerator& acc, const StepModel& st);
// The bound with its part that never decreases when pipeline tasks lengthen (every rank's own
// chain and tail, without the rank-0 drain term): the planner scales the latter to bound a split
// whose tasks are all at least rho times as long (Ulysses twins, docs/model.md §14).
struct StepBound {
  double time = 0, monotone = 0;
};
StepBound step_time_bound(const Scenario& s, const Accelerator& acc, const StepModel& st);
std::pair<StepBound, StepBound> step_time_bounds_zero12(const Scenario& s, const Accelerator& acc, const StepModel& st);
// Whether every rank's data-parallel collectives hide entirely behind the backwards and forwards
// they overlap (exposed_dp is 0 on every rank): the planner's test for skipping Ulysses twins.
bool dp_tail_hidden(const Scenario& s, const StepModel& st);
// The bounds of a ZeRO-1 split and of its ZeRO-2 twin in one pass (`s.parallel.zero` must be 1):
// they share the pipeline and the collectives, ZeRO-2 reducing the gradients m times.
std::pair<double, double> step_time_lower_bounds_zero12(const Scenario& s, const Accelerator& acc, const StepModel& st);

// The full estimate: simulates the pipeline and adds the data-parallel tail and optimizer.
// `pr`, when given, is simulate_pipeline(st.ps) computed before (the planner reuses it for
// splits with the same pipeline, e.g. ZeRO-1 and ZeRO-2 of one layout).
Estimate finish_estimate(const Scenario& s, const Accelerator& acc, const StepModel& st,
                         const PipelineResult* pr = nullptr);

}  // namespace wanka::detail
