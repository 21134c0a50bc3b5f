// Cross-rack slowdown per job size from the training estimator (docs/model.md §18.1).
#include <fmt/format.h>

#include <numeric>
#include <set>

#include "wanka/catalog.hpp"
#include "wanka/cluster.hpp"
#include "wanka/error.hpp"
#include "wanka/estimate.hpp"
#include "wanka/scenario.hpp"

namespace wanka::cluster {

// A job of g GPUs is taken to be data-parallel training of `model` (TP = PP = 1, one sequence of
// 2,048 tokens per GPU per step) on the first pool's GPU type. Spanning racks puts its gradient
// all-reduce across the oversubscribed tier: slowdown(g) = step time with the scale-out
// bandwidth divided by `oversubscription` / step time without, both from estimate() (which
// overlaps the all-reduce with the backward pass, so only exposed communication counts). GPUs
// share a scale-up domain of gcd(g, G) for g > G (whole nodes), and none (1) for g <= G: such
// a job spans racks only when spread one GPU per node.
std::map<int, double> estimated_rack_slowdowns(const Workload& w, const ClusterSpec& c, const std::string& model,
                                               double oversubscription) {
  if (!(oversubscription >= 1 && oversubscription <= 64))
    throw InputError("--rack-oversubscription", "must be in [1, 64]");
  std::set<int> sizes;
  for (const Job& j : w.jobs)
    if (j.gpus > 1) sizes.insert(j.gpus);
  const int G = c.pools.front().gpus_per_node;
  const GpuSpec& gpu = Catalog::builtin().gpu(c.pools.front().gpu);  // InputError for an unknown type
  const char* precision = gpu.peak_tflops.count(Precision::kBf16) ? "bf16" : "fp16";  // V100: fp16
  std::map<int, double> out;
  for (int g : sizes) {
    const int domain = g > G ? std::gcd(g, G) : 1;
    auto step_s = [&](double oversub) {
      const std::string yaml = fmt::format(
          "model: {{name: {}}}\n"
          "cluster: {{gpu: {}, num_gpus: {}, gpus_per_node: {}, scale_up_domain: {}, oversubscription: {}}}\n"
          "parallel: {{tp: 1, pp: 1, vpp: 1, cp: 1, ep: 1, dp: {}, micro_batch: 1}}\n"
          "training: {{seq_len: 2048, global_batch: {}, precision: {}}}\n",
          model, c.pools.front().gpu, g, domain, domain, oversub, g, g, precision);
      try {
        return estimate(parse_scenario(yaml, "<rack slowdown>")).step_time.value;
      } catch (const InputError& e) {
        throw InputError("--slowdown-model", fmt::format("{} on {} x {}: {}", model, g, c.pools.front().gpu, e.what()));
      }
    };
    out[g] = step_s(oversubscription) / step_s(1.0);
  }
  return out;
}

}  // namespace wanka::cluster
