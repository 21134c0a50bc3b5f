// The discrete-event kernel shared by every simulator (pipeline schedules now; reliability,
// cluster scheduling and serving later). Time is integer nanoseconds; events at equal times
// run in the order they were scheduled (sequence-number tie-break), so runs are deterministic.
#pragma once

#include <cstdint>
#include <vector>

#include "wanka/units.hpp"

namespace wanka::sim {

class Engine;

// An actor that receives events. `payload` is the actor's own encoding of what happened.
class Process {
 public:
  virtual ~Process() = default;
  virtual void on_event(Engine& engine, std::uint64_t payload) = 0;
};

class Engine {
 public:
  // Registers an actor; the engine does not own it. Returns its id.
  std::uint32_t add(Process* process);
  // Schedules `payload` for actor `target` at absolute time `at` (>= now()).
  void schedule(SimTime at, std::uint32_t target, std::uint64_t payload);
  // Runs until no events remain or the clock would pass `until`. Returns events processed.
  std::uint64_t run(SimTime until = INT64_MAX);
  SimTime now() const { return now_; }
  void reset();  // drops pending events and actors, clock to 0

 private:
  struct Event {
    SimTime time;
    std::uint64_t seq;
    std::uint32_t target;
    std::uint64_t payload;
  };
  // Heap order (a function object, so that std::push_heap/pop_heap inline it).
  struct Later {
    bool operator()(const Event& a, const Event& b) const { return a.time != b.time ? a.time > b.time : a.seq > b.seq; }
  };
  std::vector<Event> heap_;
  std::vector<Process*> processes_;
  SimTime now_ = 0;
  std::uint64_t seq_ = 0;
};

}  // namespace wanka::sim
