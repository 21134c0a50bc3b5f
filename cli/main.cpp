// wanka command line. Holds no model logic: it parses flags, calls the library and prints.
// Exit codes (DESIGN.md): 0 success, 2 bad input, 1 internal error.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <initializer_list>
#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>
#include <chrono>
#include <cmath>
#include <unistd.h>

#include "cluster_cmd.hpp"
#include "wanka/catalog.hpp"
#include "wanka/error.hpp"
#include "wanka/estimate.hpp"
#include "wanka/io.hpp"
#include "wanka/plan.hpp"
#include "wanka/reliability.hpp"
#include "wanka/report.hpp"
#include "wanka/scenario.hpp"
#include "wanka/serve.hpp"
#include "wanka/validate.hpp"

namespace {

using wanka::InputError;

// Whitespace only: an empty value.
bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

// The files a command reads (scenario, --catalog, --trace, --file), which no output may replace.
std::vector<std::pair<std::string, std::string>> g_inputs;  // flag, path

// An absolute, normalised path with its chain of symlinks followed (bounded, as the kernel
// does); empty when the chain does not end.
std::filesystem::path resolved(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path target = path;
  for (int hops = 0; fs::is_symlink(fs::symlink_status(target, ec)); ++hops) {
    if (hops == 40) return {};
    const fs::path to = fs::read_symlink(target, ec);
    if (ec) return {};
    target = to.is_absolute() ? to : target.parent_path() / to;
  }
  target = fs::weakly_canonical(fs::absolute(target, ec), ec);
  return ec ? fs::path() : target;
}

// Writes every output or none. Each file target gets its text in a temporary file in its
// directory (named by process and output, not by the target: a 250-character name stays
// valid); only when all are written do the FIFOs and devices (/dev/null) get theirs, then
// stdout, then the temporaries are renamed over their targets. A symlink is written through
// (its target replaced, the link kept, a dangling one's target created); a directory is
// refused, and so are one file named by two outputs and an input of the command.
void write_outputs(const std::vector<OutputFile>& files) {
  namespace fs = std::filesystem;
  struct Pending {
    const OutputFile* file;
    fs::path target, tmp;  // tmp empty: written directly
  };
  std::vector<Pending> pending;
  const auto fail = [&](const OutputFile& f, const std::string& why) {
    for (const auto& p : pending) {
      std::error_code ec;
      if (!p.tmp.empty()) fs::remove(p.tmp, ec);
    }
    throw InputError(f.flag, "cannot write '" + f.path + "'" + why);
  };
  // The operating system's reason, read before fail() removes temporaries (which resets errno).
  const auto os_reason = [](int err) {
    return err ? ": " + std::error_code(err, std::generic_category()).message() : std::string();
  };
  for (const auto& f : files) {
    if (f.path.empty() || f.path == "-") continue;
    std::error_code ec;
    const fs::path target = resolved(f.path);
    if (target.empty()) fail(f, ": cannot follow its symbolic links");
    const fs::file_status st = fs::status(target, ec);
    if (fs::is_directory(st) || f.path.back() == '/') fail(f, ": it is a directory");
    for (const auto& p : pending) {
      if (p.target == target) fail(f, ": the same file as " + p.file->flag);
    }
    for (const auto& [flag, in] : g_inputs) {
      if (!in.empty() && resolved(in) == target) fail(f, ": it is the input " + flag);
    }
    // A file the user may not write is not replaced behind its permissions.
    if (fs::exists(st) && ::access(target.c_str(), W_OK) != 0) fail(f, ": permission denied");
    Pending p{&f, target, {}};
    // A regular file is replaced by rename, keeping its permissions; one with other hard links
    // is written in place (a rename would leave the other names on the old text).
    const bool linked = fs::is_regular_file(st) && fs::hard_link_count(target, ec) > 1;
    if (!fs::exists(st) || (fs::is_regular_file(st) && !linked)) {
      p.tmp = target.parent_path() / (".wanka-" + std::to_string(::getpid()) + "-" + std::to_string(pending.size()) + ".tmp");
    }
    pending.push_back(p);
    if (p.tmp.empty()) continue;
    // Created exclusively ("x": O_EXCL, which also refuses a planted symlink in its place).
    fs::remove(p.tmp, ec);
    std::FILE* out = std::fopen(p.tmp.c_str(), "wbx");
    if (!out) {
      const std::string why = os_reason(errno);
      pending.back().tmp.clear();  // not ours to remove
      fail(f, why);
    }
    errno = 0;
    const bool written = std::fwrite(f.text.data(), 1, f.text.size(), out) == f.text.size();
    const int write_errno = errno;
    if (std::fclose(out) != 0 || !written) fail(f, os_reason(written ? errno : write_errno));
    if (fs::exists(st)) fs::permissions(p.tmp, st.permissions(), ec);
  }
  // FIFOs and devices first: a write there can still fail, and nothing else is in place yet.
  for (const auto& p : pending) {
    if (!p.tmp.empty()) continue;
    errno = 0;
    std::ofstream out(p.target, std::ios::binary);
    out << p.file->text;
    if (!out.flush()) fail(*p.file, os_reason(errno));
  }
  for (const auto& f : files) {
    if (f.path.empty() || f.path == "-") std::fwrite(f.text.data(), 1, f.text.size(), stdout);
  }
  for (const auto& p : pending) {
    if (p.tmp.empty()) continue;
    std::error_code ec;
    fs::rename(p.tmp, p.target, ec);
    if (ec) fail(*p.file, ": " + ec.message());
  }
}

void write_output(const std::string& path, const std::string& text) { write_outputs({{"--output", path, text}}); }


struct ScenarioFlags {
  std::string command;  // the subcommand, for errors
  std::string reliability_needs;  // how this command reads the reliability block ("" when it always does)
  // Fields the command's mode does not read, each with why: a --set or flag that gives one (by
  // its path, inside it, or as a key of a mapping) is refused; a null only unsets it.
  std::vector<std::pair<std::string, std::string>> unread;
  std::string file;
  std::string catalog;
  std::vector<std::string> sets;
  std::vector<wanka::Override> overrides;  // from flags, each beside the flag that gave it
  std::vector<std::string> override_flags;

  void set_by(const std::string& flag, const std::string& path, const std::string& value) {
    overrides.emplace_back(path, value);
    override_flags.push_back(flag);
  }

  // "a, b" or "[a,b]" as a YAML list of quoted names: the scenario parser checks the names (an
  // empty one included), so that every error is its InputError (flag callbacks run inside
  // CLI11's parse, which must not throw it).
  static std::string module_list_yaml(std::string v) {
    auto trim = [](std::string x) {
      const auto b = x.find_first_not_of(" \t"), e = x.find_last_not_of(" \t");
      return b == std::string::npos ? std::string() : x.substr(b, e - b + 1);
    };
    v = trim(v);
    if (v.size() >= 2 && v.front() == '[' && v.back() == ']') v = trim(v.substr(1, v.size() - 2));
    if (v.empty()) return "[]";
    std::string out;
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = v.find(',', start);
      const std::string name = trim(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      std::string quoted = "'";
      for (char ch : name) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
      out += (out.empty() ? "" : ", ") + quoted + "'";
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return "[" + out + "]";
  }

  // A flag that sets one scenario field: --gpus 16384 is cluster.num_gpus=16384.
  void add_field(CLI::App* cmd, const char* flag, const char* path, const char* help) {
    cmd->add_option_function<std::string>(flag, [this, flag, path](const std::string& v) { set_by(flag, path, v); },
                                          help);
  }

  void add(CLI::App* cmd, bool parallel_flags = true) {
    command = cmd->get_name();
    cmd->add_option("scenario", file, "Scenario file (YAML or JSON); the built-in default when omitted");
    cmd->add_option("--catalog", catalog, "Extra catalog YAML (keys gpus, models, scale_up, scale_out, calibration) overriding built-in entries");
    cmd->add_option("--set", sets, "Override any field: --set parallel.tp=4 (repeatable)");
    auto field = [&](const char* flag, const char* path, const char* help) { add_field(cmd, flag, path, help); };
    field("--model", "model", "Catalog model name");
    field("--gpu", "cluster.gpu", "Catalog GPU name");
    field("--gpus", "cluster.num_gpus", "Number of GPUs");
    field("--nic-gbps", "cluster.nic_gbps", "Scale-out bandwidth per GPU, Gb/s");
    field("--network", "cluster.network", "Scale-out network name (catalog)");
    field("--price", "cluster.price_per_gpu_hour_usd", "Price per GPU-hour, USD");
    if (parallel_flags) add_parallel(cmd, field);
    // Not searched by the planner, so plan and scale take them too.
    cmd->add_option_function<std::string>(
        "--recompute-modules",
        [this](const std::string& v) { set_by("--recompute-modules", "parallel.recompute_modules", module_list_yaml(v)); },
        "With selective recompute: core_attn,layernorm,mla_up_proj,moe_act,mlp,moe,shared_experts");
    field("--seq-len", "training.seq_len", "Sequence length");
    field("--global-batch", "training.global_batch", "Global batch (sequences)");
    field("--precision", "training.precision", "bf16|fp16|fp8");
    field("--tokens", "training.tokens", "Training tokens for run totals");
    field("--flops", "training.flops", "Training FLOPs for run totals");
  }

  template <class F>
  static void add_parallel(CLI::App*, F& field) {
    field("--tp", "parallel.tp", "Tensor parallel size");
    field("--pp", "parallel.pp", "Pipeline parallel size");
    field("--vpp", "parallel.vpp", "Virtual pipeline stages per rank");
    field("--cp", "parallel.cp", "Context parallel size");
    field("--cp-comm", "parallel.cp_comm_type", "Context-parallel exchange: p2p (ring) | a2a (Ulysses)");
    field("--ep", "parallel.ep", "Expert parallel size");
    field("--dp", "parallel.dp", "Data parallel size (derived when omitted)");
    field("--micro-batch", "parallel.micro_batch", "Micro-batch size (sequences)");
    field("--recompute", "parallel.recompute", "none|selective|full");
    field("--zero", "parallel.zero", "ZeRO stage 0..3");
    field("--sp", "parallel.sequence_parallel", "Sequence parallelism true|false");
  }

  std::vector<wanka::Override> all_overrides() const {
    std::vector<wanka::Override> all;
    for (const auto& s : sets) {
      const auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0) throw InputError("--set", "expected key.path=value, got '" + s + "'");
      if (blank(s.substr(eq + 1))) throw InputError("--set", "empty value for " + s.substr(0, eq));
      // The training commands read no serving or capacity block: a value set there would be ignored.
      const std::string top = s.substr(0, std::min(eq, s.find('.')));
      if (command != "serve" && (top == "serving" || top == "capacity")) {
        throw InputError(s.substr(0, eq), "not used by wanka " + command + " (the serving and capacity blocks are read by wanka serve)");
      }
      // The reliability block only with failures (estimate --failures, plan --failures).
      if (top == "reliability" && command != "serve" && !reliability_needs.empty()) {
        throw InputError(s.substr(0, eq), "not used by wanka " + command + " " + reliability_needs);
      }
      // And serving reads no training or reliability block.
      if (command == "serve" && (top == "training" || top == "reliability")) {
        throw InputError(s.substr(0, eq), "not used by wanka serve (it reads model, cluster, parallel, serving and capacity)");
      }
      all.emplace_back(s.substr(0, eq), s.substr(eq + 1));
      // A field given twice, by two --set or by a --set and a flag (applied after every --set),
      // is refused, naming both: the later one won silently (overrides_conflict: the same
      // field, a mapping that gives or replaces the other's field; a catalog name and fields
      // set inside that entry compose).
      for (std::size_t i = 0; i + 1 < all.size(); ++i) {
        if (wanka::overrides_conflict(all[i], all.back())) {
          throw InputError("--set", all[i].first == all.back().first
                                        ? all[i].first + " is given twice: give it once"
                                        : all.back().first + " and --set " + all[i].first + " give the same field: give one of them");
        }
      }
      for (std::size_t i = 0; i < overrides.size(); ++i) {
        if (wanka::overrides_conflict(all.back(), overrides[i])) {
          throw InputError("--set", all.back().first + " is also given by " + override_flags[i] + ": give one of them");
        }
      }
    }
    all.insert(all.end(), overrides.begin(), overrides.end());
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (wanka::spells_null(all[i].second)) continue;
      for (const auto& [field, why] : unread) {
        if (!wanka::override_gives(all[i], field)) continue;
        const bool at = all[i].first == field || all[i].first.starts_with(field + ".");
        if (i >= sets.size()) throw InputError(override_flags[i - sets.size()], "not used by " + why);
        // A mapping that gives the field: name the field, and the --set it is in.
        throw InputError(at ? all[i].first : field, "not used by " + why + (at ? "" : " (given in --set " + all[i].first + ")"));
      }
    }
    return all;
  }

  // The same for a planner pin (plan --tp 4,8): a --set of its field is refused.
  void refuse_set_of(const std::string& flag, const std::string& path) const {
    const auto all = all_overrides();  // the --set ones first
    for (std::size_t i = 0; i < sets.size(); ++i) {
      if (wanka::overrides_conflict(all[i], {path, "0"})) {
        throw InputError("--set", all[i].first + " is also given by " + flag + ": give one of them");
      }
    }
  }

  // Runs f with the built-in catalog, or with it plus --catalog FILE.
  template <class F>
  auto with_catalog(F&& f) const {
    if (catalog.empty()) return f(wanka::Catalog::builtin());
    const wanka::Catalog c = wanka::Catalog::with_overrides(catalog);
    return f(c);
  }

  wanka::Scenario load() const {
    return with_catalog([&](const wanka::Catalog& c) {
      if (!file.empty()) return wanka::parse_scenario(wanka::read_text_file(file, "", "scenario file"), file, all_overrides(), c);
      const auto ov = all_overrides();
      try {
        return wanka::parse_scenario(wanka::default_scenario_yaml(), "<default>", ov, c);
      } catch (const InputError& e) {
        // The built-in default's split (for Llama-3-70B on 1,024 GPUs) may not suit the model or
        // cluster the flags chose: say so, unless the split itself came from the flags.
        const bool split_given = std::any_of(ov.begin(), ov.end(), [](const wanka::Override& o) {
          return o.first == "parallel" || o.first.rfind("parallel.", 0) == 0;
        });
        if (split_given || e.field().rfind("parallel", 0) != 0) throw;
        throw InputError(e.field(), std::string(e.what()).substr(e.field().size() + 2) +
                                        " (the built-in default split TP8 PP4 VPP5 is Llama-3-70B's on 1,024 GPUs: give "
                                        "--tp/--pp/--vpp for this model, or let `wanka plan` find one)");
      }
    });
  }

  // For the planner: the split left open. The built-in default's parallel block is not a pin.
  wanka::ScenarioDraft load_draft() const {
    return with_catalog([&](const wanka::Catalog& c) {
      if (!file.empty()) return wanka::parse_scenario_draft(wanka::read_text_file(file, "", "scenario file"), file, all_overrides(), c);
      std::string text = wanka::default_scenario_yaml();
      const auto at = text.find("parallel:");
      text.erase(at, text.find('\n', at) - at + 1);
      return wanka::parse_scenario_draft(text, "<default>", all_overrides(), c);
    });
  }

  // A scenario to run: the split as given, or, when neither the file nor the flags give one,
  // the planner's best split (time objective) for the model on the cluster. (The built-in
  // default's split is not "given": load_draft drops it.)
  wanka::Scenario load_or_plan() const {
    wanka::ScenarioDraft d = load_draft();
    if (!d.parallel_given.empty()) return load();
    wanka::PlanOptions o;
    o.top = 1;
    const wanka::PlanResult r = wanka::plan(d.scenario, o);
    if (r.plans.empty()) {
      throw InputError("cluster.num_gpus", fmt::format("{} does not fit on {} x {} in any split", d.scenario.model.name,
                                                       d.scenario.cluster.num_gpus, d.scenario.cluster.gpu.name));
    }
    return r.plans.front().scenario;
  }
};

// "8", "1,2,4", "1..32" (every integer), "2..64:pow2" is not needed: ranges are inclusive.
std::vector<int> parse_int_list(const std::string& flag, const std::string& v, int lo, int hi) {
  std::vector<int> out;
  for (const std::string& item : split_list(flag, v)) {
    auto num = [&](const std::string& t) {
      std::size_t used = 0;
      long x = 0;
      try {
        x = std::stol(t, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != t.size()) throw InputError(flag, "expected an integer, a list a,b,c or a range a..b, got '" + v + "'");
      if (x < lo || x > hi) throw InputError(flag, fmt::format("{} is outside [{}, {}]", x, lo, hi));
      return static_cast<int>(x);
    };
    const auto dots = item.find("..");
    if (dots == std::string::npos) {
      out.push_back(num(item));
    } else {
      const int a = num(item.substr(0, dots)), b = num(item.substr(dots + 2));
      if (b < a) throw InputError(flag, "empty range '" + item + "'");
      if (b - a > 100000) throw InputError(flag, "range '" + item + "' is too long");
      for (int x = a; x <= b; ++x) out.push_back(x);
    }
  }
  if (out.empty()) throw InputError(flag, "no values given");
  return out;
}

// A comma-separated list of names, each one of `names` (what: the kind, for the error).
template <class T>
std::vector<T> parse_name_list(const std::string& flag, const std::string& v, const char* what,
                               std::initializer_list<std::pair<const char*, T>> names) {
  std::vector<T> out;
  for (const std::string& item : split_list(flag, v)) {
    const auto it = std::find_if(names.begin(), names.end(), [&](const auto& n) { return item == n.first; });
    if (it == names.end()) {
      std::vector<std::string> known;
      for (const auto& n : names) known.emplace_back(n.first);
      throw InputError(flag, wanka::unknown_name_message(what, item, known));
    }
    out.push_back(it->second);
  }
  if (out.empty()) throw InputError(flag, "no values given");
  return out;
}

std::vector<wanka::Recompute> parse_recompute_list(const std::string& flag, const std::string& v) {
  return parse_name_list<wanka::Recompute>(flag, v, "recompute mode",
                                           {{"none", wanka::Recompute::kNone},
                                            {"selective", wanka::Recompute::kSelective},
                                            {"full", wanka::Recompute::kFull}});
}

std::vector<wanka::CpComm> parse_cp_comm_list(const std::string& flag, const std::string& v) {
  return parse_name_list<wanka::CpComm>(flag, v, "CP exchange", {{"p2p", wanka::CpComm::kP2p}, {"a2a", wanka::CpComm::kA2a}});
}

std::vector<bool> parse_bool_list(const std::string& flag, const std::string& v) {
  std::vector<bool> out;
  for (const std::string& item : split_list(flag, v)) {
    // The spellings the scenario file accepts (as_bool).
    if (item == "true" || item == "yes" || item == "on" || item == "1") out.push_back(true);
    else if (item == "false" || item == "no" || item == "off" || item == "0") out.push_back(false);
    else throw InputError(flag, "expected true/false, got '" + item + "'");
  }
  if (out.empty()) throw InputError(flag, "no values given");
  return out;
}

// Search-space flags shared by plan and scale: --tp 8, --pp 1..32, --zero 1, --exclude recompute=none.
struct SpaceFlags {
  std::string tp, pp, vpp, cp, ep, mb, zero, recompute, sp, cp_comm;
  std::vector<std::string> exclude;
  bool even_stages = false;
  double max_idle = 0.05;
  std::string objective = "time";
  int top = 10;
  int threads = 0;
  bool exhaustive = false;

  void add(CLI::App* cmd) {
    cmd->add_option("--tp", tp, "Pin tensor parallel: 8, 4,8 or 1..8");
    cmd->add_option("--pp", pp, "Pin pipeline parallel (e.g. 1..32)");
    cmd->add_option("--vpp", vpp, "Pin virtual stages per rank");
    cmd->add_option("--cp", cp, "Pin context parallel");
    cmd->add_option("--cp-comm", cp_comm, "CP exchanges to search: p2p, a2a or p2p,a2a (default: the scenario's, p2p unless it says a2a)");
    cmd->add_option("--ep", ep, "Pin expert parallel");
    cmd->add_option("--micro-batch", mb, "Pin micro-batch size");
    cmd->add_option("--zero", zero, "Pin ZeRO stage(s) 0..3");
    cmd->add_option("--recompute", recompute, "Pin recompute: none,selective,full");
    cmd->add_option("--sp", sp, "Pin sequence parallelism: true,false");
    cmd->add_option("--exclude", exclude, "Exclude values: --exclude zero=3 --exclude recompute=none (repeatable)");
    cmd->add_flag("--even-stages", even_stages, "Require pp x vpp to divide the layers");
    cmd->add_option("--max-idle", max_idle, "Largest share of GPUs a split may leave idle (default 0.05)");
    cmd->add_option("--objective", objective, "time|cost|energy (default time)");
    cmd->add_option("--top", top, "Plans to list (default 10)");
    cmd->add_option("--threads", threads, "Worker threads (default: all cores)");
    cmd->add_flag("--exhaustive", exhaustive, "Simulate every fitting split (no bound pruning)");
  }

  // Pins given by flags here and by --set (flags.sets) are refused (the flag won silently).
  void refuse_set_pins(const ScenarioFlags& flags) const {
    for (const auto& [flag, value, key] : std::vector<std::array<std::string, 3>>{
             {"--tp", tp, "tp"}, {"--pp", pp, "pp"}, {"--vpp", vpp, "vpp"}, {"--cp", cp, "cp"}, {"--cp-comm", cp_comm, "cp_comm_type"},
             {"--ep", ep, "ep"}, {"--micro-batch", mb, "micro_batch"}, {"--zero", zero, "zero"}, {"--recompute", recompute, "recompute"},
             {"--sp", sp, "sequence_parallel"}}) {
      if (!value.empty()) flags.refuse_set_of(flag, "parallel." + key);
    }
  }

  wanka::PlanOptions options(const wanka::ScenarioDraft& d) const {
    wanka::PlanOptions o;
    auto obj = wanka::parse_objective(objective);
    if (!obj) throw InputError("--objective", wanka::unknown_name_message("objective", objective, {"time", "cost", "energy"}));
    o.objective = *obj;
    if (top < 1 || top > 1000000) throw InputError("--top", "must be in [1, 1000000]");
    if (threads < 0 || threads > 64) throw InputError("--threads", "must be in [0, 64]");
    o.top = top;
    o.threads = threads;
    o.exhaustive = exhaustive;
    o.max_idle_fraction = max_idle;
    auto& sp_ = o.space;
    sp_.even_stages = even_stages;
    // Pins from the scenario file's parallel block, then from flags.
    const auto& p = d.scenario.parallel;
    for (const auto& k : d.parallel_given) {
      if (k == "tp") sp_.tp.only = {p.tp};
      else if (k == "pp") sp_.pp.only = {p.pp};
      else if (k == "vpp") sp_.vpp.only = {p.vpp};
      else if (k == "cp") sp_.cp.only = {p.cp};
      else if (k == "cp_comm_type") sp_.cp_comm.only = {p.cp_comm_type};
      else if (k == "ep") sp_.ep.only = {p.ep};
      else if (k == "micro_batch") sp_.micro_batch.only = {p.micro_batch};
      else if (k == "zero") sp_.zero.only = {p.zero};
      else if (k == "recompute") sp_.recompute.only = {p.recompute};
      else if (k == "recompute_modules") sp_.recompute_modules_given = true;
      else if (k == "sequence_parallel") sp_.sequence_parallel.only = {p.sequence_parallel};
      else if (k == "allow_uneven_stages") sp_.even_stages = !p.allow_uneven_stages;
      else if (k == "dp") throw InputError("parallel.dp", "the planner derives dp; remove it to plan");
    }
    if (!tp.empty()) sp_.tp.only = parse_int_list("--tp", tp, 1, 100000);
    if (!pp.empty()) sp_.pp.only = parse_int_list("--pp", pp, 1, 100000);
    if (!vpp.empty()) sp_.vpp.only = parse_int_list("--vpp", vpp, 1, 10000);
    if (!cp.empty()) sp_.cp.only = parse_int_list("--cp", cp, 1, 100000);
    if (!ep.empty()) sp_.ep.only = parse_int_list("--ep", ep, 1, 100000);
    if (!cp_comm.empty()) sp_.cp_comm.only = parse_cp_comm_list("--cp-comm", cp_comm);
    if (!mb.empty()) sp_.micro_batch.only = parse_int_list("--micro-batch", mb, 1, 1000000);
    if (!zero.empty()) sp_.zero.only = parse_int_list("--zero", zero, 0, 3);
    if (!recompute.empty()) sp_.recompute.only = parse_recompute_list("--recompute", recompute);
    if (!sp.empty()) sp_.sequence_parallel.only = parse_bool_list("--sp", sp);
    // Repeated --exclude options on one dimension add up.
    const auto append = [](auto& to, const auto& more) { to.insert(to.end(), more.begin(), more.end()); };
    for (const auto& x : exclude) {
      const auto eq = x.find('=');
      if (eq == std::string::npos) throw InputError("--exclude", "expected dimension=values, got '" + x + "'");
      const std::string k = x.substr(0, eq), v = x.substr(eq + 1);
      if (k == "tp") append(sp_.tp.except, parse_int_list("--exclude tp", v, 1, 100000));
      else if (k == "pp") append(sp_.pp.except, parse_int_list("--exclude pp", v, 1, 100000));
      else if (k == "vpp") append(sp_.vpp.except, parse_int_list("--exclude vpp", v, 1, 10000));
      else if (k == "cp") append(sp_.cp.except, parse_int_list("--exclude cp", v, 1, 100000));
      else if (k == "ep") append(sp_.ep.except, parse_int_list("--exclude ep", v, 1, 100000));
      else if (k == "micro_batch") append(sp_.micro_batch.except, parse_int_list("--exclude micro_batch", v, 1, 1000000));
      else if (k == "zero") append(sp_.zero.except, parse_int_list("--exclude zero", v, 0, 3));
      else if (k == "recompute") append(sp_.recompute.except, parse_recompute_list("--exclude recompute", v));
      else if (k == "sp") append(sp_.sequence_parallel.except, parse_bool_list("--exclude sp", v));
      else if (k == "cp_comm") append(sp_.cp_comm.except, parse_cp_comm_list("--exclude cp_comm", v));
      else throw InputError("--exclude", wanka::unknown_name_message("dimension", k, {"tp", "pp", "vpp", "cp", "cp_comm", "ep", "micro_batch", "zero", "recompute", "sp"}));
    }
    if (!(max_idle >= 0 && max_idle < 1)) throw InputError("--max-idle", "must be in [0, 1)");
    return o;
  }
};

// The parallel block of a plan's (or scale's) scenario echo: the keys the input gave (pins and
// settings such as ep_dispatcher or overlap) and the flags' single-valued pins, so that the echo
// read back searches the same space. A pin to several values (--tp 4,8) has no scenario form and
// is left out.
wanka::Json plan_echo_parallel(const wanka::ScenarioDraft& d, const wanka::PlanSpace& sp) {
  const wanka::Json all = wanka::parallel_to_json(d.scenario.parallel);
  wanka::Json out = wanka::Json::object();
  for (const auto& k : d.parallel_given) {
    if (all.contains(k)) out[k] = all[k];
  }
  const auto pin = [&](const char* key, const auto& dim, auto as_json) {
    if (dim.only.size() == 1) out[key] = as_json(dim.only.front());
  };
  const auto same = [](auto v) { return wanka::Json(v); };
  pin("tp", sp.tp, same);
  pin("pp", sp.pp, same);
  pin("vpp", sp.vpp, same);
  pin("cp", sp.cp, same);
  pin("ep", sp.ep, same);
  pin("micro_batch", sp.micro_batch, same);
  pin("zero", sp.zero, same);
  pin("sequence_parallel", sp.sequence_parallel, same);
  pin("recompute", sp.recompute, [](wanka::Recompute r) { return wanka::Json(wanka::to_string(r)); });
  pin("cp_comm_type", sp.cp_comm, [](wanka::CpComm c) { return wanka::Json(wanka::to_string(c)); });
  return out;
}
void set_echo_parallel(wanka::Json& j, const wanka::ScenarioDraft& d, const wanka::PlanSpace& sp) {
  wanka::Json p = plan_echo_parallel(d, sp);
  if (!p.empty()) j["scenario"]["parallel"] = std::move(p);
}

// A progress bar on stderr when it is a terminal, shown once a search has run two seconds.
std::function<void(double)> progress_bar() {
  if (!isatty(fileno(stderr))) return {};
  const auto start = std::chrono::steady_clock::now();
  return [start](double f) {
    if (std::chrono::steady_clock::now() - start < std::chrono::seconds(2)) return;
    const int w = 40, n = static_cast<int>(f * w);
    std::fprintf(stderr, "\r[%s%s] %3.0f%%", std::string(n, '#').c_str(), std::string(w - n, ' ').c_str(), 100 * f);
    std::fflush(stderr);
  };
}

// "1024,4096" (a list) or "1024..131072" (doubling from the first to the last).
std::vector<std::int64_t> parse_counts(const std::string& v) {
  std::vector<std::int64_t> out;
  auto num = [&](const std::string& t) {
    std::size_t used = 0;
    double x = 0;
    try {
      x = std::stod(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != t.size() || !(x >= 1 && x <= 1e7) || x != std::floor(x)) {
      throw InputError("--counts", "expected GPU counts in [1, 1e7] as a,b,c or a..b, got '" + v + "'");
    }
    return static_cast<std::int64_t>(x);
  };
  for (const std::string& item : split_list("--counts", v)) {
    const auto dots = item.find("..");
    if (dots == std::string::npos) {
      out.push_back(num(item));
      continue;
    }
    const std::int64_t a = num(item.substr(0, dots)), b = num(item.substr(dots + 2));
    if (b < a) throw InputError("--counts", "empty range '" + item + "'");
    for (std::int64_t x = a; x <= b; x *= 2) out.push_back(x);
  }
  if (out.empty()) throw InputError("--counts", "no GPU counts given");
  // Ascending and once each: the curve's efficiency and network-bound point read it in order.
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > 64) throw InputError("--counts", "at most 64 GPU counts");
  return out;
}

void end_progress(const std::function<void(double)>& bar) {
  if (bar) std::fprintf(stderr, "\r%60s\r", "");
}

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

  auto* pl = app.add_subcommand("plan", "Best parallel splits of a model on a cluster; with --days, the smallest cluster that meets a deadline");
  ScenarioFlags pl_flags;
  pl_flags.add(pl, false);
  SpaceFlags pl_space;
  pl_space.add(pl);
  bool pl_json = false, pl_no_timing = false;
  std::string pl_out;
  double pl_days = 0;
  pl->add_option("--days", pl_days, "Reverse solve: smallest cluster (cheapest with --objective cost) finishing --tokens within this many days");
  pl->add_flag("--json", pl_json, "Print the JSON result");
  pl->add_flag("--no-timing", pl_no_timing, "Write elapsed_s as null (byte-identical output across runs)");
  pl->add_option("-o,--output", pl_out, "Write the result to a file (all or nothing)");

  auto* sc = app.add_subcommand("scale", "Best plan at each cluster size: MFU, days, cost and communication share up to 131,072 GPUs");
  ScenarioFlags sc_flags;
  sc_flags.add(sc, false);
  SpaceFlags sc_space;
  sc_space.add(sc);
  std::string sc_counts = "1024..131072", sc_format = "table", sc_out;
  bool sc_json = false, sc_scale_batch = false, sc_no_timing = false;
  sc->add_option("--counts", sc_counts, "GPU counts: a list 1024,4096 or a doubling range 1024..131072 (default)");
  sc->add_option("--format", sc_format, "table|csv|json")->check(CLI::IsMember({"table", "csv", "json"}));
  sc->add_flag("--json", sc_json, "Same as --format json");
  sc->add_flag("--scale-batch", sc_scale_batch, "Grow the global batch in proportion to the GPU count (weak scaling)");
  sc->add_flag("--no-timing", sc_no_timing, "Write elapsed_s as null (byte-identical output across runs)");
  sc->add_option("-o,--output", sc_out, "Write the result to a file (all or nothing)");

  auto* rel = app.add_subcommand("reliability", "Failures, checkpoints and goodput: Monte Carlo of a run on the cluster (ETTR, days, lost GPU-hours)");
  ScenarioFlags rel_flags;
  rel_flags.add(rel);
  auto rel_field = [&](const char* flag, const char* path, const char* help) { rel_flags.add_field(rel, flag, path, help); };
  rel_field("--days", "reliability.days", "Allocated wall-clock window in days (else the token budget is run to completion)");
  rel_field("--runs", "reliability.runs", "Monte Carlo runs (default 1000)");
  rel_field("--seed", "reliability.seed", "Random seed (default 1)");
  rel_field("--tier", "reliability.checkpoint.tier", "Checkpoint tier: storage|nvme|cpu|peer");
  rel_field("--interval", "reliability.checkpoint.interval_s", "Training seconds between checkpoints (default: simulated optimum)");
  rel_field("--spares", "reliability.spare_nodes", "Spare nodes (default 1 % of the job's nodes)");
  rel_field("--rate-scale", "reliability.rate_scale", "Multiply every failure rate");
  bool rel_json = false;
  int rel_threads = 0;
  std::string rel_out;
  rel->add_flag("--json", rel_json, "Print the JSON result");
  rel->add_option("--threads", rel_threads, "Worker threads (default: all cores; results do not depend on it)")->check(CLI::Range(0, 64));
  rel->add_option("-o,--output", rel_out, "Write the result to a file (all or nothing)");

  bool est_failures = false;
  est->add_flag("--failures", est_failures, "Include failures: days, GPU-hours and cost from the reliability Monte Carlo (ETTR)");
  bool pl_failures = false;
  pl->add_flag("--failures", pl_failures, "Rank by goodput-adjusted objective (expected ETTR of each split's checkpoints)");

  auto* cat = app.add_subcommand("catalog", "List built-in GPUs, models and networks, or show one");
  std::string cat_kind, cat_name, cat_file;
  bool cat_json = false;
  cat->add_option("kind", cat_kind, "gpu | model | link (scale-up) | network (scale-out)")
      ->check(CLI::IsMember({"gpu", "model", "link", "network"}));
  cat->add_option("name", cat_name, "Entry name or alias");
  cat->add_flag("--json", cat_json, "JSON output: the entry as a catalog file --catalog reads back, or the lists of names");
  cat->add_option("--catalog", cat_file, "Extra catalog YAML overriding built-in entries (shows the result)");

  auto* val = app.add_subcommand("validate", "Compare predictions with published training runs");
  std::string val_file;
  int val_worst = 10;
  bool val_json = false;
  val->add_option("--file", val_file, "Validation CSV (default: the built-in curated set)");
  val->add_option("--worst", val_worst, "Rows with the largest errors to list")->check(CLI::Range(0, 100000));
  val->add_flag("--json", val_json, "JSON output");
  bool val_plan = false, val_serving = false, val_kernels = false;
  auto* val_plan_opt = val->add_flag("--plan", val_plan, "Planner check: rank of each published split among all fitting splits");
  auto* val_serving_opt = val->add_flag("--serving", val_serving, "Serving: published inference throughput and latency (data/validation/inference.csv)");
  val->add_flag("--kernels", val_kernels,
                "Kernels: GEMM, attention, HBM and collective microbenchmarks against the operation models (data/validation/kernels.csv)")
      ->excludes(val_plan_opt)
      ->excludes(val_serving_opt);
  val_plan_opt->excludes(val_serving_opt);

  auto* srv = app.add_subcommand("serve", "LLM serving: continuous-batching simulation (throughput, TTFT, TPOT) or, with --plan, capacity");
  ScenarioFlags srv_flags;
  srv_flags.command = "serve";
  srv->add_option("scenario", srv_flags.file, "Scenario file with a serving: block; the built-in serving default when omitted");
  srv->add_option("--catalog", srv_flags.catalog, "Extra catalog YAML overriding built-in entries");
  srv->add_option("--set", srv_flags.sets, "Override any field: --set serving.max_batch=128 (repeatable)");
  for (const auto& [flag, path, help] : std::vector<std::array<const char*, 3>>{
           {"--model", "model", "Catalog model name"},
           {"--gpu", "cluster.gpu", "Catalog GPU name"},
           {"--gpus", "cluster.num_gpus", "GPUs in the deployment (replicas = gpus / (tp x pp))"},
           {"--price", "cluster.price_per_gpu_hour_usd", "Price per GPU-hour, USD"},
           {"--tp", "parallel.tp", "Tensor parallel size per replica"},
           {"--pp", "parallel.pp", "Pipeline parallel size per replica"},
           {"--ep", "parallel.ep", "Expert parallel size (inside the TP group)"},
           {"--requests", "serving.requests", "Requests to simulate"},
           {"--trace", "serving.trace", "Trace file (CSV arrival_s,input,output; Azure LLM CSV; Mooncake JSONL)"},
           {"--max-batch", "serving.max_batch", "Running sequences per replica (per pipeline stream; per rank with attention DP)"},
           {"--max-batch-tokens", "serving.max_batch_tokens", "Tokens per iteration (chunked prefill budget)"},
           {"--weight-precision", "serving.weight_precision", "bf16|fp16|fp8|fp4|int4"},
           {"--kv-precision", "serving.kv_precision", "bf16|fp16|fp8"},
           {"--ttft", "serving.slo.ttft_s", "TTFT target, s"},
           {"--tpot", "serving.slo.tpot_s", "TPOT target, s"},
           {"--prefill-replicas", "serving.disaggregation.prefill_replicas", "Replicas that only prefill (disaggregation)"},
           {"--seed", "serving.seed", "Random seed"},
           {"--users", "capacity.users", "--plan: users to serve"},
           {"--user-rate", "capacity.requests_per_user_per_hour", "--plan: requests per user per hour"},
           {"--fleet", "capacity.fleet_gpus", "--plan: a given fleet of GPUs (solve for the rate limit)"},
           {"--peak-to-mean", "capacity.peak_to_mean", "--plan: busiest-hour load over the mean"}}) {
    srv_flags.add_field(srv, flag, path, help);
  }
  // Fixed lengths replace the file's whole length block (a distribution map included).
  for (const auto& [flag, path, help] : std::vector<std::array<const char*, 3>>{
           {"--input-len", "serving.input_len", "Input tokens per request (fixed)"},
           {"--output-len", "serving.output_len", "Output tokens per request (fixed)"}}) {
    srv->add_option_function<std::string>(flag, [&srv_flags, f = std::string(flag), p = std::string(path)](const std::string& v) {
      srv_flags.set_by(f, p, "{dist: fixed, mean: " + v + "}");
    }, help);
  }
  // Arrival mode flags replace the file's mode (a file may not give both).
  srv->add_option_function<std::string>("--rate", [&](const std::string& v) {
    srv_flags.set_by("--rate", "serving.offline", "null");
    srv_flags.set_by("--rate", "serving.arrival_rate_per_s", v);
  }, "Poisson arrival rate, requests/s (replaces offline)");
  srv->add_flag_callback("--offline", [&] {
    srv_flags.set_by("--offline", "serving.arrival_rate_per_s", "null");
    srv_flags.set_by("--offline", "serving.offline", "true");
  }, "Every request at t = 0 (replaces arrival_rate_per_s)");
  bool srv_json = false, srv_plan = false;
  std::string srv_out;
  srv->add_flag("--plan", srv_plan, "Capacity planning: fleet for users x rate within the SLO, or the rate limit of a fleet");
  srv->add_flag("--json", srv_json, "Print the JSON result");
  srv->add_option("-o,--output", srv_out, "Write the result to a file (all or nothing)");

  ClusterCommand cl;
  cl.add(app);

  // CLI11 reads `--flag=` (an empty value) as `--flag` and takes the next argument as its
  // value, so `--tp= --pp 4` would set tp to "--pp". No option takes an empty value: refuse it.
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") break;
    if (a.size() > 3 && a.starts_with("--") && a.back() == '=' && a.find('=') == a.size() - 1) {
      fmt::print(stderr, "wanka: error: {}: empty value\n", a.substr(0, a.size() - 1));
      return 2;
    }
    // CLI11 reads `-o=x` as -o with the value "=x" (a file named "=x"): a short option takes its
    // value after a space or joined (-o x, -ox), never after '='.
    if (a.size() > 2 && a[0] == '-' && std::isalpha(static_cast<unsigned char>(a[1])) && a[2] == '=') {
      fmt::print(stderr, "wanka: error: {}: a short option takes its value after a space ({} {})\n", a.substr(0, 2),
                 a.substr(0, 2), a.substr(3));
      return 2;
    }
  }

  // An unknown command gets the closest ones (CLI11 would say only that a subcommand is needed).
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> known;
    for (const CLI::App* sub : app.get_subcommands({})) known.push_back(sub->get_name());
    if (std::find(known.begin(), known.end(), argv[1]) == known.end()) {
      fmt::print(stderr, "wanka: error: {}\n", wanka::unknown_name_message("command", argv[1], known));
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // CLI11's own messages in wanka's form: one line naming the problem, exit code 2.
    std::string what = e.what();
    // "--tp: At Most 1 required but received 2": an option given twice.
    if (const auto at = what.find(": At Most 1 required but received "); at != std::string::npos) {
      what = what.substr(0, at) + ": given " + what.substr(at + 34) + " times; give it once";
    }
    fmt::print(stderr, "wanka: error: {} (wanka --help, wanka COMMAND --help)\n", what);
    return 2;
  }
  // Over the given options: an empty argument (`--seq-len ''`) is refused too, its default
  // would silently stand in for it; the input files are noted (write_outputs protects them).
  for (const CLI::App* sub : app.get_subcommands()) {
    for (const CLI::Option* o : sub->get_options()) {
      const std::string n = o->get_name();
      const bool input = !o->nonpositional() || n == "--catalog" || n == "--trace" || n == "--file" || n == "--pollux-profiles";
      for (const auto& r : o->results()) {
        if (o->get_expected_min() > 0 && blank(r)) {
          fmt::print(stderr, "wanka: error: {}: empty value\n", n);
          return 2;
        }
        if (input) g_inputs.emplace_back(o->nonpositional() ? n : "scenario", r);
      }
    }
  }

  if (!est_failures) est_flags.reliability_needs = "without --failures";
  if (!pl_failures) pl_flags.reliability_needs = "without --failures";
  sc_flags.reliability_needs = "(the scale curve has no failures)";
  // With failures, estimate and plan run the token budget to completion: no fixed window.
  for (auto* f : {&est_flags, &pl_flags}) {
    f->unread.emplace_back("reliability.days", "wanka " + f->command + " --failures (the token budget runs to completion; "
                                               "wanka reliability takes a fixed window)");
    f->unread.emplace_back("reliability.tokens", "wanka " + f->command + " --failures (the run's own budget, training.tokens "
                                                 "or training.flops, runs to completion)");
  }
  if (srv_plan) {
    for (const char* field : {"serving.arrival_rate_per_s", "serving.offline", "serving.requests", "serving.disaggregation",
                              "cluster.num_gpus", "parallel.dp"}) {
      srv_flags.unread.emplace_back(field, "wanka serve --plan (it sizes the fleet and the load itself; the fleet is --fleet)");
    }
  } else {
    srv_flags.unread.emplace_back("capacity", "wanka serve without --plan (the capacity inputs are --plan's)");
  }
  for (const char* field : {"cluster.pue", "cluster.node_overhead_w_per_gpu"}) {
    srv_flags.unread.emplace_back(field, "wanka serve (it reports no energy)");
  }
  try {
    if (est->parsed()) {
      const wanka::Scenario s = est_flags.load();
      wanka::Estimate e = wanka::estimate(s);
      std::string text;
      if (est_failures) {
        wanka::Scenario sf = s;
        // The run's token budget (training.tokens or flops) run to completion: the goodput applies
        // to the run the estimate reports, not to a file's window or reliability.tokens.
        sf.reliability.days = 0;
        sf.reliability.tokens = 0;
        const wanka::ReliabilityResult rr = wanka::simulate_reliability(sf, e);
        const wanka::RunTotals ideal = e.run;
        wanka::apply_goodput(s, rr, e.run);
        if (est_json) {
          wanka::Json j = wanka::estimate_to_json(s, e);
          j["run"]["failure_free"] = {{"days", ideal.days}, {"gpu_hours", ideal.gpu_hours}, {"cost_usd", ideal.cost_usd},
                                      {"energy_mwh", ideal.energy_mwh}};
          j["goodput"] = wanka::reliability_to_json(sf, rr);  // the inputs the simulation ran on (days 0)
          j["goodput"].erase("scenario");
          // The scenario reads back with --failures: the simulated inputs, not days or tokens
          // (estimate --failures runs the training budget).
          j["scenario"]["reliability"] = wanka::reliability_scenario_json(sf, rr, false);
          text = j.dump(2) + "\n";
        } else {
          text = wanka::format_estimate(s, e) + fmt::format("    (with failures: ETTR p50 {:.1f}%, failure-free {:.1f} days)\n\n",
                                                            100 * rr.ettr.p50, ideal.days) +
                 wanka::format_reliability(sf, rr);
        }
      } else {
        text = est_json ? wanka::estimate_to_json(s, e).dump(2) + "\n" : wanka::format_estimate(s, e);
      }
      write_output(est_out, text);
    } else if (rel->parsed()) {
      const wanka::Scenario s = rel_flags.load_or_plan();
      const wanka::Estimate e = wanka::estimate(s);
      if (!e.memory.fits) {
        std::fprintf(stderr, "wanka: note: this split does not fit in memory (%.1f GiB per GPU of %.1f; wanka estimate shows "
                             "where): the run simulated here could not start as configured\n",
                     e.memory.peak_bytes_per_gpu.value / wanka::kGiB, e.memory.capacity_bytes_per_gpu.value / wanka::kGiB);
      }
      wanka::ReliabilityOptions ro;
      ro.threads = rel_threads;
      const wanka::ReliabilityResult rr = wanka::simulate_reliability(s, e, ro);
      write_output(rel_out, rel_json ? wanka::reliability_to_json(s, rr).dump(2) + "\n" : wanka::format_reliability(s, rr));
    } else if (pl->parsed()) {
      pl_space.refuse_set_pins(pl_flags);
      const wanka::ScenarioDraft d = pl_flags.load_draft();
      wanka::PlanOptions opt = pl_space.options(d);
      const auto bar = progress_bar();
      opt.progress = bar;
      std::string text;
      const int want = opt.top;
      if (pl_failures) {
        // Rank the best 50 (or --top) by the goodput-adjusted objective and keep --top of them.
        opt.top = std::max(opt.top, 50);
        opt.rerank = [want](wanka::PlanResult& r) {
          wanka::rank_by_goodput(r);
          if (r.plans.size() > static_cast<std::size_t>(want)) r.plans.resize(static_cast<std::size_t>(want));
        };
      }
      if (pl->count("--days") > 0) {
        if (pl->count("--gpus") > 0) throw InputError("--gpus", "conflicts with --days: the reverse solve sizes the cluster");
        const wanka::DeadlineResult r = wanka::solve_deadline(d.scenario, pl_days, opt);
        end_progress(bar);
        wanka::Scenario at = d.scenario;
        at.cluster.num_gpus = r.num_gpus;
        if (pl_json) {
          wanka::Json j = wanka::plan_to_json(at, r.plan, !pl_no_timing);
          set_echo_parallel(j, d, opt.space);
          wanka::Json tried = wanka::Json::array();
          for (const auto& t : r.tried) {
            const bool ran = std::isfinite(t.days);  // else no split fits or runs at this size
            tried.push_back({{"num_gpus", t.num_gpus}, {"days", ran ? wanka::Json(t.days) : wanka::Json(nullptr)},
                             {"cost_usd", ran ? wanka::Json(t.cost_usd) : wanka::Json(nullptr)}});
          }
          j["deadline"] = {{"days", pl_days}, {"num_gpus", r.num_gpus}, {"tried", tried}};
          text = j.dump(2) + "\n";
        } else {
          const auto& front = r.plan.plans.front();
          const double ettr = front.expected_ettr > 0 ? front.expected_ettr : 1.0;  // --failures
          text = fmt::format("deadline {:g} days for {:.3g} tokens: {} x {} ({}), best plan {:.1f} days, {:.4g} USD{}\n", pl_days,
                             front.estimate.run.tokens, r.num_gpus, at.cluster.gpu.name,
                             opt.objective == wanka::Objective::kCost ? "cheapest found" : "smallest",
                             front.estimate.run.days / ettr, front.estimate.run.cost_usd / ettr,
                             pl_failures ? fmt::format(" with failures (expected ETTR {:.1f} %)", 100 * ettr) : "");
          text += "  cluster sizes tried:";
          for (const auto& t : r.tried) {
            text += std::isfinite(t.days) ? fmt::format(" {}:{:.1f}d", t.num_gpus, t.days) : fmt::format(" {}:none", t.num_gpus);
          }
          text += "\n";
          const auto& best = r.plan.plans.front();
          if (best.estimate.micro_batches == 1) {
            // No gradient accumulation left: the global batch, not the cluster, caps data parallelism.
            text += fmt::format(
                "  note: the best plan runs the whole {}-sequence batch as one micro-batch per data-parallel rank;\n"
                "        more GPUs can only go to TP/PP/CP (MFU here {:.1f} %). A larger --global-batch lets them work\n"
                "        in data parallel.\n",
                at.training.global_batch, 100 * best.estimate.mfu);
          }
          text += "\n" + wanka::format_plan(at, r.plan);
        }
      } else {
        wanka::PlanResult r = wanka::plan(d.scenario, opt);
        end_progress(bar);
        if (opt.rerank) opt.rerank(r);
        if (r.plans.empty()) {
          const auto n = wanka::smallest_fitting_gpus(d.scenario, opt);
          throw InputError("cluster.num_gpus",
                           fmt::format("{} does not fit on {} x {} in any allowed split ({}); {}",
                                       d.scenario.model.name, d.scenario.cluster.num_gpus, d.scenario.cluster.gpu.name,
                                       r.optimizer_floor_bytes > 0
                                           ? fmt::format("its Adam state alone, sharded over every GPU, needs {:.4g} GiB per GPU",
                                                         r.optimizer_floor_bytes / (1024.0 * 1024.0 * 1024.0))
                                           : fmt::format("{} splits, {} out of memory", r.candidates, r.oom),
                                       n ? fmt::format("the smallest cluster on which it fits is {} GPUs", *n)
                                         : std::string("it fits on no cluster of this GPU up to 1e7 GPUs")));
        }
        if (pl_json) {
          wanka::Json j = wanka::plan_to_json(d.scenario, r, !pl_no_timing);
          set_echo_parallel(j, d, opt.space);
          text = j.dump(2) + "\n";
        } else {
          text = wanka::format_plan(d.scenario, r);
        }
      }
      write_output(pl_out, text);
    } else if (sc->parsed()) {
      sc_space.refuse_set_pins(sc_flags);
      const wanka::ScenarioDraft d = sc_flags.load_draft();
      wanka::PlanOptions opt = sc_space.options(d);
      const auto bar = progress_bar();
      opt.progress = bar;
      const auto counts = parse_counts(sc_counts);
      const wanka::ScaleResult r = wanka::scale_curve(d.scenario, counts, opt, sc_scale_batch);
      end_progress(bar);
      if (sc_json && sc->count("--format") > 0 && sc_format != "json") {
        throw InputError("--json", "conflicts with --format " + sc_format);
      }
      const std::string fmt_ = sc_json ? "json" : sc_format;
      std::string text;
      if (fmt_ == "json") {
        wanka::Json j = wanka::scale_to_json(d.scenario, r, !sc_no_timing);
        set_echo_parallel(j, d, opt.space);
        text = j.dump(2) + "\n";
      }
      else if (fmt_ == "csv") text = wanka::scale_to_csv(r);
      else text = wanka::format_scale(d.scenario, r);
      write_output(sc_out, text);
    } else if (srv->parsed()) {
      if (srv->count("--rate") > 0 && srv->count("--offline") > 0) {
        throw InputError("--offline", "conflicts with --rate: give one arrival mode");
      }
      // Flags the chosen mode would silently ignore are refused.
      for (const char* flag : {"--rate", "--offline", "--requests", "--input-len", "--output-len"}) {
        if (srv->count(flag) > 0 && srv->count("--trace") > 0) {
          throw InputError(flag, "conflicts with --trace: the trace gives the requests, their arrival times and lengths");
        }
      }
      if (srv_plan) {
        for (const char* flag : {"--rate", "--offline", "--requests", "--prefill-replicas", "--gpus"}) {
          if (srv->count(flag) > 0) {
            throw InputError(flag, "is not used by --plan (it simulates Poisson arrivals at the rates it searches, on "
                                   "colocated replicas it sizes itself; the fleet is --fleet)");
          }
        }
      }
      const wanka::ServeScenario s = srv_flags.with_catalog([&](const wanka::Catalog& c) {
        if (srv_flags.file.empty()) {
          // With --plan the built-in default's split is not a pin (as for `wanka plan`).
          std::string text = wanka::default_serve_scenario_yaml();
          if (srv_plan) {
            const auto at = text.find("parallel:");
            text.erase(at, text.find('\n', at) - at + 1);
          }
          return wanka::parse_serve_scenario(text, "<default>", srv_flags.all_overrides(), c);
        }
        return wanka::parse_serve_scenario(wanka::read_text_file(srv_flags.file, "", "scenario file"), srv_flags.file, srv_flags.all_overrides(), c);
      });
      std::string text;
      if (srv_plan) {
        const wanka::CapacityResult r = wanka::plan_capacity(s, s.serving.max_batch_given);
        text = srv_json ? wanka::capacity_to_json(s, r).dump(2) + "\n" : wanka::format_capacity(s, r);
      } else {
        if (s.serving.capacity && s.parallel_given.empty()) {
          throw InputError("parallel", "the scenario has a capacity block and no split: add --plan for capacity planning, "
                                       "or give parallel.tp/pp (--tp, --pp) to simulate one deployment");
        }
        const wanka::ServeResult r = wanka::simulate_serving(s);
        text = srv_json ? wanka::serve_to_json(s, r).dump(2) + "\n" : wanka::format_serve(s, r);
      }
      write_output(srv_out, text);
    } else if (cat->parsed()) {
      const wanka::Catalog c = cat_file.empty() ? wanka::Catalog::builtin() : wanka::Catalog::with_overrides(cat_file);
      auto json = [](const wanka::Json& j) { return j.dump(2) + "\n"; };
      if (cat_kind.empty()) {
        write_output("", cat_json ? json(wanka::catalog_to_json(c)) : wanka::format_catalog(c));
      } else if (cat_name.empty()) {
        throw InputError("catalog", "give a name: wanka catalog " + cat_kind + " NAME");
      } else if (cat_kind == "gpu") {
        const auto& g = c.gpu(cat_name);
        write_output("", cat_json ? json(wanka::gpu_to_json(g)) : wanka::format_gpu(g));
      } else if (cat_kind == "link" || cat_kind == "network") {
        // One link: as a catalog file (--json) or a few lines.
        const bool up = cat_kind == "link";
        const auto& links = up ? c.scale_up_links() : c.scale_out_links();
        const wanka::LinkSpec* l = nullptr;
        std::vector<std::string> known;
        for (const auto& x : links) {
          if (x.name == cat_name) l = &x;
          known.push_back(x.name);
        }
        if (!l) throw InputError("name", wanka::unknown_name_message(up ? "scale-up link" : "network", cat_name, known));
        wanka::Json e = {{"name", l->name}};
        if (up) {
          e["gbytes_per_s"] = l->gbytes_per_s;
          if (l->domain > 0) e["domain"] = l->domain;
          e["mesh"] = l->mesh;
          e["nvls"] = l->nvls;
        } else {
          e["gbps"] = l->gbps;
        }
        e["latency_us"] = l->latency_us;
        e["source"] = l->source;
        std::string text;
        if (cat_json) {
          text = json({{up ? "scale_up" : "scale_out", wanka::Json::array({e})}});
        } else {
          text = up ? fmt::format("{} (scale-up link)\n  {:g} GB/s per GPU (one direction){}{}{}, latency {:g} us\n", l->name,
                                  l->gbytes_per_s, l->domain > 0 ? fmt::format(", domain {}", l->domain) : "",
                                  l->mesh ? ", full mesh" : "", l->nvls ? ", NVLS" : "", l->latency_us)
                    : fmt::format("{} (scale-out network)\n  {:g} Gb/s per GPU, latency {:g} us\n", l->name, l->gbps, l->latency_us);
          if (!l->source.empty()) text += "  source: " + l->source + "\n";
        }
        write_output("", text);
      } else {
        const auto& m = c.model(cat_name);
        write_output("", cat_json ? json(wanka::model_to_json(m)) : wanka::format_model(m));
      }
    } else if (cl.cmd->parsed()) {
      write_outputs(cl.run());
    } else if (val->parsed()) {
      std::string csv;
      if (!val_file.empty()) {
        csv = wanka::read_text_file(val_file, "--file", "");
        if (blank(csv)) throw InputError("--file", "'" + val_file + "' is empty");
      }
      // The heading names the file read: the built-in curated one or --file.
      auto source = [&](const char* builtin) { return val_file.empty() ? std::string(builtin) : val_file; };
      auto report = [&](const wanka::ValidationReport& rep, const std::string& what) {
        write_output("", val_json ? wanka::validation_to_json(rep).dump(2) + "\n" : wanka::format_validation(rep, val_worst, what));
      };
      if (val_kernels) {
        report(wanka::run_kernel_validation(csv), "kernel microbenchmarks (" + source("data/validation/kernels.csv") + ")");
      } else if (val_serving) {
        report(wanka::run_serve_validation(csv), "serving throughput and latency (" + source("data/validation/inference.csv") + ")");
      } else if (val_plan) {
        const auto pr = wanka::run_plan_validation(wanka::run_validation(csv));
        write_output("", val_json ? wanka::plan_validation_to_json(pr).dump(2) + "\n" : wanka::format_plan_validation(pr, val_worst));
      } else {
        report(wanka::run_validation(csv), "training throughput (" + source("data/validation/training.csv") + ")");
      }
    }
  } catch (const InputError& e) {
    // A field a flag gave is named by the flag too: "--tp: parallel.tp: 'abc' is not a number".
    // The override with the longest path at or above the field gave it; named if a flag did.
    std::string flag;
    std::size_t longest = 0;
    const auto consider = [&](const std::string& path, const std::string& by) {
      const std::string& x = e.field();
      const bool inside = !x.empty() && (x == path || (x.size() > path.size() && x.compare(0, path.size(), path) == 0 &&
                                                       (x[path.size()] == '.' || x[path.size()] == '[')));
      if (inside && path.size() >= longest) {
        longest = path.size();
        flag = by;
      }
    };
    for (const ScenarioFlags* f : {&est_flags, &pl_flags, &sc_flags, &rel_flags, &srv_flags}) {
      for (const auto& set : f->sets) consider(set.substr(0, set.find('=')), "");  // --set: the path says it all
      for (std::size_t i = 0; i < f->overrides.size(); ++i) consider(f->overrides[i].first, f->override_flags[i]);
    }
    std::fprintf(stderr, "wanka: error: %s%s\n", flag.empty() ? "" : (flag + ": ").c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wanka: internal error: %s\n", e.what());
    return 1;
  }
  // A result that did not reach standard output (a full disk, a closed pipe) is a failure.
  std::cout.flush();
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout) {
    const int err = errno;
    std::fprintf(stderr, "wanka: error: cannot write the result to standard output%s%s\n", err ? ": " : "",
                 err ? std::strerror(err) : "");
    return 2;
  }
  return 0;
}
