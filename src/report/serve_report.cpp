// Presentation of serving results (issue 5): JSON contract and terminal report.
#include <fmt/format.h>

#include "wanka/report.hpp"

namespace wanka {

namespace {

Json pct(const LatencyPercentiles& p) { return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"mean", p.mean}}; }

Json length_json(const LengthDist& d) {
  Json j{{"dist", to_string(d.kind)}, {"mean", d.mean}};
  if (d.kind == LengthDist::Kind::kNormal || d.kind == LengthDist::Kind::kLognormal) j["stddev"] = d.stddev;
  if (d.kind != LengthDist::Kind::kFixed) {
    j["min"] = d.min;
    j["max"] = d.upper();
  }
  return j;
}

std::string ms(double s) { return fmt::format("{:.1f} ms", s * 1e3); }

// A per-user rate: two decimals, or three significant digits below 0.1 (a fleet shared by a
// billion users has a rate limit of 0.0029 per hour, which two decimals printed as 0.00).
std::string per_user_rate(double r) { return r >= 0.1 ? fmt::format("{:.2f}", r) : fmt::format("{:.3g}", r); }

}  // namespace

Json serving_config_to_json(const ServeScenario& s) {
  const auto& sv = s.serving;
  Json j{{"input_len", length_json(sv.input_len)},
         {"output_len", length_json(sv.output_len)},
         {"requests", sv.requests},
         {"offline", sv.trace.empty() && sv.offline},
         {"arrival_rate_per_s", sv.arrival_rate_per_s},
         {"trace", sv.trace.empty() ? Json(nullptr) : Json(sv.trace)},
         {"trace_time_scale", sv.trace_time_scale},
         {"max_batch", sv.max_batch},
         {"max_batch_tokens", sv.max_batch_tokens},
         {"kv_block_tokens", sv.kv_block_tokens},
         {"weight_precision", weight_precision_name(sv)},
         {"kv_precision", to_string(sv.kv_precision)},
         {"gpu_memory_utilization", sv.gpu_memory_utilization},
         {"kv_pool", sv.kv_pool == ServingConfig::KvPoolRule::kVllm ? "vllm" : "tensorrt-llm"},
         {"attention_dp", sv.attention_dp},
         {"decode_kv_reads", sv.decode_kv_reads == ServingConfig::DecodeKvReads::kPerKvHead ? "per_kv_head" : "per_query_head"},
         {"slo", {{"ttft_s", sv.slo.ttft_s}, {"tpot_s", sv.slo.tpot_s}, {"percentile", sv.slo.percentile}}},
         {"speculative", {{"tokens", sv.speculative.tokens}, {"acceptance", sv.speculative.acceptance}, {"draft", sv.speculative.draft}}},
         {"disaggregation", {{"prefill_replicas", sv.disaggregation.prefill_replicas}}},
         {"seed", sv.seed}};
  return j;
}

Json serve_to_json(const ServeScenario& s, const ServeResult& r) {
  Json j;
  j["wanka_version"] = WANKA_VERSION;
  j["throughput"] = {{"requests_per_s", r.requests_per_s},
                     {"input_tokens_per_s", r.input_tokens_per_s},
                     {"output_tokens_per_s", r.output_tokens_per_s},
                     {"output_tokens_per_s_per_gpu", r.output_tokens_per_s_per_gpu},
                     {"goodput_requests_per_s", r.goodput_requests_per_s}};
  j["latency_s"] = {{"ttft", pct(r.ttft_s)}, {"tpot", pct(r.tpot_s)}, {"e2e", pct(r.e2e_s)}, {"queue", pct(r.queue_s)}};
  j["slo"] = {{"ttft_s", s.serving.slo.ttft_s},
              {"tpot_s", s.serving.slo.tpot_s},
              {"percentile", s.serving.slo.percentile},
              {"met", r.slo_met},
              {"attainment", r.slo_attainment}};
  j["kv_cache"] = {{"bytes_per_token", r.kv_bytes_per_token},
                   {"bytes_per_token_stored", r.kv_bytes_per_token_stored},
                   {"blocks_per_replica", r.kv_blocks},
                   {"capacity_tokens_per_replica", r.kv_capacity_tokens},
                   {"occupancy_mean", r.kv_occupancy_mean},
                   {"occupancy_peak", r.kv_occupancy_peak},
                   {"preemptions", r.preemptions}};
  j["deployment"] = {{"replicas", r.replicas},
                     {"prefill_replicas", r.prefill_replicas},
                     {"gpus", r.gpus},
                     {"tp", s.base.parallel.tp},
                     {"pp", s.base.parallel.pp},
                     {"ep", s.base.parallel.ep},
                     {"weight_bytes_per_gpu", r.weight_bytes_per_gpu},
                     {"decode_step_s", r.decode_step_s},
                     {"batch_mean", r.batch_mean}};
  j["run"] = {{"requests", r.requests}, {"completed", r.completed}, {"iterations", r.iterations}, {"makespan_s", r.makespan_s}};
  if (const auto notes = serve_notes(s, r); !notes.empty()) j["notes"] = notes;
  if (s.serving.speculative.tokens > 0) {
    j["speculative"] = {{"draft", s.serving.speculative.draft},
                        {"tokens", s.serving.speculative.tokens},
                        {"acceptance", s.serving.speculative.acceptance},
                        {"expected_tokens_per_step", expected_tokens_per_step(s.serving.speculative)},
                        {"tokens_per_step", r.spec_steps > 0 ? Json(r.spec_tokens / r.spec_steps) : Json(nullptr)},
                        {"verification_steps", r.spec_steps}};
  }
  const double cost_h = double(r.gpus) * s.base.cluster.price_per_gpu_hour_usd;
  j["cost"] = {{"price_per_gpu_hour_usd", s.base.cluster.price_per_gpu_hour_usd},
               {"per_million_output_tokens_usd", r.output_tokens_per_s > 0 ? cost_h / (r.output_tokens_per_s * 3600) * 1e6 : 0.0},
               {"per_million_tokens_usd",
                r.output_tokens_per_s > 0 ? cost_h / ((r.input_tokens_per_s + r.output_tokens_per_s) * 3600) * 1e6 : 0.0}};
  Json sc = scenario_to_json(s.base);
  sc.erase("training");
  sc.erase("reliability");
  sc["parallel"] = {{"tp", s.base.parallel.tp}, {"pp", s.base.parallel.pp}, {"ep", s.base.parallel.ep}};
  sc["serving"] = serving_config_to_json(s);
  j["scenario"] = sc;
  return j;
}

std::string format_serve(const ServeScenario& s, const ServeResult& r) {
  const auto& p = s.base.parallel;
  const auto& sv = s.serving;
  std::string o;
  o += fmt::format("wanka serve: {} on {} x {} ({} replica(s) of tp {} x pp {}{}{}), weights {}, KV {}\n", s.base.model.name,
                   r.gpus, s.base.cluster.gpu.name, r.replicas, p.tp, p.pp,
                   (p.ep > 1 ? fmt::format(" x ep {}", p.ep) : "") + (sv.attention_dp ? ", attention DP" : ""),
                   r.prefill_replicas > 0 ? fmt::format(", {} prefill + {} decode", r.prefill_replicas, r.replicas - r.prefill_replicas) : "",
                   weight_precision_name(sv), to_string(sv.kv_precision));
  o += fmt::format("  requests        {} ({}), {} completed in {:.1f} s, {} iterations, {} preemptions\n", r.requests,
                   !sv.trace.empty() ? "trace " + sv.trace
                   : sv.offline     ? std::string("offline")
                                    : fmt::format("Poisson {:g}/s", sv.arrival_rate_per_s),
                   r.completed, r.makespan_s, r.iterations, r.preemptions);
  o += fmt::format("  throughput      {:.2f} req/s, {:.0f} input tok/s, {:.0f} output tok/s ({:.0f} per GPU)\n", r.requests_per_s,
                   r.input_tokens_per_s, r.output_tokens_per_s, r.output_tokens_per_s_per_gpu);
  o += "  latency              p50        p90        p99\n";
  auto row = [&](const char* name, const LatencyPercentiles& x) {
    o += fmt::format("    {:<12} {:>10} {:>10} {:>10}\n", name, ms(x.p50), ms(x.p90), ms(x.p99));
  };
  row("TTFT", r.ttft_s);
  row("TPOT", r.tpot_s);
  row("end-to-end", r.e2e_s);
  row("queueing", r.queue_s);
  if (sv.slo.ttft_s > 0 || sv.slo.tpot_s > 0) {
    o += fmt::format("  SLO             TTFT {} / TPOT {} at p{:g}: {} (attainment {:.1f} %, goodput {:.2f} req/s)\n",
                     sv.slo.ttft_s > 0 ? ms(sv.slo.ttft_s) : "-", sv.slo.tpot_s > 0 ? ms(sv.slo.tpot_s) : "-", sv.slo.percentile,
                     r.slo_met ? "met" : "MISSED", 100 * r.slo_attainment, r.goodput_requests_per_s);
  }
  const bool copies = std::abs(r.kv_bytes_per_token_stored - r.kv_bytes_per_token) > 0.01 * r.kv_bytes_per_token;
  o += fmt::format("  KV cache        {:.0f} KiB/token{}, {:.0f} tokens per replica; occupancy mean {:.0f} %, peak {:.0f} %\n",
                   r.kv_bytes_per_token / 1024,
                   copies ? fmt::format(" ({:.0f} KiB stored per replica)", r.kv_bytes_per_token_stored / 1024) : "",
                   r.kv_capacity_tokens, 100 * r.kv_occupancy_mean, 100 * r.kv_occupancy_peak);
  o += fmt::format("  per GPU         {:.1f} GiB weights; mean batch {:.1f}, decode step {}\n", r.weight_bytes_per_gpu / kGiB,
                   r.batch_mean, ms(r.decode_step_s));
  if (sv.speculative.tokens > 0) {
    o += fmt::format("  speculative     {} draft(s) per step by {}, acceptance {:g}: {} tokens per verification step "
                     "({:.2f} expected when every draft is proposed)\n",
                     sv.speculative.tokens, sv.speculative.draft, sv.speculative.acceptance,
                     r.spec_steps > 0 ? fmt::format("{:.2f}", r.spec_tokens / r.spec_steps) : std::string("no"),
                     expected_tokens_per_step(sv.speculative));
  }
  for (const auto& n : serve_notes(s, r)) o += "  note            " + n + "\n";
  const double cost_h = double(r.gpus) * s.base.cluster.price_per_gpu_hour_usd;
  if (r.output_tokens_per_s > 0) {
    o += fmt::format("  cost            ${:.3f} per million output tokens at ${:.2f}/GPU-h\n",
                     cost_h / (r.output_tokens_per_s * 3600) * 1e6, s.base.cluster.price_per_gpu_hour_usd);
  }
  return o;
}

Json capacity_to_json(const ServeScenario& s, const CapacityResult& c) {
  const auto& cap = *s.serving.capacity;
  Json opts = Json::array();
  for (const auto& o : c.options) {
    opts.push_back({{"tp", o.tp}, {"pp", o.pp}, {"ep", o.ep}, {"attention_dp", o.attention_dp}, {"max_batch", o.max_batch},
                    {"max_rate_per_s", o.max_rate_per_s}, {"footprint_gpus", o.footprint_gpus}, {"checked_long_run", o.checked},
                    {"requests_per_s_per_gpu", o.max_rate_per_s / o.footprint_gpus}});
  }
  const auto& b = c.best;
  Json j;
  j["wanka_version"] = WANKA_VERSION;
  j["question"] = cap.fleet_gpus > 0 ? "rate_limit" : "fleet";
  j["demand"] = {{"users", cap.users},
                 {"requests_per_user_per_hour", cap.requests_per_user_per_hour},
                 {"peak_to_mean", cap.peak_to_mean},
                 {"requests_per_s", c.demand_per_s},
                 {"mean_input_tokens", c.mean_input_tokens},
                 {"mean_output_tokens", c.mean_output_tokens}};
  j["replica"] = {{"tp", b.tp},
                  {"pp", b.pp},
                  {"ep", b.ep},
                  {"attention_dp", b.attention_dp},
                  {"gpus", b.tp * b.pp},
                  {"footprint_gpus", b.footprint_gpus},
                  {"max_batch", b.max_batch},
                  {"max_rate_per_s", b.max_rate_per_s},
                  {"latency_s_at_max_rate",
                   {{"ttft", pct(b.at_max.ttft_s)}, {"tpot", pct(b.at_max.tpot_s)}, {"e2e", pct(b.at_max.e2e_s)}}},
                  {"output_tokens_per_s", b.at_max.output_tokens_per_s}};
  j["fleet"] = {{"replicas", c.replicas}, {"gpus", c.gpus}};
  j["cost"] = {{"per_hour_usd", c.cost_per_hour_usd},
               {"per_month_usd", c.cost_per_month_usd},
               {"per_million_output_tokens_usd", c.cost_per_million_output_tokens_usd},
               {"per_million_tokens_usd", c.cost_per_million_tokens_usd}};
  if (cap.fleet_gpus > 0) {
    j["rate_limit"] = {{"max_requests_per_user_per_hour", c.max_requests_per_user_per_hour},
                       {"max_users_at_given_rate", c.max_users}};
  }
  j["search"] = {{"configurations", c.configurations}, {"simulations", c.simulations}, {"options", opts}};
  Json sc = serve_to_json(s, ServeResult{})["scenario"];
  // Only the split keys the input pinned: written out, the others would pin the search when the
  // scenario is read back.
  Json pinned = Json::object();
  for (const auto& k : s.parallel_given) {
    if (sc["parallel"].contains(k)) pinned[k] = sc["parallel"][k];
  }
  if (pinned.empty()) sc.erase("parallel");
  else sc["parallel"] = pinned;
  // Likewise the batch cap: searched unless the input gave it.
  if (!s.serving.max_batch_given && sc.contains("serving")) sc["serving"].erase("max_batch");
  sc["capacity"] = {{"users", cap.users},
                    {"requests_per_user_per_hour", cap.requests_per_user_per_hour},
                    {"fleet_gpus", cap.fleet_gpus},
                    {"peak_to_mean", cap.peak_to_mean},
                    {"max_gpus_per_replica", cap.max_gpus_per_replica}};
  j["scenario"] = sc;
  return j;
}

std::string format_capacity(const ServeScenario& s, const CapacityResult& c) {
  const auto& cap = *s.serving.capacity;
  const auto& sv = s.serving;
  const auto& b = c.best;
  std::string o;
  o += fmt::format("wanka serve --plan: {} on {}, input {:.0f} / output {:.0f} tokens (mean as drawn), SLO TTFT {} / TPOT {} at p{:g}\n",
                   s.base.model.name, s.base.cluster.gpu.name, c.mean_input_tokens, c.mean_output_tokens,
                   sv.slo.ttft_s > 0 ? ms(sv.slo.ttft_s) : "-", sv.slo.tpot_s > 0 ? ms(sv.slo.tpot_s) : "-", sv.slo.percentile);
  const bool stranded = b.footprint_gpus > b.tp * b.pp;
  o += fmt::format("  best replica    tp {} x pp {}{} = {} GPUs{}, max_batch {}{}: {:.3f} req/s within the SLO ({:.0f} output tok/s)\n", b.tp,
                   b.pp, (b.ep > 1 ? fmt::format(" (ep {})", b.ep) : "") + (b.attention_dp ? " attention DP" : ""), b.tp * b.pp,
                   stranded ? fmt::format(" (a {}-GPU domain holds {} TP groups and leaves {} GPUs idle: {:.4g} GPUs per replica)",
                                          s.base.cluster.scale_up_domain, s.base.cluster.scale_up_domain / b.tp,
                                          s.base.cluster.scale_up_domain % b.tp, b.footprint_gpus)
                            : "",
                   b.max_batch, b.attention_dp ? " per rank" : "", b.max_rate_per_s, b.at_max.output_tokens_per_s);
  o += fmt::format("                  at that rate: TTFT p{0:g} {1}, TPOT p{0:g} {2}\n", sv.slo.percentile,
                   ms(b.at_max.ttft_s.at(sv.slo.percentile)), ms(b.at_max.tpot_s.at(sv.slo.percentile)));
  if (cap.fleet_gpus > 0) {
    o += fmt::format("  fleet           {} GPUs = {} replicas: {:.1f} req/s{}\n", c.gpus, c.replicas, double(c.replicas) * b.max_rate_per_s,
                     c.gpus < cap.fleet_gpus ? fmt::format(" ({} of the {} GPUs idle, paid for)", cap.fleet_gpus - c.gpus, cap.fleet_gpus) : "");
    o += fmt::format("  rate limit      {} requests per user per hour for {:.0f} users ({} per 3 hours)\n",
                     per_user_rate(c.max_requests_per_user_per_hour), cap.users, per_user_rate(3 * c.max_requests_per_user_per_hour));
    if (cap.requests_per_user_per_hour > 0) {
      o += fmt::format("                  at {:g} requests per user per hour: {:.0f} users\n", cap.requests_per_user_per_hour, c.max_users);
    }
  } else {
    o += fmt::format("  demand          {:.0f} users x {:g} req/h x peak/mean {:g} = {:.2f} req/s\n", cap.users,
                     cap.requests_per_user_per_hour, cap.peak_to_mean, c.demand_per_s);
    o += fmt::format("  fleet           {} replicas x {} GPUs{} = {} GPUs\n", c.replicas, b.tp * b.pp,
                     c.gpus > std::int64_t(c.replicas) * b.tp * b.pp ? " and the GPUs their domains leave idle" : "", c.gpus);
  }
  o += fmt::format("  cost            ${:.2f}/hour, ${:.3g}/month; ${:.3f} per million output tokens, ${:.3f} per million tokens\n",
                   c.cost_per_hour_usd, c.cost_per_month_usd, c.cost_per_million_output_tokens_usd, c.cost_per_million_tokens_usd);
  o += fmt::format("  searched        {} replica shapes, {} simulations; best per-GPU rates (probes of 800+ requests unless checked):\n", c.configurations, c.simulations);
  std::size_t shown = 0;
  for (const auto& x : c.options) {
    if (++shown > 5) break;
    o += fmt::format("    tp {} pp {} ep {}{} max_batch {:>4}: {:.4f} req/s per GPU{}\n", x.tp, x.pp, x.ep,
                     x.attention_dp ? " attention DP" : "", x.max_batch, x.max_rate_per_s / x.footprint_gpus,
                     x.checked ? " (checked on 10,000 requests)" : "");
  }
  return o;
}

}  // namespace wanka
