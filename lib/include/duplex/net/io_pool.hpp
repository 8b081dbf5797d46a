// N io_contexts, one thread each: what duplex::server needs to use N cores.
//
//   duplex::io_pool pool(std::thread::hardware_concurrency());
//   duplex::server srv(pool.contexts(), opts);
//   asio::co_spawn(pool[0], srv.run(), asio::detached);
//   pool.start();  ...  pool.stop(); pool.join();
//
// Each io_context keeps running while it has nothing to do (a work guard),
// until stop().
//
// A handler that never yields (a bug, or a blocking call) stalls its whole
// thread: every connection on it, and anything posted there (a drain, a
// health check served by that thread). Each thread therefore beats a
// heartbeat every 250 ms; stalled() tells, from any thread, which one is
// late, so that a health check answered elsewhere can take the instance out
// of a load balancer (duplex-chat's --health-port).
#pragma once

// Standard headers first: asio decides between aligned_alloc and operator
// new by a libstdc++ macro, so a file that included asio before any standard
// header would pair them differently from the rest (ASan: alloc-dealloc-mismatch).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

namespace duplex {

class io_pool {
 public:
  // Threads are named "<name>-<index>" (top -H, gdb, /proc/PID/task/*/comm;
  // Linux keeps 15 bytes of a name).
  explicit io_pool(std::size_t threads, std::string name = "duplex-io");
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  std::size_t size() const noexcept { return contexts_.size(); }
  asio::io_context& operator[](std::size_t i) noexcept { return *contexts_[i]; }
  std::vector<asio::io_context*> contexts() const;

  void start();        // one thread per io_context
  void stop() noexcept;  // every io_context stops; threads return
  void join();

  // The first started thread whose heartbeat is more than `late` old: it has
  // been running one handler (or blocked) at least that long. Any thread.
  std::optional<std::size_t> stalled(std::chrono::milliseconds late) const noexcept;

 private:
  struct heartbeat {
    explicit heartbeat(asio::io_context& io) : timer(io) {}
    asio::steady_timer timer;
    std::atomic<std::chrono::steady_clock::rep> last{0};  // 0: not started
    void beat();
  };
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::string name_;
  // Last: destroyed first, while their contexts exist.
  std::vector<std::unique_ptr<heartbeat>> heartbeats_;
};

}  // namespace duplex
