// A real redis-server for a test: started on a free 127.0.0.1 port with no
// persistence, killed and restarted on the same port on demand, stopped at
// the end. A missing redis-server fails the test (CI must install it).
#pragma once

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_future.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

// ASSERT_* returns, which a coroutine cannot: these co_return instead.
#define CO_ASSERT_TRUE(...)                              \
  do {                                                   \
    EXPECT_TRUE(__VA_ARGS__);                            \
    if (::testing::Test::HasFailure()) co_return;        \
  } while (0)
#define CO_ASSERT_EQ(a, b)                               \
  do {                                                   \
    EXPECT_EQ(a, b);                                     \
    if (::testing::Test::HasFailure()) co_return;        \
  } while (0)

namespace duplex::test {

inline std::uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

inline std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto end = dirs.find(':', start);
    std::filesystem::path p = std::filesystem::path(dirs.substr(start, end - start)) / name;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return {};
}

class redis_server {
 public:
  // start_now = false: on a port picked now, started later with start().
  // `extra` arguments come last (they may override --port, e.g. for TLS).
  explicit redis_server(std::uint16_t port = free_port(), bool start_now = true, std::vector<std::string> extra = {})
      : binary_(find_on_path("redis-server")), port_(port), extra_(std::move(extra)) {
    if (binary_.empty())
      throw std::runtime_error("redis-server is not on PATH: install Debian's redis-server (scripts/setup.sh)");
    if (start_now) start();
  }
  ~redis_server() { kill(); }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  void start() {
    const std::string port = std::to_string(port_);
    std::vector<std::string> args{binary_, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                  "--daemonize", "no", "--loglevel", "warning", "--dir", "/tmp",
                                  "--enable-debug-command", "local"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    const int rc = posix_spawn(&pid_, binary_.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start redis-server: " + std::string(std::strerror(rc)));
    // Ready once it accepts connections.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      asio::io_context io;
      asio::ip::tcp::socket s(io);
      std::error_code ec;
      s.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) return;
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("redis-server did not start on " + port);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // SIGKILL: the connections drop as on a crash.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  std::string binary_;
  std::uint16_t port_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Waits (bounded) until `pred` holds; false if it never did.
template <class Pred>
asio::awaitable<bool> eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(3)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await sleep_for(std::chrono::milliseconds(10));
  }
  co_return true;
}

// Runs a coroutine on `io` until it finishes, rethrowing its exception;
// bounded so a broken case fails instead of hanging.
template <class Awaitable>
auto run(asio::io_context& io, Awaitable a, std::chrono::seconds limit = std::chrono::seconds(20)) {
  auto fut = asio::co_spawn(io, std::move(a), asio::use_future);
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (fut.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("coroutine did not finish in time");
    io.run_one_for(std::chrono::milliseconds(100));
  }
  return fut.get();
}

}  // namespace duplex::test
