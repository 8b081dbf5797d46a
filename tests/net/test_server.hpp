// A real duplex::server on 127.0.0.1, on a free port, run on a background
// thread for the length of a test, plus helpers to drive it from the test
// thread.
#pragma once

#include <duplex/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>

namespace duplex::test {

class test_server {
 public:
  using setup_fn = std::function<void(server&)>;
  explicit test_server(server_options opts, setup_fn setup = {}) {
    opts.host = "127.0.0.1";
    opts.port = 0;
    srv_ = std::make_unique<server>(io_, std::move(opts));
    if (setup) setup(*srv_);
    asio::co_spawn(io_, srv_->run(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~test_server() {
    asio::post(io_, [this] { srv_->stop(); io_.stop(); });
    thread_.join();
  }
  std::uint16_t port() const { return srv_->port(); }
  std::string ws_url(std::string_view path = "/") const {
    return "ws://127.0.0.1:" + std::to_string(port()) + std::string(path);
  }
  asio::io_context& io() { return io_; }
  server_stats stats() const { return srv_->stats(); }  // any thread

 private:
  asio::io_context io_{1};
  std::unique_ptr<server> srv_;
  std::thread thread_;
};

// Runs a coroutine on its own io_context (the test thread) to completion,
// rethrowing its exception; bounded so a broken case fails instead of hanging.
template <class F>
auto run_client(F f, std::chrono::seconds limit = std::chrono::seconds(10)) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, f(), asio::use_future);
  io.run_for(limit);
  if (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    throw std::runtime_error("client coroutine did not finish in time");
  return fut.get();
}

// One blocking HTTP exchange over a fresh TCP connection: the whole response
// (read until the server closes or the deadline passes).
inline std::string http_exchange(std::uint16_t port, const std::string& request, bool until_eof = false) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  asio::write(s, asio::buffer(request));
  std::string out;
  char buf[65536];
  for (;;) {
    std::error_code ec;
    const std::size_t n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
    if (until_eof) continue;
    // Keep-alive responses: stop once a complete response with its body is in.
    const auto head_end = out.find("\r\n\r\n");
    const auto cl = out.find("Content-Length: ");
    if (head_end != std::string::npos && cl != std::string::npos && cl < head_end) {
      const std::size_t len = std::stoul(out.substr(cl + 16));
      if (out.size() >= head_end + 4 + len) break;
    }
  }
  return out;
}

// A WebSocket client that completes the upgrade at `path` and then never
// reads or writes again, so never answers the server's Close.
inline asio::ip::tcp::socket silent_client(asio::io_context& io, std::uint16_t port, const std::string& path) {
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer("GET " + path +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  std::string head;
  asio::read_until(s, asio::dynamic_buffer(head), "\r\n\r\n");
  if (head.rfind("HTTP/1.1 101", 0) != 0) throw std::runtime_error("upgrade refused: " + head);
  return s;
}

}  // namespace duplex::test
