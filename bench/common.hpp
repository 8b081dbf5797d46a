// What the native bench servers share: their command line and, for the ones
// written on bare Asio (raw_echo, beast_echo, beast_broadcast), the listening
// socket, the accept loop, the stop on SIGINT/SIGTERM and the
// "NAME listening on HOST:PORT" line that bench/run.sh reads the port from.
//
// Beast needs Boost.Asio while raw_echo uses standalone Asio, like duplex:
// the same API under two namespaces. The Beast peers define
// DUPLEX_BENCH_BOOST_ASIO before including this, and include it first (see
// <utility> below).
#pragma once

#ifdef DUPLEX_BENCH_BOOST_ASIO
#include <utility>  // boost/asio/awaitable.hpp (1.74) uses std::exchange without including it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bench {
namespace net = boost::asio;
using error_code = boost::system::error_code;
}  // namespace bench
#else
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>

#include <system_error>

namespace bench {
namespace net = ::asio;
using error_code = std::error_code;
}  // namespace bench
#endif

#include <csignal>
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>

namespace bench {

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port (printed)
};

// --host ADDR and --port N; every other argument goes to other(arg).
template <class Other>
options parse_args(int argc, char** argv, Other&& other) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--host" && i + 1 < argc) o.host = argv[++i];
    else if (a == "--port" && i + 1 < argc) o.port = static_cast<std::uint16_t>(std::stoi(argv[++i]));
    else other(a);
  }
  return o;
}

// Other arguments are ignored.
inline options parse_args(int argc, char** argv) {
  return parse_args(argc, argv, [](std::string_view) {});
}

template <class Session>
net::awaitable<void> accept_loop(net::ip::tcp::acceptor& acceptor, Session session) {
  for (;;) {
    error_code ec;
    net::ip::tcp::socket s = co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;
    }
    net::co_spawn(acceptor.get_executor(), session(std::move(s)), net::detached);
  }
}

// Every accepted connection runs as the coroutine session(tcp::socket), on
// one thread: each server in the comparison runs single-threaded
// (bench/README.md). Returns on SIGINT or SIGTERM.
template <class Session>
void serve(std::string_view name, const options& o, Session session) {
  using tcp = net::ip::tcp;
  net::io_context io(1);
  tcp::acceptor acceptor(io);
  const tcp::endpoint ep(net::ip::make_address(o.host), o.port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(net::socket_base::max_listen_connections);
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });
  net::co_spawn(io, accept_loop(acceptor, std::move(session)), net::detached);
  std::cout << name << " listening on " << o.host << ":" << acceptor.local_endpoint().port() << std::endl;
  io.run();
}

}  // namespace bench
