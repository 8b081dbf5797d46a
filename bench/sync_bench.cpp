// sync_bench: duplex::sync's sizes and encode cost (issue 22) against
// Colyseus's published figures (@colyseus/schema README "Benchmarks":
// 2,671 B for a 100-entity snapshot, 9 B for one entity's x/y change, 668 B
// for 100 entities' x/y changes) and against duplex's own JSON of the same
// state. Entity: {id u32, x f32, y f32, angle f32, hp i32, name "player<i>"},
// x and y described in hundredths (rules::scale = 100, range ±10,000): sync
// sends them as zigzag varints (a change: the difference), angle as 4 bytes.
// The encode scenario is colyseus/schema#228's: 300 entities all changed in a
// tick, 300 clients each seeing ~60 of them (a grid radius query), timed as
// tick() (each change encoded once) plus one make_patch per client; also the
// client side (replica::apply of one client's patch). Prints a Markdown table.
//   sync_bench [--ticks N]
#include <duplex/schema/codec.hpp>
#include <duplex/sync/sync.hpp>

#include "sync_entities.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>


namespace {
using namespace duplex;
using bench::entity;
using clk = std::chrono::steady_clock;

double ns_since(clk::time_point t) { return std::chrono::duration<double, std::nano>(clk::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
  int ticks = 200;
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--ticks")) ticks = std::atoi(argv[i + 1]);

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> pos(0, 1000), step(-5, 5);

  // ---- sizes: 100 entities ----
  sync::world<entity> w(&entity::id);
  bench::state st;
  for (std::uint32_t i = 1; i <= 100; ++i) {
    entity e{i, pos(rng), pos(rng), pos(rng) / 100, 100, "player" + std::to_string(i)};
    w.upsert(e);
    st.entities.push_back(e);
  }
  w.tick();
  sync::view<entity> v;
  sync::replica<entity> rep(&entity::id);
  const auto snap = v.make_patch(w);
  if (!rep.apply(snap.bytes)) return 1;
  const std::size_t snapshot_json = schema::encode(st).size();

  w.update(42, [](entity& e) { e.x += 1, e.y -= 1; });
  w.tick();
  const auto one = v.make_patch(w);
  if (!rep.apply(one.bytes)) return 1;
  bench::moves one_json{{{42, w.find(42)->base.x, w.find(42)->base.y}}};

  bench::moves all_json;
  for (std::uint32_t i = 1; i <= 100; ++i) {
    w.update(i, [&](entity& e) { e.x += step(rng), e.y += step(rng); });
    all_json.entities.push_back({i, w.pending(i)->x, w.pending(i)->y});
  }
  w.tick();
  const auto all = v.make_patch(w);
  if (!rep.apply(all.bytes)) return 1;

  // ---- encode cost: 300 entities all moving, 300 clients seeing ~60 each ----
  constexpr int n_entities = 300, n_clients = 300;
  // ~60 visible: the circle's share of the square, plus ~17% for the circles cut by the edges.
  const double side = 1000, radius = 1.17 * std::sqrt(60.0 / n_entities * side * side / 3.14159265);
  sync::world<entity> big(&entity::id);
  big.use_grid(sync::grid<entity>(&entity::x, &entity::y, radius / 2));
  for (std::uint32_t i = 1; i <= n_entities; ++i)
    big.upsert({i, pos(rng), pos(rng), 0, 100, "player" + std::to_string(i)});
  big.tick();
  std::vector<sync::view<entity>> views(n_clients);
  std::vector<sync::patch> patches(n_clients);
  for (int c = 0; c < n_clients; ++c) {
    const entity* e = &big.find(static_cast<std::uint32_t>(c % n_entities + 1))->base;
    views[c].area(e->x, e->y, radius);
    views[c].make_patch(big, patches[c]);
  }
  sync::replica<entity> client0(&entity::id);
  if (!client0.apply(patches[0].bytes)) return 1;
  double tick_ns = 0, views_ns = 0, apply_ns = 0;
  std::size_t seen = 0, bytes = 0, shared = 0, own = 0;
  for (int t = 0; t < ticks; ++t) {
    for (std::uint32_t i = 1; i <= n_entities; ++i)
      big.update(i, [&](entity& e) {
        e.x = std::fmod(e.x + step(rng) + 1000.0f, 1000.0f);
        e.y = std::fmod(e.y + step(rng) + 1000.0f, 1000.0f);
        e.angle += 0.1f;
      });
    auto t0 = clk::now();
    big.tick();
    tick_ns += ns_since(t0);
    t0 = clk::now();
    for (int c = 0; c < n_clients; ++c) views[c].make_patch(big, patches[c]);
    views_ns += ns_since(t0);
    for (int c = 0; c < n_clients; ++c) {
      seen += views[c].known().size();
      bytes += patches[c].bytes.size();
      shared += patches[c].shared, own += patches[c].own;
    }
    t0 = clk::now();
    if (!client0.apply(patches[0].bytes)) return 1;
    apply_ns += ns_since(t0);
  }
  const double per_tick_clients = double(n_clients) * ticks;

  std::printf("| figure | duplex::sync | duplex JSON (same state) | Colyseus (published) |\n|---|---|---|---|\n");
  std::printf("| 100-entity snapshot | %zu B | %zu B | 2,671 B |\n", snap.bytes.size(), snapshot_json);
  std::printf("| one entity's x/y change (whole patch) | %zu B | %zu B | 9 B |\n", one.bytes.size(),
              schema::encode(one_json).size());
  std::printf("| 100 entities' x/y change, one tick | %zu B | %zu B | 668 B |\n", all.bytes.size(),
              schema::encode(all_json).size());
  std::printf("| %d entities changed, %d clients seeing %.1f each (r = %.0f): tick() | %.1f us | | |\n", n_entities,
              n_clients, double(seen) / per_tick_clients, radius, tick_ns / ticks / 1000);
  std::printf("| the same: make_patch per client | %.0f ns | | |\n", views_ns / per_tick_clients);
  std::printf("| the same: whole tick, %d clients | %.2f ms | | |\n", n_clients, (tick_ns + views_ns) / ticks / 1e6);
  std::printf("| the same: patch per client | %.0f B (%.1f%% of changes from shared bytes) | | |\n",
              double(bytes) / per_tick_clients, 100.0 * double(shared) / double(shared + own ? shared + own : 1));
  std::printf("| the same: replica::apply of one client's patch | %.0f ns | | |\n", apply_ns / ticks);
  std::printf("\n%d ticks; entity {id u32, x/y f32 in hundredths, angle f32, hp i32, name \"player<i>\"}; "
              "moves: one entity by (+1, -1), 100 by up to ±5 each\n",
              ticks);
  return 0;
}
