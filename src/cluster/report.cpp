// Cluster replay output: JSON (the `wanka cluster --json` contract), CSV, a terminal table and
// the time series.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "wanka/cluster.hpp"

namespace wanka::cluster {

using Json = nlohmann::ordered_json;

std::string results_json(const RunInfo& info, const ClusterSpec& c, const SimOptions& opt,
                         const std::vector<PolicyResult>& results, bool timing) {
  Json pools = Json::array();
  for (const auto& p : c.pools)
    pools.push_back({{"gpu", p.gpu}, {"nodes", p.nodes}, {"gpus_per_node", p.gpus_per_node}, {"speed", p.speed}});
  Json j;
  j["wanka_version"] = WANKA_VERSION;
  j["trace"] = {{"file", info.trace}, {"format", info.format}, {"jobs", info.trace_jobs}};
  j["cluster"] = {{"total_gpus", c.total_gpus()},
                  {"pools", pools},
                  {"nodes_per_rack", c.nodes_per_rack},
                  {"placement", to_string(c.placement)},
                  {"cross_node_slowdown", c.cross_node_slowdown},
                  {"cross_rack_slowdown", c.cross_rack_slowdown}};
  if (!c.cross_rack_slowdown_by_gpus.empty()) {
    Json by = Json::object();
    for (const auto& [g, f] : c.cross_rack_slowdown_by_gpus) by[std::to_string(g)] = f;
    j["cluster"]["cross_rack_slowdown_by_gpus"] = by;
  }
  j["options"] = {{"restart_s", opt.restart_s},
                  {"startup_s", opt.startup_s},
                  {"round_s", opt.round_s},
                  {"oversize", opt.oversize == Oversize::kSkip ? "skip" : "refuse"},
                  {"failures", to_string(opt.failures)},
                  {"failure_rate_scale", opt.failure_rate_scale},
                  {"repair_s", opt.repair_s},
                  {"seed", opt.seed},
                  {"las_thresholds_gpu_s", opt.las_thresholds_gpu_s},
                  {"las_promote_knob", opt.las_promote_knob}};
  Json arr = Json::array();
  for (const auto& r : results) {
    Json by = Json::array();
    for (const auto& b : r.by_size)
      by.push_back({{"gpus", b.bucket}, {"jobs", b.jobs}, {"avg_jct_s", b.avg_jct_s}, {"avg_queue_s", b.avg_queue_s}});
    arr.push_back({{"name", r.name},
                   {"jobs", r.jobs},
                   {"skipped_jobs", r.skipped_jobs},
                   {"avg_jct_s", r.avg_jct_s},
                   {"p50_jct_s", r.p50_jct_s},
                   {"p99_jct_s", r.p99_jct_s},
                   {"avg_queue_s", r.avg_queue_s},
                   {"p50_queue_s", r.p50_queue_s},
                   {"p99_queue_s", r.p99_queue_s},
                   {"avg_run_s", r.avg_run_s},
                   {"utilization", r.utilization},
                   {"fragmentation", r.fragmentation},
                   {"makespan_s", r.makespan_s},
                   {"preemptions", r.preemptions},
                   {"failures", r.failures},
                   {"events", r.events},
                   {"elapsed_s", timing ? Json(r.elapsed_s) : Json(nullptr)},
                   {"by_size", by}});
  }
  j["policies"] = arr;
  return j.dump(2) + "\n";
}

std::string results_csv(const std::vector<PolicyResult>& results, bool timing) {
  std::string out =
      "policy,jobs,skipped_jobs,avg_jct_s,p50_jct_s,p99_jct_s,avg_queue_s,p50_queue_s,p99_queue_s,avg_run_s,"
      "utilization,fragmentation,makespan_s,preemptions,failures,events,elapsed_s\n";
  for (const auto& r : results) {
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.name,
                       r.jobs, r.skipped_jobs, r.avg_jct_s, r.p50_jct_s, r.p99_jct_s, r.avg_queue_s, r.p50_queue_s,
                       r.p99_queue_s, r.avg_run_s, r.utilization, r.fragmentation, r.makespan_s, r.preemptions,
                       r.failures, r.events, timing ? fmt::format("{:.4f}", r.elapsed_s) : std::string());
  }
  return out;
}

std::string results_table(const RunInfo& info, const ClusterSpec& c, const std::vector<PolicyResult>& results,
                          bool timing) {
  std::string pools;
  for (const auto& p : c.pools)
    pools += fmt::format("{}{} x {} {} (speed {:.3g})", pools.empty() ? "" : " + ", p.nodes, p.gpus_per_node, p.gpu, p.speed);
  std::string out = fmt::format("cluster replay: {} ({} format, {} jobs) on {} GPUs: {}, placement {}\n\n", info.trace,
                                info.format, info.trace_jobs, c.total_gpus(), pools, to_string(c.placement));
  out += fmt::format("{:<10} {:>7} {:>11} {:>11} {:>11} {:>11} {:>11} {:>6} {:>6} {:>11} {:>8} {:>8}\n", "policy", "jobs",
                     "avg JCT s", "p50 JCT s", "p99 JCT s", "avg queue", "p99 queue", "util", "frag", "makespan s",
                     "preempt", "wall s");
  for (const auto& r : results) {
    out += fmt::format("{:<10} {:>7} {:>11.0f} {:>11.0f} {:>11.0f} {:>11.0f} {:>11.0f} {:>5.1f}% {:>5.1f}% {:>11.0f} {:>8} {:>8}\n",
                       r.name, r.jobs, r.avg_jct_s, r.p50_jct_s, r.p99_jct_s, r.avg_queue_s, r.p99_queue_s,
                       100 * r.utilization, 100 * r.fragmentation, r.makespan_s, r.preemptions,
                       timing ? fmt::format("{:.3f}", r.elapsed_s) : std::string("-"));
  }
  out += "\naverage JCT / queue (s) by job size (GPUs):\n";
  for (const auto& r : results) {
    out += fmt::format("  {:<10}", r.name);
    for (const auto& b : r.by_size)
      out += fmt::format("  {}: {:.0f} / {:.0f} ({} jobs)", b.bucket, b.avg_jct_s, b.avg_queue_s, b.jobs);
    out += "\n";
  }
  std::size_t skipped = 0, failures = 0;
  for (const auto& r : results) {
    skipped = std::max(skipped, r.skipped_jobs);
    failures += r.failures;
  }
  if (skipped) out += fmt::format("\n{} jobs larger than the cluster were skipped (--oversize refuse to stop instead)\n", skipped);
  if (failures) out += fmt::format("node failures simulated: {}\n", failures);
  return out;
}

std::string jobs_csv(const Workload& w, const std::vector<PolicyResult>& results) {
  std::string out = "policy,id,submit_s,gpus,duration_s,queue_s,jct_s\n";
  for (const auto& r : results)
    for (std::size_t j = 0; j < w.jobs.size(); ++j) {
      const Job& job = w.jobs[j];
      const bool ran = !std::isnan(r.jct_s[j]);
      out += fmt::format("{},{},{},{},{},{},{}\n", r.name, job.id, job.submit_s, job.gpus, job.duration_s,
                         ran ? fmt::format("{}", r.queue_s[j]) : "", ran ? fmt::format("{}", r.jct_s[j]) : "");
    }
  return out;
}

std::string series_csv(const ClusterSpec& c, const std::vector<PolicyResult>& results) {
  std::string out = "policy,t_s,busy_gpus,utilization,waiting_jobs,idle_gpus_while_waiting\n";
  const double total = static_cast<double>(c.total_gpus());
  for (const auto& r : results)
    for (const auto& p : r.series)
      out += fmt::format("{},{},{},{},{},{}\n", r.name, p.t_s, p.busy_gpus, p.busy_gpus / total,
                         p.waiting_jobs, p.idle_gpus_while_waiting);
  return out;
}

}  // namespace wanka::cluster
