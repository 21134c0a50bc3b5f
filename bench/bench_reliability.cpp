// Speed targets (issue 4): 1,000 Monte Carlo runs of a 54-day job on 16,384 GPUs in <= 1 s, and
// of a 90-day job on 100,000 GPUs (98,304 = 12,288 nodes of 8) in <= 5 s, on this machine (all
// cores; results do not depend on the thread count). The interval is fixed, so each iteration
// is exactly one Monte Carlo of 1,000 runs (no interval sweep).
// Run: build/release/bench/wanka_bench --benchmark_filter=Reliability
#include <benchmark/benchmark.h>

#include <string>

#include "wanka/estimate.hpp"
#include "wanka/reliability.hpp"
#include "wanka/scenario.hpp"

namespace {

wanka::Scenario llama405b(long gpus, double days) {
  wanka::Scenario s = wanka::load_scenario_file(
      WANKA_SOURCE_DIR "/examples/llama3-405b-16k-h100.yaml",
      {{"cluster.num_gpus", std::to_string(gpus)}, {"parallel.dp", std::to_string(gpus / 128)},
       {"training.global_batch", std::to_string(gpus / 8)},
       {"reliability.days", std::to_string(days)}, {"reliability.runs", "1000"},
       {"reliability.checkpoint.interval_s", "300"}});
  return s;
}

void run(benchmark::State& state, long gpus, double days) {
  const wanka::Scenario s = llama405b(gpus, days);
  const wanka::Estimate e = wanka::estimate(s);
  wanka::ReliabilityOptions o;
  o.sweep = false;
  o.threads = static_cast<int>(state.range(0));
  double interruptions = 0, events = 0;
  for (auto _ : state) {
    const auto r = wanka::simulate_reliability(s, e, o);
    interruptions = r.interruptions.mean;
    events = static_cast<double>(r.events);
    benchmark::DoNotOptimize(r.ettr.p50);
  }
  state.counters["interruptions_per_run"] = interruptions;
  state.counters["events_per_s"] = benchmark::Counter(events, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Reliability_1000runs_16k_54d(benchmark::State& state) { run(state, 16384, 54); }
BENCHMARK(BM_Reliability_1000runs_16k_54d)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Reliability_1000runs_98k_90d(benchmark::State& state) { run(state, 98304, 90); }
BENCHMARK(BM_Reliability_1000runs_98k_90d)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
