// Reliability and goodput: failure rates scaled by the job's components, checkpoint costs from
// the model and split, Young's and Daly's intervals, and a Monte Carlo of a run with failures,
// checkpoints and recoveries on the shared discrete-event engine (docs/model.md §16).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wanka/estimate.hpp"
#include "wanka/plan.hpp"
#include "wanka/scenario.hpp"

namespace wanka {

// Interruption rates of one job: per cause (per second, rate_scale applied) and in total.
struct JobFailureRates {
  std::vector<double> per_cause_per_s;  // same order as ReliabilityConfig::causes
  double total_per_s = 0;               // every cause, lemons included
  // Interruptions that lose work: every cause but the planned ones (lemons included). Planned
  // maintenance is announced and checkpointed first (docs/model.md §16.3), so it loses nothing
  // and does not enter Young's and Daly's M.
  double unplanned_per_s = 0;
  double node_hardware_per_s = 0;       // causes that take a node out, per healthy node
  std::int64_t nodes = 0;               // nodes the job occupies
  long spare_nodes = 0;                 // resolved spare pool
  long lemons = 0;
  double mtbi_s() const { return total_per_s > 0 ? 1.0 / total_per_s : INFINITY; }
  // Mean time between interruptions that lose work: M of Young (1974) and Daly (2006).
  double unplanned_mtbi_s() const { return unplanned_per_s > 0 ? 1.0 / unplanned_per_s : INFINITY; }
};
JobFailureRates job_failure_rates(const Scenario& s);

// What one checkpoint costs. A checkpoint blocks training for `block_s`; it can be recovered
// from `persist_s` after it started; a restart that swaps a node reads it in `restore_s`, one
// whose nodes all stay (a software or job-scope failure, a lemon not yet evicted) in
// `local_restore_s`. Fast tiers (nvme, cpu, peer) also drain every `backup_every`-th checkpoint
// to remote storage in the background (durable `backup_persist_s` after it started; restores
// from it take `backup_restore_s`).
struct CheckpointCost {
  CheckpointTier tier = CheckpointTier::kStorage;
  double bytes_per_gpu = 0;      // largest per-GPU shard: 16-bit weights + fp32 master + Adam moments
  double bytes_total = 0;        // unique bytes of one checkpoint (14 bytes per parameter)
  double storage_gbytes_per_s = 0;
  double nvme_gbytes_per_s = 0;  // local NVMe write bandwidth per node, resolved (every tier)
  double block_s = 0;
  double persist_s = 0;
  double restore_s = 0;          // a node was swapped: the replacement reads its shard
  // No node swapped: every node reads its own copy. Differs from restore_s only on the peer
  // tier (the host-to-device copy from the node's own CPU memory, not a pull from a peer).
  double local_restore_s = 0;
  double backup_persist_s = 0;
  double backup_restore_s = 0;
  long backup_every = 1;         // storage tier: every checkpoint is the backup
  bool survives_node_loss = true;
  double peer_loss_window_s = 0; // peer tier: a shard is lost if all replicas fail within this
};
// Throws InputError (exit 2) when a checkpoint exceeds a tier's capacity, or when the peer tier
// asks for more replicas than the job has nodes.
CheckpointCost checkpoint_cost(const Scenario& s, const Estimate& e);

// Peer tier: probability that a node loss also loses every other replica of its shard, so that
// the restart goes back to the storage backup: (1 - exp(-h W))^(replicas - 1), h the per-node
// hardware failure rate, W = peer_loss_window_s. 0 for the other tiers.
double peer_loss_probability(const Scenario& s, const JobFailureRates& rates, const CheckpointCost& c);

// Young (1974): tau = sqrt(2 delta M). Daly (2006, eq. 37): tau = sqrt(2 delta M) [1 + 1/3
// sqrt(delta/(2M)) + delta/(18 M)] - delta for delta < 2M, else M. delta: checkpoint cost (s),
// M: mean time between interruptions (s); both derive the interval from the work an
// interruption loses, so callers pass JobFailureRates::unplanned_mtbi_s(). Both return
// training seconds between checkpoints (infinite when M is).
double young_interval_s(double delta_s, double mtbi_s);
double daly_interval_s(double delta_s, double mtbi_s);

// First-order expected ETTR for exponential failures, interval tau: the share of wall time
// that is kept training, tau/(tau+delta) x (1 - (R + (tau+delta)/2 + lag)/M), R = recovery time.
double expected_ettr(const Scenario& s, const JobFailureRates& rates, const CheckpointCost& c, double interval_s);

struct Percentiles {
  double p10 = 0, p50 = 0, p90 = 0, mean = 0;
};

struct IntervalPoint {
  double interval_s = 0;
  double ettr_mean = 0;
  double expected_ettr = 0;
};

// The simulated optimum among sweep points: the largest mean ETTR; among equal ones the interval
// closest to Young's (in log scale), then the larger. sweep.size() when no point has ETTR > 0
// (the caller keeps Young's interval).
std::size_t best_sweep_point(const std::vector<IntervalPoint>& sweep, double young_s);

struct ReliabilityResult {
  bool window = false;            // true: a fixed wall-clock window (days); false: run to a token budget
  double work_s = 0;              // token budget in failure-free training seconds (0 for a window)
  double tokens = 0;              // the token budget (reliability.tokens, else the run's tokens of
                                  // training.tokens or training.flops; 0 for a window)
  double window_s = 0;
  int runs = 0;
  std::uint64_t seed = 0;
  JobFailureRates rates;
  CheckpointCost checkpoint;
  double interval_s = 0;          // the interval simulated for the report
  double young_s = 0, daly_s = 0, optimal_s = 0;
  std::vector<IntervalPoint> sweep;  // ETTR against the interval (common random numbers)
  Percentiles ettr, wall_clock_days, interruptions;
  std::vector<std::string> cause_names;
  std::vector<double> interruptions_by_cause;  // mean per run
  // Mean GPU-hours per run by kind: lost work (rolled back), detection and restart (including
  // reschedule and restore), checkpoint stalls, waiting for a repaired node; and useful.
  double lost_work_gpu_h = 0, restart_gpu_h = 0, checkpoint_gpu_h = 0, waiting_gpu_h = 0, useful_gpu_h = 0;
  double expected_ettr = 0;       // first-order formula at interval_s
  int unfinished_runs = 0;        // token-budget runs stopped at 100x their failure-free length + 30 days
  std::uint64_t events = 0;       // engine events over all runs (benchmark figure)
  std::uint64_t failure_arrivals = 0;  // failure arrivals drawn over all runs, sweep included (before thinning)
};

struct ReliabilityOptions {
  int threads = 0;      // 0: all cores; results do not depend on it
  bool sweep = true;    // search the interval (else simulate only the configured/Young interval)
  // Failure arrivals one call may simulate, interval sweep and final runs together (each costs
  // a few engine events, ~0.1 us: 5e8 is about a minute on 2 cores). Past it the call stops with
  // InputError naming reliability.runs; whether it is passed does not depend on the threads.
  double max_failures = 5e8;
};

// The step model `e` must come from estimate(s). Uses s.reliability for everything else.
// Throws InputError for impossible settings (interval shorter than a checkpoint write, ...).
ReliabilityResult simulate_reliability(const Scenario& s, const Estimate& e, const ReliabilityOptions& opt = {});

// Run totals with failures (tokens mode): days are the mean simulated wall-clock days; GPU-hours
// and cost are those of the whole allocation; energy adds the lost (rolled-back) compute.
void apply_goodput(const Scenario& s, const ReliabilityResult& r, RunTotals& run);

// `plan --failures`: each plan's expected ETTR (first-order formula at its Young interval, from
// its own checkpoint size) divides its objective; plans are re-ranked by that, best first. A plan
// whose checkpoint does not fit its tier (checkpoint_cost's InputError) is dropped and counted in
// r.checkpoint_unfit; if none is left, that InputError is thrown (exit 2).
void rank_by_goodput(PlanResult& r);

}  // namespace wanka
