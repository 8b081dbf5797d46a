// The parts of the generic codec that don't depend on the message types:
// the per-thread parser, document-level checks, walking ignored values,
// string rules, error text, string escaping.
#include <duplex/schema/codec.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace duplex::schema {

std::string_view to_string(decode_errc c) noexcept {
  switch (c) {
    case decode_errc::invalid_json: return "invalid_json";
    case decode_errc::not_object: return "not_object";
    case decode_errc::unknown_type: return "unknown_type";
    case decode_errc::missing_field: return "missing_field";
    case decode_errc::wrong_type: return "wrong_type";
    case decode_errc::invalid_utf8: return "invalid_utf8";
    case decode_errc::too_long: return "too_long";
    case decode_errc::empty_value: return "empty_value";
    case decode_errc::document_too_long: return "document_too_long";
    case decode_errc::too_deep: return "too_deep";
    case decode_errc::duplicate_key: return "duplicate_key";
    case decode_errc::out_of_range: return "out_of_range";
    case decode_errc::bad_enum: return "bad_enum";
    case decode_errc::too_short: return "too_short";
    case decode_errc::bad_character: return "bad_character";
    case decode_errc::truncated: return "truncated";
    case decode_errc::trailing_bytes: return "trailing_bytes";
  }
  return "unknown";
}

namespace detail {
namespace {

decode_error document_error(decode_errc code, std::string detail) {
  return decode_error{code, {}, {}, std::move(detail)};
}

bool is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

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

// Characters a display name must not contain: C0/C1 controls and DEL,
// line/paragraph separators, and the bidi overrides/isolates that let a name
// rewrite how the text around it is displayed.
bool is_name_control(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E || cp == 0x200F;
}

// Characters that render as nothing: Unicode White_Space (minus the controls
// above) plus zero-width and filler characters people use for "blank" names.
bool is_blank(char32_t cp) {
  return cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200D) || cp == 0x202F ||
         cp == 0x205F || cp == 0x2060 || cp == 0x3000 || cp == 0xFEFF || cp == 0x180E || cp == 0x115F ||
         cp == 0x1160 || cp == 0x3164 || cp == 0xFFA0;
}

std::string bytes_text(const rules& r) {
  if (r.max_bytes == std::numeric_limits<std::size_t>::max())
    return "a string of at least " + std::to_string(r.min_bytes) + " bytes";
  return "a string of " + std::to_string(r.min_bytes) + ".." + std::to_string(r.max_bytes) + " bytes";
}

}  // namespace

decoder& thread_decoder() {
  thread_local decoder d;
  return d;
}

std::string_view trim_ws(std::string_view s) {
  while (!s.empty() && is_json_ws(s.back())) s.remove_suffix(1);
  return s;
}

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

// On-demand parsing is lazy: a value nobody asks for is skipped by its
// structure, not validated. This walks it so malformed JSON is rejected
// wherever it is.
error_code check_value(od::value& v, int level) {
  if (level > max_depth) return simdjson::DEPTH_ERROR;
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
        if (auto e = check_value(item, level + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array arr;
      if (auto e = v.get_array().get(arr)) return e;
      for (auto element : arr) {
        od::value item;
        if (auto e = std::move(element).get(item)) return e;
        if (auto e = check_value(item, level + 1)) return e;
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

std::optional<decode_error> decoder::open(std::string_view json, od::object& obj) {
  error.reset();
  depth = 0;
  if (json.size() > max_json_bytes) {
    return document_error(decode_errc::document_too_long, "message is " + std::to_string(json.size()) +
                                                              " bytes; the limit is " + std::to_string(max_json_bytes));
  }
  // Whether the top level is an object is judged from its first byte.
  std::size_t first = 0;
  while (first < json.size() && is_json_ws(json[first])) ++first;
  if (first == json.size()) return close(json, simdjson::EMPTY);
  if (json[first] != '{') {
    // RFC 8259 lets parsers skip a BOM; JSON.parse doesn't, nor do we.
    if (json.substr(first, 3) == "\xEF\xBB\xBF") return close(json, simdjson::TAPE_ERROR);
    static constexpr std::string_view value_starts = "[\"-0123456789tfn";
    if (value_starts.find(json[first]) == std::string_view::npos) return close(json, simdjson::TAPE_ERROR);
    return close(json, simdjson::INCORRECT_TYPE);
  }
  // simdjson reads up to SIMDJSON_PADDING bytes past its input, and a
  // WebSocket payload promises no readable slack after it: copy into a
  // buffer that only grows. Small next to parsing; keeps the API free of
  // padding rules.
  const std::size_t capacity = json.size() + simdjson::SIMDJSON_PADDING;
  if (buffer.size() < capacity) buffer.resize(capacity);
  std::memcpy(buffer.data(), json.data(), json.size());
  std::memset(buffer.data() + json.size(), ' ', simdjson::SIMDJSON_PADDING);
  // Each unescape takes fresh room in the parser's string buffer, which
  // simdjson sizes for one pass over the strings (5/3 of the input). A
  // message whose "type" is not its first key is walked twice (codec.hpp,
  // read_message), so size the buffer for two passes (fuzz: a long first
  // key and a late "type" overflowed it).
  if (parser.capacity() < 2 * json.size()) {
    if (auto e = parser.allocate(2 * json.size(), parser.max_depth())) return close(json, e);
  }
  if (auto e = parser.iterate(buffer.data(), json.size(), buffer.size()).get(doc)) return close(json, e);
  if (auto e = doc.get_object().get(obj)) return close(json, e);
  return std::nullopt;
}

std::optional<decode_error> decoder::close(std::string_view json, error_code e) {
  if (!e && !doc.at_end()) e = simdjson::TRAILING_CONTENT;
  if (!e) return std::move(error);
  // The answer to bad UTF-8 is pinned here, whatever simdjson's kernel
  // noticed first (the portable one calls a backslash before a multi-byte
  // character bad UTF-8): invalid_utf8 exactly when the input is not UTF-8.
  if (!simdjson::validate_utf8(json.data(), json.size()))
    return document_error(decode_errc::invalid_utf8, "input is not valid UTF-8");
  switch (e) {
    case simdjson::EMPTY: return document_error(decode_errc::invalid_json, "no JSON value in the input");
    case simdjson::INCORRECT_TYPE: return document_error(decode_errc::not_object, "a message must be a JSON object");
    case simdjson::TRAILING_CONTENT:
      return document_error(decode_errc::invalid_json, "trailing content after the JSON object");
    case simdjson::DEPTH_ERROR:
      return document_error(decode_errc::too_deep, "JSON nested deeper than " + std::to_string(max_depth) + " levels");
    case simdjson::UTF8_ERROR: return document_error(decode_errc::invalid_json, "malformed JSON: invalid string or escape");
    default: return document_error(decode_errc::invalid_json, std::string("malformed JSON: ") + simdjson::error_message(e));
  }
}

void decoder::fail(decode_errc code, std::string expected, std::string what, std::string_view last) {
  if (error) return;
  std::string p;
  const auto add_key = [&](std::string_view k) {
    if (!p.empty()) p += '.';
    p.append(k);
  };
  for (int i = 0; i < depth; ++i) {
    if (path[i].key.empty()) p.append("[").append(std::to_string(path[i].index)).append("]");
    else add_key(path[i].key);
  }
  if (!last.empty()) add_key(last);
  std::string detail = (p.empty() ? std::string("message") : p) + ": " + what;
  if (!expected.empty() && what.rfind("expected", 0) != 0) detail += " (expected " + expected + ")";
  error = decode_error{code, std::move(p), std::move(expected), std::move(detail)};
}

void check_string(decoder& d, std::string_view s, const rules& r) {
  if (s.size() > r.max_bytes) {
    d.fail(decode_errc::too_long, bytes_text(r),
           std::to_string(s.size()) + " bytes; the limit is " + std::to_string(r.max_bytes));
    return;
  }
  if (s.size() < r.min_bytes) {
    if (s.empty()) d.fail(decode_errc::empty_value, bytes_text(r), "empty");
    else d.fail(decode_errc::too_short, bytes_text(r), std::to_string(s.size()) + " bytes is too short");
    return;
  }
  if (!r.display_name) return;
  bool visible = false;
  for (std::size_t i = 0; i < s.size();) {
    const auto byte = static_cast<unsigned char>(s[i]);
    if (byte > 0x20 && byte < 0x7F) {  // printable ASCII, nearly every byte of a name
      visible = true;
      ++i;
      continue;
    }
    const char32_t cp = next_code_point(s, i);
    if (is_name_control(cp)) {
      static constexpr char hex[] = "0123456789ABCDEF";
      std::string u = "U+";
      for (int shift = cp > 0xFFFF ? 16 : 12; shift >= 0; shift -= 4) u += hex[(cp >> shift) & 0xF];
      d.fail(decode_errc::bad_character, "a name without control characters", "contains the control character " + u);
      return;
    }
    if (!is_blank(cp)) visible = true;
  }
  if (!visible) d.fail(decode_errc::empty_value, "a visible name", s.empty() ? "empty" : "only whitespace");
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
  return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

std::string real_range_text(double lo, double hi) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "[%g, %g]", lo, hi);
  return buf;
}

// A value echoed in an error: at most 32 bytes, cut on a code point boundary
// and with controls replaced, so the text is itself valid UTF-8 that can go
// back to the client inside an error message.
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

namespace {
// Bytes each input byte grows by when escaped (RFC 8259).
constexpr std::array<std::uint8_t, 256> escape_growth = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 5;
  for (unsigned char c : {'"', '\\', '\b', '\f', '\n', '\r', '\t'}) t[c] = 1;
  return t;
}();
}  // namespace

// Sizing first means one resize, then plain stores, and a memcpy when
// nothing needs escaping (nearly always).
void append_string(std::string& out, std::string_view s) {
  std::size_t growth = 0;
  for (char c : s) growth += escape_growth[static_cast<unsigned char>(c)];
  const std::size_t at = out.size();
  out.resize(at + s.size() + growth + 2);
  char* p = out.data() + at;
  *p++ = '"';
  if (growth == 0) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  } else {
    static constexpr char hex[] = "0123456789abcdef";
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (escape_growth[c] == 0) {
        *p++ = ch;
        continue;
      }
      *p++ = '\\';
      switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
          *p++ = 'u';
          *p++ = '0';
          *p++ = '0';
          *p++ = hex[c >> 4];
          *p++ = hex[c & 0xF];
      }
    }
  }
  *p = '"';
}

// %.17g round-trips every double and is the same in both builds (libc++ 13,
// the WASM build's, has no floating-point to_chars).
void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out.append("null");  // JSON has no NaN or infinity; decoding refuses it
    return;
  }
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.17g", v);
  out.append(buf, static_cast<std::size_t>(n));
}

}  // namespace detail
}  // namespace duplex::schema
