// The chat protocol, described once: the native server and the WebAssembly
// browser client share these types, and the codec, the JS conversion, the
// TypeScript declarations and the JSON Schema all come from the descriptions
// below. Adding a message or a field is an edit of this file (and, when the
// wire format changes, a version bump: see tests/schema/fingerprints).
#pragma once

#include <duplex/schema/codec.hpp>
#include <duplex/schema/describe.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace duplex::schema {

// Limits both ends enforce; longer values are refused (too_long) so a client
// can't make the server relay megabytes.
inline constexpr std::size_t max_name_bytes = 32;
inline constexpr std::size_t max_text_bytes = 4000;
inline constexpr std::size_t max_users = 10000;

inline constexpr rules display_name{.max_bytes = max_name_bytes, .display_name = true};
inline constexpr rules chat_text{.min_bytes = 1, .max_bytes = max_text_bytes};

// ---- client -> server ----

// Pick a display name. Must be sent before any chat.  {"type":"join","name":"ada"}
struct join {
  std::string name;
  friend bool operator==(const join&, const join&) = default;
};
constexpr auto describe(const join*) { return object<join>("join", field("name", &join::name, display_name)); }

// Say something to the room.  {"type":"chat","text":"hello"}
struct chat {
  std::string text;
  friend bool operator==(const chat&, const chat&) = default;
};
constexpr auto describe(const chat*) { return object<chat>("chat", field("text", &chat::text, chat_text)); }

// ---- server -> client ----

// A chat line as delivered to everyone.
// {"type":"message","from":"ada","text":"hello","time":1732600000000}
struct message {
  std::string from;
  std::string text;
  std::int64_t time = 0;  // milliseconds since the Unix epoch, server clock
  friend bool operator==(const message&, const message&) = default;
};
constexpr auto describe(const message*) {
  return object<message>("message", field("from", &message::from, display_name),
                         field("text", &message::text, chat_text), field("time", &message::time));
}

// The full online list, sent to a client when it joins and to everyone when
// it changes.  {"type":"presence","users":["ada","bob"]}
struct presence {
  std::vector<std::string> users;
  friend bool operator==(const presence&, const presence&) = default;
};
constexpr auto describe(const presence*) {
  rules each_name = display_name;
  each_name.max_items = max_users;
  return object<presence>("presence", field("users", &presence::users, each_name));
}

// Announcements.  {"type":"joined","name":"bob"}  {"type":"left","name":"bob"}
struct joined {
  std::string name;
  friend bool operator==(const joined&, const joined&) = default;
};
constexpr auto describe(const joined*) {
  return object<joined>("joined", field("name", &joined::name, display_name));
}
struct left {
  std::string name;
  friend bool operator==(const left&, const left&) = default;
};
constexpr auto describe(const left*) { return object<left>("left", field("name", &left::name, display_name)); }

// A request was refused; the connection stays usable.
// {"type":"error","code":"name_taken","message":"the name ada is in use"}
struct error {
  std::string code;     // machine-readable, e.g. "bad_message", "name_taken", "not_joined"
  std::string message;  // human-readable, may be empty
  friend bool operator==(const error&, const error&) = default;
};
constexpr auto describe(const error*) {
  return object<error>("error", field("code", &error::code, {.min_bytes = 1}), field("message", &error::message));
}

using client_message = std::variant<join, chat>;
using server_message = std::variant<message, presence, joined, left, error>;

struct chat_protocol {
  static constexpr std::string_view name = "chat";
  static constexpr unsigned version = 1;
  using client_message = schema::client_message;
  using server_message = schema::server_message;
};

inline decode_result<client_message> decode_client(std::string_view json) { return decode<client_message>(json); }
inline decode_result<server_message> decode_server(std::string_view json) { return decode<server_message>(json); }

}  // namespace duplex::schema
