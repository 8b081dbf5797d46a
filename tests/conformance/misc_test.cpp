// Autobahn|Testsuite category 10 (misc) plus the wire-format MUSTs Autobahn
// does not cover: masking in both directions (§5.1, §5.3) and the length
// encoding (§5.2).
#include "server_suite.hpp"

namespace conformance {
namespace {

TEST(Misc, Misc_10_1_1_AutoFragmented64KiBText) {
  ws_client ws;
  const std::string p = pattern(65536, true);
  ASSERT_TRUE(ws.send(fragmented(opc::text, p, 1300)));
  ASSERT_TRUE(next_is(ws, opc::text, p));
  EXPECT_TRUE(clean_close(ws));
}

// 10.2.x: the server never masks. Checked on the raw second header byte of
// every kind of frame it sends (text, binary, pong, close; 7-, 16- and 64-bit
// lengths), independently of the frame parser.
TEST(Misc, Misc_10_2_1_ServerFramesAreUnmasked) {
  ws_client ws;
  const std::string burst = text("a") + binary(pattern(300, false)) + ping("p") + text(pattern(70000, true));
  ASSERT_TRUE(ws.send(burst));
  auto& in = ws.raw();
  std::vector<unsigned> second_bytes;
  const auto deadline = clock::now() + default_timeout;
  // The replies: text "a", binary 300 (16-bit length), pong "p", text 70000 (64-bit length).
  const std::size_t want = (2 + 1) + (4 + 300) + (2 + 1) + (10 + 70000);
  while (in.buffered().size() < want) ASSERT_EQ(in.fill(deadline), io_status::ok);
  std::string_view b = in.buffered();
  std::size_t at = 0;
  int frames = 0;
  while (at < want) {
    const auto h1 = static_cast<unsigned char>(b[at + 1]);
    EXPECT_EQ(h1 & 0x80, 0u) << "MASK bit set in server frame " << frames;
    std::size_t len = h1 & 0x7F, hdr = 2;
    if (len == 126) {
      len = static_cast<unsigned char>(b[at + 2]) << 8 | static_cast<unsigned char>(b[at + 3]);
      hdr = 4;
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = len << 8 | static_cast<unsigned char>(b[at + 2 + i]);
      hdr = 10;
    }
    at += hdr + len;
    ++frames;
  }
  EXPECT_EQ(frames, 4);
  ASSERT_TRUE(next_is(ws, opc::text, "a"));
  ASSERT_TRUE(next_is(ws, opc::binary, pattern(300, false)));
  ASSERT_TRUE(next_is(ws, opc::pong, "p"));
  ASSERT_TRUE(next_is(ws, opc::text, pattern(70000, true)));
  ASSERT_TRUE(ws.send(close_frame(1000)));
  ASSERT_EQ(ws.raw().fill(clock::now() + default_timeout), io_status::ok);
  ASSERT_GE(ws.raw().buffered().size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(ws.raw().buffered()[1]) & 0x80, 0u) << "MASK bit set in the server's Close";
  EXPECT_TRUE(next_is_close(ws, 1000));
}

// 10.3.x: lengths must use the minimal encoding; the 64-bit length's most
// significant bit must be 0 (§5.2).
TEST(Misc, Misc_10_3_1_NonMinimal16BitLengthFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::text, "Hello", {.length_form = 16})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Misc, Misc_10_3_2_NonMinimal16BitLength125Fails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::binary, std::string(125, 'x'), {.length_form = 16})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Misc, Misc_10_3_3_NonMinimal64BitLengthFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::text, "Hello", {.length_form = 64})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Misc, Misc_10_3_4_NonMinimal64BitLength65535Fails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::binary, pattern(65535, false), {.length_form = 64})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Misc, Misc_10_3_5_64BitLengthWithTopBitFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::binary, "abc", {.declared_length = 0x8000000000000003ull})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Misc, Misc_10_3_6_ControlFrameWith16BitLengthFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::ping, "ping", {.length_form = 16})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Misc, Misc_10_3_7_Minimal16And64BitLengthsAccepted) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::binary, pattern(126, false), {.length_form = 16})));
  ASSERT_TRUE(next_is(ws, opc::binary, pattern(126, false)));
  ASSERT_TRUE(ws.send(frame(opc::binary, pattern(65536, false), {.length_form = 64})));
  ASSERT_TRUE(next_is(ws, opc::binary, pattern(65536, false)));
  EXPECT_TRUE(clean_close(ws));
}

// 10.4.x: a client must mask every frame (§5.1).
TEST(Misc, Misc_10_4_1_UnmaskedTextFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::text, "Hello", {.masked = false})));
  EXPECT_TRUE(next_is_close(ws, 1002));  // no echo
}

TEST(Misc, Misc_10_4_2_UnmaskedPingFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::ping, "Hello", {.masked = false})));
  EXPECT_TRUE(next_is_close(ws, 1002));  // no Pong
}

TEST(Misc, Misc_10_4_3_UnmaskedCloseFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::close, close_payload(1000), {.masked = false})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Misc, Misc_10_4_4_UnmaskedContinuationFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("Hello, ", false) + frame(opc::cont, "world", {.masked = false})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Misc, Misc_10_4_5_UnmaskedEmptyBinaryFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::binary, "", {.masked = false})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

// A zero masking key is a legal key (it just masks nothing).
TEST(Misc, Misc_10_4_6_ZeroMaskKeyAccepted) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::text, "zero key", {.key = std::array<unsigned char, 4>{0, 0, 0, 0}})));
  ASSERT_TRUE(next_is(ws, opc::text, "zero key"));
  EXPECT_TRUE(clean_close(ws));
}

// Masking keys rotate across fragments: each frame has its own key, and
// unmasking restarts at key byte 0 in every frame (§5.3).
TEST(Misc, Misc_10_4_7_EachFragmentHasItsOwnKey) {
  ws_client ws;
  const std::string p = pattern(37, true);
  std::string b;
  const std::array<std::array<unsigned char, 4>, 3> keys{{{1, 2, 3, 4}, {0xff, 0x00, 0xaa, 0x55}, {9, 8, 7, 6}}};
  b += frame(opc::text, p.substr(0, 5), {.fin = false, .key = keys[0]});
  b += frame(opc::cont, p.substr(5, 11), {.fin = false, .key = keys[1]});
  b += frame(opc::cont, p.substr(16), {.key = keys[2]});
  ASSERT_TRUE(ws.send(b));
  ASSERT_TRUE(next_is(ws, opc::text, p));
  EXPECT_TRUE(clean_close(ws));
}


// 10.5.x: the transport.
TEST(Misc, Misc_10_5_1_TcpHalfCloseWithoutCloseFrame) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("last words")));
  ASSERT_TRUE(next_is(ws, opc::text, "last words"));
  ws.raw().shutdown_write();  // FIN, no Close frame
  // The server ends the connection too (it may or may not still send a Close).
  rx_frame f;
  const io_status s = ws.raw().read_frame(f, 1000ms);
  if (s == io_status::ok) {
    EXPECT_EQ(f.op, opc::close) << f.describe();
    EXPECT_FALSE(f.masked);
    EXPECT_TRUE(tcp_closed(ws));
  } else {
    EXPECT_TRUE(s == io_status::eof || s == io_status::reset) << to_string(s);
  }
}

TEST(Misc, Misc_10_5_2_ResetMidFrameDoesNotDisturbOthers) {
  {
    ws_client ws;
    const std::string f = binary(pattern(100000, false));
    ASSERT_TRUE(ws.send(f.substr(0, 5000)));
    linger l{1, 0};  // close with RST in the middle of the frame
    ::setsockopt(ws.raw().fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ws.raw().reset();
  }
  ws_client other;
  ASSERT_TRUE(other.send(text("still serving")));
  ASSERT_TRUE(next_is(other, opc::text, "still serving"));
  EXPECT_TRUE(clean_close(other));
}

}  // namespace
}  // namespace conformance
