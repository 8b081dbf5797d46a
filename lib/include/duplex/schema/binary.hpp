// The binary encoding of every described protocol: the same descriptions,
// rules and typed errors as the JSON codec (codec.hpp), a fraction of the
// bytes. Positional, like the description itself: nothing on the wire names
// a field, so both ends must speak the same version, which the fingerprint
// and the subprotocol (duplex.<name>.v<N>.bin) guarantee.
//
//   std::string bytes = duplex::schema::encode_binary<game::server_message>(state{...});
//   auto m = duplex::schema::decode_binary<game::client_message>(bytes);
//   if (!m) log(m.error().path, m.error().detail);   // "players[3].x: ..."
//
// Layout (little-endian, the same natively and in WebAssembly):
//   message   varint index of the message in its variant, then its struct
//   struct    a bitmap of its optional fields that are present (one bit per
//             optional field in declaration order, ceil(n/8) bytes, none
//             without optional fields), then each present field in
//             declaration order
//   bool      one byte, 0 or 1
//   integer   signed: zigzag varint; unsigned: varint (LEB128, at most 10
//             bytes, the shortest form only)
//   double    8 bytes IEEE 754;  float: 4 bytes (a float member is the
//             description's way of asking for 32 bits)
//   string    varint byte count, then UTF-8 bytes
//   enum      varint position among the described values
//   vector    varint item count, then the items
// Decoding is as strict as JSON's: the same rules (ranges, byte limits,
// display names, max_items, bad_enum, max_depth) with the same codes and
// paths, plus truncated (the input ends inside a value) and trailing_bytes
// (bytes after the message). Non-finite numbers are out_of_range (JSON
// cannot carry them either). Never reads past the input; sizes are checked
// against the bytes left before anything is allocated.
#pragma once

#include <duplex/schema/codec.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace duplex::schema {

namespace detail {

// ---- encoding -----------------------------------------------------------------

inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

template <class U>
void put_le(std::string& out, U bits) {
  for (std::size_t i = 0; i < sizeof(U); ++i) out += static_cast<char>((bits >> (8 * i)) & 0xFF);
}

template <described_struct T>
constexpr std::size_t optional_count() {
  std::size_t n = 0;
  for_each_field<T>([&](const auto& f) {
    using M = typename std::remove_cvref_t<decltype(f)>::member_type;
    if (is_optional<M>::value) ++n;
  });
  return n;
}

// The fewest bytes any value of T takes (0 for a struct with no fields):
// a count of items is checked against the bytes left with it.
template <class T>
constexpr std::size_t min_size() {
  if constexpr (std::is_same_v<T, float>) {
    return 4;
  } else if constexpr (std::is_floating_point_v<T>) {
    return 8;
  } else if constexpr (is_optional<T>::value) {
    return 0;
  } else if constexpr (described_struct<T>) {
    std::size_t n = (optional_count<T>() + 7) / 8;
    for_each_field<T>([&](const auto& f) { n += min_size<typename std::remove_cvref_t<decltype(f)>::member_type>(); });
    return n;
  } else {
    return 1;  // bool, integer, enum, string and vector: at least one byte
  }
}

template <class T>
void put(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    put_varint(out, v.size());
    out.append(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += static_cast<char>(v ? 1 : 0);
  } else if constexpr (integer<T>) {
    if constexpr (std::is_signed_v<T>) {
      const auto x = static_cast<std::int64_t>(v);
      put_varint(out, (static_cast<std::uint64_t>(x) << 1) ^ static_cast<std::uint64_t>(x >> 63));
    } else {
      put_varint(out, static_cast<std::uint64_t>(v));
    }
  } else if constexpr (std::is_same_v<T, float>) {
    put_le(out, __builtin_bit_cast(std::uint32_t, v));
  } else if constexpr (std::is_floating_point_v<T>) {
    put_le(out, __builtin_bit_cast(std::uint64_t, static_cast<double>(v)));
  } else if constexpr (described_enum<T>) {
    std::uint64_t i = 0;
    for (const auto& nv : description<T>.values) {
      if (nv.second == v) break;
      ++i;
    }
    put_varint(out, i);  // not a described value: one past the last, which decoding refuses
  } else if constexpr (is_optional<T>::value) {
    put(out, *v);
  } else if constexpr (is_vector<T>::value) {
    put_varint(out, v.size());
    for (const auto& x : v) put(out, x);
  } else if constexpr (described_struct<T>) {
    constexpr std::size_t n = optional_count<T>();
    if constexpr (n > 0) {
      unsigned char bits[(n + 7) / 8] = {};
      std::size_t i = 0;
      for_each_field<T>([&](const auto& f) {
        using M = typename std::remove_cvref_t<decltype(f)>::member_type;
        if constexpr (is_optional<M>::value) {
          if (v.*(f.ptr)) bits[i / 8] |= static_cast<unsigned char>(1u << (i % 8));
          ++i;
        }
      });
      out.append(reinterpret_cast<const char*>(bits), sizeof bits);
    }
    for_each_field<T>([&](const auto& f) {
      const auto& m = v.*(f.ptr);
      using M = std::remove_cvref_t<decltype(m)>;
      if constexpr (is_optional<M>::value) {
        if (!m) return;
      }
      put(out, m);
    });
  } else {
    static_assert(sizeof(T) == 0, "unsupported field type: see duplex/schema/describe.hpp");
  }
}

// ---- decoding -----------------------------------------------------------------

// The bytes left; every read checks them first.
struct reader {
  const unsigned char* at;
  const unsigned char* end;
  std::size_t left() const noexcept { return static_cast<std::size_t>(end - at); }
};

// Reads a varint; false (and the error recorded) if it is cut short, over
// 64 bits or not in its shortest form.
bool get_varint(decoder& d, reader& r, std::uint64_t& out);
// Records `truncated` at the current path.
void cut_short(decoder& d, std::string_view what);
bool valid_utf8(std::string_view s) noexcept;

template <class T>
bool get(decoder& d, reader& r, T& out, const rules& ru, int level);

template <class T, std::size_t... I>
bool get_fields(decoder& d, reader& r, T& out, const unsigned char* bits, int level, std::index_sequence<I...>) {
  std::size_t optional_i = 0;
  bool ok = true;
  const auto one = [&](const auto& f) {
    if (!ok) return;
    auto& m = out.*(f.ptr);
    using M = std::remove_cvref_t<decltype(m)>;
    if constexpr (is_optional<M>::value) {
      const bool present = bits[optional_i / 8] & (1u << (optional_i % 8));
      ++optional_i;
      if (!present) {
        m.reset();
        return;
      }
    }
    d.push(f.name);
    ok = get(d, r, m, f.rule, level);
    d.pop();
  };
  (one(std::get<I>(description<T>.fields)), ...);
  return ok;
}

template <class T>
bool get(decoder& d, reader& r, T& out, const rules& ru, int level) {
  if constexpr (std::is_same_v<T, std::string>) {
    std::uint64_t n = 0;
    if (!get_varint(d, r, n)) return false;
    if (n > r.left()) {
      cut_short(d, "a string of " + std::to_string(n) + " bytes");
      return false;
    }
    const std::string_view s(reinterpret_cast<const char*>(r.at), static_cast<std::size_t>(n));
    r.at += n;
    if (!valid_utf8(s)) {
      d.fail(decode_errc::invalid_utf8, "a UTF-8 string", "not valid UTF-8");
      return false;
    }
    check_string(d, s, ru);
    out.assign(s);
    return !d.failed();
  } else if constexpr (std::is_same_v<T, bool>) {
    if (r.left() < 1) {
      cut_short(d, "true or false");
      return false;
    }
    const unsigned char b = *r.at++;
    if (b > 1) {
      d.fail(decode_errc::wrong_type, "true or false", "expected true or false (0 or 1), not " + std::to_string(b));
      return false;
    }
    out = b == 1;
    return true;
  } else if constexpr (integer<T>) {
    std::uint64_t raw = 0;
    if (!get_varint(d, r, raw)) return false;
    const auto [lo, hi] = integer_range<T>(ru);
    std::int64_t x = 0;
    if constexpr (std::is_signed_v<T>) {
      x = static_cast<std::int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
    } else {
      if (raw > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        d.fail(decode_errc::out_of_range, "an integer in " + range_text(lo, hi), std::to_string(raw) + " is out of range");
        return false;
      }
      x = static_cast<std::int64_t>(raw);
    }
    if (x < lo || x > hi) {
      d.fail(decode_errc::out_of_range, "an integer in " + range_text(lo, hi), std::to_string(x) + " is out of range");
      return false;
    }
    out = static_cast<T>(x);
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    double x = 0;
    if constexpr (std::is_same_v<T, float>) {
      if (r.left() < 4) {
        cut_short(d, "a 4-byte number");
        return false;
      }
      std::uint32_t bits = 0;
      for (int i = 0; i < 4; ++i) bits |= std::uint32_t{r.at[i]} << (8 * i);
      r.at += 4;
      x = __builtin_bit_cast(float, bits);
    } else {
      if (r.left() < 8) {
        cut_short(d, "an 8-byte number");
        return false;
      }
      std::uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits |= std::uint64_t{r.at[i]} << (8 * i);
      r.at += 8;
      x = __builtin_bit_cast(double, bits);
    }
    if (!std::isfinite(x) || x < ru.min_real || x > ru.max_real) {
      d.fail(decode_errc::out_of_range, "a number in " + real_range_text(ru.min_real, ru.max_real),
             std::isfinite(x) ? "the number is out of range" : "not a finite number");
      return false;
    }
    out = static_cast<T>(x);
    return true;
  } else if constexpr (described_enum<T>) {
    std::uint64_t i = 0;
    if (!get_varint(d, r, i)) return false;
    if (i >= description<T>.values.size()) {
      const std::string one_of = enum_choices<T>();
      d.fail(decode_errc::bad_enum, one_of, "value " + std::to_string(i) + " is not " + one_of);
      return false;
    }
    out = description<T>.values[static_cast<std::size_t>(i)].second;
    return true;
  } else if constexpr (is_optional<T>::value) {
    return get(d, r, out.emplace(), ru, level);
  } else if constexpr (is_vector<T>::value) {
    if (level > max_depth) {
      d.fail(decode_errc::too_deep, "at most " + std::to_string(max_depth) + " levels", "nested too deep");
      return false;
    }
    std::uint64_t n = 0;
    if (!get_varint(d, r, n)) return false;
    if (n > ru.max_items) {
      d.fail(decode_errc::too_long, "at most " + std::to_string(ru.max_items) + " items",
             std::to_string(n) + " items; the limit is " + std::to_string(ru.max_items));
      return false;
    }
    // Checked before anything is allocated: n items need n * min_size bytes
    // (items of no bytes at all are capped like a document's bytes).
    constexpr std::size_t item = min_size<typename T::value_type>();
    if (item == 0 ? n > max_json_bytes : n > r.left() / item) {
      cut_short(d, std::to_string(n) + " items");
      return false;
    }
    out.clear();
    out.reserve(static_cast<std::size_t>(n));
    for (std::uint64_t i = 0; i < n; ++i) {
      d.push(static_cast<std::size_t>(i));
      const bool ok = get(d, r, out.emplace_back(), ru, level + 1);
      d.pop();
      if (!ok) return false;
    }
    return true;
  } else if constexpr (described_struct<T>) {
    if (level > max_depth) {
      d.fail(decode_errc::too_deep, "at most " + std::to_string(max_depth) + " levels", "nested too deep");
      return false;
    }
    constexpr std::size_t n = optional_count<T>();
    unsigned char bits[n > 0 ? (n + 7) / 8 : 1] = {};
    if constexpr (n > 0) {
      if (r.left() < sizeof bits) {
        cut_short(d, "the optional fields' bitmap");
        return false;
      }
      std::memcpy(bits, r.at, sizeof bits);
      r.at += sizeof bits;
      if (n % 8 != 0 && (bits[sizeof bits - 1] >> (n % 8)) != 0) {
        d.fail(decode_errc::wrong_type, "a bitmap of " + std::to_string(n) + " optional fields",
               "bits set past the optional fields");
        return false;
      }
    }
    return get_fields(d, r, out, bits, level + 1, std::make_index_sequence<description<T>.size>{});
  } else {
    static_assert(sizeof(T) == 0, "unsupported field type: see duplex/schema/describe.hpp");
  }
}

template <class M, class Variant>
struct index_in;
template <class M, class... A>
struct index_in<M, std::variant<A...>> {
  static constexpr std::size_t value = [] {
    constexpr bool same[] = {std::is_same_v<M, A>...};
    std::size_t i = 0;
    while (i < sizeof...(A) && !same[i]) ++i;
    return i;
  }();
  static_assert(value < sizeof...(A), "this message is not one of the variant's alternatives");
};

// Resets the thread's decoder for a binary message.
decoder& binary_decoder();

}  // namespace detail

template <class... A>
std::string encode_binary(const std::variant<A...>& m) {
  std::string out;
  detail::put_varint(out, m.index());
  std::visit([&](const auto& v) { detail::put(out, v); }, m);
  return out;
}

// The binary form of one message of a tagged set: its position in `Variant`,
// then its fields. (M may also be the Variant itself.)
template <class Variant, class M>
  requires is_variant<Variant>::value && (described_struct<M> || std::is_same_v<M, Variant>)
std::string encode_binary(const M& m) {
  if constexpr (std::is_same_v<M, Variant>) {
    return encode_binary(m);
  } else {
    std::string out;
    detail::put_varint(out, detail::index_in<M, Variant>::value);
    detail::put(out, m);
    return out;
  }
}

// Decodes one binary message of a tagged set; the same rules and errors as
// decode() (codec.hpp), plus truncated and trailing_bytes.
template <class Variant>
  requires is_variant<Variant>::value
decode_result<Variant> decode_binary(std::string_view bytes) {
  detail::decoder& d = detail::binary_decoder();
  if (bytes.size() > max_json_bytes) {
    return decode_error{decode_errc::document_too_long, {}, "at most " + std::to_string(max_json_bytes) + " bytes",
                        "message: " + std::to_string(bytes.size()) + " bytes is too long"};
  }
  detail::reader r{reinterpret_cast<const unsigned char*>(bytes.data()),
                   reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size()};
  std::uint64_t index = 0;
  d.push(std::string_view("type"));
  const bool have_index = detail::get_varint(d, r, index);
  d.pop();
  if (!have_index) return std::move(*d.error);
  Variant out;
  bool known = false, ok = false;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    const auto one = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
      if (index != J) return;
      known = true;
      ok = detail::get(d, r, out.template emplace<J>(), rules{}, 1);
    };
    (one(std::integral_constant<std::size_t, I>{}), ...);
  }(std::make_index_sequence<std::variant_size_v<Variant>>{});
  if (!known) {
    d.fail(decode_errc::unknown_type, "a message index below " + std::to_string(std::variant_size_v<Variant>),
           "unknown message index " + std::to_string(index), "type");
    return std::move(*d.error);
  }
  if (!ok) return std::move(*d.error);
  if (r.left() != 0) {
    return decode_error{decode_errc::trailing_bytes, {}, "the end of the message",
                        "message: " + std::to_string(r.left()) + " bytes after the end"};
  }
  return out;
}

template <protocol P>
decode_result<typename P::client_message> decode_client_binary(std::string_view bytes) {
  return decode_binary<typename P::client_message>(bytes);
}
template <protocol P>
decode_result<typename P::server_message> decode_server_binary(std::string_view bytes) {
  return decode_binary<typename P::server_message>(bytes);
}

}  // namespace duplex::schema
