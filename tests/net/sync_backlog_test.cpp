// A slow client of duplex::sync over a real socket (issue 22): the arena's
// rule in process (arena.hpp's entity; a page whose socket has more than
// 64 KiB queued skips the tick). A raw client with a small receive buffer
// stops reading while the world changes every tick; the server must skip it
// rather than queue a backlog, and when it reads again it gets, after what
// was already queued, one patch from what it has to the newest tick; its
// replica then equals the server's state, and it took fewer patches than
// there were ticks.
#include "arena.hpp"

#include <duplex/net/server.hpp>
#include <duplex/net/websocket.hpp>
#include <duplex/sync/sync.hpp>

#include "test_server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using duplex::test::test_server;

namespace {

constexpr std::size_t backlog_limit = 64 * 1024;  // as duplex-arena
constexpr std::uint32_t n_entities = 3000;        // ~18 KB of changes per tick

struct game {
  duplex::sync::world<arena::entity> world{&arena::entity::id};
  std::optional<duplex::websocket> ws;  // the one page (the server's thread)
  duplex::sync::view<arena::entity> view;
  // Set by the test's thread: stop changing the world, catch the page up, finish.
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, skipped{0};
  std::atomic<std::size_t> max_queued{0};
  // Written once when done (under m).
  std::mutex m;
  bool done = false;
  duplex::sync::tick_t final_tick = 0;
  std::map<std::uint32_t, arena::entity> final_state;

  game() {
    for (std::uint32_t i = 1; i <= n_entities; ++i) {
      arena::entity e;
      e.id = i;
      e.x = static_cast<float>(i % 1000), e.y = static_cast<float>((i * 7) % 1000);
      e.name = "bot" + std::to_string(i);
      world.upsert(e);
    }
    world.tick();
  }

  void move_all() {
    for (std::uint32_t i = 1; i <= n_entities; ++i)
      world.update(i, [&](arena::entity& e) {
        e.x = std::fmod(e.x + 1.37f + static_cast<float>(i % 10) * 0.01f, 1000.0f);
        e.y = std::fmod(e.y + 0.83f, 1000.0f);
      });
  }

  // The arena's send_patch: skip a backlogged page, else one patch to the newest tick.
  void send_patch() {
    const std::size_t q = ws->queued_bytes();
    if (q > max_queued) max_queued = q;
    if (q > backlog_limit) {
      ++skipped;
      return;
    }
    auto p = view.make_patch(world);
    EXPECT_FALSE(ws->post(p.bytes, true));
    ++sent;
  }

  void finish() {
    std::lock_guard lock(m);
    final_tick = world.now();
    world.for_each([&](std::uint32_t id, const auto& e) { final_state[id] = e.base; });
    done = true;
  }
};

asio::awaitable<void> run_ticks(game& g) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < 3000; ++i) {  // at most 30 s
    t.expires_after(10ms);
    co_await t.async_wait(asio::use_awaitable);
    if (!g.ws) co_return;
    if (!g.stop) g.move_all();
    g.world.tick();
    g.send_patch();
    if (g.stop && g.view.has() == g.world.now()) {  // caught up: the last patch is queued
      g.finish();
      co_return;
    }
  }
  g.finish();
}

asio::awaitable<void> serve(game& g, duplex::websocket ws) {
  g.ws.emplace(ws);
  asio::co_spawn(co_await asio::this_coro::executor, run_ticks(g), asio::detached);
  duplex::message m;
  while (co_await ws.read(m)) {
  }
  g.ws.reset();
}

// The raw client's side: reads whole frames with a timeout.
struct raw_reader {
  int fd;
  std::string buf;
  // One binary message, or nullopt after `wait` without one.
  std::optional<std::string> next(std::chrono::milliseconds wait) {
    for (;;) {
      if (auto f = parse()) return f;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
      char chunk[65536];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buf.append(chunk, static_cast<std::size_t>(n));
    }
  }
  std::optional<std::string> parse() {
    for (;;) {
      if (buf.size() < 2) return std::nullopt;
      const auto b0 = static_cast<unsigned char>(buf[0]), b1 = static_cast<unsigned char>(buf[1]);
      std::size_t at = 2;
      std::uint64_t len = b1 & 0x7F;
      if (len == 126 || len == 127) {
        const std::size_t k = len == 126 ? 2 : 8;
        if (buf.size() < 2 + k) return std::nullopt;
        len = 0;
        for (std::size_t i = 0; i < k; ++i) len = (len << 8) | static_cast<unsigned char>(buf[2 + i]);
        at += k;
      }
      if (buf.size() < at + len) return std::nullopt;
      std::string payload = buf.substr(at, static_cast<std::size_t>(len));
      buf.erase(0, at + static_cast<std::size_t>(len));
      const unsigned op = b0 & 0x0F;
      if (op == 0x9 || op == 0xA) continue;  // ping/pong: not ours to check here
      EXPECT_EQ(b0, 0x82) << "a whole binary message";
      return payload;
    }
  }
};

}  // namespace

TEST(SyncBacklog, ASlowClientIsSkippedThenCatchesUpInOnePatch) {
  game g;
  test_server srv(duplex::server_options{}, [&g](duplex::server& s) {
    s.websocket("/arena", [&g](duplex::websocket ws) { return serve(g, std::move(ws)); });
  });
  asio::io_context io;
  asio::ip::tcp::socket raw(io);
  raw.open(asio::ip::tcp::v4());
  const int small = 4096;
  ::setsockopt(raw.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  raw.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  asio::write(raw, asio::buffer(std::string("GET /arena HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")));
  std::string head;
  asio::read_until(raw, asio::dynamic_buffer(head), "\r\n\r\n");
  ASSERT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  raw_reader rd{raw.native_handle(), head.substr(head.find("\r\n\r\n") + 4)};

  // Not reading: the server's queue for it fills, and it is skipped tick after tick.
  for (int i = 0; i < 3000 && g.skipped < 20; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GE(g.skipped.load(), 20) << "the client was never skipped (sent " << g.sent << ")";
  const int sent_while_stalled = g.sent;

  // Reading again: everything queued, then a patch over the skipped ticks.
  duplex::sync::replica<arena::entity> r(&arena::entity::id);
  int patches = 0, catch_ups = 0;
  duplex::sync::tick_t widest = 0;
  const auto read_one = [&](std::chrono::milliseconds wait) {
    auto f = rd.next(wait);
    if (!f) return false;
    auto c = r.apply(*f);
    EXPECT_TRUE(c) << to_string(c.error().code) << ": " << c.error().detail;
    if (!c) return false;
    ++patches;
    if (c->to - c->from > 1) ++catch_ups;
    widest = std::max(widest, c->to - c->from);
    return true;
  };
  for (int i = 0; i < 100000 && patches < sent_while_stalled + 10; ++i)
    if (!read_one(5s)) break;
  ASSERT_GE(patches, sent_while_stalled + 10) << "the stream stopped";
  g.stop = true;
  // The server stops changing the world and sends until the page has the newest tick.
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard lock(g.m);
      if (g.done && r.tick() == g.final_tick) break;
    }
    if (!read_one(100ms)) continue;
  }
  std::lock_guard lock(g.m);
  ASSERT_TRUE(g.done);
  ASSERT_EQ(r.tick(), g.final_tick);
  EXPECT_EQ(g.skipped + g.sent, static_cast<int>(g.final_tick) - 1);  // one decision per tick after the first
  EXPECT_EQ(patches, g.sent.load());                                  // every patch sent, none dropped
  EXPECT_LT(patches, static_cast<int>(g.final_tick) - 1);              // no backlog: fewer patches than ticks
  EXPECT_GE(catch_ups, 1);                                             // one patch over the skipped ticks
  EXPECT_GT(widest, 1u);
  // Queued bytes never grew past the limit by more than one patch (~18 KB).
  EXPECT_LT(g.max_queued.load(), backlog_limit + 64 * 1024);
  ASSERT_EQ(r.size(), g.final_state.size());
  for (const auto& [id, e] : g.final_state) {
    const arena::entity* got = r.find(id);
    ASSERT_NE(got, nullptr) << id;
    ASSERT_EQ(*got, e) << id;
  }
  std::printf("%d ticks: %d patches sent, %d ticks skipped, widest patch %llu ticks, %d catch-up patches\n",
              static_cast<int>(g.final_tick), g.sent.load(), g.skipped.load(),
              static_cast<unsigned long long>(widest), catch_ups);
  raw.close();
}
