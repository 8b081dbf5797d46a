#include <duplex/protocol/utf8.hpp>

#include <cstring>

#include <simdjson.h>

namespace duplex::protocol {

namespace {

// Where to stop a bulk check of [p, end) so that no multi-byte sequence is
// cut: before the last lead byte if fewer than 3 bytes follow it (an
// incomplete sequence may continue in the next piece).
const unsigned char* last_boundary(const unsigned char* p, const unsigned char* end) noexcept {
  for (int i = 1; i <= 3 && end - i >= p; ++i) {
    const unsigned char c = end[-i];
    if ((c & 0xC0) != 0x80) return c >= 0xC0 ? end - i : end;
  }
  return end;
}

}  // namespace

bool utf8_validator::feed(const unsigned char* p, std::size_t n) noexcept {
  if (bad_) return false;
  const unsigned char* end = p + n;
  // Long runs: simdjson's SIMD validator (several bytes per cycle) up to the
  // last whole sequence; the state machine below takes the rest, and finds
  // the first bad byte when simdjson says there is one. Short pieces (most
  // chat messages) stay on the word-at-a-time ASCII path.
  if (need_ == 0 && n >= 64) {
    const unsigned char* cut = last_boundary(p, end);
    if (simdjson::validate_utf8(reinterpret_cast<const char*>(p), static_cast<std::size_t>(cut - p))) p = cut;
  }
  while (p < end) {
    if (need_ == 0) {
      // Chat text is mostly ASCII: skip it eight bytes at a time.
      while (end - p >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        if (w & 0x8080808080808080ull) break;
        p += 8;
      }
      if (p == end) break;
      const unsigned char c = *p++;
      if (c < 0x80) continue;
      lo_ = 0x80;
      hi_ = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        need_ = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        need_ = 2;
        if (c == 0xE0) lo_ = 0xA0;       // overlong
        else if (c == 0xED) hi_ = 0x9F;  // UTF-16 surrogates
      } else if (c >= 0xF0 && c <= 0xF4) {
        need_ = 3;
        if (c == 0xF0) lo_ = 0x90;       // overlong
        else if (c == 0xF4) hi_ = 0x8F;  // above U+10FFFF
      } else {
        bad_ = true;
        return false;
      }
    } else {
      const unsigned char c = *p++;
      if (c < lo_ || c > hi_) {
        bad_ = true;
        return false;
      }
      lo_ = 0x80;
      hi_ = 0xBF;
      --need_;
    }
  }
  return true;
}

bool is_valid_utf8(std::string_view s) noexcept {
  utf8_validator v;
  return v.feed(s) && v.complete();
}

}  // namespace duplex::protocol
