#include "wanka/validate.hpp"

#include <chrono>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "wanka/error.hpp"
#include "wanka/estimate.hpp"

namespace wanka {

// RFC 4180 rows: quoted fields may hold commas, newlines and doubled quotes.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (ch == '\n' || ch == '\r') {
      if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      if (!(row.size() == 1 && row[0].empty())) rows.push_back(std::move(row));
      row.clear();
    } else {
      field += ch;
    }
  }
  if (!field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

double positive_number(const std::string& text, const std::string& field) {
  double x = 0;
  std::size_t used = 0;
  try {
    x = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(x) || x <= 0)
    throw InputError(field, "expected a positive number, got '" + text + "'");
  return x;
}

namespace {

long to_long(const std::string& s, long fallback) {
  if (s.empty()) return fallback;
  return static_cast<long>(std::llround(std::stod(s)));
}

Scenario row_scenario(const std::map<std::string, std::string>& r) {
  auto get = [&](const char* k) -> const std::string& {
    static const std::string empty;
    auto it = r.find(k);
    return it == r.end() ? empty : it->second;
  };
  Scenario s;
  ModelSpec& m = s.model;
  m.name = get("model");
  m.layers = to_long(get("layers"), 0);
  m.hidden = to_long(get("hidden"), 0);
  m.heads = to_long(get("heads"), 0);
  m.kv_heads = to_long(get("kv_heads"), 0);
  m.head_dim = to_long(get("head_dim"), 0);
  m.ffn_hidden = to_long(get("ffn_hidden"), 0);
  m.vocab = to_long(get("vocab"), 0);
  m.activation = get("activation") == "swiglu" ? Activation::kSwiglu : Activation::kGelu;
  m.norm = m.activation == Activation::kSwiglu ? Norm::kRmsNorm : Norm::kLayerNorm;
  m.position = Position::kRope;  // position tables are a negligible share of FLOPs and memory
  m.moe.experts = static_cast<int>(to_long(get("moe_experts"), 0));
  m.moe.top_k = static_cast<int>(to_long(get("moe_top_k"), 0));
  m.moe.ffn_hidden = to_long(get("moe_ffn_hidden"), 0);
  Catalog::finalize_model(m, "model");

  s.cluster = default_cluster(Catalog::builtin().gpu(get("gpu")), to_long(get("num_gpus"), 0));
  auto& c = s.cluster;
  c.gpus_per_node = static_cast<int>(to_long(get("gpus_per_node"), c.gpu.gpus_per_node));

  auto& p = s.parallel;
  p.tp = static_cast<int>(to_long(get("tp"), 1));
  p.pp = static_cast<int>(to_long(get("pp"), 1));
  p.cp = static_cast<int>(to_long(get("cp"), 1));
  p.ep = static_cast<int>(to_long(get("ep"), 1));
  p.vpp = static_cast<int>(to_long(get("vpp"), 1));
  p.dp = to_long(get("dp"), c.num_gpus / (p.tp * p.pp * p.cp));
  p.micro_batch = static_cast<int>(to_long(get("mbs"), 1));
  const std::string& sp = get("sequence_parallel");
  p.sequence_parallel = sp.empty() ? p.tp > 1 : sp == "true";
  if (p.tp == 1) p.sequence_parallel = false;
  const std::string& rc = get("recompute");
  // Sources that do not state recomputation ran without it (the Megatron-Core default).
  // torchtitan's "selective-layer" checkpoints whole blocks and its "selective-op" policy
  // recomputes a subset of each block's ops: neither is Megatron's selective (core attention
  // only); both are modelled as full recompute (memory lower bound, compute upper bound).
  p.recompute = rc == "full" || rc == "selective-layer" || rc == "selective-op" ? Recompute::kFull
                : rc == "selective"                     ? Recompute::kSelective
                                                        : Recompute::kNone;
  p.zero = static_cast<int>(to_long(get("zero"), 1));
  p.reshard_after_forward = get("reshard_after_forward") != "false";
  p.overlap.tp = get("overlap_tp") == "true";
  p.allow_uneven_stages = true;

  auto& t = s.training;
  t.seq_len = to_long(get("seq_len"), 2048);
  t.global_batch = to_long(get("global_batch"), 0);
  const auto prec = parse_precision(get("precision"));
  t.precision = prec ? *prec : Precision::kBf16;
  const std::string& ak = get("attention");
  t.attention = ak == "unfused" ? AttentionKernel::kUnfused : ak == "flash2" ? AttentionKernel::kFlash2 : AttentionKernel::kFlash;
  t.cross_entropy = get("cross_entropy") == "unfused" ? CrossEntropyKernel::kUnfused : CrossEntropyKernel::kFused;
  t.fp32_grads = get("fp32_grads") == "true";
  validate_scenario(s);
  return s;
}

}  // namespace

ValidationReport evaluate_csv(const std::string& text, const RowEval& eval) {
  const auto rows = parse_csv(text);
  ValidationReport rep;
  // A file without the columns every validation set has, or without rows, is not one: an empty
  // report would read as "0 runs, MAPE 0 %".
  if (rows.empty()) throw InputError("--file", "no header line");
  const auto& header = rows[0];
  std::string missing;
  for (const char* col : {"id", "source", "metric", "value"}) {
    if (std::find(header.begin(), header.end(), col) == header.end()) missing += (missing.empty() ? "" : ", ") + std::string(col);
  }
  if (!missing.empty()) throw InputError("--file", "missing columns: " + missing);
  if (rows.size() < 2) throw InputError("--file", "no rows after the header");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::map<std::string, std::string> r;
    for (std::size_t k = 0; k < header.size() && k < rows[i].size(); ++k) r[header[k]] = rows[i][k];
    ValidationRow v;
    v.id = r["id"];
    v.source = r["source"];
    v.model = r["model"];
    v.metric = r["metric"];
    v.unit = r["unit"];
    v.trust = r["trust"];
    v.citation = r["citation"];
    try {
      v.measured = positive_number(r["value"], "value");
      eval(r, v);
      if (!std::isfinite(v.predicted) || v.predicted <= 0)
        throw InputError("value", "the prediction is not a positive number (" + std::to_string(v.predicted) + ")");
      v.error = (v.predicted - v.measured) / v.measured;
    } catch (const std::exception& ex) {
      v.failure = ex.what();
    }
    rep.rows.push_back(std::move(v));
  }
  summarize_sources(rep);
  return rep;
}

ValidationReport run_validation(const std::string& csv_text) {
  const std::string text = csv_text.empty() ? std::string(embedded_file("training.csv")) : csv_text;
  return evaluate_csv(text, [](std::map<std::string, std::string>& r, ValidationRow& v) {
    v.scenario = row_scenario(r);
    const Estimate e = estimate(v.scenario);
    v.fits = e.memory.fits;
    if (v.metric == "tokens_per_s_per_gpu") {
      v.predicted = e.tokens_per_s_per_gpu;
    } else if (v.metric == "step_time_s") {
      v.predicted = e.step_time.value;
    } else {
      throw InputError("metric", "unsupported metric '" + v.metric + "'");
    }
  });
}

void summarize_sources(ValidationReport& rep) {
  rep.sources.clear();
  std::map<std::string, SourceSummary> by;
  for (const auto& v : rep.rows) {
    auto& s = by[v.source];
    s.source = v.source;
    ++s.runs;
    if (!v.failure.empty()) {
      ++s.failed;
      continue;
    }
    if (!v.fits) ++s.not_fitting;
    s.mape += std::abs(v.error);
    s.mean_error += v.error;
  }
  for (auto& [name, s] : by) {
    const int n = s.runs - s.failed;
    if (n > 0) {
      s.mape /= n;
      s.mean_error /= n;
    }
    rep.sources.push_back(s);
  }
}

std::string format_validation(const ValidationReport& r, int worst, const std::string& what) {
  std::string o = "wanka validate: predicted vs published " + what + "\n\n";
  std::size_t w = 14;
  for (const auto& s : r.sources) w = std::max(w, s.source.size());
  o += fmt::format("  {:<{}} {:>5} {:>8} {:>8} {:>8} {:>7}\n", "source", w, "runs", "MAPE", "bias", "no-fit", "failed");
  // Subtotals: sources named "... latency" (serving) are summarised apart from the throughput
  // ones, whose errors they would otherwise dilute.
  struct Total {
    int runs = 0, failed = 0, nofit = 0;
    double abs_sum = 0, sum = 0;
  };
  Total all, lat;
  constexpr std::string_view kLat = " latency";
  for (const auto& s : r.sources) {
    o += fmt::format("  {:<{}} {:>5} {:>7.1f}% {:>+7.1f}% {:>8} {:>7}\n", s.source, w, s.runs, 100 * s.mape,
                     100 * s.mean_error, s.not_fitting, s.failed);
    auto add = [&](Total& t) {
      t.runs += s.runs;
      t.failed += s.failed;
      t.nofit += s.not_fitting;
      t.abs_sum += s.mape * (s.runs - s.failed);
      t.sum += s.mean_error * (s.runs - s.failed);
    };
    add(all);
    if (s.source.size() > kLat.size() && s.source.ends_with(kLat)) add(lat);
  }
  auto line = [&](const std::string& name, const Total& t) {
    const int n = t.runs - t.failed;
    o += fmt::format("  {:<{}} {:>5} {:>7.1f}% {:>+7.1f}% {:>8} {:>7}\n", name, w, t.runs, n > 0 ? 100 * t.abs_sum / n : 0.0,
                     n > 0 ? 100 * t.sum / n : 0.0, t.nofit, t.failed);
  };
  if (lat.runs > 0 && lat.runs < all.runs) {
    Total thr{all.runs - lat.runs, all.failed - lat.failed, all.nofit - lat.nofit, all.abs_sum - lat.abs_sum, all.sum - lat.sum};
    line("all throughput", thr);
    line("all latency", lat);
  }
  line("all", all);
  std::vector<const ValidationRow*> ranked;
  for (const auto& v : r.rows) ranked.push_back(&v);
  std::stable_sort(ranked.begin(), ranked.end(), [](const ValidationRow* a, const ValidationRow* b) {
    const double ea = a->failure.empty() ? std::abs(a->error) : 1e9;
    const double eb = b->failure.empty() ? std::abs(b->error) : 1e9;
    return ea > eb;
  });
  if (worst > 0) {
    o += fmt::format("\n  worst {} rows:\n", worst);
    for (int i = 0; i < worst && i < static_cast<int>(ranked.size()); ++i) {
      const auto& v = *ranked[i];
      if (!v.failure.empty()) {
        o += fmt::format("    {:<48} FAILED: {}\n", v.id, v.failure);
      } else {
        o += fmt::format("    {:<48} measured {:>10.4g}  predicted {:>10.4g}  {:>+6.1f}%{}\n", v.id, v.measured,
                         v.predicted, 100 * v.error, v.fits ? "" : "  (predicted OOM)");
      }
    }
  }
  return o;
}

Json validation_to_json(const ValidationReport& r) {
  Json j;
  j["wanka_version"] = WANKA_VERSION;
  Json src = Json::array();
  for (const auto& s : r.sources) {
    src.push_back({{"source", s.source}, {"runs", s.runs}, {"mape", s.mape}, {"mean_error", s.mean_error},
                   {"not_fitting", s.not_fitting}, {"failed", s.failed}});
  }
  j["sources"] = src;
  Json rows = Json::array();
  for (const auto& v : r.rows) {
    Json x = {{"id", v.id}, {"source", v.source}, {"metric", v.metric}, {"measured", v.measured}};
    if (v.failure.empty()) {
      x["predicted"] = v.predicted;
      x["error"] = v.error;
      x["fits"] = v.fits;
    } else {
      x["failure"] = v.failure;
    }
    rows.push_back(x);
  }
  j["rows"] = rows;
  return j;
}

namespace {

// What the framework behind each source can do: the planner is restricted to it, since a split
// the framework cannot run is no alternative its users had (docs/validation.md).
PlanSpace framework_space(const std::string& source) {
  PlanSpace sp;
  if (source == "mosaicml") {
    // LLM Foundry / Composer: PyTorch FSDP (FULL_SHARD = ZeRO-3), no tensor, pipeline or
    // context parallelism; activation checkpointing and the micro-batch are the knobs.
    sp.tp.only = {1};
    sp.pp.only = {1};
    sp.cp.only = {1};
    sp.zero.only = {3};
  } else if (source == "narayanan2021") {
    // Megatron-LM of 2021: no sequence or context parallelism (2022, 2023), no distributed
    // optimizer, and full recomputation as the only recompute mode.
    sp.sequence_parallel.only = {false};
    sp.cp.only = {1};
    sp.zero.only = {0};
    sp.recompute.except = {Recompute::kSelective};
  } else if (source == "torchtitan") {
    // torchtitan: FSDP2 (ZeRO-3) under every split, sequence parallelism whenever TP is used.
    sp.zero.only = {3};
    sp.sequence_parallel.except = {false};
  }
  return sp;
}

}  // namespace

PlanCheckReport run_plan_validation(const ValidationReport& rep, int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  PlanCheckReport out;
  std::map<std::string, std::vector<const PlanCheckRow*>> by;
  for (const auto& v : rep.rows) {
    if (!v.failure.empty()) continue;
    PlanCheckRow r;
    r.id = v.id;
    r.source = v.source;
    try {
      PlanOptions opt;
      opt.threads = threads;
      opt.space = framework_space(v.source);
      r.rank = rank_split(v.scenario, 0.10, opt);
      opt.space.recompute.only = {v.scenario.parallel.recompute};
      opt.space.recompute.except.clear();
      r.rank_same_recompute = rank_split(v.scenario, 0.10, opt);
    } catch (const std::exception& e) {
      r.failure = e.what();
    }
    out.rows.push_back(std::move(r));
  }
  for (const auto& r : out.rows) by[r.source].push_back(&r);
  for (const auto& [name, rows] : by) {
    PlanCheckSource s;
    s.source = name;
    std::vector<double> pct;
    for (const auto* r : rows) {
      ++s.runs;
      if (!r->failure.empty()) {
        ++s.failed;
        continue;
      }
      s.in_top += r->rank.in_top ? 1 : 0;
      s.in_top_same_recompute += r->rank_same_recompute.in_top ? 1 : 0;
      const double faster = double(r->rank.exact ? r->rank.faster : r->rank.faster_bound);
      pct.push_back(100.0 * faster / double(std::max<std::uint64_t>(1, r->rank.fitting)));
      s.mean_speedup += r->rank.step_time / r->rank.best_time;
    }
    if (!pct.empty()) {
      std::sort(pct.begin(), pct.end());
      s.median_percentile = pct[pct.size() / 2];
      s.mean_speedup /= double(pct.size());
    }
    out.sources.push_back(s);
  }
  out.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

Json plan_validation_to_json(const PlanCheckReport& r) {
  auto rank = [](const SplitRank& k) {
    return Json{{"fitting", k.fitting},   {"faster", k.faster},         {"faster_bound", k.faster_bound},
                {"exact", k.exact},       {"in_top", k.in_top},         {"step_time_s", k.step_time},
                {"best_time_s", k.best_time}, {"simulated", k.simulated}};
  };
  Json j;
  j["wanka_version"] = WANKA_VERSION;
  Json src = Json::array();
  for (const auto& s : r.sources) {
    src.push_back({{"source", s.source}, {"runs", s.runs}, {"in_top", s.in_top}, {"in_top_same_recompute", s.in_top_same_recompute},
                   {"median_percentile", s.median_percentile}, {"mean_speedup", s.mean_speedup}, {"failed", s.failed}});
  }
  j["sources"] = src;
  Json rows = Json::array();
  for (const auto& x : r.rows) {
    Json o = {{"id", x.id}, {"source", x.source}};
    if (x.failure.empty()) {
      o["rank"] = rank(x.rank);
      o["rank_same_recompute"] = rank(x.rank_same_recompute);
    } else {
      o["failure"] = x.failure;
    }
    rows.push_back(o);
  }
  j["rows"] = rows;
  return j;
}

std::string format_plan_validation(const PlanCheckReport& r, int worst) {
  std::string o = "wanka validate --plan: published splits among all fitting splits (top 10 % target)\n\n";
  o += fmt::format("  {:<14} {:>5} {:>8} {:>12} {:>14} {:>16} {:>7}\n", "source", "runs", "in top", "median rank",
                   "best speed-up", "in top, same rc", "failed");
  int runs = 0, top = 0, top_rc = 0;
  for (const auto& s : r.sources) {
    o += fmt::format("  {:<14} {:>5} {:>8} {:>11.1f}% {:>13.2f}x {:>16} {:>7}\n", s.source, s.runs, s.in_top,
                     s.median_percentile, s.mean_speedup, s.in_top_same_recompute, s.failed);
    runs += s.runs;
    top += s.in_top;
    top_rc += s.in_top_same_recompute;
  }
  o += fmt::format("  {:<14} {:>5} {:>8} {:>12} {:>14} {:>16}\n", "all", runs, top, "", "", top_rc);
  o += "\n  rank: share of fitting splits predicted faster than the published one (upper bound when\n"
       "  not every candidate was simulated); best speed-up: published step time / fastest found;\n"
       "  same rc: the search restricted to the run's own recompute setting. Each source is searched\n"
       "  within what its framework supports (docs/validation.md).\n";
  std::vector<const PlanCheckRow*> out_of_top;
  for (const auto& row : r.rows) {
    if (row.failure.empty() && !row.rank.in_top && !row.rank_same_recompute.in_top) out_of_top.push_back(&row);
  }
  if (!out_of_top.empty()) {
    o += fmt::format("\n  outside the top 10 % in both searches ({}):\n", out_of_top.size());
    int n = 0;
    for (const auto* row : out_of_top) {
      if (n++ >= worst) break;
      const SplitRank& k = row->rank_same_recompute;
      o += fmt::format("    {:<58} {:>7} of {:>8} faster, best {:.3f} s vs {:.3f} s\n", row->id,
                       k.exact ? k.faster : k.faster_bound, k.fitting, k.best_time, k.step_time);
    }
  }
  for (const auto& row : r.rows) {
    if (!row.failure.empty()) o += fmt::format("  failed {}: {}\n", row.id, row.failure);
  }
  o += fmt::format("\n  {:.1f} s\n", r.elapsed_s);
  return o;
}

}  // namespace wanka
