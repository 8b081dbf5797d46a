// The coroutine API end to end: duplex::connect against a real duplex::server.
#include <duplex/net/client.hpp>

#include "test_server.hpp"

#include <gtest/gtest.h>

#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <asio/use_awaitable.hpp>

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using duplex::test::run_client;
using duplex::test::test_server;
using namespace std::chrono_literals;

namespace {

asio::awaitable<void> echo(duplex::websocket ws) {
  while (auto m = co_await ws.read()) co_await ws.send(*m);
}

test_server echo_server(duplex::server_options o = {}) {
  return test_server(std::move(o), [](duplex::server& s) { s.websocket("/echo", echo); });
}

}  // namespace

TEST(WebSocket, EchoesTextBinaryAndLargeMessages) {
  duplex::server_options o;
  o.websocket.max_message_size = 4 << 20;
  auto srv = echo_server(o);
  run_client([&]() -> asio::awaitable<void> {
    duplex::connect_options co;
    co.websocket.max_message_size = 4 << 20;
    auto ws = co_await duplex::connect(srv.ws_url("/echo"), co);
    std::string big(3 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
    EXPECT_FALSE(co_await ws.send("hello"));
    EXPECT_FALSE(co_await ws.send(big, true));
    EXPECT_FALSE(co_await ws.send(""));
    auto a = co_await ws.read();
    auto b = co_await ws.read();
    auto c = co_await ws.read();
    EXPECT_TRUE(a && !a->binary && a->data == "hello");
    EXPECT_TRUE(b && b->binary && b->data == big);
    EXPECT_TRUE(c && !c->binary && c->data.empty());
    co_await ws.close(duplex::protocol::close_code::normal, "done");
    EXPECT_EQ(ws.close_code(), 1000);
    EXPECT_FALSE(ws.is_open());
    EXPECT_EQ(co_await ws.send("after close"), duplex::errc::closed);
  });
}

TEST(WebSocket, NegotiatesASubprotocolInServerOrder) {
  test_server srv({}, [](duplex::server& s) {
    s.websocket("/p", [](duplex::websocket ws) -> asio::awaitable<void> {
      co_await ws.send(ws.subprotocol());
      while (co_await ws.read()) {
      }
    }, {.subprotocols = {"chat.v2", "chat"}});
  });
  run_client([&]() -> asio::awaitable<void> {
    duplex::connect_options co;
    co.subprotocols = {"chat", "chat.v2"};
    auto ws = co_await duplex::connect(srv.ws_url("/p"), co);
    EXPECT_EQ(ws.subprotocol(), "chat.v2");
    auto m = co_await ws.read();
    EXPECT_TRUE(m && m->data == "chat.v2");
    duplex::connect_options none;
    none.subprotocols = {"other"};
    auto ws2 = co_await duplex::connect(srv.ws_url("/p"), none);
    EXPECT_EQ(ws2.subprotocol(), "");
  });
}

TEST(WebSocket, ServerCloseCodeAndReasonReachTheClient) {
  test_server srv({}, [](duplex::server& s) {
    s.websocket("/bye", [](duplex::websocket ws) -> asio::awaitable<void> { co_await ws.close(4001, "bye now"); });
    s.websocket("/throw", [](duplex::websocket) -> asio::awaitable<void> {
      throw std::runtime_error("handler bug");
      co_return;
    });
  });
  run_client([&]() -> asio::awaitable<void> {
    auto ws = co_await duplex::connect(srv.ws_url("/bye"));
    EXPECT_FALSE(co_await ws.read());
    EXPECT_EQ(ws.close_code(), 4001);
    EXPECT_EQ(ws.close_reason(), "bye now");
    auto ws2 = co_await duplex::connect(srv.ws_url("/throw"));
    EXPECT_FALSE(co_await ws2.read());
    EXPECT_EQ(ws2.close_code(), 1011);
  });
}

TEST(WebSocket, OversizeMessageClosesWith1009AndOthersAreStillServed) {
  duplex::server_options o;
  o.websocket.max_message_size = 1000;
  auto srv = echo_server(o);
  run_client([&]() -> asio::awaitable<void> {
    auto good = co_await duplex::connect(srv.ws_url("/echo"));
    auto bad = co_await duplex::connect(srv.ws_url("/echo"));
    co_await bad.send(std::string(1001, 'x'));
    EXPECT_FALSE(co_await bad.read());
    EXPECT_EQ(bad.close_code(), 1009);
    co_await good.send(std::string(1000, 'y'));
    auto m = co_await good.read();
    EXPECT_TRUE(m && m->data.size() == 1000);
  });
}

TEST(WebSocket, ConnectReportsTypedErrors) {
  auto srv = echo_server();
  run_client([&]() -> asio::awaitable<void> {
    auto expect_error = [](std::string url, duplex::errc want, duplex::connect_options co) -> asio::awaitable<void> {
      try {
        co_await duplex::connect(url, co);
        ADD_FAILURE() << url << " connected";
      } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), want) << url << ": " << e.what();
      }
    };
    const duplex::connect_options plain;
    co_await expect_error("http://127.0.0.1/", duplex::errc::bad_url, plain);
    co_await expect_error("ws://127.0.0.1:99999/", duplex::errc::bad_url, plain);
    co_await expect_error("ws:///nohost", duplex::errc::bad_url, plain);
    co_await expect_error(srv.ws_url("/no-such-endpoint"), duplex::errc::bad_accept, plain);  // 404
    duplex::connect_options evil;
    evil.origin = "http://evil.example";
    co_await expect_error(srv.ws_url("/echo"), duplex::errc::bad_accept, evil);  // 403
  });
}

TEST(WebSocket, ConnectWithAnErrorCodeSetsItInsteadOfThrowing) {
  auto srv = echo_server();
  run_client([&]() -> asio::awaitable<void> {
    std::error_code ec = duplex::errc::closed;  // cleared on success
    const std::string good = srv.ws_url("/echo");
    auto ws = co_await duplex::connect(good, ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(ws && ws->is_open());
    if (ws) co_await ws->close();
    auto bad = co_await duplex::connect("http://127.0.0.1/", ec);
    EXPECT_FALSE(bad);
    EXPECT_EQ(ec, duplex::errc::bad_url);
    duplex::connect_options evil;
    evil.origin = "http://evil.example";
    const std::string echo_url = srv.ws_url("/echo");
    auto refused = co_await duplex::connect(echo_url, evil, ec);
    EXPECT_FALSE(refused);
    EXPECT_EQ(ec, duplex::errc::bad_accept);  // 403
  });
}

TEST(WebSocket, AnyCoroutineMaySendWhileTheOwnerReads) {
  // A room: every message is posted to all members by the sender's coroutine.
  std::vector<duplex::websocket> members;
  test_server srv({}, [&](duplex::server& s) {
    s.websocket("/room", [&](duplex::websocket ws) -> asio::awaitable<void> {
      members.push_back(ws);
      while (auto m = co_await ws.read())
        for (auto& peer : members) peer.post(m->data);
      std::erase(members, ws);
    });
  });
  run_client([&]() -> asio::awaitable<void> {
    auto a = co_await duplex::connect(srv.ws_url("/room"));
    auto b = co_await duplex::connect(srv.ws_url("/room"));
    co_await a.send("ping-from-a");  // b may not be a member yet: wait for a's own copy first
    auto own = co_await a.read();
    EXPECT_TRUE(own && own->data == "ping-from-a");
    for (int i = 0; i < 100; ++i) co_await a.send("m" + std::to_string(i));
    for (int i = 0; i < 100; ++i) {
      auto m = co_await b.read();
      if (!m) break;
      if (m->data == "ping-from-a") { --i; continue; }
      EXPECT_EQ(m->data, "m" + std::to_string(i));
    }
  });
}

TEST(WebSocket, SlowReaderIsClosedAndServerMemoryStaysBounded) {
  duplex::server_options o;
  o.websocket.send_queue_limit = 64 * 1024;
  o.websocket.on_overflow = duplex::overflow_policy::close;
  o.websocket.close_timeout = 300ms;
  std::size_t max_queued = 0;
  std::error_code refused;
  int sent = 0;
  test_server srv(o, [&](duplex::server& s) {
    s.websocket("/flood", [&](duplex::websocket ws) -> asio::awaitable<void> {
      const std::string chunk(1024, 'f');
      asio::steady_timer t(co_await asio::this_coro::executor);
      // Produce far more than the peer reads (it never reads).
      for (int i = 0; i < 100000 && !refused; ++i) {
        refused = co_await ws.send(chunk);
        max_queued = std::max(max_queued, ws.queued_bytes());
        ++sent;
        if (i % 64 == 0) {  // let the writer run
          t.expires_after(1ms);
          co_await t.async_wait(asio::use_awaitable);
        }
      }
    });
    s.websocket("/echo", echo);
  });
  // A raw TCP client that upgrades and then never reads.
  asio::io_context io;
  asio::ip::tcp::socket raw(io);
  raw.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  const int small = 4096;
  ::setsockopt(raw.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  asio::write(raw, asio::buffer(std::string("GET /flood HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")));
  // Meanwhile another client is served normally.
  run_client([&]() -> asio::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor, 1500ms);
    co_await t.async_wait(asio::use_awaitable);
    auto ws = co_await duplex::connect(srv.ws_url("/echo"));
    co_await ws.send("still here");
    auto m = co_await ws.read();
    EXPECT_TRUE(m && m->data == "still here");
  });
  EXPECT_EQ(refused, duplex::errc::slow_consumer);
  EXPECT_LT(sent, 100000);
  EXPECT_LE(max_queued, 64u * 1024u + 1024u + 16u);
}

// A peer's last message and its FIN can arrive together, before the server
// reads: the read that takes the message is short, and no further readiness
// event will come for the FIN. The reader must still see the end of the
// stream at once (not at the idle timeout). A reader that treats a short
// read as "drained" and then waits for readiness without reading first
// (Asio's speculative try switched off) would miss it.
TEST(WebSocket, AMessageAndTheFinArrivingTogetherEndTheReadPromptly) {
  std::promise<std::pair<std::string, std::chrono::milliseconds>> result;
  test_server srv(duplex::server_options{}, [&](duplex::server& s) {
    s.websocket("/late", [&](duplex::websocket ws) -> asio::awaitable<void> {
      // Let the message and the FIN both land before the first read.
      asio::steady_timer t(co_await asio::this_coro::executor, 300ms);
      co_await t.async_wait(asio::use_awaitable);
      duplex::message m;
      std::string got = "(none)";
      // Not in a conditional expression: GCC 12 mishandles co_await there.
      const bool first = co_await ws.read(m);
      if (first) got = m.data;
      const auto start = std::chrono::steady_clock::now();
      while (co_await ws.read(m)) got += "+" + m.data;
      result.set_value({got + " " + std::to_string(ws.close_code()),
                        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)});
    });
  });
  asio::io_context io;
  asio::ip::tcp::socket c(io);
  c.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
  asio::write(c, asio::buffer(std::string("GET /late HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                          "Sec-WebSocket-Version: 13\r\n\r\n")));
  std::string head;
  asio::read_until(c, asio::dynamic_buffer(head), "\r\n\r\n");
  ASSERT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  // "hi", masked with a zero key, then the FIN right behind it.
  asio::write(c, asio::buffer(std::string("\x81\x82\0\0\0\0hi", 8)));
  c.shutdown(asio::ip::tcp::socket::shutdown_send);
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready) << "the reader did not see the end of the stream";
  const auto [got, waited] = f.get();
  EXPECT_EQ(got, "hi 1006");
  EXPECT_LT(waited, 2000ms);
}

// A prepared_message is framed once and the same bytes are appended for every
// recipient: each must still get the message whole, with its type, at every
// header length (7-bit, 16-bit, 64-bit), and a client (masked frames) too.
TEST(WebSocket, APreparedMessageArrivesWholeAtEveryLengthForEveryRecipient) {
  const std::vector<std::size_t> sizes = {0, 1, 125, 126, 65535, 65536, 70000};
  auto payload = [](std::size_t n, std::size_t salt) {
    std::string s(n, 'a');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + salt) % 26);
    return s;
  };
  std::vector<duplex::websocket> members;
  std::error_code after_close;
  test_server srv(duplex::server_options{}, [&](duplex::server& s) {
    s.websocket("/room", [&](duplex::websocket ws) -> asio::awaitable<void> {
      members.push_back(ws);
      duplex::message m;
      while (co_await ws.read(m)) {
        if (m.data != "go") {
          // From the client's prepared_message: masked, so framed per send.
          ws.post("got " + std::to_string(m.data.size()) + (m.data == payload(m.data.size(), 5) ? " ok" : " bad"));
          continue;
        }
        for (std::size_t i = 0; i < sizes.size(); ++i) {
          const duplex::prepared_message pm(payload(sizes[i], i), i % 2 == 1);
          for (auto& peer : members) EXPECT_FALSE(peer.post(pm));
        }
      }
      std::erase(members, ws);
      const duplex::prepared_message late("late");
      after_close = ws.post(late);
    });
  });
  run_client([&]() -> asio::awaitable<void> {
    std::vector<duplex::websocket> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(co_await duplex::connect(srv.ws_url("/room")));
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (int i = 0; i < 200 && members.size() < 3; ++i) {
      t.expires_after(5ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    co_await clients[0].send("go");
    for (auto& c : clients) {
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        auto m = co_await c.read();
        EXPECT_TRUE(m && m->data == payload(sizes[i], i)) << "size " << sizes[i];
        EXPECT_TRUE(m && m->binary == (i % 2 == 1)) << "size " << sizes[i];
      }
    }
    EXPECT_FALSE(clients[1].post(duplex::prepared_message(payload(300, 5))));
    auto reply = co_await clients[1].read();
    EXPECT_TRUE(reply && reply->data == "got 300 ok") << (reply ? reply->data : "closed");
    for (auto& c : clients) co_await c.close();
  });
  EXPECT_EQ(after_close, duplex::errc::closed);
}

TEST(WebSocket, PermessageDeflateIsNegotiatedAndABroadcastIsCompressedOnce) {
  duplex::server_options o;
  o.websocket.deflate.enabled = true;
  std::vector<duplex::websocket> members;
  std::size_t compressions = 0;
  const std::string big = [] {
    std::string s = R"({"type":"presence","users":[)";
    for (int i = 0; i < 200; ++i) s += (i ? ",\"user" : "\"user") + std::to_string(i) + "\"";
    return s + "]}";
  }();
  test_server srv(o, [&](duplex::server& s) {
    s.websocket("/room", [&](duplex::websocket ws) -> asio::awaitable<void> {
      members.push_back(ws);
      while (auto m = co_await ws.read()) {
        if (m->data != "go") continue;
        const duplex::prepared_message pm(big);
        for (auto& peer : members) peer.post(pm);
        compressions = pm.compressions();
      }
      std::erase(members, ws);
    });
  });
  run_client([&]() -> asio::awaitable<void> {
    duplex::connect_options co;
    co.websocket.deflate.enabled = true;
    std::vector<duplex::websocket> clients;
    for (int i = 0; i < 3; ++i) {
      clients.push_back(co_await duplex::connect(srv.ws_url("/room"), co));
      EXPECT_NE(clients.back().extensions().find("permessage-deflate"), std::string::npos) << clients.back().extensions();
    }
    auto plain = co_await duplex::connect(srv.ws_url("/room"));  // offers nothing: gets it uncompressed
    EXPECT_EQ(plain.extensions(), "");
    // Wait until all four are members of the room.
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (int i = 0; i < 100 && members.size() < 4; ++i) {
      t.expires_after(5ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    co_await clients[0].send("go");
    for (auto& c : clients) {
      auto m = co_await c.read();
      EXPECT_TRUE(m && m->data == big);
    }
    auto m = co_await plain.read();
    EXPECT_TRUE(m && m->data == big);
  });
  EXPECT_EQ(compressions, 1u);  // three deflate recipients, one compression
}

// read(message_batch&): every message that has arrived in one read, in order,
// whatever its kind: whole messages viewed in the input buffer, compressed
// ones and ones larger than a read copied. The views must survive the
// handler posting replies; the messages sent right before a Close all reach
// the handler before read() reports the close.
TEST(WebSocket, BatchReadHandsOutEveryMessageInOrderThenTheClose) {
  struct seen_t {
    std::vector<std::string> messages;
    std::size_t batches = 0;
    std::uint16_t close_code = 0;
  };
  auto seen = std::make_shared<seen_t>();
  std::promise<void> handler_done;
  duplex::server_options o;
  o.websocket.deflate.enabled = true;
  o.websocket.deflate.threshold = 1000;  // only the big messages are compressed
  test_server srv(o, [&](duplex::server& s) {
    s.websocket("/batch", [&, seen](duplex::websocket ws) -> asio::awaitable<void> {
      duplex::message_batch batch;
      while (co_await ws.read(batch)) {
        ++seen->batches;
        for (const auto& m : batch) {
          seen->messages.push_back((m.binary ? "b:" : "t:") + std::string(m.data));
          ws.post(m.data, m.binary);  // after the Close: refused, as documented
        }
      }
      seen->close_code = ws.close_code();
      handler_done.set_value();
    });
  });

  std::vector<std::pair<std::string, bool>> sent;
  for (int i = 0; i < 200; ++i) {
    if (i % 50 == 7) sent.emplace_back(std::string(100'000 + i, static_cast<char>('a' + i % 26)), false);  // spans reads
    else if (i % 50 == 8) sent.emplace_back(std::string(5000, 'z') + std::to_string(i), true);        // compressed
    else sent.emplace_back("message " + std::to_string(i), i % 3 == 0);
  }
  run_client([&]() -> asio::awaitable<void> {
    duplex::connect_options co;
    co.websocket.deflate.enabled = true;
    co.websocket.deflate.threshold = 1000;
    auto ws = co_await duplex::connect(srv.ws_url("/batch"), co);
    for (const auto& [data, binary] : sent) EXPECT_FALSE(ws.post(data, binary));
    duplex::message_batch echoes;
    std::size_t got = 0;
    // No co_await behind && here: GCC 12 suspends on it even when the
    // left side is false.
    while (got < sent.size()) {
      if (!co_await ws.read(echoes)) break;
      for (const auto& m : echoes) {
        EXPECT_EQ(m.data, sent[got].first) << got;
        EXPECT_EQ(m.binary, sent[got].second) << got;
        ++got;
      }
    }
    EXPECT_EQ(got, sent.size());
    // Three more, then our Close, in one write: all three reach the handler.
    // (A loop over a braced list would do, but GCC 12 miscompiles
    // initializer lists inside coroutines.)
    ws.post("x");
    ws.post("y");
    ws.post("z");
    co_await ws.close(4000, "bye");
  });
  ASSERT_EQ(handler_done.get_future().wait_for(5s), std::future_status::ready);
  std::vector<std::string> expected;
  for (const auto& [data, binary] : sent) expected.push_back((binary ? "b:" : "t:") + data);
  for (const char* last : {"x", "y", "z"}) expected.push_back(std::string("t:") + last);
  EXPECT_EQ(seen->messages, expected);
  EXPECT_LT(seen->batches, sent.size() / 2);  // pipelined messages came in batches
  EXPECT_EQ(seen->close_code, 4000);
}

// The connections of one thread read into one shared buffer (see
// shared_buffers in lib/src/net/session.hpp). A handler that keeps its batch
// across a wait of its own keeps that buffer: another connection's traffic
// meanwhile must not overwrite the views it still holds, nor the replies it
// queued.
TEST(WebSocket, ABatchKeptAcrossAWaitSurvivesOtherConnectionsTraffic) {
  test_server srv({}, [](duplex::server& s) {
    s.websocket("/hold", [](duplex::websocket ws) -> asio::awaitable<void> {
      duplex::message_batch batch;
      asio::steady_timer pause(co_await asio::this_coro::executor);
      while (co_await ws.read(batch)) {
        ws.post("first of " + std::to_string(batch.size()));  // queued before the wait
        pause.expires_after(300ms);
        co_await pause.async_wait(asio::use_awaitable);
        for (const auto& m : batch) ws.post(m.data, m.binary);
      }
    });
    s.websocket("/echo-batch", [](duplex::websocket ws) -> asio::awaitable<void> {
      duplex::message_batch batch;
      while (co_await ws.read(batch))
        for (const auto& m : batch) ws.post(m.data, m.binary);
    });
  });
  std::vector<std::string> back, held_sent;
  std::size_t expected = 0;
  run_client([&]() -> asio::awaitable<void> {
    auto held = co_await duplex::connect(srv.ws_url("/hold"));
    std::vector<std::string> sent;
    for (int i = 0; i < 20; ++i) sent.push_back("held " + std::to_string(i) + std::string(500, static_cast<char>('a' + i)));
    for (const auto& m : sent) EXPECT_FALSE(held.post(m));
    asio::steady_timer settle(co_await asio::this_coro::executor);
    settle.expires_after(50ms);
    co_await settle.async_wait(asio::use_awaitable);

    // Meanwhile, on the same server thread: 2,000 other messages, 16 in flight.
    auto other = co_await duplex::connect(srv.ws_url("/echo-batch"));
    duplex::message_batch echoes;
    int next = 0, got = 0;
    while (got < 2000) {
      while (next < 2000 && next - got < 16) {
        EXPECT_FALSE(other.post(std::string(1024, static_cast<char>('A' + next % 26)) + std::to_string(next)));
        ++next;
      }
      if (!co_await other.read(echoes)) break;
      for (const auto& m : echoes) {
        EXPECT_EQ(m.data, std::string(1024, static_cast<char>('A' + got % 26)) + std::to_string(got));
        ++got;
      }
    }
    EXPECT_EQ(got, 2000);

    // The replies to the first batch: its count, then its messages.
    duplex::message message;
    while (back.size() < 21) {  // no co_await behind && (GCC 12)
      if (!co_await held.read(message)) break;
      back.push_back(message.data);
      if (back.size() == 1 && back[0].rfind("first of ", 0) == 0) expected = std::stoul(back[0].substr(9)) + 1;
      if (back.size() == expected) break;
    }
    co_await held.close();
    co_await other.close();
    held_sent = std::move(sent);
  });
  ASSERT_FALSE(back.empty());
  ASSERT_EQ(back[0].rfind("first of ", 0), 0u) << back[0];
  ASSERT_GE(expected, 2u);
  ASSERT_EQ(back.size(), expected);
  for (std::size_t i = 1; i < back.size(); ++i) EXPECT_EQ(back[i], held_sent[i - 1]) << i;
}
