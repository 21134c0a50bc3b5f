#!/usr/bin/env python3
"""Fits the sequence-length curve of fused attention (data/calibration/calibration.yaml,
attention_*_efficiency and attention_*_half_seq) from the FlashAttention-3 paper's H100 series
in calibration.csv (16-bit, batch x sequence = 16K tokens): the curve at head dim 128, and the
factors at head dims 64 and 256 (ratios of e_inf to head dim 128).

    TFLOP/s(s) = P16 * e_inf * s / (s + half)   <=>   1/TFLOP/s = 1/(P16 e_inf) + half/(P16 e_inf) * 1/s

a least-squares line of 1/TFLOP/s against 1/s per series (kernel, direction, mask). The backward
figure does not state its mask; as before it is read as non-causal, and the causal backward is
derived from it with the forward's causal/non-causal difference: e_inf scaled by the forward's
e_inf ratio, half increased by the forward's half difference (the masked diagonal tile is a fixed
cost per query block, the same in both directions).

Usage: tools/fit_attention_curve.py [../shared/data/validation/calibration.csv]
"""
import csv
import os
import re
import sys

P16 = 989.4  # H100 SXM dense BF16 TFLOP/s (catalog)


def fit(points):
    xs = [1.0 / s for s, _ in points]
    ys = [1.0 / t for _, t in points]
    n = len(points)
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    e_inf, half = 1.0 / a / P16, b / a
    worst = max(abs(P16 * e_inf * s / (s + half) / t - 1) for s, t in points)
    return e_inf, half, worst


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "shared", "data", "validation",
                                                                 "calibration.csv")
    series = {}
    for x in csv.DictReader(open(src, newline="")):
        if "FlashAttention-3 paper" not in x["source"] or not x["precision"].startswith("FP16"):
            continue
        hd = int(re.search(r"head_dim=(\d+)", x["other"]).group(1))
        kernel = re.search(r"\((.*)\)", x["model"]).group(1)
        if x["metric"] == "attention_backward_tflops":
            key = (kernel, "bwd", "full", hd)
        elif "inferred causal" in x["other"]:
            key = (kernel, "fwd", "causal", hd)
        elif "inferred non-causal" in x["other"]:
            key = (kernel, "fwd", "full", hd)
        else:
            continue
        series.setdefault(key, []).append((int(x["seq_len"]), float(x["value"])))
    fits = {}
    for key, pts in sorted(series.items()):
        pts.sort()
        e, h, w = fit(pts)
        fits[key] = (e, h)
        print(f"{key[0]:>18} {key[1]} {key[2]:>6} d{key[3]:<3}: e_inf {e:.3f}  half {h:4.0f} tokens  "
              f"worst point {w * 100:.1f} %  ({len(pts)} points, {pts[0][0]}-{pts[-1][0]})")
    # Head-dimension factors relative to 128 on e_inf, from whichever mask the paper charts at
    # that head dimension (64: non-causal forward; 256: causal forward).
    for kernel in sorted({k[0] for k in fits}):
        for d, mask in ((64, "full"), (256, "causal")):
            if (kernel, "fwd", mask, d) in fits and (kernel, "fwd", mask, 128) in fits:
                print(f"{kernel:>18} head dim {d}: factor {fits[(kernel, 'fwd', mask, d)][0] / fits[(kernel, 'fwd', mask, 128)][0]:.3f}"
                      f" ({mask} forward e_inf ratio)")
    fits = {k[:3]: v for k, v in fits.items() if k[3] == 128}
    for kernel in sorted({k[0] for k in fits}):
        try:
            ec, hc = fits[(kernel, "fwd", "causal")]
            ef, hf = fits[(kernel, "fwd", "full")]
            eb, hb = fits[(kernel, "bwd", "full")]
        except KeyError:
            continue
        print(f"{kernel:>18} causal: fwd e_inf {ec:.3f} half {hc:.0f}; bwd e_inf {eb * ec / ef:.3f} "
              f"half {hb + hc - hf:.0f}")


if __name__ == "__main__":
    main()
