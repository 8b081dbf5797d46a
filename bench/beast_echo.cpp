// beast_echo: Boost.Beast (1.74) WebSocket echo server, the peer the duplex
// echo figures are compared with. Written like Beast's coroutine examples:
// boost::asio::awaitable, one io_context thread, one coroutine per
// connection: read into a flat_buffer, ws.text(ws.got_text()), write back.
// Beast's defaults are kept (permessage-deflate off, 16 MiB read limit, and
// auto_fragment on: outgoing messages over 4 KiB go out as 4 KiB frames);
// --no-autofrag writes each message as one frame instead.
//   beast_echo [--host ADDR] [--port N] [--no-autofrag]   (port 0: any free port, printed)
#define DUPLEX_BENCH_BOOST_ASIO
#include "common.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

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

}  // namespace

int main(int argc, char** argv) {
  const auto opts = bench::parse_args(argc, argv, [](std::string_view a) {
    if (a == "--no-autofrag") autofrag = false;
  });
  bench::serve("beast_echo", opts,
               [](tcp::socket s) { return session(websocket::stream<beast::tcp_stream>(std::move(s))); });
}
