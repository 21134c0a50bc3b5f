// The cluster replay: gang placement on nodes and racks, preemption with a restart cost, node
// failures, and the statistics of one policy run (docs/model.md, "cluster").
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "sim/rng.hpp"
#include "wanka/catalog.hpp"
#include "wanka/cluster.hpp"
#include "wanka/error.hpp"
#include "wanka/scenario.hpp"
#include "wanka/sim.hpp"

namespace wanka::cluster {

namespace {

constexpr double kNsPerS = 1e9;

// Thrown by a replay that compare() cancelled: never reported (an earlier policy's error is).
struct Cancelled {};
// Simulated times saturate at kMaxTime (~63 years) so that no input (a huge duration, a tiny
// speed) can overflow the clock: the sum of two saturated times still fits in 64 bits, and the
// replay stops before kMaxTime (a job that would end later is reported as not finishing).
constexpr SimTime kMaxTime = 2'000'000'000'000'000'000;
SimTime to_ns(double s) {
  const double ns = s * kNsPerS;
  return ns >= static_cast<double>(kMaxTime) ? kMaxTime : static_cast<SimTime>(std::llround(std::max(ns, 0.0)));
}
SimTime later(SimTime t, double s) { return std::min(kMaxTime, t + to_ns(s)); }  // t <= kMaxTime
double to_s(SimTime t) { return static_cast<double>(t) / kNsPerS; }

enum class Kind : std::uint64_t { kArrival = 1, kCompletion, kPass, kWake, kFailure, kRepair };
std::uint64_t pack(Kind k, std::uint32_t epoch, std::uint32_t index) {
  return (static_cast<std::uint64_t>(k) << 56) | (static_cast<std::uint64_t>(epoch & 0xFFFFFFu) << 32) | index;
}

enum class Status : std::uint8_t { kPending, kWaiting, kRunning, kDone, kSkipped };

struct JobState {
  double work_s = 0;        // at speed 1
  double done_s = 0;        // work done before the current run
  double attained_prev_gpu_s = 0;
  double rate = 0;          // work seconds per second while productive
  SimTime arrival = 0, first_start = -1, finish = -1, alloc_t = -1, productive_t = -1, wait_since = 0;
  std::uint32_t epoch = 0;
  int pool = -1;
  Status status = Status::kPending;
  bool ran_before = false;
  std::vector<std::pair<int, int>> alloc;  // (node, GPUs)
};

struct PoolState {
  int gpus_per_node = 0, first_node = 0, nodes = 0, first_rack = 0, racks = 0;
  double speed = 1;
  double failure_rate_per_node_s = 0;
  long free = 0, up = 0;
  std::vector<std::vector<int>> bucket;  // up nodes by free GPU count 0..G
};

// Per-node hardware failure rate (per second) from the reliability model's default causes:
// GPU-scope causes times the GPUs in the node plus node-scope causes; job-scope and planned
// causes do not take a node down (Llama 3, arXiv 2407.21783, Table 5).
double node_failure_rate_per_s(int gpus_per_node, double scale) {
  double per_day = 0;
  for (const auto& c : default_failure_causes()) {
    if (c.planned || !c.replaces_node) continue;
    if (c.scope == FailureScope::kGpu) per_day += c.rate_per_day * gpus_per_node;
    else if (c.scope == FailureScope::kNode) per_day += c.rate_per_day;
  }
  return per_day * scale / 86400.0;
}

double percentile(std::vector<double> v, double q) {  // nearest rank
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

const char* size_bucket(int gpus, std::size_t* index) {
  static const struct { int hi; const char* name; } kBuckets[] = {{1, "1"}, {4, "2-4"}, {8, "5-8"}, {32, "9-32"},
                                                                    {std::numeric_limits<int>::max(), "33+"}};
  for (std::size_t i = 0;; ++i) {
    if (gpus <= kBuckets[i].hi) {
      *index = i;
      return kBuckets[i].name;
    }
  }
}

class Simulator final : public Context, public sim::Process {
 public:
  // `cancel`, when given and set, stops the replay at its next pass (Cancelled): compare() sets
  // it once a policy listed before this one has failed, whose error is then the one reported.
  Simulator(const Workload& w, const ClusterSpec& c, Policy& p, const SimOptions& o,
            const std::atomic<bool>* cancel = nullptr)
      : w_(w), c_(c), policy_(p), opt_(o), cancel_(cancel), rng_{o.seed ^ 0xC1A5u} {
    build_cluster();
    charge_reads_ = p.scans_queue();
    round_ = to_ns(o.round_s);
    jobs_.resize(w.jobs.size());
    for (std::size_t i = 0; i < w.jobs.size(); ++i) {
      jobs_[i].work_s = w.jobs[i].duration_s;
      jobs_[i].arrival = to_ns(w.jobs[i].submit_s);
    }
  }

  PolicyResult run();

  // Context
  double now_s() const override { return to_s(engine_.now()); }
  // A queue-scanning policy is charged for the lists it asks for (scanned_).
  const std::vector<JobIndex>& waiting() const override {
    if (charge_reads_) scanned_ += double(waiting_.size());
    return waiting_;
  }
  const std::vector<JobIndex>& running() const override {
    if (charge_reads_) scanned_ += double(running_.size());
    return running_;
  }
  const Job& job(JobIndex j) const override { return w_.jobs[j]; }
  double arrival_s(JobIndex j) const override { return to_s(jobs_[j].arrival); }
  double attained_gpu_s(JobIndex j) const override {
    const JobState& s = jobs_[j];
    double a = s.attained_prev_gpu_s;
    if (s.status == Status::kRunning) a += w_.jobs[j].gpus * to_s(engine_.now() - s.alloc_t);
    return a;
  }
  double remaining_s(JobIndex j) const override {
    const JobState& s = jobs_[j];
    return std::max(0.0, s.work_s - s.done_s - progress_now(s));
  }
  double expected_end_s(JobIndex j) const override {
    const JobState& s = jobs_[j];
    if (s.status != Status::kRunning) return now_s() + remaining_s(j);
    return to_s(std::max(s.productive_t, engine_.now())) + remaining_s(j) / s.rate;
  }
  double last_start_or_arrival_s(JobIndex j) const override { return to_s(jobs_[j].wait_since); }
  long capacity_gpus() const override { return capacity_; }
  long free_gpus() const override { return free_; }
  int pools() const override { return static_cast<int>(pools_.size()); }
  long pool_free_gpus(int p) const override { return pools_[p].free; }
  double speed(JobIndex j, int p) const override { return speed_[j * pools_.size() + p]; }
  int pool_of(JobIndex j) const override { return jobs_[j].status == Status::kRunning ? jobs_[j].pool : -1; }
  bool fits(JobIndex j, int pool) const override;
  bool start(JobIndex j, int pool) override;
  void preempt(JobIndex j) override;
  void wake_at(double t_s) override;
  bool is_running(JobIndex j) const override { return jobs_[j].status == Status::kRunning; }
  std::size_t job_count() const override { return jobs_.size(); }

  void on_event(sim::Engine& e, std::uint64_t payload) override;

 private:
  void build_cluster();
  double progress_now(const JobState& s) const {
    if (s.status != Status::kRunning) return 0;
    const SimTime t = engine_.now() - s.productive_t;
    return t > 0 ? s.rate * to_s(t) : 0;
  }
  bool pool_fits(int p, int g) const;
  void place(int p, int g, std::vector<std::pair<int, int>>& out);
  void take(int node, int n);            // n GPUs of an up node
  void give(int node, int n);            // back to an up node
  void move_bucket(int node, int from, int to);
  void release(JobIndex j, bool requeue);
  void request_pass();
  void sync_lists();
  void pass();
  void record();
  void schedule_failure();
  void fail_node();

  const Workload& w_;
  const ClusterSpec& c_;
  Policy& policy_;
  const SimOptions& opt_;
  const std::atomic<bool>* cancel_;
  sim::Engine engine_;
  sim::Rng rng_;
  std::uint32_t self_ = 0;
  SimTime round_ = 0;

  std::vector<PoolState> pools_;
  std::vector<int> node_free_, node_pool_, node_pos_, node_rack_;
  std::vector<char> node_up_;
  std::vector<long> rack_free_;
  std::vector<double> speed_;  // job x pool
  long capacity_ = 0, free_ = 0;

  std::vector<JobState> jobs_;
  std::vector<JobIndex> waiting_, running_, started_, preempted_;
  // Jobs gone over in the lists over the replay: list updates, and the lists a queue-scanning
  // policy asks for (Policy::scans_queue); bounded by SimOptions::max_scanned_jobs (pass()).
  mutable double scanned_ = 0;
  bool charge_reads_ = false;
  std::size_t next_arrival_ = 0;
  std::size_t done_ = 0, to_run_ = 0;
  bool pass_pending_ = false;
  SimTime next_wake_ = std::numeric_limits<SimTime>::max();
  std::uint32_t failure_epoch_ = 0;
  std::uint64_t preemptions_ = 0, failures_ = 0;

  struct Mark {
    SimTime t;
    long busy, capacity;
    std::size_t waiting;
  };
  std::vector<Mark> marks_;
};

void Simulator::build_cluster() {
  int node = 0, rack = 0;
  for (const GpuPool& gp : c_.pools) {
    PoolState p;
    p.gpus_per_node = gp.gpus_per_node;
    p.first_node = node;
    p.nodes = gp.nodes;
    p.first_rack = rack;
    const int npr = c_.nodes_per_rack > 0 ? c_.nodes_per_rack : gp.nodes;
    p.racks = (gp.nodes + npr - 1) / npr;
    p.speed = gp.speed;
    p.failure_rate_per_node_s = node_failure_rate_per_s(gp.gpus_per_node, opt_.failure_rate_scale);
    p.bucket.assign(static_cast<std::size_t>(gp.gpus_per_node) + 1, {});
    for (int i = 0; i < gp.nodes; ++i, ++node) {
      node_free_.push_back(gp.gpus_per_node);
      node_pool_.push_back(static_cast<int>(pools_.size()));
      node_rack_.push_back(rack + i / npr);
      node_up_.push_back(1);
      node_pos_.push_back(static_cast<int>(p.bucket[gp.gpus_per_node].size()));
      p.bucket[gp.gpus_per_node].push_back(node);
    }
    for (int r = 0; r < p.racks; ++r) {
      const int n = std::min(npr, gp.nodes - r * npr);
      rack_free_.push_back(static_cast<long>(n) * gp.gpus_per_node);
    }
    rack += p.racks;
    p.free = p.up = static_cast<long>(gp.nodes) * gp.gpus_per_node;
    capacity_ += p.up;
    pools_.push_back(std::move(p));
  }
  free_ = capacity_;
  // Throughput of each job on each pool (Gavel's matrix): the job's own figure for the type,
  // else the pool's speed; 0 where the job requires another type.
  speed_.assign(w_.jobs.size() * pools_.size(), 0.0);
  for (std::size_t j = 0; j < w_.jobs.size(); ++j) {
    const Job& job = w_.jobs[j];
    for (std::size_t p = 0; p < pools_.size(); ++p) {
      const std::string& type = c_.pools[p].gpu;
      if (!job.gpu_type.empty() && job.gpu_type != type) continue;
      const auto it = job.speed.find(type);
      speed_[j * pools_.size() + p] = it != job.speed.end() ? it->second : pools_[p].speed;
    }
  }
}

void Simulator::move_bucket(int node, int from, int to) {
  auto& b = pools_[node_pool_[node]].bucket;
  auto& src = b[from];
  const int pos = node_pos_[node];
  src[pos] = src.back();
  node_pos_[src[pos]] = pos;
  src.pop_back();
  node_pos_[node] = static_cast<int>(b[to].size());
  b[to].push_back(node);
}

void Simulator::take(int node, int n) {
  const int f = node_free_[node];
  move_bucket(node, f, f - n);
  node_free_[node] = f - n;
  pools_[node_pool_[node]].free -= n;
  rack_free_[node_rack_[node]] -= n;
  free_ -= n;
}

void Simulator::give(int node, int n) {
  if (!node_up_[node]) return;  // a failed node comes back whole after repair
  const int f = node_free_[node];
  move_bucket(node, f, f + n);
  node_free_[node] = f + n;
  pools_[node_pool_[node]].free += n;
  rack_free_[node_rack_[node]] += n;
  free_ += n;
}

bool Simulator::pool_fits(int p, int g) const {
  const PoolState& ps = pools_[p];
  if (ps.free < g) return false;
  if (c_.placement != Placement::kStrict) return true;
  const int G = ps.gpus_per_node;
  const auto& b = ps.bucket;
  auto any_from = [&](int lo) {
    for (int f = lo; f <= G; ++f)
      if (!b[f].empty()) return true;
    return false;
  };
  if (g <= G) return any_from(g);
  const std::size_t full = static_cast<std::size_t>(g / G);
  const int rem = g % G;
  if (b[G].size() < full) return false;
  if (rem == 0 || b[G].size() > full) return true;
  for (int f = rem; f < G; ++f)
    if (!b[f].empty()) return true;
  return false;
}

bool Simulator::fits(JobIndex j, int pool) const {
  const int g = w_.jobs[j].gpus;
  if (pool >= 0) return speed(j, pool) > 0 && pool_fits(pool, g);
  for (int p = 0; p < pools(); ++p)
    if (speed(j, p) > 0 && pool_fits(p, g)) return true;
  return false;
}

// Chooses nodes for g GPUs in pool p (pool_fits(p, g) holds) and takes them.
void Simulator::place(int p, int g, std::vector<std::pair<int, int>>& out) {
  out.clear();
  PoolState& ps = pools_[p];
  const int G = ps.gpus_per_node;
  auto grab = [&](int node, int n) {
    take(node, n);
    for (auto& a : out)
      if (a.first == node) {
        a.second += n;
        return;
      }
    out.emplace_back(node, n);
  };
  auto best_fit_node = [&](int need) {  // node with the fewest free GPUs >= need, or -1
    for (int f = need; f <= G; ++f)
      if (!ps.bucket[f].empty()) return ps.bucket[f].back();
    return -1;
  };
  if (c_.placement == Placement::kSpread) {
    for (int k = 0; k < g; ++k) {
      int f = G;
      while (ps.bucket[f].empty()) --f;
      grab(ps.bucket[f].back(), 1);
    }
    return;
  }
  if (g <= G) {
    const int node = best_fit_node(g);
    if (node >= 0) {
      grab(node, g);
      return;
    }
  }
  if (c_.placement == Placement::kStrict) {
    for (int k = 0; k < g / G; ++k) grab(ps.bucket[G].back(), G);
    if (g % G) grab(best_fit_node(g % G), g % G);
    return;
  }
  // Consolidate across nodes: the rack with the fewest free GPUs that still holds the job
  // (best fit), its emptiest nodes first; failing one rack, the emptiest nodes of the pool.
  int need = g;
  int rack = -1;
  if (ps.racks > 1) {
    for (int r = ps.first_rack; r < ps.first_rack + ps.racks; ++r)
      if (rack_free_[r] >= g && (rack < 0 || rack_free_[r] < rack_free_[rack])) rack = r;
  }
  if (rack >= 0) {
    const int npr = c_.nodes_per_rack;
    const int lo = ps.first_node + (rack - ps.first_rack) * npr, hi = std::min(lo + npr, ps.first_node + ps.nodes);
    std::vector<int> nodes;
    for (int n = lo; n < hi; ++n)
      if (node_up_[n] && node_free_[n] > 0) nodes.push_back(n);
    std::sort(nodes.begin(), nodes.end(), [&](int a, int b) {
      return node_free_[a] != node_free_[b] ? node_free_[a] > node_free_[b] : a < b;
    });
    for (int n : nodes) {
      if (need == 0) break;
      const int k = std::min(need, node_free_[n]);
      grab(n, k);
      need -= k;
    }
    return;
  }
  for (int f = G; f >= 1 && need > 0;) {
    if (ps.bucket[f].empty()) {
      --f;
      continue;
    }
    const int k = std::min(need, f);
    grab(ps.bucket[f].back(), k);
    need -= k;
  }
}

bool Simulator::start(JobIndex j, int pool) {
  JobState& s = jobs_[j];
  if (s.status != Status::kWaiting) return false;
  const int g = w_.jobs[j].gpus;
  if (pool < 0) {
    for (int p = 0; p < pools(); ++p)
      if (speed(j, p) > 0 && pool_fits(p, g)) {
        pool = p;
        break;
      }
    if (pool < 0) return false;
  } else if (!(speed(j, pool) > 0 && pool_fits(pool, g))) {
    return false;
  }
  place(pool, g, s.alloc);
  // Slowdown of a gang spread over nodes or racks (configurable factors on the run time).
  double slow = 1.0;
  if (s.alloc.size() > 1) {
    slow = c_.cross_node_slowdown;
    for (const auto& a : s.alloc)
      if (node_rack_[a.first] != node_rack_[s.alloc.front().first]) {
        const auto it = c_.cross_rack_slowdown_by_gpus.find(g);
        slow = it != c_.cross_rack_slowdown_by_gpus.end() ? it->second : c_.cross_rack_slowdown;
        break;
      }
  }
  // Profiled placements (Pollux): the speed of this exact placement relative to the packed one.
  const auto& ps_map = w_.jobs[j].placement_speed;
  if (!ps_map.empty()) {
    std::vector<int> per_node;
    for (const auto& a : s.alloc) per_node.push_back(a.second);
    std::sort(per_node.begin(), per_node.end());
    std::string id;
    for (int n : per_node) id += n <= 9 ? static_cast<char>('0' + n) : '?';
    auto it = ps_map.find(id);
    if (it == ps_map.end()) it = ps_map.find(fmt::format("n{}", per_node.size()));
    if (it != ps_map.end()) slow /= it->second;
  }
  const SimTime now = engine_.now();
  s.pool = pool;
  s.rate = speed(j, pool) / slow;
  s.alloc_t = now;
  s.productive_t = later(now, s.ran_before ? opt_.restart_s : opt_.startup_s);
  if (s.first_start < 0) s.first_start = now;
  s.ran_before = true;
  s.status = Status::kRunning;
  s.wait_since = now;
  ++s.epoch;
  const double left_s = std::max(0.0, s.work_s - s.done_s) / s.rate;
  engine_.schedule(later(s.productive_t, left_s), self_, pack(Kind::kCompletion, s.epoch, j));
  started_.push_back(j);
  return true;
}

// Frees the job's GPUs; requeue: back to waiting with its progress (preemption, failure).
void Simulator::release(JobIndex j, bool requeue) {
  JobState& s = jobs_[j];
  const SimTime now = engine_.now();
  s.done_s = std::min(s.work_s, s.done_s + progress_now(s));
  s.attained_prev_gpu_s += w_.jobs[j].gpus * to_s(now - s.alloc_t);
  for (const auto& a : s.alloc) give(a.first, a.second);
  s.alloc.clear();
  ++s.epoch;  // invalidates the pending completion
  if (requeue) {
    s.status = Status::kWaiting;
    s.wait_since = now;
    preempted_.push_back(j);
  }
}

void Simulator::preempt(JobIndex j) {
  if (jobs_[j].status != Status::kRunning) return;
  release(j, true);
  ++preemptions_;
  request_pass();
}

void Simulator::wake_at(double t_s) {
  const SimTime t = std::max(engine_.now() + 1, to_ns(t_s));  // kMaxTime at most: never runs
  if (t >= next_wake_) return;
  next_wake_ = t;
  engine_.schedule(t, self_, pack(Kind::kWake, 0, 0));
}

void Simulator::request_pass() {
  if (pass_pending_) return;
  pass_pending_ = true;
  SimTime at = engine_.now();
  if (round_ > 0) at = (at + round_ - 1) / round_ * round_;  // the next round boundary
  engine_.schedule(at, self_, pack(Kind::kPass, 0, 0));
}

// Brings waiting_ and running_ (both sorted by job index) up to date with the jobs started and
// requeued (preempted, or interrupted by a failure) since the last call: merges, not sorts.
void Simulator::sync_lists() {
  auto merge_in = [](std::vector<JobIndex>& list, std::vector<JobIndex>& add, auto keep) {
    std::erase_if(list, [&](JobIndex j) { return !keep(j); });
    std::sort(add.begin(), add.end());
    const auto mid = static_cast<std::ptrdiff_t>(list.size());
    for (JobIndex j : add)
      if (keep(j)) list.push_back(j);
    add.clear();
    std::inplace_merge(list.begin(), list.begin() + mid, list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
  };
  const auto running = [&](JobIndex j) { return jobs_[j].status == Status::kRunning; };
  const auto waiting = [&](JobIndex j) { return jobs_[j].status == Status::kWaiting; };
  if (!started_.empty() || !preempted_.empty()) {
    scanned_ += double(running_.size() + waiting_.size());
    merge_in(running_, started_, running);
    merge_in(waiting_, preempted_, waiting);
  } else {
    scanned_ += double(running_.size());
    std::erase_if(running_, [&](JobIndex j) { return !running(j); });  // completions
  }
}

void Simulator::pass() {
  pass_pending_ = false;
  if (cancel_ && cancel_->load(std::memory_order_relaxed)) throw Cancelled{};
  sync_lists();  // completions, and jobs a failure sent back to waiting
  policy_.schedule(*this);
  sync_lists();
  // Going over a listed job costs 2-5 ns (20,000 jobs queued on one GPU: srtf, tiresias and
  // quota go over about 2.2e9 in 3-6 s, sjf 6e8 in 2.9 s, fifo 2e8 in 0.3 s), so a backlog makes
  // a replay quadratic; past max_scanned_jobs, at most about half a minute, it would look hung.
  // The Philly trace on its cluster goes over at most 4.3e8 (quota-strict).
  if (scanned_ > opt_.max_scanned_jobs) {
    throw InputError("--trace", fmt::format("the {} policy's passes would go over more than {:.0e} queued and running "
                                            "jobs ({} waiting now on {} GPUs): replay on more GPUs or fewer jobs",
                                            policy_.name(), opt_.max_scanned_jobs, waiting_.size(), capacity_gpus()));
  }
  record();
}

// The cluster's state from now on: busy GPUs, capacity and waiting jobs (those a failure or a
// preemption requeued since the last pass included). Recorded after every event, not only at
// passes: with --round-s a job that ends mid-round frees its GPUs then, not at the boundary.
void Simulator::record() {
  const Mark m{engine_.now(), capacity_ - free_, capacity_, waiting_.size() + preempted_.size()};
  if (!marks_.empty() && marks_.back().t == m.t) {
    marks_.back() = m;
  } else if (marks_.empty() || marks_.back().busy != m.busy || marks_.back().capacity != m.capacity ||
             marks_.back().waiting != m.waiting) {
    marks_.push_back(m);
  }
}

void Simulator::schedule_failure() {
  double rate = 0;
  for (const auto& p : pools_) rate += p.failure_rate_per_node_s * static_cast<double>(p.up / p.gpus_per_node);
  ++failure_epoch_;
  if (rate <= 0 || done_ == to_run_) return;
  engine_.schedule(later(engine_.now(), rng_.exp1() / rate), self_, pack(Kind::kFailure, failure_epoch_, 0));
}

// A node fails: every job on it is interrupted (or killed: its progress is lost) and requeued;
// the node is out for repair_s.
void Simulator::fail_node() {
  double total = 0;
  for (const auto& p : pools_) total += p.failure_rate_per_node_s * static_cast<double>(p.up / p.gpus_per_node);
  double pick = rng_.uniform() * total;
  std::size_t p = 0, chosen = pools_.size();
  for (; p < pools_.size(); ++p) {
    const double r = pools_[p].failure_rate_per_node_s * static_cast<double>(pools_[p].up / pools_[p].gpus_per_node);
    if (r <= 0) continue;
    chosen = p;  // the last pool with a rate, should rounding carry `pick` past the end
    if (pick < r) break;
    pick -= r;
  }
  PoolState& ps = pools_[chosen];
  int node = -1;
  do {  // uniform among the pool's up nodes (almost all are up: rejection is cheap)
    node = ps.first_node + static_cast<int>(rng_.uniform() * ps.nodes);
  } while (!node_up_[node]);
  ++failures_;
  for (JobIndex j : running_) {
    JobState& s = jobs_[j];
    if (s.status != Status::kRunning) continue;
    const bool hit = std::any_of(s.alloc.begin(), s.alloc.end(), [&](const auto& a) { return a.first == node; });
    if (!hit) continue;
    release(j, true);
    if (opt_.failures == FailureMode::kKill) s.done_s = 0;
  }
  // Take the node out: its free GPUs leave the pool; the busy ones were just released above.
  const int f = node_free_[node];
  move_bucket(node, f, 0);
  ps.free -= f;
  ps.up -= ps.gpus_per_node;
  rack_free_[node_rack_[node]] -= f;
  free_ -= f;
  capacity_ -= ps.gpus_per_node;
  node_free_[node] = 0;
  node_up_[node] = 0;
  engine_.schedule(later(engine_.now(), opt_.repair_s), self_, pack(Kind::kRepair, 0, static_cast<std::uint32_t>(node)));
}

void Simulator::on_event(sim::Engine& e, std::uint64_t payload) {
  const auto kind = static_cast<Kind>(payload >> 56);
  const auto index = static_cast<std::uint32_t>(payload & 0xFFFFFFFFu);
  const auto epoch = static_cast<std::uint32_t>((payload >> 32) & 0xFFFFFFu);
  switch (kind) {
    case Kind::kArrival: {
      // Every job arriving at this instant joins before the pass (arrivals are chained, so a
      // later one at the same time would otherwise come after the pass request).
      for (next_arrival_ = index; next_arrival_ < jobs_.size() && jobs_[next_arrival_].arrival == e.now(); ++next_arrival_) {
        JobState& s = jobs_[next_arrival_];
        if (s.status == Status::kSkipped) continue;
        s.status = Status::kWaiting;
        s.wait_since = e.now();
        waiting_.push_back(static_cast<JobIndex>(next_arrival_));
      }
      while (next_arrival_ < jobs_.size() && jobs_[next_arrival_].status == Status::kSkipped) ++next_arrival_;
      if (next_arrival_ < jobs_.size())
        e.schedule(jobs_[next_arrival_].arrival, self_, pack(Kind::kArrival, 0, static_cast<std::uint32_t>(next_arrival_)));
      request_pass();
      break;
    }
    case Kind::kCompletion: {
      JobState& s = jobs_[index];
      if (s.status != Status::kRunning || (s.epoch & 0xFFFFFFu) != epoch) break;  // stale
      release(index, false);
      s.done_s = s.work_s;
      s.status = Status::kDone;
      s.finish = e.now();
      ++done_;
      request_pass();
      break;
    }
    case Kind::kPass:
      pass();
      return;  // recorded by the pass
    case Kind::kWake:
      if (e.now() == next_wake_) next_wake_ = std::numeric_limits<SimTime>::max();
      request_pass();
      break;
    case Kind::kFailure:
      if (epoch != (failure_epoch_ & 0xFFFFFFu)) break;
      fail_node();
      schedule_failure();
      request_pass();
      break;
    case Kind::kRepair: {
      const int node = static_cast<int>(index);
      PoolState& ps = pools_[node_pool_[node]];
      node_up_[node] = 1;
      move_bucket(node, 0, ps.gpus_per_node);
      node_free_[node] = ps.gpus_per_node;
      ps.free += ps.gpus_per_node;
      ps.up += ps.gpus_per_node;
      rack_free_[node_rack_[node]] += ps.gpus_per_node;
      free_ += ps.gpus_per_node;
      capacity_ += ps.gpus_per_node;
      schedule_failure();
      request_pass();
      break;
    }
  }
  record();
}

PolicyResult Simulator::run() {
  const auto t0 = std::chrono::steady_clock::now();
  PolicyResult r;
  r.name = policy_.name();
  self_ = engine_.add(this);
  // Jobs larger than every pool they may use are skipped or refused before the replay.
  for (std::size_t j = 0; j < jobs_.size(); ++j) {
    const Job& job = w_.jobs[j];
    long most = 0;
    for (int p = 0; p < pools(); ++p)
      if (speed(static_cast<JobIndex>(j), p) > 0)
        most = std::max(most, static_cast<long>(c_.pools[p].nodes) * c_.pools[p].gpus_per_node);
    if (job.gpus > most) {
      if (opt_.oversize == Oversize::kRefuse) {
        throw InputError("job " + job.id, fmt::format("needs {} GPUs{} but the largest pool it may use has {} (line {}; "
                                                      "--oversize skip to drop such jobs)",
                                                      job.gpus, job.gpu_type.empty() ? "" : " of type " + job.gpu_type,
                                                      most, job.line));
      }
      jobs_[j].status = Status::kSkipped;
      ++r.skipped_jobs;
    }
  }
  to_run_ = jobs_.size() - r.skipped_jobs;
  while (next_arrival_ < jobs_.size() && jobs_[next_arrival_].status == Status::kSkipped) ++next_arrival_;
  if (next_arrival_ < jobs_.size())
    engine_.schedule(jobs_[next_arrival_].arrival, self_, pack(Kind::kArrival, 0, static_cast<std::uint32_t>(next_arrival_)));
  if (opt_.failures != FailureMode::kNone) schedule_failure();
  // Runs until every job is done. Failures stop once the last job is done; with failures a
  // job could restart forever, so the replay gives up 100 years after the last arrival, or at
  // the clock's limit (kMaxTime), which absurd durations or speeds can reach.
  const SimTime horizon =
      std::min(kMaxTime - 1, later(jobs_.empty() ? 0 : jobs_.back().arrival, 100 * 365 * 86400.0));
  // In steps of a simulated day, so that an absurd failure rate cannot hang the replay: it
  // stops after kMaxEvents (Philly takes ~350K).
  constexpr std::uint64_t kMaxEvents = 50'000'000;
  for (SimTime t = 0; done_ < to_run_ && t < horizon;) {
    t = std::min(horizon, later(t, 86400.0));
    r.events += engine_.run(t);
    if (r.events > kMaxEvents)
      throw InputError(opt_.failures != FailureMode::kNone ? "--failure-rate-scale" : "--trace",
                       fmt::format("the replay passed {} events with {} of {} jobs unfinished", kMaxEvents,
                                   to_run_ - done_, to_run_));
  }
  if (done_ < to_run_) {
    const std::string what = fmt::format("{} of {} jobs did not finish within 100 years of the last arrival (or ~63 "
                                         "years of simulated time)",
                                         to_run_ - done_, to_run_);
    if (opt_.failures != FailureMode::kNone)
      throw InputError("--failure-rate-scale", what + ": failures are too frequent for them");
    throw InputError("--trace", what + ": durations too long or speeds too low");
  }

  // Statistics.
  r.jct_s.assign(jobs_.size(), std::numeric_limits<double>::quiet_NaN());
  r.queue_s = r.jct_s;
  std::vector<double> jct, queue;
  std::vector<SizeStats> by(5);
  double run_sum = 0;
  SimTime first = std::numeric_limits<SimTime>::max(), last = 0;
  for (std::size_t j = 0; j < jobs_.size(); ++j) {
    const JobState& s = jobs_[j];
    if (s.status != Status::kDone) continue;
    first = std::min(first, s.arrival);
    last = std::max(last, s.finish);
    const double c = to_s(s.finish - s.arrival), q = to_s(s.first_start - s.arrival);
    r.jct_s[j] = c;
    r.queue_s[j] = q;
    jct.push_back(c);
    queue.push_back(q);
    run_sum += c - q;
    std::size_t b = 0;
    const char* bucket = size_bucket(w_.jobs[j].gpus, &b);
    by[b].bucket = bucket;
    ++by[b].jobs;
    by[b].avg_jct_s += c;
    by[b].avg_queue_s += q;
  }
  r.jobs = jct.size();
  if (r.jobs > 0) {
    const double n = static_cast<double>(r.jobs);
    double sj = 0, sq = 0;
    for (double x : jct) sj += x;
    for (double x : queue) sq += x;
    r.avg_jct_s = sj / n;
    r.avg_queue_s = sq / n;
    r.avg_run_s = run_sum / n;
    r.p50_jct_s = percentile(jct, 0.5);
    r.p99_jct_s = percentile(jct, 0.99);
    r.p50_queue_s = percentile(queue, 0.5);
    r.p99_queue_s = percentile(queue, 0.99);
    r.makespan_s = to_s(last - first);
  }
  for (auto& b : by) {
    if (b.jobs == 0) continue;
    b.avg_jct_s /= static_cast<double>(b.jobs);
    b.avg_queue_s /= static_cast<double>(b.jobs);
    r.by_size.push_back(b);
  }
  // Utilization, fragmentation and the time series from the step function of marks.
  const int points = std::max(1, opt_.series_points);
  const double span = std::max(r.makespan_s, 1e-9);
  r.series.resize(static_cast<std::size_t>(points));
  for (int i = 0; i < points; ++i) r.series[i].t_s = to_s(first) + span * i / points;
  const long total = c_.total_gpus();
  double busy_int = 0, idle_wait_int = 0;
  for (std::size_t i = 0; i < marks_.size(); ++i) {
    const double a = std::max(to_s(marks_[i].t), to_s(first));
    const double b = std::min(i + 1 < marks_.size() ? to_s(marks_[i + 1].t) : to_s(last), to_s(last));
    if (b <= a) continue;
    const double busy = static_cast<double>(marks_[i].busy);
    const double idle_w = marks_[i].waiting > 0 ? static_cast<double>(marks_[i].capacity - marks_[i].busy) : 0.0;
    busy_int += busy * (b - a);
    idle_wait_int += idle_w * (b - a);
    // Spread [a, b) over the buckets it covers.
    const double w = span / points;
    auto k = static_cast<std::size_t>(std::clamp((a - to_s(first)) / w, 0.0, points - 1.0));
    for (double t = a; t < b && k < r.series.size(); ++k) {
      const double end = std::min(b, to_s(first) + w * static_cast<double>(k + 1));
      const double dt = end - t;
      r.series[k].busy_gpus += busy * dt / w;
      r.series[k].waiting_jobs += static_cast<double>(marks_[i].waiting) * dt / w;
      r.series[k].idle_gpus_while_waiting += idle_w * dt / w;
      t = end;
    }
  }
  if (r.makespan_s > 0 && total > 0) {
    r.utilization = busy_int / (static_cast<double>(total) * r.makespan_s);
    r.fragmentation = idle_wait_int / (static_cast<double>(total) * r.makespan_s);
  }
  r.preemptions = preemptions_;
  r.scanned_jobs = scanned_;
  r.failures = failures_;
  r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

long ClusterSpec::total_gpus() const {
  long n = 0;
  for (const auto& p : pools) n += static_cast<long>(p.nodes) * p.gpus_per_node;
  return n;
}

const char* to_string(Placement p) {
  switch (p) {
    case Placement::kConsolidate: return "consolidate";
    case Placement::kSpread: return "spread";
    case Placement::kStrict: return "strict";
  }
  return "?";
}

Placement parse_placement(const std::string& name) {
  for (Placement p : {Placement::kConsolidate, Placement::kSpread, Placement::kStrict})
    if (name == to_string(p)) return p;
  throw InputError("--placement", unknown_name_message("placement", name, {"consolidate", "spread", "strict"}));
}

const char* to_string(FailureMode f) {
  switch (f) {
    case FailureMode::kNone: return "none";
    case FailureMode::kInterrupt: return "interrupt";
    case FailureMode::kKill: return "kill";
  }
  return "?";
}

FailureMode parse_failure_mode(const std::string& name) {
  for (FailureMode f : {FailureMode::kNone, FailureMode::kInterrupt, FailureMode::kKill})
    if (name == to_string(f)) return f;
  throw InputError("--failures", unknown_name_message("failure mode", name, {"none", "interrupt", "kill"}));
}

std::vector<GpuPool> parse_pools(const std::string& spec) {
  std::vector<GpuPool> out;
  std::size_t at = 0;
  while (at <= spec.size()) {
    const std::size_t comma = std::min(spec.find(',', at), spec.size());
    const std::string item = spec.substr(at, comma - at);
    at = comma + 1;
    const auto bad = [&] {
      return InputError("--pools", "expected TYPE:NODESxGPUS[:SPEED] (e.g. v100:16x4,a100-80g:8x8), got '" + item + "'");
    };
    const auto c1 = item.find(':');
    if (c1 == std::string::npos || c1 == 0) throw bad();
    GpuPool p;
    p.gpu = item.substr(0, c1);
    std::string rest = item.substr(c1 + 1);
    const auto c2 = rest.find(':');
    try {
      if (c2 != std::string::npos) {
        std::size_t used = 0;
        p.speed = std::stod(rest.substr(c2 + 1), &used);
        if (used != rest.size() - c2 - 1 || !(p.speed > 0 && p.speed <= 1e6)) throw bad();
        rest = rest.substr(0, c2);
      }
      const auto x = rest.find('x');
      if (x == std::string::npos) throw bad();
      std::size_t u1 = 0, u2 = 0;
      p.nodes = std::stoi(rest.substr(0, x), &u1);
      p.gpus_per_node = std::stoi(rest.substr(x + 1), &u2);
      if (u1 != x || u2 != rest.size() - x - 1) throw bad();
    } catch (const std::logic_error&) {
      throw bad();
    }
    out.push_back(p);
  }
  return out;
}

void resolve_pools(ClusterSpec& c) {
  if (c.pools.empty()) throw InputError("--nodes", "the cluster has no nodes");
  for (const auto& p : c.pools) {
    if (p.nodes <= 0 || p.nodes > 10'000'000) throw InputError("--nodes", fmt::format("{} is outside [1, 1e7]", p.nodes));
    if (p.gpus_per_node <= 0 || p.gpus_per_node > 1024)
      throw InputError("--gpus-per-node", fmt::format("{} is outside [1, 1024]", p.gpus_per_node));
  }
  if (c.nodes_per_rack < 0) throw InputError("--nodes-per-rack", "must be >= 0");
  if (!(c.cross_node_slowdown >= 1.0 && c.cross_node_slowdown <= 1e3))
    throw InputError("--cross-node-slowdown", "must be in [1, 1000]");
  if (!(c.cross_rack_slowdown >= 1.0 && c.cross_rack_slowdown <= 1e3))
    throw InputError("--cross-rack-slowdown", "must be in [1, 1000]");
  // Relative speed from the catalog: dense fp16 peak against the first pool's GPU. An upper
  // bound on a job's real speedup (Gavel, OSDI'20, Fig. 1: speedups vary 1.1x-10x by model).
  auto peak = [](const std::string& gpu) {
    const GpuSpec* found = nullptr;
    try {
      found = &Catalog::builtin().gpu(gpu);
    } catch (const InputError& e) {
      throw InputError("--pools", std::string(e.what()) + ": give the pool a speed (TYPE:NODESxGPUS:SPEED) or a catalog gpu");
    }
    const GpuSpec& g = *found;
    const auto it = g.peak_tflops.find(Precision::kFp16);
    if (it == g.peak_tflops.end()) throw InputError("--pools", "gpu '" + gpu + "' has no fp16 peak: give a speed");
    return it->second;
  };
  for (auto& p : c.pools) {
    if (p.speed > 0) continue;
    if (&p == &c.pools.front()) {
      p.speed = 1.0;
      continue;
    }
    p.speed = peak(p.gpu) / peak(c.pools.front().gpu);
  }
}

namespace {

PolicyResult replay(const Workload& w, const ClusterSpec& c, Policy& policy, const SimOptions& opt,
                    const std::atomic<bool>* cancel) {
  if (w.jobs.size() >= 0xFFFFFFFFu) throw InputError("--trace", "too many jobs");
  Simulator s(w, c, policy, opt, cancel);
  return s.run();
}

}  // namespace

PolicyResult simulate(const Workload& w, const ClusterSpec& c, Policy& policy, const SimOptions& opt) {
  return replay(w, c, policy, opt, nullptr);
}

std::vector<PolicyResult> compare(const Workload& w, const ClusterSpec& c, const std::vector<std::string>& names,
                                  const SimOptions& opt, int threads) {
  std::vector<std::unique_ptr<Policy>> policies;
  for (const auto& n : names) policies.push_back(make_policy(n, opt, w, c));
  std::vector<PolicyResult> out(names.size());
  const std::size_t n = threads > 0 ? static_cast<std::size_t>(threads)
                                    : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  std::vector<std::exception_ptr> errors(names.size());
  // The error reported is that of the first failing policy in list order, whatever the thread
  // timing: a failure cancels only the policies listed after it (their outcome cannot change
  // what is reported), so every policy before the first failing one runs to its end.
  const auto cancel = std::make_unique<std::atomic<bool>[]>(names.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next++) < names.size();) {
      try {
        out[i] = replay(w, c, *policies[i], opt, &cancel[i]);
      } catch (const Cancelled&) {
      } catch (...) {
        errors[i] = std::current_exception();
        for (std::size_t j = i + 1; j < names.size(); ++j) cancel[j].store(true, std::memory_order_relaxed);
      }
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < std::min(n, names.size()); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

}  // namespace wanka::cluster
