#include "keeper.hpp"

#include <duplex/redis/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

namespace duplex::redis::detail {

using asio::redirect_error;
using asio::use_awaitable;

keeper::keeper(asio::any_io_executor ex, options o)
    : ex_(std::move(ex)), opts_(std::move(o)), wake_(ex_), retry_(ex_), health_(ex_), delays_(opts_.backoff_min, opts_.backoff_max) {}

void keeper::start(std::shared_ptr<link> first) {
  if (first) {
    conn_ = first;
    up_ = true;
    on_up(false);
  }
  asio::co_spawn(ex_, run(shared_from_this(), std::move(first)), asio::detached);
}

void keeper::close() noexcept {
  if (closed_) return;
  closed_ = true;
  if (conn_) conn_->close();
  conn_.reset();
  up_ = false;
  out_.clear();
  retry_.cancel();
  wake_.cancel();
  health_.cancel();  // nothing left pending: io_context::run() can return
  on_down(make_error_code(errc::closed));
}

void keeper::send(std::string_view packet) {
  out_ += packet;
  wake_.cancel();
}

asio::awaitable<void> keeper::writer(std::shared_ptr<keeper> self, std::shared_ptr<link> l) {
  std::error_code ec;
  while (!closed_ && conn_ == l) {
    if (out_.empty()) {
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(redirect_error(use_awaitable, ec));
      continue;
    }
    sending_.clear();
    std::swap(sending_, out_);
    co_await l->write(sending_, ec);
    if (ec) {
      drop_reason_ = ec;
      l->close();  // the reader sees it and reports the loss
      co_return;
    }
  }
}

asio::awaitable<std::error_code> keeper::reader(std::shared_ptr<link> l) {
  std::error_code ec;
  for (;;) {
    reply r = co_await l->read(ec);
    ++replies_;
    if (!ec) on_reply(std::move(r), ec);
    if (ec) co_return ec;
  }
}

asio::awaitable<void> keeper::watchdog(std::shared_ptr<keeper> self, std::shared_ptr<link> l) {
  std::uint64_t seen = replies_;
  bool pinged = false;
  std::error_code ec;
  while (!closed_ && conn_ == l) {
    health_.expires_after(opts_.health_interval);
    co_await health_.async_wait(redirect_error(use_awaitable, ec));
    if (closed_ || conn_ != l) co_return;
    if (replies_ != seen) {  // traffic: alive
      seen = replies_;
      pinged = false;
    } else if (!pinged) {
      send_ping();
      pinged = true;
    } else {
      log(opts_, "no reply from " + to_string(opts_.server) + " to PING within " +
                     std::to_string(opts_.health_interval.count()) + " ms: dropping the connection");
      drop_reason_ = errc::timeout;
      l->close();  // the reader reports the loss
      co_return;
    }
  }
}

asio::awaitable<void> keeper::run(std::shared_ptr<keeper> self, std::shared_ptr<link> l) {
  std::error_code ec;
  for (;;) {
    if (!l) {
      l = std::make_shared<link>(ex_);
      co_await l->open(opts_, ec);
      if (closed_) co_return;
      if (ec) {
        l.reset();
        const auto d = delays_.next();
        log(opts_, "connect to " + to_string(opts_.server) + " failed: " + describe(ec) + "; retrying in " +
                       std::to_string(d.count()) + " ms");
        retry_.expires_after(d);
        co_await retry_.async_wait(redirect_error(use_awaitable, ec));
        if (closed_) co_return;
        continue;
      }
      log(opts_, "connected to " + to_string(opts_.server));
      delays_.reset();
      conn_ = l;
      up_ = true;
      on_up(true);
    }
    drop_reason_.clear();
    asio::co_spawn(ex_, writer(self, l), asio::detached);
    if (opts_.health_interval.count() > 0) asio::co_spawn(ex_, watchdog(self, l), asio::detached);
    ec = co_await reader(l);
    if (closed_) co_return;
    if (drop_reason_) ec = drop_reason_;  // the reader only saw the socket closed
    conn_.reset();
    up_ = false;
    l->close();
    l.reset();
    out_.clear();
    wake_.cancel();
    health_.cancel();
    log(opts_, "connection to " + to_string(opts_.server) + " lost: " + describe(ec));
    on_down(ec);
    report(link_state::down, ec);
    retry_.expires_after(delays_.next());
    co_await retry_.async_wait(redirect_error(use_awaitable, ec));
    if (closed_) co_return;
  }
}

}  // namespace duplex::redis::detail
