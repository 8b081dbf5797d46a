// Incremental UTF-8 validation (RFC 3629) for text messages that arrive in
// pieces: fragments, or partial reads of one frame. It stops at the first
// byte that can never start a valid sequence, which is what lets the
// connection fail fast with 1007 instead of buffering a bad message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace duplex::protocol {

class utf8_validator {
 public:
  // Validates the next bytes. Returns false at the first invalid byte; the
  // validator is then poisoned until reset().
  bool feed(const unsigned char* p, std::size_t n) noexcept;
  bool feed(std::string_view s) noexcept {
    return feed(reinterpret_cast<const unsigned char*>(s.data()), s.size());
  }
  // True when no multi-byte sequence is left open (end of message is legal).
  bool complete() const noexcept { return need_ == 0; }
  void reset() noexcept { *this = utf8_validator{}; }

 private:
  std::uint8_t need_ = 0;   // continuation bytes still expected
  std::uint8_t lo_ = 0x80;  // allowed range of the next continuation byte
  std::uint8_t hi_ = 0xBF;
  bool bad_ = false;
};

// Whether n bytes are all ASCII (then valid UTF-8), a word at a time. Inline
// for short messages, where calling the validator costs more than the check.
inline bool is_ascii(const unsigned char* p, std::size_t n) noexcept {
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; ++i) acc |= p[i];
  return (acc & 0x8080808080808080ull) == 0;
}

// One-shot check of a whole string.
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace duplex::protocol
