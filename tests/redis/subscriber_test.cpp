#include "redis_server.hpp"

#include <duplex/redis/client.hpp>
#include <duplex/redis/subscriber.hpp>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using duplex::redis::client;
using duplex::redis::errc;
using duplex::redis::link_state;
using duplex::redis::subscriber;
using duplex::test::eventually;
using duplex::test::run;
using duplex::test::sleep_for;

namespace {

struct received {
  std::vector<std::pair<std::string, std::string>> messages;
  auto handler() {
    return [this](std::string_view ch, std::string_view payload) { messages.emplace_back(ch, payload); };
  }
};

}  // namespace

TEST(RedisSubscriber, DeliversAcrossConnectionsAndUnsubscribes) {
  duplex::test::redis_server server;
  asio::io_context io;
  received got;
  run(io, [&]() -> asio::awaitable<void> {
    auto opts = duplex::redis::options_from_url(server.url());
    auto sub = co_await subscriber::connect(opts, got.handler());
    auto pub = co_await client::connect(opts);
    co_await sub.subscribe("room.1");
    co_await sub.subscribe("room.2");
    EXPECT_TRUE(sub.is_subscribed("room.1"));
    EXPECT_EQ(sub.channel_count(), 2u);
    // Confirmed means live: a publish right after reaches us.
    auto r = co_await pub.command("PUBLISH", "room.1", "a");
    EXPECT_EQ(r.integer, 1);
    co_await pub.command("PUBLISH", "room.2", "b");
    co_await pub.command("PUBLISH", "room.other", "x");
    const std::string binary("c\0\r\n", 4);
    co_await pub.command("PUBLISH", "room.1", binary);
    CO_ASSERT_TRUE(co_await eventually([&] { return got.messages.size() >= 3; }));
    EXPECT_EQ(got.messages[0], (std::pair<std::string, std::string>("room.1", "a")));
    EXPECT_EQ(got.messages[1], (std::pair<std::string, std::string>("room.2", "b")));
    EXPECT_EQ(got.messages[2], (std::pair<std::string, std::string>("room.1", binary)));

    sub.unsubscribe("room.2");
    EXPECT_FALSE(sub.is_subscribed("room.2"));
    co_await pub.command("PUBLISH", "room.2", "after");
    // Redis drops the subscription too (PUBLISH counts receivers).
    long long receivers = -1;
    for (int i = 0; i < 100 && receivers != 0; ++i) {
      receivers = (co_await pub.command("PUBLISH", "room.2", "after")).integer;
      if (receivers) co_await sleep_for(10ms);
    }
    EXPECT_EQ(receivers, 0);
    co_await pub.command("PUBLISH", "room.1", "last");
    CO_ASSERT_TRUE(co_await eventually([&] { return got.messages.size() >= 4; }));
    EXPECT_EQ(got.messages.size(), 4u) << "a message for an unsubscribed channel was delivered";
    EXPECT_EQ(got.messages[3].second, "last");

    // Unsubscribe then subscribe again at once: confirmed only by the new SUBSCRIBE.
    sub.unsubscribe("room.1");
    co_await sub.subscribe("room.1");
    r = co_await pub.command("PUBLISH", "room.1", "again");
    EXPECT_EQ(r.integer, 1);
  }());
}

TEST(RedisSubscriber, ResubscribesAfterRedisRestartsAndReportsState) {
  duplex::test::redis_server server;
  asio::io_context io;
  received got;
  std::vector<link_state> states;
  std::vector<std::string> log;
  run(io, [&]() -> asio::awaitable<void> {
    auto opts = duplex::redis::options_from_url(server.url());
    opts.backoff_min = 50ms;
    opts.backoff_max = 200ms;
    opts.name = "redis-sub";
    opts.on_state = [&](link_state s, std::error_code) { states.push_back(s); };
    opts.on_log = [&](std::string_view line) { log.emplace_back(line); };
    auto sub = co_await subscriber::connect(opts, got.handler());
    co_await sub.subscribe("a");
    co_await sub.subscribe("b");

    server.kill();
    CO_ASSERT_TRUE(co_await eventually([&] { return !states.empty(); }));
    EXPECT_EQ(states[0], link_state::down);
    EXPECT_FALSE(sub.is_up());
    EXPECT_FALSE(sub.is_subscribed("a"));
    std::error_code ec;
    co_await sub.subscribe("c", ec);  // while down: kept for the reconnect
    EXPECT_EQ(ec, errc::not_connected);
    EXPECT_EQ(sub.channel_count(), 3u);

    co_await sleep_for(300ms);  // reconnect attempts fail meanwhile
    server.start();
    CO_ASSERT_TRUE(co_await eventually([&] { return states.size() >= 2; }, 5s));
    EXPECT_EQ(states[1], link_state::up);
    // Up is reported once every channel is subscribed again.
    EXPECT_TRUE(sub.is_subscribed("a"));
    EXPECT_TRUE(sub.is_subscribed("b"));
    EXPECT_TRUE(sub.is_subscribed("c"));
    auto pub = co_await client::connect(opts);
    for (auto ch : {"a", "b", "c"}) co_await pub.command("PUBLISH", ch, std::string("to ") + ch);
    CO_ASSERT_TRUE(co_await eventually([&] { return got.messages.size() >= 3; }));
    EXPECT_EQ(got.messages[0].second, "to a");
    EXPECT_EQ(got.messages[2].second, "to c");
  }());
  ASSERT_GE(log.size(), 3u);
  auto has = [&](std::string_view what) {
    for (auto& l : log)
      if (l.find(what) != std::string::npos && l.rfind("redis-sub: ", 0) == 0) return true;
    return false;
  };
  EXPECT_TRUE(has("lost"));
  EXPECT_TRUE(has("failed"));
  EXPECT_TRUE(has("connected to"));
}

TEST(RedisSubscriber, IdleHealthChecksKeepAHealthyConnection) {
  duplex::test::redis_server server;
  asio::io_context io;
  received got;
  std::vector<link_state> states;
  run(io, [&]() -> asio::awaitable<void> {
    auto opts = duplex::redis::options_from_url(server.url());
    opts.health_interval = 50ms;
    opts.on_state = [&](link_state s, std::error_code) { states.push_back(s); };
    auto sub = co_await subscriber::connect(opts, got.handler());
    auto cmd = co_await client::connect(opts);
    co_await sub.subscribe("x");
    co_await sleep_for(400ms);  // PINGs in pub/sub mode (and on the command connection) answered
    EXPECT_TRUE(sub.is_up());
    EXPECT_TRUE(cmd.is_up());
    EXPECT_TRUE(states.empty());
    co_await cmd.command("PUBLISH", "x", "still here");
    CO_ASSERT_TRUE(co_await eventually([&] { return got.messages.size() == 1; }));
    EXPECT_EQ(got.messages[0].second, "still here");
  }());
}

TEST(RedisSubscriber, StartDegradedSubscribesWhenRedisAppears) {
  duplex::test::redis_server server(duplex::test::free_port(), false);
  asio::io_context io;
  received got;
  std::vector<link_state> states;
  auto opts = duplex::redis::options_from_url(server.url());
  opts.backoff_min = 50ms;
  opts.backoff_max = 100ms;
  opts.on_state = [&](link_state s, std::error_code) { states.push_back(s); };
  auto sub = subscriber::start(io.get_executor(), opts, got.handler());
  run(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    co_await sub.subscribe("early", ec);
    EXPECT_EQ(ec, errc::not_connected);
    server.start();
    CO_ASSERT_TRUE(co_await eventually([&] { return !states.empty(); }, 5s));
    EXPECT_EQ(states[0], link_state::up);
    EXPECT_TRUE(sub.is_subscribed("early"));
    auto pub = co_await client::connect(opts);
    co_await pub.command("PUBLISH", "early", "hello");
    CO_ASSERT_TRUE(co_await eventually([&] { return got.messages.size() == 1; }));
    EXPECT_EQ(got.messages[0].second, "hello");
  }());
}
