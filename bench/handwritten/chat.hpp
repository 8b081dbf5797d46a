// The chat protocol: one plain C++ type per message, shared by the native
// server and the WebAssembly browser client. The JSON form of each is
// {"type": "<wire name>", ...fields}. Compiles with g++ and em++ (no Asio,
// no coroutines here).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace duplex::handwritten {

// Limits both ends enforce; the decoder rejects longer values with
// decode_errc::too_long so a client can't make the server relay megabytes.
inline constexpr std::size_t max_name_bytes = 32;
inline constexpr std::size_t max_text_bytes = 4000;
inline constexpr std::size_t max_users = 10000;

// ---- client -> server ----

// Pick a display name. Must be sent before any chat.  {"type":"join","name":"ada"}
struct join {
  std::string name;
  friend bool operator==(const join&, const join&) = default;
};

// Say something to the room.  {"type":"chat","text":"hello"}
struct chat {
  std::string text;
  friend bool operator==(const chat&, const chat&) = default;
};

// ---- server -> client ----

// A chat line as delivered to everyone.
// {"type":"message","from":"ada","text":"hello","time":1732600000000}
struct message {
  std::string from;
  std::string text;
  std::int64_t time = 0;  // milliseconds since the Unix epoch, server clock
  friend bool operator==(const message&, const message&) = default;
};

// The full online list, sent to a client when it joins and to everyone when
// it changes.  {"type":"presence","users":["ada","bob"]}
struct presence {
  std::vector<std::string> users;
  friend bool operator==(const presence&, const presence&) = default;
};

// Announcements.  {"type":"joined","name":"bob"}  {"type":"left","name":"bob"}
struct joined {
  std::string name;
  friend bool operator==(const joined&, const joined&) = default;
};
struct left {
  std::string name;
  friend bool operator==(const left&, const left&) = default;
};

// A request was refused; the connection stays usable.
// {"type":"error","code":"name_taken","message":"the name ada is in use"}
struct error {
  std::string code;     // machine-readable, e.g. "bad_message", "name_taken", "not_joined"
  std::string message;  // human-readable
  friend bool operator==(const error&, const error&) = default;
};

using client_message = std::variant<join, chat>;
using server_message = std::variant<message, presence, joined, left, error>;

}  // namespace duplex::handwritten
