// duplex_broadcast: every message from any client goes to all the other
// clients (duplex::websocket::post, the chat room's fan-out), on any path.
// Options as duplex-chat's defaults: 1 MiB send queue per client, a client
// whose queue overflows is closed (1008).
//   duplex_broadcast [--host ADDR] [--port N]   (port 0: any free port, printed)
#include "common.hpp"

#include <duplex/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <algorithm>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
  const auto args = bench::parse_args(argc, argv);
  duplex::server_options opts;
  opts.host = args.host;
  opts.port = args.port;
  opts.allowed_origins = {"*"};
  asio::io_context io(1);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });

  std::vector<duplex::websocket> clients;
  duplex::server srv(io, opts);
  srv.websocket("*", [&clients](duplex::websocket ws) -> asio::awaitable<void> {
    clients.push_back(ws);
    while (auto msg = co_await ws.read())
      for (auto& c : clients)
        if (!(c == ws)) c.post(msg->data, msg->binary);
    auto it = std::find(clients.begin(), clients.end(), ws);
    if (it != clients.end()) {
      *it = clients.back();
      clients.pop_back();
    }
  });
  asio::co_spawn(io, srv.run(), asio::detached);
  std::cout << "duplex_broadcast listening on " << opts.host << ":" << srv.port() << std::endl;
  io.run();
}
