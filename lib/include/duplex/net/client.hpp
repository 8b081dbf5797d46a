// duplex::connect: the client side. The websocket it returns has the same
// read/send/close API as a server handler's.
//
//   auto ws = co_await duplex::connect("ws://127.0.0.1:9000/echo");
//   co_await ws.send("hello");
//   auto reply = co_await ws.read();
#pragma once

#include <duplex/net/websocket.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace duplex {

struct connect_options {
  // Offered in Sec-WebSocket-Protocol; the server's pick is websocket::subprotocol().
  std::vector<std::string> subprotocols;
  std::string origin;  // sent as Origin when not empty
  // Extra request headers (e.g. Authorization, Cookie). A name that is not an
  // HTTP token or a value with CR, LF or NUL fails connect() with errc::bad_http.
  std::vector<std::pair<std::string, std::string>> headers;
  websocket_options websocket;
  // DNS, TCP connect, TLS and the upgrade together must finish in this time.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  // wss://: the server certificate is verified against the system's CAs,
  // plus this PEM file when set (e.g. a test's self-signed certificate).
  std::filesystem::path ca_file;
  bool verify_peer = true;  // false accepts any certificate: tests only
};

struct url {
  bool secure = false;
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"
};
// Parses ws://host[:port][/path][?query] and wss://...; nullopt if invalid.
std::optional<url> parse_url(std::string_view text);

// Opens a WebSocket. Throws std::system_error: duplex::errc::bad_url,
// handshake_timeout, bad_accept (refused or wrong accept), bad_handshake,
// bad_http, or the network/TLS error.
asio::awaitable<websocket> connect(std::string_view url, connect_options opts);
// An overload, not a default argument: GCC 12 relocates a defaulted
// class-type argument of a call inside a co_await expression with memcpy,
// which breaks its strings.
asio::awaitable<websocket> connect(std::string_view url);
// The same without throwing (docs/errors.md): nullopt with `ec` set to what
// the throwing form would have thrown; a websocket with `ec` cleared.
//   std::error_code ec;
//   auto ws = co_await duplex::connect("ws://127.0.0.1:9000/echo", ec);
//   if (!ws) log(ec.message());
asio::awaitable<std::optional<websocket>> connect(std::string_view url, connect_options opts, std::error_code& ec);
asio::awaitable<std::optional<websocket>> connect(std::string_view url, std::error_code& ec);

}  // namespace duplex
