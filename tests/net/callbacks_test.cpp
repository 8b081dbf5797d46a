// Callback endpoints (websocket_callbacks) end to end: duplex::connect
// against a real duplex::server whose endpoint has no coroutine per
// connection. The RFC cases run against callbacks too
// (native.conformance.callbacks); these cover what is particular to them:
// the order and count of the callbacks, handles kept past a callback,
// exceptions, the rate limit's callback, idle timeouts, drain, the counters.
#include <duplex/net/client.hpp>

#include "test_server.hpp"

#include <gtest/gtest.h>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using duplex::test::run_client;
using duplex::test::test_server;
using namespace std::chrono_literals;

namespace {

// What the server's callbacks saw, in order (written on the server's
// thread, read by the test once the client is done).
struct journal {
  std::mutex m;
  std::vector<std::string> events;
  void add(std::string e) {
    std::lock_guard l(m);
    events.push_back(std::move(e));
  }
  std::vector<std::string> get() {
    std::lock_guard l(m);
    return events;
  }
};

duplex::websocket_callbacks logging_echo(journal& j) {
  return {
      .open = [&j](duplex::websocket& ws) { j.add("open " + ws.path()); },
      .message =
          [&j](duplex::websocket& ws, const duplex::message_view& m) {
            j.add(std::string(m.binary ? "binary " : "text ") + std::to_string(m.data.size()));
            ws.post(m.data, m.binary);
          },
      .close = [&j](duplex::websocket& ws) { j.add("close " + std::to_string(ws.close_code()) + " " + ws.close_reason()); },
  };
}

// Waits (bounded) until `pred` holds; the server's thread gets there on its own time.
template <class P>
bool eventually(P pred, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

}  // namespace

TEST(Callbacks, OpenEachMessageInOrderThenCloseOnce) {
  journal j;
  duplex::server_options o;
  o.websocket.max_message_size = 4 << 20;
  test_server srv(o, [&](duplex::server& s) { s.websocket("/cb", logging_echo(j)); });
  run_client([&]() -> asio::awaitable<void> {
    duplex::connect_options co;
    co.websocket.max_message_size = 4 << 20;
    auto ws = co_await duplex::connect(srv.ws_url("/cb?x=1"), co);
    std::string big(3 << 20, 'b');
    EXPECT_FALSE(co_await ws.send("hello"));
    EXPECT_FALSE(co_await ws.send(big, true));
    EXPECT_FALSE(co_await ws.send(""));
    auto a = co_await ws.read();
    auto b = co_await ws.read();
    auto c = co_await ws.read();
    EXPECT_TRUE(a && !a->binary && a->data == "hello");
    EXPECT_TRUE(b && b->binary && b->data == big);
    EXPECT_TRUE(c && !c->binary && c->data.empty());
    co_await ws.close(4000, "bye");
    EXPECT_EQ(ws.close_code(), 4000);
  });
  ASSERT_TRUE(eventually([&] { return j.get().size() == 5; }));
  EXPECT_EQ(j.get(), (std::vector<std::string>{"open /cb?x=1", "text 5", "binary " + std::to_string(3 << 20), "text 0",
                                               "close 4000 bye"}));
  EXPECT_TRUE(eventually([&] { return srv.stats().connections == 0; }));
  const auto st = srv.stats();
  EXPECT_EQ(st.opened, 1u);
  EXPECT_EQ(st.closed, 1u);
  EXPECT_EQ(st.messages_in, 3u);
}

TEST(Callbacks, RepliesPastTheQueueLimitWaitForTheQueueNotTheBin) {
  // The default wait policy: an echo that outpaces its reader loses nothing;
  // the connection is not read while its queue is over the limit, so the
  // server's queue stays near the limit (TCP holds the rest).
  std::atomic<std::size_t> most_queued{0};
  duplex::server_options o;
  o.websocket.send_queue_limit = 64 * 1024;
  test_server srv(o, [&](duplex::server& s) {
    s.websocket("/cb", duplex::websocket_callbacks{.message = [&](duplex::websocket& ws, const duplex::message_view& m) {
                  EXPECT_FALSE(ws.post(m.data, m.binary));
                  most_queued = std::max<std::size_t>(most_queued, ws.queued_bytes());
                }});
  });
  constexpr int count = 400;
  const std::string payload(16 * 1024, 'q');
  run_client([&]() -> asio::awaitable<void> {
    auto ws = co_await duplex::connect(srv.ws_url("/cb"));
    int received = 0;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> {
          while (auto m = co_await ws.read()) {
            EXPECT_EQ(m->data, payload);
            if (++received == count) break;
          }
        },
        asio::detached);
    for (int i = 0; i < count; ++i) EXPECT_FALSE(co_await ws.send(payload));
    while (received < count) co_await sleep_for(10ms);
    co_await ws.close();
  });
  EXPECT_GT(most_queued.load(), 64u * 1024);  // the limit was reached and passed, not refused
  EXPECT_LT(most_queued.load(), 64u * 1024 + 256 * 1024);  // by at most what one batch of reads brought
}

TEST(Callbacks, AKeptHandleBroadcastsUntilTheConnectionEnds) {
  // A "room": open keeps the handle, a message from anyone goes to all.
  std::vector<duplex::websocket> room;  // the server's thread only
  test_server srv({}, [&](duplex::server& s) {
    s.websocket("/room", duplex::websocket_callbacks{
                             .open = [&](duplex::websocket& ws) { room.push_back(ws); },
                             .message =
                                 [&](duplex::websocket&, const duplex::message_view& m) {
                                   duplex::prepared_message p{std::string(m.data)};
                                   for (auto& member : room) member.post(p);
                                 },
                             .close = [&](duplex::websocket& ws) { std::erase(room, ws); },
                         });
  });
  run_client([&]() -> asio::awaitable<void> {
    auto a = co_await duplex::connect(srv.ws_url("/room"));
    auto b = co_await duplex::connect(srv.ws_url("/room"));
    co_await sleep_for(50ms);  // both opened
    EXPECT_FALSE(co_await a.send("from a"));
    auto at_a = co_await a.read();
    auto at_b = co_await b.read();
    EXPECT_TRUE(at_a && at_a->data == "from a");
    EXPECT_TRUE(at_b && at_b->data == "from a");
    co_await a.close();
    co_await sleep_for(50ms);  // a left the room
    EXPECT_FALSE(co_await b.send("from b"));
    auto again = co_await b.read();
    EXPECT_TRUE(again && again->data == "from b");
    co_await b.close();
  });
  EXPECT_TRUE(eventually([&] { return srv.stats().connections == 0; }));
}

TEST(Callbacks, AThrowingCallbackClosesWith1011AndOthersAreServed) {
  test_server srv({}, [&](duplex::server& s) {
    s.websocket("/cb", duplex::websocket_callbacks{.message = [](duplex::websocket& ws, const duplex::message_view& m) {
                  if (m.data == "throw") throw std::runtime_error("boom");
                  ws.post(m.data);
                }});
  });
  run_client([&]() -> asio::awaitable<void> {
    auto bad = co_await duplex::connect(srv.ws_url("/cb"));
    auto good = co_await duplex::connect(srv.ws_url("/cb"));
    EXPECT_FALSE(co_await bad.send("before"));
    EXPECT_FALSE(co_await bad.send("throw"));
    auto before = co_await bad.read();
    EXPECT_TRUE(before && before->data == "before");
    EXPECT_FALSE(co_await bad.read());  // the server's Close
    EXPECT_EQ(bad.close_code(), 1011);
    EXPECT_FALSE(co_await good.send("still here"));
    auto m = co_await good.read();
    EXPECT_TRUE(m && m->data == "still here");
    co_await good.close();
  });
}

TEST(Callbacks, RefusedMessagesReachTheRateLimitedCallbackNotMessage) {
  std::atomic<int> passed{0}, refused{0};
  duplex::server_options o;
  o.websocket.max_messages_per_second = 5;
  o.websocket.message_burst = 5;
  o.websocket.rate_limit_close_after = 0;  // refuse, never close
  test_server srv(o, [&](duplex::server& s) {
    s.websocket("/cb", duplex::websocket_callbacks{
                           .message = [&](duplex::websocket&, const duplex::message_view&) { ++passed; },
                           .rate_limited =
                               [&](duplex::websocket& ws) {
                                 if (++refused == 1) ws.post("wait " + std::to_string(ws.retry_after().count()));
                               },
                       });
  });
  run_client([&]() -> asio::awaitable<void> {
    auto ws = co_await duplex::connect(srv.ws_url("/cb"));
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(ws.post("m" + std::to_string(i)));
    auto told = co_await ws.read();
    EXPECT_TRUE(told && told->data.starts_with("wait "));
    EXPECT_TRUE(ws.is_open());
    co_await ws.close();
  });
  EXPECT_TRUE(eventually([&] { return passed + refused == 20; }));
  EXPECT_GE(passed.load(), 5);
  EXPECT_LE(passed.load(), 6);  // the burst, plus what refilled meanwhile
  EXPECT_EQ(srv.stats().rate_limited, static_cast<std::uint64_t>(refused.load()));
}

TEST(Callbacks, APeerThatStopsAnsweringIsDroppedByTheIdleTimeout) {
  journal j;
  duplex::server_options o;
  o.websocket.idle_timeout = 300ms;
  test_server srv(o, [&](duplex::server& s) { s.websocket("/cb", logging_echo(j)); });
  // A raw TCP client: it completes the handshake and then never reads or
  // answers the server's ping.
  asio::io_context io;
  asio::ip::tcp::socket raw(io);
  raw.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  const std::string req =
      "GET /cb HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  asio::write(raw, asio::buffer(req));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return j.get().size() == 2; }, 5s));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(j.get()[1], "close 1006 ");
  // Ping after 150 ms idle, dropped 150 ms later; the sweep adds up to one
  // period (75 ms) to each.
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  // A client that keeps talking stays, past several timeouts.
  run_client([&]() -> asio::awaitable<void> {
    auto ws = co_await duplex::connect(srv.ws_url("/cb"));
    for (int i = 0; i < 10; ++i) {
      EXPECT_FALSE(co_await ws.send("alive"));
      auto m = co_await ws.read();
      EXPECT_TRUE(m && m->data == "alive");
      co_await sleep_for(100ms);
    }
    EXPECT_TRUE(ws.is_open());
    co_await ws.close();
  });
}

TEST(Callbacks, ACoroutineCannotReadTheConnectionAndItsCloseDoesNotWait) {
  // The callbacks are the connection's one reader: a coroutine's read()
  // gets nothing (the message still reaches `message`), and its close()
  // sends the Close without reading the answer itself.
  journal j;
  test_server srv({}, [&](duplex::server& s) {
    auto cb = logging_echo(j);
    cb.open = [&j](duplex::websocket& ws) {
      j.add("open");
      asio::co_spawn(
          ws.get_executor(),
          [ws, &j]() mutable -> asio::awaitable<void> {
            duplex::message m;
            std::error_code ec;
            const bool got = co_await ws.read(m, ec);
            j.add(std::string("read ") + (got ? "true" : "false") + " " + (ec == duplex::errc::closed ? "closed" : "?"));
            co_await sleep_for(100ms);
            co_await ws.close(4001, "from a coroutine");
            j.add("close returned");
          },
          asio::detached);
    };
    s.websocket("/cb", std::move(cb));
  });
  run_client([&]() -> asio::awaitable<void> {
    auto ws = co_await duplex::connect(srv.ws_url("/cb"));
    EXPECT_FALSE(co_await ws.send("hi"));
    auto echo = co_await ws.read();
    EXPECT_TRUE(echo && echo->data == "hi");
    EXPECT_FALSE(co_await ws.read());  // the server's Close
    EXPECT_EQ(ws.close_code(), 4001);
  });
  ASSERT_TRUE(eventually([&] { return j.get().size() == 5; }));
  const auto e = j.get();
  EXPECT_EQ(e[0], "open");
  EXPECT_EQ(e[1], "read false closed");
  EXPECT_EQ(e[2], "text 2");
  EXPECT_EQ(e[3], "close returned");
  EXPECT_EQ(e[4], "close 4001 ");
}

TEST(Callbacks, DrainClosesCallbackConnectionsWith1001) {
  journal j;
  asio::io_context io;
  duplex::server_options o;
  o.host = "127.0.0.1";
  duplex::server srv(io, o);
  srv.websocket("/cb", logging_echo(j));
  asio::co_spawn(io, srv.run(), asio::detached);
  std::thread t([&] { io.run(); });
  run_client([&]() -> asio::awaitable<void> {
    auto ws = co_await duplex::connect("ws://127.0.0.1:" + std::to_string(srv.port()) + "/cb");
    EXPECT_FALSE(co_await ws.send("x"));
    auto echo = co_await ws.read();
    EXPECT_TRUE(echo);
    std::promise<std::size_t> dropped;
    asio::co_spawn(io, srv.drain(5s), [&](std::exception_ptr, std::size_t n) { dropped.set_value(n); });
    EXPECT_FALSE(co_await ws.read());  // the server's Close, answered by read()
    EXPECT_EQ(ws.close_code(), 1001);
    EXPECT_EQ(dropped.get_future().get(), 0u);
  });
  io.stop();
  t.join();
  ASSERT_EQ(j.get().size(), 3u);
  EXPECT_EQ(j.get()[2], "close 1001 ");  // the client's answer (no reason)
}
