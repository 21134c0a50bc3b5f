#include "cluster_cmd.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <map>
#include <set>

#include "wanka/catalog.hpp"
#include "wanka/cluster.hpp"
#include "wanka/error.hpp"

namespace cl = wanka::cluster;
using wanka::InputError;

std::vector<std::string> split_list(const std::string& flag, const std::string& v) {
  std::vector<std::string> out;
  if (v.empty()) return out;
  for (std::size_t at = 0;;) {
    const std::size_t comma = v.find(',', at);
    std::string item = v.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");  // "fifo, sjf"
    out.push_back(b == std::string::npos ? std::string() : item.substr(b, e - b + 1));
    if (out.back().empty()) throw InputError(flag, "empty item in the list '" + v + "'");
    if (comma == std::string::npos) return out;
    at = comma + 1;
  }
}

namespace {

double number(const std::string& flag, const std::string& v) {
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || !std::isfinite(x)) throw InputError(flag, "expected a number, got '" + v + "'");
  return x;
}

}  // namespace

void ClusterCommand::add(CLI::App& app) {
  cmd = app.add_subcommand("cluster", "Replay a GPU-cluster job trace under scheduling policies: JCT, queueing, utilization");
  cmd->add_option("--trace", trace, "Job trace file")->required();
  cmd->add_option("--format", format, "Trace format: philly|pollux|tiresias|csv (csv: id,submit_s,gpus,duration_s[,vc,gpu_type,speed_<gpu>])");
  cmd->add_option("--nodes", nodes, "Nodes (one GPU type; see --pools for several)");
  cmd->add_option("--gpus-per-node", gpus_per_node, "GPUs per node");
  cmd->add_option("--gpu", gpu, "GPU type of the nodes (catalog name)");
  cmd->add_option("--pools", pools, "Several GPU types: TYPE:NODESxGPUS[:SPEED],... (replaces --nodes/--gpus-per-node/--gpu)");
  cmd->add_option("--nodes-per-rack", nodes_per_rack, "Nodes under one rack switch (0: one rack per pool)");
  cmd->add_option("--placement", placement, "consolidate|spread|strict");
  cmd->add_option("--cross-node-slowdown", cross_node, "Run-time factor for a job spanning nodes of one rack (>= 1)");
  cmd->add_option("--cross-rack-slowdown", cross_rack, "Run-time factor for a job spanning racks (>= 1)");
  cmd->add_option("--slowdown-model", slowdown_model,
                  "Cross-rack slowdown per job size from the training estimator for this catalog model (data parallel)");
  cmd->add_option("--rack-oversubscription", rack_oversub, "With --slowdown-model: scale-out taper between racks (1-64)");
  cmd->add_option("--policy", policies, "Policies, comma separated: fifo,sjf,srtf,easy,tiresias,hetero,quota,quota-strict or all");
  cmd->add_option("--restart-s", restart_s, "Restart cost after a preemption or failure, seconds");
  cmd->add_option("--startup-s", startup_s, "Cost of a job's first start, seconds (Pollux's simulator: 30)");
  cmd->add_option("--round-s", round_s, "Schedule in rounds of this many seconds (0: after every event)");
  cmd->add_option("--oversize", oversize, "Jobs larger than the cluster: skip (reported) or refuse (exit 2)");
  cmd->add_option("--failures", failures, "Node failures (reliability model rates): none|interrupt|kill");
  cmd->add_option("--failure-rate-scale", rate_scale, "Multiply the failure rates");
  cmd->add_option("--repair-hours", repair_hours, "Hours a failed node is out");
  // Checked before CLI11 converts it: its own messages were a range up to 1.8e308 or "Could not convert".
  cmd->add_option("--seed", seed, "Random seed (failures, synthetic workloads)")
      ->check(CLI::Validator(
          [](const std::string& v) {
            const bool digits = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
            const bool fits = digits && (v.size() < 20 || (v.size() == 20 && v <= "18446744073709551615"));
            return fits ? std::string() : "must be an integer in [0, 18446744073709551615], got '" + v + "'";
          },
          "INT"));
  cmd->add_option("--las-thresholds", las_thresholds, "Tiresias queue thresholds, GPU-seconds, increasing (default 57600)");
  cmd->add_option("--las-promote-knob", las_knob, "Tiresias starvation knob (0 = off)");
  cmd->add_option("--quota", quota, "Quota policy: VC=GPUs,... (default: share of the workload's GPU-time)");
  cmd->add_option("--synthetic", synthetic, "Replay N synthetic jobs fitted from the trace instead of the trace");
  cmd->add_option("--pollux-profiles", pollux_profiles, "Pollux throughput-traces folder (default: beside the workload)");
  cmd->add_option("--series", series, "Write the utilization time series (CSV) to this file");
  cmd->add_option("--jobs", jobs_out, "Write per-job queueing delay and JCT (CSV) to this file");
  cmd->add_option("--series-points", series_points, "Time-series buckets")->check(CLI::Range(1, 1000000));
  cmd->add_option("--threads", threads, "Policies replayed in parallel (default: all cores)")->check(CLI::Range(0, 64));
  cmd->add_flag("--json", json, "JSON output");
  cmd->add_flag("--csv", csv, "CSV output (one row per policy)");
  cmd->add_flag("--no-timing", no_timing, "Write elapsed_s as null, and the text's wall s as - (byte-identical output across runs)");
  cmd->add_option("-o,--output", out, "Write the result to a file (all or nothing)");
}

std::vector<OutputFile> ClusterCommand::run() const {
  cl::ClusterSpec c;
  if (pools.empty()) c.pools.push_back(cl::GpuPool{gpu, nodes, gpus_per_node, 0});
  else c.pools = cl::parse_pools(pools);
  std::vector<char> own_speed;  // pools given a speed (TYPE:NODESxGPUS:SPEED), before resolve_pools sets the rest
  for (const auto& p : c.pools) own_speed.push_back(p.speed > 0);
  c.nodes_per_rack = nodes_per_rack;
  c.placement = cl::parse_placement(placement);
  c.cross_node_slowdown = cross_node;
  c.cross_rack_slowdown = cross_rack;
  try {
    cl::resolve_pools(c);
  } catch (const InputError& e) {
    // Node counts given in --pools are named by it, not by --nodes or --gpus-per-node.
    if (pools.empty() || (e.field() != "--nodes" && e.field() != "--gpus-per-node")) throw;
    const std::string what = e.what();
    throw InputError("--pools", what.substr(e.field().size() + 2));
  }

  cl::SimOptions o;
  // Every number finite and bounded: an infinite failure rate or restart cost would schedule
  // events at or past the clock's end.
  if (!(restart_s >= 0 && restart_s <= 1e9)) throw InputError("--restart-s", "must be in [0, 1e9]");
  o.restart_s = restart_s;
  if (!(startup_s >= 0 && startup_s <= 1e9)) throw InputError("--startup-s", "must be in [0, 1e9]");
  o.startup_s = startup_s;
  if (!(round_s >= 0) || round_s > 1e7) throw InputError("--round-s", "must be in [0, 1e7]");
  o.round_s = round_s;
  if (oversize == "skip") o.oversize = cl::Oversize::kSkip;
  else if (oversize == "refuse") o.oversize = cl::Oversize::kRefuse;
  else throw InputError("--oversize", wanka::unknown_name_message("oversize action", oversize, {"skip", "refuse"}));
  o.failures = cl::parse_failure_mode(failures);
  if (!(rate_scale >= 0 && rate_scale <= 1e6)) throw InputError("--failure-rate-scale", "must be in [0, 1e6]");
  o.failure_rate_scale = rate_scale;
  if (!(repair_hours >= 0 && repair_hours <= 1e6)) throw InputError("--repair-hours", "must be in [0, 1e6]");
  o.repair_s = repair_hours * 3600;
  o.seed = seed;
  if (!las_thresholds.empty()) {
    o.las_thresholds_gpu_s.clear();
    for (const auto& t : split_list("--las-thresholds", las_thresholds)) {
      o.las_thresholds_gpu_s.push_back(number("--las-thresholds", t));
      if (!(o.las_thresholds_gpu_s.back() >= 0 && o.las_thresholds_gpu_s.back() <= 1e15))
        throw InputError("--las-thresholds", "thresholds must be in [0, 1e15]");
    }
    // Checked whatever the policies: a bad value is refused, not ignored when tiresias is not run.
    cl::check_las_thresholds(o.las_thresholds_gpu_s);
  }
  if (!(las_knob >= 0 && las_knob <= 1e9)) throw InputError("--las-promote-knob", "must be in [0, 1e9]");
  o.las_promote_knob = las_knob;
  for (const auto& q : split_list("--quota", quota)) {
    const auto eq = q.find('=');
    if (eq == std::string::npos || eq == 0) throw InputError("--quota", "expected VC=GPUs, got '" + q + "'");
    const double g = number("--quota", q.substr(eq + 1));
    if (!(g >= 0 && g <= 1e9)) throw InputError("--quota", "a quota must be in [0, 1e9]");
    o.quota_gpus[q.substr(0, eq)] = g;
  }
  o.series_points = series_points;

  if (json && csv) throw InputError("--json", "conflicts with --csv: give one output format");
  std::vector<std::string> names = split_list("--policy", policies);
  if (names.size() == 1 && names[0] == "all") names = cl::policy_names();
  if (names.empty()) throw InputError("--policy", "no policy given");
  for (std::set<std::string> seen; const auto& n : names) {
    if (!seen.insert(n).second) throw InputError("--policy", "'" + n + "' is listed twice");
  }

  const cl::TraceFormat f = cl::parse_trace_format(format);
  cl::Workload w = cl::read_trace(trace, f, pollux_profiles);
  // A pool's type is a catalog GPU, a type the trace names (gpu_type, speed_<gpu>), or any label
  // with its own speed: jobs match pools by it, so a typo would leave every typed job without a
  // pool, and an unknown label without a speed a cluster that is not what the table says.
  // Catalog names and aliases (h100, h100-sxm) are one type: both sides use the catalog's name.
  {
    const auto canonical = [](const std::string& label) {
      try {
        return wanka::Catalog::builtin().gpu(label).name;
      } catch (const InputError&) {
        return label;  // a trace's own type
      }
    };
    std::set<std::string> labels;
    for (auto& j : w.jobs) {
      if (!j.gpu_type.empty()) j.gpu_type = canonical(j.gpu_type);
      std::map<std::string, double> speed;
      for (const auto& [type, v] : j.speed) speed[canonical(type)] = v;
      j.speed = std::move(speed);
      if (!j.gpu_type.empty()) labels.insert(j.gpu_type);
      for (const auto& sp : j.speed) labels.insert(sp.first);
    }
    for (std::size_t i = 0; i < c.pools.size(); ++i) {
      auto& p = c.pools[i];
      p.gpu = canonical(p.gpu);
      // A pool given its own speed may carry any label (GpuPool): it runs the untyped jobs.
      if (labels.count(p.gpu) > 0 || own_speed[i]) continue;
      try {
        (void)wanka::Catalog::builtin().gpu(p.gpu);
      } catch (const InputError&) {
        std::vector<std::string> known(labels.begin(), labels.end());
        for (const auto& g : wanka::Catalog::builtin().gpus()) known.push_back(g.name);
        throw InputError(pools.empty() ? "--gpu" : "--pools",
                         wanka::unknown_name_message("gpu", p.gpu, known) + ": neither a catalog gpu nor a type in the trace");
      }
    }
    // Jobs typed for a GPU no pool has are skipped like jobs larger than the cluster; say which
    // types, with the closest pool, as such a type may be a typo (gpu_type v10O for v100).
    std::set<std::string> pool_labels;
    for (const auto& p : c.pools) pool_labels.insert(p.gpu);
    std::map<std::string, std::size_t> unmatched;
    for (const auto& j : w.jobs)
      if (!j.gpu_type.empty() && pool_labels.count(j.gpu_type) == 0) ++unmatched[j.gpu_type];
    const std::vector<std::string> known(pool_labels.begin(), pool_labels.end());
    for (const auto& [type, n] : unmatched) {
      std::fprintf(stderr, "wanka: note: %zu job(s) of gpu_type '%s', which no pool has, are skipped (%s)\n", n, type.c_str(),
                   wanka::unknown_name_message("pool", type, known).c_str());
    }
  }
  // About 400 bytes and 1.4 us per job and policy (1e7 FIFO jobs: 4.0 GB, 14 s here): 1e8 would
  // need 40 GB, more than a 24 GiB machine has.
  if (synthetic < 0 || synthetic > 10'000'000) throw InputError("--synthetic", "must be in [0, 1e7]");
  if (synthetic > 0) w = cl::synthesize(w, static_cast<std::size_t>(synthetic), seed);
  if (w.jobs.empty()) throw InputError("--trace", "the trace has no jobs");

  if (!slowdown_model.empty()) c.cross_rack_slowdown_by_gpus = cl::estimated_rack_slowdowns(w, c, slowdown_model, rack_oversub);
  else if (cmd->count("--rack-oversubscription") > 0) throw InputError("--rack-oversubscription", "needs --slowdown-model");

  const auto results = cl::compare(w, c, names, o, threads);
  if (results.front().skipped_jobs > 0)
    std::fprintf(stderr, "wanka: note: %zu jobs larger than the cluster were skipped\n", results.front().skipped_jobs);
  const cl::RunInfo info{w.source, format, w.jobs.size()};
  std::vector<OutputFile> files;
  if (json) files.push_back({"--output", out, cl::results_json(info, c, o, results, !no_timing)});
  else if (csv) files.push_back({"--output", out, cl::results_csv(results, !no_timing)});
  else files.push_back({"--output", out, cl::results_table(info, c, results, !no_timing)});
  if (!series.empty()) files.push_back({"--series", series, cl::series_csv(c, results)});
  if (!jobs_out.empty()) files.push_back({"--jobs", jobs_out, cl::jobs_csv(w, results)});
  return files;
}
