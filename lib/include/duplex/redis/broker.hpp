// duplex::realtime::broker on Redis (broker.hpp's contract for many nodes):
// publications are numbered and stored by redis_history (Streams) and come
// back to every node, this one included, on the channel's pub/sub channel.
//
// - Order: each channel's publications reach the handler in offset order;
//   a gap (a lost pub/sub message, a subscriber reconnect, a new epoch after
//   Redis lost its data) is read from the stream first, the live ones held
//   meanwhile (up to max_held; past that, delivered with the hole, logged).
// - Outage: while either connection is down, publish() delivers to this
//   node at once in the stand-in epoch "local-<node>" and queues the
//   payload (at most queue_limit; the oldest are dropped and counted). When
//   both are back the queue is published first, and those publications are
//   not delivered here again.
// - Wiring: the subscriber's message handler passes every message to
//   on_message(), both connections' on_state hooks call on_state(); call
//   poll() every so often (a missed state change, belt and braces).
// - Runs on the client's executor; the subscriber shares it.
#pragma once

#include <duplex/realtime/broker.hpp>
#include <duplex/redis/client.hpp>
#include <duplex/redis/history.hpp>
#include <duplex/redis/subscriber.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duplex::redis {

struct broker_options {
  std::string node = "node";  // this node's name: the stand-in epoch is "local-" + node
  std::size_t queue_limit = 10'000;  // publications kept while Redis is down
  std::size_t max_held = 10'000;     // live publications held while a gap cannot be read
  std::chrono::milliseconds retry{250};  // between reads of a gap while Redis is away
  std::function<void(std::string_view)> log;
};

// Any thread may read these (metrics).
struct broker_stats {
  std::atomic<std::size_t> queued{0};
  std::atomic<std::uint64_t> queue_dropped{0};
  std::atomic<std::uint64_t> gaps_filled{0};   // stream reads to fill a gap or catch up
  std::atomic<std::int64_t> publish_micros{0};  // last publish round trip (stream write + PUBLISH)
};

class redis_broker final : public realtime::broker {
 public:
  // `c` and `s` outlive the broker and share its executor.
  redis_broker(client& c, subscriber& s, broker_options options = {}, stream_config streams = {});
  ~redis_broker() override;

  void set_handlers(realtime::broker_handlers h) override { handlers_ = std::move(h); }
  void publish(std::string_view channel, std::string payload, publish_handler done) override;
  void subscribe(std::string_view channel, subscribe_handler ready) override;
  void unsubscribe(std::string_view channel) override;
  realtime::history_engine& history() noexcept override { return history_; }
  realtime::stream_position position(std::string_view channel) const override;

  // A message from the subscriber: false when it is not one of the broker's channels.
  bool on_message(std::string_view pubsub_channel, std::string_view payload);
  // A connection went down or came up; `subscriber_came_up`: the pub/sub
  // connection is subscribed again after a loss (messages may be lost).
  void on_state(bool subscriber_came_up);
  void poll() override;
  // Both connections are up (any thread).
  bool up() const noexcept { return client_.is_up() && subscriber_.is_up(); }
  const broker_stats& stats() const noexcept { return stats_; }
  std::string local_epoch() const { return "local-" + options_.node; }

 private:
  struct held {
    realtime::stream_position pos;
    std::string payload;
  };
  struct channel {
    std::uint64_t incarnation = 0;
    bool ready = false;                       // subscribed and its top known (or Redis away)
    std::vector<subscribe_handler> waiting;   // subscribe() calls waiting for that
    realtime::stream_position top;            // the last publication delivered here
    std::vector<held> pending;                // live publications held during a catch-up
    bool catching_up = false;
    bool catch_up_again = false;              // asked for while a read was in flight
    std::multiset<std::string> suppress;      // delivered here during an outage: not again
    std::uint64_t local_seq = 0;              // numbered here during an outage
  };
  channel* same(const std::string& name, std::uint64_t incarnation);
  void live(const std::string& name, channel& c, realtime::stream_position pos, std::string payload);
  void deliver(const std::string& name, channel& c, const realtime::stream_position& pos, const std::string& payload);
  void catch_up(const std::string& name, channel& c);
  void local(const std::string& name, std::string payload);
  void flush_queue();
  void log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  client& client_;
  subscriber& subscriber_;
  broker_options options_;
  redis_history history_;
  realtime::broker_handlers handlers_;
  broker_stats stats_;
  std::map<std::string, channel, std::less<>> channels_;
  std::uint64_t incarnations_ = 0;
  std::deque<std::pair<std::string, std::string>> queue_;  // (channel, payload) kept while Redis is down
  bool was_up_ = true;     // as last seen (a first look that finds it down logs it)
  bool caught_up_ = true;  // channels caught up since Redis was last seen down
  // Completions of coroutines in flight hold this: none touches a destroyed broker.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace duplex::redis
