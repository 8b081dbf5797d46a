#include <duplex/realtime/history.hpp>

#include <gtest/gtest.h>

namespace rt = duplex::realtime;

namespace {

rt::stream_position publish(rt::history_engine& h, std::string_view channel, std::string payload) {
  rt::stream_position pos;
  bool called = false;
  h.publish(channel, std::move(payload), [&](std::error_code ec, rt::stream_position p) {
    EXPECT_FALSE(ec);
    pos = std::move(p);
    called = true;
  });
  EXPECT_TRUE(called);
  return pos;
}

std::pair<std::error_code, rt::history_page> since(rt::history_engine& h, std::string_view channel,
                                                   rt::stream_position after, std::size_t limit = 0) {
  std::pair<std::error_code, rt::history_page> r;
  h.since(channel, std::move(after), limit, [&](std::error_code ec, rt::history_page page) {
    r = {ec, std::move(page)};
  });
  return r;
}

}  // namespace

TEST(MemoryHistory, OffsetsPerChannelAndStableEpoch) {
  rt::memory_history h;
  auto a1 = publish(h, "a", "x");
  auto a2 = publish(h, "a", "y");
  auto b1 = publish(h, "b", "z");
  EXPECT_EQ(a1.offset, 1u);
  EXPECT_EQ(a2.offset, 2u);
  EXPECT_EQ(b1.offset, 1u);
  EXPECT_EQ(a1.epoch, a2.epoch);
  EXPECT_NE(a1.epoch, b1.epoch);
  EXPECT_EQ(a1.epoch.size(), 16u);
}

TEST(MemoryHistory, RecentReturnsTheLastNOldestFirst) {
  rt::memory_history h({.retention = 5});
  for (int i = 1; i <= 8; ++i) publish(h, "a", "m" + std::to_string(i));
  rt::history_page page;
  h.recent("a", 3, [&](std::error_code ec, rt::history_page p) {
    EXPECT_FALSE(ec);
    page = std::move(p);
  });
  ASSERT_EQ(page.publications.size(), 3u);
  EXPECT_EQ(page.publications[0], (rt::publication{6, "m6"}));
  EXPECT_EQ(page.publications[2], (rt::publication{8, "m8"}));
  EXPECT_EQ(page.top.offset, 8u);
  h.recent("a", 100, [&](std::error_code, rt::history_page p) { page = std::move(p); });
  EXPECT_EQ(page.publications.size(), 5u);  // retention
  h.recent("empty", 100, [&](std::error_code, rt::history_page p) { page = std::move(p); });
  EXPECT_TRUE(page.publications.empty());
  EXPECT_EQ(page.top.offset, 0u);
  EXPECT_FALSE(page.top.epoch.empty());
}

TEST(MemoryHistory, SinceReturnsExactlyTheGap) {
  rt::memory_history h({.retention = 10});
  rt::stream_position pos;
  for (int i = 1; i <= 7; ++i) pos = publish(h, "a", std::to_string(i));
  auto [ec, page] = since(h, "a", {4, pos.epoch});
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(page.publications.size(), 3u);
  EXPECT_EQ(page.publications.front().offset, 5u);
  EXPECT_EQ(page.publications.back().payload, "7");
  EXPECT_EQ(page.top, pos);

  auto [ec2, none] = since(h, "a", pos);
  EXPECT_FALSE(ec2);
  EXPECT_TRUE(none.publications.empty());
}

TEST(MemoryHistory, SinceRefusesWithTypedReasons) {
  rt::memory_history h({.retention = 5});
  rt::stream_position pos;
  for (int i = 1; i <= 10; ++i) pos = publish(h, "a", std::to_string(i));
  EXPECT_EQ(since(h, "a", {9, "another-epoch"}).first, rt::errc::epoch_mismatch);
  EXPECT_EQ(since(h, "a", {11, pos.epoch}).first, rt::errc::position_from_future);
  EXPECT_EQ(since(h, "a", {4, pos.epoch}).first, rt::errc::gap_beyond_retention);  // 5 was dropped
  EXPECT_FALSE(since(h, "a", {5, pos.epoch}).first);                               // 6..10 kept
  EXPECT_EQ(since(h, "a", {5, pos.epoch}, 4).first, rt::errc::recovery_limit);
  auto [ec, page] = since(h, "a", {5, pos.epoch}, 4);
  EXPECT_TRUE(page.publications.empty());  // never partial
}

TEST(MemoryHistory, ResetStartsANewEpoch) {
  rt::memory_history h;
  auto before = publish(h, "a", "x");
  rt::stream_position after;
  h.reset("a", [&](std::error_code, rt::stream_position p) { after = p; });
  EXPECT_NE(after.epoch, before.epoch);
  EXPECT_EQ(after.offset, 0u);
  EXPECT_EQ(since(h, "a", before).first, rt::errc::epoch_mismatch);
  EXPECT_EQ(publish(h, "a", "y").offset, 1u);
}
