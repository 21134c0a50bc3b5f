// The scenario's `serving:` and `capacity:` blocks (issue 5), parsed beside model, cluster and
// parallel. Every error is an InputError naming the field.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <climits>
#include <cmath>

#include <fmt/format.h>

#include "config/yaml_util.hpp"
#include "wanka/error.hpp"
#include "wanka/serve.hpp"

namespace wanka {

namespace {

constexpr double kMaxTokens = 1e7;

LengthDist parse_length(const YAML::Node& n, const std::string& path) {
  LengthDist d;
  if (n.IsScalar()) {
    d.mean = yaml::as_double(n, path, 1, kMaxTokens);
    if (d.mean != std::floor(d.mean)) throw InputError(path, "expected an integer number of tokens");
    return d;
  }
  yaml::require_map(n, path);
  yaml::check_keys(n, path, {"dist", "mean", "stddev", "min", "max"});
  const std::string kind = n["dist"] ? yaml::as_string(n["dist"], path + ".dist") : "fixed";
  if (kind == "fixed") d.kind = LengthDist::Kind::kFixed;
  else if (kind == "uniform") d.kind = LengthDist::Kind::kUniform;
  else if (kind == "normal") d.kind = LengthDist::Kind::kNormal;
  else if (kind == "lognormal") d.kind = LengthDist::Kind::kLognormal;
  else if (kind == "exponential") d.kind = LengthDist::Kind::kExponential;
  else throw InputError(path + ".dist", unknown_name_message("length distribution", kind, {"fixed", "uniform", "normal", "lognormal", "exponential"}));
  // Fields the distribution does not use are refused rather than ignored.
  const auto given = [&](const char* k) { return n[k] && !n[k].IsNull(); };
  if (d.kind == LengthDist::Kind::kFixed) {
    for (const char* k : {"min", "max", "stddev"}) {
      if (given(k)) throw InputError(path + "." + k, "a fixed length has no " + std::string(k) + " (give dist: uniform, normal, lognormal or exponential to draw lengths)");
    }
  }
  if ((d.kind == LengthDist::Kind::kUniform || d.kind == LengthDist::Kind::kExponential) && given("stddev")) {
    throw InputError(path + ".stddev", "not used by " + kind + " lengths");
  }
  yaml::opt(n, "min", path, d.min, 1, kMaxTokens);
  yaml::opt(n, "max", path, d.max, 1, kMaxTokens);
  if (d.max > 0 && d.max < d.min) throw InputError(path + ".max", "is below min (" + std::to_string(d.min) + ")");
  if (d.kind == LengthDist::Kind::kUniform) {
    if (!n["min"] || !n["max"]) throw InputError(path, "a uniform length needs min and max");
    d.mean = 0.5 * double(d.min + d.max);
    return d;
  }
  if (!n["mean"]) throw InputError(path + ".mean", "missing");
  d.mean = yaml::as_double(n["mean"], path + ".mean", 1, kMaxTokens);
  if (d.kind == LengthDist::Kind::kFixed && d.mean != std::floor(d.mean)) {
    throw InputError(path + ".mean", "expected an integer number of tokens");
  }
  if (d.kind == LengthDist::Kind::kNormal || d.kind == LengthDist::Kind::kLognormal) {
    if (!n["stddev"]) throw InputError(path + ".stddev", "missing");
    d.stddev = yaml::as_double(n["stddev"], path + ".stddev", 0, kMaxTokens);
  }
  // Draws are clamped to [min, max]: a mean outside it would be silently replaced by a bound.
  if (d.mean < double(d.min) || (d.max > 0 && d.mean > double(d.max))) {
    throw InputError(path + ".mean", fmt::format("{:g} lies outside [min, max] = [{}, {}]", d.mean, d.min,
                                                 d.max > 0 ? std::to_string(d.max) : std::string("-")));
  }
  return d;
}

void parse_serving(const YAML::Node& n, ServingConfig& sv) {
  const std::string P = "serving";
  yaml::require_map(n, P);
  yaml::check_keys(n, P, {"input_len", "output_len", "requests", "arrival_rate_per_s", "offline", "trace",
                          "trace_time_scale", "max_batch", "max_batch_tokens", "kv_block_tokens", "weight_precision",
                          "kv_precision", "gpu_memory_utilization", "kv_pool", "decode_kv_reads", "attention_dp", "slo", "speculative", "disaggregation", "seed"});
  if (auto x = n["input_len"]; x && !x.IsNull()) sv.input_len = parse_length(x, P + ".input_len");
  if (auto x = n["output_len"]; x && !x.IsNull()) sv.output_len = parse_length(x, P + ".output_len");
  yaml::opt(n, "requests", P, sv.requests, 1, 1e7);  // ~60 B of state per request
  bool rate_given = false;
  if (auto x = n["arrival_rate_per_s"]; x && !x.IsNull()) {
    // 0 is the resolved scenario's "no rate" (offline or a trace), as wanka serve --json writes it.
    sv.arrival_rate_per_s = yaml::as_double(x, P + ".arrival_rate_per_s", 0, 1e9);
    if (sv.arrival_rate_per_s > 0 && sv.arrival_rate_per_s < 1e-9) {
      throw InputError(P + ".arrival_rate_per_s", "must be 0 (none) or at least 1e-9 requests per second");
    }
    rate_given = sv.arrival_rate_per_s > 0;
    if (rate_given) sv.offline = false;
  }
  if (auto x = n["offline"]; x && !x.IsNull()) {
    sv.offline = yaml::as_bool(x, P + ".offline");
    if (sv.offline && rate_given) throw InputError(P + ".offline", "give either offline: true or arrival_rate_per_s, not both");
    const bool traced = n["trace"] && !n["trace"].IsNull();  // a trace gives the arrival times
    if (!sv.offline && !rate_given && !traced) throw InputError(P + ".arrival_rate_per_s", "missing: offline is false");
  }
  yaml::opt_string(n, "trace", P, sv.trace);
  yaml::opt(n, "trace_time_scale", P, sv.trace_time_scale, 1e-6, 1e6);
  yaml::opt(n, "max_batch", P, sv.max_batch, 1, 1e6);
  sv.max_batch_given = n["max_batch"] && !n["max_batch"].IsNull();
  yaml::opt(n, "max_batch_tokens", P, sv.max_batch_tokens, 1, 1e7);
  yaml::opt(n, "kv_block_tokens", P, sv.kv_block_tokens, 1, 1e5);
  if (auto x = n["weight_precision"]; x && !x.IsNull()) {
    const std::string v = yaml::as_string(x, P + ".weight_precision");
    auto p = parse_precision(v);
    if (v == "int4") {
      sv.int4_weights = true;
      sv.weight_precision = Precision::kFp4;
    } else if (p && (*p == Precision::kBf16 || *p == Precision::kFp16 || *p == Precision::kFp8 || *p == Precision::kFp4)) {
      sv.weight_precision = *p;
    } else {
      throw InputError(P + ".weight_precision", unknown_name_message("weight precision", v, {"bf16", "fp16", "fp8", "fp4", "int4"}));
    }
  }
  if (auto x = n["kv_precision"]; x && !x.IsNull()) {
    const std::string v = yaml::as_string(x, P + ".kv_precision");
    auto p = parse_precision(v);
    if (!p || (*p != Precision::kBf16 && *p != Precision::kFp16 && *p != Precision::kFp8)) {
      throw InputError(P + ".kv_precision", unknown_name_message("KV-cache precision", v, {"bf16", "fp16", "fp8"}));
    }
    sv.kv_precision = *p;
  }
  yaml::opt(n, "gpu_memory_utilization", P, sv.gpu_memory_utilization, 0.05, 1.0);
  if (auto x = n["kv_pool"]; x && !x.IsNull()) {
    const std::string v = yaml::as_string(x, P + ".kv_pool");
    if (v == "vllm") sv.kv_pool = ServingConfig::KvPoolRule::kVllm;
    else if (v == "tensorrt-llm") sv.kv_pool = ServingConfig::KvPoolRule::kTensorRtLlm;
    else throw InputError(P + ".kv_pool", unknown_name_message("KV pool rule", v, {"vllm", "tensorrt-llm"}));
  }
  if (auto x = n["decode_kv_reads"]; x && !x.IsNull()) {
    const std::string v = yaml::as_string(x, P + ".decode_kv_reads");
    if (v == "per_kv_head") sv.decode_kv_reads = ServingConfig::DecodeKvReads::kPerKvHead;
    else if (v == "per_query_head") sv.decode_kv_reads = ServingConfig::DecodeKvReads::kPerQueryHead;
    else throw InputError(P + ".decode_kv_reads", unknown_name_message("decode KV read pattern", v, {"per_kv_head", "per_query_head"}));
  }
  if (auto x = n["attention_dp"]; x && !x.IsNull()) {
    sv.attention_dp = yaml::as_bool(x, P + ".attention_dp");
    sv.attention_dp_given = true;
  }
  if (auto x = n["slo"]; x && !x.IsNull()) {
    yaml::require_map(x, P + ".slo");
    yaml::check_keys(x, P + ".slo", {"ttft_s", "tpot_s", "percentile"});
    // 0: no target (the default, and how wanka serve --json writes an absent one).
    yaml::opt(x, "ttft_s", P + ".slo", sv.slo.ttft_s, 0, 1e6);
    yaml::opt(x, "tpot_s", P + ".slo", sv.slo.tpot_s, 0, 1e6);
    for (const auto& [v, k] : {std::pair{sv.slo.ttft_s, "ttft_s"}, std::pair{sv.slo.tpot_s, "tpot_s"}}) {
      if (v > 0 && v < 1e-6) throw InputError(P + ".slo." + k, "must be 0 (no target) or at least 1e-6 s");
    }
    yaml::opt(x, "percentile", P + ".slo", sv.slo.percentile, 50, 99);
    if (sv.slo.percentile != 50 && sv.slo.percentile != 90 && sv.slo.percentile != 99) {
      throw InputError(P + ".slo.percentile", "must be 50, 90 or 99");
    }
  }
  if (auto x = n["speculative"]; x && !x.IsNull()) {
    const std::string Q = P + ".speculative";
    yaml::require_map(x, Q);
    yaml::check_keys(x, Q, {"tokens", "acceptance", "draft"});
    auto& sp = sv.speculative;
    if (!x["tokens"] || x["tokens"].IsNull()) throw InputError(Q + ".tokens", "missing: the drafts per iteration (0 turns speculative decoding off)");
    sp.tokens = static_cast<int>(yaml::as_long(x["tokens"], Q + ".tokens", 0, 16));
    if (sp.tokens > 0 && (!x["acceptance"] || x["acceptance"].IsNull())) {
      throw InputError(Q + ".acceptance", "missing: the probability each draft is accepted (an input: it depends on the data "
                                          "and the draft; DeepSeek-V3 reports 0.85-0.9 for its MTP module)");
    }
    yaml::opt(x, "acceptance", Q, sp.acceptance, 0, 1);
    yaml::opt_string(x, "draft", Q, sp.draft);
    if (sp.draft.empty()) throw InputError(Q + ".draft", "empty: give mtp or a model name");
  }
  if (auto x = n["disaggregation"]; x && !x.IsNull()) {
    yaml::require_map(x, P + ".disaggregation");
    yaml::check_keys(x, P + ".disaggregation", {"prefill_replicas"});
    yaml::opt(x, "prefill_replicas", P + ".disaggregation", sv.disaggregation.prefill_replicas, 0, 1e6);
  }
  if (auto x = n["seed"]; x && !x.IsNull()) sv.seed = static_cast<std::uint64_t>(yaml::as_long(x, P + ".seed", 0, yaml::kMaxSeed));
}

CapacityConfig parse_capacity(const YAML::Node& n) {
  const std::string P = "capacity";
  yaml::require_map(n, P);
  yaml::check_keys(n, P, {"users", "requests_per_user_per_hour", "fleet_gpus", "peak_to_mean", "max_gpus_per_replica"});
  CapacityConfig c;
  yaml::opt(n, "users", P, c.users, 1, 1e12);
  // 0 leaves the question open, as wanka serve --plan --json writes it: fleet_gpus 0 sizes the
  // fleet, requests_per_user_per_hour 0 with a fleet solves for the rate.
  yaml::opt(n, "requests_per_user_per_hour", P, c.requests_per_user_per_hour, 0, 1e6);
  yaml::opt(n, "fleet_gpus", P, c.fleet_gpus, 0, 1e7);
  if (c.requests_per_user_per_hour > 0 && c.requests_per_user_per_hour < 1e-6) {
    throw InputError(P + ".requests_per_user_per_hour", "must be 0 (solve for it) or at least 1e-6");
  }
  yaml::opt(n, "peak_to_mean", P, c.peak_to_mean, 1, 100);
  yaml::opt(n, "max_gpus_per_replica", P, c.max_gpus_per_replica, 1, 4096);
  if (c.users <= 0) {
    throw InputError(P + ".users", c.fleet_gpus > 0 ? "missing: the number of users sharing the fleet (the rate limit is per user)"
                                                     : "missing: the number of users to serve");
  }
  if (c.fleet_gpus == 0 && c.requests_per_user_per_hour <= 0) {
    throw InputError(P + ".requests_per_user_per_hour", "missing: give the per-user rate, or fleet_gpus to solve for it");
  }
  return c;
}

// The speculative draft: the model's own multi-token-prediction module, or a model of the
// catalog with the same vocabulary (the draft's tokens are the target's).
void resolve_draft(ServeScenario& s, const Catalog& catalog) {
  auto& sp = s.serving.speculative;
  if (sp.tokens == 0) return;
  const ModelSpec& m = s.base.model;
  const std::string F = "serving.speculative.draft";
  if (sp.draft == "mtp") {
    if (m.mtp_layers < 1) {
      throw InputError(F, m.name + " has no multi-token-prediction module (model.mtp_layers is 0): name a draft model of its vocabulary");
    }
    return;
  }
  ModelSpec d;
  try {
    d = catalog.model(sp.draft);
  } catch (const InputError& e) {
    const std::string& w = e.what();
    const std::string prefix = e.field() + ": ";
    throw InputError(F, w.compare(0, prefix.size(), prefix) == 0 ? w.substr(prefix.size()) : w);
  }
  if (d.vocab != m.vocab) {
    throw InputError(F, fmt::format("{}'s vocabulary ({}) is not {}'s ({}): a draft must propose the target's tokens", d.name,
                                    d.vocab, m.name, m.vocab));
  }
  if (d.is_moe()) throw InputError(F, "a mixture-of-experts draft model is not modelled: name a dense model, or mtp");
  sp.draft_model = d;
}

}  // namespace

const char* default_serve_scenario_yaml() {
  return R"(# Built-in serving default: Llama-3-70B in bf16 on one HGX H100 node (TP8), 1,000 requests of
# 512 input and 128 output tokens arriving at 4 per second, vLLM-like limits (max_batch is the
# default 256, left out so that serve --plan searches it).
model: {name: llama3-70b}
cluster: {gpu: h100-sxm, num_gpus: 8}
parallel: {tp: 8, pp: 1}
serving: {input_len: 512, output_len: 128, requests: 1000, arrival_rate_per_s: 4,
          max_batch_tokens: 8192, kv_block_tokens: 16, weight_precision: bf16, kv_precision: bf16,
          slo: {ttft_s: 1.0, tpot_s: 0.05, percentile: 90}}
)";
}

std::string weight_precision_name(const ServingConfig& sv) {
  return sv.int4_weights ? "int4" : to_string(sv.weight_precision);
}

void validate_serve_split(const ServeScenario& s) {
  const auto& m = s.base.model;
  const auto& p = s.base.parallel;
  const auto& c = s.base.cluster;
  const std::string str_tp = std::to_string(p.tp);
  if (s.serving.attention_dp) {
    if (!m.is_moe()) throw InputError("serving.attention_dp", "attention data parallelism is modelled for mixture-of-experts models only");
    if (p.ep != p.tp) {
      throw InputError("parallel.ep", std::to_string(p.ep) + " must equal tp (" + str_tp + ") with serving.attention_dp: the routed experts are expert-parallel over the replica");
    }
    if (p.pp != 1) throw InputError("parallel.pp", "must be 1 with serving.attention_dp");
  }
  // With attention DP the heads are not split: every GPU runs whole attention for its sequences.
  const bool split_heads = !s.serving.attention_dp;
  if (split_heads && m.heads % p.tp != 0) throw InputError("parallel.tp", str_tp + " does not divide heads (" + std::to_string(m.heads) + ")");
  if (split_heads && !m.mla && m.kv_heads % p.tp != 0 && p.tp % m.kv_heads != 0) {
    throw InputError("parallel.tp", str_tp + " and kv_heads (" + std::to_string(m.kv_heads) + ") must divide one another");
  }
  if (p.pp > m.layers) throw InputError("parallel.pp", std::to_string(p.pp) + " exceeds the model's layers (" + std::to_string(m.layers) + ")");
  if (p.cp != 1) throw InputError("parallel.cp", "context parallelism is not modelled for serving; use 1");
  if (p.vpp != 1) throw InputError("parallel.vpp", "virtual pipeline stages are not used for serving; use 1");
  if (p.ep > 1) {
    if (!m.is_moe()) throw InputError("parallel.ep", "expert parallelism needs a mixture-of-experts model");
    if (p.tp % p.ep != 0) throw InputError("parallel.ep", std::to_string(p.ep) + " must divide tp (" + str_tp + "): experts are sharded inside the TP group");
    if (m.moe.experts % p.ep != 0) throw InputError("parallel.ep", std::to_string(p.ep) + " does not divide moe.experts (" + std::to_string(m.moe.experts) + ")");
  }
  const long per_replica = long(p.tp) * p.pp;
  if (c.num_gpus % per_replica != 0) {
    throw InputError("cluster.num_gpus", std::to_string(c.num_gpus) + " is not a multiple of the GPUs per replica, tp x pp = " +
                                             std::to_string(per_replica));
  }
  const auto& d = s.serving.disaggregation;
  if (d.prefill_replicas > 0 && d.prefill_replicas >= s.replicas()) {
    throw InputError("serving.disaggregation.prefill_replicas",
                     std::to_string(d.prefill_replicas) + " leaves no decode replica (" + std::to_string(s.replicas()) + " replicas)");
  }
}

ServeScenario parse_serve_scenario(const std::string& text, const std::string& origin, const std::vector<Override>& overrides,
                                   const Catalog& catalog) {
  ServeScenario s;
  const ScenarioDraft d = parse_scenario_draft(text, origin, overrides, catalog);
  s.base = d.scenario;
  s.parallel_given = d.parallel_given;
  const YAML::Node root = scenario_root(text, origin, overrides);
  if (auto n = root["serving"]; n && !n.IsNull()) parse_serving(n, s.serving);
  if (auto n = root["capacity"]; n && !n.IsNull()) s.serving.capacity = parse_capacity(n);
  // A relative trace path written in a scenario file names a file beside it (as cluster's
  // Pollux profiles default to beside the workload); one given on the command line (--trace,
  // --set) stays relative to the working directory.
  const bool trace_overridden = std::any_of(overrides.begin(), overrides.end(),
                                            [](const Override& o) { return o.first == "serving.trace"; });
  // A trace and an arrival mode from the same input contradict each other (a trace from the
  // command line replaces the file's arrival mode, as --trace is meant to).
  if (!s.serving.trace.empty() && trace_overridden) {
    s.serving.arrival_rate_per_s = 0;  // replaced by the trace: the resolved scenario says so
    s.serving.offline = false;
  }
  if (!s.serving.trace.empty() && !trace_overridden) {
    if (s.serving.arrival_rate_per_s > 0) {
      throw InputError("serving.arrival_rate_per_s", "not used with serving.trace: the trace gives the arrival times");
    }
    if (auto x = root["serving"]["offline"]; x && !x.IsNull() && yaml::as_bool(x, "serving.offline")) {
      throw InputError("serving.offline", "not used with serving.trace: the trace gives the arrival times");
    }
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path trace(s.serving.trace), scenario(origin);
    if (trace.is_relative() && fs::is_regular_file(scenario, ec)) {
      const fs::path real = fs::canonical(scenario, ec);  // beside the file itself, also through a symlink
      s.serving.trace = ((ec ? scenario : real).parent_path() / trace).string();
    }
  }
  // The path resolved, written absolute: the resolved scenario (--json) reads back from anywhere.
  if (!s.serving.trace.empty()) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path abs = fs::absolute(fs::path(s.serving.trace), ec);
    if (!ec) s.serving.trace = abs.lexically_normal().string();
  }
  resolve_draft(s, catalog);
  auto& p = s.base.parallel;
  for (const auto& k : d.parallel_given) {
    if (k != "tp" && k != "pp" && k != "ep" && k != "cp" && k != "vpp" && k != "dp") {
      throw InputError("parallel." + k, "not used for serving (tp, pp and ep are)");
    }
  }
  // Replicas are num_gpus / (tp x pp): a data-parallel degree given with them must agree.
  if (std::find(d.parallel_given.begin(), d.parallel_given.end(), "dp") != d.parallel_given.end()) {
    const double per_replica = double(p.tp) * double(p.pp);
    if (double(p.dp) * per_replica != double(s.base.cluster.num_gpus)) {
      throw InputError("parallel.dp", std::to_string(p.dp) + " replicas of tp x pp = " + std::to_string(long(per_replica)) +
                                          " GPUs is not cluster.num_gpus (" + std::to_string(s.base.cluster.num_gpus) +
                                          "): serving runs num_gpus / (tp x pp) replicas; drop parallel.dp or make them agree");
    }
  }
  p.dp = 1;
  const auto& sv = s.serving;
  // Attention DP shards the routed experts over the replica: ep follows tp unless it is given.
  const bool ep_given = std::find(d.parallel_given.begin(), d.parallel_given.end(), "ep") != d.parallel_given.end();
  if (sv.attention_dp && !ep_given) p.ep = p.tp;
  if (double(s.serving.input_len.upper() + s.serving.output_len.upper()) > kMaxTokens) {
    throw InputError(s.serving.output_len.upper() > s.serving.input_len.upper() ? "serving.output_len" : "serving.input_len",
                     "input plus output length exceeds 1e7 tokens");
  }
  const bool split_given = !d.parallel_given.empty();
  if (!split_given && !sv.capacity) {
    // No split given: the smallest tp (then pp) inside one scale-up domain whose replica holds
    // the weights and one longest request's KV cache.
    const long domain = std::max(1, s.base.cluster.scale_up_domain);
    const long longest = sv.input_len.upper() + sv.output_len.upper();
    for (int pp = 1; pp <= s.base.model.layers; pp *= 2) {
      for (int tp = 1; tp <= domain; tp *= 2) {
        if (long(tp) * pp > s.base.cluster.num_gpus) break;
        ServeScenario t = s;
        t.base.parallel.tp = tp;
        t.base.parallel.pp = pp;
        const int ep = sv.attention_dp ? tp : 1;  // attention DP shards the routed experts over the replica
        t.base.parallel.ep = ep;
        try {
          validate_serve_split(t);
        } catch (const InputError&) {
          continue;
        }
        const InferenceCost cost(t.base.model, t.base.cluster, tp, pp, ep, sv);
        if (cost.sequence_blocks() / pp * sv.kv_block_tokens >= longest) {
          p.tp = tp;
          p.pp = pp;
          p.ep = ep;
          validate_serve_split(s);
          return s;
        }
      }
    }
  }
  if (sv.capacity) {
    // Capacity planning sizes replicas itself (cluster.num_gpus is not a fleet of this split):
    // the split is checked on one replica's GPUs; simulating it checks the cluster.
    ServeScenario one = s;
    one.base.cluster.num_gpus = long(p.tp) * p.pp;
    one.serving.disaggregation.prefill_replicas = 0;  // planning sizes colocated replicas
    validate_serve_split(one);
    return s;
  }
  validate_serve_split(s);
  return s;
}

}  // namespace wanka
