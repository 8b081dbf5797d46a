// limiter_echo: examples/duplex-echo's server (the same handler and
// options: read(message_batch&), post() each message, 16 MiB messages,
// 64 MiB queue, wait policy), with the receive rate limit chosen on the
// command line, so that bench/limiter_bench.sh can time the limiter on
// against off in one run.
//
//   limiter_echo --port 0 --limit on|off
//
// on:  the message bucket at the library default (100,000/s) and the byte
//      bucket switched on too (at 1 TB/s, so that it never refuses either):
//      every message pays both checks. Nothing the load generator sends
//      should be refused; the refusals are printed at exit to prove it.
// off: both rates 0 (no bucket).
// Prints "limiter_echo listening on HOST:PORT"; SIGINT/SIGTERM stop it and
// print "rate_limited N messages_in M" on stderr.
#include <duplex/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace {

asio::awaitable<void> echo(duplex::websocket ws) {
  duplex::message_batch batch;
  while (co_await ws.read(batch)) {
    for (const auto& m : batch) {
      if (auto ec = ws.post(m.data, m.binary); ec && ec == duplex::errc::slow_consumer) co_await ws.send(m.data, m.binary);
    }
  }
}

[[noreturn]] void usage() {
  std::cerr << "usage: limiter_echo [--host H] [--port N] --limit on|off\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  duplex::server_options o;
  o.port = 0;
  o.websocket.max_message_size = 16 * 1024 * 1024;
  o.websocket.send_queue_limit = 64 * 1024 * 1024;
  o.websocket.on_overflow = duplex::overflow_policy::wait;
  std::string limit;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) usage();
    if (a == "--host") o.host = argv[++i];
    else if (a == "--port") o.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (a == "--limit") limit = argv[++i];
    else usage();
  }
  if (limit == "on") {
    o.websocket.max_bytes_per_second = 1'000'000'000'000ull;
  } else if (limit == "off") {
    o.websocket.max_messages_per_second = 0;
    o.websocket.max_bytes_per_second = 0;
  } else {
    usage();
  }
  asio::io_context io(ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  duplex::server srv(io, o);
  srv.websocket("*", echo);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });
  asio::co_spawn(io, srv.run(), asio::detached);
  std::cout << "limiter_echo listening on " << o.host << ":" << srv.port() << std::endl;
  io.run();
  const auto s = srv.stats();
  std::fprintf(stderr, "rate_limited %llu messages_in %llu\n", static_cast<unsigned long long>(s.rate_limited),
               static_cast<unsigned long long>(s.messages_in));
}
