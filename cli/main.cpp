// wanka command line. Holds no model logic: it parses flags, calls the library and prints.
// Exit codes (DESIGN.md): 0 success, 2 bad input, 1 internal error.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "wanka/catalog.hpp"
#include "wanka/error.hpp"
#include "wanka/estimate.hpp"
#include "wanka/report.hpp"
#include "wanka/scenario.hpp"
#include "wanka/validate.hpp"

namespace {

using wanka::InputError;

// Writes the whole text or nothing: a temporary file renamed over the target.
void write_output(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  const std::string tmp = path + ".wanka-tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError("--output", "cannot write '" + path + "'");
    out << text;
    if (!out.flush()) {
      std::filesystem::remove(tmp);
      throw InputError("--output", "cannot write '" + path + "'");
    }
  }
  std::filesystem::rename(tmp, path);
}

struct ScenarioFlags {
  std::string file;
  std::string catalog;
  std::vector<std::string> sets;
  std::vector<wanka::Override> overrides;

  void add(CLI::App* cmd) {
    cmd->add_option("scenario", file, "Scenario file (YAML or JSON); the built-in default when omitted");
    cmd->add_option("--catalog", catalog, "Extra catalog YAML (gpus/models/networks) overriding built-in entries");
    cmd->add_option("--set", sets, "Override any field: --set parallel.tp=4 (repeatable)");
    auto field = [&](const char* flag, const char* path, const char* help) {
      cmd->add_option_function<std::string>(flag, [this, path](const std::string& v) { overrides.emplace_back(path, v); },
                                            help);
    };
    field("--model", "model", "Catalog model name");
    field("--gpu", "cluster.gpu", "Catalog GPU name");
    field("--gpus", "cluster.num_gpus", "Number of GPUs");
    field("--nic-gbps", "cluster.nic_gbps", "Scale-out bandwidth per GPU, Gb/s");
    field("--network", "cluster.network", "Scale-out network name (catalog)");
    field("--price", "cluster.price_per_gpu_hour_usd", "Price per GPU-hour, USD");
    field("--tp", "parallel.tp", "Tensor parallel size");
    field("--pp", "parallel.pp", "Pipeline parallel size");
    field("--vpp", "parallel.vpp", "Virtual pipeline stages per rank");
    field("--cp", "parallel.cp", "Context parallel size");
    field("--ep", "parallel.ep", "Expert parallel size");
    field("--dp", "parallel.dp", "Data parallel size (derived when omitted)");
    field("--micro-batch", "parallel.micro_batch", "Micro-batch size (sequences)");
    field("--recompute", "parallel.recompute", "none|selective|full");
    field("--zero", "parallel.zero", "ZeRO stage 0..3");
    field("--sp", "parallel.sequence_parallel", "Sequence parallelism true|false");
    field("--seq-len", "training.seq_len", "Sequence length");
    field("--global-batch", "training.global_batch", "Global batch (sequences)");
    field("--precision", "training.precision", "bf16|fp16|fp8");
    field("--tokens", "training.tokens", "Training tokens for run totals");
    field("--flops", "training.flops", "Training FLOPs for run totals");
  }

  wanka::Scenario load() const {
    std::vector<wanka::Override> all;
    for (const auto& s : sets) {
      const auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0) throw InputError("--set", "expected key.path=value, got '" + s + "'");
      all.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
    all.insert(all.end(), overrides.begin(), overrides.end());
    std::optional<wanka::Catalog> cat;
    if (!catalog.empty()) cat = wanka::Catalog::with_overrides(catalog);
    const wanka::Catalog& c = cat ? *cat : wanka::Catalog::builtin();
    if (file.empty()) return wanka::parse_scenario(wanka::default_scenario_yaml(), "<default>", all, c);
    return wanka::load_scenario_file(file, all, c);
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wanka: how many GPUs, for how long, at what cost, split how — for training large models"};
  app.set_version_flag("--version", std::string(WANKA_VERSION));
  app.require_subcommand(1);

  auto* est = app.add_subcommand("estimate", "Step time, MFU, memory and run totals for one split");
  ScenarioFlags est_flags;
  est_flags.add(est);
  bool est_json = false;
  std::string est_out;
  est->add_flag("--json", est_json, "Print the JSON result (DESIGN.md contract)");
  est->add_option("-o,--output", est_out, "Write the result to a file (all or nothing)");

  auto* cat = app.add_subcommand("catalog", "List built-in GPUs, models and networks, or show one");
  std::string cat_kind, cat_name;
  bool cat_json = false;
  cat->add_option("kind", cat_kind, "gpu | model")->check(CLI::IsMember({"gpu", "model"}));
  cat->add_option("name", cat_name, "Entry name or alias");
  cat->add_flag("--json", cat_json, "JSON output (entry only)");

  auto* val = app.add_subcommand("validate", "Compare predictions with published training runs");
  std::string val_file;
  int val_worst = 10;
  bool val_json = false;
  val->add_option("--file", val_file, "Validation CSV (default: the built-in curated set)");
  val->add_option("--worst", val_worst, "Rows with the largest errors to list")->check(CLI::Range(0, 100000));
  val->add_flag("--json", val_json, "JSON output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if (est->parsed()) {
      const wanka::Scenario s = est_flags.load();
      const wanka::Estimate e = wanka::estimate(s);
      const std::string text = est_json ? wanka::estimate_to_json(s, e).dump(2) + "\n" : wanka::format_estimate(s, e);
      write_output(est_out, text);
    } else if (cat->parsed()) {
      const auto& c = wanka::Catalog::builtin();
      if (cat_kind.empty()) {
        write_output("", wanka::format_catalog(c));
      } else if (cat_name.empty()) {
        throw InputError("catalog", "give a name: wanka catalog " + cat_kind + " NAME");
      } else if (cat_kind == "gpu") {
        write_output("", wanka::format_gpu(c.gpu(cat_name)));
      } else {
        write_output("", wanka::format_model(c.model(cat_name)));
      }
    } else if (val->parsed()) {
      std::string csv;
      if (!val_file.empty()) {
        std::ifstream in(val_file, std::ios::binary);
        if (!in) throw InputError("--file", "cannot read '" + val_file + "'");
        csv.assign(std::istreambuf_iterator<char>(in), {});
      }
      const auto rep = wanka::run_validation(csv);
      write_output("", val_json ? wanka::validation_to_json(rep).dump(2) + "\n" : wanka::format_validation(rep, val_worst));
    }
  } catch (const InputError& e) {
    std::fprintf(stderr, "wanka: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wanka: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
