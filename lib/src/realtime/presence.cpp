#include <duplex/realtime/presence.hpp>

namespace duplex::realtime {

std::error_code presence::join(std::string_view name, std::string_view token, std::string info,
                               clock::time_point now) {
  auto it = members_.find(name);
  if (it != members_.end() && !it->second.connected && it->second.grace_until <= now) {
    // Grace over but not yet ticked: the name is free (the tick's diff shows
    // a leave+join, or nothing if the info is the same).
    dirty_.emplace(it->first);
    members_.erase(it);
    it = members_.end();
  }
  if (it != members_.end()) {
    auto& m = it->second;
    // A session resuming within its grace period keeps the name; anyone else
    // (including a second connection of a live session) is refused.
    if (m.connected || m.token != token) return errc::name_taken;
    m.connected = true;
    if (m.info != info) {
      m.info = std::move(info);
      dirty_.emplace(it->first);
    }
    return {};
  }
  auto [pos, _] = members_.emplace(std::string(name), member{std::string(token), std::move(info)});
  dirty_.emplace(pos->first);
  return {};
}

bool presence::disconnect(std::string_view name, std::string_view token, clock::time_point now) {
  auto it = members_.find(name);
  if (it == members_.end() || it->second.token != token || !it->second.connected) return false;
  it->second.connected = false;
  it->second.grace_until = now + config_.grace;
  return true;
}

bool presence::leave(std::string_view name, std::string_view token) {
  auto it = members_.find(name);
  if (it == members_.end() || it->second.token != token) return false;
  dirty_.emplace(it->first);
  members_.erase(it);
  return true;
}

presence_diff presence::tick(clock::time_point now) {
  for (auto it = members_.begin(); it != members_.end();) {
    if (!it->second.connected && it->second.grace_until <= now) {
      dirty_.emplace(it->first);
      it = members_.erase(it);
    } else {
      ++it;
    }
  }
  presence_diff diff;
  for (auto& name : dirty_) {
    auto now_it = members_.find(name);
    auto was_it = published_.find(name);
    bool is = now_it != members_.end(), was = was_it != published_.end();
    if (is && was && now_it->second.info == was_it->second) continue;  // cancelled out
    if (was) {
      diff.leaves.push_back(name);
      published_.erase(was_it);
    }
    if (is) {
      diff.joins.push_back({name, now_it->second.info});
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
    s.members.push_back({name, info});
  }
  return s;
}

bool presence::next_expiry(clock::time_point& when) const {
  bool any = false;
  for (auto& [_, m] : members_) {
    if (m.connected) continue;
    if (!any || m.grace_until < when) when = m.grace_until;
    any = true;
  }
  return any;
}

}  // namespace duplex::realtime
