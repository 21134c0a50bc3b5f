// Serving validation (issue 5): each curated row of data/validation/inference.csv (built by
// tools/curate_inference.py from ../shared/data/validation/inference.csv) becomes a serving
// scenario; its simulated throughput or latency is compared with the published figure.
#include <fmt/format.h>

#include <map>

#include "wanka/error.hpp"
#include "wanka/serve.hpp"
#include "wanka/validate.hpp"

namespace wanka {

namespace {

std::string row_yaml(std::map<std::string, std::string>& r) {
  const std::string model = r["model_spec"].empty() ? "{name: " + r["model"] + "}" : r["model_spec"];
  return fmt::format(
      "model: {}\ncluster: {{gpu: {}, num_gpus: {}}}\nparallel: {{tp: {}, pp: {}, ep: {}}}\n"
      "serving: {{input_len: {}, output_len: {}, requests: {}, offline: true, max_batch: {}, max_batch_tokens: {},"
      " weight_precision: {}, kv_precision: {}, kv_pool: {}, decode_kv_reads: {}, attention_dp: {}}}\n",
      model, r["gpu"], r["num_gpus"], r["tp"], r["pp"], r["ep"].empty() ? "1" : r["ep"], r["input_len"], r["output_len"], r["requests"], r["max_batch"],
      r["max_batch_tokens"], r["weight_precision"], r["kv_precision"], r["kv_pool"].empty() ? "vllm" : r["kv_pool"],
      r["decode_kv_reads"].empty() ? "per_kv_head" : r["decode_kv_reads"], r["attention_dp"].empty() ? "false" : r["attention_dp"]);
}

}  // namespace

ValidationReport run_serve_validation(const std::string& csv_text) {
  const std::string text = csv_text.empty() ? std::string(embedded_file("inference.csv")) : csv_text;
  return evaluate_csv(text, [](std::map<std::string, std::string>& r, ValidationRow& v) {
    // Latency and throughput rows of one source are summarised apart.
    if (v.metric == "ttft_s" || v.metric == "e2e_s") v.source += " latency";
    const ServeScenario s = parse_serve_scenario(row_yaml(r), v.id);
    v.scenario = s.base;
    const ServeResult res = simulate_serving(s);
    if (v.metric == "output_tokens_per_s") v.predicted = res.output_tokens_per_s;
    else if (v.metric == "output_tokens_per_s_per_gpu") v.predicted = res.output_tokens_per_s_per_gpu;
    else if (v.metric == "ttft_s") v.predicted = res.ttft_s.mean;
    else if (v.metric == "e2e_s") v.predicted = res.e2e_s.mean;
    else throw InputError("metric", "unsupported metric '" + v.metric + "'");
  });
}

}  // namespace wanka
