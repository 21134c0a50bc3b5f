// Speed targets (issue 2): one full estimate of Llama-3-405B on 16,384 H100 in <= 50 us on one
// core. Run: build/release/bench/wanka_bench --benchmark_filter=Estimate
#include <benchmark/benchmark.h>

#include "wanka/estimate.hpp"
#include "wanka/report.hpp"
#include "wanka/scenario.hpp"

namespace {

const wanka::Scenario& llama405b() {
  static const wanka::Scenario s =
      wanka::load_scenario_file(WANKA_SOURCE_DIR "/examples/llama3-405b-16k-h100.yaml");
  return s;
}

void BM_Estimate_Llama405B_16k_H100(benchmark::State& state) {
  const auto& s = llama405b();
  for (auto _ : state) {
    auto e = wanka::estimate(s);
    benchmark::DoNotOptimize(e.step_time);
  }
}
BENCHMARK(BM_Estimate_Llama405B_16k_H100)->Unit(benchmark::kMicrosecond);

void BM_Estimate_Default_Interleaved(benchmark::State& state) {
  const auto s = wanka::parse_scenario(wanka::default_scenario_yaml(), "<default>");
  for (auto _ : state) {
    auto e = wanka::estimate(s);
    benchmark::DoNotOptimize(e.step_time);
  }
}
BENCHMARK(BM_Estimate_Default_Interleaved)->Unit(benchmark::kMicrosecond);

void BM_ParseScenario(benchmark::State& state) {
  for (auto _ : state) {
    auto s = wanka::parse_scenario(wanka::default_scenario_yaml(), "<default>");
    benchmark::DoNotOptimize(s.parallel.dp);
  }
}
BENCHMARK(BM_ParseScenario)->Unit(benchmark::kMicrosecond);

void BM_EstimateToJson(benchmark::State& state) {
  const auto& s = llama405b();
  const auto e = wanka::estimate(s);
  for (auto _ : state) {
    auto j = wanka::estimate_to_json(s, e).dump();
    benchmark::DoNotOptimize(j.data());
  }
}
BENCHMARK(BM_EstimateToJson)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
