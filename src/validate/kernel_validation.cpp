// Kernel-level validation: each microbenchmark row of data/validation/kernels.csv (built by
// tools/curate_kernels.py from ../shared/data/validation/calibration.csv) is asked of the
// operation models of src/hw and src/net (docs/model.md §4-5): a GEMM of the row's shape and
// precision, a fused attention of its size and kernel class, a memory-bound stream, a
// collective of its size on its GPU count, an expert-parallel all-to-all. The calibration constants
// come from a few of these rows (calibration.yaml names them); the others test the functional
// form at shapes it was not derived from.
#include <fmt/format.h>

#include <map>

#include "train/step_model.hpp"
#include "wanka/accelerator.hpp"
#include "wanka/collective.hpp"
#include "wanka/error.hpp"
#include "wanka/scenario.hpp"
#include "wanka/validate.hpp"

namespace wanka {

namespace {

double number(std::map<std::string, std::string>& r, const char* key) {
  const std::string& s = r[key];
  if (s.empty()) throw InputError(key, "missing");
  return positive_number(s, key);
}

}  // namespace

ValidationReport run_kernel_validation(const std::string& csv_text) {
  const std::string text = csv_text.empty() ? std::string(embedded_file("kernels.csv")) : csv_text;
  const Catalog& cat = Catalog::builtin();
  return evaluate_csv(text, [&cat](std::map<std::string, std::string>& r, ValidationRow& v) {
    const GpuSpec& gpu = cat.gpu(r["gpu"]);
    const std::string& kind = r["kind"];
    if (kind == "gemm") {
      const auto p = parse_precision(r["precision"]);
      if (!p) throw InputError("precision", "unknown precision '" + r["precision"] + "'");
      const Accelerator acc(gpu, *p);
      const double g = number(r, "groups"), m = number(r, "m"), n = number(r, "n"), k = number(r, "k");
      v.predicted = g * 2.0 * m * n * k / acc.gemm_grouped(g, m, n, k).value / 1e12;
    } else if (kind == "attention_fwd" || kind == "attention_bwd") {
      const AttentionKernel kernel = r["attention"] == "flash2" ? AttentionKernel::kFlash2 : AttentionKernel::kFlash;
      const Accelerator acc(gpu, Precision::kBf16, kernel, number(r, "head_dim"));
      const double s = number(r, "seq_len");
      // FlashAttention benchmark convention: forward 4 b s^2 H d, halved when causal.
      const Flops fwd(4.0 * number(r, "batch") * s * s * number(r, "heads") * number(r, "head_dim") *
                      (r["causal"] == "true" ? 0.5 : 1.0));
      const AttentionMask mask = r["causal"] == "true" ? AttentionMask::kCausal : AttentionMask::kFull;
      v.predicted = kind == "attention_fwd" ? fwd.value / acc.attention_fwd(fwd, s, mask).value / 1e12
                                            : 2.5 * fwd.value / acc.attention_bwd(fwd, s, mask).value / 1e12;
    } else if (kind == "hbm") {
      const Accelerator acc(gpu, Precision::kBf16);
      const Bytes b(1e12);
      v.predicted = b.value / acc.memory_bound(b).value / 1e12;
    } else if (kind == "all_reduce" || kind == "all_gather" || kind == "reduce_scatter" || kind == "p2p" ||
               kind == "all_to_all") {
      // The catalog's cluster of this GPU (scale-up domain, links, NIC), the row's GPU count
      // and NIC rate when it crosses nodes; the fabric and placement the estimator uses.
      const double n = number(r, "num_gpus");
      ClusterConfig cl = default_cluster(gpu, static_cast<std::int64_t>(n));
      if (!r["nic_gbps"].empty()) cl.nic_gbps = number(r, "nic_gbps");
      Fabric fab = detail::make_fabric(cl);
      if (r["nvls"] == "off") fab.scale_up.nvls_bandwidth = BytesPerSecond(0);  // NCCL_NVLS_ENABLE=0
      const Bytes b(number(r, "bytes"));
      const Group grp = place_group(static_cast<long>(n), 1, cl.scale_up_domain);
      if (kind == "p2p") {
        // One transfer inside the scale-up domain (pipeline-parallel activations).
        v.predicted = b.value / p2p(b, false, fab).value / 1e9;
      } else if (kind == "all_to_all") {
        // MoE dispatch/combine of `bytes` per rank (DeepEP): its time, or the bytes the model
        // sends over the bottleneck link (the NIC when the group spans domains, else the
        // scale-up link) over that time, as DeepEP reports bandwidth.
        const Seconds t = all_to_all(b, grp, fab);
        const double k = double(grp.local);
        const double link_bytes = b.value * (grp.domains() > 1 ? (n - k) / n : (k - 1.0) / n);
        v.predicted = r["metric"] == "latency_us" ? t.value * 1e6 : link_bytes / t.value / 1e9;
      } else {
        const Seconds t = kind == "all_reduce"   ? all_reduce(b, grp, fab)
                          : kind == "all_gather" ? all_gather(b, grp, fab)
                                                 : reduce_scatter(b, grp, fab);
        // nccl-tests bus bandwidth: all-reduce 2(n-1)/n S/t, all-gather and reduce-scatter (n-1)/n S/t.
        v.predicted = (kind == "all_reduce" ? 2.0 : 1.0) * (n - 1) / n * b.value / t.value / 1e9;
      }
    } else {
      throw InputError("kind", "unknown kernel kind '" + kind + "'");
    }
  });
}

}  // namespace wanka
