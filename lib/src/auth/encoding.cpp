// base64url through OpenSSL's EVP_DecodeBlock, and the simdjson walk shared
// by token and JWKS parsing.
#include "internal.hpp"

#include <openssl/evp.h>

#include <cstring>

namespace duplex::auth {
namespace {

// Index in the base64url alphabet, or -1.
int b64url_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

}  // namespace

std::optional<std::string> base64url_decode(std::string_view in) {
  const std::size_t rem = in.size() % 4;
  if (rem == 1) return std::nullopt;  // 6 bits cannot end a byte
  // EVP_DecodeBlock speaks standard base64 and skips whitespace, so the
  // alphabet is checked here, character by character, before translating.
  std::string std64;
  std64.reserve(in.size() + 3);
  for (char c : in) {
    if (b64url_value(c) < 0) return std::nullopt;
    std64 += c == '-' ? '+' : c == '_' ? '/' : c;
  }
  // The last character's unused low bits must be zero: "QR" and "QQ" would
  // otherwise both decode to "A".
  if (rem != 0) {
    const int last = b64url_value(in.back());
    if ((rem == 2 && (last & 0x0F) != 0) || (rem == 3 && (last & 0x03) != 0)) return std::nullopt;
    std64.append(4 - rem, '=');
  }
  const std::size_t length = in.size() / 4 * 3 + (rem == 2 ? 1 : rem == 3 ? 2 : 0);
  // EVP_DecodeBlock writes whole groups (padding decodes to zero bytes it
  // still counts), so the buffer and its answer are 3 bytes per group.
  std::string out(std64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(std64.data()), static_cast<int>(std64.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
  out.resize(length);
  return out;
}

namespace json {

reader& thread_reader() {
  thread_local reader r;
  return r;
}

simdjson::error_code reader::open(std::string_view text, od::object& out) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the input.
  buffer.assign(text);
  buffer.append(simdjson::SIMDJSON_PADDING, ' ');
  // Every unescape takes fresh room in the parser's string buffer, sized for
  // one pass over the input; the payload is walked twice (verify.cpp).
  if (parser.capacity() < 2 * text.size() + 64) {
    if (auto e = parser.allocate(2 * text.size() + 64, parser.max_depth())) return e;
  }
  if (auto e = parser.iterate(buffer.data(), text.size(), buffer.size()).get(doc)) return e;
  return doc.get_object().get(out);
}

simdjson::error_code reader::finish() {
  return doc.at_end() ? simdjson::SUCCESS : simdjson::TRAILING_CONTENT;
}

simdjson::error_code get_string(od::value& v, std::string& out) {
  std::string_view s;
  if (auto e = v.get_string().get(s)) return e;
  out.assign(s);
  return simdjson::SUCCESS;
}

}  // namespace json
}  // namespace duplex::auth
