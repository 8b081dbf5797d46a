// The consumer of an installed duplex: an echo server on a free port and one
// client exchange against it, through the public API only. Prints
// "echoed: <text>" and exits 0 when the round trip and the close worked.
#include <duplex/net/client.hpp>
#include <duplex/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <iostream>
#include <string>

int main() {
  asio::io_context io;
  duplex::server srv{io, {.port = 0}};
  srv.websocket("/echo", [](duplex::websocket ws) -> asio::awaitable<void> {
    while (auto msg = co_await ws.read()) co_await ws.send(*msg);
  });
  asio::co_spawn(io, srv.run(), asio::detached);

  int status = 1;
  const std::string url = "ws://127.0.0.1:" + std::to_string(srv.port()) + "/echo";
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    try {
      auto ws = co_await duplex::connect(url);
      co_await ws.send("hello from a consumer");
      if (auto reply = co_await ws.read()) std::cout << "echoed: " << reply->text() << "\n";
      co_await ws.close();
      if (ws.close_code() == 1000) status = 0;
    } catch (const std::exception& e) {
      std::cerr << "consumer: " << e.what() << "\n";
    }
    srv.stop();
  }, asio::detached);
  io.run();
  return status;
}
