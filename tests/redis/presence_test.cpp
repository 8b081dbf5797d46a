// presence_store against a real redis-server: TTLs, and owned entries
// (claim/refresh/release): unique names across instances, members moving
// between instances, a dead instance's members expiring.
#include "redis_server.hpp"

#include <duplex/redis/client.hpp>
#include <duplex/redis/presence.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using duplex::redis::client;
using duplex::redis::presence_config;
using duplex::redis::presence_store;
using duplex::test::run;
using duplex::test::sleep_for;

namespace {

using ids_and_keys = std::vector<std::pair<std::string, std::string>>;
using ids = std::vector<std::string>;

// The stored info of `id` ("" if none).
asio::awaitable<std::string> info_of(client& redis, const presence_store& presence, std::string id) {
  const std::string hash = presence.hash_key("room");
  auto r = co_await redis.command("HGET", hash, id);
  co_return r.str;
}

presence_config with_ttl(std::chrono::milliseconds ttl) {
  presence_config c;
  c.ttl = ttl;
  return c;
}

// Built outside the coroutines: GCC 12 rejects braced lists inside them.
const ids_and_keys ada_bob{{"ada", "k1"}, {"bob", "k2"}};
const ids_and_keys ada_bob_cy{{"ada", "k1"}, {"bob", "k2"}, {"cy", "k3"}};
const ids_and_keys ada{{"ada", "k1"}};
const ids bob_cy{"bob", "cy"};
const ids just_ada{"ada"};

}  // namespace

TEST(RedisPresence, MembersExpireUnlessRefreshed) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    duplex::redis::presence_config config;
    config.ttl = 400ms;
    duplex::redis::presence_store presence(redis, config);
    co_await presence.add("room", "alice", R"({"name":"alice"})");
    co_await presence.add("room", "bob", "{}");
    auto list = co_await presence.list("room");
    std::sort(list.begin(), list.end(), [](auto& x, auto& y) { return x.client_id < y.client_id; });
    CO_ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0], (duplex::redis::presence_entry{"alice", R"({"name":"alice"})"}));
    EXPECT_EQ(co_await presence.count("room"), 2u);
    auto pttl = co_await redis.command("PTTL", presence.zset_key("room"));
    EXPECT_GT(pttl.integer, 0);
    EXPECT_LE(pttl.integer, 400);

    co_await sleep_for(250ms);
    co_await presence.add("room", "alice", "{}");  // the refresh
    co_await sleep_for(250ms);                     // bob is past his TTL, alice is not
    EXPECT_EQ(co_await presence.count("room"), 1u);
    list = co_await presence.list("room");
    CO_ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].client_id, "alice");
    auto bob = co_await redis.command("HEXISTS", presence.hash_key("room"), "bob");
    EXPECT_EQ(bob.integer, 0) << "list() did not prune the expired member's info";

    co_await presence.remove("room", "alice");
    EXPECT_TRUE((co_await presence.list("room")).empty());
    // Nobody refreshes: the keys themselves go.
    co_await presence.add("room", "carol", "{}");
    co_await sleep_for(500ms);
    auto exists = co_await redis.command("EXISTS", presence.zset_key("room"), presence.hash_key("room"));
    EXPECT_EQ(exists.integer, 0);
  }());
}

TEST(RedisPresence, ParseOwnerSplitsAtTheFirstNewline) {
  auto owner = duplex::redis::parse_owner("tok\ninst-a");
  ASSERT_TRUE(owner);
  EXPECT_EQ(owner->key, "tok");
  EXPECT_EQ(owner->holder, "inst-a");
  EXPECT_FALSE(duplex::redis::parse_owner(R"({"name":"ada"})"));
}

TEST(RedisPresence, ClaimIsUniquePerKeyAndMovesBetweenHolders) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    presence_store presence(redis, with_ttl(10s));
    EXPECT_TRUE(co_await presence.claim("room", "ada", "k1", "A"));
    EXPECT_EQ(co_await info_of(redis, presence, "ada"), "k1\nA");
    // Another member (key) cannot take the name, from any instance.
    EXPECT_FALSE(co_await presence.claim("room", "ada", "k2", "B"));
    EXPECT_FALSE(co_await presence.claim("room", "ada", "k2", "A"));
    EXPECT_EQ(co_await info_of(redis, presence, "ada"), "k1\nA");
    // The same member, moving to instance B with its token.
    EXPECT_TRUE(co_await presence.claim("room", "ada", "k1", "B"));
    EXPECT_EQ(co_await info_of(redis, presence, "ada"), "k1\nB");
    // A key that is a prefix of the stored one is another key.
    EXPECT_FALSE(co_await presence.claim("room", "ada", "k", "B"));
    auto list = co_await presence.list("room");
    CO_ASSERT_EQ(list.size(), 1u);
    auto owner = duplex::redis::parse_owner(list[0].info);
    CO_ASSERT_TRUE(owner.has_value());
    EXPECT_EQ(owner->key, "k1");
    EXPECT_EQ(owner->holder, "B");
    auto pttl = co_await redis.command("PTTL", presence.zset_key("room"));
    EXPECT_GT(pttl.integer, 5000);
  }());
}

TEST(RedisPresence, ReleaseRemovesOnlyForTheHolder) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    presence_store presence(redis, with_ttl(10s));
    CO_ASSERT_TRUE(co_await presence.claim("room", "ada", "k1", "A"));
    CO_ASSERT_TRUE(co_await presence.claim("room", "ada", "k1", "B"));  // moved to B
    co_await presence.release("room", "ada", "A");                      // A's old connection closes late
    EXPECT_EQ(co_await presence.count("room"), 1u);
    EXPECT_EQ(co_await info_of(redis, presence, "ada"), "k1\nB");
    co_await presence.release("room", "ada", "B");
    EXPECT_EQ(co_await presence.count("room"), 0u);
    auto exists = co_await redis.command("HEXISTS", presence.hash_key("room"), "ada");
    EXPECT_EQ(exists.integer, 0);
  }());
}

TEST(RedisPresence, RefreshKeepsOwnEntriesAlivePastTheTtl) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    presence_store presence(redis, with_ttl(600ms));
    const ids_and_keys& mine = ada_bob;
    CO_ASSERT_TRUE(co_await presence.claim("room", "ada", "k1", "A"));
    CO_ASSERT_TRUE(co_await presence.claim("room", "bob", "k2", "A"));
    CO_ASSERT_TRUE(co_await presence.claim("room", "dan", "k4", "B"));  // B died: nobody refreshes dan
    // 4 x 200 ms: past the TTL, and each check comes before the refresh.
    for (int i = 0; i < 4; ++i) {
      co_await sleep_for(200ms);
      auto live = co_await presence.count("room");
      EXPECT_GE(live, 2u) << "after " << (i + 1) * 200 << " ms";
      EXPECT_TRUE((co_await presence.refresh("room", mine, "A")).empty());
    }
    auto list = co_await presence.list("room");
    std::sort(list.begin(), list.end(), [](auto& x, auto& y) { return x.client_id < y.client_id; });
    CO_ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].client_id, "ada");
    EXPECT_EQ(list[0].info, "k1\nA");
    EXPECT_EQ(list[1].client_id, "bob");
    EXPECT_EQ(list[1].info, "k2\nA");
  }());
}

TEST(RedisPresence, RefreshReAddsAfterAFlushAndReportsTakenIds) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    presence_store presence(redis, with_ttl(10s));
    const ids_and_keys& mine = ada_bob_cy;
    for (auto& [id, key] : mine) CO_ASSERT_TRUE(co_await presence.claim("room", id, key, "A"));
    // cy moves to B; bob leaves and another member takes his name on B.
    CO_ASSERT_TRUE(co_await presence.claim("room", "cy", "k3", "B"));
    co_await presence.release("room", "bob", "A");
    CO_ASSERT_TRUE(co_await presence.claim("room", "bob", "other", "B"));
    auto lost = co_await presence.refresh("room", mine, "A");
    std::sort(lost.begin(), lost.end());
    EXPECT_EQ(lost, bob_cy);
    EXPECT_EQ(co_await info_of(redis, presence, "ada"), "k1\nA");
    EXPECT_EQ(co_await info_of(redis, presence, "bob"), "other\nB");
    EXPECT_EQ(co_await info_of(redis, presence, "cy"), "k3\nB");

    // Redis lost everything: A puts back what it serves.
    co_await redis.command("FLUSHALL");
    EXPECT_TRUE((co_await presence.refresh("room", ada, "A")).empty());
    auto list = co_await presence.list("room");
    CO_ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].client_id, "ada");
    EXPECT_EQ(list[0].info, "k1\nA");
    auto pttl = co_await redis.command("PTTL", presence.hash_key("room"));
    EXPECT_GT(pttl.integer, 5000);
  }());
}

// More pairs than one unpack() takes.
TEST(RedisPresence, RefreshTakesThousandsOfIdsInOneCall) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    presence_store presence(redis, with_ttl(10s));
    ids_and_keys many;
    for (int i = 0; i < 5000; ++i) many.emplace_back("m" + std::to_string(i), "k" + std::to_string(i));
    EXPECT_TRUE((co_await presence.refresh("room", many, "A")).empty());
    EXPECT_EQ(co_await presence.count("room"), 5000u);
    EXPECT_EQ(co_await info_of(redis, presence, "m4999"), "k4999\nA");
  }());
}

TEST(RedisPresence, AnExpiredEntryCanBeClaimedByAnotherKey) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(duplex::redis::options_from_url(server.url()));
    presence_store presence(redis, with_ttl(300ms));
    CO_ASSERT_TRUE(co_await presence.claim("room", "ada", "k1", "A"));
    EXPECT_FALSE(co_await presence.claim("room", "ada", "k2", "B"));
    // A died. bob's claim keeps the keys alive, so ada's expired entry is
    // still stored when B claims the name.
    co_await sleep_for(200ms);
    CO_ASSERT_TRUE(co_await presence.claim("room", "bob", "k9", "B"));
    co_await sleep_for(200ms);
    EXPECT_TRUE(co_await presence.claim("room", "ada", "k2", "B"));
    EXPECT_EQ(co_await info_of(redis, presence, "ada"), "k2\nB");
    // A comes back: its member's name is gone.
    EXPECT_EQ(co_await presence.refresh("room", ada, "A"), just_ada);
  }());
}
