#include "wanka/reliability.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <atomic>
#include <numeric>
#include <cmath>
#include <thread>

#include "wanka/error.hpp"
#include "wanka/model.hpp"
#include "wanka/sim.hpp"
#include "sim/rng.hpp"

namespace wanka {

namespace {

constexpr double kDay = 86400.0;
// Unique bytes per parameter in a checkpoint: 16-bit weights (2) + fp32 master weights (4) +
// Adam first and second moments (4 + 4), as Megatron-LM's distributed checkpoint stores them.
constexpr double kCheckpointBytesPerParam = 14.0;
// Llama 3 (§3.3.4): Tectonic sustains 2 TB/s for 16,384 GPUs, i.e. 0.122 GB/s per GPU; the
// default remote-storage bandwidth scales with the job like that.
constexpr double kStorageGBpsPerGpu = 2000.0 / 16384.0;
// Local NVMe per node when not given: 8 PCIe gen4 U.2 drives (DGX H100 has 8 x 3.84 TB) at
// about 3.5 GB/s sequential write each. An assumption, stated in docs/model.md §16.
constexpr double kNvmeGBpsPerNode = 8 * 3.5;

long resolved_spares(const ReliabilityConfig& r, std::int64_t nodes) {
  if (r.spare_nodes >= 0) return r.spare_nodes;
  return std::max<long>(1, static_cast<long>(std::ceil(0.01 * static_cast<double>(nodes))));
}

}  // namespace

JobFailureRates job_failure_rates(const Scenario& s) {
  const auto& r = s.reliability;
  JobFailureRates out;
  const double gpus = static_cast<double>(s.cluster.num_gpus);
  const int gpn = std::max(1, s.cluster.gpus_per_node);
  out.nodes = (s.cluster.num_gpus + gpn - 1) / gpn;
  const double nodes = static_cast<double>(out.nodes);
  out.spare_nodes = resolved_spares(r, out.nodes);
  out.lemons = static_cast<long>(std::llround(r.lemon.fraction * nodes));
  double hw_per_node = 0;
  for (const auto& c : failure_causes(r)) {
    const double per_s = c.rate_per_day * r.rate_scale / kDay;
    double units = 1;
    if (c.scope == FailureScope::kGpu) units = gpus;
    else if (c.scope == FailureScope::kNode) units = nodes;
    out.per_cause_per_s.push_back(per_s * units);
    out.total_per_s += per_s * units;
    if (!c.planned) out.unplanned_per_s += per_s * units;
    if (c.replaces_node && !c.planned && c.scope != FailureScope::kJob) {
      hw_per_node += per_s * (c.scope == FailureScope::kGpu ? gpus / nodes : 1.0);
    }
  }
  out.node_hardware_per_s = hw_per_node;
  const double lemon_extra = static_cast<double>(out.lemons) * hw_per_node * (r.lemon.factor - 1);
  out.total_per_s += lemon_extra;
  out.unplanned_per_s += lemon_extra;  // a lemon's failures are unannounced hardware failures
  return out;
}

CheckpointCost checkpoint_cost(const Scenario& s, const Estimate& e) {
  const auto& k = s.reliability.checkpoint;
  CheckpointCost c;
  c.tier = k.tier;
  // The persistent state (not ZeRO-3's gathered copy of the weights).
  for (const auto& st : e.memory.per_stage) {
    c.bytes_per_gpu = std::max(c.bytes_per_gpu, st.persistent_weights.value + st.optimizer.value);
  }
  // Every trained parameter, the multi-token-prediction modules' included (not in params_total).
  c.bytes_total = kCheckpointBytesPerParam * (e.params_total + count_model(s.model, s.training.seq_len).params_mtp);
  const double gpus = static_cast<double>(s.cluster.num_gpus);
  const double gpn = static_cast<double>(std::min<std::int64_t>(s.cluster.num_gpus, std::max(1, s.cluster.gpus_per_node)));
  const double node_bytes = c.bytes_per_gpu * gpn;
  c.storage_gbytes_per_s = k.storage_gbytes_per_s > 0 ? k.storage_gbytes_per_s : kStorageGBpsPerGpu * gpus;
  c.nvme_gbytes_per_s = k.nvme_gbytes_per_s > 0 ? k.nvme_gbytes_per_s : kNvmeGBpsPerNode;
  const double storage_s = c.bytes_total / (c.storage_gbytes_per_s * kGiga);
  const double host = (k.host_gbytes_per_s > 0 ? k.host_gbytes_per_s : s.cluster.gpu.host_gbytes_per_s) * kGiga;
  const double d2h_s = c.bytes_per_gpu / host;
  const double keep = k.keep;
  if (k.storage_capacity_tb > 0 && c.bytes_total * keep > k.storage_capacity_tb * kTera) {
    throw InputError("reliability.checkpoint.storage_capacity_tb",
                     fmt::format("{} checkpoints of {:.3g} TB do not fit in {:g} TB of storage", k.keep,
                                 c.bytes_total / kTera, k.storage_capacity_tb));
  }
  // Remote storage: every rank writes its unique shard; the storage bandwidth is shared by all
  // writers. Synchronous: training waits until the write is done (Llama 3's setup).
  c.backup_persist_s = std::max(storage_s, d2h_s);
  c.backup_restore_s = c.backup_persist_s;
  switch (k.tier) {
    case CheckpointTier::kStorage:
      // Restores read remote storage whatever failed: the shard was never kept locally.
      c.block_s = c.persist_s = c.restore_s = c.local_restore_s = c.backup_persist_s;
      c.survives_node_loss = true;
      return c;
    case CheckpointTier::kNvme: {
      if (node_bytes * keep > k.nvme_capacity_tb * kTera) {
        throw InputError("reliability.checkpoint.nvme_capacity_tb",
                         fmt::format("{} checkpoints of {:.3g} TB per node do not fit in {:g} TB of local NVMe", k.keep,
                                     node_bytes / kTera, k.nvme_capacity_tb));
      }
      const double nvme = c.nvme_gbytes_per_s * kGiga;
      // Restores read the node's own drives; a lost node's are gone (back to the storage backup).
      c.block_s = c.persist_s = c.restore_s = c.local_restore_s = std::max(d2h_s, node_bytes / nvme);
      c.survives_node_loss = false;
      break;
    }
    case CheckpointTier::kCpu:
      if (node_bytes * keep > k.host_memory_gb * kGiga) {
        throw InputError("reliability.checkpoint.host_memory_gb",
                         fmt::format("{} snapshots of {:.3g} GB per node do not fit in {:g} GB of host memory", k.keep,
                                     node_bytes / kGiga, k.host_memory_gb));
      }
      // Asynchronous snapshot: the GPU blocks only for the device-to-host copy. A restart copies
      // the node's own snapshot back over the same host link (host-to-device, d2h_s); a lost
      // node's snapshot is gone, and the restart reads the storage backup instead.
      c.block_s = c.persist_s = c.restore_s = c.local_restore_s = d2h_s;
      c.survives_node_loss = false;
      break;
    case CheckpointTier::kPeer: {
      // GEMINI (Wang et al., SOSP'23): the snapshot goes to local CPU memory and to
      // replicas - 1 peer nodes over the scale-out network, whose traffic competes with training.
      // Each replica sits on a different node: the job needs at least `replicas` nodes.
      const std::int64_t nodes = (s.cluster.num_gpus + static_cast<std::int64_t>(gpn) - 1) / static_cast<std::int64_t>(gpn);
      if (k.replicas > nodes) {
        throw InputError("reliability.checkpoint.replicas",
                         fmt::format("{} replicas need as many nodes; the job has {} ({} GPUs, {} per node)", k.replicas,
                                     nodes, s.cluster.num_gpus, static_cast<std::int64_t>(gpn)));
      }
      if (node_bytes * k.replicas > k.host_memory_gb * kGiga) {
        throw InputError("reliability.checkpoint.host_memory_gb",
                         fmt::format("{} replicas of {:.3g} GB per node do not fit in {:g} GB of host memory",
                                     k.replicas, node_bytes / kGiga, k.host_memory_gb));
      }
      const double nic = s.cluster.nic_gbps / 8 * kGiga;  // per GPU, bytes/s
      const double rep_s = c.bytes_per_gpu * (k.replicas - 1) / nic;
      c.block_s = d2h_s + k.peer_interference * rep_s;
      c.persist_s = d2h_s + rep_s;
      // Recovery (GEMINI §3-4; ByteRobust 2025 keeps its in-memory checkpoints the same way):
      // a replacement node pulls its shard from a peer's CPU memory over the NIC, then copies it
      // to the GPU; every node that stays (all of them after a software failure) copies its own
      // CPU-memory replica to the GPU over the host link (d2h_s: the catalog's host link is the
      // measured nvbandwidth host-to-device copy, docs/model.md §16.2). The job waits for the
      // slowest node: restore_s when a node was swapped, else local_restore_s.
      c.restore_s = c.bytes_per_gpu / nic + d2h_s;
      c.local_restore_s = d2h_s;
      c.survives_node_loss = true;
      c.peer_loss_window_s = c.persist_s + s.reliability.detection_s + s.reliability.reschedule_s +
                             s.reliability.restart_s + c.restore_s;
      break;
    }
  }
  // Fast tiers drain a backup to remote storage in the background once the snapshot is local.
  c.backup_persist_s = c.persist_s + storage_s;
  return c;
}

double young_interval_s(double delta, double m) { return std::sqrt(2 * delta * m); }

double daly_interval_s(double delta, double m) {
  if (delta >= 2 * m) return m;
  const double x = delta / (2 * m);
  return std::sqrt(2 * delta * m) * (1 + std::sqrt(x) / 3 + x / 9) - delta;
}

namespace {

// Training seconds between storage backups of a fast tier, in checkpoints.
long backup_every(const Scenario& s, const CheckpointCost& c, double interval) {
  if (c.tier == CheckpointTier::kStorage) return 1;
  return std::max(1L, std::lround(s.reliability.checkpoint.backup_interval_s / interval));
}

}  // namespace

double peer_loss_probability(const Scenario& s, const JobFailureRates& rates, const CheckpointCost& c) {
  if (c.tier != CheckpointTier::kPeer) return 0;
  // GEMINI (Wang et al., SOSP'23): recovery falls back to remote storage only when every
  // machine holding a replica of the failed node's shard fails too. The failed node's own copy
  // is gone; each of the replicas - 1 peers fails within the window W with probability
  // 1 - exp(-h W), independently.
  const double one = -std::expm1(-rates.node_hardware_per_s * c.peer_loss_window_s);
  return std::pow(one, s.reliability.checkpoint.replicas - 1);
}

std::size_t best_sweep_point(const std::vector<IntervalPoint>& sweep, double young_s) {
  std::size_t best = sweep.size();
  double best_dist = INFINITY;
  for (std::size_t i = 0; i < sweep.size(); ++i) {
    const auto& p = sweep[i];
    if (!(p.ettr_mean > 0)) continue;
    // Distance from Young's interval in the sweep's log2 steps (k/4); ties broken to the larger.
    const double dist = std::abs(std::log2(p.interval_s / young_s));
    const bool better = best == sweep.size() || p.ettr_mean > sweep[best].ettr_mean ||
                        (p.ettr_mean == sweep[best].ettr_mean &&
                         (dist < best_dist - 1e-9 || (dist <= best_dist + 1e-9 && p.interval_s > sweep[best].interval_s)));
    if (better) {
      best = i;
      best_dist = dist;
    }
  }
  return best;
}

double expected_ettr(const Scenario& s, const JobFailureRates& rates, const CheckpointCost& c, double tau) {
  const auto& r = s.reliability;
  const double delta = c.block_s;
  const double lag = c.persist_s - c.block_s;
  const double backup_tau = static_cast<double>(backup_every(s, c, tau)) * (tau + delta);
  const double p_peer = peer_loss_probability(s, rates, c);
  double loss_rate = 0;  // expected lost wall seconds per wall second
  // Lemon failures are hardware failures of the node-attributable kind.
  const double lemon_rate = rates.total_per_s - std::accumulate(rates.per_cause_per_s.begin(), rates.per_cause_per_s.end(), 0.0);
  const auto& causes = failure_causes(r);
  for (std::size_t i = 0; i <= causes.size(); ++i) {
    const bool lemon = i == causes.size();
    const double rate = lemon ? lemon_rate : rates.per_cause_per_s[i];
    if (rate <= 0) continue;
    const bool planned = !lemon && causes[i].planned;
    const bool hw = lemon || causes[i].replaces_node;
    double cost = 0;
    if (planned) {
      cost = c.backup_persist_s + r.restart_s + c.backup_restore_s;
    } else {
      const bool from_backup = hw && (!c.survives_node_loss);
      const double fast_loss = (tau + delta) / 2 + lag, backup_loss = backup_tau / 2 + (c.backup_persist_s - c.block_s);
      const double lost = from_backup ? backup_loss : (1 - (hw ? p_peer : 0)) * fast_loss + (hw ? p_peer : 0) * backup_loss;
      // A failure that keeps every node (software, job scope) restores from the nodes' own copies.
      const double restore = from_backup ? c.backup_restore_s : hw ? c.restore_s : c.local_restore_s;
      cost = r.detection_s + (hw ? r.reschedule_s : 0) + r.restart_s + restore + lost;
    }
    loss_rate += rate * cost;
  }
  return std::max(0.0, tau / (tau + delta) * (1 - loss_rate));
}

namespace {

// Per-run outcome.
struct RunOutcome {
  double wall_s = 0, useful_s = 0, lost_s = 0, restart_s = 0, ckpt_s = 0, wait_s = 0;
  std::vector<std::uint32_t> by_cause;  // interruptions; the last slot counts lemon failures
  std::uint64_t events = 0;
  std::uint64_t arrivals = 0;  // failure arrivals drawn (before thinning)
  bool finished = true;  // false: a token-budget run stopped at the wall-clock cap
};

// Everything a run needs, shared read-only by all runs of one interval.
struct RunSetup {
  const Scenario* s = nullptr;
  JobFailureRates rates;
  CheckpointCost c;
  double interval = 0;   // training seconds between checkpoints
  long backup_every = 1;
  double p_peer_loss = 0;
  bool window = false;
  double horizon_s = 0;  // window length, or the work to finish
  double wall_cap_s = 0; // a run that needs longer stops here (reported as not finished)
  double max_rate = 0;   // thinning bound (all lemons active)
  double base_rate = 0;  // sum of per_cause_per_s: every node at the healthy rate
  double hw_node_sum = 0;  // sum of hw_node_rate: one healthy node's hardware rate
  double weibull_scale = 0;
  std::vector<double> hw_node_rate;  // per cause: node-attributable hardware rate per node (lemons)
  // The work bound shared by every run of one simulate_reliability call (sweep and final runs):
  // arrivals drawn so far, added in batches, and the most allowed. A partial sum never exceeds
  // the deterministic total, so stopping once it passes the bound gives the same verdict as
  // running everything, whatever the threads' timing.
  std::atomic<std::uint64_t>* arrivals = nullptr;
  double max_arrivals = 0;
  bool over_budget() const { return static_cast<double>(arrivals->load(std::memory_order_relaxed)) > max_arrivals; }
};

// One simulated run: an actor on the discrete-event engine. Between events the job trains at
// a known pace, so checkpoints (periodic in training time) are counted in closed form rather
// than scheduled one by one; events are failures, recoveries, repairs and the end of the run.
class RunProcess final : public sim::Process {
 public:
  enum Type : std::uint64_t { kFailure = 0, kRecovered = 1, kRepaired = 2, kFinish = 3, kWindowEnd = 4, kDrained = 5 };

  RunProcess(const RunSetup& su, std::uint64_t seed) : su_(su), rng_{seed} {
    out_.by_cause.assign(failure_causes(su.s->reliability).size() + 1, 0);
    spares_ = su.rates.spare_nodes;
    lemon_fails_.assign(static_cast<std::size_t>(su.rates.lemons), 0);
    active_lemons_ = su.rates.lemons;
  }

  RunOutcome run() {
    sim::Engine eng;
    id_ = eng.add(this);
    seg_start_ = 0;
    start_segment(eng);
    schedule_next_failure(eng);
    if (su_.window) eng.schedule(to_sim_time(Seconds(su_.horizon_s)), id_, kWindowEnd);
    else eng.schedule(to_sim_time(Seconds(su_.wall_cap_s)), id_, kWindowEnd);
    out_.events = eng.run();
    flush_arrivals();
    return out_;
  }

  void on_event(sim::Engine& eng, std::uint64_t payload) override {
    if (done_) return;
    const auto type = static_cast<Type>(payload & 0xff);
    const std::uint64_t gen = payload >> 8;
    const double now = from_sim_time(eng.now()).value;
    switch (type) {
      case kFailure: on_failure(eng, now); break;
      case kRecovered:
        if (gen != gen_ || mode_ != Mode::kRecovering) return;
        out_.restart_s += now - rec_start_;
        mode_ = Mode::kTraining;
        remote_restore_pending_ = false;  // every node holds its shard again
        seg_start_ = now;
        start_segment(eng);
        break;
      case kRepaired:
        if (missing_ > 0) {
          --missing_;
          if (missing_ == 0 && mode_ == Mode::kWaiting) {
            out_.wait_s += now - rec_start_;
            begin_recovery(eng, now, su_.s->reliability.reschedule_s + su_.s->reliability.restart_s + restore_s_);
          }
        } else {
          ++spares_;
        }
        break;
      case kDrained:
        if (gen != gen_ || mode_ != Mode::kDraining) return;
        // The announced checkpoint is durable in storage: restart from it.
        out_.ckpt_s += now - rec_start_;
        fast_pos_ = backup_pos_ = progress_;
        fast_in_backup_only_ = true;
        interrupt(eng, now, true, drain_needs_node_);
        break;
      case kFinish:
        if (gen != gen_ || mode_ != Mode::kTraining) return;
        close_segment(now);
        finish(now);
        break;
      case kWindowEnd:
        if (!su_.window) out_.finished = false;  // the cap of a token-budget run
        if (mode_ == Mode::kTraining) close_segment(now);
        else if (mode_ == Mode::kRecovering) out_.restart_s += now - rec_start_;
        else if (mode_ == Mode::kDraining) out_.ckpt_s += now - rec_start_;
        else out_.wait_s += now - rec_start_;
        finish(now);
        break;
    }
  }

 private:
  // kDraining: training stopped for an announced interruption while its checkpoint is written
  // to storage (durable only when kDrained arrives).
  enum class Mode { kTraining, kRecovering, kWaiting, kDraining };

  std::uint64_t tag(Type t) const { return (gen_ << 8) | t; }

  void schedule_next_failure(sim::Engine& eng) {
    if (!(su_.max_rate > 0)) return;
    double dt;
    if (su_.s->reliability.distribution == FailureDistribution::kWeibull) {
      dt = su_.weibull_scale * std::pow(rng_.exp1(), 1.0 / su_.s->reliability.weibull_shape);
    } else {
      dt = rng_.exp1() / su_.max_rate;
    }
    const double at = from_sim_time(eng.now()).value + dt;
    if (!(at <= su_.wall_cap_s) || (su_.window && at > su_.horizon_s)) return;
    eng.schedule(to_sim_time(Seconds(at)), id_, kFailure);
  }

  double lemon_rate() const {
    return static_cast<double>(active_lemons_) * su_.rates.node_hardware_per_s * su_.s->reliability.lemon.factor;
  }

  // Training from progress p0_ starting at seg_start_: schedule the finish of the work.
  void start_segment(sim::Engine& eng) {
    ++gen_;
    if (su_.window) return;
    const double remaining = su_.horizon_s - p0_;
    const double ckpts = std::max(0.0, std::ceil(remaining / su_.interval) - 1);
    const double at = seg_start_ + remaining + ckpts * su_.c.block_s;
    if (at <= su_.wall_cap_s) eng.schedule(to_sim_time(Seconds(at)), id_, tag(kFinish));
  }

  // Ends the current training segment at `now`: progress, stalls, and durable checkpoints.
  void close_segment(double now) {
    const double w = now - seg_start_, I = su_.interval, d = su_.c.block_s, cyc = I + d;
    const double n = std::floor(w / cyc), rem = w - n * cyc;
    progress_ = p0_ + n * I + std::min(rem, I);
    out_.ckpt_s += n * d + std::max(0.0, rem - I);
    const auto started = static_cast<long>(std::floor((w + d) / cyc));
    const long j_fast = std::max(0L, static_cast<long>(std::floor((w - su_.c.persist_s + d) / cyc)));
    if (j_fast >= 1) {
      fast_pos_ = p0_ + static_cast<double>(j_fast) * I;
      fast_in_backup_only_ = false;
    }
    const long j_bmax = std::max(0L, static_cast<long>(std::floor((w - su_.c.backup_persist_s + d) / cyc)));
    if (j_bmax >= 1) {
      const long j_b = j_bmax - (ckpt_count_ + j_bmax) % su_.backup_every;
      if (j_b >= 1) backup_pos_ = p0_ + static_cast<double>(j_b) * I;
    }
    ckpt_count_ += started;
  }

  void finish(double now) {
    done_ = true;
    out_.wall_s = now;
    out_.useful_s = progress_;
  }

  // Picks the cause of a failure; returns the cause index, or causes.size() for a lemon.
  std::size_t pick_cause(double total, bool& lemon_hit, std::size_t& lemon_idx) {
    const auto& causes = failure_causes(su_.s->reliability);
    double u = rng_.uniform() * total;
    lemon_hit = false;
    const double lr = lemon_rate();
    if (u < lr) {
      lemon_hit = true;
      const long k = static_cast<long>(rng_.uniform() * static_cast<double>(active_lemons_));
      long seen = 0;
      for (std::size_t i = 0; i < lemon_fails_.size(); ++i) {
        if (lemon_fails_[i] < 0) continue;
        if (seen++ == k) { lemon_idx = i; break; }
      }
      return causes.size();
    }
    u -= lr;
    // Healthy part: lemon nodes' own share of the node-attributable rate is inside lr.
    const double healthy = static_cast<double>(su_.rates.nodes - active_lemons_) / static_cast<double>(su_.rates.nodes);
    std::size_t last = 0;
    for (std::size_t i = 0; i < causes.size(); ++i) {
      double r = su_.rates.per_cause_per_s[i];
      if (su_.hw_node_rate[i] > 0) r *= healthy;
      if (r <= 0) continue;
      last = i;
      if (u < r) return i;
      u -= r;
    }
    return last;
  }

  // Adds this run's pending arrivals to the shared count; past the bound the run stops (the
  // caller reports the error).
  void flush_arrivals() {
    su_.arrivals->fetch_add(pending_arrivals_, std::memory_order_relaxed);
    out_.arrivals += pending_arrivals_;
    pending_arrivals_ = 0;
    if (su_.over_budget()) done_ = true;
  }

  void on_failure(sim::Engine& eng, double now) {
    if (++pending_arrivals_ >= 4096) {
      flush_arrivals();
      if (done_) return;  // no further arrival is scheduled: the engine drains and stops
    }
    schedule_next_failure(eng);
    // Thinning (Lewis and Shedler 1979): arrivals at the bound max_rate, accepted with
    // probability rate(t) / max_rate; the rate falls as lemons are evicted.
    // base_rate counts every node as healthy: take the active lemons out, then add them at their rate.
    const double rate = su_.base_rate - su_.hw_node_sum * static_cast<double>(active_lemons_) + lemon_rate();
    if (rng_.uniform() * su_.max_rate >= rate) return;
    bool lemon = false;
    std::size_t li = 0;
    const std::size_t ci = pick_cause(rate, lemon, li);
    ++out_.by_cause[ci];
    const auto& r = su_.s->reliability;
    const auto& causes = failure_causes(r);
    const bool planned = !lemon && causes[ci].planned;
    bool needs_node = lemon || causes[ci].replaces_node;
    if (lemon) {
      // A lemon passes diagnostics and stays until it has failed evict_after times.
      if (++lemon_fails_[li] >= r.lemon.evict_after) {
        lemon_fails_[li] = -1;
        --active_lemons_;
      } else {
        needs_node = false;
      }
    }
    if (mode_ == Mode::kTraining) {
      close_segment(now);
      if (planned) {
        // Announced: checkpoint to durable storage first (training stalls meanwhile), then
        // restart from it. The checkpoint becomes durable backup_persist_s later (kDrained); a
        // failure or the window's end before that finds it not durable.
        ++gen_;
        mode_ = Mode::kDraining;
        rec_start_ = now;
        drain_needs_node_ = needs_node;
        eng.schedule(to_sim_time(Seconds(std::min(now + su_.c.backup_persist_s, su_.wall_cap_s + 1))), id_, tag(kDrained));
        return;
      }
    } else if (planned) {
      return;  // maintenance folded into the recovery (or announced checkpoint) in progress
    } else if (mode_ == Mode::kDraining) {
      out_.ckpt_s += now - rec_start_;  // the stall up to now; the checkpoint never became durable
    }
    interrupt(eng, now, false, needs_node);
  }

  // The job stops at `now` and restarts from its last durable checkpoint; `planned`: from the
  // announced checkpoint just written (no detection). `needs_node`: a node must be swapped.
  void interrupt(sim::Engine& eng, double now, bool planned, bool needs_node) {
    const auto& r = su_.s->reliability;
    // Where the restart resumes from.
    const bool lose_fast = needs_node && (!su_.c.survives_node_loss || rng_.uniform() < su_.p_peer_loss);
    if (lose_fast) {
      fast_pos_ = backup_pos_;
      fast_in_backup_only_ = true;
    }
    // Until the next local checkpoint, the restart point exists only in remote storage. Else
    // a swapped node reads its shard from elsewhere (restore_s, peer tier: from a peer), and
    // so does one swapped by an earlier failure whose recovery has not finished; when every
    // node keeps its own copy, local_restore_s.
    remote_restore_pending_ = remote_restore_pending_ || needs_node;
    restore_s_ = fast_in_backup_only_      ? su_.c.backup_restore_s
                 : remote_restore_pending_ ? su_.c.restore_s
                                           : su_.c.local_restore_s;
    out_.lost_s += progress_ - fast_pos_;
    progress_ = p0_ = fast_pos_;
    // Time already spent recovering or waiting is counted up to now.
    if (mode_ == Mode::kRecovering) out_.restart_s += now - rec_start_;
    else if (mode_ == Mode::kWaiting) out_.wait_s += now - rec_start_;
    double swap = 0;
    if (needs_node) {
      eng.schedule(to_sim_time(Seconds(now + r.repair_hours * 3600)), id_, kRepaired);
      if (spares_ > 0) {
        --spares_;
        swap = r.reschedule_s;
      } else {
        ++missing_;
      }
    }
    if (missing_ > 0) {
      ++gen_;
      mode_ = Mode::kWaiting;
      rec_start_ = now;
      return;
    }
    begin_recovery(eng, now, (planned ? 0 : r.detection_s) + swap + r.restart_s + restore_s_);
  }

  void begin_recovery(sim::Engine& eng, double now, double duration) {
    ++gen_;
    mode_ = Mode::kRecovering;
    rec_start_ = now;
    const double at = now + duration;
    eng.schedule(to_sim_time(Seconds(std::min(at, su_.wall_cap_s + 1))), id_, tag(kRecovered));
  }

  const RunSetup& su_;
  sim::Rng rng_;
  std::uint32_t id_ = 0;
  RunOutcome out_;
  Mode mode_ = Mode::kTraining;
  bool done_ = false;
  std::uint64_t gen_ = 0;
  double seg_start_ = 0, p0_ = 0, progress_ = 0, fast_pos_ = 0, backup_pos_ = 0, rec_start_ = 0, restore_s_ = 0;
  long ckpt_count_ = 0, spares_ = 0, missing_ = 0;
  std::uint64_t pending_arrivals_ = 0;
  bool fast_in_backup_only_ = false;
  bool remote_restore_pending_ = false;  // a node swapped since the last completed recovery
  bool drain_needs_node_ = false;  // kDraining: the announced interruption swaps a node
  std::vector<int> lemon_fails_;  // per lemon: failures so far, -1 once evicted
  long active_lemons_ = 0;        // lemons not yet evicted
};

std::uint64_t run_seed(std::uint64_t seed, int run) {
  sim::Rng r{seed ^ (0xD1B54A32D192ED03ULL * static_cast<std::uint64_t>(run + 1))};
  return r.next();
}

std::vector<RunOutcome> simulate_runs(const RunSetup& su, int runs, std::uint64_t seed, int threads) {
  std::vector<RunOutcome> out(static_cast<std::size_t>(runs));
  int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n = std::min(n, runs);
  std::atomic<int> next{0};
  // The first exception of any thread stops the others and is rethrown after the join.
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    try {
      for (int i; (i = next.fetch_add(1)) < runs && !su.over_budget();) {
        RunProcess p(su, run_seed(seed, i));
        out[static_cast<std::size_t>(i)] = p.run();
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next.store(runs);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return out;
}

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  double sum = 0;
  for (double x : v) sum += x;
  p.mean = sum / static_cast<double>(v.size());
  std::sort(v.begin(), v.end());
  auto q = [&](double f) {  // linear interpolation between order statistics (Hyndman-Fan type 7)
    const double h = f * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
  };
  p.p10 = q(0.1);
  p.p50 = q(0.5);
  p.p90 = q(0.9);
  return p;
}

double mean_ettr(const std::vector<RunOutcome>& v) {
  double s = 0;
  for (const auto& o : v) s += o.wall_s > 0 ? o.useful_s / o.wall_s : 0;
  return s / static_cast<double>(v.size());
}

}  // namespace

ReliabilityResult simulate_reliability(const Scenario& s, const Estimate& e, const ReliabilityOptions& opt) {
  const auto& r = s.reliability;
  ReliabilityResult res;
  res.runs = r.runs;
  res.seed = r.seed;
  res.rates = job_failure_rates(s);
  res.checkpoint = checkpoint_cost(s, e);
  const auto& c = res.checkpoint;
  for (const auto& cause : failure_causes(r)) res.cause_names.push_back(cause.name);
  res.cause_names.emplace_back("lemon_node");

  // What is simulated: a wall-clock window, or the token budget run to completion.
  // The budget: reliability.tokens, else the run's (training.tokens, or training.flops over the
  // model FLOPs per token).
  const double tokens = r.tokens > 0 ? r.tokens : e.run.defined ? e.run.tokens : 0.0;
  // The field the budget came from, for messages.
  const std::string budget_field = r.tokens > 0                 ? "reliability.tokens"
                                   : s.training.tokens > 0 ? "training.tokens"
                                                           : "training.flops";
  if (r.days > 0) {
    res.window = true;
    res.window_s = r.days * kDay;
  } else if (tokens > 0) {
    if (!(e.tokens_per_s > 0)) throw InputError(budget_field, "the estimate gives no throughput");
    res.work_s = tokens / e.tokens_per_s;
    res.tokens = tokens;
  } else {
    throw InputError("reliability.days", "give reliability.days (a wall-clock window) or a token budget "
                                         "(reliability.tokens, training.tokens or training.flops)");
  }

  const double mtbi = res.rates.mtbi_s();
  const double unplanned_delta = std::max(c.block_s, 1e-3);
  // Young's and Daly's M is the mean time between interruptions that lose work: a planned one is
  // checkpointed first and rolls nothing back (Young 1974 and Daly 2006 weigh the interval's
  // cost against the work a failure loses). An interval longer than the run checkpoints nothing
  // within it: with nothing unplanned, or at tiny failure rates (rate_scale 1e-300), Young's
  // interval passes any clock (inf, then NaN ETTRs), so both are capped at the run's length
  // (the window, or the failure-free work).
  const double horizon = res.window ? res.window_s : res.work_s;
  const double m_unplanned = res.rates.unplanned_mtbi_s();
  res.young_s = std::min(young_interval_s(unplanned_delta, m_unplanned), horizon);
  res.daly_s = std::min(daly_interval_s(unplanned_delta, m_unplanned), horizon);
  // Intervals shorter than a checkpoint write: the next snapshot would start before the last
  // one is durable (and backups before the last backup drained).
  const double min_interval = std::max(c.persist_s - c.block_s, 1.0);
  if (r.checkpoint.interval_s > 0 && r.checkpoint.interval_s < min_interval) {
    throw InputError("reliability.checkpoint.interval_s",
                     c.persist_s - c.block_s >= 1
                         ? fmt::format("{:g} s is shorter than a checkpoint write ({:.3g} s)", r.checkpoint.interval_s, min_interval)
                         : fmt::format("{:g} s: intervals below 1 s are not simulated", r.checkpoint.interval_s));
  }
  if (c.tier != CheckpointTier::kStorage && r.checkpoint.backup_interval_s < c.backup_persist_s - c.persist_s) {
    throw InputError("reliability.checkpoint.backup_interval_s",
                     fmt::format("{:g} s is shorter than a backup write to storage ({:.3g} s)",
                                 r.checkpoint.backup_interval_s, c.backup_persist_s - c.persist_s));
  }

  RunSetup su;
  su.s = &s;
  su.rates = res.rates;
  su.c = c;
  su.p_peer_loss = peer_loss_probability(s, res.rates, c);
  su.window = res.window;
  su.horizon_s = res.window ? res.window_s : res.work_s;
  for (std::size_t i = 0; i < failure_causes(r).size(); ++i) {
    const auto& cause = failure_causes(r)[i];
    const bool node_hw = cause.replaces_node && !cause.planned && cause.scope != FailureScope::kJob;
    su.hw_node_rate.push_back(node_hw ? res.rates.per_cause_per_s[i] / static_cast<double>(res.rates.nodes) : 0.0);
  }
  su.max_rate = res.rates.total_per_s;
  for (double x : su.rates.per_cause_per_s) su.base_rate += x;
  for (double x : su.hw_node_rate) su.hw_node_sum += x;
  if (r.distribution == FailureDistribution::kWeibull) {
    su.weibull_scale = 1.0 / (su.max_rate * std::tgamma(1 + 1 / r.weibull_shape));
  }
  // Guards: a run must end. A token-budget run stops at 100x its failure-free length (reported
  // as not finished); and the total number of failures simulated is bounded.
  const double recovery = r.detection_s + r.restart_s + c.restore_s;
  if (!res.window && mtbi < recovery) {
    throw InputError("reliability", fmt::format("the mean time between interruptions ({:.3g} s) is shorter than a "
                                                "recovery ({:.3g} s): the run cannot make progress", mtbi, recovery));
  }
  su.wall_cap_s = res.window ? res.window_s : 100 * res.work_s + 30 * kDay;
  // Simulated time is int64 nanoseconds (292 years); keep every event well inside it.
  if (su.wall_cap_s > 200 * 365 * kDay) {
    throw InputError(budget_field, fmt::format("{:.3g} failure-free days is beyond what can be simulated "
                                               "(at most 2 years of work)", res.work_s / kDay));
  }
  // The interval sweep: log-spaced around Young's, 2^(1/4) apart, over a factor of 8 each way,
  // with common random numbers (the same failure times for every interval); min(runs, 200) runs
  // at each point.
  const bool sweep = opt.sweep && su.max_rate > 0;
  const int sweep_runs = std::min(r.runs, 200);
  std::vector<double> sweep_points;
  for (int k = -12; sweep && k <= 12; ++k) {
    const double iv = res.young_s * std::pow(2.0, k / 4.0);
    if (iv >= min_interval && iv <= horizon) sweep_points.push_back(iv);
  }
  // The work bound, a cheap check first: the expected arrivals of every run, sweep included, at
  // the interval to be simulated (a token-budget run lasts its work over the first-order ETTR,
  // floored at 5 %, up to its cap). Runs that last longer than that (waiting for repairs, a
  // formula too optimistic) are caught while they run: every arrival counts against the same
  // bound (RunSetup::arrivals).
  const double first_interval = r.checkpoint.interval_s > 0 ? r.checkpoint.interval_s : std::max(res.young_s, min_interval);
  const double expected_wall =
      res.window ? res.window_s
                 : std::min(su.wall_cap_s, res.work_s / std::max(0.05, expected_ettr(s, res.rates, c, first_interval)));
  const double all_runs = r.runs + static_cast<double>(sweep_points.size()) * sweep_runs;
  const double expected_failures = (su.max_rate > 0 ? su.max_rate : 0) * expected_wall * all_runs;
  auto too_much = [&](const std::string& how_many) {
    return InputError("reliability.runs",
                      fmt::format("{} failure arrivals to simulate ({} runs{}; at most {:.3g}): lower "
                                  "reliability.runs or the failure rates",
                                  how_many, r.runs,
                                  sweep_points.empty() ? std::string()
                                                       : fmt::format(" and {} x {} for the interval sweep",
                                                                     sweep_points.size(), sweep_runs),
                                  opt.max_failures));
  };
  if (expected_failures > opt.max_failures) throw too_much(fmt::format("{:.3g} expected", expected_failures));
  std::atomic<std::uint64_t> arrivals{0};
  su.arrivals = &arrivals;
  su.max_arrivals = opt.max_failures;
  auto simulate_checked = [&](const RunSetup& x, int n) {
    auto out = simulate_runs(x, n, r.seed, opt.threads);
    if (su.over_budget()) throw too_much(fmt::format("more than {:.3g}", opt.max_failures));
    return out;
  };

  auto setup_for = [&](double interval) {
    RunSetup x = su;
    x.interval = interval;
    x.backup_every = backup_every(s, c, interval);
    return x;
  };
  // The formula misses runs that stall (spare nodes exhausted, waiting for repairs): two pilot
  // runs at the first interval, the smaller of their arrival counts times all the runs, refuse
  // in a fraction of a second what would otherwise stop at the bound after a minute or more. A
  // projection, not a count: refused only beyond twice the bound, and from the smaller run, as
  // one run that stalls among many that do not would overstate the total (the count itself
  // still holds the bound). Seeded as the runs are and then discarded, they change no result.
  if (all_runs > 2 && su.max_rate > 0) {
    const int pilot = 2;
    const auto pilots = simulate_checked(setup_for(first_interval), pilot);
    std::uint64_t least = pilots.front().arrivals;
    for (const auto& o : pilots) least = std::min(least, o.arrivals);
    const double projected = static_cast<double>(least) * all_runs;
    if (projected > 2 * opt.max_failures) {
      throw too_much(fmt::format("about {:.3g} (projected from {} pilot runs)", projected, pilot));
    }
    arrivals.store(0);
  }
  for (const double iv : sweep_points) {
    const auto runs = simulate_checked(setup_for(iv), sweep_runs);
    IntervalPoint pt{iv, mean_ettr(runs), expected_ettr(s, res.rates, c, iv)};
    for (const auto& o : runs) res.events += o.events;
    res.sweep.push_back(pt);
  }
  const std::size_t best = best_sweep_point(res.sweep, res.young_s);
  const double best_i = best < res.sweep.size() ? res.sweep[best].interval_s : std::max(res.young_s, min_interval);
  res.optimal_s = best_i;
  res.interval_s = r.checkpoint.interval_s > 0 ? r.checkpoint.interval_s : best_i;
  if (su.max_rate <= 0 && r.checkpoint.interval_s <= 0) res.interval_s = su.horizon_s;  // nothing fails

  const auto runs = simulate_checked(setup_for(res.interval_s), r.runs);
  res.failure_arrivals = arrivals.load();
  std::vector<double> ettr, days, n_int;
  res.interruptions_by_cause.assign(res.cause_names.size(), 0);
  const double gpus = static_cast<double>(s.cluster.num_gpus), nr = static_cast<double>(runs.size());
  for (const auto& o : runs) {
    res.events += o.events;
    if (!o.finished) ++res.unfinished_runs;
    ettr.push_back(o.wall_s > 0 ? o.useful_s / o.wall_s : 0);
    days.push_back(o.wall_s / kDay);
    double total = 0;
    for (std::size_t i = 0; i < o.by_cause.size(); ++i) {
      res.interruptions_by_cause[i] += o.by_cause[i] / nr;
      total += o.by_cause[i];
    }
    n_int.push_back(total);
    res.lost_work_gpu_h += o.lost_s * gpus / 3600 / nr;
    res.restart_gpu_h += o.restart_s * gpus / 3600 / nr;
    res.checkpoint_gpu_h += o.ckpt_s * gpus / 3600 / nr;
    res.waiting_gpu_h += o.wait_s * gpus / 3600 / nr;
    res.useful_gpu_h += o.useful_s * gpus / 3600 / nr;
  }
  res.ettr = percentiles(ettr);
  res.wall_clock_days = percentiles(days);
  res.interruptions = percentiles(n_int);
  res.expected_ettr = expected_ettr(s, res.rates, c, res.interval_s);
  return res;
}

void apply_goodput(const Scenario& s, const ReliabilityResult& r, RunTotals& run) {
  if (!run.defined || r.window || r.useful_gpu_h <= 0) return;
  const double gpus = static_cast<double>(s.cluster.num_gpus);
  const double ideal_days = run.days;
  run.days = r.wall_clock_days.mean;
  run.gpu_hours = run.days * 24 * gpus;
  run.cost_usd = run.gpu_hours * s.cluster.price_per_gpu_hour_usd;
  if (ideal_days > 0) run.energy_mwh *= (r.useful_gpu_h + r.lost_work_gpu_h) / r.useful_gpu_h;
}

void rank_by_goodput(PlanResult& r) {
  std::vector<PlanEntry> kept;
  std::string first_field, first_why;
  for (auto& p : r.plans) {
    const JobFailureRates rates = job_failure_rates(p.scenario);
    CheckpointCost c;
    try {
      c = checkpoint_cost(p.scenario, p.estimate);
    } catch (const InputError& e) {
      // This split's checkpoint shard does not fit its tier (another split may: ZeRO and PP
      // shard it differently): it cannot run as configured, so it leaves the ranking.
      if (r.checkpoint_unfit++ == 0) {
        r.checkpoint_unfit_error = e.what();
        first_field = e.field();
        first_why = r.checkpoint_unfit_error.substr(std::min(e.field().size() + 2, r.checkpoint_unfit_error.size()));
      }
      if (r.checkpoint_unfit == r.plans.size()) {
        throw InputError(first_field, fmt::format("the checkpoint of none of the {} best plans fits; the best: {} "
                                                  "(splits that shard the state further, ZeRO-3 or more TP x PP, "
                                                  "hold less per node: pin them, or raise the capacity)",
                                                  r.plans.size(), first_why));
      }
      continue;
    }
    // Interruptions faster than a recovery: the run cannot make progress (the Monte Carlo's
    // guard, simulate()); the split leaves the ranking.
    const double recovery = p.scenario.reliability.detection_s + p.scenario.reliability.restart_s + c.restore_s;
    if (rates.mtbi_s() < recovery) {
      if (r.no_progress++ == 0) {
        r.no_progress_error = fmt::format("the mean time between interruptions ({:.3g} s) is shorter than a recovery "
                                          "({:.3g} s): the run cannot make progress", rates.mtbi_s(), recovery);
      }
      continue;
    }
    // Young's interval from the interruptions that lose work (planned ones are checkpointed
    // first); with none, no periodic checkpoint.
    const double tau = rates.unplanned_per_s > 0 ? young_interval_s(std::max(c.block_s, 1e-3), rates.unplanned_mtbi_s()) : 1e30;
    p.expected_ettr = std::max(1e-6, expected_ettr(p.scenario, rates, c, std::max(tau, c.persist_s - c.block_s)));
    kept.push_back(std::move(p));
  }
  if (kept.empty() && r.no_progress > 0) {
    throw InputError("reliability", fmt::format("none of the {} best plans makes progress; the best: {}", r.plans.size(),
                                                r.no_progress_error));
  }
  r.plans = std::move(kept);
  std::stable_sort(r.plans.begin(), r.plans.end(), [](const PlanEntry& a, const PlanEntry& b) {
    return a.objective / a.expected_ettr < b.objective / b.expected_ettr;
  });
}

}  // namespace wanka
