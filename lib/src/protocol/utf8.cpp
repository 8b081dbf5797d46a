#include <duplex/protocol/utf8.hpp>

#include <cstring>

namespace duplex::protocol {

bool utf8_validator::feed(const unsigned char* p, std::size_t n) noexcept {
  if (bad_) return false;
  const unsigned char* end = p + n;
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
