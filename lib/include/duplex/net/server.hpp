// duplex::server: HTTP/1.1 on one port, WebSocket endpoints by path plus
// static files, over plain TCP or TLS.
//
//   duplex::server srv{io, {.port = 9000}};
//   srv.websocket("/echo", [](duplex::websocket ws) -> asio::awaitable<void> {
//     while (auto msg = co_await ws.read()) co_await ws.send(*msg);
//   });
//   co_await srv.run();
//
// A connection is one coroutine: handshake (bounded by handshake_timeout),
// then the endpoint's handler. When the handler returns, the connection is
// closed with 1000 if it is still open. An endpoint may instead be driven by
// callbacks (websocket_callbacks: open, message, close), with no coroutine
// per connection once the handshake is done.
//
// All cores: give the server several io_contexts, each run by one thread
// (duplex::io_pool). The acceptor runs on the first and hands each accepted
// socket to the next io_context in turn; a connection then lives on that
// thread only (its handler, its sends). Use duplex::hub to publish across
// threads, and post_from_any_thread() (hub.hpp) to send to another thread's
// connection.
//
// Graceful shutdown: drain() stops accepting, sends Close 1001 to every
// client and waits, bounded, for the close handshakes.
#pragma once

#include <duplex/net/metrics.hpp>
#include <duplex/net/upgrade.hpp>
#include <duplex/net/websocket.hpp>
#include <duplex/protocol/http.hpp>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace duplex {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port (see server::port())
  // Directory served for plain GET/HEAD requests; empty serves nothing.
  std::filesystem::path root;
  // A client that has not completed its request head (or TLS handshake) by
  // then is dropped. Also the keep-alive idle limit between HTTP requests.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  std::size_t max_request_head = 8 * 1024;  // bigger heads get 431
  // Origins (e.g. "https://chat.example") allowed to open WebSockets. Empty:
  // same origin only (Origin must match Host). "*": any. Requests without an
  // Origin header (non-browser clients) are always allowed.
  std::vector<std::string> allowed_origins;
  // Host names (no port) this server answers to; others get 403 for every
  // request. Guards a loopback server against DNS rebinding, where a page
  // from evil.example resolves that name to 127.0.0.1 and becomes "same
  // origin". Empty: any Host.
  std::vector<std::string> allowed_hosts;
  websocket_options websocket;  // default for every endpoint
  // Per client IP, over all threads, checked when a connection is accepted:
  // over either limit the client gets 429 with Retry-After (on TLS the
  // connection is closed before the TLS handshake). Loopback clients are
  // exempt unless limit_loopback: behind a reverse proxy on the same host
  // every client is 127.0.0.1, and one address's limit would be everyone's.
  struct ip_limits {
    std::size_t max_connections = 256;  // open at once (HTTP and WebSocket); 0: no limit
    double handshakes_per_second = 20;  // new connections, sustained; 0: no limit
    double handshake_burst = 60;        // new connections at once
    bool limit_loopback = false;
  } per_ip;
  // PEM files; when both are set the server speaks only https:// and wss://.
  std::filesystem::path tls_cert_file;
  std::filesystem::path tls_key_file;
  // One line per connection event (accept, upgrade, refusal, close).
  std::function<void(std::string_view)> log;
};

struct endpoint_options {
  // Subprotocols this endpoint speaks, in order of preference; the first one
  // the client offers is chosen (websocket::subprotocol()).
  std::vector<std::string> subprotocols;
  // When set, picks the answer from what the client offered instead (any
  // string, even one not offered; empty for none), e.g. to accept a client
  // of an unsupported version and close it with a reason (channel.hpp).
  std::function<std::string(std::span<const std::string_view> offered)> choose_subprotocol;
  std::optional<websocket_options> websocket;  // overrides server_options::websocket
  // Called with the upgrade request before the 101 (see upgrade.hpp): it
  // accepts, attaching data the handler reads with ws.data<T>(), or refuses
  // with a status, headers and a body. An exception refuses with 500.
  std::function<asio::awaitable<upgrade_decision>(const upgrade_request&)> on_upgrade;
  // Keep the upgrade request for the handler (ws.request()): its headers
  // stay in memory for the life of the connection, so off by default.
  bool keep_request = false;
};

// What a plain-HTTP route answers (see server::route()).
struct route_response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class server {
 public:
  using handler = std::function<asio::awaitable<void>(duplex::websocket)>;
  using http_handler = std::function<route_response(const protocol::http_request&)>;

  // Binds and listens at once (throws std::system_error if it can't).
  server(asio::io_context& io, server_options opts);
  // Connections spread round-robin over `threads` (one io_context per
  // thread); the acceptor runs on threads[0].
  server(std::vector<asio::io_context*> threads, server_options opts);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Routes WebSocket upgrades for `path` (exact match, query ignored);
  // "*" catches every path no other endpoint matches.
  void websocket(std::string path, handler h, endpoint_options opts = {});
  // The same endpoint driven by callbacks, no coroutine per connection
  // (websocket.hpp): for servers that hold very many idle connections.
  void websocket(std::string path, websocket_callbacks callbacks, endpoint_options opts = {});

  // Answers GET and HEAD for `path` (exact match, query ignored) with `h`,
  // called on the connection's thread (so it must be thread-safe when the
  // server has several). Takes precedence over static files.
  void route(std::string path, http_handler h);

  // Accepts connections until stop() or drain(). Spawn it on threads[0].
  asio::awaitable<void> run();
  // Stops accepting. Call it on threads[0]'s thread (post it there from
  // elsewhere) or once that context has stopped: the acceptor is not locked.
  void stop();

  // Graceful shutdown, from any executor: stops accepting, refuses new
  // upgrades with 503, sends Close 1001 "server shutting down" to every
  // WebSocket client, and waits for the close handshakes. At `timeout` the
  // connections still open are dropped and drain() returns (shortly after:
  // their handlers return first). Returns how many were dropped.
  asio::awaitable<std::size_t> drain(std::chrono::milliseconds timeout);
  bool draining() const noexcept;

  // Closes every WebSocket connection whose upgrade hook named it `identity`
  // (upgrade_decision::identify()), on every thread of the server (Phoenix's
  // disconnect broadcast): each is sent a Close with `code` and `reason`,
  // and its handler's read() ends once the peer answers (at the latest
  // after close_timeout). Call it from any thread or executor while the
  // server's threads run; it visits each thread in turn and returns how many
  // connections it closed. A connection whose upgrade hook is still running
  // is not among them: to shut someone out, also refuse them in the hook.
  asio::awaitable<std::size_t> disconnect(std::string identity,
                                          std::uint16_t code = protocol::close_code::policy_violation,
                                          std::string reason = "disconnected");

  // Counters summed over the threads; any thread may call it.
  server_stats stats() const;

  std::vector<asio::io_context*> contexts() const;

  std::uint16_t port() const noexcept;
  const server_options& options() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace duplex
