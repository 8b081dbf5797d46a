// duplex-cat: a command-line WebSocket client (and quick server) on duplex's
// own client, for poking at servers the way people use wscat or websocat.
// Reference: docs/duplex-cat.md (options, output, exit status).
#include "output.hpp"

#include <duplex/net/client.hpp>
#include <duplex/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <semaphore>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr std::string_view usage = R"(usage: duplex-cat [options] ws[s]://host[:port]/path
       duplex-cat [options] --listen PORT

Sends each line of stdin as a message and prints every message that arrives
(text as is, binary as hex); at the end of stdin it closes with 1000 and waits
for the peer's Close. The exit status says how the connection ended:
  0 closed cleanly (1000, 1001 or no code)   1 the peer closed with another code
  2 usage error   3 could not connect   4 the connection failed or dropped
  130 interrupted twice
Client:
  -H, --header 'Name: value'  extra request header (repeatable)
  -s, --subprotocol NAME      offer a subprotocol (repeatable, in preference order)
  --origin URL                send Origin: URL
  --ca FILE                   extra trusted CA certificate (PEM) for wss://
  --insecure                  do not verify the server certificate
  --keep-open                 at the end of stdin, wait for the peer to close
Server:
  -l, --listen PORT           serve WebSockets on every path (0: a free port,
                              printed); stdin lines go to every client
  --host ADDR                 listen address (default 127.0.0.1)
  --once                      exit after the first connection, with its status
Both:
  --binary                    send stdin lines as binary messages
  --binary-out FILE           append received binary messages to FILE (raw)
                              instead of printing them as hex
  --json                      one JSON object per line and event on stdout
  --ping-interval SEC         ping after SEC s without traffic; no answer in
                              another SEC s drops the connection (default 30)
  --max-message BYTES         largest message accepted (default 16777216)
  -q, --quiet                 no status lines on stderr
  -h, --help
)";

constexpr int exit_usage = 2;
constexpr int exit_interrupted = 130;

[[noreturn]] void usage_error(std::string_view why) {
  std::cerr << "duplex-cat: " << why << "\n(try --help)\n";
  std::exit(exit_usage);
}

struct options {
  std::string url;
  int listen_port = -1;
  std::string host = "127.0.0.1";
  bool once = false;
  bool keep_open = false;
  bool binary = false;
  duplex::connect_options connect;
  duplex_cat::output_options out;
};

unsigned long number(std::string_view opt, std::string_view v, unsigned long max) {
  unsigned long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || p != v.data() + v.size() || n > max) usage_error(std::string(opt) + ": not a number up to " + std::to_string(max) + ": " + std::string(v));
  return n;
}

options parse(int argc, char** argv) {
  options o;
  o.connect.websocket.max_message_size = 16 * 1024 * 1024;
  o.connect.websocket.idle_timeout = std::chrono::seconds(60);
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage_error(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << usage;
      std::exit(0);
    } else if (a == "-H" || a == "--header") {
      const std::string_view h = value();
      const auto colon = h.find(':');
      if (colon == std::string_view::npos || colon == 0) usage_error("--header wants 'Name: value', got: " + std::string(h));
      std::string_view v = h.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      o.connect.headers.emplace_back(std::string(h.substr(0, colon)), std::string(v));
    } else if (a == "-s" || a == "--subprotocol") {
      o.connect.subprotocols.emplace_back(value());
    } else if (a == "--origin") {
      o.connect.origin = value();
    } else if (a == "--ca") {
      o.connect.ca_file = std::string(value());
    } else if (a == "--insecure") {
      o.connect.verify_peer = false;
    } else if (a == "--keep-open") {
      o.keep_open = true;
    } else if (a == "-l" || a == "--listen") {
      o.listen_port = static_cast<int>(number(a, value(), 65535));
    } else if (a == "--host") {
      o.host = value();
    } else if (a == "--once") {
      o.once = true;
    } else if (a == "--binary") {
      o.binary = true;
    } else if (a == "--binary-out") {
      o.out.binary_file = std::string(value());
    } else if (a == "--json") {
      o.out.json = true;
    } else if (a == "--ping-interval") {
      // idle_timeout is ping-after-half plus answer-within-half.
      o.connect.websocket.idle_timeout = std::chrono::seconds(2 * number(a, value(), 86400));
    } else if (a == "--max-message") {
      o.connect.websocket.max_message_size = number(a, value(), 1ul << 40);
    } else if (a == "-q" || a == "--quiet") {
      o.out.quiet = true;
    } else if (!a.empty() && a.front() == '-') {
      usage_error("unknown option " + std::string(a));
    } else if (o.url.empty()) {
      o.url = a;
    } else {
      usage_error("more than one URL");
    }
  }
  if (o.listen_port < 0 && o.url.empty()) usage_error("give a ws:// or wss:// URL, or --listen PORT");
  if (o.listen_port >= 0 && !o.url.empty()) usage_error("--listen takes no URL");
  if (!o.url.empty() && !duplex::parse_url(o.url)) usage_error("not a ws:// or wss:// URL: " + o.url);
  return o;
}

// Lines of stdin, read by a thread of their own (stdin may be a terminal, a
// pipe or a regular file, which epoll-based descriptors cannot wait on) and
// handed to the io_context one at a time. The semaphore bounds the lines in
// flight, so a fast producer on stdin waits for a slow peer.
class stdin_lines {
 public:
  explicit stdin_lines(asio::io_context& io) : io_(io), signal_(io) {}

  void start() {
    std::thread([this] {
      std::string line;
      while (std::getline(std::cin, line)) {
        credits_.acquire();
        asio::post(io_, [this, l = std::move(line)]() mutable { push(std::move(l), false); });
        line.clear();
      }
      asio::post(io_, [this] { push({}, true); });
    }).detach();
  }

  // The next line, or nullopt at the end of stdin.
  asio::awaitable<std::optional<std::string>> next() {
    std::error_code ec;
    while (lines_.empty() && !eof_) {
      signal_.expires_at(asio::steady_timer::time_point::max());
      co_await signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (lines_.empty()) co_return std::nullopt;
    std::string l = std::move(lines_.front());
    lines_.pop_front();
    credits_.release();
    co_return l;
  }

 private:
  void push(std::string line, bool eof) {
    if (eof)
      eof_ = true;
    else
      lines_.push_back(std::move(line));
    signal_.cancel();
  }

  asio::io_context& io_;
  asio::steady_timer signal_;
  std::deque<std::string> lines_;
  bool eof_ = false;
  std::counting_semaphore<> credits_{64};
};

// Prints every message until the connection ends; returns the exit status.
asio::awaitable<int> print_messages(duplex::websocket ws, duplex_cat::output& out, std::uint64_t peer) {
  duplex::message m;
  while (co_await ws.read(m)) out.message(m, peer);
  const int status = duplex_cat::exit_status(ws);
  out.closed(ws, status, peer);
  co_return status;
}

int run_client(const options& o, duplex_cat::output& out) {
  asio::io_context io;
  stdin_lines in(io);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  int status = 3;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    std::optional<duplex::websocket> ws;
    try {
      ws = co_await duplex::connect(o.url, o.connect);
    } catch (const std::system_error& e) {
      out.failed(e.what());
      signals.cancel();
      co_return;
    }
    out.opened(*ws, o.url, 0);
    // Ctrl-C closes politely; a second one gives up.
    signals.async_wait([&, w = *ws](std::error_code ec, int) mutable {
      if (ec) return;
      w.post_close(duplex::protocol::close_code::normal);
      signals.async_wait([](std::error_code e, int) {
        if (!e) std::_Exit(exit_interrupted);
      });
    });
    asio::co_spawn(io, [&, w = *ws]() mutable -> asio::awaitable<void> {
      while (auto line = co_await in.next())
        if (co_await w.send(*line, o.binary)) co_return;  // closed: nothing more to send
      if (!o.keep_open) w.post_close(duplex::protocol::close_code::normal);
    }, asio::detached);
    in.start();
    status = co_await print_messages(*ws, out, 0);
    signals.cancel();
    io.stop();  // the stdin pump may still wait for a line
  }, asio::detached);
  io.run();
  return status;
}

int run_server(const options& o, duplex_cat::output& out) {
  asio::io_context io;
  stdin_lines in(io);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  duplex::server_options so;
  so.host = o.host;
  so.port = static_cast<std::uint16_t>(o.listen_port);
  so.allowed_origins = {"*"};  // a debugging tool: browsers from anywhere may connect
  so.websocket = o.connect.websocket;
  std::optional<duplex::server> srv;
  try {
    srv.emplace(io, so);
  } catch (const std::system_error& e) {
    out.failed(std::string("cannot listen on ") + o.host + ":" + std::to_string(o.listen_port) + ": " + e.what());
    return 3;
  }
  std::map<std::uint64_t, duplex::websocket> clients;
  std::uint64_t next_peer = 1;
  int status = 0;
  asio::steady_timer grace(io);
  auto stop = [&] {
    srv->stop();
    signals.cancel();
    for (auto& [peer, ws] : clients) ws.post_close(duplex::protocol::close_code::going_away);
    // Time for the Close frames to leave; the peers' answers don't matter.
    grace.expires_after(std::chrono::milliseconds(clients.empty() ? 0 : 300));
    grace.async_wait([&](std::error_code) { io.stop(); });
  };
  srv->websocket("*", [&](duplex::websocket ws) -> asio::awaitable<void> {
    const std::uint64_t peer = next_peer++;
    out.opened(ws, ws.path(), peer);
    clients.emplace(peer, ws);
    const int s = co_await print_messages(ws, out, peer);
    clients.erase(peer);
    if (o.once) {
      status = s;
      stop();
    }
  }, {.subprotocols = o.connect.subprotocols});
  out.listening(o.host, srv->port());
  signals.async_wait([&](std::error_code ec, int) {
    if (!ec) stop();
  });
  asio::co_spawn(io, srv->run(), asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    // At the end of stdin the server keeps serving: `duplex-cat -l 9000 </dev/null` is a sink.
    while (auto line = co_await in.next()) {
      std::vector<duplex::websocket> now;  // clients may come and go while send() waits
      for (const auto& c : clients) now.push_back(c.second);
      for (auto& ws : now) co_await ws.send(*line, o.binary);
    }
  }, asio::detached);
  in.start();
  io.run();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  duplex_cat::output out(o.out);
  const int status = o.listen_port >= 0 ? run_server(o, out) : run_client(o, out);
  out.flush();
  // The stdin thread may be blocked in a read that nothing can interrupt.
  std::_Exit(status);
}
