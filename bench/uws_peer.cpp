// uws_echo / uws_broadcast: the uWebSockets peers (plain TCP, no TLS, no
// compression, uSockets' epoll loop), built by bench/run.sh from the sources
// in ../shared/peers (never linked into duplex). One source, two programs:
//   uws_echo [--port N]        echoes every message (ws->send)
//   uws_broadcast [--port N]   every message goes to all other clients through
//                              uWS pub/sub (ws->publish skips the sender);
//                              1 MiB backpressure, closed on overflow, as
//                              duplex_broadcast's close policy
// Options as the duplex peers: 16 MiB messages for the echo, no idle timeout.
// Prints "NAME listening on 127.0.0.1:PORT" (port 0: the kernel picks).
#include "App.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <unistd.h>

#ifndef UWS_PEER_BROADCAST
#define UWS_PEER_BROADCAST 0
#endif

namespace {
struct per_socket {};
constexpr const char* name = UWS_PEER_BROADCAST ? "uws_broadcast" : "uws_echo";
}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[++i]);
  // Exit (not a default kill) so that callgrind writes its profile.
  std::signal(SIGINT, [](int) { _exit(0); });
  std::signal(SIGTERM, [](int) { _exit(0); });

  uWS::App::WebSocketBehavior<per_socket> b;
  b.compression = uWS::DISABLED;
  b.idleTimeout = 0;
  b.sendPingsAutomatically = false;
  if (UWS_PEER_BROADCAST) {
    b.maxPayloadLength = 1024 * 1024;
    b.maxBackpressure = 1024 * 1024;
    b.closeOnBackpressureLimit = true;
    b.open = [](auto* ws) { ws->subscribe("all"); };
    b.message = [](auto* ws, std::string_view m, uWS::OpCode op) { ws->publish("all", m, op); };
  } else {
    b.maxPayloadLength = 16 * 1024 * 1024;
    b.maxBackpressure = 64 * 1024 * 1024;
    b.message = [](auto* ws, std::string_view m, uWS::OpCode op) { ws->send(m, op); };
  }
  uWS::App()
      .ws<per_socket>("/*", std::move(b))
      .listen("127.0.0.1", port,
              [](us_listen_socket_t* ls) {
                if (!ls) {
                  std::cerr << name << ": listen failed\n";
                  std::exit(1);
                }
                std::cout << name << " listening on 127.0.0.1:"
                          << us_socket_local_port(0, reinterpret_cast<us_socket_t*>(ls)) << std::endl;
              })
      .run();
}
