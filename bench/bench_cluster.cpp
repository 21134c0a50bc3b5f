// Speed targets (issue 6): the event engine sustains >= 5 million events per second; replaying
// the whole 82,247-job Philly trace takes <= 2 s under any one policy and <= 15 s for all
// policies side by side, on this machine. The Philly cluster is the one of docs/validation.md
// (92 nodes x 8 GPUs, racks of 8 nodes, strict placement), where jobs queue; parsing is outside the timed loop.
// Run: build/release/bench/wanka_bench --benchmark_filter=Cluster
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "wanka/cluster.hpp"
#include "wanka/sim.hpp"

namespace {

namespace cl = wanka::cluster;

// The engine alone: `in_flight` pending events; each one handled schedules the next at a
// pseudo-random later time (a linear congruential step), so the heap stays at that size.
class Ping final : public wanka::sim::Process {
 public:
  void on_event(wanka::sim::Engine& e, std::uint64_t payload) override {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    if (++handled_ < limit_) e.schedule(e.now() + 1 + static_cast<wanka::SimTime>(state_ >> 54), 0, payload);
  }
  std::uint64_t handled_ = 0, limit_ = 0, state_ = 1;
};

void ClusterEngineEvents(benchmark::State& state) {
  const auto in_flight = static_cast<std::uint64_t>(state.range(0));
  constexpr std::uint64_t kEvents = 2'000'000;
  for (auto _ : state) {
    wanka::sim::Engine e;
    Ping p;
    p.limit_ = kEvents;
    e.add(&p);
    for (std::uint64_t i = 0; i < in_flight; ++i) e.schedule(static_cast<wanka::SimTime>(i), 0, i);
    benchmark::DoNotOptimize(e.run());
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(kEvents), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(ClusterEngineEvents)->Arg(64)->Arg(4096)->Unit(benchmark::kMillisecond);

const std::string kPhilly = WANKA_SOURCE_DIR "/../shared/data/traces/philly-pollux/philly.csv";

const cl::Workload& philly() {
  static const cl::Workload w = cl::read_trace(kPhilly, cl::TraceFormat::kPhilly);
  return w;
}

cl::ClusterSpec philly_cluster() {
  cl::ClusterSpec c;
  c.pools.push_back(cl::GpuPool{"v100", 92, 8, 1.0});
  c.nodes_per_rack = 8;
  c.placement = cl::Placement::kStrict;
  return c;
}

void ClusterPhilly(benchmark::State& state) {
  if (!std::filesystem::exists(kPhilly)) {
    state.SkipWithError("no ../shared/data/traces/philly-pollux/philly.csv");
    return;
  }
  const auto names = cl::policy_names();
  const std::string name = names[static_cast<std::size_t>(state.range(0))];
  state.SetLabel(name);
  const cl::SimOptions o;
  const auto c = philly_cluster();
  double events = 0;
  for (auto _ : state) {
    const auto p = cl::make_policy(name, o, philly(), c);
    const auto r = cl::simulate(philly(), c, *p, o);
    events = static_cast<double>(r.events);
    benchmark::DoNotOptimize(r.avg_jct_s);
  }
  state.counters["events"] = events;
}
BENCHMARK(ClusterPhilly)->DenseRange(0, 7)->Unit(benchmark::kMillisecond);

// Every policy on the same workload in one call (threads: all cores).
void ClusterPhillyAllPolicies(benchmark::State& state) {
  if (!std::filesystem::exists(kPhilly)) {
    state.SkipWithError("no ../shared/data/traces/philly-pollux/philly.csv");
    return;
  }
  const cl::SimOptions o;
  const auto c = philly_cluster();
  for (auto _ : state) benchmark::DoNotOptimize(cl::compare(philly(), c, cl::policy_names(), o, 0).size());
}
BENCHMARK(ClusterPhillyAllPolicies)->Unit(benchmark::kMillisecond);

// Reading and parsing the trace (82,247 lines).
void ClusterPhillyParse(benchmark::State& state) {
  if (!std::filesystem::exists(kPhilly)) {
    state.SkipWithError("no ../shared/data/traces/philly-pollux/philly.csv");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(cl::read_trace(kPhilly, cl::TraceFormat::kPhilly).jobs.size());
}
BENCHMARK(ClusterPhillyParse)->Unit(benchmark::kMillisecond);

}  // namespace
