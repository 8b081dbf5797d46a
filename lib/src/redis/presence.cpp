#include <duplex/redis/presence.hpp>

#include "checks.hpp"

namespace duplex::redis {
namespace {

// The Redis clock in milliseconds (scripts may call TIME before writing
// since Redis 5's effects replication, the only mode in 7).
#define DUPLEX_LUA_NOW_MS \
  "local t = redis.call('time')\n" \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

// KEYS: zset, hash. ARGV: client id, info, ttl (ms).
const script add_script(DUPLEX_LUA_NOW_MS R"lua(
local ttl = tonumber(ARGV[3])
redis.call('zadd', KEYS[1], now + ttl, ARGV[1])
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
for i = 1, 2 do
  if redis.call('pttl', KEYS[i]) < ttl then redis.call('pexpire', KEYS[i], ttl) end
end
return 1
)lua");

// KEYS: zset, hash. ARGV: client id.
const script remove_script(R"lua(
redis.call('zrem', KEYS[1], ARGV[1])
redis.call('hdel', KEYS[2], ARGV[1])
return 1
)lua");

// KEYS: zset, hash. Returns HGETALL after pruning.
const script list_script(DUPLEX_LUA_NOW_MS R"lua(
local expired = redis.call('zrangebyscore', KEYS[1], '-inf', now)
if #expired > 0 then
  redis.call('zremrangebyscore', KEYS[1], '-inf', now)
  -- unpack() is bounded by Lua's C stack: delete in slices
  for i = 1, #expired, 1000 do
    redis.call('hdel', KEYS[2], unpack(expired, i, math.min(i + 999, #expired)))
  end
end
return redis.call('hgetall', KEYS[2])
)lua");

// KEYS: zset. Members whose expiry is after now.
const script count_script(DUPLEX_LUA_NOW_MS R"lua(
return redis.call('zcount', KEYS[1], '(' .. now, '+inf')
)lua");

#undef DUPLEX_LUA_NOW_MS

asio::awaitable<std::vector<presence_entry>> entries_of(asio::awaitable<reply> call) {
  reply r = co_await std::move(call);
  if (!r.is_array() || r.elements.size() % 2) detail::unexpected(r, "presence list reply");
  std::vector<presence_entry> out;
  out.reserve(r.elements.size() / 2);
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
    out.push_back({std::move(r.elements[i].str), std::move(r.elements[i + 1].str)});
  co_return out;
}

asio::awaitable<std::size_t> count_of(asio::awaitable<reply> call) {
  reply r = co_await std::move(call);
  if (!r.is_integer()) detail::unexpected(r, "presence count reply");
  co_return static_cast<std::size_t>(r.integer);
}

}  // namespace

presence_store::presence_store(client& c, presence_config config) : client_(c), config_(std::move(config)) {}

std::string presence_store::zset_key(std::string_view channel) const {
  return config_.prefix + ":presence:z:{" + std::string(channel) + "}";
}
std::string presence_store::hash_key(std::string_view channel) const {
  return config_.prefix + ":presence:h:{" + std::string(channel) + "}";
}

// Not coroutines: the arguments are formatted before these return.
asio::awaitable<void> presence_store::add(std::string_view channel, std::string_view client_id, std::string_view info) {
  return detail::expect_no_error(client_.eval(add_script, 2, zset_key(channel), hash_key(channel), client_id, info,
                                std::to_string(config_.ttl.count())));
}

asio::awaitable<void> presence_store::remove(std::string_view channel, std::string_view client_id) {
  return detail::expect_no_error(client_.eval(remove_script, 2, zset_key(channel), hash_key(channel), client_id));
}

asio::awaitable<std::vector<presence_entry>> presence_store::list(std::string_view channel) {
  return entries_of(client_.eval(list_script, 2, zset_key(channel), hash_key(channel)));
}

asio::awaitable<std::size_t> presence_store::count(std::string_view channel) {
  return count_of(client_.eval(count_script, 1, zset_key(channel)));
}

}  // namespace duplex::redis
