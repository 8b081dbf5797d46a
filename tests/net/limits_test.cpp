// Who may connect and how much a peer may make the server do: the upgrade
// hook (accept with data, refuse with status, headers and body), per-IP
// limits (429 with Retry-After), the fragment cap and the ping cap, each
// against a real server over real sockets.
#include <duplex/net/client.hpp>
#include <duplex/net/metrics.hpp>

#include "test_server.hpp"

#include <gtest/gtest.h>

#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using duplex::test::http_exchange;
using duplex::test::run_client;
using duplex::test::test_server;
using namespace std::chrono_literals;

namespace {

struct member {
  std::string id;
  std::string room;
};

std::string upgrade_request(const std::string& target, const std::string& extra = "") {
  return "GET " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

// The hook: a token in the query or a cookie names the member; none is 401.
duplex::endpoint_options hooked() {
  duplex::endpoint_options o;
  o.keep_request = true;
  o.on_upgrade = [](const duplex::upgrade_request& r) -> asio::awaitable<duplex::upgrade_decision> {
    auto token = r.query_param("token");
    if (!token) {
      if (auto c = r.cookie("session")) token = std::string(*c);
    }
    if (!token || token->empty())
      co_return duplex::upgrade_decision::refuse(401, "token required",
                                                 {{"WWW-Authenticate", "Bearer realm=\"test\""},
                                                  {"X-Bad", "a\r\nInjected: yes"}});
    if (*token == "throw") throw std::runtime_error("hook failed");
    if (*token == "banned") co_return duplex::upgrade_decision::refuse(403, "banned", {{"Retry-After", "3600"}});
    co_return duplex::upgrade_decision::accept(member{*token, r.query_param("room").value_or("lobby")});
  };
  return o;
}

// Echoes what the hook attached and what the kept request says.
asio::awaitable<void> whoami(duplex::websocket ws) {
  const member* m = ws.data<member>();
  const int* wrong = ws.data<int>();
  std::string answer = m ? m->id + "@" + m->room : "nobody";
  if (wrong) answer += " (int?)";
  if (const auto* r = ws.request()) answer += " ua=" + std::string(r->header("User-Agent").value_or("-"));
  co_await ws.send(answer);
  while (co_await ws.read()) {
  }
}

}  // namespace

TEST(UpgradeHook, RefusesWithItsStatusHeadersAndBodyBeforeThe101) {
  test_server srv({}, [](duplex::server& s) { s.websocket("/ws", whoami, hooked()); });
  const std::string r = http_exchange(srv.port(), upgrade_request("/ws"), true);
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  EXPECT_NE(r.find("WWW-Authenticate: Bearer realm=\"test\"\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("Injected"), std::string::npos) << r;  // a header with CR/LF is left out
  EXPECT_NE(r.find("\r\n\r\ntoken required\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("Sec-WebSocket-Accept"), std::string::npos) << r;

  const std::string banned = http_exchange(srv.port(), upgrade_request("/ws?token=banned"), true);
  EXPECT_EQ(banned.rfind("HTTP/1.1 403", 0), 0u) << banned;
  EXPECT_NE(banned.find("Retry-After: 3600\r\n"), std::string::npos) << banned;

  const std::string thrown = http_exchange(srv.port(), upgrade_request("/ws?token=throw"), true);
  EXPECT_EQ(thrown.rfind("HTTP/1.1 500", 0), 0u) << thrown;

  // duplex::connect reports a refusal as bad_accept.
  run_client([&]() -> asio::awaitable<void> {
    try {
      co_await duplex::connect(srv.ws_url("/ws"));  // (a temporary connect_options inside co_await trips GCC 12)
      ADD_FAILURE() << "connected without a token";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), duplex::errc::bad_accept);
    }
  });
}

TEST(UpgradeHook, AcceptsWithTypedDataTheHandlerReadsAndKeepsTheRequest) {
  test_server srv({}, [](duplex::server& s) { s.websocket("/ws", whoami, hooked()); });
  run_client([&]() -> asio::awaitable<void> {
    duplex::connect_options o;
    o.headers = {{"User-Agent", "limits-test"}};
    auto ws = co_await duplex::connect(srv.ws_url("/ws?token=ada%20l&room=r%2B1"), o);
    auto m = co_await ws.read();
    EXPECT_TRUE(m);
    if (m) EXPECT_EQ(m->data, "ada l@r+1 ua=limits-test");
    co_await ws.close();

    duplex::connect_options c;
    c.headers = {{"Cookie", "theme=dark; session=\"grace\""}};
    auto ws2 = co_await duplex::connect(srv.ws_url("/ws"), c);
    auto m2 = co_await ws2.read();
    EXPECT_TRUE(m2);
    if (m2) EXPECT_EQ(m2->data, "grace@lobby ua=-");
    co_await ws2.close();
  });
}

TEST(PerIpLimits, OpenConnectionsOverTheLimitGet429WithRetryAfter) {
  duplex::server_options o;
  o.per_ip.limit_loopback = true;
  o.per_ip.max_connections = 2;
  o.per_ip.handshakes_per_second = 0;
  test_server srv(o, [](duplex::server& s) {
    s.websocket("/ws", [](duplex::websocket ws) -> asio::awaitable<void> {
      while (co_await ws.read()) {
      }
    });
  });
  asio::io_context io;
  {
    auto a = duplex::test::silent_client(io, srv.port(), "/ws");
    auto b = duplex::test::silent_client(io, srv.port(), "/ws");
    const std::string third = http_exchange(srv.port(), upgrade_request("/ws"), true);
    EXPECT_EQ(third.rfind("HTTP/1.1 429", 0), 0u) << third;
    EXPECT_NE(third.find("Retry-After: 1\r\n"), std::string::npos) << third;
  }
  // Counted by reason in the server's stats, labelled in /metrics.
  const std::string text = duplex::metrics().render(srv.stats());
  EXPECT_NE(text.find("# TYPE duplex_http_refused_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nduplex_http_refused_total{reason=\"per_ip_connections\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nduplex_http_refused_total{reason=\"per_ip_handshake_rate\"} 0\n"), std::string::npos) << text;
  // Both closed: their places are given back once the server sees the ends.
  std::string again = "never tried";
  for (int i = 0; i < 200; ++i) {
    try {
      auto c = duplex::test::silent_client(io, srv.port(), "/ws");
      again.clear();
      break;
    } catch (const std::exception& e) {
      again = e.what();
    }
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(again, "");
}

TEST(PerIpLimits, HandshakesOverTheRateGet429AndLoopbackIsExemptByDefault) {
  duplex::server_options o;
  o.per_ip.limit_loopback = true;
  o.per_ip.handshakes_per_second = 0.5;
  o.per_ip.handshake_burst = 3;
  test_server limited(o);
  for (int i = 0; i < 3; ++i) {
    const std::string r = http_exchange(limited.port(), "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", true);
    EXPECT_EQ(r.rfind("HTTP/1.1 404", 0), 0u) << i << ": " << r;
  }
  const std::string over = http_exchange(limited.port(), "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", true);
  EXPECT_EQ(over.rfind("HTTP/1.1 429", 0), 0u) << over;
  EXPECT_NE(over.find("Retry-After: 2\r\n"), std::string::npos) << over;
  EXPECT_EQ(limited.stats().refused_per_ip_handshake_rate, 1u);
  EXPECT_EQ(limited.stats().refused_per_ip_connections, 0u);
  const std::string text = duplex::metrics().render(limited.stats());
  EXPECT_NE(text.find("\nduplex_http_refused_total{reason=\"per_ip_handshake_rate\"} 1\n"), std::string::npos) << text;

  duplex::server_options d;  // defaults: loopback exempt
  d.per_ip.handshakes_per_second = 0.5;
  d.per_ip.handshake_burst = 1;
  test_server exempt(d);
  for (int i = 0; i < 5; ++i) {
    const std::string r = http_exchange(exempt.port(), "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", true);
    EXPECT_EQ(r.rfind("HTTP/1.1 404", 0), 0u) << r;
  }
  EXPECT_EQ(exempt.stats().refused_per_ip_handshake_rate, 0u);
}

// Labelled counter families: HELP and TYPE once, one sample per label
// value in the order given, label values escaped, next to the plain ones.
TEST(Metrics, ACounterFamilyRendersOneLabelledSamplePerValue) {
  duplex::metrics m;
  m.counter("app_plain_total", "A plain counter.", [] { return 7.0; });
  m.counter_family("app_refused_total", "Refusals by reason.", "reason", [] {
    return duplex::metrics::samples{{"bad_token", 3}, {"rate_limited", 12}, {"we\"ird\\\n", 1}};
  });
  m.counter_family("app_empty_total", "Nothing yet.", "reason", [] { return duplex::metrics::samples{}; });
  const std::string text = m.render({});
  EXPECT_NE(text.find("# HELP app_refused_total Refusals by reason.\n# TYPE app_refused_total counter\n"
                      "app_refused_total{reason=\"bad_token\"} 3\n"
                      "app_refused_total{reason=\"rate_limited\"} 12\n"
                      "app_refused_total{reason=\"we\\\"ird\\\\\\n\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE app_plain_total counter\napp_plain_total 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE app_empty_total counter\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("app_empty_total{"), std::string::npos) << text;
}

namespace {

// A masked client frame.
std::string client_frame(unsigned char first, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(first));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  }
  const char key[4] = {0x11, 0x22, 0x33, 0x44};
  f.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return f;
}

// Reads server frames until a Close (returns its code) or the end; counts
// the text frames and Pongs seen before it.
struct server_frames {
  int texts = 0, pongs = 0;
  int close_code = -1;
};
server_frames read_until_close(asio::ip::tcp::socket& s) {
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  server_frames out;
  std::string buf;
  char chunk[65536];
  for (;;) {
    while (buf.size() >= 2) {
      std::size_t len = static_cast<unsigned char>(buf[1]) & 0x7F, head = 2;
      if (len == 126) {
        if (buf.size() < 4) break;
        len = (static_cast<unsigned char>(buf[2]) << 8) | static_cast<unsigned char>(buf[3]);
        head = 4;
      }
      if (buf.size() < head + len) break;
      const unsigned op = static_cast<unsigned char>(buf[0]) & 0x0F;
      if (op == 1) ++out.texts;
      if (op == 0xA) ++out.pongs;
      if (op == 8) {
        out.close_code = len >= 2 ? (static_cast<unsigned char>(buf[head]) << 8) | static_cast<unsigned char>(buf[head + 1]) : 1005;
        return out;
      }
      buf.erase(0, head + len);
    }
    std::error_code ec;
    const std::size_t n = s.read_some(asio::buffer(chunk), ec);
    if (ec) return out;
    buf.append(chunk, n);
  }
}

test_server recording_echo(std::error_code& seen, duplex::websocket_options w = {}) {
  duplex::server_options o;
  o.websocket = w;
  return test_server(o, [&seen](duplex::server& s) {
    s.websocket("/echo", [&seen](duplex::websocket ws) -> asio::awaitable<void> {
      while (auto m = co_await ws.read()) co_await ws.send(*m);
      seen = ws.error();
    });
  });
}

}  // namespace

// ws CVE-2026-48779's shape: one message in thousands of one-byte fragments.
TEST(AbuseLimits, AMessageInTooManyFragmentsClosesWith1008) {
  std::error_code seen;
  duplex::websocket_options w;
  w.max_fragments = 100;
  auto srv = recording_echo(seen, w);
  asio::io_context io;
  {
    auto s = duplex::test::silent_client(io, srv.port(), "/echo");
    std::string ok = client_frame(0x01, "a");
    for (int i = 0; i < 98; ++i) ok += client_frame(0x00, "b");
    ok += client_frame(0x80, "c");  // 100 frames: accepted
    asio::write(s, asio::buffer(ok));
    std::string bad = client_frame(0x01, "a");
    for (int i = 0; i < 5000; ++i) bad += client_frame(0x00, "b");
    asio::write(s, asio::buffer(bad));
    const auto got = read_until_close(s);
    EXPECT_EQ(got.texts, 1);
    EXPECT_EQ(got.close_code, 1008);
  }
  for (int i = 0; i < 200 && !seen; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(seen, duplex::errc::too_many_fragments);
}

TEST(AbuseLimits, PingsPastTheRateGoUnansweredAndAFloodClosesWith1008) {
  std::error_code seen;
  duplex::websocket_options w;
  w.max_pings_per_second = 10;
  auto srv = recording_echo(seen, w);
  asio::io_context io;
  {
    // Within the limit: every ping answered, no close.
    auto calm = duplex::test::silent_client(io, srv.port(), "/echo");
    std::string pings;
    for (int i = 0; i < 10; ++i) pings += client_frame(0x89, "p");
    pings += client_frame(0x88, std::string("\x03\xe8", 2));
    asio::write(calm, asio::buffer(pings));
    const auto got = read_until_close(calm);
    EXPECT_EQ(got.pongs, 10);
    EXPECT_EQ(got.close_code, 1000);
  }
  {
    auto flood = duplex::test::silent_client(io, srv.port(), "/echo");
    std::string pings;
    for (int i = 0; i < 1000; ++i) pings += client_frame(0x89, "p");
    asio::write(flood, asio::buffer(pings));
    const auto got = read_until_close(flood);
    EXPECT_LE(got.pongs, 10);
    EXPECT_EQ(got.close_code, 1008);
  }
  for (int i = 0; i < 200 && seen != duplex::errc::ping_flood; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(seen, duplex::errc::ping_flood);
}

namespace {

// The server frames up to a Close: text payloads in order, and the Close's code.
struct server_texts {
  std::vector<std::string> texts;
  int close_code = -1;
};
server_texts read_texts_until_close(asio::ip::tcp::socket& s) {
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  server_texts out;
  std::string buf;
  char chunk[65536];
  for (;;) {
    while (buf.size() >= 2) {
      std::size_t len = static_cast<unsigned char>(buf[1]) & 0x7F, head = 2;
      if (len == 126) {
        if (buf.size() < 4) break;
        len = (static_cast<unsigned char>(buf[2]) << 8) | static_cast<unsigned char>(buf[3]);
        head = 4;
      } else if (len == 127) {
        if (buf.size() < 10) break;
        len = 0;
        for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(buf[i]);
        head = 10;
      }
      if (buf.size() < head + len) break;
      const unsigned op = static_cast<unsigned char>(buf[0]) & 0x0F;
      if (op == 1) out.texts.push_back(buf.substr(head, len));
      if (op == 8) {
        out.close_code = len >= 2 ? (static_cast<unsigned char>(buf[head]) << 8) | static_cast<unsigned char>(buf[head + 1]) : 1005;
        return out;
      }
      buf.erase(0, head + len);
    }
    std::error_code ec;
    const std::size_t n = s.read_some(asio::buffer(chunk), ec);
    if (ec) return out;
    buf.append(chunk, n);
  }
}

// Reads until `count` texts arrived (or the end), leaving the connection open.
std::vector<std::string> read_texts(asio::ip::tcp::socket& s, std::size_t count, std::string& buf) {
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<std::string> out;
  char chunk[65536];
  while (out.size() < count) {
    if (buf.size() >= 4) {  // (frames under 64 KiB)
      std::size_t len = static_cast<unsigned char>(buf[1]) & 0x7F, head = 2;
      if (len == 126) {
        len = (static_cast<unsigned char>(buf[2]) << 8) | static_cast<unsigned char>(buf[3]);
        head = 4;
      }
      if (buf.size() >= head + len) {
        if ((static_cast<unsigned char>(buf[0]) & 0x0F) == 1) out.push_back(buf.substr(head, len));
        buf.erase(0, head + len);
        continue;
      }
    }
    std::error_code ec;
    const std::size_t n = s.read_some(asio::buffer(chunk), ec);
    if (ec) break;
    buf.append(chunk, n);
  }
  return out;
}

std::string close_frame() { return client_frame(0x88, std::string("\x03\xe8", 2)); }

struct limit_record {
  std::error_code error;
  std::uint64_t refused = 0;
  int close_code = 0;
  std::atomic<bool> done{false};
};

// Echoes what passes the rate limit and answers each refusal with
// "refused <retry_after ms>"; `batch` reads with read(message_batch&, ec).
test_server limited_echo(limit_record& rec, duplex::websocket_options w, bool batch = false) {
  duplex::server_options o;
  o.websocket = w;
  return test_server(o, [&rec, batch](duplex::server& s) {
    s.websocket("/echo", [&rec, batch](duplex::websocket ws) -> asio::awaitable<void> {
      std::error_code ec;
      if (batch) {
        duplex::message_batch b;
        for (;;) {
          const bool got = co_await ws.read(b, ec);
          for (const auto& m : b) ws.post(m.data, m.binary);
          if (ec == duplex::errc::rate_limited) {
            const std::string note = "refused " + std::to_string(ws.retry_after().count());
            ws.post(note);
          } else if (!got) {
            break;
          }
        }
      } else {
        duplex::message m;
        for (;;) {
          if (co_await ws.read(m, ec)) {
            co_await ws.send(m);
            continue;
          }
          if (ec != duplex::errc::rate_limited) break;
          EXPECT_TRUE(ws.is_open());
          const std::string note = "refused " + std::to_string(ws.retry_after().count());
          co_await ws.send(note);
        }
        EXPECT_EQ(ec, duplex::errc::closed);
      }
      rec.error = ws.error();
      rec.refused = ws.rate_limited();
      rec.close_code = ws.close_code();
      rec.done = true;
    });
  });
}

void wait_done(const limit_record& rec) {
  for (int i = 0; i < 300 && !rec.done; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(rec.done);
}

std::string frames(int n, std::string_view prefix = "m") {
  std::string out;
  for (int i = 0; i < n; ++i) out += client_frame(0x81, std::string(prefix) + std::to_string(i));
  return out;
}

}  // namespace

TEST(RateLimit, MessagesWithinTheBurstAllPass) {
  limit_record rec;
  duplex::websocket_options w;
  w.max_messages_per_second = 2;
  w.message_burst = 50;
  auto srv = limited_echo(rec, w);
  asio::io_context io;
  auto s = duplex::test::silent_client(io, srv.port(), "/echo");
  asio::write(s, asio::buffer(frames(50) + close_frame()));
  const auto got = read_texts_until_close(s);
  ASSERT_EQ(got.texts.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got.texts[i], "m" + std::to_string(i));
  EXPECT_EQ(got.close_code, 1000);
  s.close();
  wait_done(rec);
  EXPECT_EQ(rec.refused, 0u);
  EXPECT_NE(rec.error, duplex::errc::rate_limited);
}

TEST(RateLimit, OverTheLimitIsRefusedWithATypedErrorAndTheConnectionStays) {
  limit_record rec;
  duplex::websocket_options w;
  w.max_messages_per_second = 2;  // a token every 500 ms
  w.message_burst = 5;
  w.rate_limit_close_after = 0;  // never closed for it
  auto srv = limited_echo(rec, w);
  asio::io_context io;
  auto s = duplex::test::silent_client(io, srv.port(), "/echo");
  std::string buf;
  asio::write(s, asio::buffer(frames(10)));
  const auto first = read_texts(s, 10, buf);
  ASSERT_EQ(first.size(), 10u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(first[i], "m" + std::to_string(i));
  // Each refusal is reported with the time to wait: a token comes every 500 ms.
  for (int i = 5; i < 10; ++i) {
    ASSERT_EQ(first[i].rfind("refused ", 0), 0u) << first[i];
    const int wait = std::stoi(first[i].substr(8));
    EXPECT_GT(wait, 0) << first[i];
    EXPECT_LE(wait, 500) << first[i];
  }
  // Still open, and once a token is back the next message passes.
  std::this_thread::sleep_for(600ms);
  asio::write(s, asio::buffer(client_frame(0x81, "later") + close_frame()));
  const auto rest = read_texts_until_close(s);
  ASSERT_EQ(rest.texts.size(), 1u);
  EXPECT_EQ(rest.texts[0], "later");
  EXPECT_EQ(rest.close_code, 1000);
  s.close();
  wait_done(rec);
  EXPECT_EQ(rec.refused, 5u);
  EXPECT_NE(rec.error, duplex::errc::rate_limited);
}

TEST(RateLimit, BatchReadsReportRefusalsAndHandOutWhatPassed) {
  limit_record rec;
  duplex::websocket_options w;
  w.max_messages_per_second = 1;
  w.message_burst = 3;
  w.rate_limit_close_after = 0;
  auto srv = limited_echo(rec, w, true);
  asio::io_context io;
  auto s = duplex::test::silent_client(io, srv.port(), "/echo");
  asio::write(s, asio::buffer(frames(8) + close_frame()));
  const auto got = read_texts_until_close(s);
  ASSERT_GE(got.texts.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got.texts[i], "m" + std::to_string(i));
  // One note per batch that had refusals (one batch here, or a few if the
  // frames came in several reads); every refused message is counted.
  for (std::size_t i = 3; i < got.texts.size(); ++i) EXPECT_EQ(got.texts[i].rfind("refused ", 0), 0u) << got.texts[i];
  EXPECT_EQ(got.close_code, 1000);
  s.close();
  wait_done(rec);
  EXPECT_EQ(rec.refused, 5u);
}

TEST(RateLimit, AFloodIsClosedWith1008AndNothingBehindTheCloseIsHandedOut) {
  limit_record rec;
  duplex::websocket_options w;
  w.max_messages_per_second = 10;
  w.message_burst = 10;
  w.rate_limit_close_after = 20;
  auto srv = limited_echo(rec, w);
  asio::io_context io;
  auto s = duplex::test::silent_client(io, srv.port(), "/echo");
  asio::write(s, asio::buffer(frames(2000)));
  const auto got = read_texts_until_close(s);
  EXPECT_EQ(got.close_code, 1008);
  int echoed = 0, refused = 0;
  for (const auto& t : got.texts) (t.rfind("refused ", 0) == 0 ? refused : echoed)++;
  EXPECT_EQ(echoed, 10);
  EXPECT_EQ(refused, 19);  // the 20th refusal closes instead
  wait_done(rec);
  EXPECT_EQ(rec.error, duplex::errc::rate_limited);
  EXPECT_EQ(rec.close_code, 1008);
  EXPECT_EQ(rec.refused, 20u);
  // The server's counters (the close is counted once the handler is done).
  for (int i = 0; i < 300 && srv.stats().rate_limit_closes == 0; ++i) std::this_thread::sleep_for(10ms);
  const auto st = srv.stats();
  EXPECT_EQ(st.rate_limited, 20u);
  EXPECT_EQ(st.rate_limit_closes, 1u);
  duplex::metrics m;
  const std::string text = m.render(st);
  EXPECT_NE(text.find("duplex_rate_limited_messages_total 20\n"), std::string::npos) << text;
  EXPECT_NE(text.find("duplex_rate_limit_closes_total 1\n"), std::string::npos) << text;
}

TEST(RateLimit, TheApplicationChoosesItsOwnCloseCode) {
  limit_record rec;
  duplex::websocket_options w;
  w.max_messages_per_second = 5;
  w.rate_limit_close_after = 3;
  w.rate_limit_close_code = 4008;
  auto srv = limited_echo(rec, w);
  asio::io_context io;
  auto s = duplex::test::silent_client(io, srv.port(), "/echo");
  asio::write(s, asio::buffer(frames(100)));
  const auto got = read_texts_until_close(s);
  EXPECT_EQ(got.close_code, 4008);
  wait_done(rec);
  EXPECT_EQ(rec.error, duplex::errc::rate_limited);
  EXPECT_EQ(rec.close_code, 4008);
}

TEST(RateLimit, BytesOverTheLimitAreRefusedAndABigMessagePassesOnAFullBucket) {
  limit_record rec;
  duplex::websocket_options w;
  w.max_messages_per_second = 0;
  w.max_bytes_per_second = 2000;  // 1000 bytes back in 500 ms
  w.byte_burst = 1000;
  w.rate_limit_close_after = 0;
  auto srv = limited_echo(rec, w);
  asio::io_context io;
  auto s = duplex::test::silent_client(io, srv.port(), "/echo");
  std::string buf;
  const std::string a(600, 'a'), b(600, 'b'), big(5000, 'c');
  asio::write(s, asio::buffer(client_frame(0x81, a) + client_frame(0x81, b)));
  auto got = read_texts(s, 2, buf);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], a);
  EXPECT_EQ(got[1].rfind("refused ", 0), 0u) << got[1];
  // Full again after 500 ms: a message five times the burst passes and
  // leaves the bucket in debt, so the next small one is refused.
  std::this_thread::sleep_for(700ms);
  asio::write(s, asio::buffer(client_frame(0x81, big)));
  got = read_texts(s, 1, buf);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], big);
  asio::write(s, asio::buffer(client_frame(0x81, "x") + close_frame()));
  const auto rest = read_texts_until_close(s);
  ASSERT_EQ(rest.texts.size(), 1u);
  EXPECT_EQ(rest.texts[0].rfind("refused ", 0), 0u) << rest.texts[0];
  EXPECT_EQ(rest.close_code, 1000);
  s.close();
  wait_done(rec);
  EXPECT_EQ(rec.refused, 2u);
}

TEST(RateLimit, ZeroDisablesAndTheDefaultsLetABurstOf20000Through) {
  for (const bool defaults : {false, true}) {
    limit_record rec;
    duplex::websocket_options w;
    if (!defaults) {
      w.max_messages_per_second = 0;  // the bursts alone mean nothing
      w.message_burst = 1;
      w.max_bytes_per_second = 0;
      w.byte_burst = 1;
      w.rate_limit_close_after = 1;
    }
    auto srv = limited_echo(rec, w);
    asio::io_context io;
    auto s = duplex::test::silent_client(io, srv.port(), "/echo");
    const int n = defaults ? 20000 : 3000;
    asio::write(s, asio::buffer(frames(n) + close_frame()));
    const auto got = read_texts_until_close(s);
    EXPECT_EQ(got.texts.size(), static_cast<std::size_t>(n)) << defaults;
    EXPECT_EQ(got.close_code, 1000);
    s.close();
    wait_done(rec);
    EXPECT_EQ(rec.refused, 0u);
  }
}

TEST(RateLimit, AClientDoesNotLimitTheServer) {
  test_server srv({}, [](duplex::server& s) {
    s.websocket("/feed", [](duplex::websocket ws) -> asio::awaitable<void> {
      for (int i = 0; i < 200; ++i) ws.post("f" + std::to_string(i));
      while (co_await ws.read()) {
      }
    });
  });
  run_client([&]() -> asio::awaitable<void> {
    duplex::connect_options o;
    o.websocket.max_messages_per_second = 1;
    o.websocket.message_burst = 1;
    o.websocket.rate_limit_close_after = 1;
    auto ws = co_await duplex::connect(srv.ws_url("/feed"), o);
    duplex::message m;
    std::error_code ec;
    int n = 0;
    while (n < 200) {
      const bool got = co_await ws.read(m, ec);
      if (!got) break;
      EXPECT_EQ(m.data, "f" + std::to_string(n++));
    }
    EXPECT_EQ(n, 200);
    EXPECT_EQ(ws.rate_limited(), 0u);
    co_await ws.close();
  });
}
