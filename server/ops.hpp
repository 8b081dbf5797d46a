// duplex-chat's operations: log lines (text or JSON), /healthz, /metrics,
// and the shutdown sequence on SIGTERM/SIGINT (drain, flush, exit).
#pragma once

#include <duplex/net/io_pool.hpp>
#include <duplex/net/metrics.hpp>
#include <duplex/net/server.hpp>

#include <asio/signal_set.hpp>

#include <chrono>
#include <functional>
#include <memory>
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

class operations {
 public:
  explicit operations(server& srv) : srv_(srv) {}

  // /healthz is 503 "degraded: <name>" while check() is false (a broker
  // connection, say). Register before serve_routes().
  void health_check(std::string name, std::function<bool()> ok) { checks_.push_back({std::move(name), std::move(ok)}); }
  // Run after the drain, before exit (e.g. pending history writes).
  void on_flush(std::function<void()> f) { flushes_.push_back(std::move(f)); }
  duplex::metrics& metrics() { return metrics_; }

  // GET /healthz: 200 "ok", or 503 "draining" / "degraded: ...". GET /metrics.
  void serve_routes();

  // First SIGTERM or SIGINT: drain (bounded by drain_timeout), flush, stop
  // the pool (the process then exits 0). A second signal exits at once with
  // 128 + its number.
  void handle_signals(io_pool& pool, std::chrono::milliseconds drain_timeout);

 private:
  struct check {
    std::string name;
    std::function<bool()> ok;
  };
  server& srv_;
  duplex::metrics metrics_;
  std::vector<check> checks_;
  std::vector<std::function<void()>> flushes_;
  std::unique_ptr<asio::signal_set> signals_;
};

}  // namespace duplex::chat
