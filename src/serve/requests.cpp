// Request streams for the serving simulator: seeded draws (Poisson arrivals or all at t = 0,
// lengths fixed or from a distribution) or a trace file. Trace formats: a CSV of
// arrival_s,input_tokens,output_tokens (header optional); the Azure LLM inference trace 2023
// (TIMESTAMP,ContextTokens,GeneratedTokens; Patel et al., Splitwise, ISCA '24); the Mooncake
// JSONL traces (timestamp in ms, input_length, output_length; Qin et al., FAST '25).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "wanka/error.hpp"
#include "wanka/io.hpp"
#include "wanka/serve.hpp"

namespace wanka {

const char* to_string(LengthDist::Kind k) {
  switch (k) {
    case LengthDist::Kind::kFixed: return "fixed";
    case LengthDist::Kind::kUniform: return "uniform";
    case LengthDist::Kind::kNormal: return "normal";
    case LengthDist::Kind::kLognormal: return "lognormal";
    case LengthDist::Kind::kExponential: return "exponential";
  }
  return "?";
}

long LengthDist::upper() const {
  if (kind == Kind::kFixed) return std::max(1L, static_cast<long>(std::llround(mean)));
  if (max > 0) return max;
  return std::max(1L, static_cast<long>(std::ceil(4.0 * mean)));
}

namespace {

long draw(const LengthDist& d, std::mt19937_64& rng) {
  double x = d.mean;
  switch (d.kind) {
    case LengthDist::Kind::kFixed: return d.upper();
    case LengthDist::Kind::kUniform: {
      std::uniform_int_distribution<long> u(d.min, d.upper());
      return u(rng);
    }
    case LengthDist::Kind::kNormal: x = std::normal_distribution<double>(d.mean, d.stddev)(rng); break;
    case LengthDist::Kind::kLognormal: {
      // Parameters of the underlying normal from the mean m and standard deviation s:
      // sigma^2 = ln(1 + s^2/m^2), mu = ln m - sigma^2/2.
      const double s2 = std::log(1.0 + d.stddev * d.stddev / (d.mean * d.mean));
      x = std::lognormal_distribution<double>(std::log(d.mean) - s2 / 2, std::sqrt(s2))(rng);
      break;
    }
    case LengthDist::Kind::kExponential: x = std::exponential_distribution<double>(1.0 / d.mean)(rng); break;
  }
  return std::clamp(static_cast<long>(std::llround(x)), d.min, d.upper());
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
long days_from_civil(long y, long m, long d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const long yoe = y - era * 400;
  const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool parse_number(std::string_view s, double& out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(out);
}

// "2023-11-16 18:15:46.6805900" -> seconds since the epoch.
bool parse_timestamp(std::string_view s, double& out) {
  int y = 0, mo = 0, d = 0, hh = 0, mm = 0;
  double sec = 0;
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':') return false;
  auto num = [&](std::size_t at, std::size_t len, int& v) {
    const auto r = std::from_chars(s.data() + at, s.data() + at + len, v);
    return r.ec == std::errc() && r.ptr == s.data() + at + len;
  };
  if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, hh) || !num(14, 2, mm)) return false;
  if (!parse_number(s.substr(17), sec)) return false;
  // Days per month, February by the Gregorian leap rule.
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || hh > 23 || mm > 59 || sec < 0 || sec >= 61) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d < 1 || d > kDays[mo - 1] + (mo == 2 && leap ? 1 : 0)) return false;
  out = double(days_from_civil(y, mo, d)) * 86400.0 + hh * 3600.0 + mm * 60.0 + sec;
  return true;
}

std::vector<std::string_view> split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == sep) {
      out.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

constexpr double kMaxTokens = 1e7;

}  // namespace

std::vector<RequestSpec> parse_trace(const std::string& text, const std::string& origin) {
  std::vector<RequestSpec> out;
  enum class Fmt { kUnknown, kCsv, kAzure, kJsonl } fmt = Fmt::kUnknown;
  std::istringstream in(text);
  std::string line;
  long lineno = 0;
  auto fail = [&](const std::string& why) {
    throw InputError("serving.trace", origin + ":" + std::to_string(lineno) + ": " + why);
  };
  auto check_lengths = [&](double input, double output) {
    if (!(input >= 1 && input <= kMaxTokens && input == std::floor(input))) fail("input length must be an integer in [1, 1e7]");
    if (!(output >= 1 && output <= kMaxTokens && output == std::floor(output))) fail("output length must be an integer in [1, 1e7]");
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineno == 1) line.erase(0, utf8_bom_length(line));
    if (line.empty() || line[0] == '#') continue;
    if (fmt == Fmt::kUnknown) {
      if (line[0] == '{') {
        fmt = Fmt::kJsonl;
      } else if (line.rfind("TIMESTAMP,", 0) == 0) {
        fmt = Fmt::kAzure;
        continue;
      } else {
        fmt = Fmt::kCsv;
        // A header line has no number in any field; a line with some is data (a malformed first
        // data line is reported, not skipped as a header).
        double x = 0;
        bool any_number = false;
        for (const auto field : split(line, ',')) any_number = any_number || parse_number(field, x);
        if (!any_number) continue;
      }
    }
    RequestSpec r;
    double t = 0, input = 0, output = 0;
    if (fmt == Fmt::kJsonl) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        fail("malformed JSON line");
      }
      auto get = [&](const char* k, double& v) {
        if (!j.is_object() || !j.contains(k) || !j[k].is_number()) fail(std::string("missing or non-numeric '") + k + "'");
        v = j[k].get<double>();
      };
      get("timestamp", t);
      get("input_length", input);
      get("output_length", output);
      t /= 1000.0;
    } else {
      const auto f = split(line, ',');
      if (f.size() < 3) fail("expected 3 comma-separated fields (arrival_s,input_tokens,output_tokens), got " + std::to_string(f.size()));
      if (fmt == Fmt::kAzure ? !parse_timestamp(f[0], t) : !parse_number(f[0], t)) fail("cannot parse arrival time '" + std::string(f[0]) + "'");
      if (!parse_number(f[1], input)) fail("cannot parse input length '" + std::string(f[1]) + "'");
      if (!parse_number(f[2], output)) fail("cannot parse output length '" + std::string(f[2]) + "'");
    }
    if (!std::isfinite(t)) fail("arrival time is not finite");
    // Azure rows with 0 generated tokens exist; a request produces at least one token.
    if (fmt == Fmt::kAzure && output == 0) output = 1;
    check_lengths(input, output);
    r.arrival_s = t;
    r.input = static_cast<long>(input);
    r.output = static_cast<long>(output);
    out.push_back(r);
  }
  if (out.empty()) throw InputError("serving.trace", origin + ": no requests");
  // Times relative to the first arrival, in arrival order (stable for equal times).
  std::stable_sort(out.begin(), out.end(), [](const RequestSpec& a, const RequestSpec& b) { return a.arrival_s < b.arrival_s; });
  const double t0 = out.front().arrival_s;
  for (auto& r : out) r.arrival_s -= t0;
  if (out.back().arrival_s > 1e8) throw InputError("serving.trace", origin + ": spans more than 1e8 s");
  return out;
}

std::vector<RequestSpec> make_requests(const ServingConfig& sv) {
  if (!sv.trace.empty()) {
    std::vector<RequestSpec> out = parse_trace(read_text_file(sv.trace, "serving.trace", "trace file"), sv.trace);
    if (out.back().arrival_s * sv.trace_time_scale > 1e9) {
      throw InputError("serving.trace_time_scale", fmt::format("stretches the trace's {:.3g} s to {:.3g} s, more than 1e9 s",
                                                               out.back().arrival_s, out.back().arrival_s * sv.trace_time_scale));
    }
    for (auto& r : out) r.arrival_s *= sv.trace_time_scale;
    return out;
  }
  std::vector<RequestSpec> out(static_cast<std::size_t>(sv.requests));
  std::mt19937_64 rng(sv.seed);
  std::exponential_distribution<double> gap(sv.offline ? 1.0 : sv.arrival_rate_per_s);
  double t = 0;
  for (auto& r : out) {
    // Poisson arrivals: exponential gaps at the rate; offline: the whole batch at t = 0.
    if (!sv.offline) t += gap(rng);
    r.arrival_s = t;
    r.input = draw(sv.input_len, rng);
    r.output = draw(sv.output_len, rng);
  }
  return out;
}

}  // namespace wanka
