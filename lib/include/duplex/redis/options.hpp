// Where and how to connect to Redis: parsed from a redis:// URL, plus
// timeouts, reconnect backoff and the state/log hooks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace duplex::redis {

struct endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string user;      // AUTH user password (Redis 6 ACL) when both are set
  std::string password;  // AUTH password when only this is set
  int db = 0;            // SELECT db when not 0
  bool tls = false;      // rediss://
};

// redis://[[user]:password@]host[:port][/db], or rediss:// for TLS. User
// and password may be percent-encoded; nullopt if invalid.
std::optional<endpoint> parse_url(std::string_view url);
// "host:port" for logs and error messages (never the password).
std::string to_string(const endpoint& e);

enum class link_state { up, down };

struct options {
  endpoint server;
  // TCP connect plus AUTH and SELECT.
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(5);
  // Per request, from the call until its reply.
  std::chrono::milliseconds command_timeout = std::chrono::seconds(5);
  // Reconnect delay: doubles from backoff_min up to backoff_max per failed
  // attempt, each delay drawn uniformly from [d/2, d] so a fleet of
  // instances does not reconnect in lockstep.
  std::chrono::milliseconds backoff_min = std::chrono::milliseconds(100);
  std::chrono::milliseconds backoff_max = std::chrono::seconds(5);
  // When nothing arrives for this long, send PING; when nothing arrives in
  // the same time after it, the connection counts as lost (errc::timeout):
  // a peer that vanished without closing TCP is otherwise noticed only
  // through command timeouts, and a subscriber would never notice. 0 turns
  // it off. A blocking command (BLPOP ...) longer than this needs a client
  // with it off.
  std::chrono::milliseconds health_interval = std::chrono::seconds(5);
  // Called on the connection's executor when the link comes up or goes down
  // (with the reason), e.g. to mark /healthz degraded. Not called for the
  // first connect of client::connect/subscriber::connect (they return or throw).
  std::function<void(link_state, std::error_code)> on_state;
  // One line per event (connected, lost, reconnect attempt failed, ...).
  std::function<void(std::string_view)> on_log;
  // rediss://: the server certificate is verified against the system's CAs
  // plus this PEM file when set, and must name server.host.
  std::string ca_file;
  bool verify_peer = true;  // false accepts any certificate: tests only
  // Prefix of log lines, e.g. "redis" or "redis-sub".
  std::string name = "redis";
};

// options{.server = parse_url(url)}; throws std::system_error(errc::bad_url).
options options_from_url(std::string_view url);

}  // namespace duplex::redis
