#include <duplex/redis/presence.hpp>

#include "checks.hpp"

namespace duplex::redis {
namespace {

// The Redis clock in milliseconds (scripts may call TIME before writing
// since Redis 5's effects replication, the only mode in 7).
#define DUPLEX_LUA_NOW_MS \
  "local t = redis.call('time')\n" \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

// KEYS[1], KEYS[2] outlive the entries by at least `ttl`.
#define DUPLEX_LUA_KEEP_KEYS \
  "for i = 1, 2 do\n" \
  "  if redis.call('pttl', KEYS[i]) < ttl then redis.call('pexpire', KEYS[i], ttl) end\n" \
  "end\n"

// live(id): the zset KEYS[1] has `id` with an expiry after now.
#define DUPLEX_LUA_LIVE \
  "local function live(id)\n" \
  "  local s = redis.call('zscore', KEYS[1], id)\n" \
  "  return s and tonumber(s) > now\n" \
  "end\n"

// KEYS: zset, hash. ARGV: client id, info, ttl (ms).
const script add_script(DUPLEX_LUA_NOW_MS R"lua(
local ttl = tonumber(ARGV[3])
redis.call('zadd', KEYS[1], now + ttl, ARGV[1])
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
)lua" DUPLEX_LUA_KEEP_KEYS "return 1\n");

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

// KEYS: zset, hash. ARGV: id, key, holder, ttl (ms). 1 if claimed, 0 if a
// live entry has another key (or is not owned).
const script claim_script(DUPLEX_LUA_NOW_MS DUPLEX_LUA_LIVE R"lua(
local id, key, ttl = ARGV[1], ARGV[2], tonumber(ARGV[4])
if live(id) then
  local v = redis.call('hget', KEYS[2], id)
  if v and string.sub(v, 1, #key + 1) ~= key .. '\n' then return 0 end
end
redis.call('zadd', KEYS[1], now + ttl, id)
redis.call('hset', KEYS[2], id, key .. '\n' .. ARGV[3])
)lua" DUPLEX_LUA_KEEP_KEYS "return 1\n");

// KEYS: zset, hash. ARGV: holder, ttl (ms), then id, key pairs. Returns the
// ids whose live entry is not key + '\n' + holder.
const script refresh_script(DUPLEX_LUA_NOW_MS DUPLEX_LUA_LIVE R"lua(
local holder, ttl = ARGV[1], tonumber(ARGV[2])
local lost, scores, infos = {}, {}, {}
for i = 3, #ARGV - 1, 2 do
  local id, info = ARGV[i], ARGV[i + 1] .. '\n' .. holder
  local v = live(id) and redis.call('hget', KEYS[2], id)
  if v and v ~= info then
    lost[#lost + 1] = id
  else
    scores[#scores + 1] = now + ttl
    scores[#scores + 1] = id
    infos[#infos + 1] = id
    infos[#infos + 1] = info
  end
end
if #scores == 0 then return lost end
-- unpack() is bounded by Lua's C stack: write in slices of whole pairs
for i = 1, #scores, 1000 do
  local j = math.min(i + 999, #scores)
  redis.call('zadd', KEYS[1], unpack(scores, i, j))
  redis.call('hset', KEYS[2], unpack(infos, i, j))
end
)lua" DUPLEX_LUA_KEEP_KEYS "return lost\n");

// KEYS: zset, hash. ARGV: id, holder.
const script release_script(R"lua(
local v = redis.call('hget', KEYS[2], ARGV[1])
local tail = '\n' .. ARGV[2]
if v and #v > #tail and string.sub(v, -#tail) == tail then
  redis.call('zrem', KEYS[1], ARGV[1])
  redis.call('hdel', KEYS[2], ARGV[1])
end
return 1
)lua");

#undef DUPLEX_LUA_LIVE
#undef DUPLEX_LUA_KEEP_KEYS
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

asio::awaitable<bool> claimed(asio::awaitable<reply> call) {
  reply r = co_await std::move(call);
  if (!r.is_integer()) detail::unexpected(r, "presence claim reply");
  co_return r.integer == 1;
}

asio::awaitable<std::vector<std::string>> ids_of(asio::awaitable<reply> call) {
  reply r = co_await std::move(call);
  if (!r.is_array()) detail::unexpected(r, "presence refresh reply");
  std::vector<std::string> out;
  out.reserve(r.elements.size());
  for (auto& e : r.elements) out.push_back(std::move(e.str));
  co_return out;
}

}  // namespace

std::optional<presence_owner> parse_owner(std::string_view info) {
  const auto nl = info.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  return presence_owner{info.substr(0, nl), info.substr(nl + 1)};
}

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

asio::awaitable<bool> presence_store::claim(std::string_view channel, std::string_view id, std::string_view key,
                                            std::string_view holder) {
  return claimed(client_.eval(claim_script, 2, zset_key(channel), hash_key(channel), id, key, holder,
                              std::to_string(config_.ttl.count())));
}

asio::awaitable<std::vector<std::string>> presence_store::refresh(
    std::string_view channel, const std::vector<std::pair<std::string, std::string>>& ids_and_keys,
    std::string_view holder) {
  const std::string zset = zset_key(channel), hash = hash_key(channel), ttl = std::to_string(config_.ttl.count());
  const std::vector<std::string_view> keys{zset, hash};
  std::vector<std::string_view> args{holder, ttl};
  args.reserve(2 + 2 * ids_and_keys.size());
  for (const auto& [id, key] : ids_and_keys) {
    args.push_back(id);
    args.push_back(key);
  }
  return ids_of(client_.eval(refresh_script, keys, args));
}

asio::awaitable<void> presence_store::release(std::string_view channel, std::string_view id, std::string_view holder) {
  return detail::expect_no_error(client_.eval(release_script, 2, zset_key(channel), hash_key(channel), id, holder));
}

}  // namespace duplex::redis
