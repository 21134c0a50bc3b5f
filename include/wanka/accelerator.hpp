// Operation time on one accelerator: a roofline (Williams, Waterman & Patterson 2009) scaled by
// efficiencies measured with microbenchmarks (data/calibration/calibration.yaml):
//   t_gemm = F / (P_dtype * e_mm) + B / (BW * e_hbm) + t_0
// where t_0 is the per-GEMM fixed cost fitted to small-shape GEMM measurements.
#pragma once

#include "wanka/catalog.hpp"
#include "wanka/model.hpp"
#include "wanka/scenario.hpp"
#include "wanka/units.hpp"

namespace wanka {

// Causal calls compute the lower triangle of the score matrix; full (non-causal) calls all of it,
// e.g. the off-diagonal ring steps of context parallelism. FLOPs are those actually computed.
enum class AttentionMask { kCausal, kFull };

class Accelerator {
 public:
  // `head_dim`: the query/key head size fused attention runs at (its efficiency depends on it).
  Accelerator(const GpuSpec& spec, Precision gemm_precision, AttentionKernel attention = AttentionKernel::kFlash,
              double head_dim = 128);

  Seconds gemm(double m, double n, double k) const;          // one GEMM
  Seconds gemm_grouped(double groups, double m, double n, double k) const;  // one launch, `groups` weights
  Seconds gemm_fwd(const Gemm& g) const;                     // forward, `count` times (16-bit when g.wide)
  Seconds gemm_bwd(const Gemm& g) const;                     // dgrad + wgrad
  // Fused attention of `f` forward FLOPs whose kernel calls each span `span` keys (the
  // sequence, or the chunk of one call): f / (P16 e) * (1 + half / span), with the mask's own
  // e and half; span = infinity gives the long-sequence rate.
  Seconds attention_fwd(Flops f, double span, AttentionMask mask = AttentionMask::kCausal) const;
  Seconds attention_bwd(Flops fwd_flops, double span,  // 2.5x forward FLOPs (FA2 §3.1)
                        AttentionMask mask = AttentionMask::kCausal) const;
  double attention_fwd_half_seq() const { return half_fwd_; }
  Seconds memory_bound(Bytes b) const;
  Seconds gemm_flops_time(Flops f) const { return f / (peak16_ * e_mm_); }  // batched bmm at GEMM rate
  BytesPerSecond achievable_hbm() const { return hbm_; }
  FlopsPerSecond dense_peak() const { return peak_; }        // at the GEMM precision
  FlopsPerSecond bf16_peak() const { return peak16_; }
  // Serving (src/serve): a GEMM given its FLOPs and bytes moved, when operands have different
  // precisions (int4/fp8 weights, 16-bit activations); the same calibrated roofline as gemm().
  FlopsPerSecond achievable_matmul() const { return peak_ * e_mm_; }
  Seconds gemm_overhead() const { return t0_; }

 private:
  // One GEMM at the GEMM precision or (wide) in 16 bits.
  Seconds gemm_at(bool wide, double groups, double m, double n, double k) const;

  FlopsPerSecond peak_;      // GEMM precision peak
  FlopsPerSecond peak16_;    // bf16/fp16 peak (attention runs in 16 bit)
  double e_mm_;
  double e_mm16_;            // matmul efficiency in 16 bits (Gemm::wide)
  double e_attn_fwd_, e_attn_bwd_;
  double half_fwd_, half_bwd_;  // attention sequence-length curve (tokens; 0 = none)
  double e_full_fwd_, e_full_bwd_, half_full_fwd_, half_full_bwd_;  // non-causal calls
  BytesPerSecond hbm_;
  Seconds t0_;
  double in_bytes_;          // bytes per GEMM input element
};

}  // namespace wanka
