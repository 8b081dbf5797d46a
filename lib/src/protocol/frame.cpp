#include <duplex/protocol/frame.hpp>

#include <bit>
#include <cstring>

namespace duplex::protocol {

void apply_mask(unsigned char* data, std::size_t n, const mask_key& key, std::size_t offset) noexcept {
  // The key as one 64-bit word, rotated so its first byte lines up with
  // data[0]; on little-endian machines byte i of the word is k[(offset+i)&3].
  std::uint32_t k32;
  std::memcpy(&k32, key.data(), 4);
  if constexpr (std::endian::native == std::endian::little) {
    const unsigned shift = 8 * (offset & 3);
    if (shift) k32 = (k32 >> shift) | (k32 << (32 - shift));
  } else {
    unsigned char k[4];
    for (int i = 0; i < 4; ++i) k[i] = key[(offset + i) & 3];
    std::memcpy(&k32, k, 4);
  }
  const std::uint64_t k64 = (std::uint64_t{k32} << 32) | k32;
  std::size_t i = 0;
  // 64 bytes per iteration in four 16-byte vectors (SSE2 on any x86-64,
  // NEON on ARM; GCC and Clang vector extensions): about a quarter of the
  // instructions of the word loop on 1 KiB messages.
  using v128 = std::uint64_t __attribute__((vector_size(16)));
  const v128 kv = {k64, k64};
  for (; i + 64 <= n; i += 64) {
    v128 a, b, c, d;
    std::memcpy(&a, data + i, 16);
    std::memcpy(&b, data + i + 16, 16);
    std::memcpy(&c, data + i + 32, 16);
    std::memcpy(&d, data + i + 48, 16);
    a ^= kv;
    b ^= kv;
    c ^= kv;
    d ^= kv;
    std::memcpy(data + i, &a, 16);
    std::memcpy(data + i + 16, &b, 16);
    std::memcpy(data + i + 32, &c, 16);
    std::memcpy(data + i + 48, &d, 16);
  }
  mask_words(data + i, n - i, k64);  // i is a multiple of 8: the key still lines up
}

}  // namespace duplex::protocol
