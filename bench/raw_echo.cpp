// raw_echo: the ceiling for the echo benchmarks. Plain TCP echo over
// standalone Asio with the same I/O design as duplex's server: one coroutine
// per connection (TCP_NODELAY, like duplex), reading into a reused 16 KiB
// buffer (duplex's read chunk) and writing back what it read. No HTTP
// upgrade, no framing: the load generator runs with --raw and gets its own
// masked frames back.
//   raw_echo [--host ADDR] [--port N]   (port 0: any free port, printed)
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

using asio::ip::tcp;

namespace {

asio::awaitable<void> echo(tcp::socket sock) {
  std::error_code ec;
  sock.set_option(tcp::no_delay(true), ec);
  auto buf = std::make_unique<char[]>(16 * 1024);
  for (;;) {
    const std::size_t n =
        co_await sock.async_read_some(asio::buffer(buf.get(), 16 * 1024), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(sock, asio::buffer(buf.get(), n), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    std::error_code ec;
    tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), echo(std::move(s)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--host") host = argv[i + 1];
    else if (a == "--port") port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
  }
  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  const tcp::endpoint ep(asio::ip::make_address(host), port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(asio::socket_base::max_listen_connections);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });
  asio::co_spawn(io, accept_loop(acceptor), asio::detached);
  std::cout << "raw_echo listening on " << host << ":" << acceptor.local_endpoint().port() << std::endl;
  io.run();
}
