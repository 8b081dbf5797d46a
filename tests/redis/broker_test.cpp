// The broker contract (duplex/realtime/broker.hpp), checked on
// memory_broker and redis_broker alike; the cases only a shared backend has
// (other nodes, lost pub/sub messages, duplicates, outages, a Redis that
// restarts empty) against a real redis-server.
#include "contract.hpp"
#include "redis_server.hpp"

#include <duplex/realtime/async.hpp>
#include <duplex/realtime/broker.hpp>
#include <duplex/redis/broker.hpp>

#include <asio/redirect_error.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <optional>

namespace rt = duplex::realtime;
using namespace std::chrono_literals;
using duplex::test::eventually;
using duplex::test::sleep_for;

namespace {

struct got_t {
  std::string channel;
  rt::stream_position pos;
  std::string payload;
};

// One node's broker and what its handler received.
struct node {
  rt::broker* b = nullptr;
  std::vector<got_t> got;
  std::vector<std::string> resyncs;
  void attach(rt::broker& broker) {
    b = &broker;
    b->set_handlers({[this](std::string_view ch, const rt::stream_position& pos, const std::string& p) {
                       got.push_back({std::string(ch), pos, p});
                     },
                     [this](std::string_view ch) { resyncs.emplace_back(ch); }});
  }
  std::vector<std::uint64_t> offsets() const {
    std::vector<std::uint64_t> out;
    for (auto& g : got) out.push_back(g.pos.offset);
    return out;
  }
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (auto& g : got) out.push_back(g.payload);
    return out;
  }
};

struct answer {
  std::error_code ec;
  rt::stream_position pos;
};

// Handlers as awaitables (the contract allows inline or later completion).
asio::awaitable<answer> subscribe(rt::broker& b, const std::string& channel) {
  auto done = std::make_shared<std::optional<answer>>();
  b.subscribe(channel, [done](std::error_code ec, rt::stream_position top) { *done = answer{ec, std::move(top)}; });
  EXPECT_TRUE(co_await eventually([&] { return done->has_value(); }, 5s)) << "subscribe " << channel;
  co_return done->value_or(answer{});
}

asio::awaitable<answer> publish(rt::broker& b, const std::string& channel, const std::string& payload) {
  auto done = std::make_shared<std::optional<answer>>();
  b.publish(channel, payload, [done](std::error_code ec, rt::stream_position pos) { *done = answer{ec, std::move(pos)}; });
  EXPECT_TRUE(co_await eventually([&] { return done->has_value(); }, 5s)) << "publish " << payload;
  co_return done->value_or(answer{});
}

std::vector<std::uint64_t> one_to(std::uint64_t n) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

// A node on Redis: its two connections wired to its broker as main() does.
struct redis_node {
  duplex::redis::client c;
  duplex::redis::subscriber s;
  std::unique_ptr<duplex::redis::redis_broker> broker;
  node n;
  static asio::awaitable<std::unique_ptr<redis_node>> connect(const std::string& url, const std::string& name) {
    auto r = std::make_unique<redis_node>();
    auto* self = r.get();
    auto opts = duplex::redis::options_from_url(url);
    opts.backoff_min = 50ms;
    opts.backoff_max = 200ms;
    auto sub_opts = opts;
    opts.on_state = [self](duplex::redis::link_state, std::error_code) {
      if (self->broker) self->broker->on_state(false);
    };
    sub_opts.on_state = [self](duplex::redis::link_state st, std::error_code) {
      if (self->broker) self->broker->on_state(st == duplex::redis::link_state::up);
    };
    r->c = co_await duplex::redis::client::connect(opts);
    r->s = co_await duplex::redis::subscriber::connect(sub_opts, [self](std::string_view ch, std::string_view p) {
      if (self->broker) self->broker->on_message(ch, p);
    });
    r->broker = std::make_unique<duplex::redis::redis_broker>(r->c, r->s, duplex::redis::broker_options{.node = name});
    r->n.attach(*r->broker);
    co_return r;
  }
};

struct memory_engine {
  template <class Body>
  static void with(Body body) {
    asio::io_context io;
    rt::memory_history h;
    rt::memory_broker b(h);
    node n;
    n.attach(b);
    duplex::test::run(io, body(n));
  }
};

struct redis_engine {
  template <class Body>
  static void with(Body body) {
    duplex::test::redis_server server;
    asio::io_context io;
    duplex::test::run(io, [&]() -> asio::awaitable<void> {
      auto r = co_await redis_node::connect(server.url(), "a");
      co_await body(r->n);
    }());
  }
};

template <class Engine>
class BrokerContract : public ::testing::Test {};
using engines = ::testing::Types<memory_engine, redis_engine>;
TYPED_TEST_SUITE(BrokerContract, engines, duplex::test::engine_names<memory_engine>);

}  // namespace

TYPED_TEST(BrokerContract, SubscribeGivesTheTopThenEveryPublicationInOrderOnce) {
  TypeParam::with([](node& n) -> asio::awaitable<void> {
    auto ready = co_await subscribe(*n.b, "room");
    EXPECT_FALSE(ready.ec) << ready.ec.message();
    EXPECT_EQ(ready.pos.offset, 0u);
    CO_ASSERT_TRUE(!ready.pos.epoch.empty());
    std::vector<rt::stream_position> published;
    for (int i = 1; i <= 20; ++i) {
      auto a = co_await publish(*n.b, "room", "m" + std::to_string(i));
      EXPECT_FALSE(a.ec);
      published.push_back(a.pos);
    }
    CO_ASSERT_TRUE(co_await eventually([&] { return n.got.size() >= 20; }));
    co_await sleep_for(50ms);  // nothing more comes
    EXPECT_EQ(n.offsets(), one_to(20));
    for (std::size_t i = 0; i < n.got.size(); ++i) {
      EXPECT_EQ(n.got[i].pos, published[i]);
      EXPECT_EQ(n.got[i].pos.epoch, ready.pos.epoch);
      EXPECT_EQ(n.got[i].payload, "m" + std::to_string(i + 1));
      EXPECT_EQ(n.got[i].channel, "room");
    }
    EXPECT_EQ(n.b->position("room"), published.back());
  });
}

TYPED_TEST(BrokerContract, AHistoryReadAfterReadyAndTheLivePublicationsMissNothing) {
  TypeParam::with([](node& n) -> asio::awaitable<void> {
    for (int i = 1; i <= 3; ++i) co_await publish(*n.b, "room", "old" + std::to_string(i));
    auto ready = co_await subscribe(*n.b, "room");
    EXPECT_EQ(ready.pos.offset, 3u);
    std::error_code ec;
    auto page = co_await rt::async_recent(n.b->history(), "room", 10, asio::redirect_error(asio::use_awaitable, ec));
    EXPECT_FALSE(ec);
    EXPECT_EQ(page.top, ready.pos);
    EXPECT_EQ(page.publications.size(), 3u);
    co_await publish(*n.b, "room", "new4");
    co_await publish(*n.b, "room", "new5");
    CO_ASSERT_TRUE(co_await eventually([&] { return n.got.size() >= 2; }));
    co_await sleep_for(50ms);
    EXPECT_EQ(n.offsets(), (std::vector<std::uint64_t>{4, 5}));
    EXPECT_EQ(n.payloads(), (std::vector<std::string>{"new4", "new5"}));
    // Subscribing again answers the top at once, with nothing replayed.
    auto again = co_await subscribe(*n.b, "room");
    EXPECT_EQ(again.pos.offset, 5u);
    EXPECT_EQ(n.got.size(), 2u);
  });
}

TYPED_TEST(BrokerContract, ChannelsNotSubscribedReachNobody) {
  TypeParam::with([](node& n) -> asio::awaitable<void> {
    co_await subscribe(*n.b, "a");
    co_await publish(*n.b, "b", "not for us");
    co_await publish(*n.b, "a", "one");
    CO_ASSERT_TRUE(co_await eventually([&] { return n.got.size() >= 1; }));
    n.b->unsubscribe("a");
    auto after = co_await publish(*n.b, "a", "after");
    EXPECT_EQ(after.pos.offset, 2u);  // stored all the same
    co_await sleep_for(100ms);
    EXPECT_EQ(n.payloads(), (std::vector<std::string>{"one"}));
  });
}

// Redis only: what a shared backend adds.

TEST(RedisBroker, TwoNodesReceiveEachOthersPublicationsInOneOrder) {
  duplex::test::redis_server server;
  asio::io_context io;
  duplex::test::run(io, [&]() -> asio::awaitable<void> {
    auto a = co_await redis_node::connect(server.url(), "a");
    auto b = co_await redis_node::connect(server.url(), "b");
    co_await subscribe(*a->broker, "room");
    co_await subscribe(*b->broker, "room");
    for (int i = 0; i < 30; ++i) (i % 2 ? a : b)->broker->publish("room", "m" + std::to_string(i), nullptr);
    CO_ASSERT_TRUE(co_await eventually([&] { return a->n.got.size() >= 30 && b->n.got.size() >= 30; }));
    co_await sleep_for(100ms);
    EXPECT_EQ(a->n.offsets(), one_to(30));
    EXPECT_EQ(a->n.payloads(), b->n.payloads());
  });
}

TEST(RedisBroker, LostPubSubMessagesAreReadFromTheStreamBeforeLaterOnesAndDuplicatesDropped) {
  duplex::test::redis_server server;
  asio::io_context io;
  duplex::test::run(io, [&]() -> asio::awaitable<void> {
    auto a = co_await redis_node::connect(server.url(), "a");
    co_await subscribe(*a->broker, "room");
    co_await publish(*a->broker, "room", "m1");
    CO_ASSERT_TRUE(co_await eventually([&] { return a->n.got.size() >= 1; }));
    // Two stored without their PUBLISH: as if pub/sub lost them.
    duplex::redis::redis_history h(a->c);
    co_await h.streams().append("room", "m2");
    co_await h.streams().append("room", "m3");
    const auto gaps = a->broker->stats().gaps_filled.load();
    co_await publish(*a->broker, "room", "m4");
    CO_ASSERT_TRUE(co_await eventually([&] { return a->n.got.size() >= 4; }));
    EXPECT_EQ(a->n.payloads(), (std::vector<std::string>{"m1", "m2", "m3", "m4"}));
    EXPECT_GT(a->broker->stats().gaps_filled.load(), gaps);
    // The same message twice (a redelivery) and an old one: delivered never again.
    const auto top = a->n.got.back().pos;
    const std::string channel = h.streams().pubsub_channel("room");
    EXPECT_TRUE(a->broker->on_message(channel, std::to_string(top.offset) + ":" + top.epoch + ":m4"));
    EXPECT_TRUE(a->broker->on_message(channel, "2:" + top.epoch + ":m2"));
    EXPECT_FALSE(a->broker->on_message("not-a-broker-channel", "1:x:y"));
    co_await sleep_for(100ms);
    EXPECT_EQ(a->n.got.size(), 4u);
  });
}

TEST(RedisBroker, AnOutageDeliversHereAtOnceQueuesAndPublishesOnceWhenRedisIsBack) {
  duplex::test::redis_server server;
  asio::io_context io;
  duplex::test::run(io, [&]() -> asio::awaitable<void> {
    auto a = co_await redis_node::connect(server.url(), "a");
    auto b = co_await redis_node::connect(server.url(), "b");
    co_await subscribe(*a->broker, "room");
    co_await subscribe(*b->broker, "room");
    co_await publish(*a->broker, "room", "before");
    CO_ASSERT_TRUE(co_await eventually([&] { return b->n.got.size() >= 1; }));
    server.kill();
    CO_ASSERT_TRUE(co_await eventually([&] { return !a->broker->up(); }, 5s));
    auto during1 = co_await publish(*a->broker, "room", "during1");
    auto during2 = co_await publish(*a->broker, "room", "during2");
    EXPECT_TRUE(during1.ec) << "not stored while Redis is down";
    EXPECT_TRUE(during2.ec);
    // Here at once, in the stand-in epoch.
    CO_ASSERT_EQ(a->n.got.size(), 3u);
    EXPECT_EQ(a->n.got[1].pos, (rt::stream_position{1, "local-a"}));
    EXPECT_EQ(a->n.got[2].pos, (rt::stream_position{2, "local-a"}));
    EXPECT_EQ(a->broker->stats().queued.load(), 2u);
    server.start();  // empty: the room gets a new epoch
    CO_ASSERT_TRUE(co_await eventually([&] { return b->n.got.size() >= 3; }, 10s));
    co_await sleep_for(300ms);
    // The other node gets them once, in order; this one not again.
    EXPECT_EQ(b->n.payloads(), (std::vector<std::string>{"before", "during1", "during2"}));
    EXPECT_NE(b->n.got[1].pos.epoch, b->n.got[0].pos.epoch);
    EXPECT_EQ(a->n.payloads(), (std::vector<std::string>{"before", "during1", "during2"}));
    EXPECT_EQ(a->broker->stats().queued.load(), 0u);
    // And they are stored, in order.
    std::error_code ec;
    auto page = co_await rt::async_recent(a->broker->history(), "room", 10, asio::redirect_error(asio::use_awaitable, ec));
    EXPECT_FALSE(ec);
    CO_ASSERT_EQ(page.publications.size(), 2u);
    EXPECT_EQ(page.publications[0].payload, "during1");
    EXPECT_EQ(page.publications[1].payload, "during2");
    // A line after the outage follows them everywhere.
    co_await publish(*b->broker, "room", "after");
    CO_ASSERT_TRUE(co_await eventually([&] { return a->n.got.size() >= 4 && b->n.got.size() >= 4; }));
    EXPECT_EQ(a->n.got.back().payload, "after");
    EXPECT_EQ(a->n.got.back().pos, b->n.got.back().pos);
  });
}

TEST(RedisBroker, ASubscribeWhileRedisIsDownAsksForAResyncWhenItIsBack) {
  duplex::test::redis_server server;
  asio::io_context io;
  duplex::test::run(io, [&]() -> asio::awaitable<void> {
    auto a = co_await redis_node::connect(server.url(), "a");
    server.kill();
    CO_ASSERT_TRUE(co_await eventually([&] { return !a->broker->up(); }, 5s));
    auto ready = co_await subscribe(*a->broker, "room");
    EXPECT_TRUE(ready.ec);
    EXPECT_TRUE(ready.pos.epoch.empty()) << "top unknown";
    server.start();
    CO_ASSERT_TRUE(co_await eventually([&] { return !a->n.resyncs.empty(); }, 10s));
    EXPECT_EQ(a->n.resyncs.front(), "room");
    auto again = co_await subscribe(*a->broker, "room");
    EXPECT_FALSE(again.ec);
    EXPECT_FALSE(again.pos.epoch.empty());
    co_await publish(*a->broker, "room", "x");
    CO_ASSERT_TRUE(co_await eventually([&] { return a->n.got.size() >= 1; }));
    EXPECT_EQ(a->n.got[0].pos, (rt::stream_position{1, again.pos.epoch}));
  });
}
