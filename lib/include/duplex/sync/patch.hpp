// duplex::sync's wire format: one patch brings a client from the tick it has
// to a newer one. Shared by the server side (view.hpp writes patches) and the
// client side (replica.hpp reads them). The format is described in sync.hpp.
#pragma once

#include <duplex/schema/binary.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace duplex::sync {

// A tick number. 0 is "nothing": a patch from tick 0 is a snapshot.
using tick_t = std::uint64_t;

// Why a patch was refused (replica::apply). The replica is unchanged then.
enum class patch_errc {
  truncated,         // the patch ends inside a number, an entity or a field
  bad_number,        // a varint over 64 bits or not in its shortest form
  wrong_from_tick,   // from_tick is not the tick the replica has (a gap, a replay, a stale patch)
  bad_header,        // a section flag set with a count of 0, a tick past 2^63
  too_many,          // a count larger than the bytes left could hold
  unordered_ids,     // ids of a section not strictly increasing
  unknown_id,        // a remove or a change of an id the replica does not have
  already_known,     // an entity entering under an id the replica has (and the patch does not remove)
  bad_mask,          // a change's field mask empty, past the last field, or naming the id
  bad_value,         // a field's value breaks its description's rules (the schema error is in detail)
  trailing_bytes,    // bytes after the last section
};

inline std::string_view to_string(patch_errc c) {
  switch (c) {
    case patch_errc::truncated: return "truncated";
    case patch_errc::bad_number: return "bad_number";
    case patch_errc::wrong_from_tick: return "wrong_from_tick";
    case patch_errc::bad_header: return "bad_header";
    case patch_errc::too_many: return "too_many";
    case patch_errc::unordered_ids: return "unordered_ids";
    case patch_errc::unknown_id: return "unknown_id";
    case patch_errc::already_known: return "already_known";
    case patch_errc::bad_mask: return "bad_mask";
    case patch_errc::bad_value: return "bad_value";
    case patch_errc::trailing_bytes: return "trailing_bytes";
  }
  return "unknown";
}

struct patch_error {
  patch_errc code{};
  std::string detail;  // human-readable: where and what
};

// A value or a patch_error.
template <class V>
class result {
 public:
  result(V v) : v_(std::in_place_index<0>, std::move(v)) {}
  result(patch_error e) : v_(std::in_place_index<1>, std::move(e)) {}
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  V& value() & { return std::get<0>(v_); }
  const V& value() const& { return std::get<0>(v_); }
  V& operator*() & { return value(); }
  const V& operator*() const& { return value(); }
  V* operator->() { return &value(); }
  const V* operator->() const { return &value(); }
  const patch_error& error() const { return std::get<1>(v_); }

 private:
  std::variant<V, patch_error> v_;
};

// The number of described fields of T (at most 64: a change's mask is one
// 64-bit number) and the mask naming all of them.
template <schema::described_struct T>
inline constexpr std::size_t field_count = schema::description<T>.size;
template <schema::described_struct T>
inline constexpr std::uint64_t all_fields =
    field_count<T> >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << field_count<T>) - 1;

// The position of T's id member among its described fields.
template <schema::described_struct T, class Id>
std::size_t id_field_index(Id T::*id) {
  std::size_t i = 0, found = field_count<T>;
  schema::for_each_field<T>([&](const auto& f) {
    using M = typename std::remove_cvref_t<decltype(f)>::member_type;
    if constexpr (std::is_same_v<M, Id>) {
      if (f.ptr == id && found == field_count<T>) found = i;
    }
    ++i;
  });
  return found;
}

namespace detail {

using schema::detail::put_varint;

// A patch's first number: (to - from) << 5 | (from mod 16) << 1 | (from == 0).
// The client has tick `from` (the view knows it: every patch it makes is
// delivered in order), so the patch carries only its low 4 bits, a check.
inline std::uint64_t tick_word(tick_t from, tick_t to) {
  return ((to - from) << 5) | ((from & 15) << 1) | (from == 0 ? 1u : 0u);
}

// ---- quantised floats (rules::scale) ------------------------------------------
// A float or double member whose rule has a scale travels as the integer
// n = round(value × scale), a zigzag varint, within the described range
// [min_real, max_real] and within ±2^22 (float) / ±2^50 (double), where n ↔
// value round-trips exactly. The world rounds values to n / scale when a tick
// closes, so what clients hold is exactly what the server holds.
template <class M>
inline constexpr bool scalable = std::is_floating_point_v<M>;

struct quantum {
  double scale = 0;
  std::int64_t lo = 0, hi = 0;  // the integers allowed
};
template <class M>
quantum quantum_of(const schema::rules& r) {
  const double lim = std::is_same_v<M, float> ? double(std::int64_t{1} << 22) : double(std::int64_t{1} << 50);
  quantum q;
  q.scale = r.scale;
  const double lo = std::ceil(r.min_real * r.scale), hi = std::floor(r.max_real * r.scale);
  q.lo = static_cast<std::int64_t>(lo > -lim ? lo : -lim);
  q.hi = static_cast<std::int64_t>(hi < lim ? hi : lim);
  return q;
}
// The integer for v: rounded half away from zero, clamped to the range (NaN: 0, clamped).
inline std::int64_t quantise(const quantum& q, double v) {
  double x = v * q.scale;
  if (x != x) x = 0;
  if (x < double(q.lo)) return q.lo;
  if (x > double(q.hi)) return q.hi;
  return std::llround(x);
}
template <class M>
M dequantise(const quantum& q, std::int64_t n) {
  return static_cast<M>(static_cast<double>(n) / q.scale);
}
inline std::uint64_t zigzag(std::int64_t x) {
  return (static_cast<std::uint64_t>(x) << 1) ^ static_cast<std::uint64_t>(x >> 63);
}
inline std::int64_t unzigzag(std::uint64_t raw) { return static_cast<std::int64_t>((raw >> 1) ^ (~(raw & 1) + 1)); }

// Whether T has a field with a scale (then a change's mask carries one more
// bit: absolute values or differences).
template <schema::described_struct T>
constexpr bool has_scaled() {
  bool any = false;
  schema::for_each_field<T>([&](const auto& f) {
    using M = typename std::remove_cvref_t<decltype(f)>::member_type;
    if constexpr (scalable<M>) {
      if (f.rule.scale != 0) any = true;
    }
  });
  return any;
}

// Rounds every scaled field of v to its grid (what clients will hold).
template <schema::described_struct T>
void snap_fields(T& v) {
  if constexpr (has_scaled<T>()) {
    schema::for_each_field<T>([&](const auto& f) {
      using M = typename std::remove_cvref_t<decltype(f)>::member_type;
      if constexpr (scalable<M>) {
        if (f.rule.scale != 0) {
          const quantum q = quantum_of<M>(f.rule);
          v.*(f.ptr) = dequantise<M>(q, quantise(q, static_cast<double>(v.*(f.ptr))));
        }
      }
    });
  }
}

// ---- writing --------------------------------------------------------------------

// One field on its own: as binary.hpp writes it inside a struct, except an
// optional, which carries its own presence byte (0 absent, 1 present) since
// there is no struct bitmap around it, and a scaled float: its integer, or
// (with `prev`) the difference from prev's, as a zigzag varint.
template <class M>
void put_field(std::string& out, const M& m, const schema::rules& ru, const M* prev) {
  if constexpr (scalable<M>) {
    if (ru.scale != 0) {
      const quantum q = quantum_of<M>(ru);
      const std::int64_t n = quantise(q, static_cast<double>(m));
      put_varint(out, zigzag(prev ? n - quantise(q, static_cast<double>(*prev)) : n));
      return;
    }
  }
  if constexpr (schema::is_optional<M>::value) {
    out += static_cast<char>(m ? 1 : 0);
    if (m) schema::detail::put(out, *m);
  } else {
    schema::detail::put(out, m);
  }
}

// The fields of v named by mask, in declaration order; scaled ones as
// differences from prev's when prev is given.
template <schema::described_struct T>
void put_fields(std::string& out, const T& v, std::uint64_t mask, const T* prev = nullptr) {
  std::size_t i = 0;
  schema::for_each_field<T>([&](const auto& f) {
    if ((mask >> i) & 1) put_field(out, v.*(f.ptr), f.rule, prev ? &(prev->*(f.ptr)) : nullptr);
    ++i;
  });
}

// A whole entity (entering a client's view): every field, absolute.
template <schema::described_struct T>
void put_entity(std::string& out, const T& v) {
  put_fields(out, v, all_fields<T>);
}

// A change's mask as written: with scaled fields, mask << 1 | absolute.
template <schema::described_struct T>
std::uint64_t mask_word(std::uint64_t mask, bool absolute) {
  if constexpr (has_scaled<T>()) return (mask << 1) | (absolute ? 1u : 0u);
  else return mask;
}

// The fewest bytes one entity takes.
template <schema::described_struct T>
constexpr std::size_t entity_min_size() {
  std::size_t n = 0;
  schema::for_each_field<T>([&](const auto& f) {
    using M = typename std::remove_cvref_t<decltype(f)>::member_type;
    if constexpr (schema::is_optional<M>::value) n += 1;
    else if constexpr (scalable<M>) n += f.rule.scale != 0 ? 1 : schema::detail::min_size<M>();
    else n += schema::detail::min_size<M>();
  });
  return n > 0 ? n : 1;
}

// The fields of `a` that differ from `b` (operator== per field).
template <schema::described_struct T>
std::uint64_t diff_fields(const T& a, const T& b) {
  std::uint64_t mask = 0;
  std::size_t i = 0;
  schema::for_each_field<T>([&](const auto& f) {
    if (!(a.*(f.ptr) == b.*(f.ptr))) mask |= std::uint64_t{1} << i;
    ++i;
  });
  return mask;
}

// Copies the fields named by mask from `from` into `to`.
template <schema::described_struct T>
void copy_fields(T& to, const T& from, std::uint64_t mask) {
  std::size_t i = 0;
  schema::for_each_field<T>([&](const auto& f) {
    if ((mask >> i) & 1) to.*(f.ptr) = from.*(f.ptr);
    ++i;
  });
}

// ---- reading: binary.hpp's reader and decoder (its checks, rules and paths) ----
using schema::detail::decoder;
using schema::detail::reader;

// One field; a scaled float absolute, or (absolute false) as a difference
// from the value m holds. The integer must be within the field's range.
template <class M>
bool get_field(decoder& d, reader& r, M& m, const schema::rules& ru, bool absolute) {
  if constexpr (scalable<M>) {
    if (ru.scale != 0) {
      const quantum q = quantum_of<M>(ru);
      std::uint64_t raw = 0;
      if (!schema::detail::get_varint(d, r, raw)) return false;
      const std::int64_t x = unzigzag(raw);
      std::int64_t n = x;
      if (!absolute) {
        constexpr std::int64_t far = std::int64_t{1} << 52;  // past any range: no overflow below
        n = (x < -far || x > far) ? std::int64_t{1} << 62 : quantise(q, static_cast<double>(m)) + x;
      }
      if (n < q.lo || n > q.hi) {
        d.fail(schema::decode_errc::out_of_range,
               "an integer in [" + std::to_string(q.lo) + ", " + std::to_string(q.hi) + "] (units of 1/" +
                   std::to_string(q.scale) + ")",
               "the value is out of range");
        return false;
      }
      m = dequantise<M>(q, n);
      return true;
    }
  }
  if constexpr (schema::is_optional<M>::value) {
    if (r.left() < 1) {
      schema::detail::cut_short(d, "an optional field's presence byte");
      return false;
    }
    const unsigned char b = *r.at++;
    if (b > 1) {
      d.fail(schema::decode_errc::wrong_type, "0 or 1", "an optional field's presence byte is " + std::to_string(b));
      return false;
    }
    if (b == 0) {
      m.reset();
      return true;
    }
    return schema::detail::get(d, r, m.emplace(), ru, 2);
  } else {
    return schema::detail::get(d, r, m, ru, 1);
  }
}

template <schema::described_struct T>
bool get_fields(decoder& d, reader& r, T& v, std::uint64_t mask, bool absolute = true) {
  std::size_t i = 0;
  bool ok = true;
  schema::for_each_field<T>([&](const auto& f) {
    if (ok && ((mask >> i) & 1)) {
      d.push(f.name);
      ok = get_field(d, r, v.*(f.ptr), f.rule, absolute);
      d.pop();
    }
    ++i;
  });
  return ok;
}

}  // namespace detail
}  // namespace duplex::sync
