// Physical quantities with their unit in the type. Values are SI base units held in a double:
// seconds, bytes, floating-point operations, and their rates. Simulated time is an integer
// count of nanoseconds (SimTime) so that event ordering is exact and deterministic.
#pragma once

#include <cmath>
#include <compare>
#include <cstdint>

namespace wanka {

template <class Tag>
struct Quantity {
  double value = 0.0;

  constexpr Quantity() = default;
  constexpr explicit Quantity(double v) : value(v) {}

  constexpr Quantity operator+(Quantity o) const { return Quantity(value + o.value); }
  constexpr Quantity operator-(Quantity o) const { return Quantity(value - o.value); }
  constexpr Quantity& operator+=(Quantity o) { value += o.value; return *this; }
  constexpr Quantity& operator-=(Quantity o) { value -= o.value; return *this; }
  constexpr Quantity operator*(double k) const { return Quantity(value * k); }
  constexpr Quantity operator/(double k) const { return Quantity(value / k); }
  constexpr double operator/(Quantity o) const { return value / o.value; }
  constexpr auto operator<=>(const Quantity&) const = default;
};

template <class Tag>
constexpr Quantity<Tag> operator*(double k, Quantity<Tag> q) { return q * k; }

using Seconds = Quantity<struct SecondsTag>;
using Bytes = Quantity<struct BytesTag>;
using Flops = Quantity<struct FlopsTag>;
using FlopsPerSecond = Quantity<struct FlopsPerSecondTag>;
using BytesPerSecond = Quantity<struct BytesPerSecondTag>;
using Watts = Quantity<struct WattsTag>;

constexpr Seconds operator/(Flops f, FlopsPerSecond r) { return Seconds(f.value / r.value); }
constexpr Seconds operator/(Bytes b, BytesPerSecond r) { return Seconds(b.value / r.value); }
constexpr Bytes operator*(BytesPerSecond r, Seconds t) { return Bytes(r.value * t.value); }

constexpr Seconds max(Seconds a, Seconds b) { return a.value >= b.value ? a : b; }
constexpr Seconds min(Seconds a, Seconds b) { return a.value <= b.value ? a : b; }

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kTera = 1e12;
constexpr double kGiga = 1e9;

// Simulated time: integer nanoseconds.
using SimTime = std::int64_t;
// The clock's range: 2^62 ns, about 146 years. A duration or an event time beyond it is refused
// (sim_time_range_error), so that the sum of two in-range times cannot overflow.
inline constexpr SimTime kMaxSimTime = SimTime(1) << 62;
[[noreturn]] void sim_time_range_error(double seconds);
// Rounds half away from zero like std::llround, without the libm call (the planner converts
// millions of stage times). A time outside the clock's range (or NaN) is an InputError: it
// comes from hardware too slow or a run too long for the simulators.
constexpr SimTime to_sim_time(Seconds s) {
  const double ns = s.value * 1e9;
  if (!(ns < double(kMaxSimTime) && ns > -double(kMaxSimTime))) sim_time_range_error(s.value);
  return ns >= 0 ? static_cast<SimTime>(ns + 0.5) : -static_cast<SimTime>(-ns + 0.5);
}
constexpr Seconds from_sim_time(SimTime t) { return Seconds(static_cast<double>(t) * 1e-9); }

}  // namespace wanka
