// Per-channel history with offset + epoch (Centrifugo's model), behind an
// engine interface that embedded engines (memory, SQLite) and a broker engine
// (Redis Streams, issue 12) implement alike.
//
// Contract:
// - Every publication in a channel gets the next offset (1, 2, 3, ...). The
//   channel's epoch is an opaque string that changes whenever the channel's
//   history is lost or reset, so a stale (epoch, offset) is never trusted.
// - A channel exists (has an epoch, top offset 0) from its first use by any
//   call; it keeps the last `retention` publications.
// - since(after) answers either exactly the publications (after.offset, top]
//   in order, or a typed refusal (errc::epoch_mismatch, gap_beyond_retention,
//   position_from_future, recovery_limit): never a partial answer.
// - Completion is by handler. Embedded engines call the handler before the
//   call returns; a broker engine calls it later on its executor. Callers must
//   accept both (do not hold locks across the call; do not assume order with
//   live delivery; merge with recovery_merge).
// - Engines are not thread-safe: call them from one thread (or strand).
#pragma once

#include <duplex/realtime/error.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace duplex::realtime {

// A position in a channel's stream: the last offset seen in that epoch.
// offset 0 means "before the first publication".
struct stream_position {
  std::uint64_t offset = 0;
  std::string epoch;
  friend bool operator==(const stream_position&, const stream_position&) = default;
};

struct publication {
  std::uint64_t offset = 0;
  std::string payload;
  friend bool operator==(const publication&, const publication&) = default;
};

// An answer from recent()/since(): the publications and the channel's top
// (its epoch and last assigned offset) at the time of the read.
struct history_page {
  stream_position top;
  std::vector<publication> publications;
};

// How many recent publications a joiner gets by default (issue 11).
inline constexpr std::size_t default_join_history = 100;

// Generates a fresh random epoch (16 hex digits).
std::string new_epoch();

// One channel's stream held in memory: the building block of the embedded
// engines. Keeps the last `retention` publications.
class channel_log {
 public:
  channel_log(std::string epoch, std::uint64_t top, std::size_t retention);

  // Appends with the next offset and returns it. Drops the oldest beyond retention.
  std::uint64_t append(std::string payload);
  // Puts back a publication loaded from storage (offsets ascending, <= top).
  void restore(publication p);

  history_page recent(std::size_t n) const;
  // The publications after `after` (at most `limit`), or a refusal.
  std::error_code since(const stream_position& after, std::size_t limit, history_page& out) const;

  const std::string& epoch() const noexcept { return epoch_; }
  std::uint64_t top() const noexcept { return top_; }
  stream_position position() const { return {top_, epoch_}; }
  std::size_t size() const noexcept { return kept_.size(); }

 private:
  std::string epoch_;
  std::uint64_t top_;
  std::size_t retention_;
  std::deque<publication> kept_;
};

class history_engine {
 public:
  using publish_handler = std::function<void(std::error_code, stream_position)>;
  using read_handler = std::function<void(std::error_code, history_page)>;

  virtual ~history_engine() = default;

  // Assigns the next offset and stores the publication. The handler gets the
  // publication's position (epoch, offset) as soon as it is assigned; an
  // embedded engine does not wait for disk.
  virtual void publish(std::string_view channel, std::string payload, publish_handler done) = 0;
  // The last n publications (fewer if the channel has fewer), oldest first.
  // n == 0 gives just the channel's position (epoch, top): what a subscriber
  // to an empty or quiet channel needs to resume later.
  virtual void recent(std::string_view channel, std::size_t n, read_handler done) = 0;
  // The publications after `after`, at most `limit` of them, or a refusal
  // (see the contract above). limit == 0 means no limit beyond retention.
  virtual void since(std::string_view channel, stream_position after, std::size_t limit,
                     read_handler done) = 0;
  // Forgets a channel's history and gives it a new epoch (offsets restart at 0).
  virtual void reset(std::string_view channel, publish_handler done) = 0;
};

struct history_config {
  std::size_t retention = 1000;  // publications kept per channel
};

// History in process memory: lost on restart (every restart is a new epoch).
class memory_history final : public history_engine {
 public:
  explicit memory_history(history_config config = {});

  void publish(std::string_view channel, std::string payload, publish_handler done) override;
  void recent(std::string_view channel, std::size_t n, read_handler done) override;
  void since(std::string_view channel, stream_position after, std::size_t limit,
             read_handler done) override;
  void reset(std::string_view channel, publish_handler done) override;

 private:
  channel_log& log(std::string_view channel);

  history_config config_;
  std::map<std::string, channel_log, std::less<>> channels_;
};

}  // namespace duplex::realtime
