// Decoding half of the chat codec: simdjson on-demand, one pass over the
// top-level object, errors as values (nothing here throws; only std::bad_alloc
// from building the result could).
//
// The pass reads every field the schema knows of, for either direction, into
// a slot before it knows the message type, because "type" may come last. A
// slot only records what was there; whether it matters (and is missing, of
// the wrong JSON type, too long...) is decided afterwards from "type". So
// {"type":"chat","text":"hi","time":"noon"} is fine: "time" is not a chat
// field, and neither its type nor its value is looked at beyond being JSON.
//
// Precedence, so the same input always yields the same error: the input's
// size, then UTF-8, then JSON syntax anywhere in the document (unknown fields
// are walked and checked too, not just skipped), then "type", then the fields
// of that type in declaration order.
#include "codec.hpp"

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::handwritten {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// How deep the codec walks values it ignores. Chat messages nest two levels;
// the limit bounds the recursion (the WASM stack is small) far below
// simdjson's own 1024.
constexpr int max_nesting = 32;

// ---- per-thread parser state ----------------------------------------------

// simdjson reads up to SIMDJSON_PADDING bytes past the end of its input. The
// codec's input is a plain string_view (typically a WebSocket payload inside
// a network buffer) with no promise of readable slack after it, so it is
// copied into a buffer that only ever grows (to max_json_bytes + padding at
// most). A <= 64 KiB memcpy is small next to parsing, and it keeps the API
// free of padding rules.
struct thread_state {
  od::parser parser{max_json_bytes};
  std::string buffer;
  // "users" entries: views into the parser's string buffer, valid until the
  // next iterate(); reused so a presence decode allocates only its result.
  std::vector<std::string_view> users;
};

thread_state& state() {
  thread_local thread_state s;
  return s;
}

// ---- what the pass collects ----------------------------------------------

struct string_slot {
  bool seen = false;
  bool is_string = false;
  std::string_view value;  // into the parser's string buffer
};
struct int_slot {
  bool seen = false;
  bool is_int64 = false;
  std::int64_t value = 0;
};
struct list_slot {
  bool seen = false;
  bool is_string_array = false;
  std::size_t count = 0;  // elements, including any beyond what was kept
};

struct fields {
  string_slot type, name, text, from, code, message;
  int_slot time;
  list_slot users;
};

// ---- error construction ---------------------------------------------------

decode_error fail(decode_errc code, std::string_view field, std::string detail) {
  return decode_error{code, std::string(field), std::move(detail)};
}

// A value echoed in a detail string: at most 32 bytes, cut on a code point
// boundary and with controls replaced, so the detail is itself valid UTF-8
// that can go back to the client inside an error message.
std::string quoted(std::string_view s) {
  constexpr std::size_t limit = 32;
  bool cut = false;
  if (s.size() > limit) {
    std::size_t end = limit;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    s = s.substr(0, end);
    cut = true;
  }
  std::string out;
  out.reserve(s.size() + 8);
  out += '\'';
  for (char c : s) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) ? '?' : c;
  if (cut) out += "...";
  out += '\'';
  return out;
}

// Syntax errors name no field: where simdjson notices a structural error
// differs between its versions (3.0.1 natively, 3.9.4 in WASM), and the
// server and the client should give the same answer for the same bytes.
decode_error syntax_error(error_code e) {
  switch (e) {
    case simdjson::UTF8_ERROR:
      return fail(decode_errc::invalid_utf8, {}, "input is not valid UTF-8");
    case simdjson::EMPTY:
      return fail(decode_errc::invalid_json, {}, "no JSON value in the input");
    case simdjson::DEPTH_ERROR:
      return fail(decode_errc::invalid_json, {},
                  "JSON nested deeper than " + std::to_string(max_nesting) + " levels");
    default:
      return fail(decode_errc::invalid_json, {}, std::string("malformed JSON: ") + simdjson::error_message(e));
  }
}

// ---- JSON checks simdjson leaves to the caller ----------------------------
// On-demand parsing is lazy: a value nobody asks for is skipped by its
// structure, not validated, and number/atom tokens are only checked by the
// getter that converts them. These fill that gap for values the codec walks
// without converting.

bool is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// raw_json_token() includes the whitespace up to the next token.
std::string_view trim_ws(std::string_view s) {
  while (!s.empty() && is_json_ws(s.back())) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto digits = [&] {
    const std::size_t start = i;
    while (i < n && is_digit(s[i])) ++i;
    return i > start;
  };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') {
    ++i;
  } else if (!(i < n && s[i] >= '1' && s[i] <= '9') || !digits()) {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

// Walks a value the codec does not use, so malformed JSON is rejected
// wherever it is.
error_code check_value(od::value& v, int depth) {
  if (depth > max_nesting) return simdjson::DEPTH_ERROR;
  od::json_type t{};
  if (auto e = v.type().get(t)) return e;
  switch (t) {
    case od::json_type::object: {
      od::object obj;
      if (auto e = v.get_object().get(obj)) return e;
      for (auto member : obj) {
        std::string_view key;  // unescaping validates the key's escapes
        if (auto e = member.unescaped_key().get(key)) return e;
        od::value item;
        if (auto e = member.value().get(item)) return e;
        if (auto e = check_value(item, depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array arr;
      if (auto e = v.get_array().get(arr)) return e;
      for (auto element : arr) {
        od::value item;
        if (auto e = std::move(element).get(item)) return e;
        if (auto e = check_value(item, depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      return v.get_string().get(s);
    }
    case od::json_type::number:
      return is_json_number(trim_ws(v.raw_json_token())) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
    case od::json_type::boolean: {
      const auto tok = trim_ws(v.raw_json_token());
      return tok == "true" || tok == "false" ? simdjson::SUCCESS : simdjson::T_ATOM_ERROR;
    }
    case od::json_type::null:
      return trim_ws(v.raw_json_token()) == "null" ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    default:
      return simdjson::TAPE_ERROR;
  }
}

// ---- reading the known fields ---------------------------------------------

constexpr int field_depth = 2;  // values of the top-level object

error_code read_string(od::value& v, string_slot& slot) {
  od::json_type t{};
  if (auto e = v.type().get(t)) return e;
  if (t != od::json_type::string) return check_value(v, field_depth);
  slot.is_string = true;
  return v.get_string().get(slot.value);
}

error_code read_int64(od::value& v, int_slot& slot) {
  od::json_type t{};
  if (auto e = v.type().get(t)) return e;
  if (t != od::json_type::number) return check_value(v, field_depth);
  // Tell "not JSON" (01, 1.e5, -) from "JSON, but not an int64" (1.5, 1e3,
  // 2^63): simdjson reports some of both as a type mismatch.
  if (!is_json_number(trim_ws(v.raw_json_token()))) return simdjson::NUMBER_ERROR;
  // On failure get_int64 leaves the value unconsumed; it is skipped as usual.
  slot.is_int64 = v.get_int64().get(slot.value) == simdjson::SUCCESS;
  return simdjson::SUCCESS;
}

error_code read_string_array(od::value& v, list_slot& slot, std::vector<std::string_view>& out) {
  od::json_type t{};
  if (auto e = v.type().get(t)) return e;
  if (t != od::json_type::array) return check_value(v, field_depth);
  od::array arr;
  if (auto e = v.get_array().get(arr)) return e;
  slot.is_string_array = true;
  for (auto element : arr) {
    od::value item;
    if (auto e = std::move(element).get(item)) return e;
    ++slot.count;
    if (auto e = item.type().get(t)) return e;
    if (t != od::json_type::string) {
      slot.is_string_array = false;
      if (auto e = check_value(item, field_depth + 1)) return e;
      continue;
    }
    std::string_view s;
    if (auto e = item.get_string().get(s)) return e;
    // One past the limit is enough to report too_long later.
    if (out.size() <= max_users) out.push_back(s);
  }
  return simdjson::SUCCESS;
}

// Where the value of a known key goes: exactly one of the slots is set.
struct target {
  bool* seen = nullptr;
  string_slot* str = nullptr;
  int_slot* num = nullptr;
  list_slot* list = nullptr;
};

std::optional<target> find_target(std::string_view key, fields& f) {
  const auto str = [](string_slot& s) { return target{&s.seen, &s, nullptr, nullptr}; };
  if (key == "type") return str(f.type);
  if (key == "name") return str(f.name);
  if (key == "text") return str(f.text);
  if (key == "from") return str(f.from);
  if (key == "code") return str(f.code);
  if (key == "message") return str(f.message);
  if (key == "time") return target{&f.time.seen, nullptr, &f.time, nullptr};
  if (key == "users") return target{&f.users.seen, nullptr, nullptr, &f.users};
  return std::nullopt;
}

// The single pass. Returns a simdjson error; a repeated known key is only
// noted in `duplicate`, so that syntax errors later on still take precedence.
error_code read_fields(od::object& obj, fields& f, std::vector<std::string_view>& users,
                       std::string_view& duplicate) {
  for (auto member : obj) {
    std::string_view key;
    if (auto e = member.unescaped_key().get(key)) return e;
    od::value v;
    if (auto e = member.value().get(v)) return e;

    const auto to = find_target(key, f);
    if (!to || *to->seen) {
      // Unknown keys are ignored for forward compatibility, but must still
      // be JSON. A repeated known key could mean different things to
      // different parsers (first wins, last wins), so it is refused later.
      if (to && duplicate.empty()) duplicate = key;
      if (auto e = check_value(v, field_depth)) return e;
      continue;
    }
    *to->seen = true;
    const error_code e = to->str   ? read_string(v, *to->str)
                         : to->num ? read_int64(v, *to->num)
                                   : read_string_array(v, *to->list, users);
    if (e) return e;
  }
  return simdjson::SUCCESS;
}

// Copies, parses and reads the top-level object into `f`.
std::optional<decode_error> parse_json(std::string_view json, fields& f, thread_state& st) {
  // Whether the top level is an object is judged from its first byte, by us:
  // simdjson 3.0.1 and 3.9.4 classify top-level garbage differently.
  std::size_t first = 0;
  while (first < json.size() && is_json_ws(json[first])) ++first;
  if (first == json.size()) return fail(decode_errc::invalid_json, {}, "no JSON value in the input");
  if (json[first] != '{') {
    // RFC 8259 lets parsers skip a BOM; JSON.parse doesn't, nor do we.
    if (json.substr(first, 3) == "\xEF\xBB\xBF") {
      return fail(decode_errc::invalid_json, {}, "byte order mark before the JSON text");
    }
    static constexpr std::string_view value_starts = "[\"-0123456789tfn";
    if (value_starts.find(json[first]) == std::string_view::npos) {
      return fail(decode_errc::invalid_json, {}, "the input does not start with a JSON value");
    }
    return fail(decode_errc::not_object, {}, "a message must be a JSON object");
  }

  const std::size_t capacity = json.size() + simdjson::SIMDJSON_PADDING;
  if (st.buffer.size() < capacity) st.buffer.resize(capacity);
  std::memcpy(st.buffer.data(), json.data(), json.size());
  // Stale bytes from a longer earlier message must not look like JSON.
  std::memset(st.buffer.data() + json.size(), ' ', simdjson::SIMDJSON_PADDING);
  st.users.clear();

  od::document doc;
  if (auto e = st.parser.iterate(st.buffer.data(), json.size(), st.buffer.size()).get(doc)) {
    return syntax_error(e);
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return syntax_error(e);
  std::string_view duplicate;
  if (auto e = read_fields(obj, f, st.users, duplicate)) return syntax_error(e);
  // current_location() is OUT_OF_BOUNDS exactly when every token was used.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return fail(decode_errc::invalid_json, {}, "trailing content after the JSON object");
  }
  if (!duplicate.empty()) {
    return fail(decode_errc::invalid_json, duplicate, "duplicate field '" + std::string(duplicate) + "'");
  }
  return std::nullopt;
}

std::optional<decode_error> parse(std::string_view json, fields& f, thread_state& st) {
  if (json.size() > max_json_bytes) {
    return fail(decode_errc::too_long, {},
                "message is " + std::to_string(json.size()) + " bytes; the limit is " +
                    std::to_string(max_json_bytes));
  }
  auto err = parse_json(json, f, st);
  // simdjson's verdict on input that is malformed and/or not UTF-8 depends on
  // its version and CPU kernel (the portable kernel, the one WASM uses, even
  // calls a backslash before a multi-byte character bad UTF-8), and the
  // checks above don't look at UTF-8 at all. So the answer is pinned here: invalid_utf8
  // exactly when the input is not UTF-8. Only failures pay for the extra pass.
  if (err && (err->code == decode_errc::invalid_json || err->code == decode_errc::not_object ||
              err->code == decode_errc::invalid_utf8)) {
    const bool utf8 = simdjson::validate_utf8(json.data(), json.size());
    if (!utf8) return fail(decode_errc::invalid_utf8, {}, "input is not valid UTF-8");
    if (err->code == decode_errc::invalid_utf8) {
      return fail(decode_errc::invalid_json, {}, "malformed JSON: invalid string or escape");
    }
  }
  return err;
}

// ---- schema rules ---------------------------------------------------------

std::string in(std::string_view field, std::string_view type) {
  return "'" + std::string(field) + "' in '" + std::string(type) + "'";
}

std::optional<decode_error> require_string(const string_slot& s, std::string_view field, std::string_view type) {
  if (!s.seen) return fail(decode_errc::missing_field, field, "missing field " + in(field, type));
  if (!s.is_string) return fail(decode_errc::wrong_type, field, "field " + in(field, type) + " must be a string");
  return std::nullopt;
}

// Decodes one code point of known-valid UTF-8 (simdjson validated the input
// and its unescaping emits valid UTF-8) and advances `i`.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  const std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (i + len > s.size()) {  // unreachable for valid input; stay in bounds anyway
    i = s.size();
    return 0xFFFD;
  }
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (b(i + k) & 0x3F);
  i += len;
  return cp;
}

// Characters a name must not contain: C0/C1 controls and DEL, line/paragraph
// separators, and the bidi overrides/isolates that let a name rewrite how the
// text around it is displayed.
bool is_name_control(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
         cp == 0x200F;
}

// Characters that render as nothing: Unicode White_Space (minus the controls
// above) plus zero-width and filler characters people use for "blank" names.
bool is_blank(char32_t cp) {
  return cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200D) ||
         cp == 0x202F || cp == 0x205F || cp == 0x2060 || cp == 0x3000 || cp == 0xFEFF ||
         cp == 0x180E || cp == 0x115F || cp == 0x1160 || cp == 0x3164 || cp == 0xFFA0;
}

// Where a name sits, spelled out only when an error needs it (a presence
// list checks up to max_users names).
struct name_site {
  std::string_view field;
  std::string_view type;
  std::size_t index = 0;  // users[index] when field is "users"
  std::string describe() const {
    if (field == "users") return "users[" + std::to_string(index) + "] in '" + std::string(type) + "'";
    return "field " + in(field, type);
  }
};

// Display names: join.name, joined.name, left.name, message.from, presence.users[i].
std::optional<decode_error> check_name(std::string_view v, const name_site& site) {
  if (v.size() > max_name_bytes) {
    return fail(decode_errc::too_long, site.field,
                site.describe() + " is " + std::to_string(v.size()) + " bytes; the limit is " +
                    std::to_string(max_name_bytes));
  }
  if (v.empty()) return fail(decode_errc::empty_value, site.field, site.describe() + " is empty");
  bool visible = false;
  for (std::size_t i = 0; i < v.size();) {
    const char32_t cp = next_code_point(v, i);
    if (is_name_control(cp)) {
      static constexpr char hex[] = "0123456789ABCDEF";
      std::string u = "U+";
      for (int shift = cp > 0xFFFF ? 16 : 12; shift >= 0; shift -= 4) u += hex[(cp >> shift) & 0xF];
      return fail(decode_errc::wrong_type, site.field, site.describe() + " contains the control character " + u);
    }
    if (!is_blank(cp)) visible = true;
  }
  if (!visible) return fail(decode_errc::empty_value, site.field, site.describe() + " is only whitespace");
  return std::nullopt;
}

std::optional<decode_error> require_name(const string_slot& s, std::string_view field, std::string_view type) {
  if (auto err = require_string(s, field, type)) return err;
  return check_name(s.value, name_site{field, type});
}

// Chat text: anything (newlines included) that is non-empty and within the limit.
std::optional<decode_error> require_text(const string_slot& s, std::string_view field, std::string_view type) {
  if (auto err = require_string(s, field, type)) return err;
  if (s.value.size() > max_text_bytes) {
    return fail(decode_errc::too_long, field,
                "field " + in(field, type) + " is " + std::to_string(s.value.size()) +
                    " bytes; the limit is " + std::to_string(max_text_bytes));
  }
  if (s.value.empty()) return fail(decode_errc::empty_value, field, "field " + in(field, type) + " is empty");
  return std::nullopt;
}

std::optional<decode_error> require_type(const string_slot& s) {
  if (!s.seen) return fail(decode_errc::missing_field, "type", "missing field 'type'");
  if (!s.is_string) return fail(decode_errc::wrong_type, "type", "field 'type' must be a string");
  return std::nullopt;
}

bool is_client_type(std::string_view t) { return t == "join" || t == "chat"; }
bool is_server_type(std::string_view t) {
  return t == "message" || t == "presence" || t == "joined" || t == "left" || t == "error";
}

decode_error unknown_type(std::string_view t, bool client) {
  std::string detail;
  if (client && is_server_type(t)) {
    detail = quoted(t) + " is a server-to-client message; expected join or chat";
  } else if (!client && is_client_type(t)) {
    detail = quoted(t) + " is a client-to-server message; expected message, presence, joined, left or error";
  } else {
    detail = "unknown message type " + quoted(t) + (client ? "; expected join or chat"
                                                           : "; expected message, presence, joined, left or error");
  }
  return fail(decode_errc::unknown_type, "type", std::move(detail));
}

std::string owned(std::string_view s) { return std::string(s); }

}  // namespace

decode_result<client_message> decode_client(std::string_view json) {
  thread_state& st = state();
  fields f;
  if (auto err = parse(json, f, st)) return std::move(*err);
  if (auto err = require_type(f.type)) return std::move(*err);
  const std::string_view type = f.type.value;

  if (type == "join") {
    if (auto err = require_name(f.name, "name", type)) return std::move(*err);
    return client_message{join{owned(f.name.value)}};
  }
  if (type == "chat") {
    if (auto err = require_text(f.text, "text", type)) return std::move(*err);
    return client_message{chat{owned(f.text.value)}};
  }
  return unknown_type(type, true);
}

decode_result<server_message> decode_server(std::string_view json) {
  thread_state& st = state();
  fields f;
  if (auto err = parse(json, f, st)) return std::move(*err);
  if (auto err = require_type(f.type)) return std::move(*err);
  const std::string_view type = f.type.value;

  if (type == "message") {
    if (auto err = require_name(f.from, "from", type)) return std::move(*err);
    if (auto err = require_text(f.text, "text", type)) return std::move(*err);
    if (!f.time.seen) return fail(decode_errc::missing_field, "time", "missing field " + in("time", type));
    if (!f.time.is_int64) {
      return fail(decode_errc::wrong_type, "time",
                  "field " + in("time", type) + " must be an integer in the int64 range");
    }
    return server_message{message{owned(f.from.value), owned(f.text.value), f.time.value}};
  }
  if (type == "presence") {
    if (!f.users.seen) return fail(decode_errc::missing_field, "users", "missing field " + in("users", type));
    if (!f.users.is_string_array) {
      return fail(decode_errc::wrong_type, "users", "field " + in("users", type) + " must be an array of strings");
    }
    if (f.users.count > max_users) {
      return fail(decode_errc::too_long, "users",
                  "field " + in("users", type) + " has " + std::to_string(f.users.count) +
                      " entries; the limit is " + std::to_string(max_users));
    }
    presence p;
    p.users.reserve(st.users.size());
    for (std::size_t i = 0; i < st.users.size(); ++i) {
      if (auto err = check_name(st.users[i], name_site{"users", type, i})) {
        return std::move(*err);
      }
      p.users.emplace_back(st.users[i]);
    }
    return server_message{std::move(p)};
  }
  if (type == "joined" || type == "left") {
    if (auto err = require_name(f.name, "name", type)) return std::move(*err);
    if (type == "joined") return server_message{joined{owned(f.name.value)}};
    return server_message{left{owned(f.name.value)}};
  }
  if (type == "error") {
    if (auto err = require_string(f.code, "code", type)) return std::move(*err);
    if (f.code.value.empty()) return fail(decode_errc::empty_value, "code", "field " + in("code", type) + " is empty");
    if (auto err = require_string(f.message, "message", type)) return std::move(*err);
    return server_message{error{owned(f.code.value), owned(f.message.value)}};
  }
  return unknown_type(type, false);
}

}  // namespace duplex::handwritten
