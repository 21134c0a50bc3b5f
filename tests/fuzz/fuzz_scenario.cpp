// libFuzzer target for the scenario parser (and, for inputs that parse, the estimator), the
// serving block, the trace reader and the catalog-file (--catalog) parser:
// any input must end in a result or an InputError, never a crash, hang or other exception.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "wanka/catalog.hpp"
#include "wanka/error.hpp"
#include "wanka/estimate.hpp"
#include "wanka/reliability.hpp"
#include "wanka/scenario.hpp"
#include "wanka/serve.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const wanka::Scenario s = wanka::parse_scenario(text, "<fuzz>");
    const wanka::Estimate e = wanka::estimate(s);
    // The reliability Monte Carlo too, when the input's failure count keeps it quick.
    wanka::Scenario r = s;
    r.reliability.runs = std::min(r.reliability.runs, 3);
    const double tokens = r.reliability.tokens > 0 ? r.reliability.tokens : r.training.tokens;
    const double horizon = r.reliability.days > 0 ? r.reliability.days * 86400
                           : (tokens > 0 && e.tokens_per_s > 0) ? 100 * tokens / e.tokens_per_s : 0;
    if (horizon > 0 && wanka::job_failure_rates(r).total_per_s * horizon < 2e4) {
      wanka::ReliabilityOptions o;
      o.sweep = false;
      o.threads = 1;
      (void)wanka::simulate_reliability(r, e, o);
    }
  } catch (const wanka::InputError&) {
    // bad input, reported with a field: the expected outcome
  }
  // The serving block (issue 5), simulated when small, and the same bytes as a trace file.
  try {
    wanka::ServeScenario sv = wanka::parse_serve_scenario(text, "<fuzz>");
    sv.serving.trace.clear();  // no file reads driven by fuzz input
    sv.serving.requests = std::min(sv.serving.requests, 20L);
    if (sv.replicas() <= 16 && sv.serving.input_len.upper() + sv.serving.output_len.upper() <= 20000) {
      (void)wanka::simulate_serving(sv);
    }
  } catch (const wanka::InputError&) {
  }
  try {
    (void)wanka::parse_trace(text, "<fuzz>");
  } catch (const wanka::InputError&) {
  }
  // The same bytes as a --catalog file: a catalog that loads must give an estimate of the
  // default scenario (Llama-3-70B on H100, whose entries it may override) or an InputError.
  // Only inputs that name a catalog section: copying the built-in catalog for every input
  // would slow the fuzzer down for the other targets' inputs.
  const bool catalog_like = text.find("gpus") != std::string::npos || text.find("models") != std::string::npos ||
                            text.find("calibration") != std::string::npos || text.find("scale_") != std::string::npos;
  if (catalog_like) {
    try {
      const wanka::Catalog cat = wanka::Catalog::with_overrides_text(text, "<fuzz>");
      (void)wanka::estimate(wanka::parse_scenario(wanka::default_scenario_yaml(), "<default>", {}, cat));
    } catch (const wanka::InputError&) {
    }
  }
  return 0;
}
