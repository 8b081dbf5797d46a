// duplex::redis::redis_history against a real redis-server: history.hpp's
// engine contract, checked on memory_history and redis_history alike so
// code written against one engine runs unchanged on the other, plus what
// only the broker engine has (later completion, Redis outages).
#include "contract.hpp"
#include "redis_server.hpp"

#include <duplex/realtime/async.hpp>
#include <duplex/redis/client.hpp>
#include <duplex/redis/history.hpp>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <memory>

using namespace std::chrono_literals;
namespace rt = duplex::realtime;
using duplex::test::eventually;

namespace {

using offsets_t = std::vector<std::uint64_t>;

offsets_t offsets(const rt::history_page& p) {
  offsets_t out;
  for (auto& pub : p.publications) out.push_back(pub.offset);
  return out;
}

struct answer {
  std::error_code ec;
  rt::history_page page;
};

// The engine calls through async.hpp's wrappers: what application code awaits.
// (Arguments are views or references to named values, never temporaries
// with destructors: GCC 12 destroys those twice across a co_await.)
asio::awaitable<rt::stream_position> publish(rt::history_engine& h, std::string_view channel,
                                             const std::string& payload) {
  std::error_code ec;
  auto pos = co_await rt::async_publish(h, channel, payload, asio::redirect_error(asio::use_awaitable, ec));
  EXPECT_FALSE(ec) << ec.message();
  co_return pos;
}

// Publishes "m1".."mN"; returns the last position.
asio::awaitable<rt::stream_position> publish_m(rt::history_engine& h, std::string_view channel, int n) {
  rt::stream_position pos;
  for (int i = 1; i <= n; ++i) {
    const std::string payload = "m" + std::to_string(i);
    pos = co_await publish(h, channel, payload);
  }
  co_return pos;
}

asio::awaitable<answer> recent(rt::history_engine& h, std::string_view channel, std::size_t n) {
  answer a;
  a.page = co_await rt::async_recent(h, channel, n, asio::redirect_error(asio::use_awaitable, a.ec));
  co_return a;
}

asio::awaitable<answer> since(rt::history_engine& h, std::string_view channel, const rt::stream_position& after,
                              std::size_t limit = 0) {
  answer a;
  a.page = co_await rt::async_since(h, channel, after, limit, asio::redirect_error(asio::use_awaitable, a.ec));
  co_return a;
}

// async.hpp has no reset(): the same wrapping, here.
template <class CompletionToken>
auto async_reset(rt::history_engine& h, std::string_view channel, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, rt::stream_position)>(
      [&h](auto handler, std::string channel) { h.reset(channel, rt::detail::posting_callback(std::move(handler))); },
      token, std::string(channel));
}

asio::awaitable<rt::stream_position> reset(rt::history_engine& h, std::string_view channel) {
  std::error_code ec;
  auto pos = co_await async_reset(h, channel, asio::redirect_error(asio::use_awaitable, ec));
  EXPECT_FALSE(ec) << ec.message();
  co_return pos;
}

// Runs body(engine) with each engine keeping `retention` publications per channel.
struct memory_engine {
  template <class Body>
  static void with(std::size_t retention, Body body) {
    asio::io_context io;
    rt::memory_history h({.retention = retention});
    duplex::test::run(io, body(h));
  }
};

struct redis_engine {
  template <class Body>
  static void with(std::size_t retention, Body body) {
    duplex::test::redis_server server;
    asio::io_context io;
    duplex::test::run(io, [&]() -> asio::awaitable<void> {
      auto c = co_await duplex::redis::client::connect(duplex::redis::options_from_url(server.url()));
      duplex::redis::redis_history h(c, {.size = retention});
      co_await body(h);
    }());
  }
};

template <class Engine>
class HistoryContract : public ::testing::Test {};
using engines = ::testing::Types<memory_engine, redis_engine>;
TYPED_TEST_SUITE(HistoryContract, engines, duplex::test::engine_names<memory_engine>);

}  // namespace

TYPED_TEST(HistoryContract, PublishNumbersFromOneInOneEpochAndRecentReadsBack) {
  TypeParam::with(1000, [](rt::history_engine& h) -> asio::awaitable<void> {
    // First use creates the channel: an epoch, top 0.
    auto empty = co_await recent(h, "room", 0);
    EXPECT_FALSE(empty.ec);
    EXPECT_EQ(empty.page.top.offset, 0u);
    EXPECT_EQ(empty.page.top.epoch.size(), 16u);
    EXPECT_TRUE(empty.page.publications.empty());
    for (std::uint64_t i = 1; i <= 5; ++i) {
      const std::string payload = "m" + std::to_string(i);
      auto pos = co_await publish(h, "room", payload);
      EXPECT_EQ(pos, (rt::stream_position{i, empty.page.top.epoch}));
    }
    // Channels are numbered independently.
    const std::string x = "x";
    auto other = co_await publish(h, "other", x);
    EXPECT_EQ(other.offset, 1u);
    EXPECT_NE(other.epoch, empty.page.top.epoch);

    auto last3 = co_await recent(h, "room", 3);
    EXPECT_FALSE(last3.ec);
    EXPECT_EQ(last3.page.top, (rt::stream_position{5, empty.page.top.epoch}));
    EXPECT_EQ(offsets(last3.page), (offsets_t{3, 4, 5}));
    CO_ASSERT_EQ(last3.page.publications.size(), 3u);
    EXPECT_EQ(last3.page.publications[0].payload, "m3");
    EXPECT_EQ(last3.page.publications[2].payload, "m5");
    auto all = co_await recent(h, "room", 100);
    EXPECT_EQ(offsets(all.page), (offsets_t{1, 2, 3, 4, 5}));
    auto top = co_await recent(h, "room", 0);  // just the position
    EXPECT_FALSE(top.ec);
    EXPECT_EQ(top.page.top, last3.page.top);
    EXPECT_TRUE(top.page.publications.empty());
  });
}

TYPED_TEST(HistoryContract, SinceAnswersExactlyTheMissedInOrder) {
  TypeParam::with(1000, [](rt::history_engine& h) -> asio::awaitable<void> {
    auto pos = co_await publish_m(h, "room", 6);
    for (std::uint64_t after = 0; after <= 6; ++after) {
      const rt::stream_position at{after, pos.epoch};
      auto a = co_await since(h, "room", at);
      EXPECT_FALSE(a.ec) << after << ": " << a.ec.message();
      EXPECT_EQ(a.page.top, pos);
      offsets_t want;
      for (auto o = after + 1; o <= 6; ++o) want.push_back(o);
      EXPECT_EQ(offsets(a.page), want) << "after " << after;
      for (auto& p : a.page.publications) EXPECT_EQ(p.payload, "m" + std::to_string(p.offset));
    }
    // A limit that covers the missed ones is no limit.
    const rt::stream_position at2{2, pos.epoch};
    auto limited = co_await since(h, "room", at2, 4);
    EXPECT_FALSE(limited.ec);
    EXPECT_EQ(offsets(limited.page), (offsets_t{3, 4, 5, 6}));
    // Up to date: an empty page with the top, not an error.
    auto current = co_await since(h, "room", pos, 1);
    EXPECT_FALSE(current.ec);
    EXPECT_TRUE(current.page.publications.empty());
    EXPECT_EQ(current.page.top, pos);
  });
}

namespace {

struct refusal {
  std::uint64_t offset;
  std::string epoch;  // "" : the channel's
  std::size_t limit;
  rt::errc want;
};

// Against a channel of retention 5 holding 1..10 (only 6..10 kept).
// Built outside the coroutines: GCC 12 rejects braced lists inside them.
std::vector<refusal> refusals() {
  return {
      {3, "0123456789abcdef", 0, rt::errc::epoch_mismatch},
      {0, "-", 0, rt::errc::epoch_mismatch},
      {11, "", 0, rt::errc::position_from_future},
      {7, "", 2, rt::errc::recovery_limit},
      {0, "", 0, rt::errc::gap_beyond_retention},
      {1, "", 0, rt::errc::gap_beyond_retention},
      {4, "", 0, rt::errc::gap_beyond_retention},
      // Lost and over the limit: that it is lost is what the caller must know.
      {1, "", 3, rt::errc::gap_beyond_retention},
  };
}

}  // namespace

TYPED_TEST(HistoryContract, SinceRefusesWithTheSameTypedErrors) {
  TypeParam::with(5, [](rt::history_engine& h) -> asio::awaitable<void> {
    auto pos = co_await publish_m(h, "room", 10);
    for (const auto& r : refusals()) {
      const rt::stream_position at{r.offset, r.epoch.empty() ? pos.epoch : r.epoch};
      auto a = co_await since(h, "room", at, r.limit);
      // Whole (no publications) and still telling the top.
      EXPECT_EQ(a.ec, r.want) << "after " << r.offset << " limit " << r.limit << ": " << a.ec.message();
      EXPECT_TRUE(a.page.publications.empty());
      EXPECT_EQ(a.page.top, pos);
    }
    const rt::stream_position at5{5, pos.epoch};
    auto kept = co_await since(h, "room", at5);
    EXPECT_FALSE(kept.ec);
    EXPECT_EQ(offsets(kept.page), (offsets_t{6, 7, 8, 9, 10}));
  });
}

TYPED_TEST(HistoryContract, ResetStartsANewEpochFromOne) {
  TypeParam::with(1000, [](rt::history_engine& h) -> asio::awaitable<void> {
    const std::string old_payload = "old", new_payload = "new";
    rt::stream_position old;
    for (int i = 1; i <= 3; ++i) old = co_await publish(h, "room", old_payload);
    auto fresh = co_await reset(h, "room");
    EXPECT_EQ(fresh.offset, 0u);
    EXPECT_EQ(fresh.epoch.size(), 16u);
    EXPECT_NE(fresh.epoch, old.epoch);
    auto top = co_await recent(h, "room", 10);
    EXPECT_EQ(top.page.top, fresh);
    EXPECT_TRUE(top.page.publications.empty());
    auto first = co_await publish(h, "room", new_payload);
    EXPECT_EQ(first, (rt::stream_position{1, fresh.epoch}));
    auto stale = co_await since(h, "room", old);
    EXPECT_EQ(stale.ec, rt::errc::epoch_mismatch);
    EXPECT_TRUE(stale.page.publications.empty());
    auto a = co_await since(h, "room", fresh);
    EXPECT_FALSE(a.ec);
    CO_ASSERT_EQ(a.page.publications.size(), 1u);
    EXPECT_EQ(a.page.publications[0], (rt::publication{1, "new"}));
  });
}

// The broker engine answers later on the client's executor, never inside
// the call (the callback API, not async.hpp's wrappers, which always post).
TEST(RedisHistory, CompletesAfterTheCallReturns) {
  duplex::test::redis_server server;
  asio::io_context io;
  duplex::test::run(io, [&]() -> asio::awaitable<void> {
    auto c = co_await duplex::redis::client::connect(duplex::redis::options_from_url(server.url()));
    duplex::redis::redis_history h(c);
    int done = 0;
    rt::stream_position pos;
    h.publish("room", "x", [&](std::error_code ec, rt::stream_position p) {
      EXPECT_FALSE(ec);
      pos = p;
      ++done;
    });
    EXPECT_EQ(done, 0);
    h.recent("room", 1, [&](std::error_code ec, rt::history_page) {
      EXPECT_FALSE(ec);
      ++done;
    });
    EXPECT_EQ(done, 0);
    const rt::stream_position stale{0, "stale"};
    h.since("room", stale, 0, [&](std::error_code ec, rt::history_page) {
      EXPECT_EQ(ec, rt::errc::epoch_mismatch);
      ++done;
    });
    EXPECT_EQ(done, 0);
    h.reset("other", [&](std::error_code ec, rt::stream_position) {
      EXPECT_FALSE(ec);
      ++done;
    });
    EXPECT_EQ(done, 0);
    CO_ASSERT_TRUE(co_await eventually([&] { return done == 4; }));
    EXPECT_EQ(pos.offset, 1u);
  }());
}

// Redis killed: every call completes with the client's error (no hang, no
// throw, no made-up answer); once it is back the client reconnects and the
// channel, whose meta died with Redis, has a new epoch.
TEST(RedisHistory, RedisOutageFailsCallsThenANewEpoch) {
  duplex::test::redis_server server;
  asio::io_context io;
  duplex::test::run(io, [&]() -> asio::awaitable<void> {
    auto opts = duplex::redis::options_from_url(server.url());
    opts.backoff_min = 50ms;
    opts.backoff_max = 200ms;
    opts.command_timeout = 2s;
    auto c = co_await duplex::redis::client::connect(opts);
    duplex::redis::redis_history h(c);
    const std::string kept = "kept", fresh = "new";
    rt::stream_position before;
    for (int i = 0; i < 3; ++i) before = co_await publish(h, "room", kept);

    // Calls racing the crash and calls made once it is noticed alike.
    const rt::stream_position first{1, before.epoch};
    for (int round = 0; round < 2; ++round) {
      server.kill();
      if (round == 1) CO_ASSERT_TRUE(co_await eventually([&] { return !c.is_up(); }));
      std::vector<std::error_code> errors;
      int answered = 0;
      auto failed_read = [&](std::error_code ec, rt::history_page page) {
        errors.push_back(ec);
        EXPECT_TRUE(page.publications.empty());
        ++answered;
      };
      h.publish("room", "lost", [&](std::error_code ec, rt::stream_position) {
        errors.push_back(ec);
        ++answered;
      });
      h.recent("room", 10, failed_read);
      h.since("room", before, 0, failed_read);
      h.since("room", first, 0, failed_read);
      CO_ASSERT_TRUE(co_await eventually([&] { return answered == 4; }, 4s));
      for (auto& ec : errors) {
        EXPECT_TRUE(ec) << "answered while Redis was down";
        EXPECT_EQ(ec.category(), duplex::redis::error_category()) << ec.message();
      }
      server.start();
      CO_ASSERT_TRUE(co_await eventually([&] { return c.is_up(); }, 5s));
    }
    auto after = co_await publish(h, "room", fresh);
    EXPECT_EQ(after.offset, 1u);
    EXPECT_NE(after.epoch, before.epoch);
    auto stale = co_await since(h, "room", before);
    EXPECT_EQ(stale.ec, rt::errc::epoch_mismatch);
    auto a = co_await recent(h, "room", 10);
    EXPECT_FALSE(a.ec);
    EXPECT_EQ(offsets(a.page), (offsets_t{1}));
  }());
}
