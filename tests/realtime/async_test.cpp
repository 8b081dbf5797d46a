#include <duplex/realtime/async.hpp>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <gtest/gtest.h>

namespace rt = duplex::realtime;

namespace {

asio::awaitable<void> resume_flow(rt::history_engine& h, std::vector<std::string>& log) {
  std::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  rt::stream_position seen;
  for (int i = 1; i <= 5; ++i) {
    auto pos = co_await rt::async_publish(h, "lobby", "m" + std::to_string(i), token);
    EXPECT_FALSE(ec);
    if (i == 2) seen = pos;
  }
  auto page = co_await rt::async_since(h, "lobby", seen, 100, token);
  EXPECT_FALSE(ec);
  for (auto& p : page.publications) log.push_back(p.payload);
  rt::stream_position future{99, seen.epoch};
  auto refused = co_await rt::async_since(h, "lobby", future, 100, token);
  EXPECT_EQ(ec, rt::errc::position_from_future);
  EXPECT_TRUE(refused.publications.empty());
  auto recent = co_await rt::async_recent(h, "lobby", 1, token);
  EXPECT_FALSE(ec);
  log.push_back(recent.publications.at(0).payload);
}

}  // namespace

TEST(AsyncHistory, AwaitableOperations) {
  asio::io_context io;
  rt::memory_history h;
  std::vector<std::string> log;
  asio::co_spawn(io, resume_flow(h, log), asio::detached);
  io.run();
  EXPECT_EQ(log, (std::vector<std::string>{"m3", "m4", "m5", "m5"}));
}

TEST(AsyncHistory, CompletionIsNeverInline) {
  asio::io_context io;
  rt::memory_history h;
  bool done = false;
  rt::async_publish(h, "a", "x", asio::bind_executor(io, [&](std::error_code ec, rt::stream_position pos) {
                      EXPECT_FALSE(ec);
                      EXPECT_EQ(pos.offset, 1u);
                      done = true;
                    }));
  EXPECT_FALSE(done);  // posted to io, not run inside the call
  io.run();
  EXPECT_TRUE(done);
}

// The engines beside the history: one member's flow, awaited.
TEST(AsyncEngines, BrokerAndPresenceOperationsAwaitAndNeverCompleteInline) {
  asio::io_context io;
  rt::memory_history h;
  rt::memory_broker b(h);
  rt::memory_presence p;
  std::vector<std::string> delivered;
  b.set_handlers({[&](std::string_view, const rt::stream_position&, const std::string& payload) {
                    delivered.push_back(payload);
                  },
                  nullptr});
  bool done = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    auto top = co_await rt::async_subscribe(b, "lobby", token);
    EXPECT_FALSE(ec);
    EXPECT_EQ(top.offset, 0u);
    auto pos = co_await rt::async_publish(b, "lobby", "hello", token);
    EXPECT_FALSE(ec);
    EXPECT_EQ(pos.offset, 1u);
    EXPECT_EQ(pos.epoch, top.epoch);
    co_await rt::async_claim(p, "lobby", "ann", "t1", token);
    EXPECT_FALSE(ec);
    EXPECT_FALSE(p.join("lobby", "ann", "t1", rt::presence::clock::now()));
    done = true;
  }, asio::detached);
  bool claimed = false;
  rt::async_claim(p, "lobby", "bob", "t2", asio::bind_executor(io, [&](std::error_code ec) {
                    EXPECT_FALSE(ec);
                    claimed = true;
                  }));
  EXPECT_FALSE(claimed);  // posted, not run inside the call
  io.run();
  EXPECT_TRUE(done);
  EXPECT_TRUE(claimed);
  EXPECT_EQ(delivered, (std::vector<std::string>{"hello"}));
}
