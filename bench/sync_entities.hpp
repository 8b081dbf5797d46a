// The entity sync_bench and decode_bench measure (issue 22): {id u32, x f32,
// y f32, angle f32, hp i32, name}, x and y described in hundredths
// (rules::scale = 100, range ±10,000), and the same state as JSON messages:
// the whole state, and the moves alone (id, x, y).
#pragma once

#include <duplex/schema/describe.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace bench {
using duplex::schema::field;
using duplex::schema::object;

struct entity {
  std::uint32_t id = 0;
  float x = 0, y = 0, angle = 0;
  std::int32_t hp = 100;
  std::string name;
  bool operator==(const entity&) const = default;
};
inline constexpr duplex::schema::rules hundredths{.min_real = -1e4, .max_real = 1e4, .scale = 100};
constexpr auto describe(const entity*) {
  return object<entity>("entity", field("id", &entity::id), field("x", &entity::x, hundredths),
                        field("y", &entity::y, hundredths), field("angle", &entity::angle), field("hp", &entity::hp),
                        field("name", &entity::name));
}
struct state {
  std::vector<entity> entities;
};
constexpr auto describe(const state*) { return object<state>("state", field("entities", &state::entities)); }
struct moved {
  std::uint32_t id = 0;
  float x = 0, y = 0;
};
constexpr auto describe(const moved*) {
  return object<moved>("moved", field("id", &moved::id), field("x", &moved::x), field("y", &moved::y));
}
struct moves {
  std::vector<moved> entities;
};
constexpr auto describe(const moves*) { return object<moves>("moves", field("entities", &moves::entities)); }
using message = std::variant<state, moves>;
}  // namespace bench
