#include <duplex/realtime/recovery.hpp>

#include <gtest/gtest.h>

#include <random>

namespace rt = duplex::realtime;

namespace {

std::vector<rt::publication> pubs(std::uint64_t from, std::uint64_t to) {
  std::vector<rt::publication> v;
  for (auto o = from; o <= to; ++o) v.push_back({o, "m" + std::to_string(o)});
  return v;
}

std::vector<std::uint64_t> offsets(const std::vector<rt::publication>& v) {
  std::vector<std::uint64_t> o;
  for (auto& p : v) o.push_back(p.offset);
  return o;
}

}  // namespace

TEST(RecoveryMerge, HistoryOnly) {
  auto r = rt::merge_recovery({5, "E"}, {{10, "E"}, pubs(6, 10)}, {}, "");
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(offsets(r.publications), (std::vector<std::uint64_t>{6, 7, 8, 9, 10}));
  EXPECT_EQ(r.top, (rt::stream_position{10, "E"}));
}

TEST(RecoveryMerge, NothingMissedIsRecovered) {
  auto r = rt::merge_recovery({10, "E"}, {{10, "E"}, {}}, {}, "");
  ASSERT_FALSE(r.ec);
  EXPECT_TRUE(r.publications.empty());
  EXPECT_EQ(r.top, (rt::stream_position{10, "E"}));
}

TEST(RecoveryMerge, LiveOverlappingHistoryIsDeduplicatedInOrder) {
  // Publications 8..10 arrived live while history (read after 10) was in flight; 11, 12 came after.
  auto r = rt::merge_recovery({5, "E"}, {{10, "E"}, pubs(6, 10)}, pubs(8, 12), "E");
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(offsets(r.publications), (std::vector<std::uint64_t>{6, 7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(r.top.offset, 12u);
}

TEST(RecoveryMerge, LiveOlderThanTheClientIsDropped) {
  auto r = rt::merge_recovery({5, "E"}, {{7, "E"}, pubs(6, 7)}, pubs(4, 8), "E");
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(offsets(r.publications), (std::vector<std::uint64_t>{6, 7, 8}));
}

TEST(RecoveryMerge, HoleBetweenHistoryAndLiveFails) {
  // The broker lost 11 (at-most-once): the merge must not skip it.
  auto r = rt::merge_recovery({5, "E"}, {{10, "E"}, pubs(6, 10)}, pubs(12, 13), "E");
  EXPECT_EQ(r.ec, rt::errc::history_hole);
  EXPECT_TRUE(r.publications.empty());
}

TEST(RecoveryMerge, HoleInsideHistoryFails) {
  auto h = pubs(6, 10);
  h.erase(h.begin() + 2);
  EXPECT_EQ(rt::merge_recovery({5, "E"}, {{10, "E"}, h}, {}, "").ec, rt::errc::history_hole);
  // First replayed must be client + 1.
  EXPECT_EQ(rt::merge_recovery({5, "E"}, {{10, "E"}, pubs(7, 10)}, {}, "").ec, rt::errc::history_hole);
  // Last must reach the top.
  EXPECT_EQ(rt::merge_recovery({5, "E"}, {{10, "E"}, pubs(6, 9)}, {}, "").ec, rt::errc::history_hole);
}

TEST(RecoveryMerge, EpochMismatchFails) {
  EXPECT_EQ(rt::merge_recovery({5, "E"}, {{10, "F"}, pubs(6, 10)}, {}, "").ec, rt::errc::epoch_mismatch);
  EXPECT_EQ(rt::merge_recovery({5, "E"}, {{10, "E"}, pubs(6, 10)}, pubs(11, 11), "F").ec,
            rt::errc::epoch_mismatch);
}

TEST(Recovery, HistoryRefusalPassesThrough) {
  rt::recovery r({5, "E"});
  r.on_live("E", {6, "x"});
  auto res = r.finish(rt::errc::gap_beyond_retention, {});
  EXPECT_EQ(res.ec, rt::errc::gap_beyond_retention);
  EXPECT_TRUE(res.publications.empty());
}

TEST(Recovery, LiveFromTwoEpochsFails) {
  rt::recovery r({5, "E"});
  r.on_live("E", {6, "x"});
  r.on_live("F", {1, "y"});
  EXPECT_EQ(r.finish({}, {{6, "E"}, pubs(6, 6)}).ec, rt::errc::epoch_mismatch);
}

// Races: a channel publishes 1..N; a client that saw `seen` resubscribes at a
// random moment, the history read answers at a later random moment, and live
// publications in between are buffered. Every interleaving must give exactly
// seen+1..N once, in order.
TEST(Recovery, RandomInterleavingsNeverLoseOrDuplicate) {
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    rt::memory_history history({.retention = 1000});
    const int total = 60;
    std::uniform_int_distribution<int> pick(0, total);
    int seen = pick(rng), subscribe_at = seen + std::uniform_int_distribution<int>(0, total - seen)(rng);
    int read_at = subscribe_at + std::uniform_int_distribution<int>(0, total - subscribe_at)(rng);
    std::string epoch;
    rt::recovery rec({static_cast<std::uint64_t>(seen), ""});
    std::optional<rt::recovery_result> result;
    std::vector<rt::publication> delivered;
    auto read_history = [&] {
      history.since("c", rec.client(), 0, [&](std::error_code ec, rt::history_page page) {
        result = rec.finish(ec, page);
      });
    };
    for (int i = 1; i <= total; ++i) {
      if (i - 1 == read_at) read_history();
      history.publish("c", "m" + std::to_string(i), [&](std::error_code, rt::stream_position pos) {
        epoch = pos.epoch;
        if (i == 1) rec = rt::recovery({static_cast<std::uint64_t>(seen), epoch});
        if (i <= subscribe_at) return;  // not yet subscribed
        rt::publication p{pos.offset, "m" + std::to_string(i)};
        if (!result) rec.on_live(pos.epoch, std::move(p));
        else if (p.offset > result->top.offset) delivered.push_back(std::move(p));
      });
    }
    if (!result) read_history();
    ASSERT_FALSE(result->ec) << result->ec.message() << " round " << round;
    auto all = result->publications;
    all.insert(all.end(), delivered.begin(), delivered.end());
    ASSERT_EQ(all.size(), static_cast<std::size_t>(total - seen)) << "round " << round;
    for (std::size_t k = 0; k < all.size(); ++k) {
      ASSERT_EQ(all[k].offset, static_cast<std::uint64_t>(seen) + 1 + k);
      ASSERT_EQ(all[k].payload, "m" + std::to_string(all[k].offset));
    }
  }
}
