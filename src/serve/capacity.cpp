// Capacity planning: the replica shape (tp, pp, ep, batch cap) with the highest SLO-meeting
// request rate per GPU, found by simulation, then the fleet for a user base or, on a given
// fleet, the per-user rate limit.
//
// For one replica shape the highest rate meeting the SLO is found by bisection on the Poisson
// arrival rate (DistServe, OSDI '24 §3, defines per-GPU goodput the same way), bracketed by
// the offline (saturated) throughput above. Each probe simulates kProbeRequests requests of
// the scenario's length distributions with a fixed seed, so the search is deterministic. The
// fleet's capacity is replicas x per-replica rate: least-loaded dispatch over several replicas
// does at least as well as one replica at 1/replicas of the load, so this is conservative.
#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <cmath>

#include <fmt/format.h>

#include "wanka/error.hpp"
#include "wanka/serve.hpp"

namespace wanka {

namespace {

constexpr long kProbeRequests = 800;
constexpr int kBisections = 8;  // bracket ratio 100 -> within 100^(1/256) ~ 1.8 %

struct Probe {
  ServeScenario s;
  int sims = 0;
  ServeResult run(double rate) {
    ++sims;
    ServeScenario t = s;
    t.serving.trace.clear();
    t.serving.requests = kProbeRequests;
    if (rate <= 0) {
      t.serving.offline = true;
      t.serving.arrival_rate_per_s = 0;
    } else {
      t.serving.offline = false;
      t.serving.arrival_rate_per_s = rate;
    }
    return simulate_serving(t);
  }
};

bool fits(const ServeScenario& s) {
  const auto& p = s.base.parallel;
  const InferenceCost c(s.base.model, s.base.cluster, p.tp, p.pp, p.ep, s.serving);
  const long longest = s.serving.input_len.upper() + s.serving.output_len.upper();
  return c.kv_capacity_bytes_per_gpu() > 0 && c.sequence_blocks() / p.pp * s.serving.kv_block_tokens >= longest;
}

bool pinned(const ServeScenario& s, const char* key) {
  return std::find(s.parallel_given.begin(), s.parallel_given.end(), key) != s.parallel_given.end();
}

}  // namespace

CapacityResult plan_capacity(const ServeScenario& in, bool pin_max_batch) {
  if (!in.serving.capacity) throw InputError("capacity", "missing: give users and requests_per_user_per_hour (or fleet_gpus)");
  const CapacityConfig& cap = *in.serving.capacity;
  const auto& m = in.base.model;
  const long domain = std::max(1, in.base.cluster.scale_up_domain);
  CapacityResult res;
  // Layouts to search: the one given, or for a MoE model both tensor-parallel attention and
  // attention DP. Every tp up to the scale-up domain is tried; validate_serve_split drops the
  // ones the layout does not allow (heads and kv_heads for TP, experts for attention DP).
  std::vector<bool> layouts{in.serving.attention_dp};
  if (!in.serving.attention_dp_given && m.is_moe()) layouts = {false, true};
  std::vector<int> tps, pps;
  if (pinned(in, "tp")) tps = {in.base.parallel.tp};
  else for (int tp = 1; tp <= domain; ++tp) tps.push_back(tp);
  if (pinned(in, "pp")) pps = {in.base.parallel.pp};
  else for (int pp = 1; pp <= m.layers && pp <= cap.max_gpus_per_replica; pp *= 2) pps.push_back(pp);
  std::vector<long> batches;
  if (pin_max_batch) batches = {in.serving.max_batch};
  else batches = {16, 32, 64, 128, 256, 512};

  // The shapes to search: for each layout and tp, the smallest fitting pp and twice it, ep 1 or
  // tp (attention DP: tp).
  std::vector<ServeScenario> shapes;
  bool any_fit = false;
  for (const bool dp : layouts) {
    for (int tp : tps) {
      int fitting_pp = 0;
      for (int pp : pps) {
        if (long(tp) * pp > cap.max_gpus_per_replica) break;
        if (fitting_pp > 0 && pp > 2 * fitting_pp) break;
        std::vector<int> eps{1};
        if (pinned(in, "ep")) eps = {in.base.parallel.ep};
        else if (dp) eps = {tp};  // attention DP shards the routed experts over the replica
        else if (m.is_moe() && tp > 1 && m.moe.experts % tp == 0) eps.push_back(tp);
        for (int ep : eps) {
          ServeScenario s = in;
          s.serving.attention_dp = dp;
          s.base.parallel.tp = tp;
          s.base.parallel.pp = pp;
          s.base.parallel.ep = ep;
          s.base.cluster.num_gpus = long(tp) * pp;
          s.serving.disaggregation.prefill_replicas = 0;
          try {
            validate_serve_split(s);
          } catch (const InputError&) {
            continue;
          }
          if (!fits(s)) continue;
          any_fit = true;
          if (fitting_pp == 0) fitting_pp = pp;
          shapes.push_back(std::move(s));
        }
      }
    }
  }
  res.configurations = static_cast<int>(shapes.size());

  // Each shape's batch caps and rate bisection, shapes on worker threads; results are merged in
  // shape order, so the answer does not depend on the thread count.
  struct ShapeSearch {
    std::vector<ReplicaOption> options;
    ReplicaOption best_failed;  // for the message when nothing meets the SLO
    int sims = 0;
    std::exception_ptr error;
  };
  std::vector<ShapeSearch> found(shapes.size());
  auto search = [&](std::size_t k) {
    ServeScenario s = shapes[k];
    const auto& p = s.base.parallel;
    ShapeSearch& out = found[k];
    Probe probe{s};
    for (long mb : batches) {
      s.serving.max_batch = mb;
      probe.s = s;
      const ServeResult sat = probe.run(0);
      double lo = sat.requests_per_s / 100, hi = sat.requests_per_s;
      ServeResult at_lo = probe.run(lo);
      if (!at_lo.slo_met) {
        const auto& f = out.best_failed.at_max;
        if (out.best_failed.max_batch == 0 || at_lo.ttft_s.p99 + at_lo.tpot_s.p99 < f.ttft_s.p99 + f.tpot_s.p99) {
          out.best_failed = {p.tp, p.pp, p.ep, mb, lo, at_lo, s.serving.attention_dp};
        }
        continue;
      }
      const ServeResult at_hi = probe.run(hi);
      if (at_hi.slo_met) {
        lo = hi;
        at_lo = at_hi;
      } else {
        for (int i = 0; i < kBisections; ++i) {
          const double mid = std::sqrt(lo * hi);
          ServeResult r = probe.run(mid);
          if (r.slo_met) {
            lo = mid;
            at_lo = r;
          } else {
            hi = mid;
          }
        }
      }
      out.options.push_back({p.tp, p.pp, p.ep, mb, lo, at_lo, s.serving.attention_dp});
      // A larger cap changes nothing once the running batch stays well below it.
      if (at_lo.batch_mean < 0.5 * double(mb)) break;
    }
    out.sims = probe.sims;
  };
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t k = next++; k < shapes.size(); k = next++) {
      try {
        search(k);
      } catch (...) {
        found[k].error = std::current_exception();
      }
    }
  };
  const std::size_t n_threads = std::min<std::size_t>(shapes.size(), std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < n_threads; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  ReplicaOption best_failed;
  for (auto& f : found) {
    if (f.error) std::rethrow_exception(f.error);
    res.simulations += f.sims;
    res.options.insert(res.options.end(), f.options.begin(), f.options.end());
    const auto& b = f.best_failed.at_max;
    if (f.best_failed.max_batch > 0 &&
        (best_failed.max_batch == 0 || b.ttft_s.p99 + b.tpot_s.p99 < best_failed.at_max.ttft_s.p99 + best_failed.at_max.tpot_s.p99)) {
      best_failed = f.best_failed;
    }
  }
  if (!any_fit) {
    throw InputError("parallel", fmt::format("{} does not fit in any replica of up to {} x {} (capacity.max_gpus_per_replica) "
                                             "with room for one request's KV cache",
                                             m.name, cap.max_gpus_per_replica, in.base.cluster.gpu.name));
  }
  if (res.options.empty()) {
    const auto& sv = in.serving;
    const auto& b = best_failed.at_max;
    throw InputError("serving.slo", fmt::format("no configuration meets TTFT {:g} s and TPOT {:g} s at p{:g}, even at light load; the "
                                                "closest (tp {} pp {} max_batch {}) reaches TTFT p99 {:.3f} s, TPOT p99 {:.4f} s",
                                                sv.slo.ttft_s, sv.slo.tpot_s, sv.slo.percentile, best_failed.tp, best_failed.pp,
                                                best_failed.max_batch, b.ttft_s.p99, b.tpot_s.p99));
  }
  // Best per GPU first; ties by fewer GPUs per replica, then the smaller batch cap.
  std::stable_sort(res.options.begin(), res.options.end(), [](const ReplicaOption& a, const ReplicaOption& b) {
    const double ra = a.max_rate_per_s / (a.tp * a.pp), rb = b.max_rate_per_s / (b.tp * b.pp);
    if (ra != rb) return ra > rb;
    if (a.tp * a.pp != b.tp * b.pp) return a.tp * a.pp < b.tp * b.pp;
    return a.max_batch < b.max_batch;
  });

  const double price = in.base.cluster.price_per_gpu_hour_usd;
  const double in_mean = in.serving.input_len.mean, out_mean = in.serving.output_len.mean;
  double served_mean_per_s = 0;
  if (cap.fleet_gpus == 0) {
    res.demand_per_s = cap.users * cap.requests_per_user_per_hour / 3600.0 * cap.peak_to_mean;
    // The fewest GPUs over all options (replicas rounded up), ties to the higher rate per GPU.
    std::int64_t best_gpus = -1;
    for (const auto& o : res.options) {
      const long reps = std::max(1L, static_cast<long>(std::ceil(res.demand_per_s / o.max_rate_per_s - 1e-9)));
      const std::int64_t g = std::int64_t(reps) * o.tp * o.pp;
      if (best_gpus < 0 || g < best_gpus) {
        best_gpus = g;
        res.best = o;
        res.replicas = reps;
      }
    }
    res.gpus = best_gpus;
    served_mean_per_s = res.demand_per_s / cap.peak_to_mean;
  } else {
    double best_rate = -1;
    for (const auto& o : res.options) {
      const long reps = static_cast<long>(cap.fleet_gpus / (std::int64_t(o.tp) * o.pp));
      const double rate = double(reps) * o.max_rate_per_s;
      if (reps > 0 && rate > best_rate) {
        best_rate = rate;
        res.best = o;
        res.replicas = reps;
      }
    }
    if (best_rate <= 0) {
      throw InputError("capacity.fleet_gpus", fmt::format("{} GPUs hold no replica: the smallest fitting one needs {}",
                                                          cap.fleet_gpus, res.options.front().tp * res.options.front().pp));
    }
    res.gpus = std::int64_t(res.replicas) * res.best.tp * res.best.pp;
    res.max_requests_per_user_per_hour = best_rate * 3600.0 / (cap.users * cap.peak_to_mean);
    if (cap.requests_per_user_per_hour > 0) res.max_users = best_rate * 3600.0 / (cap.requests_per_user_per_hour * cap.peak_to_mean);
    res.demand_per_s = best_rate;
    served_mean_per_s = best_rate / cap.peak_to_mean;
  }
  // Costs: the fleet runs all month (730 h); tokens are those of the mean load.
  res.cost_per_hour_usd = double(res.gpus) * price;
  res.cost_per_month_usd = res.cost_per_hour_usd * 730.0;
  const double out_per_h = served_mean_per_s * out_mean * 3600.0, all_per_h = served_mean_per_s * (in_mean + out_mean) * 3600.0;
  res.cost_per_million_output_tokens_usd = out_per_h > 0 ? res.cost_per_hour_usd / out_per_h * 1e6 : 0.0;
  res.cost_per_million_tokens_usd = all_per_h > 0 ? res.cost_per_hour_usd / all_per_h * 1e6 : 0.0;
  return res;
}

}  // namespace wanka
