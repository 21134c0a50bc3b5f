// Multi-tenant GPU-cluster scheduling: replay a job trace on a cluster of nodes under one or
// several scheduling policies, on the shared discrete-event engine (docs/model.md, "cluster").
//
// A job is a gang: it needs all its GPUs at once, on one GPU type. Time inside the simulator is
// integer nanoseconds (sim::Engine); everything a caller sees is in seconds. Same input, same
// seed: byte-identical results.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wanka::cluster {

// ---------------------------------------------------------------------------------------------
// Workloads

struct Job {
  std::string id;             // from the trace (name, job_id) or its line number
  double submit_s = 0;        // arrival, seconds from the first arrival of the trace
  int gpus = 1;
  double duration_s = 0;      // run time on the reference GPU type, alone on it, no slowdown
  std::string vc;             // virtual cluster (tenant); "" when the trace has none
  std::string gpu_type;       // required GPU type; "" = any pool
  // Relative throughput of this job per GPU type (Gavel's throughput matrix row); a type not
  // listed uses the pool's speed. 1.0 = the speed at which duration_s was measured.
  std::map<std::string, double> speed;
  // Speed on a given placement relative to the one duration_s assumes (Pollux profiles): keys
  // are GPUs per node as ascending digits ("44", "1222") or "n<nodes>"; empty: no dependence.
  std::map<std::string, double> placement_speed;
  std::size_t line = 0;       // source line (1-based, header = 1) for messages
};

struct Workload {
  std::vector<Job> jobs;      // sorted by submit_s, then source order
  std::string source;         // file name or "synthetic(...)"
};

enum class TraceFormat { kPhilly, kPollux, kTiresias, kCsv };
// "philly" | "pollux" | "tiresias" | "csv"; InputError("--format") otherwise.
TraceFormat parse_trace_format(const std::string& name);

// Parses a trace held in `text`; `name` is used in messages ("philly.csv:12: duration: ...").
// Pollux workloads give no durations: they are derived from the Pollux throughput profiles in
// `pollux_profiles_dir` (see docs/model.md). Malformed lines throw InputError naming the line.
Workload parse_trace(std::string_view text, TraceFormat format, const std::string& name,
                     const std::string& pollux_profiles_dir = "");
// Reads and parses a file; for Pollux the profiles default to <dir of file>/../throughput-traces.
Workload read_trace(const std::string& path, TraceFormat format, const std::string& pollux_profiles_dir = "");

// Synthetic workload fitted from `fit`: Poisson arrivals at the trace's mean rate, GPU counts
// and virtual clusters drawn from their empirical distributions, durations log-normal per GPU
// count (maximum-likelihood fit of log duration). Seeded, deterministic.
Workload synthesize(const Workload& fit, std::size_t jobs, std::uint64_t seed);

// ---------------------------------------------------------------------------------------------
// Cluster

struct GpuPool {
  std::string gpu = "v100";   // catalog name (or any label when speed is given)
  int nodes = 1;
  int gpus_per_node = 8;
  double speed = 0;           // relative throughput; 0: catalog fp16 dense peak / first pool's
};

enum class Placement {
  kConsolidate,  // fewest nodes (best fit), then fewest racks; may span nodes if it must
  kSpread,       // one GPU at a time on the emptiest node
  kStrict,       // a job of g <= G GPUs on one node; larger jobs on whole free nodes (+1 partial)
};
Placement parse_placement(const std::string& name);
const char* to_string(Placement p);

struct ClusterSpec {
  std::vector<GpuPool> pools;
  int nodes_per_rack = 0;           // 0: the pool is one rack
  Placement placement = Placement::kConsolidate;
  double cross_node_slowdown = 1.0;  // run-time factor for a job spanning nodes of one rack
  double cross_rack_slowdown = 1.0;  // run-time factor for a job spanning racks
  std::map<int, double> cross_rack_slowdown_by_gpus;  // per job size; overrides the factor above
  long total_gpus() const;
};

// Cross-rack slowdown for each multi-GPU job size of the workload from the training estimator:
// data-parallel `model` on the first pool's GPU, step time with the scale-out bandwidth divided
// by `oversubscription` over step time without (docs/model.md §18.1).
std::map<int, double> estimated_rack_slowdowns(const Workload& w, const ClusterSpec& c, const std::string& model,
                                               double oversubscription);

// "v100:16x4" or "v100:16x4:1.0,a100-80g:8x8" (type:NODESxGPUS[:speed], comma separated).
std::vector<GpuPool> parse_pools(const std::string& spec);
// Fills speed = 0 from the catalog (fp16 dense peak relative to the first pool); InputError
// for an unknown type without an explicit speed, or for sizes <= 0.
void resolve_pools(ClusterSpec& c);

// ---------------------------------------------------------------------------------------------
// Options

enum class Oversize { kSkip, kRefuse };     // a job larger than every pool
enum class FailureMode { kNone, kInterrupt, kKill };
FailureMode parse_failure_mode(const std::string& name);
const char* to_string(FailureMode f);

struct SimOptions {
  double restart_s = 30;            // cost of every restart after a preemption or failure; Pollux sim default
  double startup_s = 0;             // cost of a job's first start (Pollux's simulator charges restart_s)
  // Round-based scheduling (Pollux, Gavel and Tiresias simulators decide every round): passes
  // only at multiples of round_s; 0 = a pass right after every batch of events.
  double round_s = 0;
  Oversize oversize = Oversize::kSkip;
  // Node failures from the reliability model's default causes (Llama 3 Table 5): GPU- and
  // node-scope rates, times failure_rate_scale. kInterrupt keeps the job's progress, kKill loses it.
  FailureMode failures = FailureMode::kNone;
  double failure_rate_scale = 1.0;
  double repair_s = 24 * 3600.0;
  std::uint64_t seed = 1;
  // Tiresias discretized 2D-LAS: queue boundaries in attained GPU-seconds (ascending) and the
  // starvation knob (promote when waiting >= knob x executed; 0 = off). The default (two
  // queues split at 16 GPU-hours) is a choice, not taken from a source (docs/validation.md).
  std::vector<double> las_thresholds_gpu_s = {16 * 3600.0};
  double las_promote_knob = 0;
  // Quota policy: GPUs guaranteed per virtual cluster; a VC not listed gets a share of the
  // cluster proportional to its GPU-seconds in the workload.
  std::map<std::string, double> quota_gpus;
  int series_points = 200;          // time-series buckets
  // Jobs the replay may go over in its lists (list updates, and the lists a queue-scanning
  // policy asks for: Policy::scans_queue). 2-5 ns each, so a backlog makes a replay quadratic;
  // past this (at most about half a minute) it stops with an error naming --trace.
  double max_scanned_jobs = 6e9;
};

// ---------------------------------------------------------------------------------------------
// Policies

using JobIndex = std::uint32_t;

// What a policy sees and may do during one scheduling pass. waiting() and running() are the
// lists as they were when the pass began, each in arrival order (job index order: the workload
// is sorted by arrival); start() and preempt() take effect at once on the GPUs but the lists
// are updated after the pass.
class Context {
 public:
  virtual ~Context() = default;
  virtual double now_s() const = 0;
  virtual const std::vector<JobIndex>& waiting() const = 0;
  virtual const std::vector<JobIndex>& running() const = 0;
  virtual const Job& job(JobIndex j) const = 0;
  virtual double arrival_s(JobIndex j) const = 0;
  virtual double attained_gpu_s(JobIndex j) const = 0;  // GPU-seconds held so far, this run included
  virtual double remaining_s(JobIndex j) const = 0;     // oracle remaining run time at speed 1
  virtual double expected_end_s(JobIndex j) const = 0;  // running job: when it would finish
  virtual double last_start_or_arrival_s(JobIndex j) const = 0;  // when it last started waiting/running
  virtual long capacity_gpus() const = 0;  // GPUs up now (failed nodes excluded)
  virtual long free_gpus() const = 0;
  virtual int pools() const = 0;
  virtual long pool_free_gpus(int pool) const = 0;
  virtual double speed(JobIndex j, int pool) const = 0;  // 0 when the job may not run there
  virtual int pool_of(JobIndex j) const = 0;               // pool of a running job, else -1
  virtual bool fits(JobIndex j, int pool = -1) const = 0;  // could start now (-1: on any pool)
  virtual bool is_running(JobIndex j) const = 0;
  virtual std::size_t job_count() const = 0;  // every job of the workload (indices are below it)
  // Places a waiting job (pool -1: the first pool in which it fits). False if it does not fit.
  virtual bool start(JobIndex j, int pool = -1) = 0;
  virtual void preempt(JobIndex j) = 0;     // back to waiting, progress kept, restart cost next time
  virtual void wake_at(double t_s) = 0;     // ask for another pass at t_s (> now)
};

// A scheduling policy: one class with a name and a pass. The simulator calls schedule() after
// every batch of events at one instant (arrivals, completions, failures, requested wake-ups).
class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string name() const = 0;
  virtual void schedule(Context& ctx) = 0;
  // Whether a pass may look at every waiting and running job (priority and backfilling
  // policies; strict FIFO stops at the head): the lists it asks for count towards
  // SimOptions::max_scanned_jobs.
  virtual bool scans_queue() const { return true; }
};

// Helpers for preemptive priority policies. Walking the active jobs (waiting and running) best
// first, each job that fits in the remaining capacity is kept; running jobs not kept are
// preempted and waiting ones kept are started. run_in_order takes the order itself (O(A));
// run_by_priority takes (key, job) pairs, smaller key first, ties by job index, and sorts only
// the prefix it walks (nth_element + sort in chunks of the capacity). `keyed` is consumed.
void run_in_order(Context& ctx, const std::vector<JobIndex>& order);
void run_by_priority(Context& ctx, std::vector<std::pair<double, JobIndex>>& keyed);
// Every active job in arrival order (a merge of waiting() and running()).
std::vector<JobIndex> active_jobs(const Context& ctx);

// fifo, sjf, srtf, easy, tiresias, hetero, quota, quota-strict.
std::vector<std::string> policy_names();
// Tiresias's queue thresholds (SimOptions::las_thresholds_gpu_s) must increase strictly;
// else an InputError naming --las-thresholds.
void check_las_thresholds(const std::vector<double>& thresholds);
std::unique_ptr<Policy> make_policy(const std::string& name, const SimOptions& opt, const Workload& w,
                                    const ClusterSpec& c);

// ---------------------------------------------------------------------------------------------
// Results

struct SizeStats {
  std::string bucket;         // "1", "2-4", "5-8", "9-32", "33+"
  std::size_t jobs = 0;
  double avg_jct_s = 0, avg_queue_s = 0;
};

struct SeriesPoint {
  double t_s = 0;             // bucket start
  double busy_gpus = 0;       // time-averaged over the bucket
  double waiting_jobs = 0;
  double idle_gpus_while_waiting = 0;
};

struct PolicyResult {
  std::string name;
  std::size_t jobs = 0;               // completed (all that were run)
  std::size_t skipped_jobs = 0;       // larger than the cluster (Oversize::kSkip)
  double avg_jct_s = 0, p50_jct_s = 0, p99_jct_s = 0;
  double avg_queue_s = 0, p50_queue_s = 0, p99_queue_s = 0;  // arrival -> first start
  double avg_run_s = 0;               // first start -> finish
  double utilization = 0;             // GPU-seconds held / (GPUs x makespan)
  double fragmentation = 0;           // idle GPU-seconds while a job waits / (GPUs x makespan)
  double makespan_s = 0;              // first arrival -> last finish
  std::uint64_t preemptions = 0, failures = 0, events = 0;
  double scanned_jobs = 0;            // jobs gone over in the lists (SimOptions::max_scanned_jobs)
  double elapsed_s = 0;               // wall clock of the replay
  std::vector<SizeStats> by_size;
  std::vector<SeriesPoint> series;
  std::vector<double> jct_s;          // per job, workload order (skipped jobs: NaN)
  std::vector<double> queue_s;
};

// Throws InputError("job <id>") for a job larger than the cluster under Oversize::kRefuse.
PolicyResult simulate(const Workload& w, const ClusterSpec& c, Policy& policy, const SimOptions& opt);

// Runs every named policy on the same workload (threads: 0 = all cores; results independent of it).
std::vector<PolicyResult> compare(const Workload& w, const ClusterSpec& c, const std::vector<std::string>& policies,
                                  const SimOptions& opt, int threads = 0);

// Output. `timing` false writes elapsed_s as null (byte-identical across runs).
struct RunInfo {
  std::string trace, format;
  std::size_t trace_jobs = 0;
};
std::string results_json(const RunInfo& info, const ClusterSpec& c, const SimOptions& opt,
                         const std::vector<PolicyResult>& results, bool timing = true);
std::string results_csv(const std::vector<PolicyResult>& results, bool timing = true);
std::string results_table(const RunInfo& info, const ClusterSpec& c, const std::vector<PolicyResult>& results,
                          bool timing = true);
// policy,id,submit_s,gpus,duration_s,queue_s,jct_s: one row per job and policy (skipped: empty).
std::string jobs_csv(const Workload& w, const std::vector<PolicyResult>& results);
// policy,t_s,busy_gpus,utilization,waiting_jobs,idle_gpus_while_waiting: one row per bucket.
std::string series_csv(const ClusterSpec& c, const std::vector<PolicyResult>& results);

}  // namespace wanka::cluster
