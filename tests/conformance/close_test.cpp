// Autobahn|Testsuite category 7: the closing handshake (RFC 6455 §5.5.1,
// §7). The server answers a Close with a Close (echoing the status code),
// then closes the TCP connection; nothing after a Close is processed.
#include "server_suite.hpp"

namespace conformance {
namespace {

// ---- 7.1 basic close behaviour ----

TEST(Close, Close_7_1_1_MessageThenClose) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("Hello World!")));
  ASSERT_TRUE(next_is(ws, opc::text, "Hello World!"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Close, Close_7_1_2_CloseTwice) {
  ws_client ws;
  ws.send(close_frame(1000) + close_frame(1000));
  EXPECT_TRUE(next_is_close(ws, 1000));  // exactly one Close back, then TCP close
}

TEST(Close, Close_7_1_3_PingAfterCloseIgnored) {
  ws_client ws;
  ws.send(close_frame(1000) + ping("Hello World!"));
  EXPECT_TRUE(next_is_close(ws, 1000));  // no Pong
}

TEST(Close, Close_7_1_4_TextAfterCloseIgnored) {
  ws_client ws;
  ws.send(close_frame(1000) + text("Hello World!"));
  EXPECT_TRUE(next_is_close(ws, 1000));  // no echo
}

TEST(Close, Close_7_1_5_CloseBetweenFragments) {
  ws_client ws;
  ws.send(text("fragment1", false) + close_frame(1000) + cont("fragment2"));
  EXPECT_TRUE(next_is_close(ws, 1000));
}

TEST(Close, Close_7_1_6_LargeMessageThenCloseThenPing) {
  ws_client ws;
  const std::string big = pattern(256 * 1024, true);
  ws.send(text(big) + close_frame(1000) + ping("Hello World!"));
  ASSERT_TRUE(next_is(ws, opc::text, big));
  EXPECT_TRUE(next_is_close(ws, 1000));
}

// extra: garbage (an invalid frame) after the Close is not parsed either.
TEST(Close, Close_7_1_7_InvalidFrameAfterCloseIgnored) {
  ws_client ws;
  ws.send(close_frame(1000) + frame(opc::text, "x", {.rsv = 7}));
  EXPECT_TRUE(next_is_close(ws, 1000));  // 1000, not 1002
}

// extra: a Close written byte by byte.
TEST(Close, Close_7_1_8_CloseChopped) {
  ws_client ws;
  ASSERT_TRUE(ws.send_chopped(close_frame(1000, "chopped"), 1, std::chrono::microseconds(200)));
  EXPECT_TRUE(next_is_close(ws, 1000));
}

// ---- 7.3 close frame payload structure ----

TEST(Close, Close_7_3_1_EmptyCloseAnsweredEmpty) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_empty()));
  EXPECT_TRUE(next_is_close(ws, std::nullopt));
}

TEST(Close, Close_7_3_2_OneBytePayloadFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::close, "a")));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Close, Close_7_3_3_CodeWithoutReason) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(1000)));
  EXPECT_TRUE(next_is_close(ws, 1000));
}

TEST(Close, Close_7_3_4_CodeWithReason) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(1000, "Hello World!")));
  EXPECT_TRUE(next_is_close(ws, 1000));
}

TEST(Close, Close_7_3_5_CodeWith123ByteReason) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(1000, std::string(123, '*'))));
  EXPECT_TRUE(next_is_close(ws, 1000));
}

TEST(Close, Close_7_3_6_CodeWith124ByteReasonFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(1000, std::string(124, '*'))));  // 126-byte control frame
  EXPECT_TRUE(next_is_close(ws, 1002));
}

// extra: a valid multi-byte UTF-8 reason.
TEST(Close, Close_7_3_7_CodeWithUtf8Reason) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(1001, unhex("cebae1bdb9cf83cebcceb5") + " \xf0\x9f\x98\x80")));
  EXPECT_TRUE(next_is_close(ws, 1001));
}

// ---- 7.5 invalid UTF-8 in the reason ----

TEST(Close, Close_7_5_1_InvalidUtf8ReasonFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(1000, unhex("cebae1bdb9cf83cebcceb5eda080656469746564"))));
  EXPECT_TRUE(next_is_close(ws, 1007));
}

// extra: a reason truncated inside a code point.
TEST(Close, Close_7_5_2_TruncatedUtf8ReasonFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(1000, unhex("48656c6c6fe282"))));
  EXPECT_TRUE(next_is_close(ws, 1007));
}

// ---- 7.7 valid status codes are echoed ----

struct code_case {
  std::string id;
  std::uint16_t code;
};

class ValidCloseCode : public ::testing::TestWithParam<code_case> {};

TEST_P(ValidCloseCode, Echoed) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(GetParam().code)));
  EXPECT_TRUE(next_is_close(ws, GetParam().code));
}

TEST_P(ValidCloseCode, EchoedWithReason) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(GetParam().code, "reason")));
  EXPECT_TRUE(next_is_close(ws, GetParam().code));
}

std::vector<code_case> valid_codes() {
  std::vector<code_case> v;
  int n = 1;
  for (std::uint16_t c : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999})
    v.push_back({"7_7_" + std::to_string(n++) + "_code" + std::to_string(c), c});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Conformance, ValidCloseCode, ::testing::ValuesIn(valid_codes()),
                         [](const auto& info) { return "Close_" + info.param.id; });

// ---- 7.9 / 7.13 invalid status codes fail the connection with 1002 ----

class InvalidCloseCode : public ::testing::TestWithParam<code_case> {};

TEST_P(InvalidCloseCode, Fails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(close_frame(GetParam().code)));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

std::vector<code_case> invalid_codes() {
  std::vector<code_case> v;
  int n = 1;
  for (std::uint16_t c : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999})
    v.push_back({"7_9_" + std::to_string(n++) + "_code" + std::to_string(c), c});
  v.push_back({"7_13_1_code5000", 5000});
  v.push_back({"7_13_2_code65535", 65535});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Conformance, InvalidCloseCode, ::testing::ValuesIn(invalid_codes()),
                         [](const auto& info) { return "Close_" + info.param.id; });

}  // namespace
}  // namespace conformance
