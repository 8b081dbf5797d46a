// The server-side conformance suite: a real duplex::server in this process
// (its io_context on a background thread, 127.0.0.1, free port) and a raw
// WebSocket client that writes hand-made frames and checks every byte the
// server answers with.
#pragma once

#include "wire.hpp"

#include <duplex/net/server.hpp>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace conformance {

inline constexpr std::size_t max_message = 1024 * 1024;  // the echo endpoints' limit

class server_under_test {
 public:
  using setup_fn = std::function<void(duplex::server&)>;
  server_under_test(duplex::server_options opts, const setup_fn& setup);
  ~server_under_test();
  server_under_test(const server_under_test&) = delete;
  server_under_test& operator=(const server_under_test&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  asio::io_context io_{1};
  std::unique_ptr<duplex::server> srv_;
  std::thread thread_;
  std::uint16_t port_ = 0;
};

// Echoes every message until the peer closes (like examples/echo.cpp).
asio::awaitable<void> echo(duplex::websocket ws);

// The same through read(message_batch&): every message of one read at once
// (like duplex-echo).
asio::awaitable<void> batch_echo(duplex::websocket ws);

// Options of the shared server: 1 MiB messages, an echo that waits for its
// reader, same-origin policy (allowed_origins empty), logs to stderr when
// DUPLEX_CONFORMANCE_LOG is set.
duplex::server_options echo_server_options();
// Endpoints of the shared server:
//   "*"        echo
//   "/batch"   batch_echo
//   "/idle"    echo with idle_timeout 400 ms
//   "/closer"  the server closes at once with 1000 "bye"; close_timeout 300 ms
//   "/proto"   echo speaking subprotocols {"chat.v2", "chat"}
void install_endpoints(duplex::server& srv);
inline constexpr ms idle_timeout = 400ms;
inline constexpr ms close_timeout = 300ms;

// The shared server, started once for the whole binary.
std::uint16_t echo_port();

// A raw client that has completed the opening handshake (throws if the
// server did not answer 101).
class ws_client {
 public:
  explicit ws_client(std::string_view path = "/", std::uint16_t port = echo_port(), std::string_view extra_headers = {});
  conn& raw() { return c_; }
  const http_head& response() const { return res_; }
  bool send(std::string_view bytes) { return c_.send(bytes); }
  bool send_chopped(std::string_view bytes, std::size_t chunk, std::chrono::microseconds pause = {}) {
    return c_.send_chopped(bytes, chunk, pause);
  }
  // Sends each frame with a separate write and a pause after it.
  bool send_framewise(const std::vector<std::string>& frames, ms pause = 20ms);

 private:
  conn c_;
  http_head res_;
};

// ---- checks (use as ASSERT_TRUE(...) / EXPECT_TRUE(...)) ----
// Every frame the server sends is also checked for RFC 6455 conformance:
// unmasked, RSV 0, minimal length encoding, control frames unfragmented and
// at most 125 bytes, Close codes sendable and reasons valid UTF-8.

// The next frame is `op` with exactly `payload` (and `fin`).
::testing::AssertionResult next_is(ws_client& ws, unsigned op, std::string_view payload, bool fin = true,
                                   ms timeout = default_timeout);
// The next frame is a Close with `code` (nullopt: an empty Close), and then
// the server closes the TCP connection.
::testing::AssertionResult next_is_close(ws_client& ws, std::optional<std::uint16_t> code);
// The server ends the TCP connection (EOF or reset) within `timeout`, with no
// further bytes.
::testing::AssertionResult tcp_closed(ws_client& ws, ms timeout = 1000ms);
// Sends Close 1000 and expects the echo of 1000 and the TCP close.
::testing::AssertionResult clean_close(ws_client& ws);
// Nothing arrives (and the connection stays) for `quiet`.
::testing::AssertionResult silent_for(ws_client& ws, ms quiet);

}  // namespace conformance
