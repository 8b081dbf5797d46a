// The opening handshake over real sockets (RFC 6455 §4.2), and the
// server's timeouts: handshake, idle keepalive, close.
#include "server_suite.hpp"

#include <openssl/rand.h>

namespace conformance {
namespace {

// Sends a raw request and reads the whole response.
http_head request(std::string_view raw, std::uint16_t port = echo_port()) {
  conn c = conn::connect_to(port);
  if (!c.send(raw)) throw std::runtime_error("send failed");
  http_head h;
  const io_status s = c.read_response(h);
  if (s != io_status::ok) throw std::runtime_error(std::string("no response: ") + to_string(s));
  return h;
}

std::string host_line() { return "Host: 127.0.0.1:" + std::to_string(echo_port()) + "\r\n"; }

// A refusal: the status, a non-101 answer without an accept, then the TCP close.
::testing::AssertionResult refused_with(std::string_view raw, int status) {
  conn c = conn::connect_to(echo_port());
  c.send(raw);
  http_head h;
  const io_status s = c.read_response(h);
  if (s != io_status::ok) return ::testing::AssertionFailure() << "no response: " << to_string(s);
  if (h.status != status)
    return ::testing::AssertionFailure() << "expected " << status << ", got \"" << h.start_line << "\" body=\"" << h.body << "\"";
  if (h.get("Sec-WebSocket-Accept")) return ::testing::AssertionFailure() << "a refusal carries Sec-WebSocket-Accept";
  std::string extra;
  const io_status closed = c.await_close(1000ms, &extra);
  if (closed != io_status::eof && closed != io_status::reset)
    return ::testing::AssertionFailure() << "connection not closed after the refusal (" << to_string(closed) << ")";
  return ::testing::AssertionSuccess();
}

TEST(Handshake, RfcSampleKeyGetsTheRfcAccept) {
  EXPECT_EQ(expected_accept(sample_key), sample_accept);  // the suite's own SHA-1/base64
  ws_client ws;
  const http_head& r = ws.response();
  EXPECT_EQ(r.start_line.substr(0, 12), "HTTP/1.1 101");
  EXPECT_EQ(r.get("Sec-WebSocket-Accept").value_or("<missing>"), sample_accept);
  EXPECT_TRUE(r.has_token("Upgrade", "websocket")) << "Upgrade: " << r.get("Upgrade").value_or("<missing>");
  EXPECT_TRUE(r.has_token("Connection", "Upgrade")) << "Connection: " << r.get("Connection").value_or("<missing>");
  EXPECT_FALSE(r.get("Sec-WebSocket-Protocol")) << "no subprotocol was offered";
  EXPECT_FALSE(r.get("Sec-WebSocket-Extensions")) << "no extension was offered";
  ASSERT_TRUE(ws.send(text("after the handshake")));
  ASSERT_TRUE(next_is(ws, opc::text, "after the handshake"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Handshake, RandomKeysGetMatchingAccepts) {
  for (int i = 0; i < 5; ++i) {
    unsigned char raw[16];
    ASSERT_EQ(RAND_bytes(raw, sizeof raw), 1);
    const std::string key = base64(raw, sizeof raw);
    conn c = conn::connect_to(echo_port());
    ASSERT_TRUE(c.send(upgrade_request(echo_port(), "/", key)));
    std::string head;
    ASSERT_EQ(c.read_head(head), io_status::ok);
    const http_head r = http_head::parse(head);
    ASSERT_EQ(r.status, 101) << r.start_line;
    EXPECT_EQ(r.get("Sec-WebSocket-Accept").value_or("<missing>"), expected_accept(key));
  }
}

TEST(Handshake, HeaderNamesAndTokensAreCaseInsensitive) {
  const std::string raw = "GET /any/path?q=1 HTTP/1.1\r\nhost: 127.0.0.1:" + std::to_string(echo_port()) +
                          "\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
                          "sec-websocket-key: " + std::string(sample_key) + "\r\nsec-websocket-version: 13\r\n\r\n";
  const http_head r = request(raw);
  EXPECT_EQ(r.status, 101) << r.start_line;
  EXPECT_EQ(r.get("Sec-WebSocket-Accept").value_or("<missing>"), sample_accept);
}

TEST(Handshake, FramesPipelinedBehindTheRequestAreProcessed) {
  conn c = conn::connect_to(echo_port());
  ASSERT_TRUE(c.send(upgrade_request(echo_port()) + text("right behind the head") + ping("p")));
  std::string head;
  ASSERT_EQ(c.read_head(head), io_status::ok);
  ASSERT_EQ(http_head::parse(head).status, 101);
  rx_frame f;
  ASSERT_EQ(c.read_frame(f), io_status::ok);
  EXPECT_EQ(f.op, opc::text);
  EXPECT_EQ(f.payload, "right behind the head");
  ASSERT_EQ(c.read_frame(f), io_status::ok);
  EXPECT_EQ(f.op, opc::pong);
  EXPECT_EQ(f.payload, "p");
}

TEST(Handshake, Version8Gets426WithVersion13) {
  const std::string raw = "GET / HTTP/1.1\r\n" + host_line() +
                          "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + std::string(sample_key) +
                          "\r\nSec-WebSocket-Version: 8\r\n\r\n";
  EXPECT_TRUE(refused_with(raw, 426));
  const http_head r = request(raw);
  EXPECT_EQ(r.get("Sec-WebSocket-Version").value_or("<missing>"), "13");
}

TEST(Handshake, MissingVersionIsRefused) {
  const std::string raw = "GET / HTTP/1.1\r\n" + host_line() +
                          "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + std::string(sample_key) +
                          "\r\n\r\n";
  const http_head r = request(raw);
  EXPECT_TRUE(r.status == 426 || r.status == 400) << r.start_line;
}

struct key_case {
  const char* name;
  std::string headers;  // the Sec-WebSocket-Key header line(s)
};

class MalformedKey : public ::testing::TestWithParam<key_case> {};

TEST_P(MalformedKey, Gets400) {
  const std::string raw = "GET / HTTP/1.1\r\n" + host_line() + "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
                          GetParam().headers + "Sec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_TRUE(refused_with(raw, 400));
}

INSTANTIATE_TEST_SUITE_P(
    Handshake, MalformedKey,
    ::testing::Values(key_case{"NotBase64", "Sec-WebSocket-Key: not*base64*at*all!!!!\r\n"},
                      key_case{"FifteenBytes", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n"},
                      key_case{"SeventeenBytes", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n"},
                      key_case{"Empty", "Sec-WebSocket-Key: \r\n"},
                      key_case{"Missing", ""},
                      key_case{"Repeated", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Handshake, MissingUpgradeIsServedAsPlainHttp) {
  const std::string raw = "GET / HTTP/1.1\r\n" + host_line() + "Connection: Upgrade\r\nSec-WebSocket-Key: " +
                          std::string(sample_key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const http_head r = request(raw);
  EXPECT_NE(r.status, 101) << r.start_line;
  EXPECT_EQ(r.status, 404) << "no static root is configured: " << r.start_line;
  EXPECT_FALSE(r.get("Sec-WebSocket-Accept"));
}

TEST(Handshake, MissingConnectionUpgradeGets400) {
  const std::string raw = "GET / HTTP/1.1\r\n" + host_line() + "Upgrade: websocket\r\nSec-WebSocket-Key: " +
                          std::string(sample_key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_TRUE(refused_with(raw, 400));
}

TEST(Handshake, MissingHostGets400) {
  const std::string raw = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                          std::string(sample_key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_TRUE(refused_with(raw, 400));
}

TEST(Handshake, Http10Gets400) {
  const std::string raw = "GET / HTTP/1.0\r\n" + host_line() + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: " + std::string(sample_key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_TRUE(refused_with(raw, 400));
}

TEST(Handshake, PostGets405) {
  const std::string raw = "POST / HTTP/1.1\r\n" + host_line() + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: " + std::string(sample_key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_TRUE(refused_with(raw, 405));
}

TEST(Handshake, ForeignOriginGets403) {
  EXPECT_TRUE(refused_with(upgrade_request(echo_port(), "/", sample_key, "Origin: http://evil.example\r\n"), 403));
  // Same host, different port: a different origin.
  EXPECT_TRUE(refused_with(upgrade_request(echo_port(), "/", sample_key, "Origin: http://127.0.0.1:1\r\n"), 403));
  // Same host and port, other scheme: a different origin too.
  EXPECT_TRUE(refused_with(
      upgrade_request(echo_port(), "/", sample_key, "Origin: https://127.0.0.1:" + std::to_string(echo_port()) + "\r\n"),
      403));
}

TEST(Handshake, AllowListedOriginsOnly) {
  auto opts = echo_server_options();
  opts.allowed_origins = {"https://chat.example"};
  server_under_test srv(opts, install_endpoints);
  {
    ws_client listed("/", srv.port(), "Origin: https://chat.example\r\n");
    EXPECT_TRUE(clean_close(listed));
  }
  {
    ws_client none("/", srv.port());
    EXPECT_TRUE(clean_close(none));
  }
  // With an allow-list, same-origin alone is not enough.
  conn c = conn::connect_to(srv.port());
  ASSERT_TRUE(c.send(upgrade_request(srv.port(), "/", sample_key,
                                     "Origin: http://127.0.0.1:" + std::to_string(srv.port()) + "\r\n")));
  http_head r;
  ASSERT_EQ(c.read_response(r), io_status::ok);
  EXPECT_EQ(r.status, 403) << r.start_line;
}

TEST(Handshake, SameOriginAndNoOriginAccepted) {
  ws_client same("/", echo_port(), "Origin: http://127.0.0.1:" + std::to_string(echo_port()) + "\r\n");
  EXPECT_TRUE(clean_close(same));
  ws_client none;  // non-browser clients send no Origin
  EXPECT_TRUE(clean_close(none));
}

TEST(Handshake, RequestHeadOver8KiBGets431) {
  std::string filler;
  for (int i = 0; filler.size() < 9 * 1024; ++i) filler += "X-Filler-" + std::to_string(i) + ": " + std::string(100, 'f') + "\r\n";
  EXPECT_TRUE(refused_with(upgrade_request(echo_port(), "/", sample_key, filler), 431));
}

TEST(Handshake, RequestHeadJustUnder8KiBAccepted) {
  std::string filler;
  const std::size_t base = upgrade_request(echo_port(), "/", sample_key, "").size();
  const std::size_t room = 8 * 1024 - base - 16;
  filler = "X-Filler: " + std::string(room - 12, 'f') + "\r\n";
  ASSERT_LE(base + filler.size(), 8u * 1024);
  ws_client ws("/", echo_port(), filler);
  EXPECT_TRUE(clean_close(ws));
}

TEST(Handshake, UpgradeAfterPlainRequestOnKeepAliveConnection) {
  conn c = conn::connect_to(echo_port());
  ASSERT_TRUE(c.send("GET /index.html HTTP/1.1\r\n" + host_line() + "\r\n"));
  http_head plain;
  ASSERT_EQ(c.read_response(plain), io_status::ok);
  EXPECT_EQ(plain.status, 404) << plain.start_line;
  ASSERT_TRUE(c.send(upgrade_request(echo_port()) + text("on a reused connection")));
  std::string head;
  ASSERT_EQ(c.read_head(head), io_status::ok);
  ASSERT_EQ(http_head::parse(head).status, 101) << head;
  rx_frame f;
  ASSERT_EQ(c.read_frame(f), io_status::ok);
  EXPECT_EQ(f.payload, "on a reused connection");
}

TEST(Handshake, ExtensionOfferIsDeclined) {
  ws_client ws("/", echo_port(), "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
  EXPECT_FALSE(ws.response().get("Sec-WebSocket-Extensions")) << "no extension is implemented";
  // Without the extension, RSV1 (permessage-deflate's bit) stays a protocol error.
  ASSERT_TRUE(ws.send(frame(opc::text, "Hello", {.rsv = 4})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Handshake, SubprotocolServerPreferenceAmongOffered) {
  ws_client a("/proto", echo_port(), "Sec-WebSocket-Protocol: foo, chat\r\n");
  EXPECT_EQ(a.response().get("Sec-WebSocket-Protocol").value_or("<missing>"), "chat");
  EXPECT_TRUE(clean_close(a));
  ws_client b("/proto", echo_port(), "Sec-WebSocket-Protocol: chat, chat.v2\r\n");
  EXPECT_EQ(b.response().get("Sec-WebSocket-Protocol").value_or("<missing>"), "chat.v2");
  EXPECT_TRUE(clean_close(b));
  ws_client c("/proto", echo_port(), "Sec-WebSocket-Protocol: foo\r\n");
  EXPECT_FALSE(c.response().get("Sec-WebSocket-Protocol")) << "no common subprotocol: the header must be absent";
  EXPECT_TRUE(clean_close(c));
}

// ------------------------------------------------------------ timeouts ----

TEST(Timeouts, StalledHandshakeIsDroppedWhileOthersAreServed) {
  auto opts = echo_server_options();
  opts.handshake_timeout = 300ms;
  server_under_test srv(opts, install_endpoints);

  const auto t0 = clock::now();
  conn stalled = conn::connect_to(srv.port());
  ASSERT_TRUE(stalled.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr"));  // half a request, then nothing
  conn silent = conn::connect_to(srv.port());                             // nothing at all
  conn trickle = conn::connect_to(srv.port());  // one byte at a time: the deadline is for the whole head
  const std::string trickled = upgrade_request(srv.port());

  // Meanwhile another client is served normally.
  {
    ws_client ws("/", srv.port());
    ASSERT_TRUE(ws.send(text("served while another client stalls")));
    ASSERT_TRUE(next_is(ws, opc::text, "served while another client stalls"));
    EXPECT_TRUE(clean_close(ws));
  }

  // Keep trickling (every 40 ms) until the server gives up on this one too.
  std::size_t sent = 0;
  io_status ts = io_status::timeout;
  std::string extra;
  while (sent < trickled.size() && clock::now() - t0 < 2000ms) {
    if (!trickle.send(trickled.substr(sent++, 1))) break;
    ts = trickle.await_close(40ms, &extra);
    if (ts != io_status::timeout) break;
  }
  const auto trickle_dropped_after = std::chrono::duration_cast<ms>(clock::now() - t0);
  EXPECT_NE(ts, io_status::ok) << "answered a trickled request: " << to_hex(extra);
  EXPECT_LT(sent, trickled.size()) << "the whole trickled request got through";
  EXPECT_LE(trickle_dropped_after, 1500ms);

  const io_status s = stalled.await_close(2000ms, &extra);
  const auto dropped_after = std::chrono::duration_cast<ms>(clock::now() - t0);
  EXPECT_TRUE(s == io_status::eof || s == io_status::reset) << to_string(s) << " " << to_hex(extra);
  EXPECT_GE(dropped_after, 250ms);
  EXPECT_LE(dropped_after, 1500ms);
  const io_status s2 = silent.await_close(1000ms, &extra);
  EXPECT_TRUE(s2 == io_status::eof || s2 == io_status::reset) << to_string(s2) << " " << to_hex(extra);
}

TEST(Timeouts, IdleClientIsPingedThenDropped) {
  const auto t0 = clock::now();
  ws_client ws("/idle");
  int pings = 0;
  for (;;) {
    rx_frame f;
    const io_status s = ws.raw().read_frame(f, 2000ms);
    if (s == io_status::eof || s == io_status::reset) break;
    ASSERT_EQ(s, io_status::ok) << "the idle client was never dropped";
    ASSERT_TRUE(f.op == opc::ping || f.op == opc::close) << f.describe();
    EXPECT_FALSE(f.masked);
    pings += f.op == opc::ping;
  }
  const auto dropped_after = std::chrono::duration_cast<ms>(clock::now() - t0);
  EXPECT_GE(pings, 1) << "the server must ping before dropping";
  EXPECT_GE(dropped_after, idle_timeout - 100ms);
  EXPECT_LE(dropped_after, idle_timeout + 1000ms);
}

TEST(Timeouts, IdleClientAnsweringPingsStays) {
  ws_client ws("/idle");
  int pings = 0;
  const auto until = clock::now() + 3 * idle_timeout;
  while (clock::now() < until) {
    rx_frame f;
    const io_status s = ws.raw().read_frame(f, std::chrono::duration_cast<ms>(until - clock::now()) + 1ms);
    if (s == io_status::timeout) break;
    ASSERT_EQ(s, io_status::ok) << "dropped although every ping was answered";
    ASSERT_EQ(f.op, opc::ping) << f.describe();
    ++pings;
    ASSERT_TRUE(ws.send(pong(f.payload)));
  }
  EXPECT_GE(pings, 2);
  ASSERT_TRUE(ws.send(text("still here")));
  for (;;) {  // pings may still cross the echo
    rx_frame f;
    ASSERT_EQ(ws.raw().read_frame(f), io_status::ok);
    if (f.op == opc::ping) {
      ws.send(pong(f.payload));
      continue;
    }
    EXPECT_EQ(f.op, opc::text);
    EXPECT_EQ(f.payload, "still here");
    break;
  }
  ws.send(close_frame(1000));
  for (;;) {
    rx_frame f;
    ASSERT_EQ(ws.raw().read_frame(f), io_status::ok);
    if (f.op == opc::ping) continue;
    EXPECT_EQ(f.op, opc::close);
    EXPECT_EQ(f.close_code(), 1000);
    break;
  }
  EXPECT_TRUE(tcp_closed(ws));
}

TEST(Timeouts, ClientSendingDataIsNotPinged) {
  ws_client ws("/idle");
  const auto until = clock::now() + 3 * idle_timeout;
  int n = 0;
  while (clock::now() < until) {
    const std::string m = "tick " + std::to_string(n++);
    ASSERT_TRUE(ws.send(text(m)));
    ASSERT_TRUE(next_is(ws, opc::text, m)) << "traffic is activity: no ping expected";
    std::this_thread::sleep_for(idle_timeout / 8);
  }
  EXPECT_TRUE(clean_close(ws));
}

TEST(Timeouts, UnansweredServerCloseDropsWithinCloseTimeout) {
  ws_client ws("/closer");
  rx_frame f;
  ASSERT_EQ(ws.raw().read_frame(f), io_status::ok);
  ASSERT_EQ(f.op, opc::close) << f.describe();
  EXPECT_EQ(f.close_code(), 1000);
  EXPECT_EQ(f.close_reason(), "bye");
  EXPECT_FALSE(f.masked);
  const auto t0 = clock::now();
  // We never answer the Close.
  std::string extra;
  const io_status s = ws.raw().await_close(2000ms, &extra);
  const auto dropped_after = std::chrono::duration_cast<ms>(clock::now() - t0);
  EXPECT_TRUE(s == io_status::eof || s == io_status::reset) << to_string(s) << " " << to_hex(extra);
  EXPECT_GE(dropped_after, close_timeout - 100ms);
  EXPECT_LE(dropped_after, close_timeout + 1000ms);
}

TEST(Timeouts, AnsweredServerCloseEndsPromptly) {
  ws_client ws("/closer");
  rx_frame f;
  ASSERT_EQ(ws.raw().read_frame(f), io_status::ok);
  ASSERT_EQ(f.op, opc::close) << f.describe();
  EXPECT_EQ(f.close_code(), 1000);
  const auto t0 = clock::now();
  ASSERT_TRUE(ws.send(close_frame(1000)));
  EXPECT_TRUE(tcp_closed(ws, close_timeout - 50ms)) << "the server should close TCP as soon as our Close arrives";
  EXPECT_LT(clock::now() - t0, close_timeout - 50ms);
}

TEST(Timeouts, CloseTimeoutHoldsWhilePeerKeepsSending) {
  ws_client ws("/closer");
  rx_frame f;
  ASSERT_EQ(ws.raw().read_frame(f), io_status::ok);
  ASSERT_EQ(f.op, opc::close) << f.describe();
  const auto t0 = clock::now();
  // Traffic, but never a Close: the close deadline is not an idle timer.
  io_status s = io_status::timeout;
  std::string extra;
  for (int i = 0; i < 40 && s == io_status::timeout; ++i) {
    ws.send(text("ignored " + std::to_string(i)) + ping("ignored"));
    s = ws.raw().await_close(40ms, &extra);
  }
  const auto dropped_after = std::chrono::duration_cast<ms>(clock::now() - t0);
  EXPECT_TRUE(s == io_status::eof || s == io_status::reset) << to_string(s) << " " << to_hex(extra);
  EXPECT_LE(dropped_after, close_timeout + 1000ms);
}

TEST(Timeouts, DataAfterServerCloseIsNotEchoed) {
  ws_client ws("/closer");
  rx_frame f;
  ASSERT_EQ(ws.raw().read_frame(f), io_status::ok);
  ASSERT_EQ(f.op, opc::close) << f.describe();
  // Messages that cross the server's Close are discarded, the handshake completes.
  ASSERT_TRUE(ws.send(text("crossing the close") + close_frame(1000)));
  EXPECT_TRUE(tcp_closed(ws, 1000ms));
}

}  // namespace
}  // namespace conformance
