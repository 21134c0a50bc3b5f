// Presentation of the reliability Monte Carlo: JSON (issue 4 contract) and a terminal report.
#include <fmt/format.h>

#include <cmath>

#include "wanka/report.hpp"

namespace wanka {

namespace {

Json pct_json(const Percentiles& p) { return {{"p10", p.p10}, {"p50", p.p50}, {"p90", p.p90}, {"mean", p.mean}}; }

const char* to_string(FailureDistribution d) { return d == FailureDistribution::kWeibull ? "weibull" : "exponential"; }

}  // namespace

Json reliability_config_to_json(const Scenario& s, const ReliabilityResult& res) {
  const auto& r = s.reliability;
  Json causes = Json::array();
  for (const auto& c : failure_causes(r)) {
    causes.push_back({{"name", c.name}, {"scope", to_string(c.scope)}, {"rate_per_day", c.rate_per_day},
                      {"replaces_node", c.replaces_node}, {"planned", c.planned}});
  }
  const auto& k = r.checkpoint;
  return {{"causes", causes},
          {"rate_scale", r.rate_scale},
          {"distribution", to_string(r.distribution)},
          {"weibull_shape", r.weibull_shape},
          {"lemon", {{"fraction", r.lemon.fraction}, {"factor", r.lemon.factor}, {"evict_after", r.lemon.evict_after}}},
          {"detection_s", r.detection_s},
          {"restart_s", r.restart_s},
          {"reschedule_s", r.reschedule_s},
          {"repair_hours", r.repair_hours},
          {"spare_nodes", res.rates.spare_nodes},
          {"checkpoint",
           {{"tier", to_string(k.tier)},
            {"interval_s", k.interval_s > 0 ? Json(k.interval_s) : Json("optimal")},
            {"storage_gbytes_per_s", res.checkpoint.storage_gbytes_per_s},
            {"storage_capacity_tb", k.storage_capacity_tb},
            {"nvme_gbytes_per_s", res.checkpoint.nvme_gbytes_per_s},
            {"nvme_capacity_tb", k.nvme_capacity_tb},
            {"host_memory_gb", k.host_memory_gb},
            {"host_gbytes_per_s", k.host_gbytes_per_s > 0 ? k.host_gbytes_per_s : s.cluster.gpu.host_gbytes_per_s},
            {"replicas", k.replicas},
            {"peer_interference", k.peer_interference},
            {"backup_interval_s", k.backup_interval_s},
            {"keep", k.keep}}},
          {"days", r.days},
          {"tokens", res.window ? (r.tokens > 0 ? r.tokens : s.training.tokens) : res.tokens},
          {"runs", r.runs},
          {"seed", r.seed}};
}

Json reliability_scenario_json(const Scenario& s, const ReliabilityResult& res, bool window) {
  Json j = reliability_config_to_json(s, res);
  j.erase("days");
  j.erase("tokens");
  if (window && s.reliability.days > 0) j["days"] = s.reliability.days;
  if (window && s.reliability.tokens > 0) j["tokens"] = s.reliability.tokens;
  return j;
}

Json reliability_to_json(const Scenario& s, const ReliabilityResult& res) {
  Json j;
  j["wanka_version"] = WANKA_VERSION;
  j["mode"] = res.window ? "window" : "tokens";
  j["runs"] = res.runs;
  j["unfinished_runs"] = res.unfinished_runs;
  j["seed"] = res.seed;
  const double gpus = static_cast<double>(s.cluster.num_gpus);
  j["job"] = {{"num_gpus", s.cluster.num_gpus},
              {"nodes", res.rates.nodes},
              {"spare_nodes", res.rates.spare_nodes},
              {"lemon_nodes", res.rates.lemons},
              {"interruptions_per_day", res.rates.total_per_s * 86400},
              {"mtbi_h", res.rates.total_per_s > 0 ? Json(res.rates.mtbi_s() / 3600) : Json(nullptr)},
              // Young's and Daly's M: planned interruptions lose no work and are left out.
              {"unplanned_mtbi_h", res.rates.unplanned_per_s > 0 ? Json(res.rates.unplanned_mtbi_s() / 3600) : Json(nullptr)},
              {"failure_free_days", res.window ? Json(nullptr) : Json(res.work_s / 86400)}};
  const auto& c = res.checkpoint;
  j["checkpoint"] = {{"tier", to_string(c.tier)},
                     {"bytes_per_gpu", c.bytes_per_gpu},
                     {"bytes_total", c.bytes_total},
                     {"block_s", c.block_s},
                     {"persist_s", c.persist_s},
                     {"restore_s", c.restore_s},
                     {"local_restore_s", c.local_restore_s},  // no node swapped: each node's own copy
                     {"backup_persist_s", c.backup_persist_s},
                     {"backup_restore_s", c.backup_restore_s},
                     {"interval_s", res.interval_s},
                     {"young_s", res.young_s},
                     {"daly_s", res.daly_s},
                     {"optimal_s", res.optimal_s}};
  Json sweep = Json::array();
  for (const auto& p : res.sweep) {
    sweep.push_back({{"interval_s", p.interval_s}, {"ettr_mean", p.ettr_mean}, {"expected_ettr", p.expected_ettr}});
  }
  j["interval_sweep"] = sweep;
  Json by_cause = Json::object();
  for (std::size_t i = 0; i < res.cause_names.size(); ++i) by_cause[res.cause_names[i]] = res.interruptions_by_cause[i];
  j["interruptions"] = {{"total", res.interruptions.mean}, {"p10", res.interruptions.p10},
                        {"p90", res.interruptions.p90}, {"by_cause", by_cause}};
  j["ettr"] = pct_json(res.ettr);
  j["expected_ettr"] = res.expected_ettr;
  j["wall_clock_days"] = pct_json(res.wall_clock_days);
  const double lost = res.lost_work_gpu_h + res.restart_gpu_h + res.checkpoint_gpu_h + res.waiting_gpu_h;
  j["lost_gpu_hours"] = {{"lost_work", res.lost_work_gpu_h},       {"detection_restart", res.restart_gpu_h},
                         {"checkpoint", res.checkpoint_gpu_h},     {"waiting_repair", res.waiting_gpu_h},
                         {"total", lost}};
  j["useful_gpu_hours"] = res.useful_gpu_h;
  j["allocated_gpu_hours"] = res.wall_clock_days.mean * 24 * gpus;
  j["reliability"] = reliability_config_to_json(s, res);
  j["scenario"] = scenario_to_json(s);
  j["scenario"]["reliability"] = reliability_scenario_json(s, res, true);
  return j;
}

std::string format_reliability(const Scenario& s, const ReliabilityResult& res) {
  std::string o;
  const auto& r = s.reliability;
  o += fmt::format("wanka {} — reliability and goodput ({} runs, seed {})\n\n", WANKA_VERSION, res.runs, res.seed);
  o += fmt::format("  job        {} x {} ({} nodes, {} spare, {} lemon), {} {}\n", s.cluster.num_gpus,
                   s.cluster.gpu.name, res.rates.nodes, res.rates.spare_nodes, res.rates.lemons, s.model.name,
                   res.window ? fmt::format("for a {:g}-day window", r.days)
                              : fmt::format("for {:.3g} tokens ({:.1f} failure-free days)",
                                            res.tokens, res.work_s / 86400));
  // The split the failure-free time comes from (the planner's best when the input gave none).
  o += fmt::format("  split      {}, micro-batch {}, ZeRO-{}, recompute {}\n", split_label(s.parallel),
                   s.parallel.micro_batch, s.parallel.zero, to_string(s.parallel.recompute));
  o += fmt::format("  failures   {:.3g} interruptions/day, one every {:.4g} h ({}{})\n", res.rates.total_per_s * 86400,
                   res.rates.mtbi_s() / 3600, r.distribution == FailureDistribution::kWeibull ? "Weibull" : "exponential",
                   r.rate_scale != 1 ? fmt::format(", rates x{:g}", r.rate_scale) : "");
  o += fmt::format("  recovery   detection {:g} s, restart {:g} s, swap {:g} s, repair {:g} h\n\n", r.detection_s,
                   r.restart_s, r.reschedule_s, r.repair_hours);
  const auto& c = res.checkpoint;
  o += fmt::format("  checkpoint tier {}: {:.3g} GB per GPU, {:.3g} TB in all; blocks {:.3g} s, durable after {:.3g} s, "
                   "restore {:.3g} s{}\n",
                   to_string(c.tier), c.bytes_per_gpu / 1e9, c.bytes_total / 1e12, c.block_s, c.persist_s, c.restore_s,
                   c.local_restore_s != c.restore_s
                       ? fmt::format(" ({:.3g} s when no node is swapped)", c.local_restore_s)
                       : std::string());
  if (c.tier != CheckpointTier::kStorage) {
    o += fmt::format("             storage backup every {:g} s: durable after {:.3g} s, restore {:.3g} s\n",
                     r.checkpoint.backup_interval_s, c.backup_persist_s, c.backup_restore_s);
  }
  if (std::isfinite(res.young_s)) {
    o += fmt::format("  interval   Young {:.0f} s, Daly {:.0f} s ({}), simulated optimum {:.0f} s; simulated at {:.0f} s\n\n",
                     res.young_s, res.daly_s,
                     res.rates.unplanned_per_s > 0
                         ? fmt::format("M = {:.4g} h between unplanned interruptions", res.rates.unplanned_mtbi_s() / 3600)
                         : std::string("nothing unplanned: capped at the run's length"),
                     res.optimal_s, res.interval_s);
  } else {
    o += fmt::format("  interval   no failures: simulated at {:.0f} s\n\n", res.interval_s);
  }
  if (res.unfinished_runs > 0) {
    o += fmt::format("  WARNING    {} of {} runs did not finish within 100x their failure-free length + 30 days; "
                     "their days are truncated\n\n", res.unfinished_runs, res.runs);
  }
  o += fmt::format("  ETTR            p10 {:.1f}%  p50 {:.1f}%  p90 {:.1f}%   (first-order formula {:.1f}%)\n",
                   100 * res.ettr.p10, 100 * res.ettr.p50, 100 * res.ettr.p90, 100 * res.expected_ettr);
  o += fmt::format("  wall-clock days p10 {:.2f}  p50 {:.2f}  p90 {:.2f}\n", res.wall_clock_days.p10,
                   res.wall_clock_days.p50, res.wall_clock_days.p90);
  o += fmt::format("  interruptions   {:.1f} per run (p10 {:.0f}, p90 {:.0f})\n", res.interruptions.mean,
                   res.interruptions.p10, res.interruptions.p90);
  for (std::size_t i = 0; i < res.cause_names.size(); ++i) {
    if (res.interruptions_by_cause[i] < 0.05) continue;
    o += fmt::format("    {:<24} {:>8.1f}\n", res.cause_names[i], res.interruptions_by_cause[i]);
  }
  const double alloc = res.useful_gpu_h + res.lost_work_gpu_h + res.restart_gpu_h + res.checkpoint_gpu_h + res.waiting_gpu_h;
  o += fmt::format("\n  GPU-hours per run (mean)        {:>12}  {:>6}\n", "", "share");
  auto row = [&](const char* name, double v) {
    o += fmt::format("    {:<28} {:>12.4g}  {:>5.1f}%\n", name, v, alloc > 0 ? 100 * v / alloc : 0.0);
  };
  row("useful training", res.useful_gpu_h);
  row("lost work (rolled back)", res.lost_work_gpu_h);
  row("detection and restart", res.restart_gpu_h);
  row("checkpoint stalls", res.checkpoint_gpu_h);
  row("waiting for repair", res.waiting_gpu_h);
  row("allocated", alloc);
  if (!res.sweep.empty()) {
    o += "\n  interval sweep (common random numbers)\n    interval_s   ETTR sim   ETTR formula\n";
    for (const auto& p : res.sweep) {
      o += fmt::format("    {:>10.0f}   {:>7.2f}%   {:>7.2f}%\n", p.interval_s, 100 * p.ettr_mean, 100 * p.expected_ettr);
    }
  }
  return o;
}

}  // namespace wanka
