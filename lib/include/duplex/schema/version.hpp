// Protocol versions on the wire: the WebSocket subprotocol names the
// protocol and its version, duplex.<name>.v<version>. A client offers the
// versions it speaks, newest first; the server picks the highest it speaks.
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

// The version in "duplex.<name>.v<N>", if `offered` is one for `name`.
inline std::optional<unsigned> subprotocol_version(std::string_view offered, std::string_view name) {
  const std::string prefix = "duplex." + std::string(name) + ".v";
  if (offered.size() <= prefix.size() || offered.substr(0, prefix.size()) != prefix) return std::nullopt;
  unsigned v = 0;
  for (char c : offered.substr(prefix.size())) {
    if (c < '0' || c > '9' || v > 100000) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

// The server's answer: the highest version of `supported` the client
// offered; else (no version in common) the client's first offer of this
// protocol, or its first offer, so the handshake completes and the server
// can say why it closes; empty when the client offered nothing.
inline std::string choose_subprotocol(std::string_view name, std::span<const unsigned> supported,
                                      std::span<const std::string_view> offered) {
  std::optional<unsigned> best;
  std::string_view fallback;
  for (std::string_view o : offered) {
    const auto v = subprotocol_version(o, name);
    if (v && fallback.empty()) fallback = o;
    if (!v) continue;
    for (unsigned s : supported)
      if (s == *v && (!best || *v > *best)) best = v;
  }
  if (best) return "duplex." + std::string(name) + ".v" + std::to_string(*best);
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
