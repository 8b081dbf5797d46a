// duplex-chat's admin route (--admin-token-file, with --auth-jwt): closing
// every connection of one signed-in member, on every thread, through
// duplex::server::disconnect() (the upgrade hook identifies a connection by
// the member's name: chat_auth.hpp).
//
//   GET /admin/disconnect?name=NAME[&ban=SECONDS]
//   Authorization: Bearer <the admin token>
//
// closes NAME's connections with 4003 "disconnected by an administrator"
// and, with ban, refuses NAME's sign-ins (403) for that many seconds (the
// page reconnects by itself otherwise; ban=0 lifts a ban). Answers 200
// "disconnecting NAME" at once (the connections close on their own threads
// right after; the log says how many), 401 without the admin token (compared
// in constant time), 400 without a name or with a bad ban.
#pragma once

#include "chat_auth.hpp"

#include <duplex/net/server.hpp>

#include <asio/any_io_executor.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace duplex::chat {

// The close code of a member an administrator disconnected.
inline constexpr std::uint16_t close_disconnected = 4003;

class admin {
 public:
  using log_fn = std::function<void(std::string_view)>;
  // `ex` runs the disconnects (any of the server's threads). All outlive the server.
  admin(server& srv, authenticator& authn, std::string token, asio::any_io_executor ex, log_fn log = {});

  // Registers GET /admin/disconnect on the server.
  void serve_routes();
  route_response handle(const protocol::http_request& req);

  // Connections closed through the route (any thread: metrics).
  std::uint64_t disconnected() const noexcept { return disconnected_.load(std::memory_order_relaxed); }

 private:
  server& srv_;
  authenticator& authn_;
  std::string token_;
  asio::any_io_executor ex_;
  log_fn log_;
  std::atomic<std::uint64_t> disconnected_{0};
};

}  // namespace duplex::chat
