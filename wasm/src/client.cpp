#include <duplex/wasm/client.hpp>

#include <emscripten/emscripten.h>

#include <cstdlib>

EM_JS(void, duplex_invoke, (emscripten::EM_VAL fn, emscripten::EM_VAL arg), {
  var f = Emval.toValue(fn);
  if (typeof f !== 'function') return;
  try {
    f(Emval.toValue(arg));
  } catch (e) {
    console.error('duplex: event handler threw', e);
  }
});

EM_JS(void, duplex_set_protocol, (const char* name, unsigned version, const char* sub, const char* fp), {
  Module['protocol'] = Object.freeze({
    name: UTF8ToString(name), version: version, subprotocol: UTF8ToString(sub), fingerprint: UTF8ToString(fp)
  });
});

// JSON.stringify can throw (cycles, BigInt): caught here, never unwinding
// through the Wasm stack. A malloc'd UTF-8 copy, or 0.
EM_JS(char*, duplex_stringify, (emscripten::EM_VAL v), {
  var s;
  try {
    s = JSON.stringify(Emval.toValue(v));
  } catch (e) {
    return 0;
  }
  if (typeof s !== 'string') return 0;
  var n = lengthBytesUTF8(s) + 1;
  var p = _malloc(n);
  stringToUTF8(s, p, n);
  return p;
});

namespace duplex::wasm {

void invoke(const emscripten::val& fn, const emscripten::val& arg) { duplex_invoke(fn.as_handle(), arg.as_handle()); }

emscripten::val transport_error(const std::string& what) {
  emscripten::val o = emscripten::val::object();
  o.set("kind", std::string("transport"));
  o.set("message", what);
  return o;
}

std::optional<std::string> stringify(const emscripten::val& v) {
  char* p = duplex_stringify(v.as_handle());
  if (!p) return std::nullopt;
  std::string s(p);
  std::free(p);
  return s;
}

void set_protocol_info(const std::string& name, unsigned version, const std::string& subprotocol,
                       const std::string& fingerprint) {
  duplex_set_protocol(name.c_str(), version, subprotocol.c_str(), fingerprint.c_str());
}

}  // namespace duplex::wasm
