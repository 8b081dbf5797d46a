// The entity the sync tests, the proof harness and sync_fuzz use: every kind
// of field a game entity has (floats, scaled and not, integers with rules, a string, an
// enum, an optional, a vector, a nested struct).
#pragma once

#include <duplex/schema/describe.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace synctest {
using duplex::schema::field;
using duplex::schema::object;

enum class team { red, blue, none };
constexpr auto describe(const team*) {
  return duplex::schema::enumeration<team>("red", team::red, "blue", team::blue, "none", team::none);
}

struct gear {
  std::int32_t ammo = 0;
  bool shield = false;
  friend bool operator==(const gear&, const gear&) = default;
};
constexpr auto describe(const gear*) {
  return object<gear>("gear", field("ammo", &gear::ammo, {.min = 0, .max = 999}), field("shield", &gear::shield));
}

struct unit {
  std::uint32_t id = 0;
  float x = 0, y = 0;
  float angle = 0;
  std::int32_t hp = 100;
  std::string name;
  team side = team::none;
  std::optional<std::uint32_t> target;
  std::vector<std::uint16_t> items;
  gear kit;
  friend bool operator==(const unit&, const unit&) = default;
};
// Positions in hundredths (duplex::sync sends them as integers), angle as a float.
inline constexpr duplex::schema::rules xy{.min_real = -1e4, .max_real = 1e4, .scale = 100};
constexpr auto describe(const unit*) {
  return object<unit>("unit", field("id", &unit::id), field("x", &unit::x, xy), field("y", &unit::y, xy),
                      field("angle", &unit::angle), field("hp", &unit::hp, {.min = -1000, .max = 1000}),
                      field("name", &unit::name, {.max_bytes = 32}), field("side", &unit::side),
                      field("target", &unit::target), field("items", &unit::items, {.max_items = 16}),
                      field("kit", &unit::kit));
}

}  // namespace synctest
