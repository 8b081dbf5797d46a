// duplex::realtime::history_engine on Redis Streams (streams.hpp): the
// broker engine of history.hpp's contract, so code written against the
// embedded engines (memory, SQLite) runs unchanged on Redis.
//
// - Each call runs as a coroutine on the client's executor and calls its
//   handler there, never inside the call (the contract allows both).
// - since() gives the same refusals as the embedded engines
//   (epoch_mismatch, position_from_future, recovery_limit,
//   gap_beyond_retention), computed from one read of the stream.
// - A transport failure (Redis down, timeout) reaches the handler as the
//   client's error code (duplex::redis::errc) with an empty answer.
// - publish() also PUBLISHes "<offset>:<epoch>:<payload>" on the channel's
//   pub/sub channel (streams::pubsub_channel): that is how every instance,
//   this one included, receives the publication live.
#pragma once

#include <duplex/realtime/history.hpp>
#include <duplex/redis/streams.hpp>

#include <string_view>

namespace duplex::redis {

class redis_history final : public realtime::history_engine {
 public:
  // `c` must outlive this object and every call's completion.
  explicit redis_history(client& c, stream_config config = {});

  void publish(std::string_view channel, std::string payload, publish_handler done) override;
  void recent(std::string_view channel, std::size_t n, read_handler done) override;
  void since(std::string_view channel, realtime::stream_position after, std::size_t limit,
             read_handler done) override;
  void reset(std::string_view channel, publish_handler done) override;

  redis::streams& streams() noexcept { return streams_; }

 private:
  client& client_;
  redis::streams streams_;
};

// The refusal (or none) for a client at `after` given a page read from the
// stream with streams::since(after.offset, limit): shared with callers that
// read the stream themselves.
std::error_code check_since(const realtime::stream_position& after, std::size_t limit,
                            const realtime::history_page& page);

}  // namespace duplex::redis
