// Small deterministic random numbers shared by the simulators (reliability, cluster).
#pragma once

#include <cmath>
#include <cstdint>

namespace wanka::sim {

// SplitMix64 (Steele, Lea, Flood 2014): a small, fast generator whose output is the same on
// every platform (std:: distributions are not), so a seeded run is byte-identical everywhere.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double exp1() { return -std::log1p(-uniform()); }                            // mean 1
  // Standard normal by Box-Muller (one of the pair; two uniforms per draw).
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

}  // namespace wanka::sim
