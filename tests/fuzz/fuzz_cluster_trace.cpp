// libFuzzer target for the cluster trace readers (generic CSV, Philly, Tiresias) and, for inputs
// that parse into a small workload, a replay under every policy: any input must end in a result
// or an InputError, never a crash, hang or other exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "wanka/cluster.hpp"
#include "wanka/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  namespace cl = wanka::cluster;
  const auto format = static_cast<cl::TraceFormat>(data[0] % 4 == 1 ? 3 : data[0] % 4);  // no Pollux: it reads files
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const cl::Workload w = cl::parse_trace(text, format, "<fuzz>");
    if (w.jobs.size() > 64) return 0;
    for (const auto& j : w.jobs)
      if (j.submit_s > 1e9 || j.duration_s > 1e9) return 0;  // keep a replay short
    cl::ClusterSpec c;
    c.pools.push_back(cl::GpuPool{"v100", 2, 4, 1.0});
    c.nodes_per_rack = 1;
    cl::SimOptions o;
    (void)cl::compare(w, c, cl::policy_names(), o, 1);
  } catch (const wanka::InputError&) {
  }
  return 0;
}
