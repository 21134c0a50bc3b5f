// Speed targets (issue 5) on this machine: simulate 1,000,000 requests of Llama-3-70B on
// 8 H100 (one TP8 replica) in <= 5 s, and one capacity search (all replica shapes and batch
// caps for one SLO) in <= 2 s.
// Run: build/release/bench/wanka_bench --benchmark_filter=Serve
#include <benchmark/benchmark.h>

#include <string>

#include "wanka/serve.hpp"

namespace {

// Chat-like lengths (close to the Azure 2023 conversation trace: input mean 1,155, output
// mean 211) at a Poisson rate below the replica's saturation, or all at once (offline).
wanka::ServeScenario llama70b(long requests, bool offline) {
  return wanka::parse_serve_scenario(
      "model: {name: llama3-70b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\nparallel: {tp: 8}\n"
      "serving: {input_len: {dist: lognormal, mean: 1024, stddev: 1024, max: 8192},"
      " output_len: {dist: lognormal, mean: 256, stddev: 256, max: 2048}, requests: " +
          std::to_string(requests) + (offline ? ", offline: true" : ", arrival_rate_per_s: 8") +
          ", max_batch: 256, slo: {ttft_s: 1, tpot_s: 0.05}}\n",
      "<bench>");
}

void BM_ServeMillionRequests(benchmark::State& state) {
  const wanka::ServeScenario s = llama70b(1000000, state.range(0) != 0);
  double iterations = 0, tps = 0;
  for (auto _ : state) {
    const wanka::ServeResult r = wanka::simulate_serving(s);
    iterations = static_cast<double>(r.iterations);
    tps = r.output_tokens_per_s;
    benchmark::DoNotOptimize(r.e2e_s.p99);
  }
  state.counters["iterations"] = iterations;
  state.counters["output_tokens_per_s"] = tps;
}
BENCHMARK(BM_ServeMillionRequests)->Arg(0)->Arg(1)->Unit(benchmark::kSecond)->Iterations(1);

void BM_ServeCapacitySearch(benchmark::State& state) {
  wanka::ServeScenario s = wanka::parse_serve_scenario(
      "model: {name: llama3-70b}\ncluster: {gpu: h100-sxm, num_gpus: 8}\n"
      "serving: {input_len: 1024, output_len: 256, slo: {ttft_s: 1, tpot_s: 0.05}}\n"
      "capacity: {users: 1000000, requests_per_user_per_hour: 1}\n",
      "<bench>");
  double sims = 0;
  for (auto _ : state) {
    const wanka::CapacityResult c = wanka::plan_capacity(s);
    sims = c.simulations;
    benchmark::DoNotOptimize(c.gpus);
  }
  state.counters["simulations"] = sims;
}
BENCHMARK(BM_ServeCapacitySearch)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
