#include <algorithm>
#include <stdexcept>

#include "wanka/sim.hpp"

namespace wanka::sim {

std::uint32_t Engine::add(Process* process) {
  processes_.push_back(process);
  return static_cast<std::uint32_t>(processes_.size() - 1);
}

void Engine::schedule(SimTime at, std::uint32_t target, std::uint64_t payload) {
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
