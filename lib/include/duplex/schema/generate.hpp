// What the build generates from a protocol's description: TypeScript
// declarations for the browser face of its WASM client, a JSON Schema of its
// messages, and its fingerprint. Used by the generator tool that
// duplex_protocol() (cmake/duplex_protocol.cmake) builds and runs, never by
// hand.
#pragma once

#include <duplex/schema/describe.hpp>
#include <duplex/schema/version.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

namespace duplex::schema::generate {

inline std::string pascal(std::string_view s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '_' || c == '.' || c == '-') {
      up = true;
      continue;
    }
    out += up && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    up = false;
  }
  return out;
}

inline std::string num(std::int64_t v) { return std::to_string(v); }
inline std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

inline constexpr std::string_view error_codes[] = {
    "invalid_json", "not_object",   "unknown_type", "missing_field", "wrong_type",
    "invalid_utf8", "too_long",     "empty_value",  "document_too_long", "too_deep",
    "duplicate_key", "out_of_range", "bad_enum",    "too_short",     "bad_character",
    "truncated",     "trailing_bytes"};

// ---- TypeScript ---------------------------------------------------------------

template <class T>
std::string ts_type() {
  if constexpr (std::is_same_v<T, std::string>) {
    return "string";
  } else if constexpr (std::is_same_v<T, bool>) {
    return "boolean";
  } else if constexpr (integer<T> || std::is_floating_point_v<T>) {
    return "number";
  } else if constexpr (described_enum<T>) {
    std::string s;
    for (const auto& v : description<T>.values) s += (s.empty() ? "\"" : " | \"") + std::string(v.first) + "\"";
    return s;
  } else if constexpr (is_optional<T>::value) {
    return ts_type<typename T::value_type>();
  } else if constexpr (is_vector<T>::value) {
    const std::string inner = ts_type<typename T::value_type>();
    return inner.find('|') != std::string::npos ? "(" + inner + ")[]" : inner + "[]";
  } else {
    static_assert(described_struct<T>);
    return pascal(description<T>.name);
  }
}

inline std::string rule_comment(const rules& r) {
  std::string c;
  const auto add = [&](const std::string& s) { c += (c.empty() ? "" : "; ") + s; };
  if (r.min_bytes > 0 || r.max_bytes != std::numeric_limits<std::size_t>::max()) {
    add(r.max_bytes == std::numeric_limits<std::size_t>::max()
            ? "at least " + std::to_string(r.min_bytes) + " UTF-8 bytes"
            : std::to_string(r.min_bytes) + ".." + std::to_string(r.max_bytes) + " UTF-8 bytes");
  }
  if (r.display_name) add("display name: no control characters, not blank");
  if (r.min != std::numeric_limits<std::int64_t>::min() || r.max != std::numeric_limits<std::int64_t>::max())
    add("integer in [" + num(r.min) + ", " + num(r.max) + "]");
  if (r.max_items != std::numeric_limits<std::size_t>::max()) add("at most " + std::to_string(r.max_items) + " items");
  return c;
}

// Interfaces for T and every struct it contains, each once.
template <class T>
void ts_interfaces(std::string& out, std::string& done, bool tagged) {
  if constexpr (is_optional<T>::value || is_vector<T>::value) {
    ts_interfaces<typename T::value_type>(out, done, false);
  } else if constexpr (described_struct<T>) {
    const std::string name = pascal(description<T>.name);
    if (done.find("|" + name + "|") != std::string::npos) return;
    done += "|" + name + "|";
    std::string body = "  interface " + name + " {\n";
    if (tagged) body += "    type: \"" + std::string(description<T>.name) + "\";\n";
    for_each_field<T>([&](const auto& f) {
      using M = typename std::remove_cvref_t<decltype(f)>::member_type;
      ts_interfaces<M>(out, done, false);
      const std::string c = rule_comment(f.rule);
      if (!c.empty()) body += "    /** " + c + " */\n";
      body += "    " + std::string(f.name) + (is_optional<M>::value ? "?: " : ": ") + ts_type<M>() + ";\n";
    });
    out += body + "  }\n";
  }
}

template <class... A>
std::string ts_union(std::variant<A...>*) {
  std::string s;
  ((s += (s.empty() ? "" : " | ") + pascal(description<A>.name)), ...);
  return s;
}

template <class... A>
void ts_messages(std::string& out, std::string& done, std::variant<A...>*) {
  (ts_interfaces<A>(out, done, true), ...);
}

// Declarations for the page's JavaScript: the protocol's messages, and the
// WASM client module whose factory is `factory` (a global function, as
// Emscripten's MODULARIZE output defines it).
template <protocol P>
std::string typescript(std::string_view factory) {
  using C = typename P::client_message;
  using S = typename P::server_message;
  const std::string ns = "Duplex" + pascal(P::name);
  const std::string fp = fingerprint_hex(fingerprint<P>());
  std::string out = "// Generated by duplex from the C++ description of protocol " + std::string(P::name) + " v" +
                    std::to_string(P::version) + ". Do not edit.\n// subprotocol " + subprotocol_name<P>() +
                    ", fingerprint " + fp + "\n\ndeclare namespace " + ns + " {\n";
  std::string done;
  ts_messages(out, done, static_cast<C*>(nullptr));
  ts_messages(out, done, static_cast<S*>(nullptr));
  out += "  /** What the page sends. */\n  type ClientMessage = " + ts_union(static_cast<C*>(nullptr)) + ";\n";
  out += "  /** What the page receives. */\n  type ServerMessage = " + ts_union(static_cast<S*>(nullptr)) + ";\n";
  out += "  type DecodeErrorCode =";
  for (auto c : error_codes) out += "\n    | \"" + std::string(c) + "\"";
  out += ";\n";
  out += R"(  /** A message that did not decode (received) or does not satisfy the rules (sent). */
  interface DecodeError {
    kind: "decode";
    code: DecodeErrorCode;
    /** JSON path of the offending value, e.g. "users[3]"; "" for the whole message. */
    path: string;
    expected: string;
    detail: string;
    /** The frame as received (received messages only). */
    raw?: string;
  }
  interface TransportError {
    kind: "transport";
    message: string;
  }
  interface CloseInfo {
    code: number;
    reason: string;
    wasClean: boolean;
  }
  type State = "connecting" | "open" | "closing" | "closed";
  interface Client {
    on(event: "message", fn: ((m: ServerMessage) => void) | null): boolean;
    on(event: "error", fn: ((e: DecodeError | TransportError) => void) | null): boolean;
    on(event: "state", fn: ((s: State) => void) | null): boolean;
    on(event: "close", fn: ((c: CloseInfo) => void) | null): boolean;
    /** Opens ws:// or wss:// offering this protocol's subprotocol; false if the URL is refused. */
    connect(url: string): boolean;
    /** The same, offering the binary encoding (subprotocol ...v<version>.bin, binary frames) when options.binary. */
    connect(url: string, options: { binary?: boolean }): boolean;
    /** Checks m against the protocol's rules, encodes and sends it; null when sent. */
    send(m: ClientMessage): DecodeError | TransportError | null;
    close(): void;
    close(code: number, reason: string): void;
    state(): State;
    /** Frees the client (closes the socket). */
    delete(): void;
  }
  interface Module {
    DuplexClient: new () => Client;
    protocol: {
      name: ")" + std::string(P::name) + R"(";
      version: )" + std::to_string(P::version) + R"(;
      subprotocol: ")" + subprotocol_name<P>() + R"(";
      fingerprint: ")" + fp + R"(";
    };
    /** Close code of a server that speaks no version this page does: reload. */
    versionMismatchCode: )" + std::to_string(close_version_mismatch) + R"(;
  }
}

declare function )" + std::string(factory) + "(moduleOverrides?: object): Promise<" + ns + ".Module>;\n";
  return out;
}

// ---- JSON Schema (2020-12) -------------------------------------------------------

inline std::string json_quote(std::string_view s) { return "\"" + std::string(s) + "\""; }  // names are plain

template <class T>
std::string json_type(const rules& r) {
  if constexpr (std::is_same_v<T, std::string>) {
    std::string s = "{\"type\":\"string\"";
    // maxLength counts characters, at most one per byte: a bound, the byte limit itself is x-maxBytes.
    if (r.min_bytes > 0) s += ",\"minLength\":1,\"x-minBytes\":" + std::to_string(r.min_bytes);
    if (r.max_bytes != std::numeric_limits<std::size_t>::max())
      s += ",\"maxLength\":" + std::to_string(r.max_bytes) + ",\"x-maxBytes\":" + std::to_string(r.max_bytes);
    if (r.display_name) s += ",\"x-displayName\":true";
    return s + "}";
  } else if constexpr (std::is_same_v<T, bool>) {
    return "{\"type\":\"boolean\"}";
  } else if constexpr (integer<T>) {
    const auto [lo, hi] = integer_range<T>(r);
    return "{\"type\":\"integer\",\"minimum\":" + num(lo) + ",\"maximum\":" + num(hi) + "}";
  } else if constexpr (std::is_floating_point_v<T>) {
    return "{\"type\":\"number\",\"minimum\":" + num(r.min_real) + ",\"maximum\":" + num(r.max_real) + "}";
  } else if constexpr (described_enum<T>) {
    std::string s = "{\"enum\":[";
    for (const auto& v : description<T>.values) s += (s.back() == '[' ? "" : ",") + json_quote(v.first);
    return s + "]}";
  } else if constexpr (is_optional<T>::value) {
    return json_type<typename T::value_type>(r);
  } else if constexpr (is_vector<T>::value) {
    std::string s = "{\"type\":\"array\",\"items\":" + json_type<typename T::value_type>(r);
    if (r.max_items != std::numeric_limits<std::size_t>::max()) s += ",\"maxItems\":" + std::to_string(r.max_items);
    return s + "}";
  } else {
    static_assert(described_struct<T>);
    return "{\"$ref\":\"#/$defs/" + std::string(description<T>.name) + "\"}";
  }
}

template <class T>
void json_defs(std::string& out, std::string& done, bool tagged) {
  if constexpr (is_optional<T>::value || is_vector<T>::value) {
    json_defs<typename T::value_type>(out, done, false);
  } else if constexpr (described_struct<T>) {
    const std::string name(description<T>.name);
    if (done.find("|" + name + "|") != std::string::npos) return;
    done += "|" + name + "|";
    std::string props, required;
    if (tagged) {
      props = "\"type\":{\"const\":" + json_quote(name) + "}";
      required = "\"type\"";
    }
    for_each_field<T>([&](const auto& f) {
      using M = typename std::remove_cvref_t<decltype(f)>::member_type;
      json_defs<M>(out, done, false);
      props += (props.empty() ? "" : ",") + json_quote(f.name) + ":" + json_type<M>(f.rule);
      if (!is_optional<M>::value) required += (required.empty() ? "" : ",") + json_quote(f.name);
    });
    out += (out.empty() ? "\n    " : ",\n    ") + json_quote(name) + ":{\"type\":\"object\",\"properties\":{" + props +
           "},\"required\":[" + required + "]}";
  }
}

template <class... A>
void json_messages(std::string& out, std::string& done, std::variant<A...>*) {
  (json_defs<A>(out, done, true), ...);
}
template <class... A>
std::string json_refs(std::variant<A...>*) {
  std::string s;
  ((s += (s.empty() ? "" : ",") + std::string("{\"$ref\":\"#/$defs/") + std::string(description<A>.name) + "\"}"), ...);
  return s;
}

template <protocol P>
std::string json_schema() {
  using C = typename P::client_message;
  using S = typename P::server_message;
  std::string defs, done;
  json_messages(defs, done, static_cast<C*>(nullptr));
  json_messages(defs, done, static_cast<S*>(nullptr));
  return "{\n  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n  \"$id\": \"" + subprotocol_name<P>() +
         "\",\n  \"title\": \"" + std::string(P::name) + " v" + std::to_string(P::version) +
         " (generated by duplex; unknown keys are ignored, duplicate keys refused)\",\n  \"x-fingerprint\": \"" +
         fingerprint_hex(fingerprint<P>()) + "\",\n  \"$defs\": {" + defs +
         ",\n    \"client_message\": {\"oneOf\":[" + json_refs(static_cast<C*>(nullptr)) +
         "]},\n    \"server_message\": {\"oneOf\":[" + json_refs(static_cast<S*>(nullptr)) + "]}\n  }\n}\n";
}

// The generator tool's main: writes <dir>/<name>.d.ts, <name>.schema.json
// and <name>.fingerprint. Usage: <tool> <dir> [factory name]
template <protocol P>
int run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <output dir> [JS factory name]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::string base = dir + "/" + std::string(P::name);
  const std::string factory = argc > 2 ? argv[2] : "createDuplexClient";
  const auto write = [](const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return false;
    }
    return true;
  };
  const bool ok = write(base + ".d.ts", typescript<P>(factory)) && write(base + ".schema.json", json_schema<P>()) &&
                  write(base + ".fingerprint", subprotocol_name<P>() + " " + fingerprint_hex(fingerprint<P>()) + "\n");
  return ok ? 0 : 1;
}

}  // namespace duplex::schema::generate
