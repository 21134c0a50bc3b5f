// Scheduling policies: each is one class against the Policy interface (include/wanka/cluster.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <functional>
#include <map>

#include "wanka/cluster.hpp"
#include "wanka/error.hpp"

namespace wanka::cluster {

namespace {

// Starts waiting jobs in `order`; a job that does not fit is skipped (blocking: the pass stops).
void start_in_order(Context& ctx, const std::vector<JobIndex>& order, bool blocking) {
  for (JobIndex j : order) {
    if (ctx.free_gpus() == 0) return;
    if (ctx.job(j).gpus <= ctx.free_gpus() && ctx.start(j)) continue;
    if (blocking) return;
  }
}

// When every waiting job fits in the free GPUs, a priority policy keeps all running jobs and
// starts all waiting ones, whatever the order: the cheap common case of a cluster with room.
bool start_all_if_room(Context& ctx) {
  long want = 0;
  for (JobIndex j : ctx.waiting()) want += ctx.job(j).gpus;
  if (want > ctx.free_gpus()) return false;
  for (JobIndex j : ctx.waiting()) ctx.start(j);
  return true;
}

// First come, first served, strict: the oldest waiting job blocks the ones behind it.
class Fifo final : public Policy {
 public:
  std::string name() const override { return "fifo"; }
  void schedule(Context& ctx) override { start_in_order(ctx, ctx.waiting(), true); }
  bool scans_queue() const override { return false; }
};

// Shortest job first with oracle durations, non-preemptive; a job that does not fit is passed over.
class Sjf final : public Policy {
 public:
  std::string name() const override { return "sjf"; }
  void schedule(Context& ctx) override {
    if (ctx.free_gpus() == 0) return;
    // A min-heap on (duration, job), popped only while some waiting job could still fit: with
    // few free GPUs a pass costs O(Q + k log Q) rather than a sort of the queue.
    std::vector<std::pair<double, JobIndex>> keyed;
    keyed.reserve(ctx.waiting().size());
    int smallest = INT32_MAX;
    for (JobIndex j : ctx.waiting()) {
      keyed.emplace_back(ctx.job(j).duration_s, j);
      smallest = std::min(smallest, ctx.job(j).gpus);
    }
    const auto worse = [](const auto& a, const auto& b) { return a > b; };
    std::make_heap(keyed.begin(), keyed.end(), worse);
    for (auto end = keyed.end(); end != keyed.begin() && ctx.free_gpus() >= smallest; --end) {
      std::pop_heap(keyed.begin(), end, worse);
      const JobIndex j = (end - 1)->second;
      if (ctx.job(j).gpus <= ctx.free_gpus()) ctx.start(j);
    }
  }
};

// Shortest remaining time first (oracle), preemptive: every active job is ranked by its
// remaining run time and the shortest that fit run.
class Srtf final : public Policy {
 public:
  std::string name() const override { return "srtf"; }
  void schedule(Context& ctx) override {
    if (start_all_if_room(ctx)) return;
    std::vector<std::pair<double, JobIndex>> keyed;
    for (JobIndex j : active_jobs(ctx)) keyed.emplace_back(ctx.remaining_s(j), j);
    run_by_priority(ctx, keyed);
  }
};

// EASY backfilling (Lifka 1995; Mu'alem & Feitelson, IEEE TPDS 2001): FIFO, and when the head
// job does not fit it gets a reservation at the earliest time enough GPUs free up (the "shadow
// time", from the running jobs' expected ends; oracle durations stand in for user estimates).
// A later job may start now if it fits and either ends before the shadow time or uses only
// GPUs the head job will not need then (the "extra" GPUs).
class Easy final : public Policy {
 public:
  std::string name() const override { return "easy"; }
  void schedule(Context& ctx) override {
    const auto& waiting = ctx.waiting();
    std::size_t h = 0;
    for (; h < waiting.size(); ++h)
      if (!ctx.start(waiting[h])) break;
    if (h >= waiting.size() || ctx.free_gpus() == 0) return;
    const JobIndex head = waiting[h];
    std::vector<std::pair<double, int>> ends;
    for (JobIndex r : ctx.running())
      if (ctx.is_running(r)) ends.emplace_back(ctx.expected_end_s(r), ctx.job(r).gpus);
    std::sort(ends.begin(), ends.end());
    long avail = ctx.free_gpus();
    double shadow = INFINITY;
    for (const auto& [t, g] : ends) {
      avail += g;
      if (avail >= ctx.job(head).gpus) {
        shadow = t;
        break;
      }
    }
    long extra = std::isfinite(shadow) ? avail - ctx.job(head).gpus : 0;
    const double now = ctx.now_s();
    for (std::size_t i = h + 1; i < waiting.size() && ctx.free_gpus() > 0; ++i) {
      const JobIndex j = waiting[i];
      const int g = ctx.job(j).gpus;
      if (g > ctx.free_gpus()) continue;
      const bool before_shadow = now + ctx.remaining_s(j) <= shadow;
      if (!before_shadow && g > extra) continue;
      if (!ctx.start(j)) continue;
      if (!before_shadow) extra -= g;
    }
  }
};

// Tiresias (Gu et al., NSDI'19, §3.2 and §4.2): discretized two-dimensional least-attained-
// service. A job's attained service is GPUs x time held; it sits in queue k when that lies
// between thresholds k-1 and k; lower queues go first, FIFO (by arrival) inside a queue;
// preemptive. Starvation knob: a waiting job whose wait since it last ran is at least
// knob x its executed time goes back to the top queue (0 = off).
class Tiresias final : public Policy {
 public:
  Tiresias(std::vector<double> thresholds, double knob) : thr_(std::move(thresholds)), knob_(knob) {}
  std::string name() const override { return "tiresias"; }
  void schedule(Context& ctx) override {
    // With room for every waiting job nothing is preempted; demotions matter again only when a
    // job waits, and its arrival triggers a pass.
    if (start_all_if_room(ctx)) return;
    const std::vector<JobIndex> active = active_jobs(ctx);
    const double now = ctx.now_s();
    // Queue of each job; the order is queue by queue, arrival order inside (a stable bucket
    // pass, no sort).
    std::vector<std::vector<JobIndex>> queues(thr_.size() + 1);
    double wake = INFINITY;
    for (JobIndex j : active) {
      const double a = ctx.attained_gpu_s(j);
      std::size_t q = static_cast<std::size_t>(std::upper_bound(thr_.begin(), thr_.end(), a) - thr_.begin());
      if (knob_ > 0 && q > 0 && !ctx.is_running(j)) {
        const double executed_s = a / ctx.job(j).gpus;
        const double promote_at = ctx.last_start_or_arrival_s(j) + knob_ * executed_s;
        if (now >= promote_at) q = 0;
        else wake = std::min(wake, promote_at);
      }
      queues[q].push_back(j);
    }
    std::vector<JobIndex> order;
    order.reserve(active.size());
    for (const auto& q : queues) order.insert(order.end(), q.begin(), q.end());
    run_in_order(ctx, order);
    // Next demotion: the first running job to cross its queue's upper threshold.
    for (JobIndex j : order) {
      if (!ctx.is_running(j)) continue;
      const double a = ctx.attained_gpu_s(j);
      const auto it = std::upper_bound(thr_.begin(), thr_.end(), a);
      if (it != thr_.end()) wake = std::min(wake, now + (*it - a) / ctx.job(j).gpus);
    }
    if (std::isfinite(wake)) ctx.wake_at(wake);
  }

 private:
  std::vector<double> thr_;
  double knob_;
};

// Heterogeneity-aware placement in the spirit of Gavel (Narayanan et al., OSDI'20, §3.1): a job's
// throughput on each GPU type is normalized by its best throughput, and each job, in arrival
// order, starts on the type with the highest normalized throughput that has room. Greedy; it is
// not Gavel's round-based LP. Like Gavel's re-allocation between rounds, a running job migrates
// to a faster type that has room when that pays for its restart: remaining work R (at speed 1)
// on speed s_new plus the restart cost finishes before R on its current speed s_cur
// (restart_s + R / s_new < R / s_cur); a migration is a preemption followed by a start on the new
// type, so it costs `restart_s` like any restart. The other policies take the first pool with
// room, as a type-agnostic scheduler would.
class Hetero final : public Policy {
 public:
  explicit Hetero(double restart_s) : restart_s_(restart_s) {}
  std::string name() const override { return "hetero"; }
  void schedule(Context& ctx) override {
    if (ctx.free_gpus() == 0) return;
    std::vector<int> pools(static_cast<std::size_t>(ctx.pools()));
    for (JobIndex j : ctx.waiting()) {
      if (ctx.free_gpus() == 0) break;
      if (ctx.job(j).gpus > ctx.free_gpus()) continue;
      for (int p = 0; p < ctx.pools(); ++p) pools[p] = p;
      std::stable_sort(pools.begin(), pools.end(), [&](int a, int b) { return ctx.speed(j, a) > ctx.speed(j, b); });
      for (int p : pools) {
        if (ctx.speed(j, p) <= 0) break;
        if (ctx.start(j, p)) break;
      }
    }
    if (ctx.pools() < 2 || ctx.free_gpus() == 0) return;
    const std::vector<JobIndex> running = ctx.running();  // a copy: migrations change the set
    for (JobIndex j : running) {
      if (ctx.free_gpus() == 0) return;
      const int cur = ctx.pool_of(j);
      if (cur < 0) continue;
      const double s_cur = ctx.speed(j, cur), left = ctx.remaining_s(j);
      int best = -1;
      double best_end = left / s_cur;
      for (int p = 0; p < ctx.pools(); ++p) {
        const double s = ctx.speed(j, p);
        if (p == cur || s <= s_cur || ctx.pool_free_gpus(p) < ctx.job(j).gpus) continue;
        const double end = restart_s_ + left / s;
        if (end < best_end && ctx.fits(j, p)) {
          best_end = end;
          best = p;
        }
      }
      if (best < 0) continue;
      ctx.preempt(j);
      if (!ctx.start(j, best)) ctx.start(j, cur);  // cannot happen (it fit); never strand the job
    }
  }

 private:
  double restart_s_;
};

// Priority by virtual-cluster quota (the guaranteed share of capacity schedulers such as
// YARN's CapacityScheduler, which Philly used; Jeon et al., ATC'19, §2). `quota`: in arrival
// order, a job whose VC stays within its quota is guaranteed; the rest borrow idle GPUs and are
// preempted when a guaranteed job needs them. `quota-strict`: no borrowing and no preemption: a
// VC's jobs start in arrival order while the VC stays within its quota, idle GPUs elsewhere
// notwithstanding; a job larger than its VC's quota may run when its VC runs nothing else
// (otherwise it could never start).
class Quota final : public Policy {
 public:
  Quota(const Workload& w, const ClusterSpec& c, const std::map<std::string, double>& given, bool borrow)
      : borrow_(borrow) {
    std::map<std::string, double> gpu_s;
    double total = 0;
    for (const Job& j : w.jobs) {
      gpu_s[j.vc] += j.gpus * j.duration_s;
      total += j.gpus * j.duration_s;
    }
    for (const auto& [vc, q] : given)
      if (!gpu_s.count(vc)) throw InputError("--quota", "no job of the workload is in virtual cluster '" + vc + "'");
    int id = 0;
    for (const auto& [vc, s] : gpu_s) {
      const auto it = given.find(vc);
      quota_.push_back(it != given.end() ? it->second
                                         : total > 0 ? s / total * static_cast<double>(c.total_gpus()) : 0.0);
      ids_[vc] = id++;
    }
    vc_of_.reserve(w.jobs.size());
    gpus_.reserve(w.jobs.size());
    for (const Job& j : w.jobs) {
      vc_of_.push_back(ids_[j.vc]);
      gpus_.push_back(j.gpus);  // a compact copy: the waiting scan touches every job
    }
  }
  std::string name() const override { return borrow_ ? "quota" : "quota-strict"; }
  void schedule(Context& ctx) override {
    std::vector<double> used(quota_.size(), 0.0);
    if (!borrow_) {
      for (JobIndex r : ctx.running()) used[vc_of_[r]] += ctx.job(r).gpus;
      // VCs that can still take a 1-GPU job; the scan stops when none can or no GPU is free.
      auto open = [&](std::size_t v) { return used[v] == 0 || used[v] + 1 <= quota_[v] + 1e-9; };
      std::size_t open_vcs = 0;
      for (std::size_t v = 0; v < quota_.size(); ++v) open_vcs += open(v);
      long free = ctx.free_gpus();
      for (JobIndex j : ctx.waiting()) {
        if (free == 0 || open_vcs == 0) return;
        const int g = gpus_[j], v = vc_of_[j];
        if (g > free || (used[v] > 0 && used[v] + g > quota_[v] + 1e-9) || !ctx.start(j)) continue;
        used[v] += g;
        if (!open(v)) --open_vcs;
        free = ctx.free_gpus();
      }
      return;
    }
    if (start_all_if_room(ctx)) return;
    std::vector<JobIndex> order, borrowed;
    for (JobIndex j : active_jobs(ctx)) {  // arrival order
      const int v = vc_of_[j];
      const bool guaranteed = used[v] + ctx.job(j).gpus <= quota_[v] + 1e-9;
      if (guaranteed) used[v] += ctx.job(j).gpus;
      (guaranteed ? order : borrowed).push_back(j);
    }
    order.insert(order.end(), borrowed.begin(), borrowed.end());
    run_in_order(ctx, order);
  }

 private:
  std::map<std::string, int> ids_;
  std::vector<double> quota_;
  std::vector<int> vc_of_, gpus_;
  bool borrow_;
};

}  // namespace

namespace {

// Keeps jobs in the order `next()` yields them (it returns false when done) while capacity
// lasts, then preempts running jobs not kept and starts waiting ones kept.
template <class Next>
void keep_and_apply(Context& ctx, Next&& next) {
  thread_local std::vector<char> kept_mark;
  kept_mark.resize(std::max(kept_mark.size(), ctx.job_count()), 0);
  long budget = ctx.capacity_gpus();
  int smallest = INT32_MAX;  // no job smaller than this: stop once the budget is below it
  for (JobIndex j : ctx.waiting()) smallest = std::min(smallest, ctx.job(j).gpus);
  for (JobIndex j : ctx.running()) smallest = std::min(smallest, ctx.job(j).gpus);
  std::vector<JobIndex> keep;
  for (JobIndex j; budget >= smallest && next(j);) {
    const int g = ctx.job(j).gpus;
    if (g > budget) continue;
    keep.push_back(j);
    kept_mark[j] = 1;
    budget -= g;
  }
  for (JobIndex r : ctx.running())
    if (!kept_mark[r] && ctx.is_running(r)) ctx.preempt(r);
  for (JobIndex j : keep) {
    kept_mark[j] = 0;
    if (!ctx.is_running(j)) ctx.start(j);
  }
}

}  // namespace

std::vector<JobIndex> active_jobs(const Context& ctx) {
  std::vector<JobIndex> all(ctx.waiting().size() + ctx.running().size());
  std::merge(ctx.waiting().begin(), ctx.waiting().end(), ctx.running().begin(), ctx.running().end(), all.begin());
  return all;
}

void run_in_order(Context& ctx, const std::vector<JobIndex>& order) {
  std::size_t i = 0;
  keep_and_apply(ctx, [&](JobIndex& j) {
    if (i == order.size()) return false;
    j = order[i++];
    return true;
  });
}

void run_by_priority(Context& ctx, std::vector<std::pair<double, JobIndex>>& keyed) {
  // Sorted lazily, one chunk at a time: the walk rarely goes past the first `capacity` jobs
  // (each kept job holds at least one GPU), so nth_element + sort of that prefix is usually all.
  const auto chunk = static_cast<std::size_t>(std::max<long>(64, ctx.capacity_gpus()));
  std::size_t i = 0, sorted = 0;
  keep_and_apply(ctx, [&](JobIndex& j) {
    if (i == keyed.size()) return false;
    if (i == sorted) {
      const auto lo = keyed.begin() + static_cast<std::ptrdiff_t>(sorted);
      const std::size_t hi = std::min(keyed.size(), sorted + chunk);
      const auto mid = keyed.begin() + static_cast<std::ptrdiff_t>(hi);
      if (mid != keyed.end()) std::nth_element(lo, mid, keyed.end());
      std::sort(lo, mid);
      sorted = hi;
    }
    j = keyed[i++].second;
    return true;
  });
}

void check_las_thresholds(const std::vector<double>& thresholds) {
  // Queue k holds the jobs whose attained service lies between thresholds k-1 and k: a repeated
  // or lower threshold leaves a queue that no job can be in.
  const auto bad = std::adjacent_find(thresholds.begin(), thresholds.end(), std::greater_equal<>());
  if (bad != thresholds.end())
    throw InputError("--las-thresholds", fmt::format("thresholds must increase, got {:g} then {:g}", *bad, *(bad + 1)));
}

std::vector<std::string> policy_names() {
  return {"fifo", "sjf", "srtf", "easy", "tiresias", "hetero", "quota", "quota-strict"};
}

std::unique_ptr<Policy> make_policy(const std::string& name, const SimOptions& opt, const Workload& w,
                                    const ClusterSpec& c) {
  if (name == "fifo") return std::make_unique<Fifo>();
  if (name == "sjf") return std::make_unique<Sjf>();
  if (name == "srtf") return std::make_unique<Srtf>();
  if (name == "easy") return std::make_unique<Easy>();
  if (name == "tiresias") {
    check_las_thresholds(opt.las_thresholds_gpu_s);
    return std::make_unique<Tiresias>(opt.las_thresholds_gpu_s, opt.las_promote_knob);
  }
  if (name == "hetero") return std::make_unique<Hetero>(opt.restart_s);
  if (name == "quota" || name == "quota-strict") return std::make_unique<Quota>(w, c, opt.quota_gpus, name == "quota");
  throw InputError("--policy", unknown_name_message("policy", name, policy_names()));
}

}  // namespace wanka::cluster
