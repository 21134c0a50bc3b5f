// `wanka cluster`: replay a job trace on a GPU cluster under one or several scheduling policies.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

// One output of a command: the flag that names it (for errors), its path ("" or "-": stdout)
// and its text.
struct OutputFile {
  std::string flag, path, text;
};

// The items of a comma-separated flag value ("fifo,sjf"). An empty item ("4,", "fifo,,sjf") is
// an InputError naming `flag`: it is a typo, not a value to drop.
std::vector<std::string> split_list(const std::string& flag, const std::string& v);

struct ClusterCommand {
  CLI::App* cmd = nullptr;
  std::string trace, format = "csv", pools, gpu = "v100", policies = "fifo", placement = "consolidate", oversize = "skip",
              failures = "none", las_thresholds, quota, out, series, jobs_out, pollux_profiles, slowdown_model;
  int nodes = 16, gpus_per_node = 8, nodes_per_rack = 0, threads = 0, series_points = 200;
  long synthetic = 0;
  double restart_s = 30, startup_s = 0, round_s = 0, cross_node = 1.0, cross_rack = 1.0, rate_scale = 1.0, repair_hours = 24, las_knob = 0, rack_oversub = 1;
  unsigned long long seed = 1;
  bool json = false, csv = false, no_timing = false;

  void add(CLI::App& app);
  // Runs the replay. Returns the outputs to write, in order: (path, text); path "" is stdout.
  // Nothing is returned (and nothing should be written) when the run fails.
  std::vector<OutputFile> run() const;
};
