// Describing message types once: the descriptor every duplex::schema tool
// reads (the JSON codec, the JS conversion in the WASM client, the generator
// of TypeScript declarations and JSON Schema, the schema fingerprint).
//
// A message is a plain struct plus a `describe` function found by ADL:
//
//   struct move { std::string player; std::int32_t x = 0; std::optional<bool> ready; };
//   constexpr auto describe(const move*) {
//     using duplex::schema::field;
//     return duplex::schema::object<move>("move",
//         field("player", &move::player, {.max_bytes = 32, .display_name = true}),
//         field("x", &move::x, {.min = 0, .max = 100}),
//         field("ready", &move::ready));
//   }
//
// An enum is sent as a string:
//
//   enum class side { buy, sell };
//   constexpr auto describe(const side*) {
//     return duplex::schema::enumeration<side>("buy", side::buy, "sell", side::sell);
//   }
//
// Field types: std::string, bool, any integer type, double, a described enum,
// a described struct (nested object), std::optional<T> (absent when empty),
// std::vector<T>. `rules` carry the limits: for a vector, max_items limits
// the vector and the other rules apply to each element; for an optional, to
// the value inside.
//
// A protocol is a struct with a name, a version and the two message sets:
//
//   struct game_protocol {
//     static constexpr std::string_view name = "game";
//     static constexpr unsigned version = 1;
//     using client_message = std::variant<move>;
//     using server_message = std::variant<state, error>;
//   };
//
// On the wire each message is {"type": "<wire name>", ...fields}.
// Adding, removing or changing a message or a field changes the protocol's
// fingerprint(); a checked-in fingerprint per version catches a change
// without a version bump (see tests/schema).
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace duplex::schema {

// Limits and checks of one field. Defaults accept anything of the right type
// (the document size limit still bounds strings and arrays).
struct rules {
  // Strings: length in bytes of the decoded UTF-8 value. An empty string
  // under min_bytes is empty_value, a longer one too_short.
  std::size_t min_bytes = 0;
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max();
  // Display names: no control or bidi characters, not blank (see codec.hpp).
  bool display_name = false;
  // Integers (further narrowed to the C++ type's range).
  std::int64_t min = std::numeric_limits<std::int64_t>::min();
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  // Doubles.
  double min_real = -std::numeric_limits<double>::max();
  double max_real = std::numeric_limits<double>::max();
  // Vectors.
  std::size_t max_items = std::numeric_limits<std::size_t>::max();
  // Floats and doubles in duplex::sync: the value travels as an integer
  // count of 1/scale units (scale 100: hundredths), a zigzag varint (a
  // change: the difference from the value the client has). 0: the exact
  // IEEE value. The world rounds the value to that grid when a tick closes.
  // The message codecs (JSON, binary) carry the value as is.
  double scale = 0;
  friend constexpr bool operator==(const rules&, const rules&) = default;
};

// Room for `,"<key>":` written once at compile time, so encoding appends
// pre-quoted keys. Keys and wire names are plain ASCII identifiers.
struct key_text {
  static constexpr std::size_t capacity = 64;
  char data[capacity]{};
  std::size_t size = 0;
  constexpr key_text() = default;
  constexpr key_text(std::string_view before, std::string_view name, std::string_view after) {
    for (char c : before) data[size++] = c;
    for (char c : name) data[size++] = c;
    for (char c : after) data[size++] = c;
  }
  constexpr std::string_view view() const { return {data, size}; }
};

// Not constexpr: reaching it while evaluating a description at compile time
// is a compile error that names the problem.
inline void invalid_description(const char*) {}

constexpr bool is_plain_key(std::string_view s) {
  if (s.empty() || s.size() > 40) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
          c == '-'))
      return false;
  return true;
}

template <class T, class M>
struct field_desc {
  using owner = T;
  using member_type = M;
  std::string_view name;
  M T::*ptr;
  rules rule;
  key_text key;  // ,"name":
};

template <class T, class M>
constexpr field_desc<T, M> field(std::string_view name, M T::*ptr, rules r = {}) {
  if (!is_plain_key(name)) invalid_description("field names are 1..40 ASCII letters, digits, _ . -");
  return {name, ptr, r, key_text(",\"", name, "\":")};
}

template <class T, class... F>
struct object_desc {
  using type = T;
  std::string_view name;  // wire name: the "type" of a top-level message
  std::tuple<F...> fields;
  key_text tag;  // {"type":"name"
  static constexpr std::size_t size = sizeof...(F);
};

template <class T, class... F>
constexpr object_desc<T, F...> object(std::string_view wire_name, F... fields) {
  static_assert(sizeof...(F) <= 64, "at most 64 fields per message");
  static_assert((std::is_same_v<typename F::owner, T> && ...), "every field must be a member of T");
  if (!is_plain_key(wire_name)) invalid_description("wire names are 1..40 ASCII letters, digits, _ . -");
  return {wire_name, std::tuple<F...>(fields...), key_text("{\"type\":\"", wire_name, "\"")};
}

template <class E, std::size_t N>
struct enum_desc {
  using type = E;
  std::array<std::pair<std::string_view, E>, N> values{};
  static constexpr std::size_t size = N;
};

// enumeration<E>("a", E::a, "b", E::b, ...)
template <class E, class... A>
constexpr auto enumeration(A... args) {
  static_assert(std::is_enum_v<E> && sizeof...(A) % 2 == 0, "enumeration<E>(\"name\", E::value, ...)");
  enum_desc<E, sizeof...(A) / 2> d{};
  std::size_t i = 0;
  const auto put = [&](auto a) {
    if constexpr (std::is_same_v<decltype(a), E>) {
      d.values[i++].second = a;
    } else {
      if (!is_plain_key(a)) invalid_description("enum names are 1..40 ASCII letters, digits, _ . -");
      d.values[i].first = a;
    }
  };
  (put(args), ...);
  return d;
}

// ---- queries ----------------------------------------------------------------

template <class T>
concept described = requires { describe(static_cast<const T*>(nullptr)); };

template <class T>
inline constexpr auto description = describe(static_cast<const T*>(nullptr));

template <class T>
concept described_enum = std::is_enum_v<T> && described<T>;
template <class T>
concept described_struct = std::is_class_v<T> && described<T>;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_variant : std::false_type {};
template <class... T>
struct is_variant<std::variant<T...>> : std::true_type {};

template <class T>
concept integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>;

// The values an integer field accepts: its rule narrowed to the C++ type.
struct integer_bounds {
  std::int64_t lo, hi;
};
template <integer T>
constexpr integer_bounds integer_range(const rules& r) {
  const std::int64_t lo = std::max<std::int64_t>(r.min, std::numeric_limits<T>::min());
  const std::int64_t hi = static_cast<std::uint64_t>(std::numeric_limits<T>::max()) >
                                  static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                              ? r.max
                              : std::min<std::int64_t>(r.max, static_cast<std::int64_t>(std::numeric_limits<T>::max()));
  return {lo, hi};
}

// Calls f(field_desc) for each field of T, in declaration order.
template <described_struct T, class F>
constexpr void for_each_field(F&& f) {
  std::apply([&](const auto&... d) { (f(d), ...); }, description<T>.fields);
}

template <class P>
concept protocol = requires {
  { P::name } -> std::convertible_to<std::string_view>;
  { P::version } -> std::convertible_to<unsigned>;
  typename P::client_message;
  typename P::server_message;
} && is_variant<typename P::client_message>::value && is_variant<typename P::server_message>::value;

// The subprotocol a protocol version is spoken under: duplex.<name>.v<version>.
template <protocol P>
std::string subprotocol_name(unsigned version = P::version) {
  return "duplex." + std::string(P::name) + ".v" + std::to_string(version);
}
// The same in the binary encoding (binary.hpp): duplex.<name>.v<version>.bin.
template <protocol P>
std::string binary_subprotocol_name(unsigned version = P::version) {
  return subprotocol_name<P>(version) + ".bin";
}

// ---- fingerprint --------------------------------------------------------------
// A 64-bit FNV-1a hash of everything that shapes the wire format: message
// and field names, order, types and rules. Not the protocol's version, so a
// version bump alone keeps it and a changed description changes it.

struct fnv {
  std::uint64_t h = 0xcbf29ce484222325ull;
  constexpr void byte(unsigned char b) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  constexpr void text(std::string_view s) {
    for (char c : s) byte(static_cast<unsigned char>(c));
    byte(0xFF);
  }
  constexpr void number(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) byte(static_cast<unsigned char>(v >> (8 * i)));
  }
  constexpr void real(double d) { number(__builtin_bit_cast(std::uint64_t, d)); }
  // size_t is 32 bits in WASM: "no limit" must hash the same on both ends.
  constexpr void size(std::size_t v) {
    number(v == std::numeric_limits<std::size_t>::max() ? ~std::uint64_t{0} : std::uint64_t{v});
  }
  constexpr void rule(const rules& r) {
    size(r.min_bytes), size(r.max_bytes), byte(r.display_name);
    number(static_cast<std::uint64_t>(r.min)), number(static_cast<std::uint64_t>(r.max));
    real(r.min_real), real(r.max_real), size(r.max_items);
    if (r.scale != 0) real(r.scale);  // descriptions without one hash as before
  }
};

template <class T>
constexpr void hash_type(fnv& h) {
  if constexpr (std::is_same_v<T, std::string>) {
    h.text("string");
  } else if constexpr (std::is_same_v<T, bool>) {
    h.text("bool");
  } else if constexpr (integer<T>) {
    h.text(std::is_signed_v<T> ? "int" : "uint");
    h.number(sizeof(T));
  } else if constexpr (std::is_floating_point_v<T>) {
    h.text("double");
  } else if constexpr (described_enum<T>) {
    h.text("enum");
    for (const auto& v : description<T>.values) h.text(v.first);
  } else if constexpr (is_optional<T>::value) {
    h.text("optional");
    hash_type<typename T::value_type>(h);
  } else if constexpr (is_vector<T>::value) {
    h.text("vector");
    hash_type<typename T::value_type>(h);
  } else if constexpr (described_struct<T>) {
    h.text("object");
    h.text(description<T>.name);
    for_each_field<T>([&](const auto& f) {
      h.text(f.name);
      h.rule(f.rule);
      hash_type<typename std::remove_cvref_t<decltype(f)>::member_type>(h);
    });
  } else if constexpr (is_variant<T>::value) {
    []<class... A>(fnv& hh, std::variant<A...>*) { (hash_type<A>(hh), ...); }(h, static_cast<T*>(nullptr));
  } else {
    static_assert(sizeof(T) == 0, "unsupported field type: see duplex/schema/describe.hpp");
  }
}

template <protocol P>
constexpr std::uint64_t compute_fingerprint() {
  fnv h;
  h.text(P::name);
  h.text("client");
  hash_type<typename P::client_message>(h);
  h.text("server");
  hash_type<typename P::server_message>(h);
  return h.h;
}
// Computed by the compiler (a variable template forces it), so both builds
// embed the value their compiler derived from the same description.
template <protocol P>
inline constexpr std::uint64_t fingerprint_v = compute_fingerprint<P>();
template <protocol P>
constexpr std::uint64_t fingerprint() {
  return fingerprint_v<P>;
}

// 16 lowercase hex digits.
inline std::string fingerprint_hex(std::uint64_t f) {
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, f >>= 4) s[i] = "0123456789abcdef"[f & 0xF];
  return s;
}

}  // namespace duplex::schema
