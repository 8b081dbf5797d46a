// Rooms by name, with a configured limit and name rules.
//
// Contract:
// - A valid room name is 1-64 bytes of [A-Za-z0-9_.-] (the chat schema
//   states the same rule on the wire); anything else is
//   errc::invalid_room_name. Names are case-sensitive.
// - open() returns the existing room or creates one (default-constructed or
//   by the factory) while fewer than max_rooms exist; beyond that,
//   errc::too_many_rooms. Existing rooms always open.
// - Room addresses are stable until erase() (node-based map), so callers may
//   keep a Room* while the room exists. Not thread-safe.
#pragma once

#include <duplex/realtime/error.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace duplex::realtime {

inline constexpr std::size_t max_room_name = 64;

// errc::invalid_room_name or success.
std::error_code validate_room_name(std::string_view name) noexcept;

template <class Room>
class room_registry {
 public:
  explicit room_registry(std::size_t max_rooms) : max_rooms_(max_rooms) {}

  // The room, or nullptr with ec set (invalid name, room limit).
  template <class Factory>
  Room* open(std::string_view name, Factory&& make, std::error_code& ec) {
    ec = validate_room_name(name);
    if (ec) return nullptr;
    if (auto it = rooms_.find(name); it != rooms_.end()) return &it->second;
    if (rooms_.size() >= max_rooms_) {
      ec = errc::too_many_rooms;
      return nullptr;
    }
    return &rooms_.emplace(std::string(name), make(name)).first->second;
  }
  Room* open(std::string_view name, std::error_code& ec) {
    return open(name, [](std::string_view) { return Room{}; }, ec);
  }

  Room* find(std::string_view name) {
    auto it = rooms_.find(name);
    return it == rooms_.end() ? nullptr : &it->second;
  }
  bool erase(std::string_view name) {
    auto it = rooms_.find(name);
    if (it == rooms_.end()) return false;
    rooms_.erase(it);
    return true;
  }
  std::size_t size() const noexcept { return rooms_.size(); }
  std::size_t max_rooms() const noexcept { return max_rooms_; }
  template <class F>
  void for_each(F&& f) {
    for (auto& [name, room] : rooms_) f(std::string_view(name), room);
  }

 private:
  std::size_t max_rooms_;
  std::map<std::string, Room, std::less<>> rooms_;
};

}  // namespace duplex::realtime
