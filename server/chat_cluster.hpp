// What a chat service needs to share its rooms with other instances through
// Redis (docs/scale-out.md): the connections, the engines on them, and the
// knobs. main() builds it; chat_service.hpp's attach() uses it.
#pragma once

#include <duplex/redis/client.hpp>
#include <duplex/redis/history.hpp>
#include <duplex/redis/presence.hpp>
#include <duplex/redis/subscriber.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace duplex::chat {

struct cluster_options {
  std::string instance;                                    // this instance's name (presence holder, logs)
  std::chrono::milliseconds presence_ttl{30'000};          // refreshed every ttl/3
  std::chrono::milliseconds presence_sync{500};            // other instances' members read this often
  std::size_t queue_limit = 10'000;                        // lines kept for Redis while it is down
};

// Counters any thread may read (metrics).
struct cluster_stats {
  std::atomic<std::size_t> queued{0};
  std::atomic<std::uint64_t> queue_dropped{0};
  std::atomic<std::uint64_t> gaps_filled{0};       // catch-up reads after a gap in pub/sub
  std::atomic<std::int64_t> publish_micros{0};      // last publish round trip (history write + fan-out)
};

struct cluster {
  redis::client& client;          // commands: streams, presence
  redis::subscriber& subscriber;  // the rooms' pub/sub channels
  redis::redis_history& history;
  redis::presence_store& presence;
  cluster_options options;
  cluster_stats stats;

  // Both connections are up (any thread).
  bool up() const noexcept { return client.is_up() && subscriber.is_up(); }
};

}  // namespace duplex::chat
