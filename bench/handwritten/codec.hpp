// The hand-written chat codec duplex had before the generic one (commit
// 3fbca4a, lib/src/schema/), kept only as the baseline of bench/codec_bench.
// Namespace duplex::handwritten; not part of the library.
// JSON codec for the chat schema. Decoding uses simdjson's on-demand API with
// one reused parser per thread; encoding writes compact JSON. Decoding never
// throws: bad input yields a decode_error saying what was wrong and where.
#pragma once

#include "chat.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace duplex::handwritten {

enum class decode_errc {
  invalid_json = 1,  // not parseable JSON (or trailing garbage)
  not_object,        // top level is not a JSON object
  unknown_type,      // "type" names no message of this direction
  missing_field,     // a required field (or "type") is absent
  wrong_type,        // a field has the wrong JSON type
  invalid_utf8,      // input is not valid UTF-8
  too_long,          // a string/array exceeds the schema limit, or input too large
  empty_value,       // a required string is empty (e.g. join.name)
};

// Stable lowercase name of the code, e.g. "missing_field".
std::string_view to_string(decode_errc) noexcept;

struct decode_error {
  decode_errc code{};
  std::string field;   // offending field ("type", "name", ...) or empty
  std::string detail;  // human-readable, e.g. "missing field 'text' in 'chat'"
  friend bool operator==(const decode_error&, const decode_error&) = default;
};

// Minimal expected<T, decode_error> (std::expected is C++23).
template <class T>
class decode_result {
 public:
  decode_result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  decode_result(decode_error e) : v_(std::in_place_index<1>, std::move(e)) {}
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const decode_error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, decode_error> v_;
};

// Maximum JSON text the decoders accept (bytes); larger -> too_long. Sized
// for the largest legal message: a presence list of max_users names of
// max_name_bytes, each escaped at worst to twice its size (~700 KB). The
// server's WebSocket limit on what clients send is much smaller (64 KiB).
inline constexpr std::size_t max_json_bytes = 1024 * 1024;

// Decoding rules (both directions; see lib/src/schema/decode.cpp):
//  - The input must be one JSON object, nothing before (a BOM is
//    invalid_json) or after it. Syntax is checked everywhere, including
//    inside fields that are ignored. A repeated known field ("type", "name",
//    ...) is invalid_json: neither copy wins.
//  - Unknown fields, and known fields that don't belong to the message type,
//    are ignored whatever their JSON type (forward compatibility).
//  - Reported in this order: too_long (input over max_json_bytes);
//    invalid_utf8 (anywhere); not_object (judged by the first byte, so "[1"
//    is not_object) or invalid_json (anywhere; a repeated field last); then
//    "type"; then the type's fields in declaration order. `field` names the field for schema errors and for a repeated
//    field; other invalid_json / invalid_utf8 / not_object errors leave it
//    empty, so native and WASM builds (different simdjson versions) give
//    the same code and field for the same bytes. `detail` may differ.
//  - Lengths are bytes of the decoded UTF-8 value, not characters or escapes.
//  - Display names (join.name, joined.name, left.name, message.from,
//    presence.users[i]): at most max_name_bytes; "" or only blanks (Unicode
//    spaces, zero-width and filler characters) -> empty_value; a control
//    character (C0, DEL, C1, U+2028/U+2029, bidi controls U+200E/F,
//    U+202A-E, U+2066-9) -> wrong_type with field set to the name's field.
//    Names are not trimmed: what was sent is what is returned.
//  - chat.text / message.text: 1..max_text_bytes bytes, anything else goes
//    (newlines, tabs, blanks-only).
//  - message.time: a JSON integer in the int64 range; 1.0, 1e3 or 2^63 ->
//    wrong_type. error.code must be non-empty; error.message may be empty.
// Thread safety: each thread has its own parser; any thread may decode.
// Throws nothing except std::bad_alloc when building the result.
decode_result<client_message> decode_client(std::string_view json);
decode_result<server_message> decode_server(std::string_view json);

// Compact JSON, strings escaped per RFC 8259 (control chars as \u00XX).
// "type" comes first, then the fields in declaration order. \b \f \n \r \t
// use their short escapes. Values are not validated: non-ASCII bytes are
// copied as they are, so strings must hold valid UTF-8 (all decoded ones do),
// and decode(encode(m)) == m holds for every m that decoding accepts.
std::string encode(const join&);
std::string encode(const chat&);
std::string encode(const message&);
std::string encode(const presence&);
std::string encode(const joined&);
std::string encode(const left&);
std::string encode(const error&);
std::string encode(const client_message&);
std::string encode(const server_message&);

}  // namespace duplex::handwritten
