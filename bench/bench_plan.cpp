// Speed targets (issue 3), on the CI-class machine (2 cores), both cores used:
//   full search, Llama-3-405B on 16,384 H100, 8K sequences, 16M-token batch   <= 1 s
//   Calculon's README search: Turing-530B on 5,128 A100-80GB, batch 2,520, 2K  <= 0.35 s
//   scale curve of the default scenario from 1,024 to 131,072 GPUs             <= 10 s
// Run: build/release/bench/wanka_bench --benchmark_filter=Plan
#include <benchmark/benchmark.h>

#include "wanka/plan.hpp"
#include "wanka/scenario.hpp"

namespace {

wanka::Scenario draft(const char* yaml) { return wanka::parse_scenario_draft(yaml, "<bench>").scenario; }

void run_plan(benchmark::State& state, const wanka::Scenario& s) {
  wanka::PlanOptions o;
  o.threads = 2;
  std::uint64_t candidates = 0;
  for (auto _ : state) {
    const auto r = wanka::plan(s, o);
    candidates = r.candidates;
    benchmark::DoNotOptimize(r.plans.data());
  }
  state.counters["splits"] = double(candidates);
  state.counters["splits_per_s"] = benchmark::Counter(double(candidates) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_Plan_Llama405B_16kH100(benchmark::State& state) {
  run_plan(state, draft("model: llama3-405b\ncluster: {gpu: h100-sxm, num_gpus: 16384}\n"
                        "training: {seq_len: 8192, global_batch: 2048, tokens: 15.6e12}\n"));
}
BENCHMARK(BM_Plan_Llama405B_16kH100)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Plan_Turing530B_5128A100(benchmark::State& state) {
  run_plan(state, draft("model: mt-nlg-530b\ncluster: {gpu: a100-80g, num_gpus: 5128}\n"
                        "training: {seq_len: 2048, global_batch: 2520}\n"));
}
BENCHMARK(BM_Plan_Turing530B_5128A100)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PlanScale_Default_1k_to_131k(benchmark::State& state) {
  wanka::ScenarioDraft d = wanka::parse_scenario_draft(wanka::default_scenario_yaml(), "<default>");
  std::vector<std::int64_t> counts;
  for (std::int64_t n = 1024; n <= 131072; n *= 2) counts.push_back(n);
  wanka::PlanOptions o;
  o.threads = 2;
  for (auto _ : state) {
    const auto r = wanka::scale_curve(d.scenario, counts, o, false);
    benchmark::DoNotOptimize(r.points.data());
  }
}
BENCHMARK(BM_PlanScale_Default_1k_to_131k)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
