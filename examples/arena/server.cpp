// duplex-arena: the arena's authoritative server (arena.hpp is the protocol).
// Serves the page (--web DIR, default: where the wasm build assembles it,
// ARENA_SITE_DIR) and ws://HOST:PORT/ws/arena. Every 1/20 s: players move by the
// keys they hold, bots wander, the world closes a tick (duplex::sync), and
// each page gets one binary patch of what is within view_radius of its
// player. A page whose socket is backlogged skips ticks and later gets one
// patch to the newest state.
//   duplex-arena [--port 8090] [--host 127.0.0.1] [--web DIR] [--bots 8]
#include "arena.hpp"

#include <duplex/net/channel.hpp>
#include <duplex/net/server.hpp>
#include <duplex/schema/binary.hpp>
#include <duplex/sync/sync.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <list>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

using channel = duplex::channel<arena::protocol>;
using clock_type = std::chrono::steady_clock;

// Above this many bytes waiting in a page's socket, the page skips the tick.
constexpr std::size_t backlog_limit = 64 * 1024;

struct player {
  arena::input keys;
  std::string token;
  bool connected = false;
  clock_type::time_point left{};
};

struct bot {
  std::uint32_t id = 0;
  float heading = 0;
  int turn_in = 0;  // ticks until it picks a new heading
};

struct page {
  channel* ch = nullptr;
  std::uint32_t player = 0;  // 0: not joined (or taken over by a newer connection)
  duplex::sync::view<arena::entity> view;
  std::uint64_t skipped = 0;
};

struct game {
  duplex::sync::world<arena::entity> world{&arena::entity::id};
  std::unordered_map<std::uint32_t, player> players;
  std::vector<bot> bots;
  std::list<page> pages;
  std::uint32_t next_id = 1;
  std::mt19937_64 rng{std::random_device{}()};
  std::string patch_frame;  // reused
  duplex::sync::patch patch;

  game() { world.use_grid(duplex::sync::grid<arena::entity>(&arena::entity::x, &arena::entity::y, 100)); }

  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); }

  void add_bots(int n) {
    for (int i = 0; i < n; ++i) {
      arena::entity e{next_id++, arena::kind::bot, uniform(0, arena::world_size), uniform(0, arena::world_size),
                      "bot" + std::to_string(i + 1), false};
      world.upsert(e);
      bots.push_back({e.id, uniform(0, 6.2832f), 0});
    }
  }

  std::string new_token() {
    static constexpr char hex[] = "0123456789abcdef";
    std::string t;
    for (int i = 0; i < 16; ++i) t += hex[rng() % 16];
    return t;
  }

  // A new player near the middle (so that players who join together see
  // each other), or the one `resume` names.
  std::uint32_t join(page& pg, const arena::join& j) {
    if (j.resume)
      for (auto& [id, p] : players)
        if (p.token == *j.resume) {
          for (auto& other : pages)
            if (&other != &pg && other.player == id) other.player = 0;  // the older connection watches only
          p.connected = true;
          p.keys = {};
          world.update(id, [&](arena::entity& e) { e.name = j.name, e.away = false; });
          return id;
        }
    const std::uint32_t id = next_id++;
    const float c = arena::world_size / 2;
    world.upsert(arena::entity{id, arena::kind::player, c + uniform(-80, 80), c + uniform(-80, 80), j.name, false});
    players[id] = player{{}, new_token(), true, {}};
    return id;
  }

  std::list<page>::iterator attach(channel& ch) {
    auto it = pages.emplace(pages.end());
    it->ch = &ch;
    return it;
  }
  void detach(std::list<page>::iterator it) {
    if (it->player) leave(*it);
    pages.erase(it);
  }
  void handle(page& pg, const arena::protocol::client_message& m) {
    if (const auto* j = std::get_if<arena::join>(&m)) {
      if (pg.player) leave(pg);
      pg.player = join(pg, *j);
      pg.view.reset();  // the next patch is a snapshot
      post_message(*pg.ch, arena::welcome{pg.player, players[pg.player].token});
    } else if (const auto* k = std::get_if<arena::input>(&m)) {
      auto it = players.find(pg.player);
      if (it != players.end()) it->second.keys = *k;
    }
  }

  static void post_message(channel& ch, const arena::protocol::server_message& m) {
    std::string frame(1, static_cast<char>(arena::frame_message));
    frame += duplex::schema::encode_binary<arena::protocol::server_message>(m);
    ch.socket().post(frame, true);
  }

  void leave(page& pg) {
    auto it = players.find(pg.player);
    if (it == players.end()) return;
    it->second.connected = false;
    it->second.keys = {};
    it->second.left = clock_type::now();
    world.update(pg.player, [](arena::entity& e) { e.away = true; });
  }

  static float clamp(float v) { return std::clamp(v, 0.0f, arena::world_size); }

  void step() {
    const float dt = 1.0f / arena::tick_hz;
    const auto now = clock_type::now();
    for (auto it = players.begin(); it != players.end();) {
      const auto& [id, p] = *it;
      if (!p.connected && now - p.left > std::chrono::seconds(arena::grace_seconds)) {
        world.remove(id);
        it = players.erase(it);
        continue;
      }
      const float dx = float(p.keys.right) - float(p.keys.left), dy = float(p.keys.down) - float(p.keys.up);
      if (dx != 0 || dy != 0) {
        const float k = arena::player_speed * dt / std::sqrt(dx * dx + dy * dy);
        world.update(id, [&](arena::entity& e) { e.x = clamp(e.x + dx * k), e.y = clamp(e.y + dy * k); });
      }
      ++it;
    }
    for (auto& b : bots) {
      if (--b.turn_in <= 0) {
        b.heading += uniform(-1.5f, 1.5f);
        b.turn_in = 10 + static_cast<int>(rng() % 40);
      }
      world.update(b.id, [&](arena::entity& e) {
        float x = e.x + std::cos(b.heading) * arena::bot_speed * dt, y = e.y + std::sin(b.heading) * arena::bot_speed * dt;
        if (x <= 0 || x >= arena::world_size || y <= 0 || y >= arena::world_size) b.heading += 3.1416f;  // bounce
        e.x = clamp(x), e.y = clamp(y);
      });
    }
    world.tick();
    for (auto& pg : pages) send_patch(pg);
  }

  void send_patch(page& pg) {
    if (!pg.player) return;  // not joined yet (or taken over by a newer connection)
    if (pg.ch->socket().queued_bytes() > backlog_limit) {  // slow: skip; the next patch catches up
      ++pg.skipped;
      return;
    }
    if (const auto* me = world.find(pg.player)) pg.view.area(me->base.x, me->base.y, arena::view_radius);
    pg.view.make_patch(world, patch);
    patch_frame.assign(1, static_cast<char>(arena::frame_patch));
    patch_frame += patch.bytes;
    if (pg.ch->socket().post(patch_frame, true)) {
      // Not queued (closed, or over the send queue limit): the page would
      // miss a tick it cannot do without. Close it; it reconnects for a snapshot.
      pg.ch->socket().post_close(4000, "out of sync");
    }
  }
};

asio::awaitable<void> serve(game& g, duplex::websocket ws) {
  auto ch = co_await channel::accept(std::move(ws));
  if (!ch) co_return;  // another version: closed with 4406
  if (!ch->binary()) {
    co_await ch->close(4415, "the arena speaks binary frames: offer duplex.arena.v1.bin");
    co_return;
  }
  // (Plain calls here: GCC 12 mishandles braced temporaries in coroutines.)
  const auto me = g.attach(*ch);
  while (auto in = co_await ch->read()) {
    if (!*in) continue;  // a malformed message is ignored
    g.handle(*me, **in);
  }
  g.detach(me);
}

asio::awaitable<void> ticks(game& g) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  auto next = clock_type::now();
  for (;;) {
    next += std::chrono::milliseconds(1000 / arena::tick_hz);
    t.expires_at(next);
    co_await t.async_wait(asio::use_awaitable);
    if (clock_type::now() - next > std::chrono::seconds(1)) next = clock_type::now();  // no burst after a stall
    g.step();
  }
}

}  // namespace

int main(int argc, char** argv) {
  duplex::server_options opts;
  opts.port = 8090;
#ifdef ARENA_DEFAULT_WEB
  opts.root = ARENA_DEFAULT_WEB;
#else
  opts.root = std::filesystem::path(argv[0]).parent_path() / "arena-site";
#endif
  int bots = 8;
  for (int i = 1; i < argc; i += 2) {
    const std::string_view flag = i + 1 < argc ? argv[i] : "";
    if (flag == "--port") opts.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    else if (flag == "--host") opts.host = argv[i + 1];
    else if (flag == "--web") opts.root = argv[i + 1];
    else if (flag == "--bots") bots = std::clamp(std::atoi(argv[i + 1]), 0, 1000);
    else {
      std::cerr << "usage: duplex-arena [--port 8090] [--host 127.0.0.1] [--web DIR] [--bots 8]\n";
      return 2;
    }
  }
  if (!std::filesystem::is_regular_file(opts.root / "index.html"))
    std::cerr << "duplex-arena: warning: no index.html in " << opts.root.string() << " (--web DIR)" << std::endl;
  asio::io_context io(1);
  duplex::server srv(io, opts);
  game g;
  g.add_bots(bots);
  g.world.tick();
  srv.websocket("/ws/arena", [&g](duplex::websocket ws) { return serve(g, std::move(ws)); },
                duplex::protocol_endpoint<arena::protocol>());
  asio::co_spawn(io, srv.run(), asio::detached);
  asio::co_spawn(io, ticks(g), asio::detached);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });
  std::cout << "duplex-arena on http://" << opts.host << ":" << srv.port() << "/ (page from " << opts.root.string()
            << ", " << bots << " bots)" << std::endl;
  io.run();
  return 0;
}
