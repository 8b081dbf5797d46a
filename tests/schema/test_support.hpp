// Shared helpers for the codec tests (native and WASM builds).
#pragma once

#include <duplex/schema/codec.hpp>

#include <chat_protocol.hpp>  // the chat's protocol (server/), the codec tests' sample messages

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>

namespace duplex::schema {

// The chat's messages under their short names, as the tests spell them.
using duplex::chat::wire::chat_protocol;
using duplex::chat::wire::chat_protocol_v2;
using duplex::chat::wire::chat_protocol_v3;
using duplex::chat::wire::chat_protocol_v4;
using duplex::chat::wire::chat_protocol_v5;
using duplex::chat::wire::client_message;
using duplex::chat::wire::server_message;
using duplex::chat::wire::join;
using duplex::chat::wire::chat;
using duplex::chat::wire::message;
using duplex::chat::wire::presence;
using duplex::chat::wire::joined;
using duplex::chat::wire::left;
using duplex::chat::wire::error;
using duplex::chat::wire::max_name_bytes;
using duplex::chat::wire::max_text_bytes;
using duplex::chat::wire::max_users;
namespace v2 = duplex::chat::wire::v2;
namespace v3 = duplex::chat::wire::v3;
namespace v4 = duplex::chat::wire::v4;
namespace v5 = duplex::chat::wire::v5;

// Readable gtest failure output: names instead of enum integers.
inline void PrintTo(decode_errc c, std::ostream* os) { *os << to_string(c); }
inline void PrintTo(const decode_error& e, std::ostream* os) {
  *os << to_string(e.code) << " field='" << e.path << "' detail='" << e.detail << "'";
}

}  // namespace duplex::schema

namespace duplex::schema::testing {

// Strict UTF-8 check (no overlongs, surrogates or code points past U+10FFFF),
// for asserting on the codec's own output.
inline bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    char32_t min;
    char32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Asserts that decoding `json` fails with `code` naming `field`, and that the
// detail says something. Works for any decode result.
template <class Result>
::testing::AssertionResult fails_with(const Result& r, decode_errc code, std::string_view field) {
  if (r.ok()) return ::testing::AssertionFailure() << "decoded successfully, expected " << to_string(code);
  const decode_error& e = r.error();
  if (e.code != code || e.path != field || e.detail.empty()) {
    return ::testing::AssertionFailure() << "got " << to_string(e.code) << " field='" << e.path << "' detail='"
                                         << e.detail << "', expected " << to_string(code) << " field='" << field
                                         << "'";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace duplex::schema::testing
