#include <duplex/redis/streams.hpp>

#include "checks.hpp"

#include <algorithm>
#include <charconv>
#include <random>

namespace duplex::redis {
namespace {

// The channel's epoch, made from ARGV[5] when the meta hash (KEYS[2]) has none.
#define DUPLEX_LUA_EPOCH \
  "local epoch = redis.call('hget', KEYS[2], 'e')\n" \
  "if not epoch then\n" \
  "  epoch = ARGV[5]\n" \
  "  redis.call('hset', KEYS[2], 'e', epoch)\n" \
  "end\n"

// KEYS: stream, meta. ARGV: payload, size, stream ttl (s), meta ttl (s),
// epoch to use if the channel has none, pub/sub channel ('' = do not publish).
const script publish_script(DUPLEX_LUA_EPOCH R"lua(
local offset = redis.call('hincrby', KEYS[2], 's', 1)
if offset == 1 then
  -- a new epoch: a stream left over from a lost one must not mix in
  redis.call('del', KEYS[1])
end
redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[2], offset .. '-0', 'd', ARGV[1])
redis.call('expire', KEYS[1], ARGV[3])
redis.call('expire', KEYS[2], ARGV[4])
if ARGV[6] ~= '' then
  redis.call('publish', ARGV[6], offset .. ':' .. epoch .. ':' .. ARGV[1])
end
return {offset, epoch}
)lua");

// KEYS: stream, meta. ARGV: mode ('recent' or 'since'), first offset (since)
// or n (recent), count (since; '0' = all), meta ttl (s), epoch to use if the
// channel has none. Returns {top, epoch, entries}.
const script read_script(DUPLEX_LUA_EPOCH R"lua(
redis.call('expire', KEYS[2], ARGV[4])
local top = tonumber(redis.call('hget', KEYS[2], 's') or '0')
local entries = {}
if ARGV[1] == 'recent' then
  if tonumber(ARGV[2]) > 0 then
    entries = redis.call('xrevrange', KEYS[1], '+', '-', 'COUNT', ARGV[2])
  end
elseif ARGV[3] == '0' then
  entries = redis.call('xrange', KEYS[1], ARGV[2], '+')
else
  entries = redis.call('xrange', KEYS[1], ARGV[2], '+', 'COUNT', ARGV[3])
end
return {top, epoch, entries}
)lua");

#undef DUPLEX_LUA_EPOCH

std::string new_epoch() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::uint64_t v = rng();
  std::string e(16, '0');
  for (auto& c : e) {
    c = hex[v & 15];
    v >>= 4;
  }
  return e;
}

// ["<offset>-0", ["d", payload]]
publication to_publication(reply& entry) {
  if (!entry.is_array() || entry.elements.size() != 2 || !entry.elements[1].is_array() ||
      entry.elements[1].elements.size() < 2)
    detail::unexpected(entry, "stream entry");
  std::string_view id = entry.elements[0].str;
  publication p;
  if (!detail::parse_number(id.substr(0, id.find('-')), p.offset)) detail::unexpected(entry, "stream entry id");
  p.payload = std::move(entry.elements[1].elements[1].str);
  return p;
}

asio::awaitable<stream_position> position_of(asio::awaitable<reply> call) {
  reply r = co_await std::move(call);
  if (!r.is_array() || r.elements.size() != 2 || !r.elements[0].is_integer()) detail::unexpected(r, "publish script reply");
  co_return stream_position{static_cast<std::uint64_t>(r.elements[0].integer), std::move(r.elements[1].str)};
}

asio::awaitable<history_page> page_of(asio::awaitable<reply> call, bool newest_first) {
  reply r = co_await std::move(call);
  if (!r.is_array() || r.elements.size() != 3 || !r.elements[0].is_integer() || !r.elements[2].is_array())
    detail::unexpected(r, "history script reply");
  history_page page;
  page.top = {static_cast<std::uint64_t>(r.elements[0].integer), std::move(r.elements[1].str)};
  auto& entries = r.elements[2].elements;
  page.publications.reserve(entries.size());
  for (auto& e : entries) page.publications.push_back(to_publication(e));
  if (newest_first) std::reverse(page.publications.begin(), page.publications.end());
  co_return page;
}

}  // namespace

std::optional<live_publication> parse_live(std::string_view m) {
  const auto a = m.find(':');
  if (a == std::string_view::npos) return std::nullopt;
  const auto b = m.find(':', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  live_publication p;
  if (!detail::parse_number(m.substr(0, a), p.offset) || p.offset == 0) return std::nullopt;
  p.epoch = m.substr(a + 1, b - a - 1);
  p.payload = m.substr(b + 1);
  return p;
}

streams::streams(client& c, stream_config config) : client_(c), config_(std::move(config)) {}

std::string streams::stream_key(std::string_view channel) const {
  return config_.prefix + ":stream:{" + std::string(channel) + "}";
}
std::string streams::meta_key(std::string_view channel) const {
  return config_.prefix + ":meta:{" + std::string(channel) + "}";
}
std::string streams::pubsub_channel(std::string_view channel) const {
  return config_.prefix + ":pub:" + std::string(channel);
}
std::optional<std::string_view> streams::channel_of(std::string_view pubsub) const {
  const std::string head = config_.prefix + ":pub:";
  if (pubsub.substr(0, head.size()) != head) return std::nullopt;
  return pubsub.substr(head.size());
}

// Not coroutines: the arguments are formatted into the request before these
// return, so the caller's views need not outlive the call.
asio::awaitable<stream_position> streams::add(std::string_view channel, std::string_view payload, bool publish) {
  return position_of(client_.eval(publish_script, 2, stream_key(channel), meta_key(channel), payload,
                                  std::to_string(config_.size), std::to_string(config_.ttl.count()),
                                  std::to_string(config_.meta_ttl.count()), new_epoch(),
                                  publish ? pubsub_channel(channel) : std::string()));
}

asio::awaitable<stream_position> streams::publish(std::string_view channel, std::string_view payload) {
  return add(channel, payload, true);
}

asio::awaitable<stream_position> streams::append(std::string_view channel, std::string_view payload) {
  return add(channel, payload, false);
}

asio::awaitable<history_page> streams::read(std::string_view channel, std::string_view mode, std::uint64_t from,
                                           std::size_t count) {
  return page_of(client_.eval(read_script, 2, stream_key(channel), meta_key(channel), mode, std::to_string(from),
                              std::to_string(count), std::to_string(config_.meta_ttl.count()), new_epoch()),
                 mode == "recent");
}

asio::awaitable<history_page> streams::recent(std::string_view channel, std::size_t n) {
  return read(channel, "recent", n, 0);
}

asio::awaitable<history_page> streams::since(std::string_view channel, std::uint64_t after, std::size_t limit) {
  return read(channel, "since", after + 1, limit);
}

asio::awaitable<void> streams::reset(std::string_view channel) {
  return detail::expect_no_error(client_.command("DEL", stream_key(channel), meta_key(channel)));
}

}  // namespace duplex::redis
