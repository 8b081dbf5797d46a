// duplex-echo: the standard target of conformance suites and benchmarks.
//   duplex-echo [--host H] [--port P]      server: echoes every message on any path
//   duplex-echo --connect ws://host:port/p  client: echoes what the server sends
//                                            until it closes
#include <duplex/net/client.hpp>
#include <duplex/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view usage = R"(usage: duplex-echo [options]
       duplex-echo --connect ws[s]://host:port/path [options]

Server (default): echoes every text and binary message back unchanged, on any path.
  --host ADDR          listen address (default 127.0.0.1)
  --port N             port (default 9001; 0 picks one and prints it)
  --tls-cert FILE      PEM certificate chain (serve wss:// only)
  --tls-key FILE       PEM private key
Client: connects, echoes every message it receives, exits when the server closes
(exit status 0 after a clean close, 1 otherwise).
  --connect URL        ws:// or wss:// URL
  --ca FILE            extra trusted CA certificate for wss://
  --insecure           do not verify the server certificate
Both:
  --callbacks          serve with callbacks (duplex::websocket_callbacks) instead
                       of a coroutine per connection: less memory per idle one
  --max-message BYTES  largest accepted message (default 16777216)
  --deflate            negotiate permessage-deflate (no context takeover)
  --deflate-takeover   with --deflate: keep compression context across messages
                       in both directions (more ratio, ~180 KiB per connection)
  --quiet              no log lines
  --help
)";

[[noreturn]] void fail(std::string_view why) {
  std::cerr << "duplex-echo: " << why << "\n(try --help)\n";
  std::exit(2);
}

asio::awaitable<void> echo(duplex::websocket ws) {
  // One read hands out every message that has arrived (reused storage: no
  // allocation per message), so a pipelining peer costs one suspension per
  // batch, and the replies to a batch leave in one write.
  duplex::message_batch batch;
  while (co_await ws.read(batch)) {
    for (const auto& m : batch) {
      // post() queues without suspending; only when the peer's queue is full
      // (it doesn't read) does the echo wait, through send(). (`ec &&` first:
      // comparing with an errc looks up duplex's error category each time.)
      if (auto ec = ws.post(m.data, m.binary); ec && ec == duplex::errc::slow_consumer) co_await ws.send(m.data, m.binary);
    }
  }
}

asio::awaitable<void> run_client(std::string url, duplex::connect_options opts, int& status) {
  try {
    auto ws = co_await duplex::connect(url, opts);
    co_await echo(ws);
    status = ws.close_code() == duplex::protocol::close_code::normal ? 0 : 1;
    std::cerr << "duplex-echo: closed " << ws.close_code() << " " << ws.error().message() << "\n";
  } catch (const std::system_error& e) {
    std::cerr << "duplex-echo: " << e.what() << "\n";
    status = 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  duplex::server_options sopts;
  sopts.port = 9001;
  sopts.allowed_origins = {"*"};
  sopts.websocket.max_message_size = 16 * 1024 * 1024;
  sopts.websocket.send_queue_limit = 64 * 1024 * 1024;
  sopts.websocket.on_overflow = duplex::overflow_policy::wait;  // an echo waits for its one reader
  sopts.log = [](std::string_view l) { std::cerr << l << "\n"; };
  duplex::connect_options copts;
  std::string connect_url;
  bool quiet = false;
  bool callbacks = false;

  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else if (arg == "--host") {
      sopts.host = value();
    } else if (arg == "--port") {
      const std::string v = value();
      char* end = nullptr;
      const long p = std::strtol(v.c_str(), &end, 10);
      if (*end || p < 0 || p > 65535) fail("bad --port " + v);
      sopts.port = static_cast<std::uint16_t>(p);
    } else if (arg == "--tls-cert") {
      sopts.tls_cert_file = value();
    } else if (arg == "--tls-key") {
      sopts.tls_key_file = value();
    } else if (arg == "--connect") {
      connect_url = value();
    } else if (arg == "--ca") {
      copts.ca_file = value();
    } else if (arg == "--insecure") {
      copts.verify_peer = false;
    } else if (arg == "--max-message") {
      const std::string v = value();
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (*end || n == 0) fail("bad --max-message " + v);
      sopts.websocket.max_message_size = n;
    } else if (arg == "--deflate") {
      sopts.websocket.deflate.enabled = true;
    } else if (arg == "--deflate-takeover") {
      sopts.websocket.deflate.server_no_context_takeover = false;
      sopts.websocket.deflate.client_no_context_takeover = false;
    } else if (arg == "--callbacks") {
      callbacks = true;
    } else if (arg == "--quiet") {
      quiet = true;
    } else {
      fail("unknown option " + std::string(arg));
    }
  }
  if (quiet) sopts.log = nullptr;

  // One thread runs everything here: Asio's per-socket locks are not needed
  // (posting from other threads would still be safe). See docs/threads.md.
  asio::io_context io(ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });

  if (!connect_url.empty()) {
    copts.websocket = sopts.websocket;
    int status = 1;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await run_client(connect_url, copts, status);
      signals.cancel();
    }, asio::detached);
    io.run();
    return status;
  }

  try {
    duplex::server srv(io, sopts);
    if (callbacks) {
      // The wait policy as callbacks know it: replies are always queued, and
      // a connection whose queue is over its limit is not read until it
      // drains (TCP pushes back on a pipelining peer).
      srv.websocket("*", duplex::websocket_callbacks{.message = [](duplex::websocket& ws, const duplex::message_view& m) {
                      ws.post(m.data, m.binary);
                    }});
    } else {
      srv.websocket("*", echo);
    }
    asio::co_spawn(io, srv.run(), asio::detached);
    std::cout << "duplex-echo listening on " << sopts.host << ":" << srv.port() << std::endl;
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "duplex-echo: " << e.what() << "\n";
    return 1;
  }
}
