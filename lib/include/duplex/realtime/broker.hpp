// A broker carries a channel's publications to every node subscribed to
// it, numbered by the channel's history (Centrifugo's Broker). Two engines:
// memory_broker (one node, on any history_engine: memory or SQLite) and
// redis::redis_broker (many nodes: Redis Streams and pub/sub).
//
// Contract (tests/redis/broker_test.cpp checks it against both):
// - publish() stores the payload in the channel's history (the next offset
//   of its epoch) and delivers it to every node subscribed to the channel,
//   this one included, through the node's `publication` handler.
// - A node receives a subscribed channel's publications in offset order,
//   each once, without holes: a gap (a lost pub/sub message, a new epoch)
//   is read from the history before anything after it; a duplicate is
//   dropped. Only publications trimmed from the history before they could
//   be read are skipped (and logged).
// - subscribe() completes once the channel is subscribed and its top is
//   known: every publication after that top reaches the handler, so a
//   history read made after it, merged with the live publications
//   (realtime::merge_recovery), misses nothing. Subscribing again to a
//   subscribed channel just waits for (or repeats) that answer.
// - While the backend is away, publish() delivers the payload to this node
//   at once, numbered in a stand-in epoch ("local-<node>"), queues it, and
//   completes with the backend's error: the payload is not stored yet. When
//   the backend is back the queue is published first, in order, and not
//   delivered here again. A subscribe() while away completes with the
//   backend's error and an unknown top (empty epoch); once the history can
//   be read the `resync` handler says the channel's readers must read it
//   again.
// - Completion: handlers run on the broker's executor. The memory engine
//   calls them before the call returns, a backend engine later (as
//   history.hpp's engines do); callers accept both. A broker is used from
//   one thread (or strand).
#pragma once

#include <duplex/realtime/history.hpp>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

namespace duplex::realtime {

struct broker_handlers {
  // A publication of a subscribed channel, in offset order, each once.
  std::function<void(std::string_view channel, const stream_position& pos, const std::string& payload)> publication;
  // The channel was subscribed while the backend was away (its top was
  // unknown) and its history can be read now: read it again.
  std::function<void(std::string_view channel)> resync;
};

class broker {
 public:
  using publish_handler = std::function<void(std::error_code, stream_position)>;
  using subscribe_handler = std::function<void(std::error_code, stream_position top)>;

  virtual ~broker() = default;

  // Where this node's publications go: set once, before the first subscribe.
  virtual void set_handlers(broker_handlers h) = 0;
  virtual void publish(std::string_view channel, std::string payload, publish_handler done) = 0;
  virtual void subscribe(std::string_view channel, subscribe_handler ready) = 0;
  // No publication of the channel reaches the handler after this call.
  virtual void unsubscribe(std::string_view channel) = 0;
  // The channels' history, for recent() and since() reads.
  virtual history_engine& history() noexcept = 0;
  // The channel's last publication this node has seen (delivered, or
  // delivered earlier in a stand-in epoch): a history read answered at this
  // top is still current. Empty epoch: unknown (not subscribed, or away).
  virtual stream_position position(std::string_view channel) const = 0;
  // Called every so often by the owner (e.g. each presence tick): a backend
  // engine checks its connections there (a missed state change).
  virtual void poll() {}
};

// One node: publications go straight from the history engine to the
// handler (no backend, nothing to lose, never away).
class memory_broker final : public broker {
 public:
  // `h` outlives the broker.
  explicit memory_broker(history_engine& h) : history_(h) {}

  void set_handlers(broker_handlers h) override { handlers_ = std::move(h); }
  void publish(std::string_view channel, std::string payload, publish_handler done) override;
  void subscribe(std::string_view channel, subscribe_handler ready) override;
  void unsubscribe(std::string_view channel) override;
  history_engine& history() noexcept override { return history_; }
  stream_position position(std::string_view channel) const override;

 private:
  history_engine& history_;
  broker_handlers handlers_;
  std::map<std::string, stream_position, std::less<>> subscribed_;  // channel -> its top
};

}  // namespace duplex::realtime
