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
//
// Several instances (--redis): the route publishes the request on the
// Redis channel cluster_channel instead, and every instance, the one that
// took the request included, carries it out from its subscriber
// (on_cluster_message), so the member is closed and banned everywhere.
// Every signed-in instance listens, with or without an admin token. With
// Redis down the request is carried out here only (and logged so).
#pragma once

#include "chat_auth.hpp"

#include <duplex/net/metrics.hpp>
#include <duplex/net/server.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <atomic>
#include <chrono>
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

  static constexpr std::string_view cluster_channel = "duplex:chat:disconnect";
  // Instead of acting here, hand each request to `publish` (the payload for
  // cluster_channel; false: not published, act here only).
  void publish_through(std::function<asio::awaitable<bool>(std::string payload)> publish) {
    publish_ = std::move(publish);
  }
  // A request from cluster_channel (the subscriber's thread).
  void on_cluster_message(std::string_view payload);
  // Closes `name`'s connections here, banning first when ban >= 0.
  void apply(const std::string& name, std::chrono::seconds ban);

  // Connections closed through the route (any thread: metrics).
  std::uint64_t disconnected() const noexcept { return disconnected_.load(std::memory_order_relaxed); }
  // The sign-in's counters: upgrades the authenticator refused (by reason,
  // bans included) and the disconnects of this route.
  void register_metrics(duplex::metrics& m);

 private:
  server& srv_;
  authenticator& authn_;
  std::string token_;
  asio::any_io_executor ex_;
  log_fn log_;
  std::function<asio::awaitable<bool>(std::string payload)> publish_;
  std::atomic<std::uint64_t> disconnected_{0};
};

}  // namespace duplex::chat
