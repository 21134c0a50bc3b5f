#include "wanka/scenario.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <iterator>
#include <optional>

#include "config/reliability_config.hpp"
#include "config/yaml_util.hpp"
#include "wanka/error.hpp"
#include "wanka/io.hpp"

namespace wanka {

using yaml::join;

const char* to_string(CpComm c) { return c == CpComm::kA2a ? "a2a" : "p2p"; }

bool ulysses_heads_divide(const ModelSpec& m, int tp, int cp) {
  return (m.heads / tp) % cp == 0 && std::max<long>(1, m.kv_heads / tp) % cp == 0;
}

const char* to_string(Recompute r) {
  switch (r) {
    case Recompute::kNone: return "none";
    case Recompute::kSelective: return "selective";
    case Recompute::kFull: return "full";
  }
  return "?";
}

const char* to_string(AttentionKernel a) {
  switch (a) {
    case AttentionKernel::kFlash: return "flash";
    case AttentionKernel::kFlash2: return "flash2";
    case AttentionKernel::kUnfused: return "unfused";
  }
  return "?";
}

const char* to_string(EpDispatcher d) { return d == EpDispatcher::kDeepEp ? "deepep" : "all_to_all"; }

const char* to_string(CrossEntropyKernel c) {
  switch (c) {
    case CrossEntropyKernel::kFused: return "fused";
    case CrossEntropyKernel::kUnfused: return "unfused";
  }
  return "?";
}

const char* default_scenario_yaml() {
  return R"(# Built-in default: Llama-3-70B pretraining on 1,024 H100 SXM (128 HGX nodes, 400 Gb/s per GPU),
# a Megatron-style split: TP8 inside each node, 4 pipeline stages with 5 virtual chunks, DP32.
model: {name: llama3-70b}
cluster: {gpu: h100-sxm, num_gpus: 1024}
parallel: {tp: 8, pp: 4, vpp: 5, cp: 1, micro_batch: 1, sequence_parallel: true, recompute: selective, zero: 1}
training: {seq_len: 8192, global_batch: 512, precision: bf16, tokens: 15.0e12}
)";
}

namespace {

constexpr double kMaxGpus = 1e7;  // beyond any cluster in existence or planned

// A copy of `n` without source marks: an override's value is its own one-line document, whose
// "line 1, column 1" would read as a place in the scenario file in later errors.
YAML::Node without_marks(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return YAML::Node(n.Scalar());
    case YAML::NodeType::Sequence: {
      YAML::Node out(YAML::NodeType::Sequence);
      for (const auto& item : n) out.push_back(without_marks(item));
      return out;
    }
    case YAML::NodeType::Map: {
      YAML::Node out(YAML::NodeType::Map);
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) return n;  // a complex key: keep the node as parsed
        out[kv.first.Scalar()] = without_marks(kv.second);
      }
      return out;
    }
    default: return YAML::Node(n.Type());
  }
}

// Sets root[a][b]...= value, turning a scalar on the way into {name: scalar} (so that
// "model=llama3-70b" in the file and "model.layers=40" as a flag compose).
void apply_override(YAML::Node root, const Override& ov) {
  if (ov.first.empty()) throw InputError("", "empty override path");
  // Split by hand: getline drops a trailing empty component ("parallel." would set parallel).
  std::vector<std::string> parts;
  for (std::size_t at = 0;;) {
    const std::size_t dot = ov.first.find('.', at);
    parts.push_back(ov.first.substr(at, dot == std::string::npos ? std::string::npos : dot - at));
    if (parts.back().empty()) throw InputError(ov.first, "empty component in override path");
    if (dot == std::string::npos) break;
    at = dot + 1;
  }
  // Read as a scenario file is (yaml::parse): a duplicate key or a second document in the value
  // is refused, named by its path below the overridden field.
  YAML::Node value;
  try {
    value = yaml::parse(ov.second, "value '" + ov.second + "'");
  } catch (const InputError& e) {
    const std::string what = e.what();
    if (e.field().empty()) throw InputError(ov.first, "cannot parse " + what);
    throw InputError(join(ov.first, e.field()), what.substr(e.field().size() + 2));
  }
  value = without_marks(value);
  // A value that reads as no document ('#8192', '---', '...') would reset the field silently:
  // null only when spelt so.
  if (value.IsNull() && !spells_null(ov.second)) {
    throw InputError(ov.first, "empty value '" + ov.second + "' (write null to unset the field)");
  }
  std::vector<YAML::Node> chain{root};
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node cur = chain.back();
    YAML::Node next = cur[parts[i]];
    if (next.IsScalar()) {
      // A field below a scalar: the scalar is the short form of a mapping where there is one
      // (a catalog name for model and cluster.gpu, a fixed length for the serving lengths);
      // anywhere else the path is wrong, named as far as it exists.
      std::string at = parts[0];
      for (std::size_t k = 1; k <= i; ++k) at += "." + parts[k];
      const bool named = at == "model" || at == "cluster.gpu";
      const bool length = at == "serving.input_len" || at == "serving.output_len";
      if (!named && !length) {
        throw InputError(at, "is a value ('" + next.Scalar() + "'), not a mapping: cannot set " + ov.first);
      }
      YAML::Node m(YAML::NodeType::Map);
      m[named ? "name" : "mean"] = next.Scalar();
      cur[parts[i]] = m;
      next = cur[parts[i]];
    } else if (!next.IsDefined() || next.IsNull()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = cur[parts[i]];
    } else if (!next.IsMap()) {
      throw InputError(ov.first, "cannot set a field inside a non-mapping");
    }
    chain.push_back(next);
  }
  YAML::Node last = chain.back();
  YAML::Node target = last[parts.back()];
  // "--set model=llama3-8b" on a file with model: {name: llama3-70b, ...}: replace the name only
  // (model and cluster.gpu are named catalog entries; other blocks have no name).
  // A top-level block other than model is a mapping only; a nested field that holds a mapping
  // and may hold a scalar (serving.input_len: 1000 or {mean: ...}) takes the scalar.
  if (target.IsMap() && value.IsScalar() && (ov.first == "model" || ov.first == "cluster.gpu")) {
    target["name"] = value;
  } else if (target.IsMap() && value.IsScalar() && parts.size() == 1) {
    throw InputError(ov.first, "is a mapping: set its fields (--set " + ov.first + ".<field>=...) or give a mapping, not '" +
                                   ov.second + "'");
  } else {
    last[parts.back()] = value;
  }
}

// An override's value as YAML, or nullopt when it does not parse (parse_scenario reports it).
std::optional<YAML::Node> parsed_value(const std::string& text) {
  try {
    return yaml::parse(text, "value");
  } catch (const InputError&) {
    return std::nullopt;
  }
}

// `inner` = `outer` + "." + rest: rest, else nullopt.
std::optional<std::string> below(const std::string& inner, const std::string& outer) {
  if (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 && inner[outer.size()] == '.') {
    return inner.substr(outer.size() + 1);
  }
  return std::nullopt;
}

// Whether the mapping `v` defines the dotted path `rest` below it.
bool defines(YAML::Node v, const std::string& rest) {
  for (std::size_t at = 0;;) {
    const std::size_t dot = rest.find('.', at);
    const YAML::Node cur = v;  // the const operator[] never inserts
    if (!cur.IsMap()) return false;
    const YAML::Node next = cur[rest.substr(at, dot == std::string::npos ? std::string::npos : dot - at)];
    if (!next.IsDefined()) return false;
    if (dot == std::string::npos) return true;
    v = next;
    at = dot + 1;
  }
}

}  // namespace

namespace {
// An override's value without surrounding blanks.
std::string trimmed(const std::string& value) {
  const auto b = value.find_first_not_of(" \t"), e = value.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : value.substr(b, e - b + 1);
}
}  // namespace

bool spells_null(const std::string& value) {
  const std::string t = trimmed(value);
  return t == "null" || t == "Null" || t == "NULL" || t == "~";
}

bool override_gives(const Override& ov, const std::string& path) {
  if (ov.first == path || below(ov.first, path)) return true;
  const auto rest = below(path, ov.first);
  if (!rest) return false;
  const auto v = parsed_value(ov.second);
  return v && defines(*v, *rest);
}

bool overrides_conflict(const Override& first, const Override& second) {
  const auto v1 = parsed_value(first.second), v2 = parsed_value(second.second);
  if (!v1 || !v2) return false;
  // A catalog entry is chosen by its name or by `base` (a name and a base of another entry
  // would run one GPU's figures under the other's name).
  const auto chooses = [](const std::string& rest) { return rest == "name" || rest == "base"; };
  if (first.first == second.first) {
    // A name after a mapping composes (apply_override sets the mapping's name) unless the
    // mapping chose an entry; anything else sets the field twice.
    return !(v1->IsMap() && v2->IsScalar()) || defines(*v1, "name") || defines(*v1, "base");
  }
  if (const auto rest = below(second.first, first.first)) {
    // Set inside what first gave: a mapping that defines it, or a scalar name it would override.
    return v1->IsMap() ? defines(*v1, *rest) : chooses(*rest);
  }
  if (const auto rest = below(first.first, second.first)) {
    // A later mapping replaces the block first set a field in; a later scalar sets its name.
    return v2->IsMap() || chooses(*rest);
  }
  return false;
}

namespace {

ModelSpec parse_model_section(const YAML::Node& n, const Catalog& cat) {
  if (!n || n.IsNull()) throw InputError("model", "missing: give a catalog name or an explicit model");
  if (n.IsScalar()) {
    try {
      return cat.model(n.Scalar());
    } catch (const InputError& e) {
      throw InputError("model", std::string(e.what()) + yaml::where(n));
    }
  }
  yaml::require_map(n, "model");
  const ModelSpec* base = nullptr;
  if (auto b = n["base"]) {
    try {
      base = &cat.model(yaml::as_string(b, "model.base"));
    } catch (const InputError& e) {
      throw InputError("model.base", std::string(e.what()) + yaml::where(b));
    }
  } else if (auto name = n["name"]; name && name.IsScalar()) {
    const std::string nm = name.Scalar();
    const bool explicit_shape = static_cast<bool>(n["layers"]) && static_cast<bool>(n["hidden"]);
    try {
      base = &cat.model(nm);
    } catch (const InputError& e) {
      if (!explicit_shape) throw InputError("model.name", std::string(e.what()) + yaml::where(name));
    }
  }
  ModelSpec m = Catalog::parse_model(n, "model", base);
  if (m.name.empty()) m.name = "custom";
  Catalog::finalize_model(m, "model");
  return m;
}

GpuSpec parse_gpu_field(const YAML::Node& n, const Catalog& cat) {
  if (!n || n.IsNull()) throw InputError("cluster.gpu", "missing: give a catalog name or an explicit gpu");
  if (n.IsScalar()) {
    try {
      return cat.gpu(n.Scalar());
    } catch (const InputError& e) {
      throw InputError("cluster.gpu", std::string(e.what()) + yaml::where(n));
    }
  }
  yaml::require_map(n, "cluster.gpu");
  const GpuSpec* base = nullptr;
  std::string base_name;
  if (auto b = n["base"]) base_name = yaml::as_string(b, "cluster.gpu.base");
  else if (auto nm = n["name"]; nm && nm.IsScalar()) base_name = nm.Scalar();
  if (!base_name.empty()) {
    try {
      base = &cat.gpu(base_name);
    } catch (const InputError& e) {
      if (n["base"]) throw InputError("cluster.gpu.base", e.what());
      if (!n["peak_tflops"]) throw InputError("cluster.gpu.name", e.what());
    }
  }
  // An inline gpu may carry its calibration (fields over its base's, as wanka writes a changed
  // one in a resolved scenario).
  YAML::Node spec = n;
  YAML::Node cal;
  if (n["calibration"]) {
    spec = YAML::Clone(n);
    cal = spec["calibration"];
    spec.remove("calibration");
  }
  GpuSpec g = Catalog::parse_gpu(spec, "cluster.gpu", base);
  if (!base) g.calibration = cat.gpu("generic").calibration;
  if (cal && !cal.IsNull()) Catalog::parse_calibration_fields(cal, "cluster.gpu.calibration", g.calibration, false);
  return g;
}

}  // namespace

ClusterConfig default_cluster(const GpuSpec& gpu, std::int64_t num_gpus) {
  ClusterConfig cl;
  cl.gpu = gpu;
  cl.num_gpus = num_gpus;
  cl.gpus_per_node = gpu.gpus_per_node;
  cl.scale_up_domain = std::max(gpu.scale_up_domain, 1);
  cl.scale_up_gbytes_per_s = gpu.scale_up_gbytes_per_s;
  cl.scale_up_mesh = gpu.scale_up_mesh;
  cl.scale_up_nvls = gpu.scale_up_nvls;
  cl.nic_gbps = gpu.nic_gbps;
  cl.price_per_gpu_hour_usd = gpu.price_per_gpu_hour_usd;
  // Node share of power beyond the GPUs (CPUs, NICs, fans, drives): DGX H100 is 10.2 kW max
  // with 8 x 700 W GPUs, i.e. (10.2 - 5.6) / 8 = 575 W per GPU at most; at training load
  // about 40 % of GPU TDP (NVIDIA DGX H100 user guide, system power specifications).
  cl.node_overhead_w_per_gpu = 0.4 * gpu.tdp_w;
  return cl;
}

YAML::Node scenario_root(const std::string& text, const std::string& origin, const std::vector<Override>& overrides) {
  YAML::Node root = yaml::parse(text, origin);
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw InputError("", origin + ": a scenario is a mapping with model, cluster, parallel, training");
  // Fields that say one thing two ways. What sizes the run: training.tokens or training.flops
  // (estimate, plan), and for wanka reliability a token budget (those, or reliability.tokens) or
  // a wall-clock window (reliability.days, which wins over a budget in the file). The NIC
  // bandwidth: cluster.network (a catalog name) or cluster.nic_gbps. An override setting one
  // replaces what would contradict it in the file (`estimate --flops 1e24` on a scenario with a
  // token budget; `reliability --tokens` on one with a window; `--network` on one with
  // nic_gbps); two overrides that contradict each other are refused here, both in one file by
  // parse_scenario_draft (tokens and flops, network and nic_gbps).
  struct TwoWays {
    const char* block;
    const char* key;
    unsigned excludes;  // bits of the entries this one contradicts
    unsigned replaces;  // bits of those it removes from the file
  };
  static constexpr unsigned kTok = 1, kFlops = 2, kRelTok = 4, kDays = 8, kNetwork = 16, kNic = 32, kOffline = 64,
                            kRate = 128, kTrace = 256;
  // training.tokens or flops given as an override also replaces the file's reliability.tokens,
  // which would otherwise win for wanka reliability.
  static constexpr TwoWays kTwoWays[] = {
      {"training", "tokens", kFlops | kDays | kRelTok, kFlops | kDays | kRelTok},
      {"training", "flops", kTok | kDays | kRelTok, kTok | kDays | kRelTok},
      {"reliability", "tokens", kDays | kTok | kFlops, kDays},
      {"reliability", "days", kTok | kFlops | kRelTok, 0},
      {"cluster", "network", kNic, kNic},
      {"cluster", "nic_gbps", kNetwork, kNetwork},
      // How requests arrive (serving): offline, a Poisson rate or a trace.
      {"serving", "offline", kRate | kTrace, kRate | kTrace},
      {"serving", "arrival_rate_per_s", kOffline | kTrace, kOffline | kTrace},
      {"serving", "trace", kOffline | kRate, kOffline | kRate},
  };
  const auto name = [](int i) { return std::string(kTwoWays[i].block) + "." + kTwoWays[i].key; };
  // Why entries i and j contradict each other.
  const auto why = [&](int i, int j) -> std::string {
    const unsigned both = (1u << i) | (1u << j);
    if (both & (kNetwork | kNic)) return "both set the NIC bandwidth: give one";
    if (both & kDays) return "are a wall-clock window and a token budget: give one";
    if (both & (kOffline | kRate | kTrace)) return "both say how requests arrive: give one";
    return "both size the run: give one";
  };
  // "0" is unset for these fields, as null is.
  const auto unsets = [](const std::string& v) {
    const std::string t = trimmed(v);
    return t == "0" || t == "0.0" || t == "0e0" || t == "false";
  };
  unsigned given = 0;
  for (const auto& ov : overrides) {
    apply_override(root, ov);
    if (spells_null(ov.second) || unsets(ov.second)) continue;
    int which = -1, count = 0;
    for (int i = 0; i < int(std::size(kTwoWays)); ++i) {
      if (override_gives(ov, name(i))) {
        which = i;
        ++count;
      }
    }
    if (count != 1) continue;  // none, or a whole block (checked as the file is)
    const TwoWays& z = kTwoWays[which];
    if (given & z.excludes) {
      int j = 0;
      while (!((given & z.excludes) & (1u << j))) ++j;
      throw InputError(name(which), "given with " + name(j) + ": they " + why(which, j));
    }
    given |= 1u << which;
    for (int i = 0; i < int(std::size(kTwoWays)); ++i) {
      if (!(z.replaces & (1u << i))) continue;
      const YAML::Node cr = root;  // the const operator[] never inserts
      const YAML::Node block = cr[kTwoWays[i].block];
      if (block.IsDefined() && block.IsMap()) {
        YAML::Node b = root[kTwoWays[i].block];
        b.remove(kTwoWays[i].key);
      }
    }
  }
  return root;
}

namespace {
void check_recompute_modules(const Scenario& s);
}  // namespace

ScenarioDraft parse_scenario_draft(const std::string& text, const std::string& origin,
                                   const std::vector<Override>& overrides, const Catalog& cat) {
  ScenarioDraft d;
  YAML::Node root = scenario_root(text, origin, overrides);
  yaml::check_keys(root, "", {"name", "description", "model", "cluster", "parallel", "training", "reliability",
                              "serving", "capacity"});

  Scenario& s = d.scenario;
  s.model = parse_model_section(root["model"], cat);

  // cluster
  const YAML::Node c = root["cluster"];
  if (!c || c.IsNull()) throw InputError("cluster", "missing: give at least gpu and num_gpus");
  yaml::check_keys(c, "cluster", {"gpu", "num_gpus", "gpus_per_node", "scale_up_domain", "scale_up_link",
                                  "scale_up_gbytes_per_s", "network", "nic_gbps", "oversubscription",
                                  "price_per_gpu_hour_usd", "pue", "node_overhead_w_per_gpu", "topology"});
  if (!c["num_gpus"]) throw InputError("cluster.num_gpus", "missing");
  const double n_gpus = yaml::as_double(c["num_gpus"], "cluster.num_gpus", 1, kMaxGpus);
  if (n_gpus != std::floor(n_gpus)) throw InputError("cluster.num_gpus", "expected an integer" + yaml::where(c["num_gpus"]));
  s.cluster = default_cluster(parse_gpu_field(c["gpu"], cat), static_cast<std::int64_t>(n_gpus));
  auto& cl = s.cluster;
  yaml::opt(c, "gpus_per_node", "cluster", cl.gpus_per_node, 1, 1024);
  // A named link from the catalog, or an error listing the closest names.
  auto named_link = [&](const char* key, const char* kind, const std::vector<LinkSpec>& links) -> const LinkSpec* {
    auto l = c[key];
    if (!l || l.IsNull()) return nullptr;
    const std::string path = std::string("cluster.") + key;
    const std::string nm = yaml::as_string(l, path);
    std::vector<std::string> known;
    for (const auto& x : links) {
      if (x.name == nm) return &x;
      known.push_back(x.name);
    }
    throw InputError(path, unknown_name_message(kind, nm, known));
  };
  if (const LinkSpec* link = named_link("scale_up_link", "scale-up link", cat.scale_up_links())) {
    cl.scale_up_gbytes_per_s = link->gbytes_per_s;
    cl.scale_up_mesh = link->mesh;
    cl.scale_up_nvls = link->nvls;
    if (link->domain > 0) cl.scale_up_domain = link->domain;
  }
  if (const LinkSpec* link = named_link("network", "network", cat.scale_out_links())) {
    if (c["nic_gbps"] && !c["nic_gbps"].IsNull()) {
      throw InputError("cluster.nic_gbps", "cluster.nic_gbps and cluster.network both set the NIC bandwidth: give one" +
                                               yaml::where(c["nic_gbps"]));
    }
    cl.nic_gbps = link->gbps;
  }
  yaml::opt(c, "scale_up_domain", "cluster", cl.scale_up_domain, 1, 1e6);
  yaml::opt(c, "scale_up_gbytes_per_s", "cluster", cl.scale_up_gbytes_per_s, 1e-3, 1e6);
  yaml::opt(c, "nic_gbps", "cluster", cl.nic_gbps, 1e-3, 1e6);
  yaml::opt(c, "oversubscription", "cluster", cl.oversubscription, 1, 64);
  yaml::opt(c, "price_per_gpu_hour_usd", "cluster", cl.price_per_gpu_hour_usd, 0, 1e5);
  yaml::opt(c, "pue", "cluster", cl.pue, 1, 5);
  yaml::opt(c, "node_overhead_w_per_gpu", "cluster", cl.node_overhead_w_per_gpu, 0, 1e5);
  yaml::opt_string(c, "topology", "cluster", cl.topology);
  if (cl.topology != "rail-optimized-fat-tree" && cl.topology != "fat-tree") {
    throw InputError("cluster.topology", unknown_name_message("topology", cl.topology,
                                                              {"rail-optimized-fat-tree", "fat-tree"}));
  }

  // training
  auto& tr = s.training;
  if (auto t = root["training"]; t && !t.IsNull()) {
    yaml::check_keys(t, "training", {"seq_len", "global_batch", "precision", "attention", "cross_entropy",
                                       "fp32_grads", "tokens", "flops"});
    yaml::opt(t, "seq_len", "training", tr.seq_len, 1, 1e8);
    yaml::opt(t, "global_batch", "training", tr.global_batch, 1, 1e9);
    if (auto p = t["precision"]; p && !p.IsNull()) {
      const std::string ps = yaml::as_string(p, "training.precision");
      auto pp = parse_precision(ps);
      if (!pp || (*pp != Precision::kBf16 && *pp != Precision::kFp16 && *pp != Precision::kFp8)) {
        throw InputError("training.precision", unknown_name_message("training precision", ps, {"bf16", "fp16", "fp8"}));
      }
      tr.precision = *pp;
    }
    if (auto a = t["attention"]; a && !a.IsNull()) {
      const std::string as = yaml::as_string(a, "training.attention");
      if (as == "flash") tr.attention = AttentionKernel::kFlash;
      else if (as == "flash2") tr.attention = AttentionKernel::kFlash2;
      else if (as == "unfused") tr.attention = AttentionKernel::kUnfused;
      else throw InputError("training.attention", unknown_name_message("attention kernel", as, {"flash", "flash2", "unfused"}));
    }
    if (auto x = t["cross_entropy"]; x && !x.IsNull()) {
      const std::string xs = yaml::as_string(x, "training.cross_entropy");
      if (xs == "fused") tr.cross_entropy = CrossEntropyKernel::kFused;
      else if (xs == "unfused") tr.cross_entropy = CrossEntropyKernel::kUnfused;
      else throw InputError("training.cross_entropy", unknown_name_message("cross-entropy kernel", xs, {"fused", "unfused"}));
    }
    yaml::opt_bool(t, "fp32_grads", "training", tr.fp32_grads);
    yaml::opt(t, "tokens", "training", tr.tokens, 0, 1e20);
    yaml::opt(t, "flops", "training", tr.flops, 0, 1e35);
    if (tr.tokens > 0 && tr.flops > 0) {
      throw InputError("training.flops", "training.flops and training.tokens both size the run: give one" +
                                             yaml::where(t["flops"]));
    }
  }

  // parallel
  auto& pa = s.parallel;
  bool dp_given = false;
  bool sp_given = false;
  if (auto p = root["parallel"]; p && !p.IsNull()) {
    yaml::check_keys(p, "parallel", {"tp", "pp", "vpp", "cp", "ep", "dp", "micro_batch", "sequence_parallel",
                                     "recompute", "recompute_modules", "zero", "reshard_after_forward", "allow_uneven_stages",
                                     "first_stage_layers", "last_stage_layers", "cp_comm_type",
                                     "ep_dispatcher", "overlap"});
    for (const auto& kv : p) {
      if (!kv.second.IsNull()) d.parallel_given.push_back(kv.first.Scalar());
    }
    yaml::opt(p, "tp", "parallel", pa.tp, 1, 1e5);
    yaml::opt(p, "pp", "parallel", pa.pp, 1, 1e5);
    yaml::opt(p, "vpp", "parallel", pa.vpp, 1, 1e4);
    yaml::opt(p, "cp", "parallel", pa.cp, 1, 1e5);
    yaml::opt(p, "ep", "parallel", pa.ep, 1, 1e5);
    if (p["dp"] && !p["dp"].IsNull()) {
      yaml::opt(p, "dp", "parallel", pa.dp, 1, kMaxGpus);
      dp_given = true;
    }
    yaml::opt(p, "micro_batch", "parallel", pa.micro_batch, 1, 1e6);
    if (p["sequence_parallel"] && !p["sequence_parallel"].IsNull()) {
      pa.sequence_parallel = yaml::as_bool(p["sequence_parallel"], "parallel.sequence_parallel");
      sp_given = true;
    }
    if (auto r = p["recompute"]; r && !r.IsNull()) {
      const std::string rs = yaml::as_string(r, "parallel.recompute");
      if (rs == "none") pa.recompute = Recompute::kNone;
      else if (rs == "selective") pa.recompute = Recompute::kSelective;
      else if (rs == "full") pa.recompute = Recompute::kFull;
      else throw InputError("parallel.recompute", unknown_name_message("recompute mode", rs, {"none", "selective", "full"}));
    }
    if (auto rm = p["recompute_modules"]; rm && !rm.IsNull()) {
      // A list of Megatron-Core module names (one name alone is a list of one).
      const std::string path = "parallel.recompute_modules";
      const std::vector<std::string> names(std::begin(kRecomputeModuleNames), std::end(kRecomputeModuleNames));
      auto bit_of = [&](const YAML::Node& n) {
        const std::string name = yaml::as_string(n, path);
        for (std::size_t i = 0; i < names.size(); ++i) {
          if (names[i] == name) return 1u << i;
        }
        throw InputError(path, unknown_name_message("recompute module", name, names) + yaml::where(n));
      };
      if (rm.IsSequence()) {
        if (rm.size() == 0) throw InputError(path, "empty: with nothing to recompute, set parallel.recompute: none" + yaml::where(rm));
        pa.recompute_modules = 0;
        for (const auto& n : rm) pa.recompute_modules |= bit_of(n);
      } else if (rm.IsScalar()) {
        pa.recompute_modules = bit_of(rm);
      } else {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        throw InputError(path, "expected a list of module names (" + list + ")" + yaml::where(rm));
      }
    }
    yaml::opt(p, "zero", "parallel", pa.zero, 0, 3);
    yaml::opt_bool(p, "reshard_after_forward", "parallel", pa.reshard_after_forward);
    yaml::opt_bool(p, "allow_uneven_stages", "parallel", pa.allow_uneven_stages);
    yaml::opt(p, "first_stage_layers", "parallel", pa.first_stage_layers, 0, 1e5);
    yaml::opt(p, "last_stage_layers", "parallel", pa.last_stage_layers, 0, 1e5);
    if (auto cc = p["cp_comm_type"]; cc && !cc.IsNull()) {
      const std::string cs = yaml::as_string(cc, "parallel.cp_comm_type");
      if (cs == "p2p") pa.cp_comm_type = CpComm::kP2p;
      else if (cs == "a2a") pa.cp_comm_type = CpComm::kA2a;
      else throw InputError("parallel.cp_comm_type", unknown_name_message("context-parallel exchange", cs, {"p2p", "a2a"}));
    }
    if (auto ed = p["ep_dispatcher"]; ed && !ed.IsNull()) {
      const std::string ds = yaml::as_string(ed, "parallel.ep_dispatcher");
      if (ds == "all_to_all") pa.ep_dispatcher = EpDispatcher::kAllToAll;
      else if (ds == "deepep") pa.ep_dispatcher = EpDispatcher::kDeepEp;
      else throw InputError("parallel.ep_dispatcher", unknown_name_message("EP dispatcher", ds, {"all_to_all", "deepep"}));
    }
    if (auto o = p["overlap"]; o && !o.IsNull()) {
      yaml::check_keys(o, "parallel.overlap", {"dp", "zero3", "tp", "pp", "cp", "ep"});
      yaml::opt_bool(o, "dp", "parallel.overlap", pa.overlap.dp);
      yaml::opt_bool(o, "zero3", "parallel.overlap", pa.overlap.zero3);
      yaml::opt_bool(o, "tp", "parallel.overlap", pa.overlap.tp);
      yaml::opt_bool(o, "pp", "parallel.overlap", pa.overlap.pp);
      yaml::opt_bool(o, "cp", "parallel.overlap", pa.overlap.cp);
      yaml::opt_bool(o, "ep", "parallel.overlap", pa.overlap.ep);
    }
  }
  if (auto r = root["reliability"]; r && !r.IsNull()) parse_reliability_section(r, s.reliability);

  if (!sp_given) pa.sequence_parallel = pa.tp > 1;
  if (pa.tp == 1) pa.sequence_parallel = false;
  d.dp_given = dp_given;
  check_recompute_modules(s);
  return d;
}

Scenario parse_scenario(const std::string& text, const std::string& origin, const std::vector<Override>& overrides,
                        const Catalog& cat) {
  ScenarioDraft d = parse_scenario_draft(text, origin, overrides, cat);
  Scenario& s = d.scenario;
  auto& pa = s.parallel;
  const auto& cl = s.cluster;
  const std::int64_t model_par = static_cast<std::int64_t>(pa.tp) * pa.pp * pa.cp;
  if (!d.dp_given) {
    if (cl.num_gpus % model_par != 0) {
      throw InputError("parallel", "tp x pp x cp = " + std::to_string(model_par) +
                                       " does not divide cluster.num_gpus (" + std::to_string(cl.num_gpus) + ")");
    }
    pa.dp = cl.num_gpus / model_par;
  }
  validate_scenario(s);
  return s;
}

StageLayout stage_layout(long layers, long stages, int first_stage_layers, int last_stage_layers) {
  StageLayout l;
  l.stages = std::max(1L, stages);
  l.first = first_stage_layers;
  l.last = l.stages > 1 ? last_stage_layers : -1;
  if (l.stages == 1 && first_stage_layers < 0 && last_stage_layers >= 0) l.first = last_stage_layers;
  l.free_begin = l.first >= 0 ? 1 : 0;
  l.free_end = l.last >= 0 ? l.stages - 1 : l.stages;
  const long free = std::max(0L, l.free_end - l.free_begin);
  const long rest = layers - std::max(0L, l.first) - std::max(0L, l.last);
  if (l.stages == 1 && first_stage_layers >= 0 && last_stage_layers >= 0 && first_stage_layers != last_stage_layers) {
    l.issue = SplitIssue::kStageLayers;  // one stage is both the first and the last
  } else if (rest < free || (free == 0 && rest != 0)) {
    l.issue = SplitIssue::kStageLayers;
  }
  if (free > 0 && rest >= 0) {
    l.q = rest / free;
    l.rem = rest % free;
    // The extra layers keep away from the embedding and head stages: centred between two edge
    // stages (or two given ones), else against the given edge.
    const bool first_free = l.first < 0, last_free = l.last < 0 && l.stages > 1;
    l.plus_begin = first_free == last_free ? l.free_begin + (free - l.rem) / 2
                   : first_free           ? l.free_end - l.rem
                                          : l.free_begin;
    if (l.rem != 0 && l.issue == SplitIssue::kOk) l.issue = SplitIssue::kUnevenStages;
  }
  return l;
}

SplitIssue check_split(const Scenario& s) {
  const auto& m = s.model;
  const auto& p = s.parallel;
  const auto& c = s.cluster;
  const auto& t = s.training;
  // In floating point: degrees up to 1e5 each and dp up to 1e7 would overflow 64-bit integers.
  const double product = double(p.tp) * double(p.pp) * double(p.cp) * double(p.dp);
  if (product != double(c.num_gpus)) return SplitIssue::kGpuProduct;
  if (c.num_gpus > c.gpus_per_node && c.num_gpus % c.gpus_per_node != 0) return SplitIssue::kNodeMultiple;
  if (m.heads % p.tp != 0) return SplitIssue::kHeads;
  if (!m.mla && m.kv_heads % p.tp != 0 && p.tp % m.kv_heads != 0) return SplitIssue::kKvHeads;
  const long chunks = static_cast<long>(p.pp) * p.vpp;
  if (m.layers < chunks && p.first_stage_layers < 0 && p.last_stage_layers < 0) return SplitIssue::kTooManyStages;
  if (p.first_stage_layers >= 0 || p.last_stage_layers >= 0 || m.layers % chunks != 0) {
    const SplitIssue layout = stage_layout(m.layers, chunks, p.first_stage_layers, p.last_stage_layers).issue;
    if (layout == SplitIssue::kStageLayers || (layout == SplitIssue::kUnevenStages && !p.allow_uneven_stages)) return layout;
  }
  if (p.vpp > 1 && p.pp == 1) return SplitIssue::kVppWithoutPp;
  if (p.cp > 1 && t.seq_len % (2L * p.cp) != 0) return SplitIssue::kCpSeq;
  // Ulysses gives each CP rank whole query and KV heads (Transformer Engine's all-to-all CP
  // requires both head counts per rank to be divisible by cp).
  if (p.cp > 1 && p.cp_comm_type == CpComm::kA2a && !ulysses_heads_divide(m, p.tp, p.cp)) {
    return SplitIssue::kCpHeads;
  }
  if (p.sequence_parallel && (t.seq_len / p.cp) % p.tp != 0) return SplitIssue::kSpSeq;
  if (p.ep > 1) {
    if (!m.is_moe()) return SplitIssue::kEpDense;
    if (m.moe.experts % p.ep != 0) return SplitIssue::kEpExperts;
    if ((p.dp * p.cp) % p.ep != 0) return SplitIssue::kEpDp;
    // Megatron-LM refuses expert with tensor parallelism without sequence parallelism
    // (megatron/training/arguments.py: "When using expert parallelism and tensor parallelism,
    // sequence parallelism must be used"): its MoE token dispatch starts from the SP-sharded
    // tokens, and the model has no consistent costing for the unsharded path.
    if (p.tp > 1 && !p.sequence_parallel) return SplitIssue::kEpTpSp;
  }
  if (t.global_batch <= 0 || t.seq_len <= 0) return SplitIssue::kBatch;
  const std::int64_t per_step = p.dp * p.micro_batch;
  if (t.global_batch % per_step != 0) return SplitIssue::kBatch;
  const std::int64_t micro = t.global_batch / per_step;
  if (p.vpp > 1 && micro % p.pp != 0) return SplitIssue::kInterleave;
  // The pipeline simulation holds every (micro-batch, stage) pair: bound it so that no input
  // can exhaust memory or time (1e6 pairs simulate in well under a second).
  if (static_cast<double>(micro) * static_cast<double>(chunks) > 1e6) return SplitIssue::kSimLimit;
  return SplitIssue::kOk;
}

const char* to_string(SplitIssue i) {
  switch (i) {
    case SplitIssue::kOk: return "ok";
    case SplitIssue::kGpuProduct: return "gpu-count";
    case SplitIssue::kNodeMultiple: return "whole-nodes";
    case SplitIssue::kHeads: return "tp-heads";
    case SplitIssue::kKvHeads: return "tp-kv-heads";
    case SplitIssue::kTooManyStages: return "stages-exceed-layers";
    case SplitIssue::kStageLayers: return "stage-layers";
    case SplitIssue::kUnevenStages: return "uneven-stages";
    case SplitIssue::kVppWithoutPp: return "vpp-without-pp";
    case SplitIssue::kCpSeq: return "cp-seq-len";
    case SplitIssue::kCpHeads: return "cp-heads";
    case SplitIssue::kSpSeq: return "sp-seq-len";
    case SplitIssue::kEpDense: return "ep-dense-model";
    case SplitIssue::kEpExperts: return "ep-experts";
    case SplitIssue::kEpDp: return "ep-dp";
    case SplitIssue::kEpTpSp: return "ep-tp-without-sp";
    case SplitIssue::kBatch: return "batch-divisibility";
    case SplitIssue::kInterleave: return "interleave-micro-batches";
    case SplitIssue::kSimLimit: return "simulator-limit";
  }
  return "?";
}

namespace {

// The modules are read with recompute: selective and ignored by the other modes (so that
// --recompute none|full overrides a scenario that names them), but they must fit the model.
// Checked on drafts too: plan and scale would otherwise search with modules estimate refuses.
void check_recompute_modules(const Scenario& s) {
  const auto& m = s.model;
  const auto& p = s.parallel;
  if (p.recompute_modules != kRecomputeCoreAttn) {
    const std::string f = "parallel.recompute_modules";
    if ((p.recompute_modules & kRecomputeMlaUpProj) && !m.mla) {
      throw InputError(f, "mla_up_proj needs a model with multi-head latent attention (model.mla), and " + m.name + " has none");
    }
    if ((p.recompute_modules & (kRecomputeMoeAct | kRecomputeMoe | kRecomputeSharedExperts)) && !m.is_moe()) {
      throw InputError(f, "moe_act, moe and shared_experts apply to MoE models, and " + m.name + " is dense");
    }
    if ((p.recompute_modules & kRecomputeSharedExperts) && m.moe.shared == 0) {
      throw InputError(f, "shared_experts: " + m.name + " has no shared experts");
    }
  }
}

}  // namespace

void validate_scenario(const Scenario& s) {
  const auto& m = s.model;
  const auto& p = s.parallel;
  const auto& c = s.cluster;
  const auto& t = s.training;
  auto str = [](auto v) { return std::to_string(v); };
  check_recompute_modules(s);
  if (!p.reshard_after_forward && p.zero != 3) {
    throw InputError("parallel.reshard_after_forward", "false applies to ZeRO-3 (FSDP) only, and parallel.zero is " +
                                                           str(p.zero) + " (ZeRO 0-2 keep whole parameters, never gathered per layer)");
  }
  const long chunks = static_cast<long>(p.pp) * p.vpp;
  switch (check_split(s)) {
    case SplitIssue::kOk: break;
    case SplitIssue::kGpuProduct:
      throw InputError("parallel.dp", "tp x pp x cp x dp = " +
                                          fmt::format("{:.0f}", double(p.tp) * double(p.pp) * double(p.cp) * double(p.dp)) +
                                          " does not equal cluster.num_gpus (" + str(c.num_gpus) + ")");
    case SplitIssue::kNodeMultiple:
      throw InputError("cluster.num_gpus", str(c.num_gpus) + " is not a multiple of gpus_per_node (" +
                                               str(c.gpus_per_node) + ")");
    case SplitIssue::kHeads:
      throw InputError("parallel.tp", str(p.tp) + " does not divide heads (" + str(m.heads) + ")");
    case SplitIssue::kKvHeads:
      throw InputError("parallel.tp", str(p.tp) + " and kv_heads (" + str(m.kv_heads) +
                                          ") must divide one another (KV heads are split or replicated)");
    case SplitIssue::kTooManyStages:
      throw InputError("parallel.pp", "pp x vpp = " + str(chunks) + " exceeds the model's layers (" + str(m.layers) + ")");
    case SplitIssue::kStageLayers: {
      // The field at fault: the one given, the last when it alone exceeds the layers.
      const bool last = p.first_stage_layers < 0 || p.last_stage_layers > m.layers;
      const std::string f = last ? "parallel.last_stage_layers" : "parallel.first_stage_layers";
      if (chunks == 1) {
        throw InputError(f, "the only pipeline stage (pp x vpp = 1) is both the first and the last and holds all " +
                                str(m.layers) + " layers");
      }
      const long given = std::max(0, p.first_stage_layers) + std::max(0, p.last_stage_layers);
      const long free = chunks - (p.first_stage_layers >= 0 ? 1 : 0) - (p.last_stage_layers >= 0 ? 1 : 0);
      if (given > m.layers) {
        throw InputError(f, str(given) + " layers on the edge stages exceed the model's " + str(m.layers));
      }
      throw InputError(f, str(given) + " layers on the edge stages leave " + str(m.layers - given) + " of the model's " +
                              str(m.layers) + " for the other " + str(free) + " of pp x vpp = " + str(chunks) +
                              " stages, which need at least one each" + (free == 0 ? " (and none may be left over)" : ""));
    }
    case SplitIssue::kUnevenStages:
      // Named by the edge count given (the last when both are), else by vpp when there are
      // virtual stages, else by pp.
      if (p.first_stage_layers >= 0 || p.last_stage_layers >= 0) {
        throw InputError(p.last_stage_layers >= 0 ? "parallel.last_stage_layers" : "parallel.first_stage_layers",
                         "the layers left after parallel.first_stage_layers / last_stage_layers do not divide evenly over "
                         "the other stages of pp x vpp = " + str(chunks) + "; set parallel.allow_uneven_stages: true to allow it");
      }
      throw InputError(p.vpp > 1 ? "parallel.vpp" : "parallel.pp",
                       "pp x vpp = " + str(chunks) + " does not divide layers (" + str(m.layers) +
                           "); set parallel.allow_uneven_stages: true to allow uneven stages");
    case SplitIssue::kVppWithoutPp: throw InputError("parallel.vpp", "virtual stages need pp > 1");
    case SplitIssue::kCpSeq:
      throw InputError("parallel.cp", "2 x cp = " + str(2 * p.cp) + " must divide training.seq_len (" + str(t.seq_len) +
                                          ") for load-balanced causal context parallelism");
    case SplitIssue::kCpHeads:
      throw InputError("parallel.cp", "cp = " + str(p.cp) + " must divide the query and KV heads per tensor-parallel rank (" +
                                          str(m.heads / p.tp) + " and " + str(std::max<long>(1, m.kv_heads / p.tp)) +
                                          ") with parallel.cp_comm_type a2a (each rank attends with whole heads)");
    case SplitIssue::kSpSeq:
      throw InputError("parallel.sequence_parallel", "tp (" + str(p.tp) + ") must divide the sequence per CP rank (" +
                                                         str(t.seq_len / p.cp) + ")");
    case SplitIssue::kEpDense: throw InputError("parallel.ep", "expert parallelism needs a mixture-of-experts model");
    case SplitIssue::kEpExperts:
      throw InputError("parallel.ep", str(p.ep) + " does not divide moe.experts (" + str(m.moe.experts) + ")");
    case SplitIssue::kEpDp:
      throw InputError("parallel.ep", str(p.ep) + " does not divide dp x cp (" + str(p.dp * p.cp) +
                                          "); expert parallelism is carved out of data/context parallelism");
    case SplitIssue::kEpTpSp:
      throw InputError("parallel.sequence_parallel", "expert parallelism (ep " + str(p.ep) + ") with tensor parallelism (tp " +
                                                         str(p.tp) + ") needs sequence parallelism, as Megatron-LM requires");
    case SplitIssue::kBatch:
      if (t.global_batch <= 0) throw InputError("training.global_batch", "must be given and positive");
      if (t.seq_len <= 0) throw InputError("training.seq_len", "must be positive");
      throw InputError("training.global_batch", str(t.global_batch) + " is not a multiple of dp x micro_batch (" +
                                                    str(p.dp * p.micro_batch) + ")");
    case SplitIssue::kInterleave:
      throw InputError("parallel.vpp", "the interleaved schedule needs the micro-batches per step (" +
                                           str(s.grad_accum_steps()) + ") to be a multiple of pp (" + str(p.pp) + ")");
    case SplitIssue::kSimLimit:
      throw InputError("training.global_batch", str(s.grad_accum_steps()) + " micro-batches per step x " + str(chunks) +
                                                    " pipeline stages exceeds the simulator limit of 1e6; raise micro_batch or dp");
  }
  (void)c.gpu.peak(t.precision);
}

Scenario load_scenario_file(const std::string& path, const std::vector<Override>& overrides, const Catalog& catalog) {
  return parse_scenario(read_text_file(path, "", "scenario file"), path, overrides, catalog);
}

}  // namespace wanka
