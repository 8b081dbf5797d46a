#include <duplex/redis/presence_manager.hpp>

#include <asio/co_spawn.hpp>

#include <exception>
#include <utility>
#include <vector>

namespace duplex::redis {
namespace {

// A member of another node, in a channel's presence here (never a real
// token: the chat's are 32 hex digits, and a token cannot hold '\x01').
constexpr std::string_view remote_token = "\x01remote";

}  // namespace

redis_presence::redis_presence(client& c, presence_options options, realtime::presence::config local)
    : presence_manager(local),
      client_(c),
      options_(std::move(options)),
      store_(c, presence_config{.prefix = options_.prefix, .ttl = options_.ttl}) {}

redis_presence::~redis_presence() { *alive_ = false; }

void redis_presence::close(std::string_view channel) {
  if (auto it = shared_.find(channel); it != shared_.end()) shared_.erase(it);
  presence_manager::close(channel);
}

void redis_presence::claim(std::string_view channel, std::string name, std::string token, claim_handler done) {
  // A release of the name from here still in flight (its script may need an
  // extra round trip) goes first: a name left here is free at once.
  const bool releasing = releasing_.count({std::string(channel), name}) > 0;
  auto op = [](redis_presence& p, std::string channel, std::string name, std::string token,
               bool releasing) -> asio::awaitable<bool> {
    if (releasing) co_await p.store_.release(channel, name, p.options_.node);
    co_return co_await p.store_.claim(channel, name, token, p.options_.node);
  };
  asio::co_spawn(client_.get_executor(), op(*this, std::string(channel), std::move(name), std::move(token), releasing),
                 [alive = alive_, done = std::move(done)](std::exception_ptr e, bool claimed) {
                   if (!*alive || !done) return;
                   // Redis down: names are checked on this node only until it is back.
                   done(!e && !claimed ? std::error_code(realtime::errc::name_taken) : std::error_code());
                 });
}

std::error_code redis_presence::join(std::string_view channel, const std::string& name, const std::string& token,
                                     clock::time_point now) {
  auto& p = state(channel);
  auto& s = shared_[std::string(channel)];
  if (s.remote.erase(name)) p.leave(name, remote_token);  // it moved here
  auto ec = p.join(name, token, "", now);
  if (ec) {
    if (!s.owned.count(name)) release(channel, name);
    return ec;
  }
  s.owned[name] = token;
  return {};
}

bool redis_presence::leave(std::string_view channel, const std::string& name, std::string_view token) {
  const bool left = presence_manager::leave(channel, name, token);
  release(channel, name);
  return left;
}

realtime::presence_diff redis_presence::tick(std::string_view channel, clock::time_point now) {
  auto diff = presence_manager::tick(channel, now);
  const realtime::presence* p = find(channel);
  auto it = shared_.find(channel);
  if (p && it != shared_.end()) {  // names whose grace ended are free on every node too
    for (auto& n : diff.leaves)
      if (!p->holds(n) && it->second.owned.count(n)) release(channel, n);
  }
  return diff;
}

bool redis_presence::local_members(std::string_view channel) const {
  const realtime::presence* p = find(channel);
  auto it = shared_.find(channel);
  const std::size_t remote = it == shared_.end() ? 0 : it->second.remote.size();
  const bool owned = it != shared_.end() && !it->second.owned.empty();
  return (p && p->size() > remote) || owned;
}

void redis_presence::release(std::string_view channel, const std::string& name) {
  if (auto it = shared_.find(channel); it != shared_.end()) it->second.owned.erase(name);
  auto key = std::make_pair(std::string(channel), name);
  releasing_.insert(key);
  auto op = [](redis_presence& p, std::string channel, std::string name) -> asio::awaitable<void> {
    co_await p.store_.release(channel, name, p.options_.node);
  };
  asio::co_spawn(client_.get_executor(), op(*this, std::string(channel), name),
                 [this, alive = alive_, key = std::move(key)](std::exception_ptr) {
                   if (!*alive) return;
                   if (auto it = releasing_.find(key); it != releasing_.end()) releasing_.erase(it);
                 });
}

bool redis_presence::maintain(clock::time_point now) {
  const bool up = client_.is_up();
  if (up && !was_up_) next_sync_ = next_refresh_ = now;  // back: re-add ours, read theirs now
  was_up_ = up;
  if (!up) return true;
  std::vector<std::string> names;
  if (now >= next_sync_) {
    next_sync_ = now + options_.sync;
    for_each([&](std::string_view name, realtime::presence&) { names.emplace_back(name); });
    for (auto& n : names) sync(n);
  }
  if (now >= next_refresh_) {
    next_refresh_ = now + options_.ttl / 3;
    names.clear();
    for (auto& [name, s] : shared_)
      if (!s.owned.empty()) names.push_back(name);
    for (auto& n : names) refresh(n);
  }
  return true;
}

// The other nodes' members enter and leave this channel's presence like
// local ones, so its snapshot and coalesced diffs cover every node.
void redis_presence::sync(const std::string& channel) {
  auto op = [](redis_presence& p, std::string channel) -> asio::awaitable<std::vector<presence_entry>> {
    co_return co_await p.store_.list(channel);
  };
  asio::co_spawn(client_.get_executor(), op(*this, channel),
                 [this, alive = alive_, channel](std::exception_ptr e, std::vector<presence_entry> all) {
                   if (!*alive || e) return;
                   realtime::presence* p = find(channel);
                   if (!p) return;  // closed meanwhile
                   auto& s = shared_[channel];
                   std::set<std::string, std::less<>> there;
                   for (auto& entry : all) {
                     auto owner = parse_owner(entry.info);
                     if (owner && owner->holder == options_.node) continue;
                     there.insert(std::move(entry.client_id));
                   }
                   const auto now = clock::now();
                   for (auto it = s.remote.begin(); it != s.remote.end();) {
                     if (there.count(*it)) {
                       ++it;
                       continue;
                     }
                     p->leave(*it, remote_token);
                     it = s.remote.erase(it);
                   }
                   for (auto& n : there) {
                     if (s.remote.count(n) || p->holds(n)) continue;  // ours (moving away shows in the refresh)
                     if (!p->join(n, remote_token, "", now)) s.remote.insert(n);
                   }
                 });
}

// Keeps this node's names alive in Redis; a name another node now holds
// (its member reconnected there with its token) goes to the lost handler
// and leaves here.
void redis_presence::refresh(const std::string& channel) {
  auto it = shared_.find(channel);
  if (it == shared_.end()) return;
  std::vector<std::pair<std::string, std::string>> mine(it->second.owned.begin(), it->second.owned.end());
  auto op = [](redis_presence& p, std::string channel,
               std::vector<std::pair<std::string, std::string>> mine) -> asio::awaitable<std::vector<std::string>> {
    co_return co_await p.store_.refresh(channel, mine, p.options_.node);
  };
  asio::co_spawn(client_.get_executor(), op(*this, channel, std::move(mine)),
                 [this, alive = alive_, channel](std::exception_ptr e, std::vector<std::string> gone) {
                   if (!*alive || e) return;
                   for (auto& n : gone) {
                     auto s = shared_.find(channel);
                     realtime::presence* p = find(channel);
                     if (s == shared_.end() || !p) return;
                     auto owned = s->second.owned.find(n);
                     if (owned == s->second.owned.end()) continue;
                     const std::string token = owned->second;
                     s->second.owned.erase(owned);
                     lost(channel, n);
                     if (realtime::presence* q = find(channel)) q->leave(n, token);
                     log("presence " + channel + " " + n + ": held by another node now");
                   }
                 });
}

}  // namespace duplex::redis
