// Autobahn|Testsuite categories 1 (framing), 2 (ping/pong), 3 (reserved
// bits) and 4 (opcodes), against a real duplex::server. Numbering follows
// Autobahn; cases marked "extra" have no Autobahn counterpart.
#include "server_suite.hpp"

namespace conformance {
namespace {

// ---------------------------------------------------------------- 1.x ----

struct framing_case {
  const char* id;
  unsigned op;
  std::size_t length;
  std::size_t chop;  // 0: one write; else writes of this many bytes
  ms pause{};        // between chopped writes
};

class Framing : public ::testing::TestWithParam<framing_case> {};

TEST_P(Framing, EchoedExactly) {
  const auto& c = GetParam();
  ws_client ws;
  const std::string payload = pattern(c.length, c.op == opc::text);
  const std::string f = frame(c.op, payload);
  ASSERT_TRUE(c.chop ? ws.send_chopped(f, c.chop, c.pause) : ws.send(f));
  ASSERT_TRUE(next_is(ws, c.op, payload));
  EXPECT_TRUE(clean_close(ws));
}

INSTANTIATE_TEST_SUITE_P(
    Conformance, Framing,
    ::testing::Values(
        // 1.1.x text, 1.2.x binary: lengths around each length encoding.
        framing_case{"1_1_1", opc::text, 0, 0}, framing_case{"1_1_2", opc::text, 125, 0},
        framing_case{"1_1_3", opc::text, 126, 0}, framing_case{"1_1_4", opc::text, 127, 0},
        framing_case{"1_1_5", opc::text, 128, 0}, framing_case{"1_1_6", opc::text, 65535, 0},
        framing_case{"1_1_7", opc::text, 65536, 0}, framing_case{"1_1_8", opc::text, 65536, 997},
        framing_case{"1_2_1", opc::binary, 0, 0}, framing_case{"1_2_2", opc::binary, 125, 0},
        framing_case{"1_2_3", opc::binary, 126, 0}, framing_case{"1_2_4", opc::binary, 127, 0},
        framing_case{"1_2_5", opc::binary, 128, 0}, framing_case{"1_2_6", opc::binary, 65535, 0},
        framing_case{"1_2_7", opc::binary, 65536, 0}, framing_case{"1_2_8", opc::binary, 65536, 997},
        // extra 1.3.x: byte by byte, so the header itself arrives in pieces
        // (7-, 16- and 64-bit length forms), with pauses for the smaller ones.
        framing_case{"1_3_1", opc::text, 20, 1, 1ms}, framing_case{"1_3_2", opc::binary, 300, 1, ms{0}},
        framing_case{"1_3_3", opc::text, 70000, 1, ms{0}}, framing_case{"1_3_4", opc::binary, 125, 3, 1ms}),
    [](const auto& info) { return std::string("Framing_") + info.param.id; });

// extra: several messages in one write are echoed in order.
TEST(Framing, Framing_1_4_1_Pipelined) {
  ws_client ws;
  std::string burst;
  for (int i = 0; i < 20; ++i) burst += (i % 2) ? binary(pattern(i * 13, false)) : text(pattern(i * 13, true));
  ASSERT_TRUE(ws.send(burst));
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(next_is(ws, (i % 2) ? opc::binary : opc::text, pattern(i * 13, i % 2 == 0))) << "message " << i;
  EXPECT_TRUE(clean_close(ws));
}

// ---------------------------------------------------------------- 2.x ----

TEST(PingPong, PingPong_2_1_PingWithoutPayload) {
  ws_client ws;
  ASSERT_TRUE(ws.send(ping()));
  ASSERT_TRUE(next_is(ws, opc::pong, ""));
  EXPECT_TRUE(clean_close(ws));
}

TEST(PingPong, PingPong_2_2_PingWithSmallTextPayload) {
  ws_client ws;
  ASSERT_TRUE(ws.send(ping("Hello, world!")));
  ASSERT_TRUE(next_is(ws, opc::pong, "Hello, world!"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(PingPong, PingPong_2_3_PingWithSmallBinaryPayload) {
  ws_client ws;
  const std::string p = unhex("00ff fe fd fc fb 00 ff");
  ASSERT_TRUE(ws.send(ping(p)));
  ASSERT_TRUE(next_is(ws, opc::pong, p));
  EXPECT_TRUE(clean_close(ws));
}

TEST(PingPong, PingPong_2_4_PingWith125BytePayload) {
  ws_client ws;
  const std::string p(125, '\xfe');
  ASSERT_TRUE(ws.send(ping(p)));
  ASSERT_TRUE(next_is(ws, opc::pong, p));
  EXPECT_TRUE(clean_close(ws));
}

TEST(PingPong, PingPong_2_5_PingWith126BytePayloadFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(ping(std::string(126, '\xfe'))));
  EXPECT_TRUE(next_is_close(ws, 1002));  // no Pong first
}

TEST(PingPong, PingPong_2_6_PingWith125BytePayloadByteByByte) {
  ws_client ws;
  const std::string p = pattern(125, false);
  ASSERT_TRUE(ws.send_chopped(ping(p), 1, std::chrono::microseconds(200)));
  ASSERT_TRUE(next_is(ws, opc::pong, p));
  EXPECT_TRUE(clean_close(ws));
}

TEST(PingPong, PingPong_2_7_UnsolicitedPongWithoutPayload) {
  ws_client ws;
  ASSERT_TRUE(ws.send(pong()));
  EXPECT_TRUE(clean_close(ws));  // the first frame back is the Close: nothing answered the Pong
}

TEST(PingPong, PingPong_2_8_UnsolicitedPongWithPayload) {
  ws_client ws;
  ASSERT_TRUE(ws.send(pong("unsolicited pong payload")));
  EXPECT_TRUE(clean_close(ws));
}

TEST(PingPong, PingPong_2_9_UnsolicitedPongThenPing) {
  ws_client ws;
  ASSERT_TRUE(ws.send(pong("unsolicited pong payload") + ping("ping payload")));
  ASSERT_TRUE(next_is(ws, opc::pong, "ping payload"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(PingPong, PingPong_2_10_TenPingsInARow) {
  ws_client ws;
  std::string burst;
  for (int i = 0; i < 10; ++i) burst += ping("payload-" + std::to_string(i));
  ASSERT_TRUE(ws.send(burst));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(next_is(ws, opc::pong, "payload-" + std::to_string(i))) << "pong " << i;
  EXPECT_TRUE(clean_close(ws));
}

TEST(PingPong, PingPong_2_11_TenPingsChopped) {
  ws_client ws;
  std::string burst;
  for (int i = 0; i < 10; ++i) burst += ping("payload-" + std::to_string(i));
  ASSERT_TRUE(ws.send_chopped(burst, 1));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(next_is(ws, opc::pong, "payload-" + std::to_string(i))) << "pong " << i;
  EXPECT_TRUE(clean_close(ws));
}

// extra: a Ping with FIN clear (a fragmented control frame, §5.5).
TEST(PingPong, PingPong_2_12_PingWithoutFinFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::ping, "fragmented", {.fin = false})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

// extra: an empty-payload Ping among data messages keeps order.
TEST(PingPong, PingPong_2_13_PingBetweenMessages) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("one") + ping("p") + binary("two")));
  ASSERT_TRUE(next_is(ws, opc::text, "one"));
  ASSERT_TRUE(next_is(ws, opc::pong, "p"));
  ASSERT_TRUE(next_is(ws, opc::binary, "two"));
  EXPECT_TRUE(clean_close(ws));
}

// ---------------------------------------------------------------- 3.x ----
// Reserved bits without a negotiated extension fail the connection (§5.2).

TEST(ReservedBits, ReservedBits_3_1_TextWithRsv1) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::text, "Hello, world!", {.rsv = 1})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(ReservedBits, ReservedBits_3_2_ValidTextThenRsv2ThenPing) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("Hello, world!") + frame(opc::text, "Hello, world!", {.rsv = 2}) + ping("Hello, world!")));
  ASSERT_TRUE(next_is(ws, opc::text, "Hello, world!"));
  EXPECT_TRUE(next_is_close(ws, 1002));  // and no Pong
}

TEST(ReservedBits, ReservedBits_3_3_FramewiseRsv3) {
  ws_client ws;
  ASSERT_TRUE(ws.send_framewise(
      {text("Hello, world!"), frame(opc::text, "Hello, world!", {.rsv = 3}), ping("Hello, world!")}));
  ASSERT_TRUE(next_is(ws, opc::text, "Hello, world!"));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(ReservedBits, ReservedBits_3_4_ChoppedRsv4) {
  ws_client ws;
  ws.send_chopped(text("Hello, world!") + frame(opc::text, "Hello, world!", {.rsv = 4}) + ping("Hello, world!"), 1);
  ASSERT_TRUE(next_is(ws, opc::text, "Hello, world!"));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(ReservedBits, ReservedBits_3_5_BinaryWithRsv5) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::binary, unhex("00ff01fe"), {.rsv = 5})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(ReservedBits, ReservedBits_3_6_PingWithRsv6) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::ping, "ping", {.rsv = 6})));
  EXPECT_TRUE(next_is_close(ws, 1002));  // no Pong
}

TEST(ReservedBits, ReservedBits_3_7_CloseWithRsv7) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::close, close_payload(1000), {.rsv = 7})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

// extra: RSV on a continuation frame of an otherwise valid message.
TEST(ReservedBits, ReservedBits_3_8_ContinuationWithRsv1) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("Hello, ", false) + frame(opc::cont, "world!", {.rsv = 4})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

// extra: RSV on a Pong.
TEST(ReservedBits, ReservedBits_3_9_PongWithRsv2) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::pong, "pong", {.rsv = 2})));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

// ---------------------------------------------------------------- 4.x ----
// Reserved opcodes fail the connection (§5.2). Autobahn's ten cases, one per
// opcode: 4.1.x non-control 3..7, 4.2.x control 11..15.

struct opcode_case {
  const char* id;
  unsigned op;
  int variant;  // 1: empty; 2: with payload; 3: text, op, ping; 4: same with payload; 5: same chopped
};

class Opcodes : public ::testing::TestWithParam<opcode_case> {};

TEST_P(Opcodes, ReservedOpcodeFails) {
  const auto& c = GetParam();
  ws_client ws;
  switch (c.variant) {
    case 1:
      ASSERT_TRUE(ws.send(frame(c.op, "")));
      break;
    case 2:
      ASSERT_TRUE(ws.send(frame(c.op, "reserved opcode payload")));
      break;
    case 3:
      ASSERT_TRUE(ws.send(text("Hello, world!") + frame(c.op, "") + ping("Hello, world!")));
      break;
    case 4:
      ASSERT_TRUE(ws.send(text("Hello, world!") + frame(c.op, "reserved opcode payload") + ping("Hello, world!")));
      break;
    case 5:
      ws.send_chopped(text("Hello, world!") + frame(c.op, "reserved opcode payload") + ping("Hello, world!"), 1);
      break;
  }
  if (c.variant >= 3) ASSERT_TRUE(next_is(ws, opc::text, "Hello, world!"));
  EXPECT_TRUE(next_is_close(ws, 1002));  // and no Pong
}

INSTANTIATE_TEST_SUITE_P(Conformance, Opcodes,
                         ::testing::Values(opcode_case{"4_1_1", 3, 1}, opcode_case{"4_1_2", 4, 2},
                                           opcode_case{"4_1_3", 5, 3}, opcode_case{"4_1_4", 6, 4},
                                           opcode_case{"4_1_5", 7, 5}, opcode_case{"4_2_1", 11, 1},
                                           opcode_case{"4_2_2", 12, 2}, opcode_case{"4_2_3", 13, 3},
                                           opcode_case{"4_2_4", 14, 4}, opcode_case{"4_2_5", 15, 5},
                                           // extra: each reserved opcode also with the other variants
                                           opcode_case{"4_3_1", 3, 4}, opcode_case{"4_3_2", 4, 1},
                                           opcode_case{"4_3_3", 5, 2}, opcode_case{"4_3_4", 6, 1},
                                           opcode_case{"4_3_5", 7, 3}, opcode_case{"4_3_6", 11, 4},
                                           opcode_case{"4_3_7", 12, 1}, opcode_case{"4_3_8", 13, 2},
                                           opcode_case{"4_3_9", 14, 1}, opcode_case{"4_3_10", 15, 3}),
                         [](const auto& info) { return std::string("Opcodes_") + info.param.id; });

// extra: a reserved opcode in the middle of a fragmented message.
TEST(Opcodes, Opcodes_4_4_1_ReservedOpcodeInsideFragmentedMessage) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("Hello, ", false) + frame(3, "x", {.fin = false}) + cont("world!")));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

}  // namespace
}  // namespace conformance
