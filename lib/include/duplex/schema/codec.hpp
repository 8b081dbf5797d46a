// The JSON codec of every described protocol (duplex/schema/describe.hpp).
// One generic decoder, simdjson on-demand, strict, errors as values; one
// compact encoder with pre-quoted keys. Same simdjson (the 3.9.4
// amalgamation) natively and in WebAssembly, so both ends give the same
// answer for the same bytes.
//
//   auto m = duplex::schema::decode<game_protocol::client_message>(text);
//   if (!m) log(m.error().path, m.error().detail);
//   std::string json = duplex::schema::encode(state{...});
//
// Decoding rules:
//  - The input must be one JSON object, nothing before (a BOM is
//    invalid_json) or after it, at most max_json_bytes (else
//    document_too_long) and nested at most max_depth levels (else too_deep).
//    Syntax is checked everywhere, including inside ignored fields.
//  - Each object is read in one pass over its keys, in any order. Unknown
//    keys are ignored whatever their JSON type (forward compatibility). A
//    repeated known key is duplicate_key: neither copy wins. When "type" is
//    not the first key of a message (the encoder always writes it first),
//    the keys before it are passed over once more.
//  - Reported first: document_too_long; invalid_utf8 (anywhere); not_object
//    (judged by the first byte, so "[1" is not_object) or invalid_json or
//    too_deep (anywhere). Then "type" (missing_field, wrong_type,
//    unknown_type). Then the first schema error in document order; a
//    missing field is noticed at the end of its object, in declaration order.
//  - decode_error::path is the JSON path of the offending value ("text",
//    "users[3]", "pos.x"), empty for document-level errors; `expected` says
//    what would have been accepted. Codes and paths are the same natively
//    and in WASM; `detail` is for people.
//  - Strings: lengths are bytes of the decoded UTF-8 value. Over max_bytes
//    -> too_long; "" under min_bytes -> empty_value; shorter -> too_short.
//  - Display names (rules::display_name): "" or only blanks (Unicode
//    spaces, zero-width and filler characters) -> empty_value; a control
//    character (C0, DEL, C1, U+2028/U+2029, bidi controls U+200E/F,
//    U+202A-E, U+2066-9) -> bad_character. Not trimmed.
//  - Integers: a JSON integer; 1.0 or 1e3 -> wrong_type; outside the rule's
//    range or the C++ type's -> out_of_range. Doubles: any JSON number in
//    range. Enums: one of the described names, else bad_enum.
//  - std::optional fields may be absent (null is wrong_type); vectors over
//    max_items -> too_long.
// Thread safety: each thread has its own parser; any thread may decode.
// Throws nothing except std::bad_alloc when building the result.
#pragma once

#include <duplex/schema/describe.hpp>

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace duplex::schema {

enum class decode_errc {
  invalid_json = 1,   // not parseable JSON (or trailing content)
  not_object,         // top level is not a JSON object
  unknown_type,       // "type" names no message of this direction
  missing_field,      // a required field (or "type") is absent
  wrong_type,         // a value has the wrong JSON type
  invalid_utf8,       // input is not valid UTF-8
  too_long,           // a string or array exceeds its limit
  empty_value,        // a required string is empty or blank
  document_too_long,  // the input exceeds max_json_bytes
  too_deep,           // nested deeper than max_depth
  duplicate_key,      // a known key appears twice in one object
  out_of_range,       // a number outside its declared range
  bad_enum,           // a string that names no value of the enum
  too_short,          // a non-empty string under min_bytes
  bad_character,      // a control or bidi character in a display name
  truncated,          // binary: the input ends inside a value (binary.hpp)
  trailing_bytes,     // binary: bytes after the end of the message
};

// Stable lowercase name of the code, e.g. "missing_field".
std::string_view to_string(decode_errc) noexcept;

struct decode_error {
  decode_errc code{};
  std::string path;      // "text", "users[3]", "pos.x"; empty for the whole document
  std::string expected;  // what would have been accepted, e.g. "a string of 1..4000 bytes"
  std::string detail;    // human-readable, starts with the path
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

// Largest JSON text the decoder accepts (bytes).
inline constexpr std::size_t max_json_bytes = 1024 * 1024;
// Deepest nesting the decoder walks (the top-level object is level 1); it
// bounds recursion on the small WASM stack.
inline constexpr int max_depth = 32;

namespace detail {

namespace od = simdjson::ondemand;
using simdjson::error_code;

struct segment {
  std::string_view key;  // empty: an array index
  std::size_t index = 0;
};

// Per-thread decoding state: the parser, a padded copy of the input, the
// first schema error and the path to the value being read.
struct decoder {
  od::parser parser{2 * max_json_bytes};  // room for two passes: see decoder::open
  std::string buffer;
  od::document doc;
  std::optional<decode_error> error;
  segment path[max_depth + 2];
  int depth = 0;
  std::vector<std::string_view> views;  // scratch for vectors of strings

  // Checks size and first byte, copies and starts parsing; the top-level object in `obj`.
  std::optional<decode_error> open(std::string_view json, od::object& obj);
  // The verdict once the top-level object has been read: e is the syntax error met, if any.
  std::optional<decode_error> close(std::string_view json, error_code e);
  // Records the first schema error at the current path (plus `last`, if set).
  void fail(decode_errc code, std::string expected, std::string what, std::string_view last = {});
  bool failed() const noexcept { return error.has_value(); }
  void push(std::string_view key) { path[depth++] = segment{key, 0}; }
  void push(std::size_t index) { path[depth++] = segment{{}, index}; }
  void pop() { --depth; }
};

decoder& thread_decoder();

// Walks a value nobody reads, so malformed JSON is rejected wherever it is.
error_code check_value(od::value& v, int level);
bool is_json_number(std::string_view token);
std::string_view trim_ws(std::string_view s);
// Length and display-name rules of a decoded string.
void check_string(decoder& d, std::string_view s, const rules& r);
std::string range_text(std::int64_t lo, std::int64_t hi);
std::string real_range_text(double lo, double hi);
std::string quoted(std::string_view s);

void append_string(std::string& out, std::string_view s);
void append_double(std::string& out, double v);

// ---- decoding -----------------------------------------------------------------

[[gnu::always_inline]] inline bool is_type(od::value& v, od::json_type want, error_code& e) {
  od::json_type t{};
  e = v.type().get(t);
  return !e && t == want;
}

// A value of the wrong JSON type: noted, then walked like an ignored one.
inline error_code wrong(decoder& d, od::value& v, int level, const char* expected) {
  d.fail(decode_errc::wrong_type, expected, std::string("expected ") + expected);
  return check_value(v, level);
}

template <class T>
error_code read(decoder& d, od::value& v, T& out, const rules& r, int level);

// "one of a b c": what an enum field accepts, for bad_enum.
template <described_enum E>
std::string enum_choices() {
  std::string one_of = "one of";
  for (const auto& nv : description<E>.values) one_of.append(" ").append(nv.first);
  return one_of;
}

template <described_struct T>
error_code read_members(decoder& d, od::object_iterator& it, const od::object_iterator& end, T& out, int level,
                        bool tagged, bool type_seen);

template <class T>
int field_index(std::string_view key) {
  int i = 0, found = -1;
  std::apply([&](const auto&... f) { (void)((f.name == key ? (found = i, true) : (++i, false)) || ...); },
             description<T>.fields);
  return found;
}

template <class T, std::size_t... I>
error_code read_field_at(decoder& d, int index, od::value& v, T& out, int level, std::index_sequence<I...>) {
  error_code e = simdjson::SUCCESS;
  const auto one = [&](const auto& f) {
    d.push(f.name);
    e = read(d, v, out.*(f.ptr), f.rule, level);
    d.pop();
  };
  (void)((index == static_cast<int>(I) ? (one(std::get<I>(description<T>.fields)), true) : false) || ...);
  return e;
}

template <described_struct T>
error_code read_members(decoder& d, od::object_iterator& it, const od::object_iterator& end, T& out, int level,
                        bool tagged, bool type_seen) {
  constexpr std::size_t n = description<T>.size;
  std::uint64_t seen = 0;
  for (; it != end; ++it) {
    od::field member;
    if (auto e = (*it).get(member)) return e;
    std::string_view key;
    if (auto e = member.unescaped_key(false).get(key)) return e;
    od::value& v = member.value();
    if (tagged && key == "type") {  // the tag, already read
      if (type_seen) d.fail(decode_errc::duplicate_key, "each key once", "repeated key", "type");
      type_seen = true;
      if (auto e = check_value(v, level + 1)) return e;
      continue;
    }
    const int i = field_index<T>(key);
    if (i < 0) {
      if (auto e = check_value(v, level + 1)) return e;
      continue;
    }
    if (seen & (std::uint64_t{1} << i)) {
      d.push(key);
      d.fail(decode_errc::duplicate_key, "each key once", "repeated key");
      d.pop();
      if (auto e = check_value(v, level + 1)) return e;
      continue;
    }
    seen |= std::uint64_t{1} << i;
    if (auto e = read_field_at(d, i, v, out, level + 1, std::make_index_sequence<n>{})) return e;
  }
  if (!d.failed() && seen != (n == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1)) {
    int i = 0;
    for_each_field<T>([&](const auto& f) {
      using M = typename std::remove_cvref_t<decltype(f)>::member_type;
      if (!d.failed() && !is_optional<M>::value && !(seen & (std::uint64_t{1} << i)))
        d.fail(decode_errc::missing_field, "a value", "missing", f.name);
      ++i;
    });
  }
  return simdjson::SUCCESS;
}

template <class T>
error_code read(decoder& d, od::value& v, T& out, const rules& r, int level) {
  if (d.failed()) return check_value(v, level);  // only the first error counts; the rest is still checked
  error_code e{};
  if constexpr (std::is_same_v<T, std::string>) {
    if (!is_type(v, od::json_type::string, e)) return e ? e : wrong(d, v, level, "a string");
    std::string_view s;
    if ((e = v.get_string().get(s))) return e;
    check_string(d, s, r);
    out.assign(s);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!is_type(v, od::json_type::boolean, e)) return e ? e : wrong(d, v, level, "true or false");
    return v.get_bool().get(out);
  } else if constexpr (integer<T>) {
    if (!is_type(v, od::json_type::number, e)) return e ? e : wrong(d, v, level, "an integer");
    const std::string_view token = trim_ws(v.raw_json_token());
    if (!is_json_number(token)) return simdjson::NUMBER_ERROR;
    const auto [lo, hi] = integer_range<T>(r);
    std::int64_t x = 0;
    // On failure get_int64 leaves the value unconsumed; it is skipped as usual.
    if (v.get_int64().get(x)) {
      if (token.find_first_of(".eE") != std::string_view::npos) {
        d.fail(decode_errc::wrong_type, "an integer", "expected an integer, not " + quoted(token));
      } else {
        d.fail(decode_errc::out_of_range, "an integer in " + range_text(lo, hi), quoted(token) + " is out of range");
      }
      return simdjson::SUCCESS;
    }
    if (x < lo || x > hi) {
      d.fail(decode_errc::out_of_range, "an integer in " + range_text(lo, hi), std::to_string(x) + " is out of range");
    }
    out = static_cast<T>(x);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!is_type(v, od::json_type::number, e)) return e ? e : wrong(d, v, level, "a number");
    if (!is_json_number(trim_ws(v.raw_json_token()))) return simdjson::NUMBER_ERROR;
    double x = 0;
    if ((e = v.get_double().get(x))) return e;  // over DBL_MAX: NUMBER_ERROR, as JSON.parse gives Infinity
    if (x < r.min_real || x > r.max_real) {
      d.fail(decode_errc::out_of_range, "a number in " + real_range_text(r.min_real, r.max_real),
             "the number is out of range");
    }
    out = static_cast<T>(x);
  } else if constexpr (described_enum<T>) {
    if (!is_type(v, od::json_type::string, e)) return e ? e : wrong(d, v, level, "a string");
    std::string_view s;
    if ((e = v.get_string().get(s))) return e;
    for (const auto& [name, value] : description<T>.values) {
      if (name == s) {
        out = value;
        return simdjson::SUCCESS;
      }
    }
    const std::string one_of = enum_choices<T>();
    d.fail(decode_errc::bad_enum, one_of, quoted(s) + " is not " + one_of);
  } else if constexpr (is_optional<T>::value) {
    return read(d, v, out.emplace(), r, level);
  } else if constexpr (is_vector<T>::value) {
    if (!is_type(v, od::json_type::array, e)) return e ? e : wrong(d, v, level, "an array");
    if (level > max_depth) return simdjson::DEPTH_ERROR;
    od::array arr;
    if ((e = v.get_array().get(arr))) return e;
    out.clear();
    constexpr bool strings = std::is_same_v<typename T::value_type, std::string>;
    // Strings are gathered as views into the parser's buffer first, so the
    // vector is sized once and each string built once. (Only strings: they
    // hold no vectors of their own that would reuse the scratch.)
    if constexpr (strings) d.views.clear();
    std::size_t count = 0;
    for (auto element : arr) {
      od::value item;
      if ((e = std::move(element).get(item))) return e;
      if (count++ == r.max_items) {
        d.fail(decode_errc::too_long, "at most " + std::to_string(r.max_items) + " items",
               "more than " + std::to_string(r.max_items) + " items");
      }
      if (d.failed()) {
        if ((e = check_value(item, level + 1))) return e;
        continue;
      }
      d.push(count - 1);
      if constexpr (strings) {
        std::string_view s;
        if (is_type(item, od::json_type::string, e)) {
          if (!(e = item.get_string().get(s))) {
            check_string(d, s, r);
            d.views.push_back(s);
          }
        } else if (!e) {
          e = wrong(d, item, level + 1, "a string");
        }
      } else {
        e = read(d, item, out.emplace_back(), r, level + 1);
      }
      d.pop();
      if (e) return e;
    }
    if constexpr (strings) {
      if (!d.failed()) {
        out.reserve(d.views.size());
        for (std::string_view s : d.views) out.emplace_back(s);
      }
    }
  } else if constexpr (described_struct<T>) {
    if (!is_type(v, od::json_type::object, e)) return e ? e : wrong(d, v, level, "an object");
    if (level > max_depth) return simdjson::DEPTH_ERROR;
    od::object obj;
    if ((e = v.get_object().get(obj))) return e;
    od::object_iterator it, end;
    if ((e = obj.begin().get(it)) || (e = obj.end().get(end))) return e;
    return read_members(d, it, end, out, level, false, false);
  } else {
    static_assert(sizeof(T) == 0, "unsupported field type: see duplex/schema/describe.hpp");
  }
  return simdjson::SUCCESS;
}

// The rest of an object nobody reads, keys included.
inline error_code check_members(od::object_iterator& it, const od::object_iterator& end, int level) {
  for (; it != end; ++it) {
    od::field member;
    std::string_view key;
    if (auto e = (*it).get(member)) return e;
    if (auto e = member.unescaped_key(false).get(key)) return e;
    if (auto e = check_value(member.value(), level + 1)) return e;
  }
  return simdjson::SUCCESS;
}

template <class... A>
std::string type_names() {
  std::string s;
  ((s.append(s.empty() ? "" : ", ").append(description<A>.name)), ...);
  return s;
}

// The top-level object of a message: finds "type", then reads that
// message's members. Fast path: "type" first, one pass.
template <class... A>
error_code read_message(decoder& d, od::object& obj, std::variant<A...>& out) {
  od::object_iterator it, end;
  error_code e{};
  if ((e = obj.begin().get(it)) || (e = obj.end().get(end))) return e;
  std::string_view type;
  bool found = false, is_string = false, first = false;
  std::string type_copy;  // the parser's string buffer is reused by the second pass
  std::size_t index = 0;
  for (auto scan = it; scan != end; ++scan, ++index) {
    od::field member;
    if ((e = (*scan).get(member))) return e;
    std::string_view key;
    if ((e = member.unescaped_key(false).get(key))) return e;
    if (key != "type") continue;
    found = true;
    first = index == 0;
    is_string = is_type(member.value(), od::json_type::string, e);
    if (e) return e;
    if (is_string && (e = member.value().get_string().get(type))) return e;
    if (first) {
      if (!is_string && (e = check_value(member.value(), 2))) return e;
      it = scan;
      ++it;
    } else {
      type_copy.assign(type);
      type = type_copy;
    }
    break;
  }
  if (found && !first) {  // read again from the first key
    if ((e = obj.reset().error())) return e;
    if ((e = obj.begin().get(it))) return e;
  }
  if (!found || !is_string) {
    if (!found && !first && (e = obj.reset().error())) return e;
    if (!found && (e = obj.begin().get(it))) return e;
    d.fail(found ? decode_errc::wrong_type : decode_errc::missing_field, "one of " + type_names<A...>(),
           found ? "expected a string" : "missing", "type");
    return check_members(it, end, 1);
  }
  bool known = false;
  const auto try_one = [&]<std::size_t I>(std::integral_constant<std::size_t, I>) {
    using T = std::variant_alternative_t<I, std::variant<A...>>;
    if (known || description<T>.name != type) return;
    known = true;
    e = read_members(d, it, end, out.template emplace<I>(), 1, true, first);
  };
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (try_one(std::integral_constant<std::size_t, I>{}), ...);
  }(std::index_sequence_for<A...>{});
  if (known || e) return e;
  d.fail(decode_errc::unknown_type, "one of " + type_names<A...>(), "unknown message type " + quoted(type), "type");
  return check_members(it, end, 1);
}

// ---- encoding -------------------------------------------------------------------

template <class T>
void write(std::string& out, const T& v);

template <described_struct T>
void write_members(std::string& out, const T& v, bool first) {
  for_each_field<T>([&](const auto& f) {
    const auto& m = v.*(f.ptr);
    using M = std::remove_cvref_t<decltype(m)>;
    if constexpr (is_optional<M>::value) {
      if (!m) return;
    }
    out.append(f.key.view().substr(first ? 1 : 0));
    first = false;
    write(out, m);
  });
}

template <class T>
void write(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    append_string(out, v);
  } else if constexpr (std::is_same_v<T, bool>) {
    out.append(v ? "true" : "false");
  } else if constexpr (integer<T>) {
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, v).ptr);
  } else if constexpr (std::is_floating_point_v<T>) {
    append_double(out, static_cast<double>(v));
  } else if constexpr (described_enum<T>) {
    for (const auto& [name, value] : description<T>.values) {
      if (value == v) {
        out.append("\"").append(name).append("\"");
        return;
      }
    }
    out.append("null");  // not a described value: decoding refuses it
  } else if constexpr (is_optional<T>::value) {
    write(out, *v);
  } else if constexpr (is_vector<T>::value) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) out += ',';
      write(out, v[i]);
    }
    out += ']';
  } else if constexpr (described_struct<T>) {
    out += '{';
    write_members(out, v, true);
    out += '}';
  } else {
    static_assert(sizeof(T) == 0, "unsupported field type: see duplex/schema/describe.hpp");
  }
}

// Bytes of the values' text, assuming nothing needs escaping.
template <class T>
std::size_t size_hint(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return v.size() + 2;
  } else if constexpr (is_optional<T>::value) {
    return v ? size_hint(*v) : 0;
  } else if constexpr (is_vector<T>::value) {
    std::size_t n = 2;
    for (const auto& x : v) n += size_hint(x) + 1;
    return n;
  } else if constexpr (described_struct<T>) {
    std::size_t n = 2;
    for_each_field<T>([&](const auto& f) { n += f.key.size + size_hint(v.*(f.ptr)); });
    return n;
  } else {
    return 20;
  }
}

}  // namespace detail

// Appends `s` as a JSON string (RFC 8259 escapes; `s` must be UTF-8): for
// applications that write JSON of their own (log lines, tool output).
inline void append_json_string(std::string& out, std::string_view s) { detail::append_string(out, s); }

// Decodes one message of a tagged set (a protocol's client_message or
// server_message).
template <class Variant>
  requires is_variant<Variant>::value
decode_result<Variant> decode(std::string_view json) {
  detail::decoder& d = detail::thread_decoder();
  detail::od::object obj;
  if (auto err = d.open(json, obj)) return std::move(*err);
  Variant out;
  const auto e = detail::read_message(d, obj, out);
  if (auto err = d.close(json, e)) return std::move(*err);
  return out;
}

// Compact JSON: {"type":"<wire name>", then the fields in declaration order
// (empty optionals left out). Strings escaped per RFC 8259 (controls as
// \u00XX, \b \f \n \r \t short); other bytes copied, so strings must hold
// valid UTF-8 (all decoded ones do). Values are not checked against the
// rules: decode(encode(m)) == m for every m that decoding accepts.
template <described_struct T>
std::string encode(const T& m) {
  std::string out;
  out.reserve(description<T>.tag.size + detail::size_hint(m) + 8);
  out.append(description<T>.tag.view());
  detail::write_members(out, m, false);
  out += '}';
  return out;
}

template <class... A>
std::string encode(const std::variant<A...>& m) {
  return std::visit([](const auto& v) { return encode(v); }, m);
}

// Decoding for a protocol's two directions.
template <protocol P>
decode_result<typename P::client_message> decode_client(std::string_view json) {
  return decode<typename P::client_message>(json);
}
template <protocol P>
decode_result<typename P::server_message> decode_server(std::string_view json) {
  return decode<typename P::server_message>(json);
}

}  // namespace duplex::schema
