// duplex-chat's operations: log lines (text or JSON), /healthz, /metrics,
// and the shutdown sequence on SIGTERM/SIGINT (drain, flush, exit).
#pragma once

#include <duplex/net/io_pool.hpp>
#include <duplex/net/metrics.hpp>
#include <duplex/net/server.hpp>

#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::chat {

// One line per event on stdout, whole lines even from several threads.
// Text: "2026-11-30T01:02:03Z open 127.0.0.1:5000 /ws/chat". JSON lines:
// {"time":"2026-11-30T01:02:03Z","event":"open","detail":"127.0.0.1:5000 /ws/chat"}
// (the event is the line's first word).
void log_line(std::string_view line);
void set_log_json(bool on);

// Runs on a thread of its own, outside the pool that serves connections:
// signals, the stall watch and (with serve_health()) /healthz on a port of
// its own keep working while a connection thread is stuck in a handler that
// never yields. Start it with start() before the pool.
class operations {
 public:
  // A pool thread whose heartbeat is this late counts as stalled.
  static constexpr std::chrono::milliseconds stall_limit{3000};

  // Registers duplex_threads (the pool's size); the other parts register
  // their own metrics on metrics().
  operations(server& srv, io_pool& pool);
  ~operations();

  // /healthz is 503 "degraded: <name>" while check() is false (a broker
  // connection, say). Register before serve_routes().
  void health_check(std::string name, std::function<bool()> ok) { checks_.push_back({std::move(name), std::move(ok)}); }
  // Run after the drain, before exit (e.g. pending history writes).
  void on_flush(std::function<void()> f) { flushes_.push_back(std::move(f)); }
  duplex::metrics& metrics() { return metrics_; }

  // GET /healthz: 200 "ok", or 503 "draining" / "stalled: thread N" /
  // "degraded: ...". GET /metrics.
  void serve_routes();
  // GET /healthz also on a listener of its own, answered by the operations
  // thread (host and port from `o`; port 0 picks one). Returns the port.
  std::uint16_t serve_health(server_options o);

  // First SIGTERM or SIGINT: drain (bounded by drain_timeout), flush, stop
  // the pool (the process then exits 0). A second signal exits at once with
  // 128 + its number.
  void handle_signals(std::chrono::milliseconds drain_timeout);
  // Starts the operations thread (and logs a pool thread that stalls).
  void start();

 private:
  struct check {
    std::string name;
    std::function<bool()> ok;
  };
  route_response health() const;
  void watch_stalls();

  server& srv_;
  io_pool& pool_;
  io_pool own_{1, "duplex-ops"};  // the operations thread
  std::unique_ptr<server> health_srv_;
  std::unique_ptr<asio::steady_timer> stall_timer_;
  std::optional<std::size_t> stalled_;  // reported already
  duplex::metrics metrics_;
  std::vector<check> checks_;
  std::vector<std::function<void()>> flushes_;
  std::unique_ptr<asio::signal_set> signals_;
};

}  // namespace duplex::chat
