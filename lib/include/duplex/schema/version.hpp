// Protocol versions on the wire: the WebSocket subprotocol names the
// protocol, its version and its encoding: duplex.<name>.v<version> for JSON
// text frames, duplex.<name>.v<version>.bin for binary frames (binary.hpp).
// A client offers the versions (and encodings) it speaks, in its order of
// preference; the server picks the highest version it speaks and, within
// it, the encoding the client offered first.
// With no version in common the server still completes the handshake
// (echoing one of the client's offers: browsers fail a connection whose
// answer names none, and then tell the page nothing) and closes at once
// with close_version_mismatch and a reason the page can show.
// Sans-I/O: compiles natively and with em++.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace duplex::schema {

// Private-use close code (RFC 6455 7.4.2), as graphql-ws uses it.
inline constexpr std::uint16_t close_version_mismatch = 4406;

enum class encoding { json, binary };

inline constexpr std::string_view binary_suffix = ".bin";

// "duplex.<name>.v<version>", with ".bin" for the binary encoding.
inline std::string subprotocol_text(std::string_view name, unsigned version, encoding e = encoding::json) {
  return "duplex." + std::string(name) + ".v" + std::to_string(version) +
         (e == encoding::binary ? std::string(binary_suffix) : std::string());
}

struct subprotocol_offer {
  unsigned version = 0;
  schema::encoding encoding = encoding::json;
};

// The version and encoding in "duplex.<name>.v<N>[.bin]", if `offered` is one for `name`.
inline std::optional<subprotocol_offer> parse_subprotocol(std::string_view offered, std::string_view name) {
  const std::string prefix = "duplex." + std::string(name) + ".v";
  if (offered.size() <= prefix.size() || offered.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view digits = offered.substr(prefix.size());
  subprotocol_offer o;
  if (digits.size() > binary_suffix.size() && digits.substr(digits.size() - binary_suffix.size()) == binary_suffix) {
    digits.remove_suffix(binary_suffix.size());
    o.encoding = encoding::binary;
  }
  if (digits.empty()) return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9' || o.version > 100000) return std::nullopt;
    o.version = o.version * 10 + static_cast<unsigned>(c - '0');
  }
  return o;
}

// The version in "duplex.<name>.v<N>" (JSON), if `offered` is one for `name`.
inline std::optional<unsigned> subprotocol_version(std::string_view offered, std::string_view name) {
  const auto o = parse_subprotocol(offered, name);
  if (!o || o->encoding != encoding::json) return std::nullopt;
  return o->version;
}

// The server's answer: the highest version of `supported` the client
// offered, in the encoding the client offered first for it (binary only
// when `binary` allows it); else (no version in common) the client's first
// offer of this protocol, or its first offer, so the handshake completes and
// the server can say why it closes; empty when the client offered nothing.
inline std::string choose_subprotocol(std::string_view name, std::span<const unsigned> supported,
                                      std::span<const std::string_view> offered, bool binary = true) {
  std::optional<subprotocol_offer> best;
  std::string_view fallback;
  for (std::string_view o : offered) {
    const auto v = parse_subprotocol(o, name);
    if (v && fallback.empty()) fallback = o;
    if (!v || (v->encoding == encoding::binary && !binary)) continue;
    for (unsigned s : supported)
      if (s == v->version && (!best || v->version > best->version)) best = v;
  }
  if (best) return subprotocol_text(name, best->version, best->encoding);
  if (!fallback.empty()) return std::string(fallback);
  return offered.empty() ? std::string() : std::string(offered.front());
}

// The close reason for a client with no version in common (fits the 123
// bytes a close reason may have).
inline std::string version_mismatch_reason(std::string_view name, unsigned newest) {
  return "this page is out of date: reload (server speaks duplex." + std::string(name).substr(0, 40) + ".v" +
         std::to_string(newest) + ")";
}

}  // namespace duplex::schema
