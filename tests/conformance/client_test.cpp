// The client-side conformance suite: duplex::connect() (with an echo loop,
// like `duplex-echo --connect`) runs on its own io_context thread; the test
// is a hand-written server on a raw listening socket that answers the
// upgrade by hand, sends raw unmasked frames and checks every byte the
// client answers with. Numbering follows Autobahn's client mode.
#include "strict_cases.hpp"
#include "wire.hpp"

#include <duplex/error.hpp>
#include <duplex/net/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <openssl/evp.h>

#include <future>
#include <set>

namespace conformance {
namespace {

struct outcome {
  bool connected = false;
  std::error_code connect_error;  // what connect() threw
  std::string connect_what;
  std::uint16_t close_code = 0;
  std::string close_reason;
  std::error_code error;
  std::string subprotocol;
  int echoed = 0;
  clock::time_point finished{};
};

// duplex::connect plus an echo loop, on a background io_context.
class client_under_test {
 public:
  // `batch`: the echo reads with read(message_batch&) (as duplex-echo does)
  // instead of one message per read().
  client_under_test(std::uint16_t port, duplex::connect_options opts, std::string path, bool batch = false) {
    const std::string url = "ws://127.0.0.1:" + std::to_string(port) + path;
    future_ = promise_.get_future();
    thread_ = std::thread([this, url, opts = std::move(opts), batch]() mutable {
      asio::co_spawn(io_, run(url, std::move(opts), batch), asio::detached);
      io_.run();
      result_.finished = clock::now();
      promise_.set_value(result_);
    });
  }
  ~client_under_test() {
    if (future_.valid() && future_.wait_for(2s) != std::future_status::ready) io_.stop();
    thread_.join();
  }
  // The outcome once the client's coroutine has ended (nullopt on timeout).
  std::optional<outcome> wait(ms timeout) {
    if (!got_) {
      if (future_.wait_for(timeout) != std::future_status::ready) return std::nullopt;
      final_ = future_.get();
      got_ = true;
    }
    return final_;
  }

 private:
  asio::awaitable<void> run(std::string url, duplex::connect_options opts, bool batch) {
    try {
      auto ws = co_await duplex::connect(url, std::move(opts));
      result_.connected = true;
      result_.subprotocol = ws.subprotocol();
      if (batch) {
        duplex::message_batch b;
        while (co_await ws.read(b))
          for (const auto& m : b) {
            co_await ws.send(m.data, m.binary);
            ++result_.echoed;
          }
      } else {
        while (auto msg = co_await ws.read()) {
          co_await ws.send(*msg);
          ++result_.echoed;
        }
      }
      result_.close_code = ws.close_code();
      result_.close_reason = ws.close_reason();
      result_.error = ws.error();
    } catch (const std::system_error& e) {
      result_.connect_error = e.code();
      result_.connect_what = e.what();
    } catch (const std::exception& e) {
      result_.connect_what = e.what();
    }
  }

  asio::io_context io_{1};
  outcome result_;
  std::promise<outcome> promise_;
  std::future<outcome> future_;
  bool got_ = false;
  outcome final_;
  std::thread thread_;
};

duplex::connect_options default_options() {
  duplex::connect_options o;
  o.handshake_timeout = 2s;
  o.websocket.close_timeout = 2s;
  return o;
}

// One case: a listener, the client under test connecting to it, and the
// accepted connection (`peer`) on which the test plays the server.
class client_case {
 public:
  explicit client_case(duplex::connect_options opts = default_options(), std::string path = "/", bool batch = false)
      : client_(lst_.port(), std::move(opts), std::move(path), batch) {}
  ~client_case() { peer.reset(); }  // lets a client still waiting for our TCP close finish
  std::uint16_t port() const { return lst_.port(); }

  // Accepts the client and reads its upgrade request.
  ::testing::AssertionResult accept() {
    peer = lst_.accept(2000ms);
    if (!peer.is_open()) return ::testing::AssertionFailure() << "the client did not connect";
    std::string head;
    const io_status s = peer.read_head(head);
    if (s != io_status::ok) return ::testing::AssertionFailure() << "no upgrade request: " << to_string(s);
    request = http_head::parse(head);
    return ::testing::AssertionSuccess();
  }
  std::string key() const { return request.get("Sec-WebSocket-Key").value_or(""); }

  // A correct 101 (plus `extra` header lines and bytes sent in the same write).
  bool answer_101(std::string_view extra_headers = {}, std::string_view then = {}) {
    std::string r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    r += "Sec-WebSocket-Accept: " + expected_accept(key()) + "\r\n";
    r += extra_headers;
    r += "\r\n";
    r += then;
    return peer.send(r);
  }
  ::testing::AssertionResult open() {
    if (auto a = accept(); !a) return a;
    if (!answer_101()) return ::testing::AssertionFailure() << "could not send the 101";
    return ::testing::AssertionSuccess();
  }

  bool send(std::string_view bytes) { return peer.send(bytes); }

  // The client's next frame: masked (§5.1), RSV 0, minimal length, `op`,
  // `fin`, exactly `payload`.
  ::testing::AssertionResult next_is(unsigned op, std::string_view payload, bool fin = true) {
    rx_frame f;
    const io_status s = peer.read_frame(f);
    if (s != io_status::ok) return ::testing::AssertionFailure() << "expected a frame op=" << op << ", got " << to_string(s);
    if (auto ok = frame_ok(f); !ok) return ok;
    if (f.op != op || f.fin != fin)
      return ::testing::AssertionFailure() << "expected op=" << op << " fin=" << fin << " len=" << payload.size()
                                           << ", got " << f.describe();
    return same_bytes(f.payload, payload);
  }

  // The client's next frame is a Close with `code` (nullopt: empty), and the
  // client then waits for us to close TCP (§7.1.1: the server closes first).
  ::testing::AssertionResult next_is_close(std::optional<std::uint16_t> code) {
    rx_frame f;
    const io_status s = peer.read_frame(f);
    if (s != io_status::ok) return ::testing::AssertionFailure() << "expected the client's Close, got " << to_string(s);
    if (auto ok = frame_ok(f); !ok) return ok;
    if (f.op != opc::close) return ::testing::AssertionFailure() << "expected the client's Close, got " << f.describe();
    if (!code && !f.payload.empty()) return ::testing::AssertionFailure() << "expected an empty Close, got " << f.describe();
    if (code && f.close_code() != *code)
      return ::testing::AssertionFailure() << "expected Close " << *code << ", got " << f.describe();
    last_close = f;
    std::string extra;
    const io_status after = peer.await_close(100ms, &extra);
    if (after == io_status::ok) return ::testing::AssertionFailure() << "the client sent more after its Close: " << to_hex(extra);
    if (after != io_status::timeout)
      return ::testing::AssertionFailure() << "the client closed TCP before the server did (" << to_string(after) << ")";
    return ::testing::AssertionSuccess();
  }

  // Ends the TCP connection (as the server must) and returns the outcome.
  outcome finish(ms timeout = 2000ms) {
    peer.reset();
    auto r = client_.wait(timeout);
    if (!r) throw std::runtime_error("the client did not finish in time");
    return *r;
  }
  std::optional<outcome> wait(ms timeout) { return client_.wait(timeout); }

  conn peer;
  http_head request;
  rx_frame last_close;

 private:
  static ::testing::AssertionResult frame_ok(const rx_frame& f) {
    if (!f.masked) return ::testing::AssertionFailure() << "the client sent an unmasked frame (§5.1): " << f.describe();
    if (f.rsv) return ::testing::AssertionFailure() << "the client set RSV bits: " << f.describe();
    if (!f.minimal_length) return ::testing::AssertionFailure() << "non-minimal length encoding: " << f.describe();
    if ((f.op & 0x8) && (!f.fin || f.payload.size() > 125))
      return ::testing::AssertionFailure() << "invalid control frame: " << f.describe();
    if (f.op == opc::close && f.payload.size() >= 2 && !valid_utf8(f.close_reason()))
      return ::testing::AssertionFailure() << "Close reason is not UTF-8: " << f.describe();
    return ::testing::AssertionSuccess();
  }

  listener lst_;
  client_under_test client_;
};

// A failure case: the client must send Close `code`, and end with it.
void expect_client_fails(client_case& c, std::uint16_t code, duplex::errc why) {
  ASSERT_TRUE(c.next_is_close(code));
  const outcome o = c.finish();
  EXPECT_TRUE(o.connected);
  EXPECT_EQ(o.close_code, code);
  EXPECT_EQ(o.error, make_error_code(why)) << o.error.message();
}

// A clean end: we close with 1000, the client echoes 1000, then we close TCP.
void expect_clean_close(client_case& c) {
  ASSERT_TRUE(c.send(s_frame(opc::close, close_payload(1000))));
  ASSERT_TRUE(c.next_is_close(1000));
  const outcome o = c.finish();
  EXPECT_TRUE(o.connected);
  EXPECT_EQ(o.close_code, 1000);
}

// ------------------------------------------------------------ handshake ----

TEST(ClientHandshake, RequestIsAValidUpgrade) {
  auto opts = default_options();
  opts.subprotocols = {"chat.v2", "chat"};
  opts.origin = "http://app.example";
  client_case c(opts, "/some/path?x=1");
  ASSERT_TRUE(c.accept());
  const http_head& r = c.request;
  EXPECT_EQ(r.start_line, "GET /some/path?x=1 HTTP/1.1");
  EXPECT_EQ(r.count("Host"), 1u);
  EXPECT_EQ(r.get("Host").value_or(""), "127.0.0.1:" + std::to_string(c.port()));
  EXPECT_TRUE(r.has_token("Upgrade", "websocket"));
  EXPECT_TRUE(r.has_token("Connection", "Upgrade"));
  EXPECT_EQ(r.get("Sec-WebSocket-Version").value_or(""), "13");
  EXPECT_EQ(r.get("Origin").value_or(""), "http://app.example");
  EXPECT_TRUE(r.has_token("Sec-WebSocket-Protocol", "chat.v2"));
  EXPECT_TRUE(r.has_token("Sec-WebSocket-Protocol", "chat"));
  EXPECT_FALSE(r.get("Sec-WebSocket-Extensions")) << "no extension is implemented, none may be offered";
  // The key: 16 random bytes in base64 (§4.1).
  const std::string key = c.key();
  ASSERT_EQ(key.size(), 24u) << key;
  unsigned char raw[24];
  EXPECT_EQ(EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(key.data()), 24), 18);  // 16 + 2 padding
  EXPECT_EQ(key.substr(22), "==");
  ASSERT_TRUE(c.answer_101("Sec-WebSocket-Protocol: chat\r\n"));
  ASSERT_TRUE(c.send(s_frame(opc::text, "hello")));
  ASSERT_TRUE(c.next_is(opc::text, "hello"));
  expect_clean_close(c);
  EXPECT_EQ(c.wait(0ms)->subprotocol, "chat");
}

TEST(ClientHandshake, KeysDifferPerConnection) {
  std::set<std::string> keys;
  for (int i = 0; i < 4; ++i) {
    client_case c;
    ASSERT_TRUE(c.accept());
    keys.insert(c.key());
    c.finish();
  }
  EXPECT_EQ(keys.size(), 4u);
}

TEST(ClientHandshake, FramesRightBehindThe101AreProcessed) {
  client_case c;
  ASSERT_TRUE(c.accept());
  ASSERT_TRUE(c.answer_101({}, s_frame(opc::text, "in the same write") + s_frame(opc::ping, "p")));
  ASSERT_TRUE(c.next_is(opc::text, "in the same write"));
  ASSERT_TRUE(c.next_is(opc::pong, "p"));
  expect_clean_close(c);
}

TEST(ClientHandshake, ResponseWrittenByteByByte) {
  client_case c;
  ASSERT_TRUE(c.accept());
  const std::string r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: " + expected_accept(c.key()) + "\r\n\r\n" +
                        s_frame(opc::text, "chopped");
  ASSERT_TRUE(c.peer.send_chopped(r, 1, std::chrono::microseconds(100)));
  ASSERT_TRUE(c.next_is(opc::text, "chopped"));
  expect_clean_close(c);
}

struct bad_response_case {
  const char* name;
  std::string response;  // "{accept}" is replaced by the right accept value
  duplex::errc expected;
};

class ClientBadResponse : public ::testing::TestWithParam<bad_response_case> {};

TEST_P(ClientBadResponse, ConnectThrows) {
  client_case c;
  ASSERT_TRUE(c.accept());
  std::string r = GetParam().response;
  if (auto at = r.find("{accept}"); at != std::string::npos) r.replace(at, 8, expected_accept(c.key()));
  if (auto at = r.find("{ACCEPT}"); at != std::string::npos) {
    std::string upper = expected_accept(c.key());
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    r.replace(at, 8, upper);  // base64 is case-sensitive
  }
  c.send(r);
  const auto o = c.wait(2000ms);
  ASSERT_TRUE(o) << "connect() did not fail in time";
  EXPECT_FALSE(o->connected);
  EXPECT_EQ(o->connect_error, make_error_code(GetParam().expected))
      << "got " << o->connect_error.message() << " (" << o->connect_what << ")";
}

INSTANTIATE_TEST_SUITE_P(
    ClientHandshake, ClientBadResponse,
    ::testing::Values(
        bad_response_case{"WrongAccept",
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: " + std::string(sample_accept) + "\r\n\r\n",
                          duplex::errc::bad_accept},
        bad_response_case{"MissingAccept",
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                          duplex::errc::bad_accept},
        bad_response_case{"Status200",
                          "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
                          duplex::errc::bad_accept},
        bad_response_case{"Status403", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", duplex::errc::bad_accept},
        bad_response_case{"AcceptInWrongCase",
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n",
                          duplex::errc::bad_accept},
        bad_response_case{"MissingConnection",
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
                          duplex::errc::bad_handshake},
        bad_response_case{"UpgradeNotWebsocket",
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: {accept}\r\n\r\n",
                          duplex::errc::bad_handshake},
        bad_response_case{"MissingUpgrade",
                          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
                          duplex::errc::bad_handshake},
        bad_response_case{"UnofferedExtension",
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                          duplex::errc::bad_handshake},
        bad_response_case{"UnofferedSubprotocol",
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
                          duplex::errc::bad_handshake}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ClientHandshake, RefusedConnectionFailsAtOnce) {
  std::uint16_t port = 0;
  {
    listener gone;  // a port that was free a moment ago and has no listener now
    port = gone.port();
  }
  auto opts = default_options();
  opts.handshake_timeout = 5s;
  const auto t0 = clock::now();
  client_under_test client(port, opts, "/");
  const auto o = client.wait(3000ms);
  ASSERT_TRUE(o) << "connect() to a closed port did not fail";
  EXPECT_FALSE(o->connected);
  EXPECT_EQ(o->connect_error, std::error_code(asio::error::connection_refused)) << o->connect_what;
  EXPECT_LT(o->finished - t0, 1000ms) << "a refused connection must not wait for the handshake timeout";
}

TEST(ClientHandshake, SilentServerHitsHandshakeTimeout) {
  auto opts = default_options();
  opts.handshake_timeout = 300ms;
  client_case c(opts);
  const auto t0 = clock::now();
  ASSERT_TRUE(c.accept());  // and never answer
  const auto o = c.wait(2000ms);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->connect_error, make_error_code(duplex::errc::handshake_timeout)) << o->connect_what;
  EXPECT_LE(o->finished - t0, 1000ms);
}

// ------------------------------------------------------------- framing ----

struct length_case {
  std::string id;
  unsigned op;
  std::size_t length;
  std::size_t chop;
};

class ClientFraming : public ::testing::TestWithParam<length_case> {};

TEST_P(ClientFraming, EchoedMasked) {
  const auto& p = GetParam();
  client_case c;
  ASSERT_TRUE(c.open());
  const std::string payload = pattern(p.length, p.op == opc::text);
  const std::string f = s_frame(p.op, payload);
  ASSERT_TRUE(p.chop ? c.peer.send_chopped(f, p.chop) : c.send(f));
  ASSERT_TRUE(c.next_is(p.op, payload));
  expect_clean_close(c);
}

std::vector<length_case> client_lengths() {
  std::vector<length_case> v;
  const std::size_t lengths[] = {0, 125, 126, 127, 128, 65535, 65536};
  for (unsigned op : {opc::text, opc::binary}) {
    int n = 1;
    for (std::size_t l : lengths) v.push_back({"1_" + std::to_string(op) + "_" + std::to_string(n++), op, l, 0});
    v.push_back({"1_" + std::to_string(op) + "_" + std::to_string(n++), op, 65536, 997});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Conformance, ClientFraming, ::testing::ValuesIn(client_lengths()),
                         [](const auto& info) { return "ClientFraming_" + info.param.id; });

TEST(ClientFraming, ClientFraming_1_3_MaskKeyDiffersPerFrame) {
  client_case c;
  ASSERT_TRUE(c.open());
  std::set<std::array<unsigned char, 4>> keys;
  const int n = 32;
  std::string burst;
  for (int i = 0; i < n; ++i) burst += s_frame(i % 3 == 2 ? opc::ping : opc::text, "message " + std::to_string(i));
  ASSERT_TRUE(c.send(burst));
  for (int i = 0; i < n; ++i) {
    rx_frame f;
    ASSERT_EQ(c.peer.read_frame(f), io_status::ok);
    EXPECT_TRUE(f.masked) << f.describe();
    EXPECT_EQ(f.payload, "message " + std::to_string(i));
    EXPECT_EQ(f.op, i % 3 == 2 ? opc::pong : opc::text);
    keys.insert(f.key);
  }
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(n)) << "masking keys repeat (§5.3: a fresh key per frame)";
  EXPECT_FALSE(keys.count({0, 0, 0, 0})) << "an all-zero key masks nothing";
  expect_clean_close(c);
}

// ----------------------------------------------------------- ping/pong ----

TEST(ClientPingPong, ClientPingPong_2_1_PingWithoutPayload) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::ping, "")));
  ASSERT_TRUE(c.next_is(opc::pong, ""));
  expect_clean_close(c);
}

TEST(ClientPingPong, ClientPingPong_2_4_PingWith125Bytes) {
  client_case c;
  ASSERT_TRUE(c.open());
  const std::string p = pattern(125, false);
  ASSERT_TRUE(c.send(s_frame(opc::ping, p)));
  ASSERT_TRUE(c.next_is(opc::pong, p));
  expect_clean_close(c);
}

TEST(ClientPingPong, ClientPingPong_2_5_PingWith126BytesFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::ping, std::string(126, 'x'))));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

TEST(ClientPingPong, ClientPingPong_2_6_PingChopped) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.peer.send_chopped(s_frame(opc::ping, "chopped ping"), 1, std::chrono::microseconds(300)));
  ASSERT_TRUE(c.next_is(opc::pong, "chopped ping"));
  expect_clean_close(c);
}

TEST(ClientPingPong, ClientPingPong_2_9_UnsolicitedPongIgnored) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::pong, "unsolicited") + s_frame(opc::text, "after the pong")));
  ASSERT_TRUE(c.next_is(opc::text, "after the pong"));
  expect_clean_close(c);
}

TEST(ClientPingPong, ClientPingPong_2_10_TenPings) {
  client_case c;
  ASSERT_TRUE(c.open());
  std::string b;
  for (int i = 0; i < 10; ++i) b += s_frame(opc::ping, "ping " + std::to_string(i));
  ASSERT_TRUE(c.send(b));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.next_is(opc::pong, "ping " + std::to_string(i)));
  expect_clean_close(c);
}

TEST(ClientPingPong, ClientPingPong_2_12_FragmentedPingFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::ping, "frag", false) + s_frame(opc::cont, "ment")));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

// --------------------------------------------------------- reserved bits ----

class ClientReservedBits : public ::testing::TestWithParam<std::pair<unsigned, unsigned>> {};

TEST_P(ClientReservedBits, Fail1002) {
  const auto [op, rsv] = GetParam();
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::text, "valid first") +
                     s_frame(op, op == opc::close ? close_payload(1000) : std::string("payload"), true, rsv)));
  ASSERT_TRUE(c.next_is(opc::text, "valid first"));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

INSTANTIATE_TEST_SUITE_P(Conformance, ClientReservedBits,
                         ::testing::Values(std::pair{opc::text, 1u}, std::pair{opc::text, 2u}, std::pair{opc::text, 4u},
                                           std::pair{opc::binary, 5u}, std::pair{opc::ping, 6u},
                                           std::pair{opc::close, 7u}),
                         [](const auto& info) {
                           return "ClientReservedBits_3_op" + std::to_string(info.param.first) + "_rsv" +
                                  std::to_string(info.param.second);
                         });

// ------------------------------------------------------------- opcodes ----

class ClientOpcodes : public ::testing::TestWithParam<unsigned> {};

TEST_P(ClientOpcodes, ReservedOpcodeFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(GetParam(), "reserved")));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

INSTANTIATE_TEST_SUITE_P(Conformance, ClientOpcodes, ::testing::Values(3u, 4u, 5u, 6u, 7u, 11u, 12u, 13u, 14u, 15u),
                         [](const auto& info) { return "ClientOpcodes_4_op" + std::to_string(info.param); });

// ------------------------------------------------------- fragmentation ----

TEST(ClientFragmentation, ClientFragmentation_5_3_TwoFragmentsEchoedWhole) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::text, "fragment1", false) + s_frame(opc::cont, "fragment2")));
  ASSERT_TRUE(c.next_is(opc::text, "fragment1fragment2"));  // one frame, FIN set
  expect_clean_close(c);
}

TEST(ClientFragmentation, ClientFragmentation_5_6_PingBetweenFragments) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::text, "fragment1", false)));
  ASSERT_TRUE(c.send(s_frame(opc::ping, "pongme!")));
  ASSERT_TRUE(c.next_is(opc::pong, "pongme!"));  // before the message is complete
  ASSERT_TRUE(c.send(s_frame(opc::cont, "fragment2")));
  ASSERT_TRUE(c.next_is(opc::text, "fragment1fragment2"));
  expect_clean_close(c);
}

TEST(ClientFragmentation, ClientFragmentation_5_9_ContinuationWithoutStartFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::cont, "nothing to continue")));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

TEST(ClientFragmentation, ClientFragmentation_5_18_NewMessageInsideFragmentedFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::text, "fragment1", false) + s_frame(opc::binary, "fragment2")));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

TEST(ClientFragmentation, ClientFragmentation_5_21_OneByteFragments) {
  client_case c;
  ASSERT_TRUE(c.open());
  const std::string p = pattern(200, false);
  ASSERT_TRUE(c.send(fragmented(opc::binary, p, 1, false)));
  ASSERT_TRUE(c.next_is(opc::binary, p));
  expect_clean_close(c);
}

// -------------------------------------------------------------- UTF-8 ----

TEST(ClientUtf8, ClientUtf8_6_2_ValidMultiFragment) {
  client_case c;
  ASSERT_TRUE(c.open());
  const std::string k = unhex("cebae1bdb9cf83cebcceb5f09f9880");
  for (std::size_t i = 0; i <= k.size(); ++i) {
    ASSERT_TRUE(c.send(s_frame(opc::text, k.substr(0, i), false) + s_frame(opc::cont, k.substr(i))));
    ASSERT_TRUE(c.next_is(opc::text, k)) << "split at " << i;
  }
  expect_clean_close(c);
}

class ClientInvalidUtf8 : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(ClientInvalidUtf8, Fails1007) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::text, unhex(GetParam().second))));
  expect_client_fails(c, 1007, duplex::errc::invalid_utf8);
}

INSTANTIATE_TEST_SUITE_P(Conformance, ClientInvalidUtf8,
                         ::testing::Values(std::pair{"6_3_1", "cebae1bdb9cf83cebcceb5eda080656469746564"},
                                           std::pair{"6_6_1", "ce"}, std::pair{"6_8_1", "f888808080"},
                                           std::pair{"6_11_5", "f4908080"}, std::pair{"6_12_1", "80"},
                                           std::pair{"6_16_1", "fe"}, std::pair{"6_17_1", "c0af"},
                                           std::pair{"6_19_1", "c080"}, std::pair{"6_20_1", "eda080"},
                                           std::pair{"6_21_1", "eda080edb080"}),
                         [](const auto& info) { return std::string("ClientUtf8_") + info.param.first; });

TEST(ClientUtf8, ClientUtf8_6_4_FailFastOnFirstFragment) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::text, unhex("cebae1bdb9cf83cebcceb5f4908080"), false)));
  // The rest of the message is never sent.
  expect_client_fails(c, 1007, duplex::errc::invalid_utf8);
}

TEST(ClientUtf8, ClientUtf8_7_5_InvalidCloseReason) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::close, close_payload(1000, unhex("cebae1bdb9cf83cebcceb5eda080")))));
  expect_client_fails(c, 1007, duplex::errc::invalid_utf8);
}

// -------------------------------------------------------------- close ----

TEST(ClientClose, ClientClose_7_1_ServerClose1000IsEchoedAndClientWaitsForTcpClose) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::text, "before the close")));
  ASSERT_TRUE(c.next_is(opc::text, "before the close"));
  ASSERT_TRUE(c.send(s_frame(opc::close, close_payload(1000, "server done"))));
  ASSERT_TRUE(c.next_is_close(1000));  // and the client keeps TCP open for us to close
  const outcome o = c.finish();
  EXPECT_TRUE(o.connected);
  EXPECT_EQ(o.close_code, 1000);
  EXPECT_EQ(o.close_reason, "server done");
  EXPECT_EQ(o.echoed, 1);
}

TEST(ClientClose, ClientClose_7_1_3_DataAfterServerCloseIgnored) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::close, close_payload(1000)) + s_frame(opc::text, "after the close") +
                     s_frame(opc::ping, "after the close")));
  ASSERT_TRUE(c.next_is_close(1000));
  const outcome o = c.finish();
  EXPECT_EQ(o.close_code, 1000);
  EXPECT_EQ(o.echoed, 0);
}

TEST(ClientClose, ClientClose_7_3_1_EmptyCloseAnsweredEmpty) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::close, "")));
  ASSERT_TRUE(c.next_is_close(std::nullopt));
  EXPECT_EQ(c.finish().close_code, 1005);
}

TEST(ClientClose, ClientClose_7_3_2_OneByteCloseFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::close, "x")));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

class ClientValidCloseCode : public ::testing::TestWithParam<std::uint16_t> {};

TEST_P(ClientValidCloseCode, Echoed) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::close, close_payload(GetParam(), "reason"))));
  ASSERT_TRUE(c.next_is_close(GetParam()));
  EXPECT_EQ(c.finish().close_code, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Conformance, ClientValidCloseCode,
                         ::testing::Values(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                                           3000, 3999, 4000, 4999),
                         [](const auto& info) { return "ClientClose_7_7_code" + std::to_string(info.param); });

class ClientInvalidCloseCode : public ::testing::TestWithParam<std::uint16_t> {};

TEST_P(ClientInvalidCloseCode, Fails1002) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::close, close_payload(GetParam()))));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

INSTANTIATE_TEST_SUITE_P(Conformance, ClientInvalidCloseCode,
                         ::testing::Values(0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535),
                         [](const auto& info) { return "ClientClose_7_9_code" + std::to_string(info.param); });

TEST(ClientClose, ClientClose_7_10_ServerDropsTcpWithoutClose) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::text, "x")));
  ASSERT_TRUE(c.next_is(opc::text, "x"));
  const outcome o = c.finish();
  EXPECT_EQ(o.close_code, 1006);
}

TEST(ClientClose, ClientClose_7_11_ServerClosesTcpRightAfterItsClose) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::close, close_payload(1001))));
  c.peer.shutdown_write();  // FIN right behind the Close
  rx_frame f;
  ASSERT_EQ(c.peer.read_frame(f), io_status::ok);
  EXPECT_EQ(f.op, opc::close);
  EXPECT_EQ(f.close_code(), 1001);
  const outcome o = c.finish();
  EXPECT_EQ(o.close_code, 1001);
}

TEST(ClientClose, ClientClose_7_12_ClientGivesUpAfterCloseTimeout) {
  auto opts = default_options();
  opts.websocket.close_timeout = 300ms;
  client_case c(opts);
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(s_frame(opc::close, close_payload(1000))));
  rx_frame f;
  ASSERT_EQ(c.peer.read_frame(f), io_status::ok);
  ASSERT_EQ(f.op, opc::close);
  const auto t0 = clock::now();
  // We never close TCP: the client must, once its close_timeout expires.
  std::string extra;
  const io_status s = c.peer.await_close(2000ms, &extra);
  EXPECT_TRUE(s == io_status::eof || s == io_status::reset) << to_string(s) << " " << to_hex(extra);
  EXPECT_GE(clock::now() - t0, 200ms);
  EXPECT_LE(clock::now() - t0, 1300ms);
  const auto o = c.wait(1000ms);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->close_code, 1000);
}

// ----------------------------------------------------------- keepalive ----

TEST(ClientTimeouts, IdleServerIsPingedThenDropped) {
  auto opts = default_options();
  opts.websocket.idle_timeout = 400ms;
  client_case c(opts);
  ASSERT_TRUE(c.open());
  const auto t0 = clock::now();
  int pings = 0;
  for (;;) {
    rx_frame f;
    const io_status s = c.peer.read_frame(f, 2000ms);
    if (s == io_status::eof || s == io_status::reset) break;
    ASSERT_EQ(s, io_status::ok) << "the client never gave up on a silent server";
    ASSERT_TRUE(f.op == opc::ping || f.op == opc::close) << f.describe();
    EXPECT_TRUE(f.masked);
    pings += f.op == opc::ping;
  }
  const auto after = clock::now() - t0;
  EXPECT_GE(pings, 1);
  EXPECT_GE(after, 300ms);
  EXPECT_LE(after, 1400ms);
  const auto o = c.wait(1000ms);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->error, make_error_code(duplex::errc::idle_timeout)) << o->error.message();
}

TEST(ClientTimeouts, ServerAnsweringPingsStays) {
  auto opts = default_options();
  opts.websocket.idle_timeout = 400ms;
  client_case c(opts);
  ASSERT_TRUE(c.open());
  int pings = 0;
  const auto until = clock::now() + 1200ms;
  while (clock::now() < until) {
    rx_frame f;
    const io_status s = c.peer.read_frame(f, std::chrono::duration_cast<ms>(until - clock::now()) + 1ms);
    if (s == io_status::timeout) break;
    ASSERT_EQ(s, io_status::ok) << "dropped although every ping was answered";
    ASSERT_EQ(f.op, opc::ping) << f.describe();
    ++pings;
    ASSERT_TRUE(c.send(s_frame(opc::pong, f.payload)));
  }
  EXPECT_GE(pings, 2);
  ASSERT_TRUE(c.send(s_frame(opc::text, "still here")));
  for (;;) {
    rx_frame f;
    ASSERT_EQ(c.peer.read_frame(f), io_status::ok);
    if (f.op == opc::ping) {
      c.send(s_frame(opc::pong, f.payload));
      continue;
    }
    EXPECT_EQ(f.op, opc::text);
    EXPECT_EQ(f.payload, "still here");
    break;
  }
  c.send(s_frame(opc::close, close_payload(1000)));
  for (;;) {
    rx_frame f;
    ASSERT_EQ(c.peer.read_frame(f), io_status::ok);
    if (f.op == opc::ping) continue;
    EXPECT_EQ(f.op, opc::close);
    EXPECT_EQ(f.close_code(), 1000);
    break;
  }
  EXPECT_EQ(c.finish().close_code, 1000);
}

// ------------------------------------------------------------- limits ----

TEST(ClientLimits, ClientLimits_9_1_AtTheLimitEchoed) {
  auto opts = default_options();
  opts.websocket.max_message_size = 64 * 1024;
  client_case c(opts);
  ASSERT_TRUE(c.open());
  const std::string p = pattern(64 * 1024, false);
  ASSERT_TRUE(c.send(s_frame(opc::binary, p)));
  ASSERT_TRUE(c.next_is(opc::binary, p));
  ASSERT_TRUE(c.send(fragmented(opc::binary, p, 4096, false)));
  ASSERT_TRUE(c.next_is(opc::binary, p));
  expect_clean_close(c);
}

TEST(ClientLimits, ClientLimits_9_2_OverTheLimitFails1009) {
  auto opts = default_options();
  opts.websocket.max_message_size = 64 * 1024;
  client_case c(opts);
  ASSERT_TRUE(c.open());
  c.send(s_frame(opc::text, pattern(64 * 1024 + 1, true)));
  expect_client_fails(c, 1009, duplex::errc::message_too_big);
}

TEST(ClientLimits, ClientLimits_9_3_FragmentsOverTheLimitFail1009) {
  auto opts = default_options();
  opts.websocket.max_message_size = 64 * 1024;
  client_case c(opts);
  ASSERT_TRUE(c.open());
  c.send(s_frame(opc::binary, pattern(40000, false), false) + s_frame(opc::cont, pattern(40000, false)));
  expect_client_fails(c, 1009, duplex::errc::message_too_big);
}

// The client's automatic Pongs must respect its bounded outgoing buffer too
// (send_queue_limit, 1 MiB by default): see Limits_9_10_1 in the server suite.
TEST(ClientLimits, ClientLimits_9_10_PingFloodFromNonReadingServerIsBounded) {
  client_case c;  // default websocket options
  ASSERT_TRUE(c.open());
  EXPECT_TRUE(ping_flood_is_bounded(c.peer, [](std::string_view p) { return s_frame(opc::ping, p); }, 48u << 20));
}

// --------------------------------------------------------------- misc ----

TEST(ClientMisc, ClientMisc_10_4_MaskedFrameFromServerFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(frame(opc::text, "masked by the server", {.masked = true})));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

TEST(ClientMisc, ClientMisc_10_4_MaskedPingFromServerFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(frame(opc::ping, "masked", {.masked = true})));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

TEST(ClientMisc, ClientMisc_10_3_NonMinimalLengthFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(frame(opc::text, "short", {.masked = false, .length_form = 16})));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

TEST(ClientMisc, ClientMisc_10_3_TopBitLengthFails) {
  client_case c;
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(frame(opc::binary, "abc", {.masked = false, .declared_length = 0x8000000000000003ull})));
  expect_client_fails(c, 1002, duplex::errc::protocol_error);
}

// ------------------------------------------------------------- strict ----
// Autobahn's strict expectation (strict_cases.hpp): the messages before a
// violation in the same segment are echoed, then the client fails with the
// violation's code. For both read styles.

struct client_strict_param {
  strict_case c;
  bool batch;
};
void PrintTo(const client_strict_param& p, std::ostream* os) { *os << p.c.id; }

class ClientStrict : public ::testing::TestWithParam<client_strict_param> {};

TEST_P(ClientStrict, RepliesBeforeTheViolationThenClose) {
  const auto& [sc, batch] = GetParam();
  client_case c(default_options(), "/", batch);
  ASSERT_TRUE(c.open());
  ASSERT_TRUE(c.send(sc.bytes));
  for (std::size_t i = 0; i < sc.echoes.size(); ++i)
    ASSERT_TRUE(c.next_is(sc.echoes[i].first, sc.echoes[i].second)) << "reply " << i;
  const auto why = sc.code == 1007   ? duplex::errc::invalid_utf8
                   : sc.code == 1009 ? duplex::errc::message_too_big
                                     : duplex::errc::protocol_error;
  expect_client_fails(c, sc.code, why);  // next_is_close: nothing between the echoes and the Close
}

std::vector<client_strict_param> client_strict_params() {
  std::vector<client_strict_param> v;
  for (bool batch : {false, true})
    for (auto& c : strict_cases(false, duplex::websocket_options{}.max_message_size)) v.push_back({c, batch});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Conformance, ClientStrict, ::testing::ValuesIn(client_strict_params()), [](const auto& info) {
  return std::string(info.param.batch ? "ClientBatch_" : "ClientSingle_") + info.param.c.id;
});

}  // namespace
}  // namespace conformance
