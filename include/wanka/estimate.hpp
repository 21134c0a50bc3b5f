// The training estimator: scenario -> step time with its breakdown, throughput, MFU/HFU,
// memory per pipeline stage and run totals (days, GPU-hours, cost, energy).
#pragma once

#include <cstdint>
#include <vector>

#include "wanka/scenario.hpp"
#include "wanka/units.hpp"

namespace wanka {

// Where the step time goes on the busiest pipeline rank (the one with the most time working,
// communicating or blocked: the pipeline's bottleneck). The fields add up to step_time: compute
// and exposed communication of that rank, its idle time (pipeline bubble, and waiting for
// slower stages), the exposed data-parallel communication after the last backward, and the
// optimizer step.
struct Breakdown {
  int rank = 0;  // the pipeline rank described
  Seconds compute, tp_comm, cp_comm, ep_comm, pp_comm, pp_bubble, dp_comm, optimizer;
  Seconds total() const {
    return compute + tp_comm + cp_comm + ep_comm + pp_comm + pp_bubble + dp_comm + optimizer;
  }
};

struct StageMemory {
  int stage = 0;                    // pipeline rank
  long layers = 0;                  // transformer layers held (all virtual chunks)
  double params = 0;                // parameters held by one GPU of this stage (unsharded by ZeRO)
  Bytes weights, gradients, optimizer, activations, temporary, total;
  // Of the weights, what persists between steps (what a checkpoint saves): all but the gathered
  // copy that ZeRO-3 without resharding after forward holds during the step.
  Bytes persistent_weights;
  int peak_in_flight = 0;           // micro-batch chunks alive at the activation peak
};

struct MemoryReport {
  Bytes peak_bytes_per_gpu;
  Bytes capacity_bytes_per_gpu;
  bool fits = false;
  std::vector<StageMemory> per_stage;
};

struct RunTotals {
  bool defined = false;  // false when neither training.tokens nor training.flops is set
  double tokens = 0;
  double flops = 0;
  double steps = 0;
  double days = 0;
  double gpu_hours = 0;
  double cost_usd = 0;
  double energy_mwh = 0;
  double avg_power_w_per_gpu = 0;  // GPU + node share, before PUE
};

struct Estimate {
  Seconds step_time;
  double tokens_per_step = 0;
  double tokens_per_s = 0;
  double tokens_per_s_per_gpu = 0;
  double model_flops_per_token = 0;
  double hardware_flops_per_token = 0;
  double model_tflops_per_gpu = 0;
  double mfu = 0;
  double hfu = 0;
  Breakdown breakdown;
  double compute_fraction = 0;  // computing share of the step, mean over the pipeline ranks (power)
  MemoryReport memory;
  RunTotals run;
  double params_total = 0;
  double params_active = 0;
  std::int64_t micro_batches = 0;  // per pipeline per step (gradient accumulation)
  // The busiest expert-parallel rank's routed rows over the mean (docs/model.md §6.4; 1 without EP)
  double ep_load_imbalance = 1;
  std::uint64_t sim_events = 0;
};

// Pure function of the (validated) scenario. Throws InputError for impossible splits.
Estimate estimate(const Scenario& s);

}  // namespace wanka
