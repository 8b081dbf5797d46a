// The non-template parts of the binary codec (duplex/schema/binary.hpp).
#include <duplex/schema/binary.hpp>

#include <simdjson.h>

namespace duplex::schema::detail {

decoder& binary_decoder() {
  decoder& d = thread_decoder();  // its error and path; the JSON parser stays unused
  d.error.reset();
  d.depth = 0;
  return d;
}

void cut_short(decoder& d, std::string_view what) {
  d.fail(decode_errc::truncated, std::string(what), "the message ends inside " + std::string(what));
}

bool get_varint(decoder& d, reader& r, std::uint64_t& out) {
  std::uint64_t v = 0;
  for (int shift = 0, i = 0;; shift += 7, ++i) {
    if (r.left() == 0) {
      cut_short(d, "a number");
      return false;
    }
    const unsigned char b = *r.at++;
    // The tenth byte holds bit 63 only; a last byte of 0 after others is a
    // longer form of a shorter number: both refused, so each value has one encoding.
    if (i == 9 && b > 1) {
      d.fail(decode_errc::out_of_range, "a number of at most 64 bits", "a number over 64 bits");
      return false;
    }
    v |= std::uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) {
      if (b == 0 && i > 0) {
        d.fail(decode_errc::wrong_type, "a number in its shortest form", "a number with needless bytes");
        return false;
      }
      out = v;
      return true;
    }
  }
}

bool valid_utf8(std::string_view s) noexcept { return simdjson::validate_utf8(s.data(), s.size()); }

}  // namespace duplex::schema::detail
