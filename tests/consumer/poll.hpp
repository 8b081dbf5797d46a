// A user's own protocol (a live poll), as in the README's "Define your own
// protocol": an enum, nested objects in a bounded vector, optionals, a
// range-checked integer.
#pragma once
#include <duplex/schema/describe.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace poll {
using duplex::schema::field;
using duplex::schema::object;

enum class mood { yes, no, maybe };
constexpr auto describe(const mood*) {
  return duplex::schema::enumeration<mood>("yes", mood::yes, "no", mood::no, "maybe", mood::maybe);
}

struct vote {
  std::string voter;
  mood choice = mood::yes;
  std::int32_t weight = 1;
  std::optional<std::string> comment;
};
constexpr auto describe(const vote*) {
  return object<vote>("vote", field("voter", &vote::voter, {.max_bytes = 32}), field("choice", &vote::choice),
                      field("weight", &vote::weight, {.min = 1, .max = 5}),
                      field("comment", &vote::comment, {.max_bytes = 200}));
}

struct option_count {
  mood choice = mood::yes;
  std::int64_t votes = 0;
};
constexpr auto describe(const option_count*) {
  return object<option_count>("option_count", field("choice", &option_count::choice),
                              field("votes", &option_count::votes, {.min = 0}));
}

struct tally {
  std::string question;
  std::vector<option_count> counts;
};
constexpr auto describe(const tally*) {
  return object<tally>("tally", field("question", &tally::question, {.max_bytes = 200}),
                       field("counts", &tally::counts, {.max_items = 3}));
}

struct protocol {
  static constexpr std::string_view name = "poll";
  static constexpr unsigned version = 1;
  using client_message = std::variant<vote>;
  using server_message = std::variant<tally>;
};
}  // namespace poll
