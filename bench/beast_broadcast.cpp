// beast_broadcast: Boost.Beast (1.74) broadcast server, for the broadcast
// scenario. Every message from any client goes to all the other clients, as
// in Beast's websocket-chat-multi example: the message is shared
// (shared_ptr<const string>) and queued per client; one writer coroutine per
// client drains its queue one message at a time. A client whose queue holds
// more than 1 MiB is disconnected (duplex_broadcast's policy).
//   beast_broadcast [--host ADDR] [--port N]   (port 0: any free port, printed)
#define DUPLEX_BENCH_BOOST_ASIO
#include "common.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <memory>
#include <string>
#include <unordered_set>

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t queue_limit = 1024 * 1024;

struct shared_message {
  std::string data;
  bool binary = false;
};

struct session {
  explicit session(tcp::socket s) : ws(std::move(s)), signal(ws.get_executor()) {}
  websocket::stream<beast::tcp_stream> ws;
  net::steady_timer signal;  // the writer sleeps on it
  std::deque<std::shared_ptr<const shared_message>> queue;
  std::size_t queued = 0;
  bool done = false;

  void push(const std::shared_ptr<const shared_message>& m) {
    if (done) return;
    if (queued > 0 && queued + m->data.size() > queue_limit) {  // slow reader
      done = true;
      beast::get_lowest_layer(ws).socket().close();
      signal.cancel();
      return;
    }
    queue.push_back(m);
    queued += m->data.size();
    signal.cancel();
  }
};

std::unordered_set<session*> sessions;

net::awaitable<void> writer(std::shared_ptr<session> s) {
  try {
    while (!s->done) {
      if (s->queue.empty()) {
        boost::system::error_code ec;
        s->signal.expires_at(net::steady_timer::time_point::max());
        co_await s->signal.async_wait(net::redirect_error(net::use_awaitable, ec));
        continue;
      }
      auto m = s->queue.front();
      s->ws.binary(m->binary);
      co_await s->ws.async_write(net::buffer(m->data), net::use_awaitable);
      s->queue.pop_front();
      s->queued -= m->data.size();
    }
  } catch (const boost::system::system_error&) {
  }
  s->done = true;
}

net::awaitable<void> run_session(tcp::socket sock) {
  sock.set_option(tcp::no_delay(true));
  auto s = std::make_shared<session>(std::move(sock));
  try {
    s->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    co_await s->ws.async_accept(net::use_awaitable);
    sessions.insert(s.get());
    net::co_spawn(s->ws.get_executor(), writer(s), net::detached);
    beast::flat_buffer buffer;
    for (;;) {
      co_await s->ws.async_read(buffer, net::use_awaitable);
      auto m = std::make_shared<const shared_message>(
          shared_message{beast::buffers_to_string(buffer.data()), !s->ws.got_text()});
      buffer.consume(buffer.size());
      for (session* other : sessions)
        if (other != s.get()) other->push(m);
    }
  } catch (const boost::system::system_error&) {
  }
  sessions.erase(s.get());
  s->done = true;
  s->signal.cancel();
}

}  // namespace

int main(int argc, char** argv) {
  bench::serve("beast_broadcast", bench::parse_args(argc, argv), run_session);
}
