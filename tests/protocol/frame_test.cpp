#include <duplex/protocol/frame.hpp>

#include <gtest/gtest.h>

#include <vector>

using namespace duplex::protocol;

// apply_mask works 64 bytes, then 8 bytes, then one byte at a time, with the
// key rotated by the offset: every length and start offset must match the
// byte-wise definition of RFC 6455 §5.3 (octet i ^= key[i % 4]).
TEST(Frame, MaskMatchesTheByteWiseDefinition) {
  const mask_key key{0x12, 0xA5, 0x3C, 0xF0};
  for (std::size_t n = 0; n <= 300; ++n) {
    for (std::size_t offset = 0; offset < 8; ++offset) {
      std::vector<unsigned char> data(n + 1), expected(n + 1);
      for (std::size_t i = 0; i <= n; ++i) data[i] = expected[i] = static_cast<unsigned char>(i * 7 + n);
      for (std::size_t i = 0; i < n; ++i) expected[i] ^= key[(offset + i) % 4];
      apply_mask(data.data(), n, key, offset);
      ASSERT_EQ(data, expected) << "n=" << n << " offset=" << offset;  // and the byte after n untouched
    }
  }
}
