// raw_echo: the ceiling for the echo benchmarks. Plain TCP echo over
// standalone Asio with the same I/O design as duplex's server: one coroutine
// per connection (TCP_NODELAY, like duplex), reading into a reused 16 KiB
// buffer (duplex's read chunk) and writing back what it read. No HTTP
// upgrade, no framing: the load generator runs with --raw and gets its own
// masked frames back.
//   raw_echo [--host ADDR] [--port N]   (port 0: any free port, printed)
#include "common.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <memory>

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

}  // namespace

int main(int argc, char** argv) {
  bench::serve("raw_echo", bench::parse_args(argc, argv), echo);
}
