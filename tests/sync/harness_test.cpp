// The proof harness of duplex::sync: random worlds (entities created,
// changed field by field, removed, re-created under the same id, written
// several times in one tick), random clients (views moving over the grid,
// filters changing, reconnects, slow clients skipping ticks, replays and
// stale patches), and after every delivered patch: the client's replica
// holds exactly the entities its view sees in the world, field-equal, at
// the world's tick, and the changed-set it reported accounts for every
// difference. The expected view is computed here from the harness's own
// model of the world, not through the library's visibility code.
// SYNC_HARNESS_SEEDS / SYNC_HARNESS_STEPS make longer runs.
#include <duplex/sync/sync.hpp>

#include "entity.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {
using namespace duplex;
using synctest::team;
using synctest::unit;
using world_t = sync::world<unit>;
using view_t = sync::view<unit>;
using replica_t = sync::replica<unit>;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

struct client {
  view_t v;
  replica_t r{&unit::id};
  bool area = false;
  double cx = 0, cy = 0, radius = 0;
  int filter = 0;  // 0 none, 1 hp > 0, 2 side red, 3 id % 3 != 0
  // Delivered patches (from tick, bytes), replayed later: must be refused. A
  // patch carries its from tick mod 16 only (the view knows what the client
  // has), so a replay whose from tick is the replica's mod 16 is not a test
  // of anything and is not tried.
  std::vector<std::pair<sync::tick_t, std::string>> old_patches;

  void apply_view_settings() {
    if (area)
      v.area(cx, cy, radius);
    else
      v.everything();
    switch (filter) {
      case 0: v.filter(nullptr); break;
      case 1: v.filter([](const unit& u) { return u.hp > 0; }); break;
      case 2: v.filter([](const unit& u) { return u.side == team::red; }); break;
      default: v.filter([](const unit& u) { return u.id % 3 != 0; }); break;
    }
  }
  // Written independently of the library: what this client must hold.
  bool expects(const unit& u) const {
    if (area) {
      const double dx = static_cast<double>(u.x) - cx, dy = static_cast<double>(u.y) - cy;
      if (!(dx * dx + dy * dy <= radius * radius)) return false;
    }
    switch (filter) {
      case 0: return true;
      case 1: return u.hp > 0;
      case 2: return u.side == team::red;
      default: return u.id % 3 != 0;
    }
  }
};

struct harness {
  std::mt19937 rng;
  world_t w{&unit::id};
  std::map<std::uint32_t, unit> pending, closed;  // the harness's own model
  std::vector<client> clients;
  std::uint64_t delivered = 0, skipped = 0, reconnects = 0, refused = 0, aliased = 0, shared = 0, own = 0;

  explicit harness(unsigned seed) : rng(seed) {
    w.use_grid(sync::grid<unit>(&unit::x, &unit::y, 10 + static_cast<double>(seed % 3) * 7));
    clients.resize(6);
    for (auto& c : clients) reconfigure(c);
  }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }
  bool chance(int percent) { return pick(100) < percent; }
  float coord() { return static_cast<float>(pick(1000)) / 10.0f; }

  void reconfigure(client& c) {
    c.area = chance(70);
    c.cx = coord(), c.cy = coord(), c.radius = 5 + pick(40);
    c.filter = chance(60) ? 0 : 1 + pick(3);
    c.apply_view_settings();
  }

  void mutate(unit& u) {
    // Each field changes with some chance; sometimes to the value it has.
    if (chance(50)) u.x = std::clamp(u.x + static_cast<float>(pick(11) - 5), 0.0f, 100.0f);
    if (chance(10)) u.x = std::clamp(u.x + static_cast<float>(pick(21) - 10) / 1000.0f, 0.0f, 100.0f);  // below 1/100
    if (chance(50)) u.y = std::clamp(u.y + static_cast<float>(pick(11) - 5), 0.0f, 100.0f);
    if (chance(20)) u.angle = static_cast<float>(pick(360));
    if (chance(20)) u.hp = pick(5) - 1;
    if (chance(5)) u.name = "n" + std::to_string(pick(5));
    if (chance(10)) u.side = static_cast<team>(pick(3));
    if (chance(10)) u.target = chance(50) ? std::optional<std::uint32_t>{} : std::optional<std::uint32_t>(pick(50));
    if (chance(5)) {
      u.items.resize(static_cast<std::size_t>(pick(4)));
      for (auto& i : u.items) i = static_cast<std::uint16_t>(pick(70000));
    }
    if (chance(5)) u.kit = synctest::gear{pick(1000), chance(50)};
  }
  unit fresh(std::uint32_t id) {
    unit u;
    u.id = id, u.x = coord(), u.y = coord(), u.hp = pick(5) - 1, u.name = "u" + std::to_string(id);
    u.side = static_cast<team>(pick(3));
    return u;
  }

  void one_tick() {
    const int ops = pick(12);
    for (int i = 0; i < ops; ++i) {
      const std::uint32_t id = 1 + static_cast<std::uint32_t>(pick(40));
      auto it = pending.find(id);
      const int what = pick(100);
      if (it == pending.end()) {
        if (what < 60) {
          pending[id] = fresh(id);
          w.upsert(pending[id]);
        } else {
          EXPECT_FALSE(w.remove(id));
        }
      } else if (what < 70) {  // a change, through update() or upsert()
        mutate(it->second);
        if (chance(50))
          ASSERT_TRUE(w.update(id, [&](unit& u) { u = it->second; }));
        else
          w.upsert(it->second);
      } else if (what < 85) {
        EXPECT_TRUE(w.remove(id));
        pending.erase(it);
      } else if (what < 92) {  // removed and back in the same tick
        EXPECT_TRUE(w.remove(id));
        if (chance(50)) mutate(it->second);
        w.upsert(it->second);
      } else {
        w.upsert(it->second);  // the same value again
      }
    }
    w.tick();
    // x and y are described in hundredths: the world rounds them when the tick closes.
    for (auto& [id, u] : pending) {
      u.x = static_cast<float>(static_cast<double>(std::llround(static_cast<double>(u.x) * 100)) / 100);
      u.y = static_cast<float>(static_cast<double>(std::llround(static_cast<double>(u.y) * 100)) / 100);
    }
    closed = pending;
    // The world's closed state is the model's.
    std::size_t n = 0;
    w.for_each([&](std::uint32_t id, const world_t::entity& e) {
      ++n;
      auto it = closed.find(id);
      ASSERT_NE(it, closed.end()) << id;
      EXPECT_EQ(e.base, it->second) << id;
    });
    EXPECT_EQ(n, closed.size());
  }

  void check(const client& c, const replica_t::entities_type* before, const sync::changes<std::uint32_t>& ch) {
    const auto& got = c.r.entities();
    std::size_t n = 0;
    for (const auto& [id, u] : closed) {
      if (!c.expects(u)) continue;
      ++n;
      auto it = got.find(id);
      ASSERT_NE(it, got.end()) << "tick " << w.now() << ": the replica lacks " << id;
      ASSERT_EQ(it->second, u) << "tick " << w.now() << ": entity " << id << " differs";
    }
    ASSERT_EQ(got.size(), n) << "tick " << w.now() << ": the replica holds entities the view does not see";
    ASSERT_EQ(c.r.tick(), w.now());
    if (!before) return;
    // The changed-set accounts for every difference.
    const std::set<std::uint32_t> removed(ch.removed.begin(), ch.removed.end()), added(ch.added.begin(), ch.added.end());
    std::map<std::uint32_t, std::uint64_t> changed(ch.changed.begin(), ch.changed.end());
    for (const auto& [id, u] : *before) {
      auto it = got.find(id);
      if (it == got.end()) {
        ASSERT_TRUE(removed.count(id)) << id;
        continue;
      }
      if (removed.count(id)) {
        ASSERT_TRUE(added.count(id)) << id;
        continue;
      }
      const std::uint64_t diff = sync::detail::diff_fields(u, it->second);
      if (diff) {
        ASSERT_TRUE(changed.count(id)) << id;
        ASSERT_EQ(changed[id] & diff, diff) << id;
      }
    }
    for (const auto& [id, u] : got)
      if (!before->count(id)) ASSERT_TRUE(added.count(id)) << id;
  }

  void deliver(client& c) {
    if (chance(4)) {  // reconnect: both sides forget, the next patch is a snapshot
      c.v.reset();
      c.r.reset();
      c.old_patches.clear();
      ++reconnects;
    }
    if (chance(8)) reconfigure(c);
    else if (c.area && chance(30)) {  // the view follows its player
      c.cx += pick(9) - 4, c.cy += pick(9) - 4;
      c.apply_view_settings();
    }
    if (chance(25)) {  // slow: its socket is backlogged, no patch this tick
      ++skipped;
      return;
    }
    const auto before = c.r.entities();
    auto p = c.v.make_patch(w);
    ASSERT_EQ(p.from, c.r.tick());
    ASSERT_EQ(p.to, w.now());
    shared += p.shared, own += p.own;
    auto ch = c.r.apply(p.bytes);
    ASSERT_TRUE(ch) << "tick " << w.now() << ": " << to_string(ch.error().code) << ": " << ch.error().detail;
    ++delivered;
    check(c, &before, *ch);
    // An old patch again (a replay, or one from before a reconnect) is refused and changes nothing.
    if (!c.old_patches.empty() && chance(10)) {
      const auto& [old_from, old] =
          c.old_patches[static_cast<std::size_t>(pick(static_cast<int>(c.old_patches.size())))];
      if (old_from != 0 && old_from % 16 == c.r.tick() % 16) {
        ++aliased;
        return;
      }
      auto again = c.r.apply(old);
      if (!again) ++refused;
      ASSERT_FALSE(again) << "a stale patch was accepted";
      check(c, nullptr, {});
    }
    if (p.from != p.to) {
      c.old_patches.emplace_back(p.from, std::move(p.bytes));
      if (c.old_patches.size() > 8) c.old_patches.erase(c.old_patches.begin());
    }
  }

  void run(int steps) {
    for (int s = 0; s < steps; ++s) {
      one_tick();
      if (::testing::Test::HasFatalFailure()) return;
      for (auto& c : clients) {
        deliver(c);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
};

TEST(SyncHarness, RandomWorldsViewsReconnectsAndSkippedTicks) {
  const int seeds = env_int("SYNC_HARNESS_SEEDS", 100), steps = env_int("SYNC_HARNESS_STEPS", 200);
  std::uint64_t delivered = 0, skipped = 0, reconnects = 0, refused = 0, aliased = 0, shared = 0, own = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    harness h(static_cast<unsigned>(seed));
    h.run(steps);
    if (HasFatalFailure()) return;
    delivered += h.delivered, skipped += h.skipped, reconnects += h.reconnects, refused += h.refused, aliased += h.aliased;
    shared += h.shared, own += h.own;
  }
  std::printf("%d seeds x %d ticks: %llu patches delivered and checked, %llu skipped ticks, %llu reconnects, "
              "%llu stale patches refused (%llu not tried: from tick = the replica's mod 16); changes from shared bytes %llu, encoded per client %llu\n",
              seeds, steps, static_cast<unsigned long long>(delivered), static_cast<unsigned long long>(skipped),
              static_cast<unsigned long long>(reconnects), static_cast<unsigned long long>(refused), static_cast<unsigned long long>(aliased),
              static_cast<unsigned long long>(shared), static_cast<unsigned long long>(own));
  EXPECT_GT(delivered, 0u);
  EXPECT_GT(refused, 0u);
  EXPECT_GT(own, 0u);
  EXPECT_GT(shared, 0u);
}

}  // namespace
