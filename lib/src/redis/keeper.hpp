// Internal: keeps one Redis connection up for the command client and the
// subscriber: the write queue and its writer coroutine, the read loop, and
// reconnection with backoff after a loss. Derived classes handle replies.
#pragma once

#include "link.hpp"

#include <duplex/redis/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace duplex::redis::detail {

class keeper : public std::enable_shared_from_this<keeper> {
 public:
  keeper(asio::any_io_executor ex, options o);
  virtual ~keeper() = default;

  // Serves `first` (already open, from connect()) or, if null, connects;
  // then reconnects after every loss until close().
  void start(std::shared_ptr<link> first);
  // Stops for good; the derived class fails what is waiting in on_down.
  void close() noexcept;

  bool is_up() const noexcept { return conn_ != nullptr; }
  // The same, readable from any thread (e.g. a /healthz handler).
  bool is_up_atomic() const noexcept { return up_.load(std::memory_order_relaxed); }
  bool is_closed() const noexcept { return closed_; }
  const options& opts() const noexcept { return opts_; }
  const asio::any_io_executor& executor() const noexcept { return ex_; }

 protected:
  // Queues bytes for the current connection (call only while is_up()).
  void send(std::string_view packet);
  void report(link_state s, std::error_code ec) {
    if (opts_.on_state) opts_.on_state(s, ec);
  }
  // A connection is ready. `reconnected` is false for the one connect() made.
  virtual void on_up(bool reconnected) = 0;
  // One reply; setting ec drops the connection (e.g. a reply nobody asked for).
  virtual void on_reply(reply r, std::error_code& ec) = 0;
  // The connection is gone (why: the error, or errc::closed after close()).
  virtual void on_down(std::error_code why) = 0;
  // Queue a PING whose reply on_reply must accept and drop (health check).
  virtual void send_ping() = 0;

 private:
  asio::awaitable<void> run(std::shared_ptr<keeper> self, std::shared_ptr<link> l);
  asio::awaitable<void> writer(std::shared_ptr<keeper> self, std::shared_ptr<link> l);
  asio::awaitable<std::error_code> reader(std::shared_ptr<link> l);
  asio::awaitable<void> watchdog(std::shared_ptr<keeper> self, std::shared_ptr<link> l);

  asio::any_io_executor ex_;
  options opts_;
  std::shared_ptr<link> conn_;  // while up
  std::atomic<bool> up_{false};
  bool closed_ = false;
  std::string out_;      // queued, not yet handed to the socket
  std::string sending_;  // the batch being written
  asio::steady_timer wake_;   // the writer sleeps on it while out_ is empty
  asio::steady_timer retry_;  // reconnect backoff
  asio::steady_timer health_;  // the watchdog's tick
  backoff delays_;
  std::uint64_t replies_ = 0;     // for the watchdog: traffic since its last tick?
  std::error_code drop_reason_;  // why the writer or watchdog closed the connection
};

// Runs `op` on `target`, hopping there and back when the caller's coroutine
// lives on another executor (another thread's io_context): the keeper's
// state is only touched on its own executor.
template <class T>
asio::awaitable<T> on_executor(asio::any_io_executor target, asio::awaitable<T> op) {
  auto here = co_await asio::this_coro::executor;
  if (here == target) co_return co_await std::move(op);
  T r = co_await asio::co_spawn(target, std::move(op), asio::use_awaitable);
  co_return r;
}

inline asio::awaitable<void> on_executor(asio::any_io_executor target, asio::awaitable<void> op) {
  auto here = co_await asio::this_coro::executor;
  if (here == target) {
    co_await std::move(op);
    co_return;
  }
  co_await asio::co_spawn(target, std::move(op), asio::use_awaitable);
}

// One caller waiting for a reply or confirmation: it sleeps on `timer`
// (armed with the command timeout), which is cancelled when the answer is in.
template <class Value>
struct waiter {
  explicit waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  Value value{};
  std::error_code ec;
  bool done = false;  // also set when the caller gave up (timeout): the answer is then dropped

  void finish(Value v, std::error_code e) {
    if (done) return;
    done = true;
    value = std::move(v);
    ec = e;
    timer.cancel();
  }
  // Waits for finish() or the timeout; the value and ec are then final.
  asio::awaitable<void> wait(std::chrono::milliseconds timeout) {
    timer.expires_after(timeout);
    std::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    if (!done) {
      done = true;
      ec = make_error_code(errc::timeout);
    }
  }
};

}  // namespace duplex::redis::detail
