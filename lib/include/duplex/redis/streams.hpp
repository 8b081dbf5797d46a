// Per-channel history on Redis Streams, numbered and fanned out atomically
// (Centrifugo's Redis engine design): one Lua script assigns the channel's
// next offset, appends to its stream, refreshes TTLs and PUBLISHes the
// framed publication, so offsets, stream order and pub/sub order agree.
//
// Keys for channel C (prefix P, default "duplex"; the {C} hash tag keeps a
// channel's keys in one Redis Cluster slot):
//   P:stream:{C}  STREAM  entry id "<offset>-0", one field d = payload;
//                         trimmed to config.size entries (exact MAXLEN),
//                         EXPIRE config.ttl refreshed by each publish
//   P:meta:{C}    HASH    e = epoch (random, set when the hash is created),
//                         s = top offset (HINCRBY); EXPIRE config.meta_ttl
//                         refreshed by every publish and read
// Pub/sub channel for C: "P:pub:C", message "<offset>:<epoch>:<payload>"
// (decimal offset; the epoch never contains ':'; the payload is the rest,
// binary-safe). parse_live() reads it.
//
// If the meta hash is lost (expired, evicted, deleted), the next call makes
// a new epoch and numbering restarts at 1; the old stream is deleted.
//
// All calls throw std::system_error: the client's transport errors, or
// errc::server_error / protocol_error for an unexpected reply.
#pragma once

#include <duplex/realtime/history.hpp>
#include <duplex/redis/client.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::redis {

// The same position, publication and page types as duplex::realtime's
// history engines (offset 0 is "before the first"), so the Redis engine
// answers in the shape the recovery merge takes.
using realtime::history_page;
using realtime::publication;
using realtime::stream_position;

struct stream_config {
  std::string prefix = "duplex";
  std::size_t size = 1000;                          // entries kept per stream
  std::chrono::seconds ttl = std::chrono::hours(24);  // stream lifetime after the last publish
  std::chrono::seconds meta_ttl = std::chrono::hours(24 * 30);  // epoch and top offset
};

// A message received on a channel's pub/sub channel. The views point into
// the message.
struct live_publication {
  std::uint64_t offset = 0;
  std::string_view epoch;
  std::string_view payload;
};
std::optional<live_publication> parse_live(std::string_view message);

class streams {
 public:
  // `c` must outlive this object and its calls.
  explicit streams(client& c, stream_config config = {});

  // Assigns the next offset, stores and publishes; returns the publication's
  // position. The payload is copied before the call returns.
  asio::awaitable<stream_position> publish(std::string_view channel, std::string_view payload);
  // Stores without PUBLISH (e.g. a server message only for history).
  asio::awaitable<stream_position> append(std::string_view channel, std::string_view payload);
  // The last n publications, oldest first; n == 0 gives only the top.
  // Creates the channel's epoch if it has none, so a subscriber to a quiet
  // channel gets a position it can resume from.
  asio::awaitable<history_page> recent(std::string_view channel, std::size_t n);
  // The publications with offset > after, at most `limit` (0: all kept).
  // The caller compares page.top.epoch with its own and checks the first
  // offset is after + 1 (anything older was trimmed): see history.hpp's
  // refusals in duplex_realtime.
  asio::awaitable<history_page> since(std::string_view channel, std::uint64_t after, std::size_t limit);
  // Deletes the channel's stream and meta: the next call starts a new epoch.
  asio::awaitable<void> reset(std::string_view channel);

  std::string stream_key(std::string_view channel) const;
  std::string meta_key(std::string_view channel) const;
  std::string pubsub_channel(std::string_view channel) const;
  // The channel whose pub/sub channel this is, or nullopt.
  std::optional<std::string_view> channel_of(std::string_view pubsub_channel) const;
  const stream_config& config() const noexcept { return config_; }

 private:
  asio::awaitable<stream_position> add(std::string_view channel, std::string_view payload, bool publish);
  asio::awaitable<history_page> read(std::string_view channel, std::string_view mode, std::uint64_t from,
                                     std::size_t count);

  client& client_;
  stream_config config_;
};

}  // namespace duplex::redis
