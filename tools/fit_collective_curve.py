#!/usr/bin/env python3
"""Fits the message-size curve of collective bandwidth (data/calibration/calibration.yaml,
*_half_mib and *_size_exponent) from the all-reduce sweeps in calibration.csv.

busbw(S) / busbw_large = 1 / (1 + (half / S)^exponent); least squares of
log(busbw_large / busbw(S) - 1) against log S over the points with 0.1 <= ratio <= 0.95.
busbw_large is the largest bus bandwidth of the sweep.

Usage: tools/fit_collective_curve.py [../shared/data/validation/calibration.csv]
"""
import csv
import math
import re
import sys

UNITS = {'B': 1, 'KB': 1024, 'KiB': 1024, 'MB': 1024**2, 'MiB': 1024**2, 'GB': 1024**3, 'GiB': 1024**3}


def message_size(text):
    m = re.search(r'([\d.]+)\s*(B|KB|KiB|MB|MiB|GB|GiB)\b', text)
    if not m:
        return None
    v, u = float(m.group(1)), m.group(2)
    if u in ('KB', 'MB', 'GB'):
        # Decimal labels of power-of-two sweeps (Azure: '134MB' is 2^27 B): the nearest power of two.
        return 2 ** round(math.log2(v * {'KB': 1e3, 'MB': 1e6, 'GB': 1e9}[u]))
    return int(v * UNITS[u])


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else '../shared/data/validation/calibration.csv'
    sweeps = {}
    for r in csv.DictReader(open(path)):
        if r['metric'] != 'allreduce_busbw':
            continue
        s = message_size(r['model']) or message_size(r['other'])
        if s is None:
            continue
        key = (r['source'][:48], r['gpu_type'][:40], r['num_gpus'])
        sweeps.setdefault(key, []).append((s, float(r['value'])))
    for key, pts in sorted(sweeps.items()):
        if len(pts) < 8:
            continue
        large = max(b for _, b in pts)
        xy = [(math.log(s), math.log(large / b - 1)) for s, b in pts if 0.1 <= b / large <= 0.95]
        n = len(xy)
        mx = sum(x for x, _ in xy) / n
        my = sum(y for _, y in xy) / n
        slope = sum((x - mx) * (y - my) for x, y in xy) / sum((x - mx) ** 2 for x, _ in xy)
        exponent = -slope
        half = math.exp((my - slope * mx) / exponent)
        print(f'{key[1]:40s} n={key[2]:>3s}  busbw_large {large:7.1f} GB/s  half {half / 2**20:6.1f} MiB  '
              f'exponent {exponent:.2f}  ({n} points)  [{key[0]}]')


if __name__ == '__main__':
    main()
