#include "wanka/accelerator.hpp"

#include <algorithm>
#include <cmath>

namespace wanka {

namespace {
// Log-linear in the head dimension between the calibrated points 64, 128 (factor 1) and 256,
// constant outside them.
double head_dim_factor(double d, double f64, double f256) {
  if (d <= 0) return 1.0;
  const double x = std::log2(d / 128.0);
  if (x <= -1.0) return f64;
  if (x >= 1.0) return f256;
  return x < 0 ? 1.0 + (1.0 - f64) * x : 1.0 + (f256 - 1.0) * x;
}
}  // namespace

Accelerator::Accelerator(const GpuSpec& spec, Precision gemm_precision, AttentionKernel attention, double head_dim) {
  const Calibration& c = spec.calibration;
  peak_ = spec.peak(gemm_precision);
  // The 16-bit type attention and wide GEMMs run in: fp16 in an fp16 run, else bf16 where the
  // GPU has it (FP8 recipes keep those parts in bf16), else fp16.
  const bool has_bf16 = spec.peak_tflops.count(Precision::kBf16) != 0;
  const Precision p16 = gemm_precision == Precision::kFp16 || !has_bf16 ? Precision::kFp16 : Precision::kBf16;
  peak16_ = spec.peak(p16);
  // Efficiency for the dtype; fp16 shares bf16's tensor-core path, and a dtype with no
  // measurement falls back to the bf16 figure (documented in data/calibration).
  auto eff = [&](Precision p) {
    if (auto it = c.matmul_efficiency.find(p); it != c.matmul_efficiency.end()) return it->second;
    if (auto it = c.matmul_efficiency.find(Precision::kBf16); it != c.matmul_efficiency.end()) return it->second;
    return 0.75;
  };
  e_mm_ = eff(gemm_precision);
  e_mm16_ = eff(p16);
  const bool fa2 = attention == AttentionKernel::kFlash2;
  e_attn_fwd_ = fa2 && c.attention_fa2_fwd_efficiency > 0 ? c.attention_fa2_fwd_efficiency : c.attention_fwd_efficiency;
  e_attn_bwd_ = fa2 && c.attention_fa2_bwd_efficiency > 0 ? c.attention_fa2_bwd_efficiency : c.attention_bwd_efficiency;
  half_fwd_ = fa2 && c.attention_fa2_fwd_half_seq >= 0 ? c.attention_fa2_fwd_half_seq : c.attention_fwd_half_seq;
  half_bwd_ = fa2 && c.attention_fa2_bwd_half_seq >= 0 ? c.attention_fa2_bwd_half_seq : c.attention_bwd_half_seq;
  // Non-causal calls: the same kernel family's full-mask figures, else its causal ones. The FA2
  // family is used only where the GPU has an FA2 entry (else flash2 equals flash).
  const bool fa2_family = fa2 && c.attention_fa2_fwd_efficiency > 0;
  auto full = [](double v, double causal, double cut) { return v >= cut ? v : causal; };
  e_full_fwd_ = full(fa2_family ? c.attention_fa2_full_fwd_efficiency : c.attention_full_fwd_efficiency, e_attn_fwd_, 0.01);
  e_full_bwd_ = full(fa2_family ? c.attention_fa2_full_bwd_efficiency : c.attention_full_bwd_efficiency, e_attn_bwd_, 0.01);
  half_full_fwd_ = full(fa2_family ? c.attention_fa2_full_fwd_half_seq : c.attention_full_fwd_half_seq, half_fwd_, 0.0);
  half_full_bwd_ = full(fa2_family ? c.attention_fa2_full_bwd_half_seq : c.attention_full_bwd_half_seq, half_bwd_, 0.0);
  // Head dimension (FlashAttention-3 paper series at 64, 128, 256): a smaller head does less
  // matmul work per softmax element, so the non-matmul share (exponentials) grows.
  const double f64 = fa2 && c.attention_fa2_hd64_factor > 0 ? c.attention_fa2_hd64_factor : c.attention_hd64_factor;
  const double f256 = fa2 && c.attention_fa2_hd256_factor > 0 ? c.attention_fa2_hd256_factor : c.attention_hd256_factor;
  const double hd = head_dim_factor(head_dim, f64, f256);
  e_attn_fwd_ *= hd;
  e_attn_bwd_ *= hd;
  e_full_fwd_ *= hd;
  e_full_bwd_ *= hd;
  hbm_ = BytesPerSecond(spec.hbm_bandwidth().value * c.hbm_efficiency);
  t0_ = Seconds(c.gemm_overhead_s);
  in_bytes_ = gemm_precision == Precision::kFp8 ? 1.0 : (gemm_precision == Precision::kFp4 ? 0.5 : 2.0);
}

Seconds Accelerator::gemm(double m, double n, double k) const { return gemm_grouped(1, m, n, k); }

Seconds Accelerator::gemm_grouped(double groups, double m, double n, double k) const {
  return gemm_at(false, groups, m, n, k);
}

Seconds Accelerator::gemm_at(bool wide, double groups, double m, double n, double k) const {
  if (groups <= 0 || m <= 0 || n <= 0 || k <= 0) return Seconds(0);
  wide = wide && in_bytes_ < 2.0;  // 16-bit GEMM precisions run wide GEMMs as they are
  // A grouped GEMM (MoE experts: `groups` independent weights, one launch) streams every group's
  // operands and pays one fixed cost.
  const Flops f(groups * 2.0 * m * n * k);
  const Bytes b(groups * ((wide ? 2.0 : in_bytes_) * (m * k + k * n) + 2.0 * m * n));
  // Additive (no overlap of operand streaming with math): reproduces the cuBLASLt A100 FP16
  // shape rows of calibration.csv within 3 % (4096^3 .. 16384^3, 6144x12288x12288), where
  // max(compute, memory) is 5-30 % optimistic for small-K shapes. See docs/model.md.
  return f / (wide ? peak16_ * e_mm16_ : peak_ * e_mm_) + b / hbm_ + t0_;
}

Seconds Accelerator::gemm_fwd(const Gemm& g) const { return gemm_at(g.wide, 1, g.m, g.n, g.k) * g.count; }

Seconds Accelerator::gemm_bwd(const Gemm& g) const {
  // dgrad: dX[m,k] = dY[m,n] W^T[n,k]; wgrad: dW[k,n] = X^T[k,m] dY[m,n], written as a 16-bit
  // gradient (training.fp32_grads adds the fp32 accumulation traffic in src/train/estimate.cpp).
  return (gemm_at(g.wide, 1, g.m, g.k, g.n) + gemm_at(g.wide, 1, g.k, g.n, g.m)) * g.count;
}

// The sequence-length curve e(s) = e_inf * s / (s + half) fits the FlashAttention-3 paper's
// forward and backward series on H100 (Shah et al. 2024, Figs. 4-6; calibration.yaml) within
// 0.6-4.6 % (worst point per series) from 512 to 16K tokens: per query block a kernel pays a
// fixed prologue/epilogue and the partly masked diagonal tile, amortised over the s keys it sweeps.
// Non-causal calls have their own fit of the same form (the same paper's full-mask series).
Seconds Accelerator::attention_fwd(Flops f, double span, AttentionMask mask) const {
  const bool c = mask == AttentionMask::kCausal;
  return f / (peak16_ * (c ? e_attn_fwd_ : e_full_fwd_)) * (1.0 + (c ? half_fwd_ : half_full_fwd_) / span);
}

Seconds Accelerator::attention_bwd(Flops fwd, double span, AttentionMask mask) const {
  // FlashAttention-2 backward: 5 matmuls against 2 in forward (Dao 2023, §3.1.2).
  const bool c = mask == AttentionMask::kCausal;
  return (fwd * 2.5) / (peak16_ * (c ? e_attn_bwd_ : e_full_bwd_)) * (1.0 + (c ? half_bwd_ : half_full_bwd_) / span);
}

Seconds Accelerator::memory_bound(Bytes b) const { return b / hbm_; }

}  // namespace wanka
