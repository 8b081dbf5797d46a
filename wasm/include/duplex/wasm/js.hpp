// Plain JS objects from described C++ values (embind's emscripten::val),
// derived from the description: no per-message code. Strings become JS
// strings, integers and doubles numbers, enums their names, vectors arrays,
// structs objects (empty optionals left out); a top-level message gets its
// "type" first.
#pragma once

#include <duplex/schema/codec.hpp>
#include <duplex/schema/describe.hpp>

#include <emscripten/val.h>

#include <string>
#include <variant>

namespace duplex::wasm {

template <class T>
emscripten::val to_js(const T& v);

template <schema::described_struct T>
void set_fields(emscripten::val& o, const T& v) {
  schema::for_each_field<T>([&](const auto& f) {
    const auto& m = v.*(f.ptr);
    using M = std::remove_cvref_t<decltype(m)>;
    if constexpr (schema::is_optional<M>::value) {
      if (m) o.set(std::string(f.name), to_js(*m));
    } else {
      o.set(std::string(f.name), to_js(m));
    }
  });
}

template <class T>
emscripten::val to_js(const T& v) {
  using emscripten::val;
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
    return val(v);
  } else if constexpr (schema::integer<T> || std::is_floating_point_v<T>) {
    return val(static_cast<double>(v));  // exact up to 2^53
  } else if constexpr (schema::described_enum<T>) {
    for (const auto& [name, value] : schema::description<T>.values)
      if (value == v) return val(std::string(name));
    return val::null();
  } else if constexpr (schema::is_vector<T>::value) {
    val a = val::array();
    for (const auto& x : v) a.call<void>("push", to_js(x));
    return a;
  } else if constexpr (schema::described_struct<T>) {
    val o = val::object();
    set_fields(o, v);
    return o;
  } else {
    static_assert(sizeof(T) == 0, "unsupported field type");
  }
}

// A top-level message: {type: "<wire name>", ...fields}.
template <class... A>
emscripten::val message_to_js(const std::variant<A...>& m) {
  return std::visit(
      [](const auto& x) {
        using T = std::remove_cvref_t<decltype(x)>;
        emscripten::val o = emscripten::val::object();
        o.set("type", std::string(schema::description<T>.name));
        set_fields(o, x);
        return o;
      },
      m);
}

inline emscripten::val decode_error_to_js(const schema::decode_error& e) {
  emscripten::val o = emscripten::val::object();
  o.set("kind", std::string("decode"));
  o.set("code", std::string(schema::to_string(e.code)));
  o.set("path", e.path);
  o.set("expected", e.expected);
  o.set("detail", e.detail);
  return o;
}

}  // namespace duplex::wasm
