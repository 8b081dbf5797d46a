// io_pool's heartbeats: a thread that runs one handler too long is reported
// by stalled(), from another thread, and no longer once it is free again.
#include <duplex/net/io_pool.hpp>

#include <gtest/gtest.h>

#include <asio/post.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <unistd.h>

using namespace std::chrono_literals;

TEST(IoPool, AThreadStuckInOneHandlerIsReportedStalledUntilItIsFree) {
  duplex::io_pool pool(2);
  pool.start();
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(pool.stalled(1000ms));
  std::atomic<bool> release{false};
  asio::post(pool[1], [&] {
    while (!release) std::this_thread::sleep_for(5ms);  // a handler that never yields
  });
  std::optional<std::size_t> seen;
  for (int i = 0; i < 300 && !seen; ++i) {
    std::this_thread::sleep_for(10ms);
    seen = pool.stalled(1000ms);
  }
  ASSERT_TRUE(seen);
  EXPECT_EQ(*seen, 1u);
  release = true;
  for (int i = 0; i < 300 && pool.stalled(1000ms); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(pool.stalled(1000ms));
  pool.stop();
  pool.join();
}

TEST(IoPool, ThreadsAreNamedForTopAndGdb) {
  duplex::io_pool pool(2, "dx-test");
  std::atomic<long> tid{0};
  asio::post(pool[1], [&] { tid = static_cast<long>(::gettid()); });
  pool.start();
  for (int i = 0; i < 300 && !tid; ++i) std::this_thread::sleep_for(5ms);
  std::ifstream comm("/proc/self/task/" + std::to_string(tid.load()) + "/comm");
  std::string name;
  std::getline(comm, name);
  EXPECT_EQ(name, "dx-test-1");
  pool.stop();
  pool.join();
}
