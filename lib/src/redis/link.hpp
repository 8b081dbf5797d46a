// Internal: one TCP connection to Redis speaking RESP through hiredis'
// reader, shared by the command client and the subscriber. Also the
// reconnect backoff both use.
#pragma once

#include <duplex/redis/options.hpp>
#include <duplex/redis/reply.hpp>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

struct redisReader;

namespace duplex::redis::detail {

struct reader_deleter {
  void operator()(redisReader* r) const noexcept;
};

class link {
 public:
  explicit link(const asio::any_io_executor& ex);

  // Connects and runs AUTH/SELECT within opts.connect_timeout. Sets ec (the
  // network error, connect_timeout or handshake_failed) on failure.
  asio::awaitable<void> open(const options& opts, std::error_code& ec);
  // The next complete reply; ec on EOF, network or RESP errors.
  asio::awaitable<reply> read(std::error_code& ec);
  asio::awaitable<void> write(std::string_view bytes, std::error_code& ec);
  void close() noexcept;
  bool is_open() const noexcept { return socket_.is_open(); }
  // The server's words when the handshake was refused (e.g. "WRONGPASS ...").
  const std::string& refusal() const noexcept { return refusal_; }

 private:
  asio::awaitable<void> handshake(const options& opts, std::error_code& ec);
  // A reply already in the parser's buffer, if complete.
  bool next(reply& out, std::error_code& ec);

  asio::awaitable<void> start_tls(const options& opts, std::error_code& ec);

  asio::ip::tcp::socket socket_;
  // rediss://: TLS over socket_.
  std::unique_ptr<asio::ssl::context> tls_context_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  std::unique_ptr<redisReader, reader_deleter> reader_;
  std::array<char, 16384> buf_;
  std::string refusal_;
};

// A connection for connect(): logs success; throws std::system_error naming
// the endpoint (and the server's refusal, if any) on failure.
asio::awaitable<std::shared_ptr<link>> open_or_throw(asio::any_io_executor ex, const options& opts);

// Reconnect delays: exponential with "equal jitter" (uniform in [d/2, d]).
class backoff {
 public:
  backoff(std::chrono::milliseconds min, std::chrono::milliseconds max) : min_(min), max_(max), next_(min) {}
  std::chrono::milliseconds next();
  void reset() noexcept { next_ = min_; }

 private:
  std::chrono::milliseconds min_, max_, next_;
  std::minstd_rand rng_{std::random_device{}()};
};

// PING in RESP.
const std::string& ping_packet();

// "name: text" through opts.on_log, if set.
void log(const options& opts, std::string_view text);
std::string describe(const std::error_code& ec);

}  // namespace duplex::redis::detail
