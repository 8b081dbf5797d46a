// N io_contexts, one thread each: what duplex::server needs to use N cores.
//
//   duplex::io_pool pool(std::thread::hardware_concurrency());
//   duplex::server srv(pool.contexts(), opts);
//   asio::co_spawn(pool[0], srv.run(), asio::detached);
//   pool.start();  ...  pool.stop(); pool.join();
//
// Each io_context keeps running while it has nothing to do (a work guard),
// until stop().
#pragma once

// Standard headers first: asio decides between aligned_alloc and operator
// new by a libstdc++ macro, so a file that included asio before any standard
// header would pair them differently from the rest (ASan: alloc-dealloc-mismatch).
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

namespace duplex {

class io_pool {
 public:
  explicit io_pool(std::size_t threads);
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  std::size_t size() const noexcept { return contexts_.size(); }
  asio::io_context& operator[](std::size_t i) noexcept { return *contexts_[i]; }
  std::vector<asio::io_context*> contexts() const;

  void start();        // one thread per io_context
  void stop() noexcept;  // every io_context stops; threads return
  void join();

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace duplex
