// The presence manager contract (duplex/realtime/presence_manager.hpp),
// checked on memory_presence and redis_presence alike; names shared by two
// nodes against a real redis-server.
#include "contract.hpp"
#include "redis_server.hpp"

#include <duplex/realtime/error.hpp>
#include <duplex/realtime/presence_manager.hpp>
#include <duplex/redis/presence_manager.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <optional>

namespace rt = duplex::realtime;
using namespace std::chrono_literals;
using duplex::test::eventually;
using duplex::test::sleep_for;
using clock_type = rt::presence_manager::clock;

namespace {

// claim() on every node, then join() here: what a server does for a joiner.
asio::awaitable<std::error_code> take(rt::presence_manager& p, const std::string& ch, const std::string& name,
                                      const std::string& token) {
  auto done = std::make_shared<std::optional<std::error_code>>();
  p.claim(ch, name, token, [done](std::error_code ec) { *done = ec; });
  EXPECT_TRUE(co_await eventually([&] { return done->has_value(); }, 5s));
  if (**done) co_return **done;
  co_return p.join(ch, name, token, clock_type::now());
}

std::vector<std::string> names(const rt::presence& p) {
  std::vector<std::string> out;
  for (auto& m : p.snapshot(100).members) out.push_back(m.name);
  return out;
}

const rt::presence::config grace{200ms};

struct memory_engine {
  template <class Body>
  static void with(Body body) {
    asio::io_context io;
    rt::memory_presence p(grace);
    duplex::test::run(io, body(p));
  }
};

asio::awaitable<duplex::redis::client> connect(const std::string& url) {
  co_return co_await duplex::redis::client::connect(duplex::redis::options_from_url(url));
}

duplex::redis::presence_options node_options(std::string name) {
  return {.node = std::move(name), .ttl = 3000ms, .sync = 50ms};
}

struct redis_engine {
  template <class Body>
  static void with(Body body) {
    duplex::test::redis_server server;
    asio::io_context io;
    duplex::test::run(io, [&]() -> asio::awaitable<void> {
      auto c = co_await connect(server.url());
      duplex::redis::redis_presence p(c, node_options("a"), grace);
      co_await body(p);
    }());
  }
};

template <class Engine>
class PresenceContract : public ::testing::Test {};
using engines = ::testing::Types<memory_engine, redis_engine>;
TYPED_TEST_SUITE(PresenceContract, engines, duplex::test::engine_names<memory_engine>);

}  // namespace

TYPED_TEST(PresenceContract, ANameIsOneMembersAndTheDiffCarriesTheJoin) {
  TypeParam::with([](rt::presence_manager& p) -> asio::awaitable<void> {
    const auto& room = p.open("room");
    EXPECT_FALSE(p.local_members("room"));
    EXPECT_FALSE(co_await take(p, "room", "ann", "t1"));
    EXPECT_EQ(co_await take(p, "room", "ann", "t2"), rt::errc::name_taken);
    EXPECT_FALSE(co_await take(p, "room", "bob", "t3"));
    EXPECT_TRUE(p.local_members("room"));
    auto diff = p.tick("room", clock_type::now());
    CO_ASSERT_EQ(diff.joins.size(), 2u);
    EXPECT_EQ(diff.joins[0].name, "ann");
    EXPECT_EQ(names(room), (std::vector<std::string>{"ann", "bob"}));
    EXPECT_TRUE(p.leave("room", "bob", "t3"));
    EXPECT_FALSE(co_await take(p, "room", "bob", "t4")) << "a left name is free at once";
  });
}

TYPED_TEST(PresenceContract, ADroppedMemberKeepsItsNameForTheGraceThenItIsFree) {
  TypeParam::with([](rt::presence_manager& p) -> asio::awaitable<void> {
    p.open("room");
    EXPECT_FALSE(co_await take(p, "room", "ann", "t1"));
    p.tick("room", clock_type::now());
    EXPECT_TRUE(p.disconnect("room", "ann", "t1", clock_type::now()));
    EXPECT_EQ(co_await take(p, "room", "ann", "t2"), rt::errc::name_taken);
    // Its own token takes it back within the grace: no leave, no join.
    EXPECT_FALSE(co_await take(p, "room", "ann", "t1"));
    EXPECT_TRUE(p.tick("room", clock_type::now()).empty());
    EXPECT_TRUE(p.disconnect("room", "ann", "t1", clock_type::now()));
    co_await sleep_for(300ms);
    auto diff = p.tick("room", clock_type::now());
    EXPECT_EQ(diff.leaves, (std::vector<std::string>{"ann"}));
    EXPECT_FALSE(p.local_members("room"));
    EXPECT_FALSE(co_await take(p, "room", "ann", "t2")) << "free on every node once the grace ended";
  });
}

// Redis only: two nodes.

TEST(RedisPresence, TwoNodesShareNamesAndSeeEachOthersMembers) {
  duplex::test::redis_server server;
  asio::io_context io;
  duplex::test::run(io, [&]() -> asio::awaitable<void> {
    auto ca = co_await connect(server.url());
    auto cb = co_await connect(server.url());
    duplex::redis::redis_presence a(ca, node_options("a"), grace), b(cb, node_options("b"), grace);
    const auto& at_b = b.open("room");
    a.open("room");
    EXPECT_FALSE(co_await take(a, "room", "ann", "t1"));
    EXPECT_EQ(co_await take(b, "room", "ann", "t2"), rt::errc::name_taken) << "held on the other node";
    a.maintain(clock_type::now());
    b.maintain(clock_type::now());
    CO_ASSERT_TRUE(co_await eventually([&] { return at_b.holds("ann"); }));
    auto diff = b.tick("room", clock_type::now());
    CO_ASSERT_EQ(diff.joins.size(), 1u);
    EXPECT_EQ(diff.joins[0].name, "ann");
    EXPECT_FALSE(b.local_members("room")) << "another node's member is not this node's";
    a.leave("room", "ann", "t1");
    co_await sleep_for(100ms);
    b.maintain(clock_type::now());
    CO_ASSERT_TRUE(co_await eventually([&] { return !at_b.holds("ann"); }));
    EXPECT_EQ(b.tick("room", clock_type::now()).leaves, (std::vector<std::string>{"ann"}));
    EXPECT_FALSE(co_await take(b, "room", "ann", "t2"));
  });
}

TEST(RedisPresence, AMemberWhoMovesToAnotherNodeIsLostByTheFirst) {
  duplex::test::redis_server server;
  asio::io_context io;
  duplex::test::run(io, [&]() -> asio::awaitable<void> {
    auto ca = co_await connect(server.url());
    auto cb = co_await connect(server.url());
    duplex::redis::redis_presence a(ca, node_options("a"), grace), b(cb, node_options("b"), grace);
    std::vector<std::string> lost;
    a.set_lost_handler([&](std::string_view ch, const std::string& n) { lost.push_back(std::string(ch) + "/" + n); });
    const auto& at_a = a.open("room");
    b.open("room");
    EXPECT_FALSE(co_await take(a, "room", "ann", "t1"));
    EXPECT_FALSE(co_await take(b, "room", "ann", "t1")) << "its token takes the name on another node";
    a.maintain(clock_type::now());  // the refresh finds it held by b
    CO_ASSERT_TRUE(co_await eventually([&] { return !lost.empty(); }));
    EXPECT_EQ(lost, (std::vector<std::string>{"room/ann"}));
    EXPECT_FALSE(at_a.holds("ann") && a.local_members("room"));
  });
}

TEST(RedisPresence, ClaimsWhileRedisIsDownAreCheckedHereAndReAddedWhenItIsBack) {
  duplex::test::redis_server server;
  asio::io_context io;
  duplex::test::run(io, [&]() -> asio::awaitable<void> {
    auto opts = duplex::redis::options_from_url(server.url());
    opts.backoff_min = 50ms;
    opts.backoff_max = 200ms;
    auto ca = co_await duplex::redis::client::connect(opts);
    duplex::redis::redis_presence a(ca, node_options("a"), grace);
    a.open("room");
    server.kill();
    CO_ASSERT_TRUE(co_await eventually([&] { return !ca.is_up(); }, 5s));
    a.maintain(clock_type::now());
    EXPECT_FALSE(co_await take(a, "room", "ann", "t1")) << "down: this node decides";
    EXPECT_EQ(co_await take(a, "room", "ann", "t2"), rt::errc::name_taken);
    server.start();
    CO_ASSERT_TRUE(co_await eventually([&] { return ca.is_up(); }, 10s));
    a.maintain(clock_type::now());  // back: the refresh re-adds ann
    auto cb = co_await connect(server.url());
    duplex::redis::redis_presence b(cb, node_options("b"), grace);
    b.open("room");
    EXPECT_EQ(co_await take(b, "room", "ann", "t2"), rt::errc::name_taken) << "re-added to Redis";
  });
}
