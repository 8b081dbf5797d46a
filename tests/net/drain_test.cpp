// server::drain(), plain-HTTP routes and the per-thread counters, on a
// two-thread server with real sockets.
#include <duplex/net/client.hpp>

#include "pool_server.hpp"
#include "test_server.hpp"

#include <gtest/gtest.h>

#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <optional>
#include <string>
#include <vector>

using duplex::test::http_exchange;
using duplex::test::pool_server;
using duplex::test::run_client;
using duplex::test::silent_client;
using namespace std::chrono_literals;

namespace {

void echo_endpoint(duplex::server& srv, duplex::hub&) {
  srv.websocket("/echo", [](duplex::websocket ws) -> asio::awaitable<void> {
    while (auto m = co_await ws.read()) co_await ws.send(*m);
  });
}

// Starts drain() on the server's first thread; the future has its result.
std::future<std::size_t> start_drain(pool_server& srv, std::chrono::milliseconds timeout) {
  return asio::co_spawn(srv.pool()[0], srv.srv().drain(timeout), asio::use_future);
}


}  // namespace

TEST(Drain, EveryClientOnEveryThreadSeesGoingAwayAndDrainEndsWhenAllClosed) {
  pool_server srv(2, {}, echo_endpoint);
  constexpr int clients = 20;
  run_client([&]() -> asio::awaitable<void> {
    std::vector<duplex::websocket> ws;
    for (int i = 0; i < clients; ++i) ws.push_back(co_await duplex::connect(srv.ws_url("/echo")));
    for (auto& w : ws) {
      co_await w.send("hi");
      EXPECT_EQ((co_await w.read())->data, "hi");
    }
    EXPECT_EQ(srv.srv().stats().connections, std::size_t(clients));
    const auto t0 = std::chrono::steady_clock::now();
    auto drained = start_drain(srv, 10s);
    for (auto& w : ws) {
      EXPECT_FALSE(co_await w.read());
      EXPECT_EQ(w.close_code(), 1001);
      EXPECT_EQ(w.close_reason(), "server shutting down");
    }
    // drain() returns once the handshakes are done, well before its timeout.
    while (drained.wait_for(0s) != std::future_status::ready && std::chrono::steady_clock::now() - t0 < 9s) {
      asio::steady_timer t(co_await asio::this_coro::executor, 10ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_EQ(drained.get(), 0u);
    EXPECT_TRUE(srv.srv().draining());
    // No new connections once draining.
    bool refused = false;
    try {
      co_await duplex::connect(srv.ws_url("/echo"));
    } catch (const std::system_error&) {
      refused = true;
    }
    EXPECT_TRUE(refused);
  });
  const auto st = srv.srv().stats();
  EXPECT_EQ(st.connections, 0u);
  EXPECT_EQ(st.opened, std::size_t(clients));
  ASSERT_FALSE(st.closes_by_code.empty());
  EXPECT_EQ(st.closes_by_code[0], (std::pair<std::string, std::uint64_t>{"1001", clients}));
  EXPECT_EQ(st.messages_in, std::size_t(clients));
  EXPECT_EQ(st.messages_out, std::size_t(clients));
  EXPECT_GT(st.bytes_in, 0u);
  EXPECT_GT(st.bytes_out, 0u);
}

TEST(Drain, AClientThatNeverAnswersIsDroppedAtTheTimeout) {
  pool_server srv(2, {}, echo_endpoint);
  asio::io_context io;
  auto quiet = silent_client(io, srv.port(), "/echo");
  // The server counts it once the handler runs.
  for (int i = 0; i < 200 && srv.srv().stats().connections < 1; ++i) std::this_thread::sleep_for(10ms);
  const auto t0 = std::chrono::steady_clock::now();
  auto drained = start_drain(srv, 1s);
  ASSERT_EQ(drained.wait_for(5s), std::future_status::ready);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(drained.get(), 1u);
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 4s);  // 1 s + at most 0.5 s grace, with room for a loaded machine
  EXPECT_EQ(srv.srv().stats().connections, 0u);
}

// One io_context's watchdog list holds every session on that thread: this
// server's, another server's and a client's. drain() closes only its own.
TEST(Drain, LeavesAnotherServersAndTheClientsConnectionsOnTheSameThreadAlone) {
  asio::io_context io{1};
  duplex::server_options o;
  o.host = "127.0.0.1";
  o.port = 0;
  duplex::server a(io, o), b(io, o);
  const auto echo = [](duplex::websocket ws) -> asio::awaitable<void> {
    while (auto m = co_await ws.read()) co_await ws.send(*m);
  };
  a.websocket("/echo", echo);
  b.websocket("/echo", echo);
  asio::co_spawn(io, a.run(), asio::detached);
  asio::co_spawn(io, b.run(), asio::detached);
  const std::string url_a = "ws://127.0.0.1:" + std::to_string(a.port()) + "/echo";
  const std::string url_b = "ws://127.0.0.1:" + std::to_string(b.port()) + "/echo";
  auto test = [&]() -> asio::awaitable<void> {
    duplex::websocket to_a = co_await duplex::connect(url_a);
    duplex::websocket to_b = co_await duplex::connect(url_b);
    co_await to_a.send("a");
    EXPECT_EQ((co_await to_a.read())->data, "a");
    co_await to_b.send("b");
    EXPECT_EQ((co_await to_b.read())->data, "b");
    std::optional<std::size_t> left;
    asio::co_spawn(io, a.drain(5s), [&left](std::exception_ptr, std::size_t n) { left = n; });
    EXPECT_FALSE(co_await to_a.read());
    EXPECT_EQ(to_a.close_code(), 1001);
    for (int i = 0; i < 400 && !left; ++i) {
      asio::steady_timer t(io, 10ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    EXPECT_EQ(left, std::optional<std::size_t>(0));
    EXPECT_EQ(a.stats().connections, 0u);
    // The other server's connection, and the client's end of it, still work.
    EXPECT_TRUE(to_b.is_open());
    co_await to_b.send("still");
    EXPECT_EQ((co_await to_b.read())->data, "still");
    EXPECT_EQ(b.stats().connections, 1u);
    EXPECT_FALSE(b.draining());
    co_await to_b.close();
    b.stop();
  };
  auto done = asio::co_spawn(io, test(), asio::use_future);
  io.run_for(10s);
  ASSERT_EQ(done.wait_for(0s), std::future_status::ready);
  done.get();
}

TEST(Routes, AnswerGetAndHeadAndLeaveOtherPathsToStaticFiles) {
  pool_server srv(2, {}, [](duplex::server& s, duplex::hub&) {
    s.route("/healthz", [&s](const duplex::protocol::http_request&) {
      return s.draining() ? duplex::route_response{503, "text/plain", "draining\n"}
                          : duplex::route_response{200, "text/plain", "ok\n"};
    });
  });
  auto get = http_exchange(srv.port(), "GET /healthz?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", true);
  EXPECT_EQ(get.rfind("HTTP/1.1 200", 0), 0u) << get;
  EXPECT_NE(get.find("\r\n\r\nok\n"), std::string::npos);
  auto head = http_exchange(srv.port(), "HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", true);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(head.find("ok\n"), std::string::npos);
  auto other = http_exchange(srv.port(), "GET /other HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", true);
  EXPECT_EQ(other.rfind("HTTP/1.1 404", 0), 0u);
  auto post = http_exchange(srv.port(), "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", true);
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u);
}

TEST(Metrics, RendersPrometheusTextWithTheAppsGauges) {
  duplex::metrics m;
  m.gauge("app_rooms", "Rooms with members.", [] { return 3.0; });
  m.counter("app_lines_total", "Lines sent.", [] { return 12.0; });
  duplex::server_stats s;
  s.connections = 2;
  s.messages_in = 7;
  s.closes_by_code = {{"1000", 4}, {"other", 1}};
  const std::string text = m.render(s);
  EXPECT_NE(text.find("# TYPE duplex_connections gauge\nduplex_connections 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE duplex_messages_received_total counter\nduplex_messages_received_total 7\n"),
            std::string::npos);
  EXPECT_NE(text.find("duplex_closes_total{code=\"1000\"} 4\nduplex_closes_total{code=\"other\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("# HELP app_rooms Rooms with members.\n# TYPE app_rooms gauge\napp_rooms 3\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE app_lines_total counter\napp_lines_total 12\n"), std::string::npos) << text;
}
