#include "wanka/catalog.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <fstream>
#include <map>
#include <sstream>

#include "config/yaml_util.hpp"
#include "wanka/error.hpp"
#include "wanka/io.hpp"

namespace wanka {

using yaml::join;

const char* to_string(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
    case Precision::kFp8: return "fp8";
    case Precision::kFp4: return "fp4";
  }
  return "?";
}

std::optional<Precision> parse_precision(const std::string& s) {
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16, Precision::kFp16, Precision::kFp8,
                      Precision::kFp4}) {
    if (s == to_string(p)) return p;
  }
  return std::nullopt;
}

FlopsPerSecond GpuSpec::peak(Precision p) const {
  auto it = peak_tflops.find(p);
  if (it == peak_tflops.end() || it->second <= 0) {
    throw InputError("training.precision", std::string(to_string(p)) + " is not supported by gpu '" + name + "'");
  }
  return FlopsPerSecond(it->second * kTera);
}

namespace {

// Names are printed in tables and looked up on the command line: no control characters, and
// not blank.
void check_entry_name(const std::string& name, const std::string& path) {
  const bool blank = name.find_first_not_of(" \t") == std::string::npos;
  const bool control = std::any_of(name.begin(), name.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
  if (blank || control) throw InputError(path, blank ? "is blank" : "contains a control character (a newline or tab?)");
}

std::vector<std::string> string_list(const YAML::Node& n, const std::string& path) {
  std::vector<std::string> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence()) throw InputError(path, "expected a list" + yaml::where(n));
  for (std::size_t i = 0; i < n.size(); ++i) out.push_back(yaml::as_string(n[i], path + "[" + std::to_string(i) + "]"));
  return out;
}

void parse_dtype_map(const YAML::Node& n, const std::string& path, std::map<Precision, double>& out, double lo, double hi) {
  if (!n || n.IsNull()) return;
  yaml::require_map(n, path);
  for (const auto& kv : n) {
    const std::string key = yaml::as_string(kv.first, path);
    auto p = parse_precision(key);
    if (key == "int8" || key == "int4") continue;  // documented in the catalog, unused by training
    if (!p) {
      throw InputError(join(path, key),
                       unknown_name_message("dtype", key, {"fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8"}));
    }
    out[*p] = yaml::as_double(kv.second, join(path, key), lo, hi);
  }
}

template <class T>
const T& find_named(const std::vector<T>& items, const std::string& name, const char* kind) {
  for (const auto& it : items) {
    if (it.name == name) return it;
  }
  for (const auto& it : items) {
    for (const auto& a : it.aliases) {
      if (a == name) return it;
    }
  }
  std::vector<std::string> known;
  for (const auto& it : items) known.push_back(it.name);
  throw InputError("", unknown_name_message(kind, name, known));
}

// The entry a catalog-file entry starts from: the one its `base` names (which must exist), else
// the existing entry of its own name (a partial override), else none (a new entry).
// `list` is the file's list holding `n` at index `index`: a base given later in it is named as such.
template <class T>
const T* entry_base(const std::vector<T>& items, const YAML::Node& list, std::size_t index, const std::string& path,
                    const char* kind) {
  const YAML::Node n = list[index];
  if (!n.IsMap()) return nullptr;  // parse_gpu / parse_model report the shape
  if (!n["name"]) {
    throw InputError(join(path, "name"), std::string("a ") + kind + " entry needs a name (base: names the entry it starts from)" +
                                             yaml::where(n));
  }
  if (auto b = n["base"]) {
    const std::string name = yaml::as_string(b, join(path, "base"));
    try {
      return &find_named(items, name, kind);
    } catch (const InputError& e) {
      for (std::size_t j = index; j < list.size(); ++j) {
        const YAML::Node later = list[j];
        if (later.IsMap() && later["name"] && later["name"].IsScalar() && later["name"].Scalar() == name) {
          throw InputError(join(path, "base"), "'" + name + "' is " + (j == index ? "this entry itself" : "defined later in this file") +
                                                   ": an entry can only start from a built-in one or one listed before it" +
                                                   yaml::where(b));
        }
      }
      throw InputError(join(path, "base"), std::string(e.what()) + yaml::where(b));
    }
  }
  if (auto nm = n["name"]; nm && nm.IsScalar()) {
    for (const auto& it : items) {
      if (it.name == nm.Scalar()) return &it;
    }
  }
  return nullptr;
}

// A new or replacing entry's name and aliases must not be another entry's name or alias (a
// lookup would then find one of the two silently).
template <class T>
void check_names(const std::vector<T>& items, const T& item, const std::string& path, const char* kind) {
  auto owner = [&](const std::string& label) -> const T* {
    for (const auto& it : items) {
      if (it.name == item.name) continue;  // the entry this one replaces
      if (it.name == label || std::find(it.aliases.begin(), it.aliases.end(), label) != it.aliases.end()) return &it;
    }
    return nullptr;
  };
  if (const T* o = owner(item.name)) {
    throw InputError(join(path, "name"), "'" + item.name + "' is already the " + kind + " '" + o->name +
                                             "' (its name or alias): choose another name, or give name: " + o->name +
                                             " to override that entry");
  }
  for (std::size_t i = 0; i < item.aliases.size(); ++i) {
    const std::string& a = item.aliases[i];
    if (a == item.name) continue;
    if (const T* o = owner(a)) {
      throw InputError(join(path, "aliases[" + std::to_string(i) + "]"),
                       "'" + a + "' already names the " + kind + " '" + o->name + "'");
    }
  }
}

// Records the name of a list entry of one file; a second entry of that name in the same list
// (which would silently replace the first) is an InputError naming both.
void note_name(std::map<std::string, std::string>& seen, const std::string& name, const std::string& path, const char* kind) {
  const auto [first, fresh] = seen.emplace(name, path);
  if (!fresh) throw InputError(join(path, "name"), std::string(kind) + " '" + name + "' is already given by " + first->second);
}

// A replacement (gpu, model) whose file entry gives no aliases keeps the old entry's.
template <class T>
void keep_aliases(const std::vector<T>& items, T& item, const YAML::Node& entry) {
  if (entry["aliases"]) return;
  for (const auto& it : items) {
    if (it.name == item.name) item.aliases = it.aliases;
  }
}

// Inserts, or replaces the entry of the same name.
template <class T>
void upsert(std::vector<T>& items, T item) {
  for (auto& it : items) {
    if (it.name == item.name) {
      it = std::move(item);
      return;
    }
  }
  items.push_back(std::move(item));
}

}  // namespace

GpuSpec Catalog::parse_gpu(const YAML::Node& n, const std::string& path, const GpuSpec* base) {
  yaml::check_keys(n, path,
                   {"name", "base", "aliases", "vendor", "description", "source", "notes", "peak_tflops", "hbm_gib",
                    "hbm_tbps", "scale_up", "nic_gbps", "host_gbytes_per_s", "gpus_per_node", "tdp_w", "price_per_gpu_hour_usd",
                    "list_price_usd", "price_source", "year"});
  GpuSpec g = base ? *base : GpuSpec{};
  if (base) g.aliases.clear();
  yaml::opt_string(n, "name", path, g.name);
  if (n["aliases"]) g.aliases = string_list(n["aliases"], join(path, "aliases"));
  yaml::opt_string(n, "vendor", path, g.vendor);
  yaml::opt_string(n, "description", path, g.description);
  yaml::opt_string(n, "source", path, g.source);
  yaml::opt_string(n, "notes", path, g.notes);
  // Peaks from 1 GFLOP/s (omit a dtype the chip lacks rather than give 0).
  parse_dtype_map(n["peak_tflops"], join(path, "peak_tflops"), g.peak_tflops, 1e-3, 1e6);
  yaml::opt(n, "hbm_gib", path, g.hbm_gib, 0.001, 1e6);
  yaml::opt(n, "hbm_tbps", path, g.hbm_tbps, 1e-3, 1e4);
  if (auto su = n["scale_up"]; su && !su.IsNull()) {
    const std::string sp = join(path, "scale_up");
    yaml::check_keys(su, sp, {"link", "gbytes_per_s", "domain", "mesh", "nvls", "notes"});
    yaml::opt_string(su, "link", sp, g.scale_up_link);
    yaml::opt(su, "gbytes_per_s", sp, g.scale_up_gbytes_per_s, 0.001, 1e6);
    yaml::opt(su, "domain", sp, g.scale_up_domain, 1, 1e6);
    yaml::opt_bool(su, "mesh", sp, g.scale_up_mesh);
    yaml::opt_bool(su, "nvls", sp, g.scale_up_nvls);
  }
  yaml::opt(n, "nic_gbps", path, g.nic_gbps, 0.001, 1e6);
  yaml::opt(n, "host_gbytes_per_s", path, g.host_gbytes_per_s, 0.001, 1e5);
  yaml::opt(n, "gpus_per_node", path, g.gpus_per_node, 1, 1024);
  yaml::opt(n, "tdp_w", path, g.tdp_w, 0, 1e5);
  yaml::opt(n, "price_per_gpu_hour_usd", path, g.price_per_gpu_hour_usd, 0, 1e6);
  yaml::opt(n, "list_price_usd", path, g.list_price_usd, 0, 1e9);
  yaml::opt_string(n, "price_source", path, g.price_source);
  yaml::opt(n, "year", path, g.year, 0, 3000);
  if (g.name.empty()) throw InputError(join(path, "name"), "a gpu needs a name");
  check_entry_name(g.name, join(path, "name"));
  if (g.peak_tflops.empty()) throw InputError(join(path, "peak_tflops"), "a gpu needs at least one peak");
  if (g.hbm_gib <= 0) throw InputError(join(path, "hbm_gib"), "must be positive");
  if (g.hbm_tbps <= 0) throw InputError(join(path, "hbm_tbps"), "must be positive");
  if (g.scale_up_gbytes_per_s <= 0 && g.scale_up_link.empty()) {
    throw InputError(join(path, "scale_up.gbytes_per_s"), "must be given (or scale_up.link naming a scale-up link)");
  }
  if (g.nic_gbps <= 0) throw InputError(join(path, "nic_gbps"), "must be positive");
  return g;
}

ModelSpec Catalog::parse_model(const YAML::Node& n, const std::string& path, const ModelSpec* base) {
  yaml::check_keys(n, path,
                   {"name", "base", "aliases", "description", "source", "notes", "layers", "hidden", "heads", "kv_heads",
                    "head_dim", "ffn_hidden", "vocab", "activation", "norm", "position", "max_seq_len",
                    "tied_embeddings", "params_b", "rumored", "moe", "mla", "mtp_layers", "family"});
  ModelSpec m = base ? *base : ModelSpec{};
  if (base) m.aliases.clear();
  yaml::opt_string(n, "name", path, m.name);
  if (!m.name.empty()) check_entry_name(m.name, join(path, "name"));
  if (n["aliases"]) m.aliases = string_list(n["aliases"], join(path, "aliases"));
  yaml::opt_string(n, "description", path, m.description);
  yaml::opt_string(n, "source", path, m.source);
  yaml::opt_string(n, "notes", path, m.notes);
  constexpr double kBig = 1e7;
  // A base model's derived fields must follow overridden inputs: reset them (finalize_model
  // derives them again; values given in this entry are parsed below and win). A field counts
  // as derived when the base's value equals what it derives from.
  if (base && (n["hidden"] || n["heads"])) m.head_dim = 0;
  if (base && n["heads"] && !n["kv_heads"] && base->kv_heads == base->heads) m.kv_heads = 0;  // MHA stays MHA
  if (base && n["ffn_hidden"]) {
    if (base->moe.dense_ffn_hidden == base->ffn_hidden) m.moe.dense_ffn_hidden = 0;
    if (base->moe.ffn_hidden == base->ffn_hidden) m.moe.ffn_hidden = 0;
  }
  // The base's published parameter count does not describe a reshaped model.
  if (base && !n["params_b"]) {
    for (const char* k : {"layers", "hidden", "heads", "kv_heads", "head_dim", "ffn_hidden", "vocab", "moe", "mla"}) {
      if (n[k]) m.params_b = 0;
    }
  }
  if (base && base->moe.shared_ffn_hidden == base->moe.ffn_hidden) {
    const YAML::Node moe_n = n["moe"];
    if (m.moe.ffn_hidden == 0 || (moe_n && moe_n.IsMap() && moe_n["ffn_hidden"])) m.moe.shared_ffn_hidden = 0;
  }
  yaml::opt(n, "layers", path, m.layers, 1, 1e5);
  yaml::opt(n, "hidden", path, m.hidden, 1, kBig);
  yaml::opt(n, "heads", path, m.heads, 1, 1e5);
  yaml::opt(n, "kv_heads", path, m.kv_heads, 1, 1e5);
  yaml::opt(n, "head_dim", path, m.head_dim, 1, 1e5);
  yaml::opt(n, "ffn_hidden", path, m.ffn_hidden, 1, 1e8);
  yaml::opt(n, "vocab", path, m.vocab, 1, 1e8);
  yaml::opt(n, "max_seq_len", path, m.max_seq_len, 1, 1e9);
  yaml::opt(n, "params_b", path, m.params_b, 0, 1e6);
  yaml::opt(n, "mtp_layers", path, m.mtp_layers, 0, 64);
  yaml::opt_bool(n, "tied_embeddings", path, m.tied_embeddings);
  yaml::opt_bool(n, "rumored", path, m.rumored);
  if (auto a = n["activation"]; a && !a.IsNull()) {
    const std::string s = yaml::as_string(a, join(path, "activation"));
    if (s == "gelu") m.activation = Activation::kGelu;
    else if (s == "swiglu") m.activation = Activation::kSwiglu;
    else throw InputError(join(path, "activation"), unknown_name_message("activation", s, {"gelu", "swiglu"}));
  }
  if (auto a = n["norm"]; a && !a.IsNull()) {
    const std::string s = yaml::as_string(a, join(path, "norm"));
    if (s == "layernorm") m.norm = Norm::kLayerNorm;
    else if (s == "rmsnorm") m.norm = Norm::kRmsNorm;
    else throw InputError(join(path, "norm"), unknown_name_message("norm", s, {"layernorm", "rmsnorm"}));
  }
  if (auto a = n["position"]; a && !a.IsNull()) {
    const std::string s = yaml::as_string(a, join(path, "position"));
    if (s == "rope") m.position = Position::kRope;
    else if (s == "learned") m.position = Position::kLearned;
    else if (s == "alibi") m.position = Position::kAlibi;
    else throw InputError(join(path, "position"), unknown_name_message("position", s, {"rope", "learned", "alibi"}));
  }
  if (auto moe = n["moe"]; moe && !moe.IsNull()) {
    const std::string mp = join(path, "moe");
    yaml::check_keys(moe, mp, {"experts", "top_k", "ffn_hidden", "shared", "shared_ffn_hidden", "dense_layers",
                               "dense_ffn_hidden", "groups", "topk_groups"});
    yaml::opt(moe, "experts", mp, m.moe.experts, 0, 1e5);
    yaml::opt(moe, "top_k", mp, m.moe.top_k, 0, 1e5);
    yaml::opt(moe, "ffn_hidden", mp, m.moe.ffn_hidden, 0, 1e8);
    yaml::opt(moe, "shared", mp, m.moe.shared, 0, 1e4);
    yaml::opt(moe, "shared_ffn_hidden", mp, m.moe.shared_ffn_hidden, 0, 1e8);
    yaml::opt(moe, "dense_layers", mp, m.moe.dense_layers, 0, 1e5);
    yaml::opt(moe, "dense_ffn_hidden", mp, m.moe.dense_ffn_hidden, 0, 1e8);
    yaml::opt(moe, "groups", mp, m.moe.groups, 0, 1e5);
    yaml::opt(moe, "topk_groups", mp, m.moe.topk_groups, 0, 1e5);
    if (m.moe.experts == 0) {
      // A dense model (experts 0, here or from the base): a field given here would be dropped;
      // the base's mixture-of-experts figures go with its experts.
      for (const char* k : {"top_k", "ffn_hidden", "shared", "shared_ffn_hidden", "dense_layers", "dense_ffn_hidden", "groups",
                            "topk_groups"}) {
        const YAML::Node v = moe[k];
        if (v && !v.IsNull() && v.IsScalar() && v.Scalar() != "0") {
          throw InputError(join(mp, k), "'" + v.Scalar() + "' on a dense model: give moe.experts for a mixture of experts");
        }
      }
      m.moe = MoeSpec{};
    }
  }
  if (auto mla = n["mla"]; mla && !mla.IsNull()) {
    const std::string mp = join(path, "mla");
    yaml::check_keys(mla, mp, {"q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"});
    MlaSpec s = m.mla.value_or(MlaSpec{});
    yaml::opt(mla, "q_lora_rank", mp, s.q_lora_rank, 0, 1e6);
    yaml::opt(mla, "kv_lora_rank", mp, s.kv_lora_rank, 1, 1e6);
    yaml::opt(mla, "qk_nope_head_dim", mp, s.qk_nope_head_dim, 0, 1e5);
    yaml::opt(mla, "qk_rope_head_dim", mp, s.qk_rope_head_dim, 0, 1e5);
    yaml::opt(mla, "v_head_dim", mp, s.v_head_dim, 1, 1e5);
    m.mla = s;
  }
  return m;
}

void Catalog::finalize_model(ModelSpec& m, const std::string& path) {
  auto need = [&](long v, const char* key) {
    if (v <= 0) throw InputError(join(path, key), "must be given and positive");
  };
  need(m.layers, "layers");
  need(m.hidden, "hidden");
  need(m.heads, "heads");
  need(m.ffn_hidden, "ffn_hidden");
  need(m.vocab, "vocab");
  if (m.kv_heads <= 0) m.kv_heads = m.heads;
  if (m.kv_heads > m.heads || m.heads % m.kv_heads != 0) {
    throw InputError(join(path, "kv_heads"), std::to_string(m.kv_heads) + " does not divide heads (" +
                                                 std::to_string(m.heads) + ")");
  }
  if (m.head_dim <= 0) {
    if (m.hidden % m.heads != 0) {
      throw InputError(join(path, "head_dim"), "heads (" + std::to_string(m.heads) + ") does not divide hidden (" +
                                                   std::to_string(m.hidden) + "); give head_dim explicitly");
    }
    m.head_dim = m.hidden / m.heads;
  }
  if (m.moe.experts > 0) {
    if (m.moe.top_k <= 0 || m.moe.top_k > m.moe.experts) {
      throw InputError(join(path, "moe.top_k"), "must be in [1, experts]");
    }
    if (m.moe.ffn_hidden <= 0) m.moe.ffn_hidden = m.ffn_hidden;
    if (m.moe.shared_ffn_hidden <= 0) m.moe.shared_ffn_hidden = m.moe.ffn_hidden;
    if (m.moe.dense_ffn_hidden <= 0) m.moe.dense_ffn_hidden = m.ffn_hidden;
    if (m.moe.dense_layers >= m.layers) throw InputError(join(path, "moe.dense_layers"), "must be below layers");
    if (m.moe.groups > 0) {
      if (m.moe.experts % m.moe.groups != 0) throw InputError(join(path, "moe.groups"), "must divide experts");
      if (m.moe.topk_groups < 1 || m.moe.topk_groups > m.moe.groups) {
        throw InputError(join(path, "moe.topk_groups"), "must be in [1, groups] when groups is set");
      }
      if (long(m.moe.top_k) > long(m.moe.topk_groups) * (m.moe.experts / m.moe.groups)) {
        throw InputError(join(path, "moe.topk_groups"), "the chosen groups must hold at least top_k experts");
      }
    } else if (m.moe.topk_groups > 0) {
      throw InputError(join(path, "moe.groups"), "must be positive when topk_groups is set");
    }
  } else if (m.moe.top_k > 0 || m.moe.shared > 0 || m.moe.ffn_hidden > 0 || m.moe.shared_ffn_hidden > 0 ||
             m.moe.dense_ffn_hidden > 0 || m.moe.dense_layers > 0 || m.moe.groups > 0 || m.moe.topk_groups > 0) {
    // Any field of the block makes a mixture of experts; without experts it would be dropped
    // (parse_model clears a dense entry's block; this guards models built otherwise).
    throw InputError(join(path, "moe.experts"), "must be positive when another moe field is set (a dense model has no moe block)");
  }
  if (m.mla) {
    if (m.mla->kv_lora_rank <= 0 || m.mla->v_head_dim <= 0 || m.mla->qk_nope_head_dim + m.mla->qk_rope_head_dim <= 0) {
      throw InputError(join(path, "mla"), "kv_lora_rank, v_head_dim and a query/key head size are required");
    }
  }
  if (m.max_seq_len <= 0) m.max_seq_len = 1L << 20;
}

namespace {
// The keys of a calibration entry; `inherit` only in catalog files.
void check_calibration_keys(const YAML::Node& n, const std::string& path, bool with_inherit) {
  if (!with_inherit && n.IsMap() && n["inherit"]) {
    throw InputError(join(path, "inherit"), "not used here: the calibration starts from the gpu's base" + yaml::where(n["inherit"]));
  }
  yaml::check_keys(n, path, {"basis", "matmul_efficiency", "gemm_overhead_us", "hbm_efficiency",
                               "attention_fwd_efficiency", "attention_bwd_efficiency", "scale_up_efficiency",
                               "scale_out_efficiency", "scale_up_latency_us", "scale_out_latency_us",
                               "attention_fa2_fwd_efficiency", "attention_fa2_bwd_efficiency",
                               "attention_fwd_half_seq", "attention_bwd_half_seq", "attention_fa2_fwd_half_seq",
                               "attention_fa2_bwd_half_seq", "attention_hd64_factor", "attention_hd256_factor",
                               "attention_fa2_hd64_factor", "attention_fa2_hd256_factor",
                               "attention_full_fwd_efficiency", "attention_full_bwd_efficiency",
                               "attention_full_fwd_half_seq", "attention_full_bwd_half_seq",
                               "attention_fa2_full_fwd_efficiency", "attention_fa2_full_bwd_efficiency",
                               "attention_fa2_full_fwd_half_seq", "attention_fa2_full_bwd_half_seq",
                               "scale_up_half_mib", "scale_up_size_exponent", "scale_up_nvls_efficiency", "scale_up_nvls_latency_us", "scale_up_nvls_min_gpus",
                               "scale_out_half_mib",
                               "scale_out_size_exponent", "inherit"});
}
}  // namespace

void Catalog::parse_calibration_fields(const YAML::Node& n, const std::string& path, Calibration& c, bool catalog_entry) {
  yaml::require_map(n, path);
  check_calibration_keys(n, path, catalog_entry);
  yaml::opt_string(n, "basis", path, c.basis);
  parse_dtype_map(n["matmul_efficiency"], join(path, "matmul_efficiency"), c.matmul_efficiency, 0.01, 1.0);
  double us = c.gemm_overhead_s * 1e6;
  yaml::opt(n, "gemm_overhead_us", path, us, 0, 1e4);
  c.gemm_overhead_s = us * 1e-6;
  yaml::opt(n, "hbm_efficiency", path, c.hbm_efficiency, 0.01, 1.0);
  yaml::opt(n, "attention_fwd_efficiency", path, c.attention_fwd_efficiency, 0.01, 1.0);
  yaml::opt(n, "attention_bwd_efficiency", path, c.attention_bwd_efficiency, 0.01, 1.0);
  yaml::opt(n, "attention_fa2_fwd_efficiency", path, c.attention_fa2_fwd_efficiency, 0.01, 1.0);
  yaml::opt(n, "attention_fa2_bwd_efficiency", path, c.attention_fa2_bwd_efficiency, 0.01, 1.0);
  yaml::opt(n, "attention_fwd_half_seq", path, c.attention_fwd_half_seq, 0, 1e6);
  yaml::opt(n, "attention_bwd_half_seq", path, c.attention_bwd_half_seq, 0, 1e6);
  yaml::opt(n, "attention_fa2_fwd_half_seq", path, c.attention_fa2_fwd_half_seq, 0, 1e6);
  yaml::opt(n, "attention_fa2_bwd_half_seq", path, c.attention_fa2_bwd_half_seq, 0, 1e6);
  yaml::opt(n, "attention_full_fwd_efficiency", path, c.attention_full_fwd_efficiency, 0.01, 1.0);
  yaml::opt(n, "attention_full_bwd_efficiency", path, c.attention_full_bwd_efficiency, 0.01, 1.0);
  yaml::opt(n, "attention_full_fwd_half_seq", path, c.attention_full_fwd_half_seq, 0, 1e6);
  yaml::opt(n, "attention_full_bwd_half_seq", path, c.attention_full_bwd_half_seq, 0, 1e6);
  yaml::opt(n, "attention_fa2_full_fwd_efficiency", path, c.attention_fa2_full_fwd_efficiency, 0.01, 1.0);
  yaml::opt(n, "attention_fa2_full_bwd_efficiency", path, c.attention_fa2_full_bwd_efficiency, 0.01, 1.0);
  yaml::opt(n, "attention_fa2_full_fwd_half_seq", path, c.attention_fa2_full_fwd_half_seq, 0, 1e6);
  yaml::opt(n, "attention_fa2_full_bwd_half_seq", path, c.attention_fa2_full_bwd_half_seq, 0, 1e6);
  yaml::opt(n, "attention_hd64_factor", path, c.attention_hd64_factor, 0.05, 4);
  yaml::opt(n, "attention_hd256_factor", path, c.attention_hd256_factor, 0.05, 4);
  yaml::opt(n, "attention_fa2_hd64_factor", path, c.attention_fa2_hd64_factor, 0.05, 4);
  yaml::opt(n, "attention_fa2_hd256_factor", path, c.attention_fa2_hd256_factor, 0.05, 4);
  yaml::opt(n, "scale_up_efficiency", path, c.scale_up_efficiency, 0.01, 1.5);
  yaml::opt(n, "scale_out_efficiency", path, c.scale_out_efficiency, 0.01, 1.0);
  double lu = c.scale_up_latency_s * 1e6, lo = c.scale_out_latency_s * 1e6;
  yaml::opt(n, "scale_up_latency_us", path, lu, 0, 1e5);
  yaml::opt(n, "scale_out_latency_us", path, lo, 0, 1e5);
  c.scale_up_latency_s = lu * 1e-6;
  c.scale_out_latency_s = lo * 1e-6;
  double hu = c.scale_up_half_bytes / kMiB, ho = c.scale_out_half_bytes / kMiB;
  yaml::opt(n, "scale_up_half_mib", path, hu, 0, 1e6);
  yaml::opt(n, "scale_out_half_mib", path, ho, 0, 1e6);
  c.scale_up_half_bytes = hu * kMiB;
  c.scale_out_half_bytes = ho * kMiB;
  yaml::opt(n, "scale_up_size_exponent", path, c.scale_up_size_exponent, 0.1, 4);
  yaml::opt(n, "scale_up_nvls_efficiency", path, c.scale_up_nvls_efficiency, 0, 1.5);
  double nl = c.scale_up_nvls_latency_s * 1e6;
  yaml::opt(n, "scale_up_nvls_latency_us", path, nl, 0, 1e5);
  c.scale_up_nvls_latency_s = nl * 1e-6;
  yaml::opt(n, "scale_up_nvls_min_gpus", path, c.scale_up_nvls_min_gpus, 2, 1e6);
  yaml::opt(n, "scale_out_size_exponent", path, c.scale_out_size_exponent, 0.1, 4);
}

void Catalog::apply_calibration(const YAML::Node& root, const std::string& origin) {
  if (!root || root.IsNull()) return;
  auto cal = root["calibration"];
  if (!cal) return;
  yaml::require_map(cal, origin + ":calibration");
  for (const auto& kv : cal) {
    const std::string name = yaml::as_string(kv.first, "calibration");
    const std::string path = "calibration." + name;
    const YAML::Node& n = kv.second;
    yaml::require_map(n, path);
    // Start from `inherit` when given, else this GPU's existing entry (a partial override), else
    // its catalog-file base's (along the chain of bases), else default.
    Calibration c = calibration_.count("default") ? calibration_["default"] : Calibration{};
    if (const Calibration* own = calibration_of(name)) c = *own;
    if (auto inh = n["inherit"]) {
      const std::string from = yaml::as_string(inh, join(path, "inherit"));
      if (!calibration_.count(from)) throw InputError(join(path, "inherit"), "unknown calibration '" + from + "'");
      c = calibration_[from];
    }
    parse_calibration_fields(n, path, c, true);
    calibration_[name] = c;
  }
}

void Catalog::load(const std::string& gpus_yaml, const std::string& models_yaml, const std::string& networks_yaml,
                   const std::string& calibration_yaml, const std::string& origin) {
  struct GpuEntry {
    std::string path;
    YAML::Node scale_up;  // the entry's scale_up block (may be undefined)
  };
  std::map<std::string, GpuEntry> gpu_entries;  // the gpus this load's file lists
  std::set<std::string> links_given;            // the scale-up links this load's file lists
  if (!calibration_yaml.empty()) apply_calibration(yaml::parse(calibration_yaml, origin), origin);
  if (!gpus_yaml.empty()) {
    auto root = yaml::parse(gpus_yaml, origin);
    if (auto list = root["gpus"]) {
      if (!list.IsSequence()) throw InputError("gpus", "expected a list");
      std::map<std::string, std::string> seen;
      for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string path = "gpus[" + std::to_string(i) + "]";
        const GpuSpec* base = entry_base(gpus_, list, i, path, "gpu");
        GpuSpec g = parse_gpu(list[i], path, base);
        if (g.name.empty()) throw InputError(join(path, "name"), "a gpu needs a name");
        note_name(seen, g.name, path, "gpu");
        keep_aliases(gpus_, g, list[i]);
        check_names(gpus_, g, path, "gpu");
        if (base && base->name != g.name) {
          // A gpu based on another takes that one's calibration (unless this file gives its own).
          calibration_base_[g.name] = base->name;
          calibration_.erase(g.name);
        }
        gpu_entries[g.name] = {path, list[i]["scale_up"]};
        upsert(gpus_, std::move(g));
      }
    }
    apply_calibration(root, origin);
  }
  if (!models_yaml.empty()) {
    auto root = yaml::parse(models_yaml, origin);
    if (auto list = root["models"]) {
      if (!list.IsSequence()) throw InputError("models", "expected a list");
      std::map<std::string, std::string> seen;
      for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string path = "models[" + std::to_string(i) + "]";
        const ModelSpec* base = entry_base(models_, list, i, path, "model");
        ModelSpec m = parse_model(list[i], path, base);
        if (m.name.empty()) throw InputError(path + ".name", "a model needs a name");
        note_name(seen, m.name, path, "model");
        keep_aliases(models_, m, list[i]);
        check_names(models_, m, path, "model");
        finalize_model(m, path);
        upsert(models_, std::move(m));
      }
    }
  }
  if (!networks_yaml.empty()) {
    auto root = yaml::parse(networks_yaml, origin);
    auto read_links = [&](const char* key, std::vector<LinkSpec>& out) {
      auto list = root[key];
      if (!list) return;
      if (!list.IsSequence()) throw InputError(key, "expected a list");
      std::map<std::string, std::string> seen;
      for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string path = std::string(key) + "[" + std::to_string(i) + "]";
        const bool up = key == std::string("scale_up");
        if (up) {
          yaml::check_keys(list[i], path, {"name", "gbytes_per_s", "domain", "latency_us", "mesh", "nvls", "source", "notes"});
        } else {
          yaml::check_keys(list[i], path, {"name", "gbps", "latency_us", "source", "notes"});
        }
        // An entry of an existing name overrides the fields it gives.
        LinkSpec l;
        yaml::opt_string(list[i], "name", path, l.name);
        if (l.name.empty()) throw InputError(join(path, "name"), "must be given: entries are looked up by name");
        for (const auto& x : out) {
          if (x.name == l.name) l = x;
        }
        yaml::opt(list[i], "gbytes_per_s", path, l.gbytes_per_s, 1e-3, 1e6);
        yaml::opt(list[i], "gbps", path, l.gbps, 1e-3, 1e7);
        yaml::opt(list[i], "domain", path, l.domain, 1, 1e6);
        yaml::opt(list[i], "latency_us", path, l.latency_us, 0, 1e6);
        yaml::opt_bool(list[i], "mesh", path, l.mesh);
        yaml::opt_bool(list[i], "nvls", path, l.nvls);
        yaml::opt_string(list[i], "source", path, l.source);
        if (up && !(l.gbytes_per_s > 0)) throw InputError(join(path, "gbytes_per_s"), "must be given (GB/s per GPU, one direction)");
        if (!up && !(l.gbps > 0)) throw InputError(join(path, "gbps"), "must be given (Gb/s per GPU)");
        note_name(seen, l.name, path, up ? "scale-up link" : "network");
        if (up) links_given.insert(l.name);
        upsert(out, std::move(l));
      }
    };
    read_links("scale_up", scale_up_);
    read_links("scale_out", scale_out_);
  }
  // A gpu's scale-up link: its entry's own numbers hold; the fields it leaves out come from the
  // link it names when this file's entry names one without gbytes_per_s, or when this file
  // redefines that link (a built-in gpu then follows its overridden link).
  for (auto& g : gpus_) {
    const auto e = gpu_entries.find(g.name);
    const YAML::Node su = e != gpu_entries.end() ? e->second.scale_up : YAML::Node();
    auto given = [&](const char* k) { return su && su.IsMap() && su[k]; };
    if (g.scale_up_link.empty()) continue;
    const LinkSpec* link = nullptr;
    for (const auto& l : scale_up_) {
      if (l.name == g.scale_up_link) link = &l;
    }
    if (!link) {
      std::vector<std::string> known;
      for (const auto& l : scale_up_) known.push_back(l.name);
      const std::string path = e != gpu_entries.end() ? e->second.path : "gpus." + g.name;
      throw InputError(join(path, "scale_up.link"), unknown_name_message("scale-up link", g.scale_up_link, known));
    }
    if (given("gbytes_per_s") || !(given("link") || links_given.count(link->name))) continue;
    g.scale_up_gbytes_per_s = link->gbytes_per_s;
    if (!given("domain") && link->domain > 0) g.scale_up_domain = link->domain;
    if (!given("mesh")) g.scale_up_mesh = link->mesh;
    if (!given("nvls")) g.scale_up_nvls = link->nvls;
  }
  // Every calibration entry names a gpu (or is "default"): a typo or an alias would otherwise
  // be stored and never used.
  if (!gpus_.empty()) {
    for (const auto& entry : calibration_) {
      const std::string& key = entry.first;  // a named variable: clang 14 cannot capture a binding
      if (key == "default" || std::any_of(gpus_.begin(), gpus_.end(), [&](const GpuSpec& g) { return g.name == key; })) {
        continue;
      }
      std::string msg;
      try {
        msg = "'" + key + "' is an alias of '" + find_named(gpus_, key, "gpu").name + "': use the gpu's name";
      } catch (const InputError& e) {
        msg = e.what();
      }
      throw InputError("calibration." + key, msg);
    }
  }
  // Attach calibrations (specific entry, else its catalog-file base's, else "default").
  for (auto& g : gpus_) {
    const Calibration* own = calibration_of(g.name);
    g.calibration = own ? *own : calibration_["default"];
    if (!own && g.calibration.basis.empty()) g.calibration.basis = "default";
  }
}

const Calibration* Catalog::calibration_of(const std::string& gpu_name) const {
  std::string key = gpu_name;
  for (std::size_t hops = 0; hops <= calibration_base_.size(); ++hops) {
    if (auto it = calibration_.find(key); it != calibration_.end()) return &it->second;
    auto b = calibration_base_.find(key);
    if (b == calibration_base_.end()) return nullptr;
    key = b->second;
  }
  return nullptr;  // a cycle of bases (cannot arise: a base must exist when its entry is read)
}

const Catalog& Catalog::builtin() {
  static const Catalog c = [] {
    Catalog cat;
    cat.load(std::string(embedded_file("gpus.yaml")), std::string(embedded_file("models.yaml")),
             std::string(embedded_file("networks.yaml")), std::string(embedded_file("calibration.yaml")),
             "<builtin catalog>");
    return cat;
  }();
  return c;
}

Catalog Catalog::with_overrides(const std::string& yaml_path) {
  return with_overrides_text(read_text_file(yaml_path, "--catalog"), yaml_path);
}

Catalog Catalog::with_overrides_text(const std::string& text, const std::string& origin) {
  Catalog c = builtin();
  auto root = yaml::parse(text, origin);
  if (!root.IsMap()) throw InputError("", origin + ": a catalog file is a mapping with gpus, models, scale_up and scale_out (networks) or calibration");
  yaml::check_keys(root, "", {"gpus", "models", "scale_up", "scale_out", "calibration"});
  c.load(text, text, text, "", origin);
  return c;
}

const GpuSpec& Catalog::gpu(const std::string& name) const { return find_named(gpus_, name, "gpu"); }
const ModelSpec& Catalog::model(const std::string& name) const { return find_named(models_, name, "model"); }
}  // namespace wanka
