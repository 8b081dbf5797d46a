#include <duplex/net/io_pool.hpp>

namespace duplex {
namespace {

// execution_context::shutdown() is protected; ~io_pool needs it (see there).
struct pool_context : asio::io_context {
  using asio::io_context::io_context;
  using asio::io_context::shutdown;
};

}  // namespace

io_pool::io_pool(std::size_t threads) {
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

void io_pool::start() {
  for (auto& c : contexts_) threads_.emplace_back([io = c.get()] { io->run(); });
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
