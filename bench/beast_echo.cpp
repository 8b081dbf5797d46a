// beast_echo: Boost.Beast (1.74) WebSocket echo server, the peer the duplex
// echo figures are compared with. Written like Beast's coroutine examples:
// boost::asio::awaitable, one io_context thread, one coroutine per
// connection: read into a flat_buffer, ws.text(ws.got_text()), write back.
// Beast's defaults are kept (permessage-deflate off, 16 MiB read limit, and
// auto_fragment on: outgoing messages over 4 KiB go out as 4 KiB frames);
// --no-autofrag writes each message as one frame instead.
//   beast_echo [--host ADDR] [--port N] [--no-autofrag]   (port 0: any free port, printed)
#include <utility>  // boost/asio/awaitable.hpp (1.74) uses std::exchange without including it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <iostream>
#include <string>
#include <string_view>

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

bool autofrag = true;

net::awaitable<void> session(websocket::stream<beast::tcp_stream> ws) {
  try {
    beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.auto_fragment(autofrag);
    co_await ws.async_accept(net::use_awaitable);
    beast::flat_buffer buffer;
    for (;;) {
      co_await ws.async_read(buffer, net::use_awaitable);
      ws.text(ws.got_text());
      co_await ws.async_write(buffer.data(), net::use_awaitable);
      buffer.consume(buffer.size());
    }
  } catch (const boost::system::system_error&) {
    // closed, reset, or a protocol error: the connection is over
  }
}

net::awaitable<void> listen(tcp::acceptor& acceptor) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket s = co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;
    }
    net::co_spawn(acceptor.get_executor(), session(websocket::stream<beast::tcp_stream>(std::move(s))), net::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--host" && i + 1 < argc) host = argv[++i];
    else if (a == "--port" && i + 1 < argc) port = static_cast<unsigned short>(std::stoi(argv[++i]));
    else if (a == "--no-autofrag") autofrag = false;
  }
  net::io_context io(1);
  tcp::acceptor acceptor(io);
  const tcp::endpoint ep(net::ip::make_address(host), port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(net::socket_base::max_listen_connections);
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });
  net::co_spawn(io, listen(acceptor), net::detached);
  std::cout << "beast_echo listening on " << host << ":" << acceptor.local_endpoint().port() << std::endl;
  io.run();
}
