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
// Owned entries (claim/refresh/release) are for names that must be unique
// across instances, e.g. a chat nick in a room: the info is key + '\n' +
// holder, where key is the member's secret token (so the member can take its
// name to another instance) and holder names the instance that serves it (so
// an instance only refreshes or removes what it still serves). Neither may
// contain '\n'. An entry whose expiry is past counts as absent to them.
//
// All calls throw std::system_error like streams.
#pragma once

#include <duplex/redis/client.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duplex::redis {

struct presence_entry {
  std::string client_id;
  std::string info;
  friend bool operator==(const presence_entry&, const presence_entry&) = default;
};

// An owned entry's info split into its parts (views into the info).
struct presence_owner {
  std::string_view key, holder;
};
// nullopt for an info that is not owned (has no '\n').
std::optional<presence_owner> parse_owner(std::string_view info);

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

  // Takes `id` for (key, holder) with expiry now + ttl when it is free (no
  // live entry) or already has `key`: the same member, possibly moving here
  // from another holder. False, changing nothing, when a live entry has
  // another key (the name is taken).
  asio::awaitable<bool> claim(std::string_view channel, std::string_view id, std::string_view key,
                              std::string_view holder);
  // The periodic keep-alive of everything `holder` serves, in one script:
  // each (id, key) that `holder` holds, or that has no live entry (e.g. Redis
  // restarted empty), gets expiry now + ttl (re-added if it vanished).
  // Returns the ids it did not refresh because a live entry now has another
  // holder or key (the member moved, or its name lapsed and was taken), which
  // the caller should stop serving under that name.
  asio::awaitable<std::vector<std::string>> refresh(std::string_view channel,
                                                    const std::vector<std::pair<std::string, std::string>>& ids_and_keys,
                                                    std::string_view holder);
  // Removes `id` only if `holder` holds it: an instance whose connection for
  // a member closed must not remove the entry after the member moved away.
  asio::awaitable<void> release(std::string_view channel, std::string_view id, std::string_view holder);

  std::string zset_key(std::string_view channel) const;
  std::string hash_key(std::string_view channel) const;

 private:
  client& client_;
  presence_config config_;
};

}  // namespace duplex::redis
