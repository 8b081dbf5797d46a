// JSON codec for the chat schema. Decoding uses simdjson's on-demand API with
// one reused parser per thread; encoding writes compact JSON. Decoding never
// throws: bad input yields a decode_error saying what was wrong and where.
#pragma once

#include <duplex/schema/chat.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace duplex::schema {

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

// Maximum JSON text the decoders accept (bytes); larger -> too_long.
inline constexpr std::size_t max_json_bytes = 64 * 1024;

decode_result<client_message> decode_client(std::string_view json);
decode_result<server_message> decode_server(std::string_view json);

// Compact JSON, strings escaped per RFC 8259 (control chars as \u00XX).
std::string encode(const join&);
std::string encode(const chat&);
std::string encode(const message&);
std::string encode(const presence&);
std::string encode(const joined&);
std::string encode(const left&);
std::string encode(const error&);
std::string encode(const client_message&);
std::string encode(const server_message&);

}  // namespace duplex::schema
