// Encoding half of the chat codec (decoding lives in decode.cpp), plus the
// names of the decode error codes.
#include "codec.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>

namespace duplex::handwritten {

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
  }
  return "unknown";
}

namespace {

// Bytes each input byte grows by when escaped (RFC 8259): quote, backslash
// and C0 controls must be escaped; \b \f \n \r \t have short forms, the other
// controls become \u00XX. Everything else, UTF-8 included, is copied as is.
constexpr std::array<std::uint8_t, 256> escape_growth = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 5;
  for (unsigned char c : {'"', '\\', '\b', '\f', '\n', '\r', '\t'}) t[c] = 1;
  return t;
}();

// Writes s as a JSON string at the end of out. Sizing first means one
// resize and then plain stores, and a memcpy when nothing needs escaping
// (nearly always). Non-ASCII bytes are not checked: the output is exactly
// as valid UTF-8 as the input, and every decoded string is.
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

// The JSON around the values, as literals: "type" first, then the fields in
// declaration order. Keys and type names never need escaping.
std::string start(std::string_view head, std::size_t value_bytes) {
  std::string out;
  // Values plus their quotes and the closing punctuation, assuming (as is
  // almost always true) that nothing needs escaping.
  out.reserve(head.size() + value_bytes + 48);
  out.append(head);
  return out;
}

std::string name_only(std::string_view head, std::string_view value) {
  std::string out = start(head, value.size());
  append_string(out, value);
  out += '}';
  return out;
}

}  // namespace

std::string encode(const join& m) { return name_only(R"({"type":"join","name":)", m.name); }
std::string encode(const chat& m) { return name_only(R"({"type":"chat","text":)", m.text); }
std::string encode(const joined& m) { return name_only(R"({"type":"joined","name":)", m.name); }
std::string encode(const left& m) { return name_only(R"({"type":"left","name":)", m.name); }

std::string encode(const message& m) {
  std::string out = start(R"({"type":"message","from":)", m.from.size() + m.text.size());
  append_string(out, m.from);
  out.append(R"(,"text":)");
  append_string(out, m.text);
  out.append(R"(,"time":)");
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, m.time).ptr;
  out.append(digits, end);
  out += '}';
  return out;
}

std::string encode(const presence& m) {
  std::size_t bytes = 0;
  for (const auto& u : m.users) bytes += u.size() + 3;  // quotes and comma
  std::string out = start(R"({"type":"presence","users":[)", bytes);
  for (std::size_t i = 0; i < m.users.size(); ++i) {
    if (i != 0) out += ',';
    append_string(out, m.users[i]);
  }
  out.append("]}");
  return out;
}

std::string encode(const error& m) {
  std::string out = start(R"({"type":"error","code":)", m.code.size() + m.message.size());
  append_string(out, m.code);
  out.append(R"(,"message":)");
  append_string(out, m.message);
  out += '}';
  return out;
}

std::string encode(const client_message& m) {
  return std::visit([](const auto& v) { return encode(v); }, m);
}

std::string encode(const server_message& m) {
  return std::visit([](const auto& v) { return encode(v); }, m);
}

}  // namespace duplex::handwritten
