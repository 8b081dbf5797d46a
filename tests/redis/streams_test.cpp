#include "redis_server.hpp"

#include <duplex/redis/client.hpp>
#include <duplex/redis/streams.hpp>
#include <duplex/redis/subscriber.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <map>

using namespace std::chrono_literals;
using duplex::redis::client;
using duplex::redis::history_page;
using duplex::redis::stream_position;
using duplex::test::eventually;
using duplex::test::run;
using duplex::test::sleep_for;

namespace {

std::vector<std::uint64_t> offsets(const history_page& p) {
  std::vector<std::uint64_t> out;
  for (auto& pub : p.publications) out.push_back(pub.offset);
  return out;
}

using offsets_t = std::vector<std::uint64_t>;

}  // namespace

TEST(RedisStreams, PublishNumbersAndHistoryReadsBack) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    duplex::redis::streams streams(redis);
    // A quiet channel still gets an epoch to resume from.
    auto empty = co_await streams.recent("room", 0);
    EXPECT_EQ(empty.top.offset, 0u);
    EXPECT_EQ(empty.top.epoch.size(), 16u);
    EXPECT_TRUE(empty.publications.empty());
    for (int i = 1; i <= 5; ++i) {
      const std::string payload = "m" + std::to_string(i);
      auto pos = co_await streams.publish("room", payload);
      EXPECT_EQ(pos.offset, static_cast<std::uint64_t>(i));
      EXPECT_EQ(pos.epoch, empty.top.epoch);
    }
    auto page = co_await streams.recent("room", 3);
    EXPECT_EQ(page.top, (stream_position{5, empty.top.epoch}));
    EXPECT_EQ(offsets(page), (offsets_t{3, 4, 5}));
    EXPECT_EQ(page.publications.back().payload, "m5");
    page = co_await streams.recent("room", 100);
    EXPECT_EQ(offsets(page), (offsets_t{1, 2, 3, 4, 5}));
    page = co_await streams.since("room", 2, 0);
    EXPECT_EQ(offsets(page), (offsets_t{3, 4, 5}));
    page = co_await streams.since("room", 2, 2);
    EXPECT_EQ(offsets(page), (offsets_t{3, 4}));
    page = co_await streams.since("room", 5, 0);
    EXPECT_TRUE(page.publications.empty());
    EXPECT_EQ(page.top.offset, 5u);
    // append(): stored and numbered, not published.
    auto pos = co_await streams.append("room", "quiet");
    EXPECT_EQ(pos.offset, 6u);
    // The documented key layout.
    auto type = co_await redis.command("TYPE", "duplex:stream:{room}");
    EXPECT_EQ(type.str, "stream");
    auto e = co_await redis.command("HGET", "duplex:meta:{room}", "e");
    EXPECT_EQ(e.str, empty.top.epoch);
    auto ttl = co_await redis.command("TTL", "duplex:stream:{room}");
    EXPECT_GT(ttl.integer, 0);
  }());
}

TEST(RedisStreams, KeepsTheLastSizeEntries) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    duplex::redis::stream_config config;
    config.size = 10;
    duplex::redis::streams streams(redis, config);
    for (int i = 1; i <= 25; ++i) co_await streams.publish("c", std::to_string(i));
    auto page = co_await streams.recent("c", 100);
    CO_ASSERT_EQ(page.publications.size(), 10u);
    EXPECT_EQ(page.publications.front().offset, 16u);
    EXPECT_EQ(page.publications.back().payload, "25");
    // A resume from before the window gets what is kept; the first offset
    // (16, not 4) tells the caller the rest was trimmed.
    page = co_await streams.since("c", 3, 0);
    EXPECT_EQ(page.publications.front().offset, 16u);
    EXPECT_EQ(page.top.offset, 25u);
  }());
}

TEST(RedisStreams, LosingTheMetaKeyStartsANewEpoch) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    duplex::redis::streams streams(redis);
    stream_position first;
    for (int i = 0; i < 3; ++i) first = co_await streams.publish("c", "old");
    co_await redis.command("DEL", streams.meta_key("c"));  // as if evicted
    auto pos = co_await streams.publish("c", "new");
    EXPECT_EQ(pos.offset, 1u);
    EXPECT_NE(pos.epoch, first.epoch);
    auto page = co_await streams.recent("c", 10);
    EXPECT_EQ(offsets(page), (offsets_t{1}));  // the old epoch's entries are gone
    EXPECT_EQ(page.publications[0].payload, "new");
    EXPECT_EQ(page.top, pos);

    co_await streams.reset("c");
    page = co_await streams.recent("c", 10);
    EXPECT_TRUE(page.publications.empty());
    EXPECT_EQ(page.top.offset, 0u);
    EXPECT_NE(page.top.epoch, pos.epoch);
  }());
}

TEST(RedisStreams, ConcurrentPublishersGetOneOrderInStreamAndPubSub) {
  duplex::test::redis_server server;
  asio::io_context io;
  std::vector<std::pair<std::uint64_t, std::string>> live;
  std::string live_epoch;
  bool bad_frame = false;
  run(io, [&]() -> asio::awaitable<void> {
    auto opts = duplex::redis::options_from_url(server.url());
    auto a = co_await client::connect(opts);
    auto b = co_await client::connect(opts);
    duplex::redis::streams sa(a), sb(b);
    auto sub = co_await duplex::redis::subscriber::connect(opts, [&](std::string_view ch, std::string_view m) {
      auto channel = sa.channel_of(ch);
      auto p = duplex::redis::parse_live(m);
      if (!channel || *channel != "race" || !p) {
        bad_frame = true;
        return;
      }
      live_epoch = p->epoch;
      live.emplace_back(p->offset, std::string(p->payload));
    });
    co_await sub.subscribe(sa.pubsub_channel("race"));
    constexpr int per_publisher = 500;
    std::map<std::uint64_t, std::string> assigned;
    int done = 0;
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < per_publisher; ++i) {
      for (auto* s : {&sa, &sb}) {
        asio::co_spawn(
            ex,
            [&, s, i]() -> asio::awaitable<void> {
              const std::string payload = (s == &sa ? "a:" : "b:") + std::to_string(i) + std::string("\0x", 2);
              auto pos = co_await s->publish("race", payload);
              assigned.emplace(pos.offset, payload);
              ++done;
            },
            asio::detached);
      }
    }
    while (done < 2 * per_publisher) co_await sleep_for(5ms);
    for (int i = 0; i < 300 && live.size() < 2 * per_publisher; ++i) co_await sleep_for(10ms);
    EXPECT_FALSE(bad_frame);
    // Every offset 1..1000 assigned exactly once.
    CO_ASSERT_EQ(assigned.size(), 2u * per_publisher);
    EXPECT_EQ(assigned.begin()->first, 1u);
    EXPECT_EQ(assigned.rbegin()->first, 2u * per_publisher);
    // Pub/sub delivered them in offset order, with the payload each publisher was told.
    CO_ASSERT_EQ(live.size(), 2u * per_publisher);
    for (std::size_t i = 0; i < live.size(); ++i) {
      EXPECT_EQ(live[i].first, i + 1);
      EXPECT_EQ(live[i].second, assigned[i + 1]);
      if (::testing::Test::HasFailure()) break;
    }
    // And the stream holds the same sequence.
    auto page = co_await sa.recent("race", 2 * per_publisher);
    CO_ASSERT_EQ(page.publications.size(), 2u * per_publisher);
    EXPECT_EQ(page.top.epoch, live_epoch);
    for (std::size_t i = 0; i < page.publications.size(); ++i) {
      EXPECT_EQ(page.publications[i].offset, i + 1);
      EXPECT_EQ(page.publications[i].payload, live[i].second);
      if (::testing::Test::HasFailure()) break;
    }
  }());
}

TEST(RedisStreams, ParseLiveFraming) {
  auto p = duplex::redis::parse_live(std::string_view("12:abc:x:y\0z", 12));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->offset, 12u);
  EXPECT_EQ(p->epoch, "abc");
  EXPECT_EQ(p->payload, std::string_view("x:y\0z", 5));
  EXPECT_TRUE(duplex::redis::parse_live("1:e:"));
  for (auto bad : {"", "1", "1:e", "x:e:p", "0:e:p", ":e:p"}) EXPECT_FALSE(duplex::redis::parse_live(bad)) << bad;
}

// What the broker sees across a Redis outage without persistence: publishes
// fail fast while it is down; afterwards the scripts are loaded again
// (NOSCRIPT) and the channel has a new epoch, which tells resuming clients
// that their positions are void.
TEST(RedisStreams, RedisRestartFailsFastThenGivesANewEpoch) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto opts = duplex::redis::options_from_url(server.url());
    opts.backoff_min = 50ms;
    opts.backoff_max = 200ms;
    auto redis = co_await client::connect(opts);
    duplex::redis::streams streams(redis);
    auto before = co_await streams.publish("room", "one");
    server.kill();
    for (int i = 0; i < 100 && redis.is_up(); ++i) co_await sleep_for(10ms);
    try {
      co_await streams.publish("room", "lost");
      ADD_FAILURE() << "published while Redis was down";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), duplex::redis::errc::not_connected);
    }
    server.start();
    for (int i = 0; i < 200 && !redis.is_up(); ++i) co_await sleep_for(10ms);
    CO_ASSERT_TRUE(redis.is_up());
    auto after = co_await streams.publish("room", "two");
    EXPECT_EQ(after.offset, 1u);
    EXPECT_NE(after.epoch, before.epoch);
  }());
}
