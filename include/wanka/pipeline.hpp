// Pipeline-parallel schedules simulated on the discrete-event engine: 1F1B (Narayanan et al.
// 2021 §2.2.1, PipeDream-Flush) and the interleaved schedule with virtual stages (§2.2.2), in
// the micro-batch order Megatron-LM issues them. Stages may be uneven, transfers may or may not
// overlap compute; the simulation yields idle time, per-rank finish times and the peak number of
// live activations that a formula would only approximate.
#pragma once

#include <cstdint>
#include <vector>

#include "wanka/units.hpp"

namespace wanka {

struct PipelineSpec {
  int ranks = 1;              // pipeline-parallel size p
  int chunks = 1;             // virtual stages per rank v; global stage g = chunk * p + rank
  long micro_batches = 1;     // m
  std::vector<SimTime> fwd;   // per global stage, per micro-batch
  std::vector<SimTime> bwd;
  std::vector<SimTime> p2p;   // transfer from global stage g to g+1 (and gradient back), per g
  std::vector<double> activation_bytes;  // held from a stage's forward to its backward
  bool overlap_p2p = true;    // transfers run beside compute; else the sender waits for them
};

struct PipelineResult {
  SimTime makespan = 0;
  std::vector<SimTime> finish;         // per rank: end of its last task
  std::vector<SimTime> busy;           // per rank: sum of task durations (excl. blocked sends)
  std::vector<SimTime> blocked;        // per rank: time blocked in non-overlapped sends
  std::vector<SimTime> last_backward;  // per rank: duration of its final micro-batch's backwards
  std::vector<SimTime> first_forward;  // per rank: duration of its first micro-batch's forwards
  std::vector<double> peak_activation_bytes;  // per rank
  std::vector<int> peak_in_flight;     // per rank: live (micro-batch, chunk) pairs at the peak
  std::uint64_t events = 0;
};

// Throws std::invalid_argument on inconsistent sizes.
PipelineResult simulate_pipeline(const PipelineSpec& spec);

// Peak live activation bytes per rank and the (micro-batch, chunk) pairs alive at that peak,
// in O(p^2 v) without simulating: the live set follows from the issue order alone. Used by the
// simulation's result and by the planner's memory filter. `spec` must be consistent.
struct ActivationPeak {
  double bytes = 0;
  int in_flight = 0;
};
std::vector<ActivationPeak> activation_peaks(const PipelineSpec& spec);
// Bounds on the same per rank in O(p v) (live count times the smallest / largest chunk).
void activation_peak_bounds(const PipelineSpec& spec, std::vector<ActivationPeak>& lo, std::vector<ActivationPeak>& hi);
// The (micro-batch, chunk) pairs alive on rank r at its steady-state peak, min(warmup + 1, m v):
// the peak lies between that many of the rank's smallest and of its largest chunk.
long peak_live_chunks(int p, int v, long m, int r);

}  // namespace wanka
