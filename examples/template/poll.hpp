// The poll's protocol: the one header both ends include. The server
// (server.cpp, g++) and the page (the generated client and app.cpp, em++)
// agree on these types, their JSON and their rules; duplex derives the
// codec, the page's TypeScript declarations, a JSON Schema and a fingerprint.
#pragma once
#include <duplex/schema/describe.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace live_poll {
using duplex::schema::field;
using duplex::schema::object;

enum class mood { yes, no, maybe };
constexpr auto describe(const mood*) {
  return duplex::schema::enumeration<mood>("yes", mood::yes, "no", mood::no, "maybe", mood::maybe);
}

// page -> server
struct vote {
  std::string voter;
  mood choice = mood::yes;
  std::int32_t weight = 1;
  std::optional<std::string> comment;  // absent when empty
};
constexpr auto describe(const vote*) {
  return object<vote>("vote", field("voter", &vote::voter, {.min_bytes = 1, .max_bytes = 32}),
                      field("choice", &vote::choice), field("weight", &vote::weight, {.min = 1, .max = 5}),
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

// server -> page: the counts after every vote
struct tally {
  std::string question;
  std::vector<option_count> counts;
};
constexpr auto describe(const tally*) {
  return object<tally>("tally", field("question", &tally::question, {.max_bytes = 200}),
                       field("counts", &tally::counts, {.max_items = 3}));
}

// server -> page: a vote the server would not count, and why
struct refusal {
  std::string code;  // e.g. "already_voted"
  std::string detail;
};
constexpr auto describe(const refusal*) {
  return object<refusal>("refusal", field("code", &refusal::code, {.min_bytes = 1, .max_bytes = 40}),
                         field("detail", &refusal::detail, {.max_bytes = 200}));
}

struct protocol {
  static constexpr std::string_view name = "poll";
  static constexpr unsigned version = 1;  // bump when a description changes
  using client_message = std::variant<vote>;
  using server_message = std::variant<tally, refusal>;
};
}  // namespace live_poll
