#include "wanka/report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <cmath>

#include "wanka/model.hpp"

namespace wanka {

namespace {

const char* activation_name(Activation a) { return a == Activation::kSwiglu ? "swiglu" : "gelu"; }
const char* norm_name(Norm n) { return n == Norm::kRmsNorm ? "rmsnorm" : "layernorm"; }
// The recompute modules as names; with recompute none or full, the default (which every mode
// accepts), so the JSON reads back unchanged.
std::vector<std::string> recompute_module_list(const ParallelConfig& p) {
  const unsigned bits = p.recompute == Recompute::kSelective ? p.recompute_modules : unsigned(kRecomputeCoreAttn);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < std::size(kRecomputeModuleNames); ++i) {
    if (bits & (1u << i)) out.emplace_back(kRecomputeModuleNames[i]);
  }
  return out;
}

const char* position_name(Position p) {
  switch (p) {
    case Position::kRope: return "rope";
    case Position::kLearned: return "learned";
    case Position::kAlibi: return "alibi";
  }
  return "?";
}

Json model_json(const ModelSpec& m) {
  Json j;
  j["name"] = m.name;
  j["layers"] = m.layers;
  j["hidden"] = m.hidden;
  j["heads"] = m.heads;
  j["kv_heads"] = m.kv_heads;
  j["head_dim"] = m.head_dim;
  j["ffn_hidden"] = m.ffn_hidden;
  j["vocab"] = m.vocab;
  j["activation"] = activation_name(m.activation);
  j["norm"] = norm_name(m.norm);
  j["position"] = position_name(m.position);
  j["tied_embeddings"] = m.tied_embeddings;
  j["max_seq_len"] = m.max_seq_len;
  if (m.is_moe()) {
    j["moe"] = {{"experts", m.moe.experts},           {"top_k", m.moe.top_k},
                {"ffn_hidden", m.moe.ffn_hidden},     {"shared", m.moe.shared},
                {"shared_ffn_hidden", m.moe.shared_ffn_hidden}, {"dense_layers", m.moe.dense_layers},
                {"dense_ffn_hidden", m.moe.dense_ffn_hidden}, {"groups", m.moe.groups},
                {"topk_groups", m.moe.topk_groups}};
  }
  if (m.mla) {
    j["mla"] = {{"q_lora_rank", m.mla->q_lora_rank},
                {"kv_lora_rank", m.mla->kv_lora_rank},
                {"qk_nope_head_dim", m.mla->qk_nope_head_dim},
                {"qk_rope_head_dim", m.mla->qk_rope_head_dim},
                {"v_head_dim", m.mla->v_head_dim}};
  }
  j["mtp_layers"] = m.mtp_layers;
  if (m.rumored) j["rumored"] = true;
  return j;
}

std::string human_bytes(double b) {
  return fmt::format("{:.1f} GiB", b / kGiB);
}

std::string human_count(double v) {
  if (v >= 1e12) return fmt::format("{:.2f}T", v / 1e12);
  if (v >= 1e9) return fmt::format("{:.2f}B", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  return fmt::format("{:.0f}", v);
}

}  // namespace

namespace {

// The scenario's GPU as the scenario parser reads it back: the built-in name when it is that
// entry unchanged; otherwise every field inline, with `base:` naming the built-in GPU whose
// calibration it carries (a renamed or --catalog GPU built on one), else none (a custom GPU reads
// back with the generic calibration, as it was given).
Json scenario_gpu_json(const GpuSpec& g) {
  // gpu_to_json is a catalog document: the entry under `gpus`, its calibration by name.
  const auto split = [](const GpuSpec& x) {
    Json doc = gpu_to_json(x);
    return std::pair<Json, Json>{doc["gpus"][0], doc["calibration"][x.name]};
  };
  const Catalog& cat = Catalog::builtin();
  auto [mine, cal] = split(g);
  for (const auto& b : cat.gpus()) {
    if (b.name == g.name && split(b) == std::pair<Json, Json>{mine, cal}) return g.name;  // names are unique
  }
  mine.erase("aliases");
  std::string base;
  for (const auto& b : cat.gpus()) {
    if (split(b).second == cal && (base.empty() || b.name == g.name)) base = b.name;
  }
  if (base.empty()) {
    // A calibration no built-in gpu has (a --catalog override): written out in full, over the
    // built-in gpu of the same name if there is one.
    for (const auto& b : cat.gpus()) {
      if (b.name == g.name) base = b.name;
    }
    mine["calibration"] = cal;
  }
  if (!base.empty()) mine["base"] = base;
  return mine;
}

}  // namespace

Json parallel_to_json(const ParallelConfig& p) {
  Json j = {{"tp", p.tp},
            {"pp", p.pp},
            {"vpp", p.vpp},
            {"cp", p.cp},
            {"ep", p.ep},
            {"dp", p.dp},
            {"micro_batch", p.micro_batch},
            {"sequence_parallel", p.sequence_parallel},
            {"recompute", to_string(p.recompute)},
            {"recompute_modules", recompute_module_list(p)},
            {"zero", p.zero},
            {"reshard_after_forward", p.reshard_after_forward || p.zero != 3},  // ZeRO-3 only
            {"allow_uneven_stages", p.allow_uneven_stages},
            {"cp_comm_type", to_string(p.cp_comm_type)},
            {"ep_dispatcher", to_string(p.ep_dispatcher)},
            {"overlap",
             {{"dp", p.overlap.dp},
              {"zero3", p.overlap.zero3},
              {"tp", p.overlap.tp},
              {"pp", p.overlap.pp},
              {"cp", p.overlap.cp},
              {"ep", p.overlap.ep}}}};
  if (p.first_stage_layers >= 0) j["first_stage_layers"] = p.first_stage_layers;
  if (p.last_stage_layers >= 0) j["last_stage_layers"] = p.last_stage_layers;
  return j;
}

Json scenario_to_json(const Scenario& s) {
  Json j;
  j["model"] = model_json(s.model);
  const auto& c = s.cluster;
  j["cluster"] = {{"gpu", scenario_gpu_json(c.gpu)},
                  {"num_gpus", c.num_gpus},
                  {"gpus_per_node", c.gpus_per_node},
                  {"scale_up_domain", c.scale_up_domain},
                  {"scale_up_gbytes_per_s", c.scale_up_gbytes_per_s},
                  {"nic_gbps", c.nic_gbps},
                  {"oversubscription", c.oversubscription},
                  {"topology", c.topology},
                  {"price_per_gpu_hour_usd", c.price_per_gpu_hour_usd},
                  {"pue", c.pue},
                  {"node_overhead_w_per_gpu", c.node_overhead_w_per_gpu}};
  j["parallel"] = parallel_to_json(s.parallel);
  const auto& t = s.training;
  j["training"] = {{"seq_len", t.seq_len},
                   {"global_batch", t.global_batch},
                   {"precision", to_string(t.precision)},
                   {"attention", to_string(t.attention)},
                   {"cross_entropy", to_string(t.cross_entropy)},
                   {"fp32_grads", t.fp32_grads},
                   {"tokens", t.tokens},
                   {"flops", t.flops}};
  return j;
}

Json estimate_to_json(const Scenario& s, const Estimate& e, bool with_scenario) {
  Json j;
  j["wanka_version"] = WANKA_VERSION;
  j["step_time_s"] = e.step_time.value;
  j["tokens_per_s"] = e.tokens_per_s;
  j["tokens_per_s_per_gpu"] = e.tokens_per_s_per_gpu;
  j["model_flops_per_token"] = e.model_flops_per_token;
  j["hardware_flops_per_token"] = e.hardware_flops_per_token;
  j["model_tflops_per_gpu"] = e.model_tflops_per_gpu;
  j["mfu"] = e.mfu;
  j["hfu"] = e.hfu;
  const auto& b = e.breakdown;
  j["breakdown_s"] = {{"compute", b.compute.value},     {"tp_comm", b.tp_comm.value},   {"cp_comm", b.cp_comm.value},
                      {"ep_comm", b.ep_comm.value},     {"pp_comm", b.pp_comm.value},   {"pp_bubble", b.pp_bubble.value},
                      {"dp_comm", b.dp_comm.value},     {"optimizer", b.optimizer.value}};
  j["breakdown_rank"] = b.rank;
  Json stages = Json::array();
  for (const auto& sm : e.memory.per_stage) {
    stages.push_back({{"stage", sm.stage},
                      {"layers", sm.layers},
                      {"params", sm.params},
                      {"weights_bytes", sm.weights.value},
                      {"gradients_bytes", sm.gradients.value},
                      {"optimizer_bytes", sm.optimizer.value},
                      {"activations_bytes", sm.activations.value},
                      {"temporary_bytes", sm.temporary.value},
                      {"total_bytes", sm.total.value},
                      {"peak_in_flight", sm.peak_in_flight}});
  }
  j["memory"] = {{"peak_bytes_per_gpu", e.memory.peak_bytes_per_gpu.value},
                 {"capacity_bytes_per_gpu", e.memory.capacity_bytes_per_gpu.value},
                 {"fits", e.memory.fits},
                 {"per_stage", stages}};
  if (e.run.defined) {
    j["run"] = {{"tokens", e.run.tokens},       {"flops", e.run.flops},         {"steps", e.run.steps},
                {"days", e.run.days},           {"gpu_hours", e.run.gpu_hours}, {"cost_usd", e.run.cost_usd},
                {"energy_mwh", e.run.energy_mwh}, {"avg_power_w_per_gpu", e.run.avg_power_w_per_gpu}};
  } else {
    j["run"] = nullptr;
  }
  j["params_total"] = e.params_total;
  j["params_active"] = e.params_active;
  j["micro_batches"] = e.micro_batches;
  j["ep_load_imbalance"] = e.ep_load_imbalance;
  if (with_scenario) j["scenario"] = scenario_to_json(s);
  return j;
}

std::string format_estimate(const Scenario& s, const Estimate& e) {
  std::string o;
  const auto& m = s.model;
  const auto& c = s.cluster;
  const auto& p = s.parallel;
  const auto& t = s.training;
  o += fmt::format("wanka {} — training estimate\n\n", WANKA_VERSION);
  o += fmt::format("  model     {}{}: {} params ({} active), {} layers{}, hidden {}, heads {}/{} kv\n", m.name,
                   m.rumored ? " (rumored architecture)" : "", human_count(e.params_total), human_count(e.params_active),
                   m.layers, m.mtp_layers > 0 ? fmt::format(" + {} multi-token prediction", m.mtp_layers) : "", m.hidden,
                   m.heads, m.kv_heads);
  o += fmt::format("  cluster   {} x {} ({} per node, scale-up domain {} at {:.0f} GB/s, NIC {:.0f} Gb/s{})\n", c.num_gpus,
                   c.gpu.name, c.gpus_per_node, c.scale_up_domain, c.scale_up_gbytes_per_s, c.nic_gbps,
                   c.oversubscription > 1 ? fmt::format(", {:.1f}:1 oversubscribed", c.oversubscription) : "");
  o += fmt::format("  parallel  TP{} PP{}{} CP{}{} EP{}{} DP{}, micro-batch {}, {} micro-batches/step, SP {}, recompute {}, ZeRO-{}{}\n",
                   p.tp, p.pp, p.vpp > 1 ? fmt::format(" (VPP{})", p.vpp) : "", p.cp,
                   p.cp > 1 && p.cp_comm_type == CpComm::kA2a ? " (a2a)" : "", p.ep,
                   p.ep > 1 ? fmt::format(" ({}busiest rank {:.3f}x the mean rows)",
                                          p.ep_dispatcher == EpDispatcher::kDeepEp ? "deepep, " : "", e.ep_load_imbalance)
                            : std::string(),
                   p.dp, p.micro_batch,
                   e.micro_batches, p.sequence_parallel ? "on" : "off",
                   p.recompute == Recompute::kSelective && p.recompute_modules != kRecomputeCoreAttn
                       ? fmt::format("selective ({})", fmt::join(recompute_module_list(p), ", "))
                       : std::string(to_string(p.recompute)),
                   p.zero,
                   p.zero == 3 && !p.reshard_after_forward ? " (no reshard after forward)" : "");
  const auto& ov = p.overlap;
  auto on = [](bool x) { return x ? "on" : "off"; };
  o += fmt::format("  overlap   dp {}, zero3 {}, tp {}, pp {}, cp {}, ep {} (communication hidden behind compute)\n", on(ov.dp),
                   on(ov.zero3), on(ov.tp), on(ov.pp),
                   p.cp > 1 && p.cp_comm_type == CpComm::kA2a ? "off (a2a: always exposed)" : on(ov.cp), on(ov.ep));
  o += fmt::format("  training  seq {}, global batch {} ({:.2f}M tokens), {}\n\n", t.seq_len, t.global_batch,
                   e.tokens_per_step / 1e6, to_string(t.precision));

  o += fmt::format("  step time        {:>10.3f} s\n", e.step_time.value);
  o += fmt::format("  tokens/s         {:>10.4g}   ({:.1f} per GPU)\n", e.tokens_per_s, e.tokens_per_s_per_gpu);
  o += fmt::format("  model TFLOP/s    {:>10.1f}   per GPU\n", e.model_tflops_per_gpu);
  o += fmt::format("  MFU / HFU        {:>9.1f}% / {:.1f}%\n\n", 100 * e.mfu, 100 * e.hfu);

  const auto& b = e.breakdown;
  o += s.parallel.pp > 1 ? fmt::format("  step breakdown (busiest pipeline rank: {} of 0-{})\n", b.rank, s.parallel.pp - 1)
                         : std::string("  step breakdown\n");
  const std::pair<const char*, Seconds> rows[] = {{"compute", b.compute}, {"tp_comm", b.tp_comm},
                                                  {"cp_comm", b.cp_comm}, {"ep_comm", b.ep_comm},
                                                  {"pp_comm", b.pp_comm}, {"pp_bubble", b.pp_bubble},
                                                  {"dp_comm", b.dp_comm}, {"optimizer", b.optimizer}};
  for (const auto& [name, v] : rows) {
    if (v.value <= 0 && std::string(name) != "compute") continue;
    o += fmt::format("    {:<12} {:>10.3f} s  {:>5.1f}%\n", name, v.value, 100 * v.value / e.step_time.value);
  }
  o += fmt::format("\n  memory per GPU (capacity {}): {}\n", human_bytes(e.memory.capacity_bytes_per_gpu.value),
                   e.memory.fits ? "fits" : "DOES NOT FIT");
  o += fmt::format("    {:>5} {:>6} {:>10} {:>10} {:>10} {:>11} {:>10} {:>10}\n", "stage", "layers", "weights", "grads",
                   "optimizer", "activations", "temp", "total");
  for (const auto& sm : e.memory.per_stage) {
    o += fmt::format("    {:>5} {:>6} {:>10} {:>10} {:>10} {:>11} {:>10} {:>10}\n", sm.stage, sm.layers,
                     human_bytes(sm.weights.value), human_bytes(sm.gradients.value), human_bytes(sm.optimizer.value),
                     human_bytes(sm.activations.value), human_bytes(sm.temporary.value), human_bytes(sm.total.value));
  }
  if (e.run.defined) {
    const auto& r = e.run;
    o += fmt::format("\n  run: {:.3g} tokens ({:.3g} FLOPs)\n", r.tokens, r.flops);
    o += fmt::format("    days       {:>12.1f}\n", r.days);
    o += fmt::format("    GPU-hours  {:>12.4g}\n", r.gpu_hours);
    o += fmt::format("    cost       {:>12.4g} USD  (at {:.2f} USD per GPU-hour)\n", r.cost_usd, c.price_per_gpu_hour_usd);
    o += fmt::format("    energy     {:>12.4g} MWh  ({:.0f} W per GPU incl. node share, PUE {:.2f})\n", r.energy_mwh,
                     r.avg_power_w_per_gpu, c.pue);
  }
  return o;
}

std::string format_gpu(const GpuSpec& g) {
  std::string o = fmt::format("{} — {}\n", g.name, g.description);
  if (!g.aliases.empty()) o += fmt::format("  aliases     {}\n", fmt::join(g.aliases, ", "));
  o += "  dense peak  ";
  for (const auto& [p, v] : g.peak_tflops) o += fmt::format("{} {} TFLOP/s  ", to_string(p), v);
  o += "\n";
  o += fmt::format("  HBM         {} GiB at {} TB/s\n", g.hbm_gib, g.hbm_tbps);
  o += fmt::format("  scale-up    {} {} GB/s per GPU (one direction), domain {}{}\n", g.scale_up_link,
                   g.scale_up_gbytes_per_s, g.scale_up_domain,
                   g.scale_up_mesh ? fmt::format(" (full mesh: {} peer links of {:.0f} GB/s)", g.scale_up_domain - 1,
                                                 g.scale_up_gbytes_per_s / std::max(1, g.scale_up_domain - 1))
                                   : std::string());
  o += fmt::format("  scale-out   {} Gb/s per GPU, {} GPUs per node\n", g.nic_gbps, g.gpus_per_node);
  o += fmt::format("  power       {} W TDP\n", g.tdp_w);
  o += fmt::format("  price       {} USD per GPU-hour, list {} USD ({})\n", g.price_per_gpu_hour_usd, g.list_price_usd,
                   g.price_source);
  o += fmt::format("  source      {}\n", g.source);
  if (!g.notes.empty()) o += fmt::format("  notes       {}\n", g.notes);
  const auto& c = g.calibration;
  o += "  calibration matmul efficiency ";
  for (const auto& [p, v] : c.matmul_efficiency) o += fmt::format("{} {:.3f}  ", to_string(p), v);
  o += fmt::format("\n              GEMM t0 {:.3g} us, HBM {:.2f}, attention fwd {:.2f} bwd {:.2f}, scale-up {:.2f}, scale-out {:.2f}\n",
                   c.gemm_overhead_s * 1e6, c.hbm_efficiency, c.attention_fwd_efficiency, c.attention_bwd_efficiency,
                   c.scale_up_efficiency, c.scale_out_efficiency);
  if (c.scale_up_nvls_efficiency > 0)
    o += fmt::format("              NVLS all-reduce: {:.3f} of the link as algorithm bandwidth, {:.1f} us latency\n",
                     c.scale_up_nvls_efficiency, c.scale_up_nvls_latency_s * 1e6);
  if (c.attention_fwd_half_seq > 0 || c.attention_bwd_half_seq > 0)
    o += fmt::format("              attention length curve: e * s / (s + half), half {:.0f} tokens forward, {:.0f} backward\n",
                     c.attention_fwd_half_seq, c.attention_bwd_half_seq);
  if (c.attention_full_fwd_efficiency > 0 || c.attention_full_bwd_efficiency > 0)
    o += fmt::format("              non-causal attention: fwd {:.3f} bwd {:.3f}{}\n",
                     c.attention_full_fwd_efficiency > 0 ? c.attention_full_fwd_efficiency : c.attention_fwd_efficiency,
                     c.attention_full_bwd_efficiency > 0 ? c.attention_full_bwd_efficiency : c.attention_bwd_efficiency,
                     c.attention_full_fwd_half_seq >= 0 || c.attention_full_bwd_half_seq >= 0
                         ? fmt::format(", half {:.0f} tokens forward, {:.0f} backward",
                                       c.attention_full_fwd_half_seq >= 0 ? c.attention_full_fwd_half_seq : c.attention_fwd_half_seq,
                                       c.attention_full_bwd_half_seq >= 0 ? c.attention_full_bwd_half_seq : c.attention_bwd_half_seq)
                         : std::string());
  o += fmt::format("              collective size curve: half bandwidth at {:.1f} MiB (scale-up, exponent {:.2f}), "
                   "{:.1f} MiB (scale-out, exponent {:.2f})\n",
                   c.scale_up_half_bytes / kMiB, c.scale_up_size_exponent, c.scale_out_half_bytes / kMiB,
                   c.scale_out_size_exponent);
  o += fmt::format("              basis: {}\n", c.basis);
  return o;
}

std::string format_model(const ModelSpec& m) {
  const ModelCounts mc = count_model(m, 4096);
  std::string o = fmt::format("{} — {}{}\n", m.name, m.description, m.rumored ? " [RUMORED architecture]" : "");
  if (!m.aliases.empty()) o += fmt::format("  aliases     {}\n", fmt::join(m.aliases, ", "));
  o += fmt::format("  shape       {} layers, hidden {}, {} heads ({} KV, head dim {}), FFN {} ({}), vocab {}\n", m.layers,
                   m.hidden, m.heads, m.kv_heads, m.head_dim, m.ffn_hidden, activation_name(m.activation), m.vocab);
  if (m.is_moe()) {
    o += fmt::format("  MoE         {} experts, top-{}, expert FFN {}, {} shared, first {} layers dense\n", m.moe.experts,
                     m.moe.top_k, m.moe.ffn_hidden, m.moe.shared, m.moe.dense_layers);
  }
  if (m.mla) o += fmt::format("  MLA         kv_lora_rank {}, q_lora_rank {}\n", m.mla->kv_lora_rank, m.mla->q_lora_rank);
  if (m.mtp_layers > 0) {
    o += fmt::format("  MTP         {} multi-token-prediction module{} ({} parameters, trained on the last pipeline stage; "
                     "not in the count below; serving ignores {})\n",
                     m.mtp_layers, m.mtp_layers > 1 ? "s" : "", human_count(mc.params_mtp), m.mtp_layers > 1 ? "them" : "it");
  }
  o += fmt::format("  parameters  {} counted ({} active per token){}\n", human_count(mc.params_total),
                   human_count(mc.params_active), m.params_b > 0 ? fmt::format("; published {}B", m.params_b) : "");
  o += fmt::format("  source      {}\n", m.source);
  if (!m.notes.empty()) o += fmt::format("  notes       {}\n", m.notes);
  return o;
}

namespace {
// Microseconds and MiB recovered from seconds and bytes, without the float noise of the
// conversion (25.6 rather than 25.599999999999994).
double tidy(double x) { return std::stod(fmt::format("{:.12g}", x)); }
}  // namespace

Json gpu_to_json(const GpuSpec& g) {
  Json j;
  j["name"] = g.name;
  j["aliases"] = g.aliases;
  j["vendor"] = g.vendor;
  j["description"] = g.description;
  j["source"] = g.source;
  if (!g.notes.empty()) j["notes"] = g.notes;
  Json peak = Json::object();
  for (const auto& [p, v] : g.peak_tflops) peak[to_string(p)] = v;
  j["peak_tflops"] = peak;
  j["hbm_gib"] = g.hbm_gib;
  j["hbm_tbps"] = g.hbm_tbps;
  j["scale_up"] = {{"link", g.scale_up_link},
                   {"gbytes_per_s", g.scale_up_gbytes_per_s},
                   {"domain", g.scale_up_domain},
                   {"mesh", g.scale_up_mesh},
                   {"nvls", g.scale_up_nvls}};
  j["nic_gbps"] = g.nic_gbps;
  j["host_gbytes_per_s"] = g.host_gbytes_per_s;
  j["gpus_per_node"] = g.gpus_per_node;
  j["tdp_w"] = g.tdp_w;
  j["price_per_gpu_hour_usd"] = g.price_per_gpu_hour_usd;
  j["list_price_usd"] = g.list_price_usd;
  j["price_source"] = g.price_source;
  j["year"] = g.year;
  const Calibration& c = g.calibration;
  Json mm = Json::object();
  for (const auto& [p, v] : c.matmul_efficiency) mm[to_string(p)] = v;
  // Unset optional figures (< 0: fall back to another field) are left out, as in the YAML.
  Json cal = {{"basis", c.basis},
              {"matmul_efficiency", mm},
              {"gemm_overhead_us", tidy(c.gemm_overhead_s * 1e6)},
              {"hbm_efficiency", c.hbm_efficiency},
              {"attention_fwd_efficiency", c.attention_fwd_efficiency},
              {"attention_bwd_efficiency", c.attention_bwd_efficiency},
              {"attention_fwd_half_seq", c.attention_fwd_half_seq},
              {"attention_bwd_half_seq", c.attention_bwd_half_seq},
              {"attention_hd64_factor", c.attention_hd64_factor},
              {"attention_hd256_factor", c.attention_hd256_factor}};
  const std::pair<const char*, double> optional[] = {
      {"attention_fa2_fwd_efficiency", c.attention_fa2_fwd_efficiency},
      {"attention_fa2_bwd_efficiency", c.attention_fa2_bwd_efficiency},
      {"attention_fa2_fwd_half_seq", c.attention_fa2_fwd_half_seq},
      {"attention_fa2_bwd_half_seq", c.attention_fa2_bwd_half_seq},
      {"attention_fa2_hd64_factor", c.attention_fa2_hd64_factor},
      {"attention_fa2_hd256_factor", c.attention_fa2_hd256_factor},
      {"attention_full_fwd_efficiency", c.attention_full_fwd_efficiency},
      {"attention_full_bwd_efficiency", c.attention_full_bwd_efficiency},
      {"attention_full_fwd_half_seq", c.attention_full_fwd_half_seq},
      {"attention_full_bwd_half_seq", c.attention_full_bwd_half_seq},
      {"attention_fa2_full_fwd_efficiency", c.attention_fa2_full_fwd_efficiency},
      {"attention_fa2_full_bwd_efficiency", c.attention_fa2_full_bwd_efficiency},
      {"attention_fa2_full_fwd_half_seq", c.attention_fa2_full_fwd_half_seq},
      {"attention_fa2_full_bwd_half_seq", c.attention_fa2_full_bwd_half_seq}};
  for (const auto& [k, v] : optional) {
    if (v >= 0) cal[k] = v;
  }
  cal["scale_up_efficiency"] = c.scale_up_efficiency;
  cal["scale_out_efficiency"] = c.scale_out_efficiency;
  cal["scale_up_latency_us"] = tidy(c.scale_up_latency_s * 1e6);
  cal["scale_out_latency_us"] = tidy(c.scale_out_latency_s * 1e6);
  cal["scale_up_half_mib"] = tidy(c.scale_up_half_bytes / kMiB);
  cal["scale_up_size_exponent"] = c.scale_up_size_exponent;
  cal["scale_up_nvls_efficiency"] = c.scale_up_nvls_efficiency;
  cal["scale_up_nvls_latency_us"] = tidy(c.scale_up_nvls_latency_s * 1e6);
  cal["scale_up_nvls_min_gpus"] = c.scale_up_nvls_min_gpus;
  cal["scale_out_half_mib"] = tidy(c.scale_out_half_bytes / kMiB);
  cal["scale_out_size_exponent"] = c.scale_out_size_exponent;
  // A catalog file (JSON is YAML): the gpu under `gpus`, its calibration under `calibration`.
  Json doc;
  doc["gpus"] = Json::array({j});
  doc["calibration"] = {{g.name, cal}};
  return doc;
}

Json model_to_json(const ModelSpec& m) {
  Json j = model_json(m);
  Json out;
  out["name"] = m.name;
  out["aliases"] = m.aliases;
  out["description"] = m.description;
  out["source"] = m.source;
  if (!m.notes.empty()) out["notes"] = m.notes;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "name") out[it.key()] = it.value();
  }
  out["params_b"] = m.params_b;
  out["rumored"] = m.rumored;
  Json doc;  // a catalog file (JSON is YAML)
  doc["models"] = Json::array({out});
  return doc;
}

Json catalog_to_json(const Catalog& c) {
  Json j;
  j["gpus"] = Json::array();
  for (const auto& g : c.gpus()) j["gpus"].push_back(g.name);
  j["models"] = Json::array();
  for (const auto& m : c.models()) j["models"].push_back(m.name);
  j["scale_up"] = Json::array();
  for (const auto& l : c.scale_up_links()) j["scale_up"].push_back(l.name);
  j["scale_out"] = Json::array();
  for (const auto& l : c.scale_out_links()) j["scale_out"].push_back(l.name);
  return j;
}

std::string format_catalog(const Catalog& c) {
  std::string o = "GPUs (wanka catalog gpu NAME):\n";
  for (const auto& g : c.gpus()) {
    const auto bf = g.peak_tflops.count(Precision::kBf16) ? g.peak_tflops.at(Precision::kBf16)
                                                          : (g.peak_tflops.count(Precision::kFp16) ? g.peak_tflops.at(Precision::kFp16) : 0.0);
    o += fmt::format("  {:<12} {:>7.0f} TFLOP/s 16-bit  {:>5.0f} GiB  {:>5.2f} TB/s  {}\n", g.name, bf, g.hbm_gib, g.hbm_tbps,
                     g.description);
  }
  o += "\nModels (wanka catalog model NAME):\n";
  for (const auto& m : c.models()) {
    o += fmt::format("  {:<16} {:>8.1f}B  {}{}\n", m.name, m.params_b, m.description, m.rumored ? " [rumored]" : "");
  }
  o += "\nScale-up links:\n";
  for (const auto& l : c.scale_up_links()) o += fmt::format("  {:<16} {:>6.0f} GB/s per GPU\n", l.name, l.gbytes_per_s);
  o += "\nScale-out networks (cluster.network):\n";
  for (const auto& l : c.scale_out_links()) o += fmt::format("  {:<16} {:>6.0f} Gb/s per GPU\n", l.name, l.gbps);
  return o;
}

}  // namespace wanka
