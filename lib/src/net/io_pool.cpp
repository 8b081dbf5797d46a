#include <duplex/net/io_pool.hpp>

#include <asio/post.hpp>

#include <pthread.h>

namespace duplex {
namespace {

// execution_context::shutdown() is protected; ~io_pool needs it (see there).
struct pool_context : asio::io_context {
  using asio::io_context::io_context;
  using asio::io_context::shutdown;
};

}  // namespace

io_pool::io_pool(std::size_t threads, std::string name) : name_(std::move(name)) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) {
    // One thread runs each context and starts every operation on its
    // sockets, so Asio's per-socket locks (three per read and reply) are
    // left out; posting to a context from other threads stays safe (the
    // scheduler keeps its lock).
    contexts_.push_back(std::make_unique<pool_context>(ASIO_CONCURRENCY_HINT_UNSAFE_IO));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
}

io_pool::~io_pool() {
  stop();
  join();
  // Handlers still queued on one context (a hub batch, a posted send) may
  // hold connections of another. Shutting every context down first destroys
  // them while all contexts still exist; destroying the contexts one by one
  // would let a handler of the second touch the sockets of the first, gone.
  guards_.clear();
  for (auto& c : contexts_) static_cast<pool_context&>(*c).shutdown();
}

std::vector<asio::io_context*> io_pool::contexts() const {
  std::vector<asio::io_context*> out;
  for (const auto& c : contexts_) out.push_back(c.get());
  return out;
}

void io_pool::heartbeat::beat() {
  last.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  timer.expires_after(std::chrono::milliseconds(250));
  timer.async_wait([this](std::error_code ec) {
    if (!ec) beat();
  });
}

void io_pool::start() {
  const bool first = heartbeats_.empty();
  for (auto& c : contexts_) {
    if (first) {
      auto& h = *heartbeats_.emplace_back(std::make_unique<heartbeat>(*c));
      h.last.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
      asio::post(*c, [&h] { h.beat(); });
    }
    std::string name = (name_ + "-" + std::to_string(threads_.size())).substr(0, 15);
    threads_.emplace_back([io = c.get(), name = std::move(name)] {
      pthread_setname_np(pthread_self(), name.c_str());
      io->run();
    });
  }
}

std::optional<std::size_t> io_pool::stalled(std::chrono::milliseconds late) const noexcept {
  const auto now = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < heartbeats_.size(); ++i) {
    const std::chrono::steady_clock::time_point last{
        std::chrono::steady_clock::duration{heartbeats_[i]->last.load(std::memory_order_relaxed)}};
    if (now - last > late) return i;
  }
  return std::nullopt;
}

void io_pool::stop() noexcept {
  for (auto& c : contexts_) c->stop();
}

void io_pool::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace duplex
