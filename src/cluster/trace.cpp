// Trace readers (Philly, Pollux, Tiresias, generic CSV) and the synthetic workload generator.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "sim/rng.hpp"
#include "wanka/cluster.hpp"
#include "wanka/error.hpp"
#include "wanka/io.hpp"

namespace wanka::cluster {

namespace {

// A comma-separated table with a header line. No quoting: none of the traces needs it. It keeps
// views into `text`, which must outlive it.
// Blank lines and lines starting with '#' are skipped.
class Table {
 public:
  Table(std::string_view text, std::string name) : name_(std::move(name)) {
    std::size_t at = utf8_bom_length(text), line = 0;
    while (at < text.size()) {
      std::size_t end = text.find('\n', at);
      if (end == std::string_view::npos) end = text.size();
      std::string_view l = text.substr(at, end - at);
      at = end + 1;
      ++line;
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      if (l.empty() || l.front() == '#') continue;
      std::vector<std::string_view> f;
      for (std::size_t s = 0;;) {
        const std::size_t c = l.find(',', s);
        f.push_back(l.substr(s, c == std::string_view::npos ? std::string_view::npos : c - s));
        if (c == std::string_view::npos) break;
        s = c + 1;
      }
      if (header_.empty()) {
        for (std::size_t i = 0; i < f.size(); ++i) header_.emplace_back(f[i]);
        continue;
      }
      if (f.size() != header_.size())
        throw InputError(fmt::format("{}:{}", name_, line),
                         fmt::format("{} fields, the header has {}", f.size(), header_.size()));
      rows_.push_back(std::move(f));
      lines_.push_back(line);
    }
    if (header_.empty()) throw InputError(name_, "empty trace (no header line)");
  }
  // Column index; InputError naming the file when required and absent; -1 when optional.
  int col(const std::string& name, bool required = true) const {
    for (std::size_t i = 0; i < header_.size(); ++i)
      if (header_[i] == name) return static_cast<int>(i);
    if (required) throw InputError(name_, "missing column '" + name + "' in the header");
    return -1;
  }
  std::size_t rows() const { return rows_.size(); }
  std::size_t line(std::size_t r) const { return lines_[r]; }
  const std::vector<std::string>& header() const { return header_; }
  std::string_view str(std::size_t r, int c) const { return rows_[r][c]; }
  double num(std::size_t r, int c) const {
    const std::string_view v = rows_[r][c];
    double x = 0;
    const auto res = std::from_chars(v.data(), v.data() + v.size(), x);
    if (v.empty() || res.ec != std::errc() || res.ptr != v.data() + v.size() || !std::isfinite(x))
      throw error(r, c, "expected a number, got '" + std::string(v) + "'");
    return x;
  }
  InputError error(std::size_t r, int c, const std::string& msg) const {
    return InputError(fmt::format("{}:{}", name_, lines_[r]), header_[c] + ": " + msg);
  }

 private:
  std::string name_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string_view>> rows_;
  std::vector<std::size_t> lines_;
};

int gpu_count(const Table& t, std::size_t r, int c) {
  const double g = t.num(r, c);
  if (g < 1 || g != std::floor(g) || g > 1e7) throw t.error(r, c, fmt::format("{} is not a GPU count in [1, 1e7]", g));
  return static_cast<int>(g);
}

double duration(const Table& t, std::size_t r, int c) {
  const double d = t.num(r, c);
  if (d < 0) throw t.error(r, c, fmt::format("{} is negative", d));
  return d;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
long days_from_civil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}

// "2017-10-09 07:01:55" -> seconds since the epoch.
double parse_timestamp(const Table& t, std::size_t r, int c) {
  const std::string v(t.str(r, c));
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char tail = 0;
  if (std::sscanf(v.c_str(), "%d-%d-%d %d:%d:%d%c", &y, &mo, &d, &h, &mi, &s, &tail) != 6 || mo < 1 || mo > 12 || d < 1 ||
      d > 31 || h > 23 || mi > 59 || s > 60 || h < 0 || mi < 0 || s < 0)
    throw t.error(r, c, "expected YYYY-MM-DD HH:MM:SS, got '" + v + "'");
  return static_cast<double>(days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d))) * 86400.0 +
         h * 3600.0 + mi * 60.0 + s;
}

// Pollux throughput profile of one application (adaptdl osdi21-artifact, simulator/traces/<app>):
// placements.csv gives the step time per placement (GPUs per node, as digits) and local batch
// size; scalability.csv covers larger placements by (num_nodes, num_replicas); validation-B.csv
// the iterations needed at batch size B to reach the final progress (every B file ends at the
// same progress: the run to the application's target).
struct Profile {  // one placement: (local batch, step time, sync time) points
  std::vector<std::array<double, 3>> pts;
  double max_local() const {
    double m = 0;
    for (const auto& p : pts) m = std::max(m, p[0]);
    return m;
  }
  // Step and sync time at local batch x, linear between the measured batches, clamped outside.
  std::array<double, 2> at(double x) const {
    auto v = pts;
    std::sort(v.begin(), v.end());
    if (x <= v.front()[0]) return {v.front()[1], v.front()[2]};
    if (x >= v.back()[0]) return {v.back()[1], v.back()[2]};
    std::size_t i = 1;
    while (v[i][0] < x) ++i;
    const double f = (x - v[i - 1][0]) / (v[i][0] - v[i - 1][0]);
    return {v[i - 1][1] + f * (v[i][1] - v[i - 1][1]), v[i - 1][2] + f * (v[i][2] - v[i - 1][2])};
  }
};

struct PolluxApp {
  std::map<std::string, Profile> placement;           // placement id ("44") -> profile
  std::map<std::pair<int, int>, Profile> scal;        // (nodes, replicas) -> profile
  std::map<int, double> iterations;                   // global batch -> iterations to the end
};

PolluxApp load_pollux_app(const std::string& dir, const std::string& app) {
  namespace fs = std::filesystem;
  const fs::path base = fs::path(dir) / app;
  if (!fs::is_directory(base))
    throw InputError("--pollux-profiles", "no throughput profile for application '" + app + "' in '" + dir + "'");
  PolluxApp a;
  {
    const std::string path = (base / "placements.csv").string(), text = read_text_file(path, "--pollux-profiles");
    const Table t(text, path);
    const int p = t.col("placement"), b = t.col("local_bsz"), s = t.col("step_time"), y = t.col("sync_time");
    for (std::size_t r = 0; r < t.rows(); ++r)
      a.placement[std::string(t.str(r, p))].pts.push_back({t.num(r, b), t.num(r, s), t.num(r, y)});
  }
  {
    const std::string path = (base / "scalability.csv").string(), text = read_text_file(path, "--pollux-profiles");
    const Table t(text, path);
    const int n = t.col("num_nodes"), rp = t.col("num_replicas"), b = t.col("local_bsz"), s = t.col("step_time"),
              y = t.col("sync_time");
    // A few rows have no step time (yolov3 at 16 nodes): not measured, skipped.
    for (std::size_t r = 0; r < t.rows(); ++r)
      if (!t.str(r, s).empty() && !t.str(r, y).empty())
        a.scal[{static_cast<int>(t.num(r, n)), static_cast<int>(t.num(r, rp))}].pts.push_back(
            {t.num(r, b), t.num(r, s), t.num(r, y)});
  }
  for (const auto& e : fs::directory_iterator(base)) {
    const std::string f = e.path().filename().string();
    if (f.rfind("validation-", 0) != 0 || e.path().extension() != ".csv") continue;
    const int batch = std::atoi(f.c_str() + 11);
    const std::string text = read_text_file(e.path().string(), "--pollux-profiles");
    const Table t(text, e.path().string());
    if (t.rows() == 0) continue;
    a.iterations[batch] = t.num(t.rows() - 1, t.col("iteration"));
  }
  return a;
}

// Iteration time of a global batch `batch` over `replicas` GPUs on one profiled placement. As in
// Pollux's simulator, times are linear in the local batch between profiled ones, and a local
// batch above the largest profiled one is reached by gradient accumulation: s micro-steps of
// batch / replicas / s each cost step + (s - 1) x (step - sync).
double iteration_s(const Profile& prof, int replicas, int batch) {
  const double local = static_cast<double>(batch) / replicas;
  const double steps = std::ceil(local / prof.max_local());
  const auto [step, sync] = prof.at(local / steps);
  return step + (steps - 1) * (step - sync);
}

// Run time of a fixed-batch job (Pollux's "TunedJobs" baseline setting): iterations at batch B
// times the iteration time of `replicas` GPUs packed on 4-GPU nodes (the profiled testbed:
// placement "r mod 4" then r/4 fours). Also fills the job's speed on every other profiled
// placement of r GPUs (Job::placement_speed), relative to that packed one.
void pollux_job(const PolluxApp& a, int batch, const std::string& where, Job& j) {
  const int replicas = j.gpus;
  const auto it = a.iterations.find(batch);
  if (it == a.iterations.end()) throw InputError(where, fmt::format("batch_size: no validation profile for {}", batch));
  std::string id = replicas % 4 ? std::to_string(replicas % 4) : "";
  id += std::string(static_cast<std::size_t>(replicas / 4), '4');
  const Profile* prof = nullptr;
  if (const auto p = a.placement.find(id); p != a.placement.end()) prof = &p->second;
  else if (const auto s = a.scal.find({(replicas + 3) / 4, replicas}); s != a.scal.end()) prof = &s->second;
  if (prof == nullptr || prof->pts.empty())
    throw InputError(where, fmt::format("num_replicas: no throughput profile for {} replicas", replicas));
  const double base = iteration_s(*prof, replicas, batch);
  j.duration_s = it->second * base;
  for (const auto& [pid, p] : a.placement) {
    int sum = 0;
    for (char ch : pid) sum += ch - '0';
    if (sum == replicas && !p.pts.empty()) j.placement_speed[pid] = base / iteration_s(p, replicas, batch);
  }
  for (const auto& [key, p] : a.scal)
    if (key.second == replicas && !p.pts.empty())
      j.placement_speed.emplace(fmt::format("n{}", key.first), base / iteration_s(p, replicas, batch));
}

}  // namespace

TraceFormat parse_trace_format(const std::string& name) {
  if (name == "philly") return TraceFormat::kPhilly;
  if (name == "pollux") return TraceFormat::kPollux;
  if (name == "tiresias") return TraceFormat::kTiresias;
  if (name == "csv") return TraceFormat::kCsv;
  throw InputError("--format", unknown_name_message("trace format", name, {"philly", "pollux", "tiresias", "csv"}));
}

Workload parse_trace(std::string_view text, TraceFormat format, const std::string& name,
                     const std::string& pollux_profiles_dir) {
  const Table t(text, name);
  Workload w;
  w.source = name;
  w.jobs.resize(t.rows());
  auto line_id = [&](std::size_t r) { return std::to_string(t.line(r)); };
  std::vector<char> unnamed(t.rows(), 0);  // rows whose id is their line number, given none
  switch (format) {
    case TraceFormat::kPhilly: {  // Jeon et al., ATC'19 trace as processed by Pollux's artifact
      const int ts = t.col("timestamp"), du = t.col("duration"), g = t.col("num_gpus"), vc = t.col("cluster", false);
      for (std::size_t r = 0; r < t.rows(); ++r) {
        Job& j = w.jobs[r];
        j.id = line_id(r);
        j.submit_s = parse_timestamp(t, r, ts);
        j.duration_s = duration(t, r, du);
        j.gpus = gpu_count(t, r, g);
        if (vc >= 0) j.vc = t.str(r, vc);
      }
      break;
    }
    case TraceFormat::kPollux: {
      if (pollux_profiles_dir.empty()) throw InputError("--pollux-profiles", "needed for the pollux format");
      const int nm = t.col("name"), tm = t.col("time"), app = t.col("application"), rep = t.col("num_replicas"),
                bs = t.col("batch_size");
      std::map<std::string, PolluxApp> apps;
      for (std::size_t r = 0; r < t.rows(); ++r) {
        Job& j = w.jobs[r];
        j.id = t.str(r, nm);
        j.submit_s = duration(t, r, tm);
        j.gpus = gpu_count(t, r, rep);
        const std::string a(t.str(r, app));
        if (!apps.count(a)) apps.emplace(a, load_pollux_app(pollux_profiles_dir, a));
        const double b = t.num(r, bs);
        if (b < 1 || b != std::floor(b) || b > 1e9) throw t.error(r, bs, "expected a positive integer");
        pollux_job(apps.at(a), static_cast<int>(b), fmt::format("{}:{}", name, t.line(r)), j);
        j.vc = a;
      }
      break;
    }
    case TraceFormat::kTiresias: {  // SymbioticLab/Tiresias simulator input
      const int id = t.col("job_id"), g = t.col("num_gpu"), sub = t.col("submit_time"), du = t.col("duration");
      for (std::size_t r = 0; r < t.rows(); ++r) {
        Job& j = w.jobs[r];
        j.id = t.str(r, id);
        j.submit_s = duration(t, r, sub);
        j.duration_s = duration(t, r, du);
        j.gpus = gpu_count(t, r, g);
      }
      break;
    }
    case TraceFormat::kCsv: {  // docs/model.md: id,submit_s,gpus,duration_s[,vc][,gpu_type][,speed_<gpu>...]
      const int id = t.col("id"), sub = t.col("submit_s"), g = t.col("gpus"), du = t.col("duration_s"),
                vc = t.col("vc", false), ty = t.col("gpu_type", false);
      std::vector<std::pair<int, std::string>> speeds;
      for (std::size_t c = 0; c < t.header().size(); ++c)
        if (t.header()[c].rfind("speed_", 0) == 0) speeds.emplace_back(static_cast<int>(c), t.header()[c].substr(6));
      for (std::size_t r = 0; r < t.rows(); ++r) {
        Job& j = w.jobs[r];
        j.id = t.str(r, id);
        if (j.id.empty()) {
          j.id = line_id(r);
          unnamed[r] = 1;
        }
        j.submit_s = t.num(r, sub);
        j.duration_s = duration(t, r, du);
        j.gpus = gpu_count(t, r, g);
        if (vc >= 0) j.vc = t.str(r, vc);
        if (ty >= 0) j.gpu_type = t.str(r, ty);
        for (const auto& [c, gpu] : speeds) {
          if (t.str(r, c).empty()) continue;
          const double s = t.num(r, c);
          if (!(s > 0)) throw t.error(r, c, "a speed must be > 0");
          j.speed[gpu] = s;
        }
      }
      break;
    }
  }
  // Job ids name jobs in errors and in --jobs: each is given once (Philly's are line numbers).
  std::map<std::string_view, std::size_t> first_line;
  for (std::size_t r = 0; r < t.rows(); ++r) {
    w.jobs[r].line = t.line(r);
    const auto [at, fresh] = first_line.emplace(w.jobs[r].id, t.line(r));
    if (!fresh) {
      // A row without an id takes its line number, which another row may give as its id.
      const bool numbered = unnamed[r] != 0;
      throw InputError(fmt::format("{}:{}", name, t.line(r)),
                       fmt::format("job id '{}'{} is already used on line {}", w.jobs[r].id,
                                   numbered ? " (its line number: the row gives no id)" : "", at->second));
    }
  }
  std::stable_sort(w.jobs.begin(), w.jobs.end(), [](const Job& a, const Job& b) { return a.submit_s < b.submit_s; });
  if (!w.jobs.empty()) {
    const double t0 = w.jobs.front().submit_s;
    for (Job& j : w.jobs) {
      j.submit_s -= t0;
      // The replay's clock holds ~63 years (simulator.cpp, kMaxTime) and gives every job up to
      // 100 years after the last arrival: an arrival decades after the first is a unit or typing
      // error, not a workload (traces span days to months).
      constexpr double kMaxSpan = 30.0 * 365 * 86400;
      if (j.submit_s > kMaxSpan) {
        throw InputError(fmt::format("{}:{}", name, j.line),
                         fmt::format("job '{}' arrives {:.3g} s ({:.3g} years) after the first one; a trace spans at "
                                     "most 30 years (are the arrival times in seconds?)",
                                     j.id, j.submit_s, j.submit_s / (365 * 86400.0)));
      }
    }
  }
  return w;
}

Workload read_trace(const std::string& path, TraceFormat format, const std::string& pollux_profiles_dir) {
  std::string profiles = pollux_profiles_dir;
  if (format == TraceFormat::kPollux && profiles.empty())
    profiles = (std::filesystem::path(path).parent_path() / ".." / "throughput-traces").lexically_normal().string();
  const std::string name = std::filesystem::path(path).filename().string();
  return parse_trace(read_text_file(path, "--trace"), format, name, profiles);
}

Workload synthesize(const Workload& fit, std::size_t jobs, std::uint64_t seed) {
  if (fit.jobs.size() < 2) throw InputError("--synthetic", "needs a trace of at least 2 jobs to fit");
  const double span = fit.jobs.back().submit_s - fit.jobs.front().submit_s;
  const double rate = span > 0 ? static_cast<double>(fit.jobs.size() - 1) / span : 1.0;
  // Log-normal duration per GPU count, matched to that count's median m and mean M of the
  // positive durations: mu = ln m, sigma^2 = 2 ln(M / m) (0 when M <= m). Matching the mean keeps
  // the offered GPU-time of the trace; a maximum-likelihood fit of log duration does not (on
  // Philly it makes the mean duration 1.9x and the GPU-hours 3.5x the trace's, because the many
  // very short jobs widen the spread of log duration).
  struct Fit {
    std::vector<double> d;
    double mu = 0, sigma = 0;
    void solve() {
      std::sort(d.begin(), d.end());
      const std::size_t n = d.size();
      const double median = n % 2 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2]);
      double sum = 0;
      for (double x : d) sum += x;
      mu = std::log(median);
      sigma = std::sqrt(std::max(0.0, 2 * std::log(sum / static_cast<double>(n) / median)));
    }
  };
  std::map<int, Fit> by_gpus;
  Fit all;
  for (const Job& j : fit.jobs) {
    if (!(j.duration_s > 0)) continue;
    by_gpus[j.gpus].d.push_back(j.duration_s);
    all.d.push_back(j.duration_s);
  }
  if (all.d.empty()) throw InputError("--synthetic", "the trace has no job with a positive duration");
  all.solve();
  for (auto& [g, f] : by_gpus) f.solve();
  sim::Rng rng{seed * 0x9E3779B97F4A7C15ULL + 7};
  Workload w;
  w.source = fmt::format("synthetic({} jobs fitted from {}, seed {})", jobs, fit.source, seed);
  double t = 0;
  for (std::size_t i = 0; i < jobs; ++i) {
    Job j;
    j.id = fmt::format("s{}", i);
    j.line = i + 2;
    if (i > 0) t += rng.exp1() / rate;
    j.submit_s = t;
    // GPU count and VC drawn from one random trace job each (their empirical distributions).
    const Job& a = fit.jobs[static_cast<std::size_t>(rng.uniform() * static_cast<double>(fit.jobs.size()))];
    const Job& b = fit.jobs[static_cast<std::size_t>(rng.uniform() * static_cast<double>(fit.jobs.size()))];
    j.gpus = a.gpus;
    j.vc = b.vc;
    const auto it = by_gpus.find(j.gpus);
    const Fit& f = it != by_gpus.end() && it->second.d.size() >= 2 ? it->second : all;
    j.duration_s = std::exp(f.mu + f.sigma * rng.normal());
    w.jobs.push_back(std::move(j));
  }
  return w;
}

}  // namespace wanka::cluster
