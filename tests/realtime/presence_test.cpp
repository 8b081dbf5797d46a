#include <duplex/realtime/presence.hpp>

#include <gtest/gtest.h>

namespace rt = duplex::realtime;
using namespace std::chrono_literals;

namespace {

rt::presence::clock::time_point t0{};

std::vector<std::string> names(const std::vector<rt::presence_member>& v) {
  std::vector<std::string> out;
  for (auto& m : v) out.push_back(m.name);
  return out;
}

}  // namespace

TEST(Presence, JoinsAreCoalescedIntoOneDiffPerTick) {
  rt::presence p;
  ASSERT_FALSE(p.join("bob", "t1", "{}", t0));
  ASSERT_FALSE(p.join("alice", "t2", "{\"tab\":1}", t0));
  auto d = p.tick(t0 + 100ms);
  EXPECT_EQ(names(d.joins), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(d.joins[0].info, "{\"tab\":1}");
  EXPECT_TRUE(d.leaves.empty());
  EXPECT_TRUE(p.tick(t0 + 200ms).empty());
}

TEST(Presence, JoinAndLeaveInOneTickCancel) {
  rt::presence p;
  p.join("old", "t0", "", t0);
  p.tick(t0);
  p.join("flash", "t1", "", t0);
  EXPECT_TRUE(p.leave("flash", "t1"));
  // Leave then rejoin with the same info cancels too.
  EXPECT_TRUE(p.leave("old", "t0"));
  EXPECT_FALSE(p.join("old", "t9", "", t0));
  EXPECT_TRUE(p.tick(t0 + 100ms).empty());
  // Rejoin with other info shows as leave + join of that name.
  p.leave("old", "t9");
  p.join("old", "t9", "new", t0);
  auto d = p.tick(t0 + 200ms);
  EXPECT_EQ(d.leaves, (std::vector<std::string>{"old"}));
  EXPECT_EQ(d.joins, (std::vector<rt::presence_member>{{"old", "new"}}));
}

TEST(Presence, NameIsTakenUntilItsHolderLeaves) {
  rt::presence p;
  ASSERT_FALSE(p.join("ann", "t1", "", t0));
  EXPECT_EQ(p.join("ann", "t2", "", t0), rt::errc::name_taken);
  EXPECT_EQ(p.join("ann", "t1", "", t0), rt::errc::name_taken);  // a second live connection
  EXPECT_FALSE(p.leave("ann", "t2"));                             // not the holder
  EXPECT_TRUE(p.leave("ann", "t1"));
  EXPECT_FALSE(p.join("ann", "t2", "", t0));
}

TEST(Presence, ReconnectWithinGraceKeepsTheNameSilently) {
  rt::presence p({.grace = 5s});
  p.join("ann", "secret", "", t0);
  p.tick(t0);
  EXPECT_TRUE(p.disconnect("ann", "secret", t0 + 1s));
  EXPECT_TRUE(p.tick(t0 + 2s).empty());  // still online during grace
  EXPECT_EQ(p.join("ann", "other", "", t0 + 3s), rt::errc::name_taken);
  EXPECT_FALSE(p.join("ann", "secret", "", t0 + 3s));
  EXPECT_TRUE(p.tick(t0 + 10s).empty());  // no leave/join pair, no expiry
  EXPECT_TRUE(p.holds("ann"));
}

TEST(Presence, GraceExpiryLeavesAndFreesTheName) {
  rt::presence p({.grace = 5s});
  p.join("ann", "secret", "", t0);
  p.tick(t0);
  p.disconnect("ann", "secret", t0);
  ASSERT_TRUE(p.next_expiry());
  EXPECT_EQ(*p.next_expiry(), t0 + 5s);
  EXPECT_TRUE(p.tick(t0 + 4900ms).empty());
  auto d = p.tick(t0 + 5s);
  EXPECT_EQ(d.leaves, (std::vector<std::string>{"ann"}));
  EXPECT_FALSE(p.holds("ann"));
  EXPECT_FALSE(p.join("ann", "someone-else", "", t0 + 6s));
  EXPECT_FALSE(p.next_expiry());
}

TEST(Presence, ExpiredGraceFreesTheNameBeforeTheTick) {
  rt::presence p({.grace = 5s});
  p.join("ann", "secret", "a", t0);
  p.tick(t0);
  p.disconnect("ann", "secret", t0);
  EXPECT_EQ(p.join("ann", "bob", "b", t0 + 4s), rt::errc::name_taken);
  EXPECT_FALSE(p.join("ann", "bob", "b", t0 + 5s));  // grace over, no tick yet
  auto d = p.tick(t0 + 5s);
  EXPECT_EQ(d.leaves, (std::vector<std::string>{"ann"}));
  EXPECT_EQ(d.joins, (std::vector<rt::presence_member>{{"ann", "b"}}));
  EXPECT_FALSE(p.disconnect("ann", "secret", t0 + 6s));  // the old session no longer holds it
}

TEST(Presence, SnapshotIsTheLastTickCappedWithTotal) {
  rt::presence p;
  for (int i = 0; i < 10; ++i) p.join("user" + std::to_string(i), "t" + std::to_string(i), "", t0);
  EXPECT_EQ(p.snapshot(100).total, 0u);  // not ticked yet
  p.tick(t0);
  auto s = p.snapshot(3);
  EXPECT_EQ(s.total, 10u);
  EXPECT_EQ(names(s.members), (std::vector<std::string>{"user0", "user1", "user2"}));

  // snapshot + the next diff = the state.
  p.join("zed", "tz", "", t0);
  p.leave("user0", "t0");
  auto before = p.snapshot(100);
  auto diff = p.tick(t0 + 100ms);
  std::map<std::string, std::string> state;
  for (auto& m : before.members) state[m.name] = m.info;
  for (auto& n : diff.leaves) state.erase(n);
  for (auto& m : diff.joins) state[m.name] = m.info;
  EXPECT_EQ(state.size(), p.size());
  EXPECT_EQ(state.count("zed"), 1u);
  EXPECT_EQ(state.count("user0"), 0u);
}

// Issue 23: an idle presence ticks for nothing, however many members it has;
// tick() visits only what changed or expired (counted, not timed).
TEST(Presence, TickCostsTheChangesNotTheMembers) {
  rt::presence p({.grace = 5s});
  constexpr int n = 10000;
  for (int i = 0; i < n; ++i) p.join("u" + std::to_string(i), "t" + std::to_string(i), "", t0);
  EXPECT_TRUE(p.pending(t0));
  EXPECT_EQ(p.tick(t0).joins.size(), std::size_t(n));
  const auto after_joins = p.stats().visited;
  EXPECT_EQ(after_joins, std::size_t(n));  // each join once
  // Idle: nothing pending, a hundred ticks visit nothing.
  EXPECT_FALSE(p.pending(t0 + 1s));
  for (int k = 1; k <= 100; ++k) EXPECT_TRUE(p.tick(t0 + k * 100ms).empty());
  EXPECT_EQ(p.stats().visited, after_joins);
  // Three members drop: their grace runs without any work until it ends.
  for (int i : {7, 70, 700}) p.disconnect("u" + std::to_string(i), "t" + std::to_string(i), t0 + 11s);
  EXPECT_FALSE(p.pending(t0 + 15s));
  for (int k = 0; k < 40; ++k) EXPECT_TRUE(p.tick(t0 + 11s + k * 100ms).empty());
  EXPECT_EQ(p.stats().visited, after_joins);
  ASSERT_TRUE(p.next_expiry());
  EXPECT_EQ(*p.next_expiry(), t0 + 16s);
  EXPECT_TRUE(p.pending(t0 + 16s));
  auto d = p.tick(t0 + 16s);
  EXPECT_EQ(d.leaves, (std::vector<std::string>{"u7", "u70", "u700"}));
  // Each expiry visited twice (released, then diffed), nobody else.
  EXPECT_EQ(p.stats().visited, after_joins + 6);
  EXPECT_FALSE(p.next_expiry());
  // A resume within the grace takes the member off the expiry queue.
  p.disconnect("u1", "t1", t0 + 20s);
  EXPECT_FALSE(p.join("u1", "t1", "", t0 + 21s));
  EXPECT_FALSE(p.next_expiry());
  EXPECT_TRUE(p.tick(t0 + 30s).empty());
  EXPECT_EQ(p.stats().visited, after_joins + 6);
}

TEST(Presence, PagesWalkThePublishedStateInNameOrder) {
  rt::presence p;
  for (int i = 0; i < 7; ++i) p.join("m" + std::to_string(i), "t" + std::to_string(i), "", t0);
  EXPECT_EQ(p.page("", 10).total, 0u);  // not ticked yet
  p.tick(t0);
  std::vector<std::string> all;
  std::string after;
  for (;;) {
    auto pg = p.page(after, 3);
    EXPECT_EQ(pg.total, 7u);
    EXPECT_LE(pg.members.size(), 3u);
    for (auto& m : pg.members) all.push_back(m.name);
    if (!pg.more) break;
    after = pg.members.back().name;
  }
  EXPECT_EQ(all, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4", "m5", "m6"}));
  EXPECT_FALSE(p.page("m6", 3).more);
  EXPECT_TRUE(p.page("m6", 3).members.empty());
  EXPECT_EQ(names(p.page("m25", 2).members), (std::vector<std::string>{"m3", "m4"}));  // a cursor no longer present
}
