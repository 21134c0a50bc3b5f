#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "wanka/error.hpp"
#include "wanka/sim.hpp"

namespace wanka {

void sim_time_range_error(double seconds) {
  throw InputError("", fmt::format("a simulated time of {:.3g} s is beyond the simulators' clock (146 years): the run is "
                                   "too long or the hardware too slow for it (check the GPU's peak_tflops and hbm_tbps "
                                   "and the link bandwidths)",
                                   seconds));
}

}  // namespace wanka

namespace wanka::sim {

std::uint32_t Engine::add(Process* process) {
  processes_.push_back(process);
  return static_cast<std::uint32_t>(processes_.size() - 1);
}

void Engine::schedule(SimTime at, std::uint32_t target, std::uint64_t payload) {
  if (at > kMaxSimTime) sim_time_range_error(double(at) * 1e-9);
  if (at < now_) throw std::logic_error("sim::Engine: event scheduled in the past");
  heap_.push_back(Event{at, seq_++, target, payload});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

std::uint64_t Engine::run(SimTime until) {
  std::uint64_t n = 0;
  while (!heap_.empty() && heap_.front().time <= until) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    const Event e = heap_.back();
    heap_.pop_back();
    now_ = e.time;
    processes_[e.target]->on_event(*this, e.payload);
    ++n;
  }
  return n;
}

void Engine::reset() {
  heap_.clear();
  processes_.clear();
  now_ = 0;
  seq_ = 0;
}

}  // namespace wanka::sim
