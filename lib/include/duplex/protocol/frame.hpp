// RFC 6455 §5 wire format: opcodes, close codes, frame headers and masking.
#pragma once

#include <duplex/protocol/output_buffer.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace duplex::protocol {

enum class role : std::uint8_t { client, server };

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

constexpr bool is_control(opcode op) noexcept { return (static_cast<unsigned>(op) & 0x8) != 0; }
constexpr bool is_known(unsigned op) noexcept { return op <= 2 || (op >= 8 && op <= 10); }

// RFC 6455 §7.4.1 status codes.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;    // never on the wire
inline constexpr std::uint16_t abnormal = 1006;     // never on the wire
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t mandatory_extension = 1010;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t try_again_later = 1013;
}  // namespace close_code

// Whether a code may appear in a received Close frame (§7.4.1, §7.4.2 and
// the IANA registry): 1000-1003, 1007-1014 and 3000-4999.
constexpr bool is_valid_close_code(std::uint16_t c) noexcept {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

inline constexpr std::size_t max_control_payload = 125;
inline constexpr std::size_t max_frame_header = 14;

using mask_key = std::array<unsigned char, 4>;

// Writes a frame header into h (max_frame_header bytes of room) and returns
// its size. `mask` is written when `masked`. Inline: it runs once per frame
// sent.
inline std::size_t encode_frame_header(unsigned char* h, opcode op, bool fin, bool rsv1, std::uint64_t length,
                                       bool masked, const mask_key& mask) noexcept {
  std::size_t n = 0;
  h[n++] = static_cast<unsigned char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<unsigned>(op));
  const unsigned char m = masked ? 0x80 : 0;
  if (length < 126) {
    h[n++] = m | static_cast<unsigned char>(length);
  } else if (length <= 0xFFFF) {
    h[n++] = m | 126;
    h[n++] = static_cast<unsigned char>(length >> 8);
    h[n++] = static_cast<unsigned char>(length);
  } else {
    h[n++] = m | 127;
    for (int shift = 56; shift >= 0; shift -= 8) h[n++] = static_cast<unsigned char>(length >> shift);
  }
  if (masked) {
    for (int i = 0; i < 4; ++i) h[n++] = mask[i];
  }
  return n;
}

// Appends a frame header to `out` (a std::string or an output_buffer).
// `mask` is written when `masked`.
template <class Out>
void write_frame_header(Out& out, opcode op, bool fin, bool rsv1, std::uint64_t length, bool masked,
                        const mask_key& mask) {
  unsigned char h[max_frame_header];
  out.append(reinterpret_cast<const char*>(h), encode_frame_header(h, op, fin, rsv1, length, masked, mask));
}

// XORs `n` bytes in place with the key, starting at key position `offset % 4`,
// 64 bytes at a time (then 8, then 1). Masking and unmasking are the same
// operation.
void apply_mask(unsigned char* data, std::size_t n, const mask_key& key, std::size_t offset) noexcept;

// The word-at-a-time part of masking: XORs `n` bytes with `k64`, the key
// lined up with data[0] and repeated twice (in memory order: k0 k1 k2 k3 k0
// k1 k2 k3), eight bytes at a time, then the tail byte by byte. apply_mask()
// ends with it; inline so the parser unmasks short frames without a call.
inline void mask_words(unsigned char* data, std::size_t n, std::uint64_t k64) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= k64;
    std::memcpy(data + i, &w, 8);
  }
  unsigned char tail[8];
  std::memcpy(tail, &k64, 8);
  for (std::size_t j = 0; i < n; ++i, ++j) data[i] ^= tail[j];
}

// The parser's one pass over a whole frame's payload: XORs it with `k64`
// (as mask_words; 0 for an unmasked frame leaves it as it is) sixteen bytes
// at a time (SSE2 / NEON through the vector extension), and says whether
// every unmasked byte is ASCII: a text message then needs no UTF-8 check,
// and nothing reads the payload a second time.
inline bool unmask_ascii(unsigned char* data, std::size_t n, std::uint64_t k64) noexcept {
  using v128 = std::uint64_t __attribute__((vector_size(16)));
  const v128 kv = {k64, k64};
  v128 acc = {0, 0};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v128 a;
    std::memcpy(&a, data + i, 16);
    a ^= kv;
    std::memcpy(data + i, &a, 16);
    acc |= a;
  }
  std::uint64_t bits = acc[0] | acc[1];
  if (i + 8 <= n) {
    std::uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= k64;
    std::memcpy(data + i, &w, 8);
    bits |= w;
    i += 8;
  }
  unsigned char tail[8];
  std::memcpy(tail, &k64, 8);
  for (std::size_t j = 0; i < n; ++i, ++j) bits |= data[i] ^= tail[j];
  return (bits & 0x8080808080808080ull) == 0;
}

}  // namespace duplex::protocol
