// duplex_broadcast: every message from any client goes to all the other
// clients (duplex::websocket::post of a prepared_message, the chat room's
// fan-out), on any path.
// Options as duplex-chat's defaults: 1 MiB send queue per client, a client
// whose queue overflows is closed (1008).
//   duplex_broadcast [--host ADDR] [--port N] [--threads N]   (port 0: any free port, printed)
// Without --threads: one thread, a plain list of clients. With --threads N:
// N server threads and a duplex::hub (the cross-thread fan-out duplex-chat
// uses); a client is a receiver until it sends, and a sender from then on,
// so, as in the one-thread list, a sender doesn't get its own broadcasts.
#include "common.hpp"

#include <duplex/net/hub.hpp>
#include <duplex/net/io_pool.hpp>
#include <duplex/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string_view>
#include <vector>

namespace {

int one_thread(duplex::server_options opts) {
  asio::io_context io(ASIO_CONCURRENCY_HINT_UNSAFE_IO);  // one thread, like examples/echo.cpp
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });

  std::vector<duplex::websocket> clients;
  duplex::server srv(io, opts);
  srv.websocket("*", [&clients](duplex::websocket ws) -> asio::awaitable<void> {
    clients.push_back(ws);
    duplex::message_batch batch;
    while (co_await ws.read(batch))
      for (const auto m : batch) {
        // Framed once, appended as is to every receiver's output.
        const duplex::prepared_message prepared(std::string(m.data), m.binary);
        for (auto& c : clients)
          if (!(c == ws)) c.post(prepared);
      }
    auto it = std::find(clients.begin(), clients.end(), ws);
    if (it != clients.end()) {
      *it = clients.back();
      clients.pop_back();
    }
  });
  asio::co_spawn(io, srv.run(), asio::detached);
  std::cout << "duplex_broadcast listening on " << opts.host << ":" << srv.port() << std::endl;
  io.run();
  return 0;
}

int threads(duplex::server_options opts, std::size_t n) {
  duplex::io_pool pool(n);
  duplex::server srv(pool.contexts(), opts);
  duplex::hub hub(pool.contexts());
  srv.websocket("*", [&hub](duplex::websocket ws) -> asio::awaitable<void> {
    hub.subscribe(ws, "all");
    bool sender = false;
    duplex::message msg;
    while (co_await ws.read(msg)) {
      if (!sender) hub.unsubscribe(ws, "all");  // queued before this thread's first publish
      sender = true;
      hub.publish("all", msg.data, msg.binary);
    }
    hub.unsubscribe(ws, "all");
  });
  asio::signal_set signals(pool[0], SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { pool.stop(); });
  asio::co_spawn(pool[0], srv.run(), asio::detached);
  std::cout << "duplex_broadcast (" << n << " threads) listening on " << opts.host << ":" << srv.port() << std::endl;
  pool.start();
  pool.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == "--threads") n = std::strtoul(argv[i + 1], nullptr, 10);
  const auto args = bench::parse_args(argc, argv);
  duplex::server_options opts;
  opts.host = args.host;
  opts.port = args.port;
  opts.allowed_origins = {"*"};
  return n == 0 ? one_thread(opts) : threads(opts, n);
}
