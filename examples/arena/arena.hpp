// The arena: a small real-time multiplayer game, defined once for the server
// (server.cpp, native) and the page (app.cpp, em++). This header is the
// whole protocol.
//
// Wire (WebSocket subprotocol duplex.arena.v1.bin; binary frames only):
//
//   page -> server   one client_message per frame, in duplex's binary
//                    encoding (duplex/schema/binary.hpp): join first, then
//                    input whenever the pressed keys change.
//   server -> page   one tag byte, then:
//                      0x01 (frame_patch)    a duplex::sync patch of the
//                           entities this player sees (docs/sync.md's wire
//                           format): one per tick (20 Hz), the first one a
//                           snapshot (from tick 0); a page that fell behind
//                           gets one patch from what it has to the newest.
//                      0x02 (frame_message)  one server_message in the
//                           binary encoding (welcome).
//
// After a reconnect the page resets its replica and sends join with the
// token from its welcome: it gets its own player back (within the grace
// period, arena::grace_seconds) and a snapshot of what it sees.
#pragma once

#include <duplex/schema/describe.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace arena {

using duplex::schema::field;
using duplex::schema::object;

// The world: a square of world_size units; each player sees what is within
// view_radius of itself.
inline constexpr float world_size = 1000;
inline constexpr double view_radius = 350;
inline constexpr int tick_hz = 20;
inline constexpr float player_speed = 200;  // units per second
inline constexpr float bot_speed = 90;
inline constexpr int grace_seconds = 15;      // a player's dot stays this long after its page left

inline constexpr unsigned char frame_patch = 0x01;
inline constexpr unsigned char frame_message = 0x02;

enum class kind { player, bot };
constexpr auto describe(const kind*) {
  return duplex::schema::enumeration<kind>("player", kind::player, "bot", kind::bot);
}

// The synced entity (duplex::sync::world<entity> on the server, replica on
// the page). x and y in hundredths (scale 100): sync sends a move as two
// zigzag varint differences, a change of x and y ~8 bytes on the wire.
struct entity {
  std::uint32_t id = 0;
  kind what = kind::bot;
  float x = 0, y = 0;
  std::string name;
  bool away = false;  // a player whose page is gone (kept for grace_seconds)
  friend bool operator==(const entity&, const entity&) = default;
};
constexpr auto describe(const entity*) {
  return object<entity>("entity", field("id", &entity::id), field("kind", &entity::what),
                        field("x", &entity::x, {.min_real = -1, .max_real = world_size + 1, .scale = 100}),
                        field("y", &entity::y, {.min_real = -1, .max_real = world_size + 1, .scale = 100}),
                        field("name", &entity::name, {.max_bytes = 16}), field("away", &entity::away));
}

// ---- page -> server ----

// First message on every connection. resume: the token of an earlier
// welcome, to get that player back after a reconnect.
struct join {
  std::string name;
  std::optional<std::string> resume;
  friend bool operator==(const join&, const join&) = default;
};
constexpr auto describe(const join*) {
  return object<join>("join", field("name", &join::name, {.min_bytes = 1, .max_bytes = 16}),
                      field("resume", &join::resume, {.max_bytes = 32}));
}

// The direction keys held now (sent when they change).
struct input {
  bool up = false, down = false, left = false, right = false;
  friend bool operator==(const input&, const input&) = default;
};
constexpr auto describe(const input*) {
  return object<input>("input", field("up", &input::up), field("down", &input::down), field("left", &input::left),
                       field("right", &input::right));
}

// ---- server -> page ----

struct welcome {
  std::uint32_t id = 0;  // your entity
  std::string token;     // for join::resume after a reconnect
  float world = world_size;
  double radius = view_radius;
  std::int32_t hz = tick_hz;
  friend bool operator==(const welcome&, const welcome&) = default;
};
constexpr auto describe(const welcome*) {
  return object<welcome>("welcome", field("id", &welcome::id), field("token", &welcome::token, {.max_bytes = 32}),
                         field("world", &welcome::world), field("radius", &welcome::radius),
                         field("hz", &welcome::hz, {.min = 1, .max = 1000}));
}

struct protocol {
  static constexpr std::string_view name = "arena";
  static constexpr unsigned version = 1;
  using client_message = std::variant<join, input>;
  using server_message = std::variant<welcome>;
};

}  // namespace arena
