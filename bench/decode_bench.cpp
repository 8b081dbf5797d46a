// decode_bench: the client side of duplex::sync (issue 22, "Speed"): what it
// costs to take in a tick, as a sync patch applied to a replica, against
// decoding the same information as a binary message (binary.hpp) and as JSON
// (duplex::schema::decode natively; under WebAssembly also the engine's own
// JSON.parse of the same text, timed in the same process). The same source is
// built natively (bench_decode) and with em++ (bench/wasm: decode_bench.js,
// run under Node and in Chromium by bench/sync_decode.sh).
//
// Scenarios (the entity of sync_bench.cpp: {id u32, x/y f32 in hundredths,
// angle f32, hp i32, name "player<i>"}):
//   100     100 entities, one client seeing all of them: the snapshot, then
//           ticks where all 100 move by up to ±5 in x and y
//   300x300 colyseus/schema#228's tick: 300 entities all moving (and turning),
//           the client seeing ~60 of them within a radius (sync_bench's setup)
// Per tick the same information is decoded as:
//   patch   replica::apply of the client's patch (checks everything, then
//           applies; returns the changed ids and masks)
//   moves   a message {entities: [{id, x, y}]} of the entities that changed
//   state   the whole state the client sees, {entities: [entity...]}: what a
//           JSON game resends each tick
// each as binary (decode_binary) and JSON (decode; JSON.parse under WASM).
// Times are ns per message (per tick), averaged over 64 different ticks, the
// best of 5 rounds that share --seconds; MB/s = that message's bytes / time.
//   decode_bench [--seconds S per row] [--tsv]
#include <duplex/schema/binary.hpp>
#include <duplex/schema/codec.hpp>
#include <duplex/sync/sync.hpp>

#include "sync_entities.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <variant>
#include <vector>

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
// JSON.parse of each text (joined by '\n'), in turns, until min_ms have passed:
// ms per text. The texts are JS strings made once, outside the timing.
EM_JS(double, js_parse_ms, (const char* joined, double min_ms), {
  const texts = UTF8ToString(joined).split('\n');
  let n = 0, sink = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < min_ms) {
    for (let i = 0; i < texts.length; ++i) sink += JSON.parse(texts[i]).entities.length;
    n += texts.length;
    t = performance.now();
  }
  globalThis.__duplex_sink = sink;
  return (t - t0) / n;
});
#endif


namespace {
using namespace duplex;
using bench::entity;
using clk = std::chrono::steady_clock;
constexpr int n_ticks = 64;

double seconds = 0.3;
bool tsv = false;
bool quiet = false;  // the warm-up pass (WebAssembly tiers up from its baseline compiler)
std::size_t sink = 0;  // read at the end, so nothing timed is optimised away

double ns_since(clk::time_point t) { return std::chrono::duration<double, std::nano>(clk::now() - t).count(); }

// One scenario's ticks as every form: the snapshot, the patches, and per tick
// the moves and the whole visible state in binary and JSON.
struct ticks {
  std::string snapshot;
  std::vector<std::string> patches, moves_bin, moves_json, state_bin, state_json;
};

void row(const char* label, double bytes, double ns) {
  if (quiet)
    return;
  else if (tsv)
    std::printf("%s\t%.0f\t%.1f\n", label, bytes, ns);
  else
    std::printf("| %s | %.0f | %.0f | %.0f |\n", label, bytes, ns, bytes / ns * 1e3);
}

double mean_size(const std::vector<std::string>& v) {
  double s = 0;
  for (const auto& x : v) s += double(x.size());
  return s / double(v.size());
}

// The machine may be shared: each figure is the best of `rounds` rounds of
// seconds / rounds each (a round: passes over all the texts until its time is up).
constexpr int rounds = 5;

// `each` over all texts: ns per text, the best round's.
template <class F>
double time_each(const std::vector<std::string>& texts, F&& each) {
  double best = 1e300;
  for (int k = 0; k < rounds; ++k) {
    std::size_t n = 0;
    const auto t0 = clk::now();
    double ns = 0;
    do {
      for (const auto& t : texts) each(t);
      n += texts.size();
      ns = ns_since(t0);
    } while (ns < seconds * 1e9 / rounds);
    best = std::min(best, ns / double(n));
  }
  return best;
}

bool decode_rows(const char* scenario, const std::vector<std::string>& bin, const std::vector<std::string>& json,
                 const char* what) {
  char label[160];
  bool ok = true;
  std::snprintf(label, sizeof label, "%s: %s, binary decode", scenario, what);
  row(label, mean_size(bin), time_each(bin, [&](const std::string& b) {
        auto m = schema::decode_binary<bench::message>(b);
        if (!m) ok = false;
        else sink += m->index();
      }));
  std::snprintf(label, sizeof label, "%s: %s, JSON decode (duplex)", scenario, what);
  row(label, mean_size(json), time_each(json, [&](const std::string& j) {
        auto m = schema::decode<bench::message>(j);
        if (!m) ok = false;
        else sink += m->index();
      }));
#ifdef __EMSCRIPTEN__
  std::string joined;
  for (const auto& j : json) (joined += j) += '\n';
  joined.pop_back();
  std::snprintf(label, sizeof label, "%s: %s, JSON.parse", scenario, what);
  double best = 1e300;
  for (int k = 0; k < rounds; ++k) best = std::min(best, js_parse_ms(joined.c_str(), seconds * 1e3 / rounds) * 1e6);
  row(label, mean_size(json), best);
#endif
  if (!ok) std::fprintf(stderr, "%s: %s: a message did not decode\n", scenario, what);
  return ok;
}

// Applies the snapshot and every tick's patch to a fresh replica, timing the
// patches (the best round). Also times the snapshot alone
// (reset + apply). Checks the replica against the world's final state.
template <class World>
bool patch_rows(const char* scenario, const ticks& t, const World& w, const std::vector<std::uint32_t>& known) {
  sync::replica<entity> rep(&entity::id);
  double best = 1e300;
  for (int k = 0; k < rounds; ++k) {
    std::size_t n = 0;
    double ns = 0;
    do {
      rep.reset();
      if (!rep.apply(t.snapshot)) return false;
      bool ok = true;
      const auto t0 = clk::now();  // one interval for all the ticks (a browser's clock is coarse)
      for (const auto& p : t.patches) {
        auto c = rep.apply(p);
        if (!c) {
          std::fprintf(stderr, "%s: apply: %s\n", scenario, c.error().detail.c_str());
          ok = false;
          break;
        }
        sink += c->changed.size();
      }
      ns += ns_since(t0);
      if (!ok) return false;
      n += t.patches.size();
    } while (ns < seconds * 1e9 / rounds);
    best = std::min(best, ns / double(n));
  }
  if (rep.size() != known.size()) return false;
  for (auto id : known)
    if (!rep.find(id) || !(*rep.find(id) == w.find(id)->base)) {
      std::fprintf(stderr, "%s: the replica differs from the world at %u\n", scenario, id);
      return false;
    }
  char label[160];
  std::snprintf(label, sizeof label, "%s: tick patch, replica::apply", scenario);
  row(label, mean_size(t.patches), best);

  std::vector<std::string> snap{t.snapshot};
  rep.reset();
  if (!rep.apply(t.snapshot)) return false;
  std::snprintf(label, sizeof label, "%s: snapshot (%zu entities), replica::reset + apply", scenario, rep.size());
  row(label, double(t.snapshot.size()), time_each(snap, [&](const std::string& s) {
        rep.reset();
        sink += rep.apply(s) ? 1 : 0;
      }));
  return true;
}

// The forms of one tick for the entities `ids` (sorted) of world w, where
// `changed` says which of them moved.
template <class World>
void add_tick(ticks& t, const World& w, const std::vector<std::uint32_t>& ids) {
  bench::state st;
  bench::moves mv;
  for (auto id : ids) {
    const entity& e = w.find(id)->base;
    st.entities.push_back(e);
    mv.entities.push_back({e.id, e.x, e.y});
  }
  t.state_bin.push_back(schema::encode_binary<bench::message>(st));
  t.state_json.push_back(schema::encode(st));
  t.moves_bin.push_back(schema::encode_binary<bench::message>(mv));
  t.moves_json.push_back(schema::encode(mv));
}

int run() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> pos(0, 1000), step(-5, 5);
  if (!tsv && !quiet) std::printf("| decode of | bytes | ns | MB/s |\n|---|---|---|---|\n");

  // ---- 100 entities, one client seeing all ----
  {
    sync::world<entity> w(&entity::id);
    for (std::uint32_t i = 1; i <= 100; ++i)
      w.upsert({i, pos(rng), pos(rng), pos(rng) / 100, 100, "player" + std::to_string(i)});
    w.tick();
    sync::view<entity> v;
    ticks t;
    t.snapshot = v.make_patch(w).bytes;
    for (int k = 0; k < n_ticks; ++k) {
      for (std::uint32_t i = 1; i <= 100; ++i) w.update(i, [&](entity& e) { e.x += step(rng), e.y += step(rng); });
      w.tick();
      t.patches.push_back(v.make_patch(w).bytes);
      add_tick(t, w, v.known());
    }
    if (!patch_rows("100", t, w, v.known())) return 1;
    if (!decode_rows("100", t.moves_bin, t.moves_json, "moves")) return 1;
    if (!decode_rows("100", t.state_bin, t.state_json, "whole state")) return 1;
  }

  // ---- 300 entities all moving, the client seeing ~60 (sync_bench's setup) ----
  {
    constexpr int n_entities = 300;
    const double side = 1000, radius = 1.17 * std::sqrt(60.0 / n_entities * side * side / 3.14159265);
    sync::world<entity> w(&entity::id);
    w.use_grid(sync::grid<entity>(&entity::x, &entity::y, radius / 2));
    for (std::uint32_t i = 1; i <= n_entities; ++i)
      w.upsert({i, pos(rng), pos(rng), 0, 100, "player" + std::to_string(i)});
    w.tick();
    sync::view<entity> v;
    const entity* me = &w.find(1)->base;
    v.area(me->x, me->y, radius);
    ticks t;
    t.snapshot = v.make_patch(w).bytes;
    double seen = 0;
    for (int k = 0; k < n_ticks; ++k) {
      for (std::uint32_t i = 1; i <= n_entities; ++i)
        w.update(i, [&](entity& e) {
          e.x = std::fmod(e.x + step(rng) + 1000.0f, 1000.0f);
          e.y = std::fmod(e.y + step(rng) + 1000.0f, 1000.0f);
          e.angle += 0.1f;
        });
      w.tick();
      t.patches.push_back(v.make_patch(w).bytes);
      add_tick(t, w, v.known());
      seen += double(v.known().size());
    }
    if (!patch_rows("300x300", t, w, v.known())) return 1;
    if (!decode_rows("300x300", t.moves_bin, t.moves_json, "moves")) return 1;
    if (!decode_rows("300x300", t.state_bin, t.state_json, "whole state")) return 1;
    if (!tsv && !quiet) std::printf("\n300x300: the client sees %.1f entities on average (r = %.0f)\n", seen / n_ticks, radius);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--tsv")) tsv = true;
  }
  const double wanted = seconds;
  quiet = true, seconds = 0.05;  // every row once, unprinted
  if (run() != 0) return 1;
  quiet = false, seconds = wanted;
  const int rc = run();
  if (sink == 1) std::fprintf(stderr, "\n");
  return rc;
}
