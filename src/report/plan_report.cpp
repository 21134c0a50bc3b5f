// Presentation of planner results: JSON (issue 3 contract) and terminal tables.
#include <fmt/format.h>

#include <algorithm>

#include "wanka/report.hpp"

namespace wanka {

std::string split_label(const ParallelConfig& p) {
  std::string s = fmt::format("TP{}{} PP{}", p.tp, p.sequence_parallel ? "+SP" : "", p.pp);
  if (p.vpp > 1) s += fmt::format("x{}", p.vpp);
  if (p.first_stage_layers >= 0 && p.last_stage_layers >= 0) {
    s += fmt::format("(first {}, last {})", p.first_stage_layers, p.last_stage_layers);
  } else if (p.first_stage_layers >= 0) {
    s += fmt::format("(first {})", p.first_stage_layers);
  } else if (p.last_stage_layers >= 0) {
    s += fmt::format("(last {})", p.last_stage_layers);
  }
  if (p.cp > 1) s += fmt::format(" CP{}{}", p.cp, p.cp_comm_type == CpComm::kA2a ? "(a2a)" : "");
  if (p.ep > 1) s += fmt::format(" EP{}", p.ep);
  s += fmt::format(" DP{}", p.dp);
  return s;
}

namespace {

double gib(double b) { return b / kGiB; }

// none, full, selective, or for selective with other modules than core attention, the modules
// in short: "sel:ln+mla+act" (names in scenario.hpp's order).
std::string recompute_label(const ParallelConfig& p) {
  if (p.recompute != Recompute::kSelective || p.recompute_modules == kRecomputeCoreAttn) return to_string(p.recompute);
  static constexpr const char* kShort[] = {"ca", "ln", "mla", "act", "mlp", "moe", "sh"};
  static_assert(std::size(kShort) == std::size(kRecomputeModuleNames));
  std::string s = "sel:";
  for (std::size_t i = 0; i < std::size(kShort); ++i) {
    if (p.recompute_modules & (1u << i)) s += std::string(s.size() > 4 ? "+" : "") + kShort[i];
  }
  return s;
}

}  // namespace

Json plan_entry_to_json(const PlanEntry& e) {
  Json j;
  j["parallel"] = parallel_to_json(e.scenario.parallel);
  j["gpus_used"] = e.scenario.cluster.num_gpus;
  j["gpus_idle"] = e.gpus_idle;
  j["objective"] = e.objective;
  j["memory_headroom_bytes"] = e.headroom_bytes;
  Json est = estimate_to_json(e.scenario, e.estimate, false);
  est.erase("wanka_version");
  for (auto& [k, v] : est.items()) j[k] = v;
  if (e.expected_ettr > 0) {
    j["expected_ettr"] = e.expected_ettr;
    if (e.estimate.run.defined) {
      j["run"]["days_with_failures"] = e.estimate.run.days / e.expected_ettr;
      j["run"]["gpu_hours_with_failures"] = e.estimate.run.gpu_hours / e.expected_ettr;
      j["run"]["cost_usd_with_failures"] = e.estimate.run.cost_usd / e.expected_ettr;
    }
  }
  return j;
}

Json plan_to_json(const Scenario& base, const PlanResult& r, bool timing) {
  Json j;
  j["wanka_version"] = WANKA_VERSION;
  j["model"] = base.model.name;
  j["gpu"] = base.cluster.gpu.name;
  j["num_gpus"] = r.num_gpus;
  j["objective"] = to_string(r.objective);
  j["candidates"] = r.candidates;
  j["evaluated"] = r.evaluated;
  j["fitting"] = r.fitting;
  Json reasons = Json::object();
  for (const auto& [k, v] : r.invalid_by_reason) reasons[k] = v;
  j["pruned"] = {{"invalid", r.invalid}, {"invalid_by_reason", reasons}, {"oom", r.oom}, {"bound", r.bounded},
                {"a2a_no_faster", r.dominated}};
  if (r.checkpoint_unfit > 0) {  // plan --failures only
    j["pruned"]["checkpoint_unfit"] = r.checkpoint_unfit;
    j["pruned"]["checkpoint_unfit_error"] = r.checkpoint_unfit_error;
  }
  if (r.no_progress > 0) {  // plan --failures only
    j["pruned"]["no_progress"] = r.no_progress;
    j["pruned"]["no_progress_error"] = r.no_progress_error;
  }
  j["elapsed_s"] = timing ? Json(r.elapsed_s) : Json(nullptr);
  Json plans = Json::array();
  for (const auto& e : r.plans) plans.push_back(plan_entry_to_json(e));
  j["plans"] = plans;
  Json front = Json::array();
  for (const auto& e : r.pareto) {
    front.push_back({{"parallel", parallel_to_json(e.scenario.parallel)},
                     {"step_time_s", e.estimate.step_time.value},
                     {"mfu", e.estimate.mfu},
                     {"memory_headroom_bytes", e.headroom_bytes},
                     {"peak_bytes_per_gpu", e.estimate.memory.peak_bytes_per_gpu.value}});
  }
  j["pareto"] = front;
  Json cost_front = Json::array();
  for (const auto& e : r.cost_front) {
    const double gpu_h = e.estimate.step_time.value * double(e.scenario.cluster.num_gpus) / 3600.0;
    const double price = e.scenario.cluster.price_per_gpu_hour_usd;
    cost_front.push_back({{"parallel", parallel_to_json(e.scenario.parallel)},
                          {"step_time_s", e.estimate.step_time.value},
                          {"gpus_used", e.scenario.cluster.num_gpus},
                          {"gpu_hours_per_step", gpu_h},
                          {"cost_usd_per_step", price > 0 ? Json(gpu_h * price) : Json(nullptr)}});
  }
  j["cost_front"] = cost_front;
  j["scenario"] = scenario_to_json(base);
  j["scenario"].erase("parallel");
  return j;
}

std::string format_plan(const Scenario& base, const PlanResult& r) {
  const auto& m = base.model;
  const auto& c = base.cluster;
  const auto& t = base.training;
  std::string o = fmt::format("wanka {} — parallel plan (objective: {})\n\n", WANKA_VERSION, to_string(r.objective));
  o += fmt::format("  model     {}, {} layers{}, hidden {}, {} heads\n", m.name, m.layers,
                   m.mtp_layers > 0 ? fmt::format(" + {} multi-token prediction", m.mtp_layers) : "", m.hidden, m.heads);
  o += fmt::format("  cluster   {} x {} (NIC {:.0f} Gb/s, scale-up domain {})\n", c.num_gpus, c.gpu.name, c.nic_gbps,
                   c.scale_up_domain);
  o += fmt::format("  training  seq {}, global batch {} ({:.2f}M tokens), {}\n\n", t.seq_len, t.global_batch,
                   double(t.global_batch) * double(t.seq_len) / 1e6, to_string(t.precision));
  if (r.plans.empty()) {
    o += "  no split fits in memory.\n";
  } else {
    std::size_t rcw = 9;  // the recompute column fits its longest label
    for (const auto& e : r.plans) rcw = std::max(rcw, recompute_label(e.scenario.parallel).size());
    for (const auto& e : r.pareto) rcw = std::max(rcw, recompute_label(e.scenario.parallel).size());
    for (const auto& e : r.cost_front) rcw = std::max(rcw, recompute_label(e.scenario.parallel).size());
    std::size_t sw = 26;  // and the split column its longest split
    for (const auto* list : {&r.plans, &r.pareto, &r.cost_front}) {
      for (const auto& e : *list) sw = std::max(sw, split_label(e.scenario.parallel).size());
    }
    o += fmt::format("  {:>3}  {:<{}} {:>3} {:>4} {:>{}} {:>8} {:>6} {:>8} {:>8} {:>7} {:>6} {:>6} {:>6}", "#",
                     "split", sw, "mb", "ZeRO", "recompute", rcw, "step s", "MFU", "tok/s/GPU", "mem GiB", "free", "bubble",
                     "comm", "idle");
    const bool days = r.plans.front().estimate.run.defined;
    const bool goodput = r.plans.front().expected_ettr > 0;
    if (goodput) o += fmt::format(" {:>6}", "ETTR");
    o += days ? fmt::format(" {:>8}\n", goodput ? "days*" : "days") : "\n";
    int i = 0;
    for (const auto& e : r.plans) {
      const auto& p = e.scenario.parallel;
      const auto& b = e.estimate.breakdown;
      const double st = e.estimate.step_time.value;
      const double comm = (b.tp_comm + b.cp_comm + b.ep_comm + b.pp_comm + b.dp_comm).value;
      o += fmt::format("  {:>3}  {:<{}} {:>3} {:>4} {:>{}} {:>8.3f} {:>5.1f}% {:>8.0f} {:>8.1f} {:>7.1f} {:>5.1f}% {:>5.1f}% {:>6}",
                       ++i, split_label(p), sw, p.micro_batch, p.zero, recompute_label(p), rcw, st,
                       100 * e.estimate.mfu, e.estimate.tokens_per_s_per_gpu,
                       gib(e.estimate.memory.peak_bytes_per_gpu.value), gib(e.headroom_bytes),
                       100 * b.pp_bubble.value / st, 100 * comm / st, e.gpus_idle);
      if (goodput) o += fmt::format(" {:>5.1f}%", 100 * e.expected_ettr);
      o += days ? fmt::format(" {:>8.1f}\n", e.estimate.run.days / (goodput ? e.expected_ettr : 1.0)) : "\n";
    }
    if (goodput) o += "  * with failures: failure-free days / expected ETTR (docs/model.md §16.4)\n";
    if (r.checkpoint_unfit > 0) {
      o += fmt::format("  {} of the best plans dropped: their checkpoint does not fit (the first: {})\n", r.checkpoint_unfit,
                       r.checkpoint_unfit_error);
    }
    if (r.no_progress > 0) {
      o += fmt::format("  {} of the best plans dropped: they make no progress (the first: {})\n", r.no_progress,
                       r.no_progress_error);
    }
    o += "\n  Pareto front, step time vs memory headroom (fastest first):\n";
    for (const auto& e : r.pareto) {
      const auto& p = e.scenario.parallel;
      o += fmt::format("    {:<{}} mb {:<3} ZeRO-{} {:<{}} {:>8.3f} s  {:>6.1f} GiB free\n", split_label(p), sw, p.micro_batch,
                       p.zero, recompute_label(p), rcw, e.estimate.step_time.value, gib(e.headroom_bytes));
    }
    if (r.cost_front.size() > 1) {
      const bool priced = c.price_per_gpu_hour_usd > 0;
      o += fmt::format("\n  Pareto front, step time vs {} per step (fastest first; idle GPUs are not charged):\n",
                       priced ? "cost" : "GPU-hours");
      for (const auto& e : r.cost_front) {
        const auto& p = e.scenario.parallel;
        const double gpu_h = e.estimate.step_time.value * double(e.scenario.cluster.num_gpus) / 3600.0;
        o += fmt::format("    {:<{}} mb {:<3} ZeRO-{} {:<{}} {:>8.3f} s  {:>7} GPUs  {}\n", split_label(p), sw, p.micro_batch, p.zero,
                         recompute_label(p), rcw, e.estimate.step_time.value, e.scenario.cluster.num_gpus,
                         priced ? fmt::format("{:.4g} USD", gpu_h * c.price_per_gpu_hour_usd) : fmt::format("{:.4g} GPU-h", gpu_h));
      }
    }
  }
  o += fmt::format("\n  searched {} splits: {} invalid, {} out of memory, {} fit; {} simulated, {} pruned by bound\n",
                   r.candidates, r.invalid, r.oom, r.fitting, r.evaluated, r.bounded);
  if (r.dominated > 0) {
    o += fmt::format("  {} Ulysses (a2a) splits not built: proved no faster than their ring twins\n", r.dominated);
  }
  if (!r.invalid_by_reason.empty()) {
    o += "  invalid:";
    for (const auto& [k, v] : r.invalid_by_reason) o += fmt::format(" {} {},", k, v);
    o.back() = '\n';
  }
  o += fmt::format("  {:.3f} s on {} thread{} ({:.0f} splits/s)\n", r.elapsed_s, r.threads, r.threads == 1 ? "" : "s",
                   r.elapsed_s > 0 ? double(r.candidates) / r.elapsed_s : 0.0);
  return o;
}

namespace {

struct Shares {
  double compute, tp, cp, ep, pp, bubble, dp, optimizer;
};
Shares shares(const Estimate& e) {
  const auto& b = e.breakdown;
  const double t = e.step_time.value;
  return {b.compute.value / t, b.tp_comm.value / t, b.cp_comm.value / t, b.ep_comm.value / t,
          b.pp_comm.value / t, b.pp_bubble.value / t, b.dp_comm.value / t, b.optimizer.value / t};
}

}  // namespace

Json scale_to_json(const Scenario& base, const ScaleResult& r, bool timing) {
  Json j;
  j["wanka_version"] = WANKA_VERSION;
  j["model"] = base.model.name;
  j["gpu"] = base.cluster.gpu.name;
  j["nic_gbps"] = base.cluster.nic_gbps;
  j["scale_up_domain"] = base.cluster.scale_up_domain;
  j["network_bound_share"] = kNetworkBoundShare;
  j["network_bound_from_gpus"] = r.network_bound_from > 0 ? Json(r.network_bound_from) : Json(nullptr);
  // The inputs every point shares, as plan writes them (each point's split is its own).
  j["scenario"] = scenario_to_json(base);
  j["scenario"].erase("parallel");
  Json pts = Json::array();
  for (const auto& p : r.points) {
    Json q;
    q["num_gpus"] = p.num_gpus;
    q["global_batch"] = p.global_batch;
    q["feasible"] = p.feasible;
    if (!p.feasible) {
      q["note"] = p.note;
      pts.push_back(q);
      continue;
    }
    const auto& e = p.best.estimate;
    q["parallel"] = plan_entry_to_json(p.best)["parallel"];
    q["gpus_idle"] = p.best.gpus_idle;
    q["step_time_s"] = e.step_time.value;
    q["mfu"] = e.mfu;
    q["tokens_per_s_per_gpu"] = e.tokens_per_s_per_gpu;
    q["scaling_efficiency"] = p.scaling_efficiency;
    q["days"] = e.run.defined ? Json(e.run.days) : Json(nullptr);
    q["cost_usd"] = e.run.defined ? Json(e.run.cost_usd) : Json(nullptr);
    q["energy_mwh"] = e.run.defined ? Json(e.run.energy_mwh) : Json(nullptr);
    const Shares s = shares(e);
    q["share"] = {{"compute", s.compute}, {"tp_comm", s.tp},       {"cp_comm", s.cp}, {"ep_comm", s.ep},
                  {"pp_comm", s.pp},      {"pp_bubble", s.bubble}, {"dp_comm", s.dp}, {"optimizer", s.optimizer}};
    q["comm_share"] = p.comm_share;
    q["evaluated"] = p.evaluated;
    pts.push_back(q);
  }
  j["points"] = pts;
  j["elapsed_s"] = timing ? Json(r.elapsed_s) : Json(nullptr);
  return j;
}

std::string scale_to_csv(const ScaleResult& r) {
  std::string o =
      "num_gpus,global_batch,feasible,tp,sp,pp,vpp,cp,cp_exchange,ep,dp,micro_batch,zero,recompute,step_time_s,mfu,tokens_per_s_per_gpu,"
      "scaling_efficiency,days,cost_usd,energy_mwh,compute,tp_comm,cp_comm,ep_comm,pp_comm,pp_bubble,dp_comm,optimizer,"
      "first_stage_layers,last_stage_layers\n";
  for (const auto& p : r.points) {
    if (!p.feasible) {
      o += fmt::format("{},{},false,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n", p.num_gpus, p.global_batch);
      continue;
    }
    const auto& e = p.best.estimate;
    const auto& q = p.best.scenario.parallel;
    const Shares s = shares(e);
    o += fmt::format("{},{},true,{},{},{},{},{},{},{},{},{},{},{},{:.6g},{:.6g},{:.6g},{:.6g},{},{},{},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{},{}\n",
                     p.num_gpus, p.global_batch, q.tp, q.sequence_parallel, q.pp, q.vpp, q.cp, to_string(q.cp_comm_type), q.ep, q.dp, q.micro_batch,
                     q.zero, recompute_label(q), e.step_time.value, e.mfu, e.tokens_per_s_per_gpu,
                     p.scaling_efficiency, e.run.defined ? fmt::format("{:.6g}", e.run.days) : "",
                     e.run.defined ? fmt::format("{:.6g}", e.run.cost_usd) : "",
                     e.run.defined ? fmt::format("{:.6g}", e.run.energy_mwh) : "", s.compute, s.tp, s.cp, s.ep, s.pp,
                     s.bubble, s.dp, s.optimizer, q.first_stage_layers >= 0 ? std::to_string(q.first_stage_layers) : "",
                     q.last_stage_layers >= 0 ? std::to_string(q.last_stage_layers) : "");
  }
  return o;
}

std::string format_scale(const Scenario& base, const ScaleResult& r) {
  const auto& c = base.cluster;
  std::string o = fmt::format("wanka {} — scaling {} on {} (NIC {:.0f} Gb/s, scale-up domain {})\n\n", WANKA_VERSION,
                              base.model.name, c.gpu.name, c.nic_gbps, c.scale_up_domain);
  std::size_t sw = 26;  // the split column fits its longest split
  for (const auto& p : r.points) {
    if (p.feasible) sw = std::max(sw, split_label(p.best.scenario.parallel).size());
  }
  o += fmt::format("  {:>7} {:>6} {:<{}} {:>7} {:>6} {:>6} {:>8} {:>10}  {:>5} {:>5} {:>5} {:>5} {:>5} {:>6}\n", "GPUs",
                   "batch", "best split", sw, "step s", "MFU", "eff", "days", "cost USD", "comp", "tp", "cp+ep", "pp", "dp",
                   "bubble");
  for (const auto& p : r.points) {
    if (!p.feasible) {
      o += fmt::format("  {:>7} {:>6} -- {}\n", p.num_gpus, p.global_batch, p.note);
      continue;
    }
    const auto& e = p.best.estimate;
    const Shares s = shares(e);
    auto pct = [](double x) { return fmt::format("{:.0f}%", 100 * x); };
    o += fmt::format("  {:>7} {:>6} {:<{}} {:>7.3f} {:>5.1f}% {:>5.0f}% {:>8} {:>10}  {:>5} {:>5} {:>5} {:>5} {:>5} {:>6}\n",
                     p.num_gpus, p.global_batch, split_label(p.best.scenario.parallel), sw, e.step_time.value, 100 * e.mfu,
                     100 * p.scaling_efficiency, e.run.defined ? fmt::format("{:.1f}", e.run.days) : "-",
                     e.run.defined ? fmt::format("{:.3g}", e.run.cost_usd) : "-", pct(s.compute), pct(s.tp),
                     pct(s.cp + s.ep), pct(s.pp), pct(s.dp), pct(s.bubble));
  }
  o += "\n  shares of the step on the busiest pipeline rank; eff = tokens/s per GPU relative to the first row\n";
  if (r.network_bound_from > 0) {
    o += fmt::format("  network-bound (exposed communication > {:.0f}% of the step) from {} GPUs\n", 100 * kNetworkBoundShare,
                     r.network_bound_from);
  } else {
    o += fmt::format("  exposed communication stays below {:.0f}% of the step at every size\n", 100 * kNetworkBoundShare);
  }
  o += fmt::format("  {:.2f} s\n", r.elapsed_s);
  return o;
}

}  // namespace wanka
