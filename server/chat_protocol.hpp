// The chat's protocol (duplex.chat.v1..v5), described once: the native
// server (duplex-chat, server/) and its WebAssembly browser client
// (wasm/CMakeLists.txt builds it from this header) share these types, and the
// codec, the JS conversion, the TypeScript declarations and the JSON Schema
// all come from the descriptions below, as for examples/ticker/ticker.hpp.
// An application's header, not part of the installed library: include it as
// <chat_protocol.hpp> with server/ on the include path.
// Adding a message or a field is an edit of this file (and, when the wire
// format changes, a version bump: see tests/schema/fingerprints).
#pragma once

#include <duplex/schema/codec.hpp>
#include <duplex/schema/describe.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace duplex::chat::wire {

// Limits both ends enforce; longer values are refused (too_long) so a client
// can't make the server relay megabytes.
inline constexpr std::size_t max_name_bytes = 32;
inline constexpr std::size_t max_text_bytes = 4000;
inline constexpr std::size_t max_users = 10000;

inline constexpr schema::rules display_name{.max_bytes = max_name_bytes, .display_name = true};
inline constexpr schema::rules chat_text{.min_bytes = 1, .max_bytes = max_text_bytes};

// ---- client -> server ----

// Pick a display name. Must be sent before any chat.  {"type":"join","name":"ada"}
struct join {
  std::string name;
  friend bool operator==(const join&, const join&) = default;
};
constexpr auto describe(const join*) {
  return schema::object<join>("join", schema::field("name", &join::name, display_name));
}

// Say something to the room.  {"type":"chat","text":"hello"}
struct chat {
  std::string text;
  friend bool operator==(const chat&, const chat&) = default;
};
constexpr auto describe(const chat*) {
  return schema::object<chat>("chat", schema::field("text", &chat::text, chat_text));
}

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
  return schema::object<message>("message", schema::field("from", &message::from, display_name),
                                 schema::field("text", &message::text, chat_text),
                                 schema::field("time", &message::time));
}

// The full online list, sent to a client when it joins and to everyone when
// it changes.  {"type":"presence","users":["ada","bob"]}
struct presence {
  std::vector<std::string> users;
  friend bool operator==(const presence&, const presence&) = default;
};
constexpr auto describe(const presence*) {
  schema::rules each_name = display_name;
  each_name.max_items = max_users;
  return schema::object<presence>("presence", schema::field("users", &presence::users, each_name));
}

// Announcements.  {"type":"joined","name":"bob"}  {"type":"left","name":"bob"}
struct joined {
  std::string name;
  friend bool operator==(const joined&, const joined&) = default;
};
constexpr auto describe(const joined*) {
  return schema::object<joined>("joined", schema::field("name", &joined::name, display_name));
}
struct left {
  std::string name;
  friend bool operator==(const left&, const left&) = default;
};
constexpr auto describe(const left*) {
  return schema::object<left>("left", schema::field("name", &left::name, display_name));
}

// A request was refused; the connection stays usable.
// {"type":"error","code":"name_taken","message":"the name ada is in use"}
struct error {
  std::string code;     // machine-readable, e.g. "bad_message", "name_taken", "not_joined"
  std::string message;  // human-readable, may be empty
  friend bool operator==(const error&, const error&) = default;
};
constexpr auto describe(const error*) {
  return schema::object<error>("error", schema::field("code", &error::code, {.min_bytes = 1}),
                               schema::field("message", &error::message));
}

using client_message = std::variant<join, chat>;
using server_message = std::variant<message, presence, joined, left, error>;

struct chat_protocol {
  static constexpr std::string_view name = "chat";
  static constexpr unsigned version = 1;
  using client_message = wire::client_message;
  using server_message = wire::server_message;
};

// ---- version 2: rooms, history, resume, presence diffs (issue 11) ----------
// Every delivered chat line carries its room, its sequence number in the
// room (seq: 1, 2, 3, ...) and the room's epoch (changes when the room's
// history is lost or reset, so a stale (epoch, seq) is never trusted).
// Unchanged messages (chat, error) are shared with version 1.
namespace v2 {

// Room names: 1-64 bytes of [A-Za-z0-9_.-], case-sensitive. The length is
// checked by the codec, the characters by the server (error code bad_room).
inline constexpr std::size_t max_room_bytes = 64;
inline constexpr schema::rules room_name{.min_bytes = 1, .max_bytes = max_room_bytes};
inline constexpr schema::rules epoch_text{.max_bytes = 64};
inline constexpr schema::rules token_text{.min_bytes = 1, .max_bytes = 64};
// Names in one presence snapshot or diff, messages in one history frame.
inline constexpr std::size_t max_list = 10000;

// ---- client -> server ----

// Join a room under a display name (watching it first if not yet).
// `token`: the resume key from an earlier `joined`; a reconnect within the
// grace period keeps the name with no leave/join seen by others.
// {"type":"join","name":"ada","room":"lobby"}
struct join {
  std::string name;
  std::string room;
  std::optional<std::string> token;
  friend bool operator==(const join&, const join&) = default;
};
constexpr auto describe(const join*) {
  return schema::object<join>("join", schema::field("name", &join::name, display_name),
                              schema::field("room", &join::room, room_name),
                              schema::field("token", &join::token, token_text));
}

// Watch a room without joining: recent history, the presence snapshot, then
// live messages and presence diffs.  {"type":"watch","room":"lobby"}
struct watch {
  std::string room;
  friend bool operator==(const watch&, const watch&) = default;
};
constexpr auto describe(const watch*) {
  return schema::object<watch>("watch", schema::field("room", &watch::room, room_name));
}

// Watch a room from the last (epoch, seq) seen: the missed messages, then
// `resumed`, then live ones; or an error (epoch_mismatch, cannot_resume,
// position_from_future) followed by the recent history.
// {"type":"resume","room":"lobby","epoch":"9f..","seq":41}
struct resume {
  std::string room;
  std::string epoch;
  std::uint64_t seq = 0;
  friend bool operator==(const resume&, const resume&) = default;
};
constexpr auto describe(const resume*) {
  return schema::object<resume>("resume", schema::field("room", &resume::room, room_name),
                                schema::field("epoch", &resume::epoch, epoch_text), schema::field("seq", &resume::seq));
}

// Leave the room now (frees the name; a dropped connection keeps it for
// the grace period).  {"type":"leave"}
struct leave {
  friend bool operator==(const leave&, const leave&) = default;
};
constexpr auto describe(const leave*) { return schema::object<leave>("leave"); }

// ---- server -> client ----

// {"type":"message","from":"ada","text":"hi","time":1732600000000,"room":"lobby","seq":42,"epoch":"9f.."}
struct message {
  std::string from;
  std::string text;
  std::int64_t time = 0;  // milliseconds since the Unix epoch, server clock
  std::string room;
  std::uint64_t seq = 0;
  std::string epoch;
  friend bool operator==(const message&, const message&) = default;
};
constexpr auto describe(const message*) {
  return schema::object<message>(
      "message", schema::field("from", &message::from, display_name), schema::field("text", &message::text, chat_text),
      schema::field("time", &message::time), schema::field("room", &message::room, room_name),
      schema::field("seq", &message::seq), schema::field("epoch", &message::epoch, epoch_text));
}

// Stored messages, oldest first. replace: the client's view of the room
// starts over with these (a fresh load, or a refused resume); otherwise they
// follow what the client has (a resumed gap, or the next part of a long
// answer). seq/epoch: the room's position after these messages.
struct history {
  std::string room;
  std::string epoch;
  std::uint64_t seq = 0;
  bool replace = true;
  std::vector<message> messages;
  friend bool operator==(const history&, const history&) = default;
};
constexpr auto describe(const history*) {
  return schema::object<history>("history", schema::field("room", &history::room, room_name),
                                 schema::field("epoch", &history::epoch, epoch_text),
                                 schema::field("seq", &history::seq), schema::field("replace", &history::replace),
                                 schema::field("messages", &history::messages, {.max_items = max_list}));
}

// The resume worked: `missed` messages were replayed (in history frames
// before this one), live ones follow from seq on.
struct resumed {
  std::string room;
  std::string epoch;
  std::uint64_t seq = 0;
  std::uint64_t missed = 0;
  friend bool operator==(const resumed&, const resumed&) = default;
};
constexpr auto describe(const resumed*) {
  return schema::object<resumed>("resumed", schema::field("room", &resumed::room, room_name),
                                 schema::field("epoch", &resumed::epoch, epoch_text),
                                 schema::field("seq", &resumed::seq), schema::field("missed", &resumed::missed));
}

// Who is in the room, to a new watcher or joiner only: at most a server-set
// number of names (name order) and the total. Later changes come as diffs.
struct presence {
  std::string room;
  std::vector<std::string> users;
  std::uint64_t total = 0;
  friend bool operator==(const presence&, const presence&) = default;
};
constexpr auto describe(const presence*) {
  schema::rules each_name = display_name;
  each_name.max_items = max_list;
  return schema::object<presence>("presence", schema::field("room", &presence::room, room_name),
                                  schema::field("users", &presence::users, each_name),
                                  schema::field("total", &presence::total));
}

// Joins and leaves since the last diff, coalesced (sent at most once per
// server tick, to everyone watching the room). A name in both left and
// joined again.
struct presence_diff {
  std::string room;
  std::vector<std::string> joins;
  std::vector<std::string> leaves;
  std::uint64_t total = 0;
  friend bool operator==(const presence_diff&, const presence_diff&) = default;
};
constexpr auto describe(const presence_diff*) {
  schema::rules each_name = display_name;
  each_name.max_items = max_list;
  return schema::object<presence_diff>("presence_diff", schema::field("room", &presence_diff::room, room_name),
                                       schema::field("joins", &presence_diff::joins, each_name),
                                       schema::field("leaves", &presence_diff::leaves, each_name),
                                       schema::field("total", &presence_diff::total));
}

// The join worked; only the joiner gets this. Keep `token` to keep the name
// across a reconnect (send it in the next join).
struct joined {
  std::string name;
  std::string room;
  std::string token;
  friend bool operator==(const joined&, const joined&) = default;
};
constexpr auto describe(const joined*) {
  return schema::object<joined>("joined", schema::field("name", &joined::name, display_name),
                                schema::field("room", &joined::room, room_name),
                                schema::field("token", &joined::token, token_text));
}

// Error codes of version 2 (error::code), besides bad_message:
//   bad_room             the room name breaks the rules
//   too_many_rooms       the server's room limit is reached
//   name_taken           someone in the room has the name (or holds it for a reconnect)
//   already_joined       joined already (leave first to switch rooms)
//   not_joined           chat before join
//   epoch_mismatch       resume from another epoch (history reset or lost)
//   cannot_resume        the gap is no longer kept (or too long to replay)
//   position_from_future resume from a seq the room never reached
//   storage              (logged) history is not being written; chat continues live
using client_message = std::variant<join, wire::chat, watch, resume, leave>;
using server_message = std::variant<message, history, resumed, presence, presence_diff, joined, wire::error>;

}  // namespace v2

struct chat_protocol_v2 {
  static constexpr std::string_view name = "chat";
  static constexpr unsigned version = 2;
  using client_message = v2::client_message;
  using server_message = v2::server_message;
};

// ---- version 3: version 2 and the in-band token refresh --------------------
// A signed-in connection (duplex-chat --auth-jwt) is closed with 4001 at its
// token's exp. Version 3 lets the page hand over a fresh token on the open
// connection before then, so a member is never cut off while signed in.
namespace v3 {

// A new token for this connection (the same user: its name claim, else
// sub, must be the current one's). Refused with bad_token (the detail says
// why: expired, bad_signature, ...), token_not_yours or not_signed_in.
// {"type":"refresh","token":"eyJ..."}
struct refresh {
  std::string token;
  friend bool operator==(const refresh&, const refresh&) = default;
};
constexpr auto describe(const refresh*) {
  return schema::object<refresh>("refresh",
                                 schema::field("token", &refresh::token, {.min_bytes = 1, .max_bytes = 8192}));
}

// The refresh worked: the connection now ends at exp (Unix seconds; absent:
// the new token does not expire). Its private rooms follow the new token's
// "rooms" claim from now on.
struct refreshed {
  std::optional<std::int64_t> exp;
  friend bool operator==(const refreshed&, const refreshed&) = default;
};
constexpr auto describe(const refreshed*) {
  return schema::object<refreshed>("refreshed", schema::field("exp", &refreshed::exp));
}

// Error codes of version 3 besides version 2's: bad_token, token_not_yours,
// not_signed_in (a refresh on a server without sign-in).
using client_message = std::variant<v2::join, wire::chat, v2::watch, v2::resume, v2::leave, refresh>;
using server_message = std::variant<v2::message, v2::history, v2::resumed, v2::presence, v2::presence_diff,
                                    v2::joined, wire::error, refreshed>;

}  // namespace v3

struct chat_protocol_v3 {
  static constexpr std::string_view name = "chat";
  static constexpr unsigned version = 3;
  using client_message = v3::client_message;
  using server_message = v3::server_message;
};

// ---- version 4: version 3 and the server's notice before exp ----------------
// The server says when a signed-in connection's token is about to expire, so
// the page refreshes it (version 3's refresh) instead of guessing the time.
namespace v4 {

// The connection's token expires at exp (Unix seconds), `seconds` from when
// this was sent: send a refresh before then, or the connection is closed
// with 4001 at exp. Sent once per token, `--auth-refresh-notice` seconds
// before its exp (half the time left, for a token that lives shorter).
// {"type":"token_expiring","exp":1765000000,"seconds":60}
struct token_expiring {
  std::int64_t exp = 0;
  std::uint32_t seconds = 0;
  friend bool operator==(const token_expiring&, const token_expiring&) = default;
};
constexpr auto describe(const token_expiring*) {
  return schema::object<token_expiring>("token_expiring", schema::field("exp", &token_expiring::exp),
                                        schema::field("seconds", &token_expiring::seconds));
}

// The client's messages are version 3's.
using client_message = v3::client_message;
using server_message = std::variant<v2::message, v2::history, v2::resumed, v2::presence, v2::presence_diff,
                                    v2::joined, wire::error, v3::refreshed, token_expiring>;

}  // namespace v4

struct chat_protocol_v4 {
  static constexpr std::string_view name = "chat";
  static constexpr unsigned version = 4;
  using client_message = v4::client_message;
  using server_message = v4::server_message;
};

// ---- version 5: presence that does not grow with the room squared -----------
// In a room with more members than the server's limit (duplex-chat
// --presence-full-limit), a version-5 watcher gets the member count and a
// bounded set of names instead of every join and leave (Discord's lazy member
// lists); the full list is read a page at a time on request. Rooms at or
// under the limit behave exactly as in version 4.
namespace v5 {

// Names in one page of members (a larger limit is served as this).
inline constexpr std::uint32_t max_page = 1000;

// ---- client -> server ----

// A page of the watched room's members in name order: up to `limit` names
// after `after` (from the first name without it). The answer is `members`;
// its `next` is the `after` of the following page. Refused with not_watching
// for a room the connection does not watch.
// {"type":"list_members","room":"lobby","after":"ada","limit":100}
struct list_members {
  std::string room;
  std::optional<std::string> after;
  std::uint32_t limit = 100;
  friend bool operator==(const list_members&, const list_members&) = default;
};
constexpr auto describe(const list_members*) {
  return schema::object<list_members>("list_members", schema::field("room", &list_members::room, v2::room_name),
                                      schema::field("after", &list_members::after, display_name),
                                      schema::field("limit", &list_members::limit, {.min = 1, .max = max_page}));
}

// ---- server -> client ----

// One page of members, the answer to list_members: names in name order,
// the room's total, and `next` (absent on the last page) to ask for the
// page after this one. As of the server's last presence tick.
// {"type":"members","room":"lobby","users":["ada","bob"],"total":5000,"next":"bob"}
struct members {
  std::string room;
  std::vector<std::string> users;
  std::uint64_t total = 0;
  std::optional<std::string> next;
  friend bool operator==(const members&, const members&) = default;
};
constexpr auto describe(const members*) {
  schema::rules each_name = display_name;
  each_name.max_items = max_page;
  return schema::object<members>("members", schema::field("room", &members::room, v2::room_name),
                                 schema::field("users", &members::users, each_name),
                                 schema::field("total", &members::total),
                                 schema::field("next", &members::next, display_name));
}

// The room has more than `limit` members: instead of version 2's presence
// snapshot (and whenever the room grows past the limit), the first names in
// name order (a bounded page) and the total. From then on its presence_diffs
// carry the total and only the leaves and returns of members who said a line
// in the room (and who the client saw speak), at most one count-only diff a
// second; a presence snapshot (version 2's) means the room is back at or
// under the limit and full diffs follow again.
// {"type":"presence_summary","room":"lobby","users":["ada"],"total":5000,"limit":100}
struct presence_summary {
  std::string room;
  std::vector<std::string> users;
  std::uint64_t total = 0;
  std::uint64_t limit = 0;
  friend bool operator==(const presence_summary&, const presence_summary&) = default;
};
constexpr auto describe(const presence_summary*) {
  schema::rules each_name = display_name;
  each_name.max_items = max_page;
  return schema::object<presence_summary>(
      "presence_summary", schema::field("room", &presence_summary::room, v2::room_name),
      schema::field("users", &presence_summary::users, each_name), schema::field("total", &presence_summary::total),
      schema::field("limit", &presence_summary::limit));
}

// Error codes of version 5 besides version 4's: not_watching (list_members
// for a room the connection does not watch).
using client_message = std::variant<v2::join, wire::chat, v2::watch, v2::resume, v2::leave, v3::refresh, list_members>;
using server_message = std::variant<v2::message, v2::history, v2::resumed, v2::presence, v2::presence_diff,
                                    v2::joined, wire::error, v3::refreshed, v4::token_expiring, members,
                                    presence_summary>;

}  // namespace v5

struct chat_protocol_v5 {
  static constexpr std::string_view name = "chat";
  static constexpr unsigned version = 5;
  using client_message = v5::client_message;
  using server_message = v5::server_message;
};

}  // namespace duplex::chat::wire
