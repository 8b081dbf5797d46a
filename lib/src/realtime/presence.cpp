#include <duplex/realtime/presence.hpp>

namespace duplex::realtime {

void presence::forget_expiry(const std::string& name, const member& m) {
  if (!m.connected) expiries_.erase(std::pair<clock::time_point, std::string>(m.grace_until, name));
}

std::error_code presence::join(std::string_view name, std::string_view token, std::string info,
                               clock::time_point now) {
  auto it = members_.find(name);
  if (it != members_.end() && !it->second.connected && it->second.grace_until <= now) {
    // Grace over but not yet ticked: the name is free (the tick's diff shows
    // a leave+join, or nothing if the info is the same).
    dirty_.emplace(it->first);
    forget_expiry(it->first, it->second);
    members_.erase(it);
    it = members_.end();
  }
  if (it != members_.end()) {
    auto& m = it->second;
    // A session resuming within its grace period keeps the name; anyone else
    // (including a second connection of a live session) is refused.
    if (m.connected || m.token != token) return errc::name_taken;
    forget_expiry(it->first, m);
    m.connected = true;
    if (m.info.get() != info) {
      m.info = info_box(std::move(info));
      dirty_.emplace(it->first);
    }
    return {};
  }
  auto [pos, _] = members_.emplace(std::string(name), member{std::string(token), info_box(std::move(info))});
  dirty_.emplace(pos->first);
  return {};
}

bool presence::disconnect(std::string_view name, std::string_view token, clock::time_point now) {
  auto it = members_.find(name);
  if (it == members_.end() || it->second.token != token || !it->second.connected) return false;
  it->second.connected = false;
  it->second.grace_until = now + config_.grace;
  expiries_.emplace(it->second.grace_until, it->first);
  return true;
}

bool presence::leave(std::string_view name, std::string_view token) {
  auto it = members_.find(name);
  if (it == members_.end() || it->second.token != token) return false;
  dirty_.emplace(it->first);
  forget_expiry(it->first, it->second);
  members_.erase(it);
  return true;
}

presence_diff presence::tick(clock::time_point now) {
  ++stats_.ticks;
  // Only the grace periods that ended: the earliest first.
  while (!expiries_.empty() && expiries_.begin()->first <= now) {
    auto node = expiries_.extract(expiries_.begin());
    ++stats_.visited;
    auto it = members_.find(node.value().second);
    if (it != members_.end() && !it->second.connected && it->second.grace_until == node.value().first) {
      dirty_.emplace(it->first);
      members_.erase(it);
    }
  }
  presence_diff diff;
  for (auto& name : dirty_) {
    ++stats_.visited;
    auto now_it = members_.find(name);
    auto was_it = published_.find(name);
    bool is = now_it != members_.end(), was = was_it != published_.end();
    if (is && was && now_it->second.info == was_it->second) continue;  // cancelled out
    if (was) {
      diff.leaves.push_back(name);
      published_.erase(was_it);
    }
    if (is) {
      diff.joins.push_back({name, now_it->second.info.get()});
      published_.emplace(name, now_it->second.info);
    }
  }
  dirty_.clear();
  return diff;
}

presence_snapshot presence::snapshot(std::size_t cap) const {
  presence_snapshot s;
  s.total = published_.size();
  for (auto& [name, info] : published_) {
    if (s.members.size() >= cap) break;
    s.members.push_back({name, info.get()});
  }
  return s;
}

presence_page presence::page(std::string_view after, std::size_t limit) const {
  presence_page p;
  p.total = published_.size();
  auto it = after.empty() ? published_.begin() : published_.upper_bound(after);
  for (; it != published_.end() && p.members.size() < limit; ++it) p.members.push_back({it->first, it->second.get()});
  p.more = it != published_.end();
  return p;
}

bool presence::pending(clock::time_point now) const {
  return !dirty_.empty() || (!expiries_.empty() && expiries_.begin()->first <= now);
}

std::optional<presence::clock::time_point> presence::next_expiry() const {
  if (expiries_.empty()) return std::nullopt;
  return expiries_.begin()->first;
}

}  // namespace duplex::realtime
