// duplex::sync's wire format: one patch brings a client from the tick it has
// to a newer one. Shared by the server side (view.hpp writes patches) and the
// client side (replica.hpp reads them). The format is described in sync.hpp.
#pragma once

#include <duplex/schema/binary.hpp>

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

// One field on its own: as binary.hpp writes it inside a struct, except an
// optional, which carries its own presence byte (0 absent, 1 present) since
// there is no struct bitmap around it.
template <class M>
void put_field(std::string& out, const M& m) {
  if constexpr (schema::is_optional<M>::value) {
    out += static_cast<char>(m ? 1 : 0);
    if (m) schema::detail::put(out, *m);
  } else {
    schema::detail::put(out, m);
  }
}

// The fields of v named by mask, in declaration order.
template <schema::described_struct T>
void put_fields(std::string& out, const T& v, std::uint64_t mask) {
  std::size_t i = 0;
  schema::for_each_field<T>([&](const auto& f) {
    if ((mask >> i) & 1) put_field(out, v.*(f.ptr));
    ++i;
  });
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

// Reading: binary.hpp's reader and decoder (its checks, rules and paths).
using schema::detail::decoder;
using schema::detail::reader;

template <class M>
bool get_field(decoder& d, reader& r, M& m, const schema::rules& ru) {
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
bool get_fields(decoder& d, reader& r, T& v, std::uint64_t mask) {
  std::size_t i = 0;
  bool ok = true;
  schema::for_each_field<T>([&](const auto& f) {
    if (ok && ((mask >> i) & 1)) {
      d.push(f.name);
      ok = get_field(d, r, v.*(f.ptr), f.rule);
      d.pop();
    }
    ++i;
  });
  return ok;
}

}  // namespace detail
}  // namespace duplex::sync
