// duplex::sync (lib/include/duplex/sync): the world's ticks, views' patches
// (snapshot, changes from the shared bytes, skipped ticks, areas, filters,
// re-created ids), exact bytes, and the replica's refusals. Built natively
// and with em++: the same bytes on both.
#include <duplex/sync/sync.hpp>

#include "entity.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {
using namespace duplex;
using synctest::unit;
using world_t = sync::world<unit>;
using view_t = sync::view<unit>;
using replica_t = sync::replica<unit>;

unit make(std::uint32_t id, float x, float y, std::string name = "u") {
  unit u;
  u.id = id, u.x = x, u.y = y, u.name = std::move(name);
  return u;
}

// The replica holds exactly what the view sees in the world, field-equal.
void expect_same(const world_t& w, const view_t& v, const replica_t& r) {
  std::size_t n = 0;
  w.for_each([&](std::uint32_t id, const world_t::entity& e) {
    if (!v.sees(w, e.base)) return;
    ++n;
    const unit* got = r.find(id);
    ASSERT_NE(got, nullptr) << "missing " << id;
    EXPECT_EQ(*got, e.base) << "entity " << id;
  });
  EXPECT_EQ(r.size(), n);
  EXPECT_EQ(r.tick(), v.has());
}

std::string hex(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    out += "0123456789abcdef"[c >> 4];
    out += "0123456789abcdef"[c & 15];
  }
  return out;
}

TEST(Sync, SnapshotThenChanges) {
  world_t w(&unit::id);
  view_t v;
  replica_t r(&unit::id);
  w.upsert(make(1, 1, 2, "a"));
  w.upsert(make(2, 3, 4, "b"));
  EXPECT_EQ(w.tick(), 1u);
  auto p = v.make_patch(w);
  EXPECT_EQ(p.from, 0u);
  EXPECT_EQ(p.to, 1u);
  EXPECT_EQ(p.entered, 2u);
  auto c = r.apply(p.bytes);
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->added, (std::vector<std::uint32_t>{1, 2}));
  expect_same(w, v, r);

  w.update(1, [](unit& u) { u.x = 5, u.y = 6; });
  w.tick();
  p = v.make_patch(w);
  EXPECT_EQ(p.changed, 1u);
  EXPECT_EQ(p.shared, 1u);
  EXPECT_EQ(p.own, 0u);
  // ticks (span 1 << 5 | from 1 mod 16 << 1), head (1 change), id 1,
  // mask x|y = 0b110 << 1 | 0 (differences), x +4.00 and y +4.00 in
  // hundredths: zigzag 800 each
  EXPECT_EQ(hex(p.bytes), "22" "04" "01" "0c" "a006" "a006");
  EXPECT_EQ(p.bytes.size(), 8u);
  c = r.apply(p.bytes);
  ASSERT_TRUE(c) << c.error().detail;
  ASSERT_EQ(c->changed.size(), 1u);
  EXPECT_EQ(c->changed[0], (std::pair<std::uint32_t, std::uint64_t>{1, 0b110}));
  expect_same(w, v, r);
}

TEST(Sync, LatestWriteInATickWinsAndSameValueIsNoChange) {
  world_t w(&unit::id);
  view_t v;
  replica_t r(&unit::id);
  w.upsert(make(7, 1, 1));
  w.tick();
  ASSERT_TRUE(r.apply(v.make_patch(w).bytes));
  w.update(7, [](unit& u) { u.hp = 5; });
  w.update(7, [](unit& u) { u.hp = 100; });  // back to the tick's start
  w.upsert(make(7, 1, 1));
  w.tick();
  auto p = v.make_patch(w);
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.bytes.size(), 2u);  // the ticks and an empty head
  ASSERT_TRUE(r.apply(p.bytes));
  w.update(7, [](unit& u) { u.hp = 5; });
  w.update(7, [](unit& u) { u.hp = 6; });
  w.tick();
  p = v.make_patch(w);
  EXPECT_EQ(p.changed, 1u);
  ASSERT_TRUE(r.apply(p.bytes));
  EXPECT_EQ(r.find(7)->hp, 6);
  expect_same(w, v, r);
}

TEST(Sync, RemoveAndRecreateUnderTheSameId) {
  world_t w(&unit::id);
  view_t v;
  replica_t r(&unit::id);
  w.upsert(make(3, 0, 0, "old"));
  w.upsert(make(4, 0, 0));
  w.tick();
  ASSERT_TRUE(r.apply(v.make_patch(w).bytes));
  w.remove(3);
  w.tick();
  auto p = v.make_patch(w);
  EXPECT_EQ(p.removed, 1u);
  auto c = r.apply(p.bytes);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->removed, (std::vector<std::uint32_t>{3}));
  expect_same(w, v, r);

  // A slow client misses both the removal and the new entity 4... and 3's return.
  view_t slow;
  replica_t rs(&unit::id);
  ASSERT_TRUE(rs.apply(slow.make_patch(w).bytes));
  w.upsert(make(9, 0, 0));
  w.tick();
  ASSERT_TRUE(rs.apply(slow.make_patch(w).bytes));
  w.remove(9);
  w.tick();
  w.upsert(make(9, 1, 1, "new"));
  w.tick();
  p = slow.make_patch(w);
  EXPECT_EQ(p.removed, 1u);
  EXPECT_EQ(p.entered, 1u);
  c = rs.apply(p.bytes);
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->removed, (std::vector<std::uint32_t>{9}));
  EXPECT_EQ(c->added, (std::vector<std::uint32_t>{9}));
  EXPECT_EQ(rs.find(9)->name, "new");
  expect_same(w, slow, rs);
}

TEST(Sync, SlowClientGetsOnePatchToTheNewestTick) {
  world_t w(&unit::id);
  view_t fast, slow;
  replica_t rf(&unit::id), rs(&unit::id);
  for (std::uint32_t i = 1; i <= 5; ++i) w.upsert(make(i, 0, 0));
  w.tick();
  ASSERT_TRUE(rf.apply(fast.make_patch(w).bytes));
  ASSERT_TRUE(rs.apply(slow.make_patch(w).bytes));
  w.update(1, [](unit& u) { u.x = 1; });
  w.tick();
  ASSERT_TRUE(rf.apply(fast.make_patch(w).bytes));
  w.update(1, [](unit& u) { u.name = "renamed"; });
  w.update(2, [](unit& u) { u.angle = 2; });
  w.tick();
  auto pf = fast.make_patch(w);
  EXPECT_EQ(pf.shared, 2u);
  ASSERT_TRUE(rf.apply(pf.bytes));
  // The slow one: entity 1 changed in two ticks (its own bytes), entity 2 in one (shared).
  auto ps = slow.make_patch(w);
  EXPECT_EQ(ps.from, 1u);
  EXPECT_EQ(ps.to, 3u);
  EXPECT_EQ(ps.own, 1u);
  EXPECT_EQ(ps.shared, 1u);
  auto c = rs.apply(ps.bytes);
  ASSERT_TRUE(c) << c.error().detail;
  ASSERT_EQ(c->changed.size(), 2u);
  EXPECT_EQ(c->changed[0].second, 0b100010u);  // x and name
  expect_same(w, fast, rf);
  expect_same(w, slow, rs);
}

TEST(Sync, AreaThroughTheGridAndFilter) {
  world_t w(&unit::id);
  w.use_grid(sync::grid<unit>(&unit::x, &unit::y, 10));
  view_t v;
  replica_t r(&unit::id);
  v.area(0, 0, 15);
  for (std::uint32_t i = 0; i < 10; ++i) w.upsert(make(i + 1, static_cast<float>(i * 5), 0));
  w.tick();
  auto p = v.make_patch(w);
  EXPECT_EQ(p.entered, 4u);  // x = 0, 5, 10, 15
  ASSERT_TRUE(r.apply(p.bytes));
  expect_same(w, v, r);
  // 4 leaves, 10 comes in.
  w.update(4, [](unit& u) { u.x = 100; });
  w.update(10, [](unit& u) { u.x = -3, u.y = 3; });
  w.tick();
  p = v.make_patch(w);
  EXPECT_EQ(p.removed, 1u);
  EXPECT_EQ(p.entered, 1u);
  ASSERT_TRUE(r.apply(p.bytes));
  expect_same(w, v, r);
  // The view moves, and filters on hp.
  v.area(100, 0, 1);
  v.filter([](const unit& u) { return u.hp > 0; });
  w.tick();
  ASSERT_TRUE(r.apply(v.make_patch(w).bytes));
  EXPECT_EQ(r.size(), 1u);
  w.update(4, [](unit& u) { u.hp = 0; });
  w.tick();
  ASSERT_TRUE(r.apply(v.make_patch(w).bytes));
  EXPECT_EQ(r.size(), 0u);
  expect_same(w, v, r);
}

TEST(Sync, ReconnectIsASnapshot) {
  world_t w(&unit::id);
  view_t v;
  replica_t r(&unit::id);
  w.upsert(make(1, 0, 0));
  w.tick();
  ASSERT_TRUE(r.apply(v.make_patch(w).bytes));
  w.upsert(make(2, 0, 0));
  w.tick();
  v.reset();
  auto p = v.make_patch(w);
  EXPECT_EQ(p.from, 0u);
  EXPECT_EQ(p.entered, 2u);
  auto c = r.apply(p.bytes);  // the replica has tick 1: refused
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, sync::patch_errc::wrong_from_tick);
  r.reset();
  ASSERT_TRUE(r.apply(p.bytes));
  expect_same(w, v, r);
}

TEST(Sync, OptionalAndNestedFieldsInChanges) {
  world_t w(&unit::id);
  view_t v;
  replica_t r(&unit::id);
  unit u = make(1, 0, 0);
  u.target = 5;
  u.items = {1, 2};
  w.upsert(u);
  w.tick();
  ASSERT_TRUE(r.apply(v.make_patch(w).bytes));
  w.update(1, [](unit& x) { x.target.reset(), x.items.push_back(3), x.kit.shield = true, x.side = synctest::team::red; });
  w.tick();
  auto c = r.apply(v.make_patch(w).bytes);
  ASSERT_TRUE(c) << c.error().detail;
  expect_same(w, v, r);
}

// ---- the replica's refusals: each typed, and the replica unchanged ----------

struct refusals : ::testing::Test {
  world_t w{&unit::id};
  view_t v;
  replica_t r{&unit::id};
  std::string first, second;  // a snapshot, then a change
  void SetUp() override {
    w.upsert(make(1, 0, 0, "a"));
    w.upsert(make(2, 0, 0, "b"));
    w.tick();
    first = v.make_patch(w).bytes;
    w.update(2, [](unit& u) { u.hp = 50; });
    w.tick();
    second = v.make_patch(w).bytes;
    ASSERT_TRUE(r.apply(first));
  }
  sync::patch_errc refuse(const std::string& bytes) {
    const auto before = r.entities();
    const auto tick = r.tick();
    auto c = r.apply(bytes);
    EXPECT_FALSE(c);
    EXPECT_EQ(r.entities(), before);
    EXPECT_EQ(r.tick(), tick);
    return c ? sync::patch_errc{} : c.error().code;
  }
};

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}

TEST_F(refusals, EveryTruncation) {
  for (std::size_t n = 0; n < second.size(); ++n)
    refuse(second.substr(0, n));  // truncated or too_many, and nothing changed
  replica_t fresh(&unit::id);
  for (std::size_t n = 0; n < first.size(); ++n) EXPECT_FALSE(fresh.apply(first.substr(0, n))) << n;
  EXPECT_EQ(fresh.size(), 0u);
}

TEST_F(refusals, Typed) {
  using sync::patch_errc;
  // The replica has tick 1: a patch from it starts with (span << 5 | 1 << 1) = 0x22 for span 1.
  EXPECT_EQ(refuse(first), patch_errc::wrong_from_tick);        // a replay (a snapshot)
  EXPECT_EQ(refuse(bytes({0x24, 0})), patch_errc::wrong_from_tick);  // from a tick = 2 (mod 16)
  EXPECT_EQ(refuse(bytes({0x03, 0})), patch_errc::bad_header);       // a snapshot with from bits
  EXPECT_EQ(refuse(second + "x"), patch_errc::trailing_bytes);
  EXPECT_EQ(refuse(bytes({0x22, 1, 1, 9})), patch_errc::unknown_id);               // remove 9
  EXPECT_EQ(refuse(bytes({0x22, 1, 2, 2, 1})), patch_errc::unordered_ids);         // remove 2, 1
  EXPECT_EQ(refuse(bytes({0x22, 1, 2, 1, 1})), patch_errc::unordered_ids);         // remove 1, 1
  EXPECT_EQ(refuse(bytes({0x22, 4, 9, 4, 0})), patch_errc::unknown_id);            // change 9
  EXPECT_EQ(refuse(bytes({0x22, 4, 1, 0})), patch_errc::bad_mask);                 // empty mask
  EXPECT_EQ(refuse(bytes({0x22, 4, 1, 1})), patch_errc::bad_mask);                 // empty mask, absolute
  EXPECT_EQ(refuse(bytes({0x22, 4, 1, 2})), patch_errc::bad_mask);                 // the id
  EXPECT_EQ(refuse(bytes({0x22, 4, 1, 0x80, 0x20})), patch_errc::bad_mask);        // field 11
  EXPECT_EQ(refuse(bytes({0x22, 4, 1, 0x20, 0xd2, 0x0f})), patch_errc::bad_value);  // hp 1001
  EXPECT_EQ(refuse(bytes({0x22, 4, 1, 0x80, 0x00})), patch_errc::bad_number);      // not shortest
  EXPECT_EQ(refuse(bytes({0x22, 0x7c})), patch_errc::too_many);                    // 31 changes in 0 bytes
  EXPECT_EQ(refuse(bytes({0x22, 3, 0x7f, 1})), patch_errc::too_many);
  EXPECT_EQ(refuse(bytes({0xa2, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0})),
            patch_errc::bad_header);  // span 2^58 + 1
  // Scaled x outside [-10000, 10000]: absolute 1,000,001 hundredths, or a difference taking it there.
  EXPECT_EQ(refuse(bytes({0x22, 4, 1, 5, 0x82, 0x89, 0x7a})), patch_errc::bad_value);
  EXPECT_EQ(refuse(bytes({0x22, 4, 1, 4, 0x82, 0x89, 0x7a})), patch_errc::bad_value);
  EXPECT_EQ(refuse(bytes({0x22, 4, 1, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})),
            patch_errc::bad_value);  // a difference of -2^63
  // An entering entity already held: the snapshot's bytes after tick 1's header.
  std::string again = bytes({0x22}) + first.substr(1);
  EXPECT_EQ(refuse(again), patch_errc::already_known);
  // A change whose value breaks a rule names the field.
  auto c = r.apply(bytes({0x22, 4, 1, 0x40, 3, 'a', '\n', 'b'}));  // name with a control char is fine (not a display name)
  EXPECT_TRUE(c) << c.error().detail;
  c = r.apply(bytes({0x24, 4, 1, 0x40, 2, char(0xc3), 'x'}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, sync::patch_errc::bad_value);
  EXPECT_NE(c.error().detail.find("entities[1].name"), std::string::npos) << c.error().detail;
  // A patch from a later tick than the replica has is refused too (a lost patch).
  EXPECT_EQ(refuse(bytes({0x28, 0})), patch_errc::wrong_from_tick);
}

// Scaled floats: the world rounds them to hundredths when the tick closes
// (a smaller move is no change); a client that skipped ticks gets absolute
// values (mask bit 0 set), one that took every tick differences.
TEST(Sync, ScaledFloats) {
  world_t w(&unit::id);
  view_t every, slow;
  replica_t r_every(&unit::id), r_slow(&unit::id);
  w.upsert(make(1, 1.234f, -2.0f));
  w.tick();
  EXPECT_EQ(w.find(1)->base.x, 1.23f);
  ASSERT_TRUE(r_every.apply(every.make_patch(w).bytes));
  ASSERT_TRUE(r_slow.apply(slow.make_patch(w).bytes));
  EXPECT_EQ(r_every.find(1)->x, 1.23f);
  w.update(1, [](unit& u) { u.x = 1.2349f; });  // still 1.23
  w.tick();
  auto e = every.make_patch(w);
  EXPECT_TRUE(e.empty());
  ASSERT_TRUE(r_every.apply(e.bytes));
  w.update(1, [](unit& u) { u.x = 7.5f; });
  w.tick();
  ASSERT_TRUE(r_every.apply(every.make_patch(w).bytes));
  w.update(1, [](unit& u) { u.x = 7.25f, u.y = 3.0f; });
  w.tick();
  auto p = every.make_patch(w);
  EXPECT_EQ(p.shared, 1u);
  // ticks (1 << 5 | 3 << 1), 1 change, id 1, mask 0b110 << 1, x -0.25 (zigzag 49), y +5.00 (zigzag 1000)
  EXPECT_EQ(hex(p.bytes), "26" "04" "01" "0c" "31" "e807");
  ASSERT_TRUE(r_every.apply(p.bytes));
  auto q = slow.make_patch(w);  // from tick 1: x changed twice since, y once
  EXPECT_EQ(q.own, 1u);
  // ticks (3 << 5 | 1 << 1), 1 change, id 1, mask 0b110 << 1 | 1, x 725, y 300 (absolute, zigzag)
  EXPECT_EQ(hex(q.bytes), "62" "04" "01" "0d" "aa0b" "d804");
  ASSERT_TRUE(r_slow.apply(q.bytes));
  EXPECT_EQ(*r_slow.find(1), w.find(1)->base);
  EXPECT_EQ(*r_every.find(1), w.find(1)->base);
  // Beyond the described range, the world clamps.
  w.update(1, [](unit& u) { u.x = 1e9f; });
  w.tick();
  EXPECT_EQ(w.find(1)->base.x, 10000.0f);
  ASSERT_TRUE(r_every.apply(every.make_patch(w).bytes));
  EXPECT_EQ(r_every.find(1)->x, 10000.0f);
}

}  // namespace
