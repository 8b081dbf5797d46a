// Channel presence in Redis with TTLs (Centrifugo's layout): entries that
// are not refreshed expire, so a crashed instance's members disappear after
// the TTL without anyone removing them. Each instance re-adds its members
// periodically (well within the TTL, e.g. every ttl/3).
//
// Keys for channel C (prefix P, default "duplex"):
//   P:presence:z:{C}  ZSET  member = client id, score = expiry (Redis TIME, ms)
//   P:presence:h:{C}  HASH  client id -> info (opaque, e.g. JSON)
// Both keys get a PEXPIRE of at least the TTL on every add, so a channel
// nobody refreshes disappears entirely. Expiry uses the Redis server's
// clock, so instances with skewed clocks agree.
//
// All calls throw std::system_error like streams.
#pragma once

#include <duplex/redis/client.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::redis {

struct presence_entry {
  std::string client_id;
  std::string info;
  friend bool operator==(const presence_entry&, const presence_entry&) = default;
};

struct presence_config {
  std::string prefix = "duplex";
  std::chrono::milliseconds ttl = std::chrono::seconds(60);
};

class presence_store {
 public:
  // `c` must outlive this object and its calls.
  explicit presence_store(client& c, presence_config config = {});

  // Adds or refreshes a member (its expiry becomes now + ttl).
  asio::awaitable<void> add(std::string_view channel, std::string_view client_id, std::string_view info);
  asio::awaitable<void> remove(std::string_view channel, std::string_view client_id);
  // Prunes expired members, then returns the rest (in no particular order).
  asio::awaitable<std::vector<presence_entry>> list(std::string_view channel);
  // Members not expired (counted without pruning or reading the infos).
  asio::awaitable<std::size_t> count(std::string_view channel);

  std::string zset_key(std::string_view channel) const;
  std::string hash_key(std::string_view channel) const;

 private:
  client& client_;
  presence_config config_;
};

}  // namespace duplex::redis
