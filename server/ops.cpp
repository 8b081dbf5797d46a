#include "ops.hpp"

#include <duplex/schema/codec.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/signal_set.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>

namespace duplex::chat {

namespace {

std::atomic<bool> json_logs{false};

}  // namespace

void set_log_json(bool on) { json_logs = on; }

void log_line(std::string_view line) {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string out;
  if (json_logs) {
    const auto space = line.find(' ');
    out = "{\"time\":\"";
    out += stamp;
    out += "\",\"event\":";
    schema::append_json_string(out, line.substr(0, space));
    out += ",\"detail\":";
    schema::append_json_string(out, space == std::string_view::npos ? std::string_view() : line.substr(space + 1));
    out += "}\n";
  } else {
    out.append(stamp).append(" ").append(line).append("\n");
  }
  // One write per line: stdio locks the stream per call, so lines from
  // different threads never interleave.
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

operations::operations(server& srv, io_pool& pool) : srv_(srv), pool_(pool) {
  metrics_.gauge("duplex_threads", "Threads serving connections.", [n = pool.size()] { return double(n); });
}

operations::~operations() {
  own_.stop();
  own_.join();
}

route_response operations::health() const {
  if (srv_.draining()) return {503, "text/plain; charset=utf-8", "draining\n"};
  if (auto t = pool_.stalled(stall_limit))
    return {503, "text/plain; charset=utf-8", "stalled: thread " + std::to_string(*t) + "\n"};
  for (const auto& c : checks_)
    if (!c.ok()) return {503, "text/plain; charset=utf-8", "degraded: " + c.name + "\n"};
  return {200, "text/plain; charset=utf-8", "ok\n"};
}

void operations::serve_routes() {
  srv_.route("/healthz", [this](const protocol::http_request&) { return health(); });
  srv_.route("/metrics", [this](const protocol::http_request&) {
    return route_response{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(srv_.stats())};
  });
}

std::uint16_t operations::serve_health(server_options o) {
  o.root.clear();
  health_srv_ = std::make_unique<server>(own_[0], std::move(o));
  health_srv_->route("/healthz", [this](const protocol::http_request&) { return health(); });
  asio::co_spawn(own_[0], health_srv_->run(), asio::detached);
  return health_srv_->port();
}

void operations::watch_stalls() {
  stall_timer_->expires_after(std::chrono::seconds(1));
  stall_timer_->async_wait([this](std::error_code ec) {
    if (ec) return;
    const auto t = pool_.stalled(stall_limit);
    if (t && t != stalled_)
      log_line("stalled thread " + std::to_string(*t) + ": one handler has run for over " +
               std::to_string(stall_limit.count()) + " ms without yielding; its connections are not served");
    else if (!t && stalled_)
      log_line("thread " + std::to_string(*stalled_) + " serves again");
    stalled_ = t;
    watch_stalls();
  });
}

void operations::start() {
  stall_timer_ = std::make_unique<asio::steady_timer>(own_[0]);
  watch_stalls();
  own_.start();
}

void operations::handle_signals(std::chrono::milliseconds drain_timeout) {
  // On the operations thread: a second signal exits even while a pool
  // thread is stuck (the drain itself needs thread 0).
  signals_ = std::make_unique<asio::signal_set>(own_[0], SIGINT, SIGTERM);
  signals_->async_wait([this, drain_timeout](std::error_code ec, int sig) {
    if (ec) return;
    log_line("draining on signal " + std::to_string(sig) + " (timeout " + std::to_string(drain_timeout.count()) +
             " ms; a second signal exits at once)");
    signals_->async_wait([](std::error_code ec2, int sig2) {
      if (ec2) return;
      log_line("exiting on second signal " + std::to_string(sig2));
      std::_Exit(128 + sig2);
    });
    asio::co_spawn(
        pool_[0],
        [this, drain_timeout]() -> asio::awaitable<void> {
          const std::size_t dropped = co_await srv_.drain(drain_timeout);
          log_line("drained (" + std::to_string(dropped) + " connections dropped at the timeout)");
          for (auto& f : flushes_) f();
          log_line("stopped");
          pool_.stop();
        },
        asio::detached);
  });
}

}  // namespace duplex::chat
