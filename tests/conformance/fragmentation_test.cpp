// Autobahn|Testsuite category 5: fragmentation (RFC 6455 §5.4).
#include "server_suite.hpp"

namespace conformance {
namespace {

TEST(Fragmentation, Fragmentation_5_1_PingFragmentedIntoTwoFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::ping, "fragment1", {.fin = false}) + cont("fragment2")));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_2_PongFragmentedIntoTwoFails) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::pong, "fragment1", {.fin = false}) + cont("fragment2")));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_3_TextInTwoFragments) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("fragment1", false) + cont("fragment2")));
  ASSERT_TRUE(next_is(ws, opc::text, "fragment1fragment2"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_4_TextInTwoFragmentsFramewise) {
  ws_client ws;
  ASSERT_TRUE(ws.send_framewise({text("fragment1", false), cont("fragment2")}, 50ms));
  ASSERT_TRUE(next_is(ws, opc::text, "fragment1fragment2"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_5_TextInTwoFragmentsChopped) {
  ws_client ws;
  ASSERT_TRUE(ws.send_chopped(text("fragment1", false) + cont("fragment2"), 1, std::chrono::microseconds(300)));
  ASSERT_TRUE(next_is(ws, opc::text, "fragment1fragment2"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_6_TextInTwoFragmentsWithPingBetween) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("fragment1", false) + ping("pongme!") + cont("fragment2")));
  ASSERT_TRUE(next_is(ws, opc::pong, "pongme!"));  // answered at once, before the message ends
  ASSERT_TRUE(next_is(ws, opc::text, "fragment1fragment2"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_7_PingBetweenFragmentsFramewise) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("fragment1", false)));
  ASSERT_TRUE(ws.send(ping("pongme!")));
  // The Pong must not wait for the rest of the message.
  ASSERT_TRUE(next_is(ws, opc::pong, "pongme!", true, 1000ms));
  ASSERT_TRUE(ws.send(cont("fragment2")));
  ASSERT_TRUE(next_is(ws, opc::text, "fragment1fragment2"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_8_PingBetweenFragmentsChopped) {
  ws_client ws;
  ASSERT_TRUE(ws.send_chopped(text("fragment1", false) + ping("pongme!") + cont("fragment2"), 1));
  ASSERT_TRUE(next_is(ws, opc::pong, "pongme!"));
  ASSERT_TRUE(next_is(ws, opc::text, "fragment1fragment2"));
  EXPECT_TRUE(clean_close(ws));
}

// 5.9-5.14: a continuation frame with nothing to continue.
TEST(Fragmentation, Fragmentation_5_9_ContinuationFinWithoutStart) {
  ws_client ws;
  ASSERT_TRUE(ws.send(cont("non-continuation payload") + text("Hello, world!")));
  EXPECT_TRUE(next_is_close(ws, 1002));  // and no echo
}

TEST(Fragmentation, Fragmentation_5_10_ContinuationFinWithoutStartFramewise) {
  ws_client ws;
  ws.send_framewise({cont("non-continuation payload"), text("Hello, world!")});
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_11_ContinuationFinWithoutStartChopped) {
  ws_client ws;
  ws.send_chopped(cont("non-continuation payload") + text("Hello, world!"), 1);
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_12_ContinuationNoFinWithoutStart) {
  ws_client ws;
  ASSERT_TRUE(ws.send(cont("non-continuation payload", false) + text("Hello, world!")));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_13_ContinuationNoFinWithoutStartFramewise) {
  ws_client ws;
  ws.send_framewise({cont("non-continuation payload", false), text("Hello, world!")});
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_14_ContinuationNoFinWithoutStartChopped) {
  ws_client ws;
  ws.send_chopped(cont("non-continuation payload", false) + text("Hello, world!"), 1);
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_15_ValidMessageThenStrayContinuation) {
  ws_client ws;
  ws.send(text("fragment1", false) + cont("fragment2") + cont("fragment3", false) + text("fragment4"));
  ASSERT_TRUE(next_is(ws, opc::text, "fragment1fragment2"));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_16_StrayContinuationsRepeated) {
  ws_client ws;
  std::string b;
  for (int i = 0; i < 2; ++i) b += cont("fragment1", false) + text("fragment2", false) + cont("fragment3");
  ws.send(b);
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_17_StrayFinalContinuationsRepeated) {
  ws_client ws;
  std::string b;
  for (int i = 0; i < 2; ++i) b += cont("fragment1") + text("fragment2", false) + cont("fragment3");
  ws.send(b);
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_18_TwoTextStartsFails) {
  ws_client ws;
  ws.send(text("fragment1", false) + text("fragment2"));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_19_FiveFragmentsWithPingsFramewise) {
  ws_client ws;
  ASSERT_TRUE(ws.send_framewise({text("fragment1", false), cont("fragment2", false), ping("pongme 1!")}, 10ms));
  ASSERT_TRUE(next_is(ws, opc::pong, "pongme 1!"));
  ASSERT_TRUE(ws.send_framewise({cont("fragment3", false), ping("pongme 2!")}, 10ms));
  ASSERT_TRUE(next_is(ws, opc::pong, "pongme 2!"));
  ASSERT_TRUE(ws.send_framewise({cont("fragment4", false), cont("fragment5")}, 10ms));
  ASSERT_TRUE(next_is(ws, opc::text, "fragment1fragment2fragment3fragment4fragment5"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_20_FiveFragmentsWithPingsChopped) {
  ws_client ws;
  ASSERT_TRUE(ws.send_chopped(text("fragment1", false) + cont("fragment2", false) + ping("pongme 1!") +
                                  cont("fragment3", false) + ping("pongme 2!") + cont("fragment4", false) +
                                  cont("fragment5"),
                              1));
  ASSERT_TRUE(next_is(ws, opc::pong, "pongme 1!"));
  ASSERT_TRUE(next_is(ws, opc::pong, "pongme 2!"));
  ASSERT_TRUE(next_is(ws, opc::text, "fragment1fragment2fragment3fragment4fragment5"));
  EXPECT_TRUE(clean_close(ws));
}

// ---- extras ----

TEST(Fragmentation, Fragmentation_5_21_TextInOneByteFragments) {
  ws_client ws;
  const std::string p = "Hello, fragmented world!";
  ASSERT_TRUE(ws.send(fragmented(opc::text, p, 1)));
  ASSERT_TRUE(next_is(ws, opc::text, p));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_22_BinaryInOneByteFragmentsWithPings) {
  ws_client ws;
  const std::string p = pattern(64, false);
  std::string b = binary(p.substr(0, 1), false);
  for (std::size_t i = 1; i < p.size(); ++i) {
    b += cont(p.substr(i, 1), i + 1 == p.size());
    if (i % 16 == 0) b += ping(std::to_string(i));
  }
  ASSERT_TRUE(ws.send(b));
  for (int i = 16; i < 64; i += 16) ASSERT_TRUE(next_is(ws, opc::pong, std::to_string(i)));
  ASSERT_TRUE(next_is(ws, opc::binary, p));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_23_BinaryStartInsideTextFails) {
  ws_client ws;
  ws.send(text("fragment1", false) + binary("fragment2", false) + cont("fragment3"));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_24_CloseBetweenFragments) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("fragment1", false) + close_frame(1000)));
  EXPECT_TRUE(next_is_close(ws, 1000));  // the unfinished message is never echoed
}

TEST(Fragmentation, Fragmentation_5_25_EmptyFragments) {
  ws_client ws;
  ASSERT_TRUE(ws.send(binary("", false) + cont("", false) + cont("")));
  ASSERT_TRUE(next_is(ws, opc::binary, ""));
  ASSERT_TRUE(ws.send(text("", false) + cont("middle", false) + cont("")));
  ASSERT_TRUE(next_is(ws, opc::text, "middle"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_26_FragmentedPingInsideFragmentedText) {
  ws_client ws;
  ws.send(text("fragment1", false) + frame(opc::ping, "p", {.fin = false}) + cont("fragment2"));
  EXPECT_TRUE(next_is_close(ws, 1002));
}

TEST(Fragmentation, Fragmentation_5_27_ManyFragmentedMessagesBackToBack) {
  ws_client ws;
  std::string b;
  for (int i = 0; i < 10; ++i) b += fragmented(i % 2 ? opc::binary : opc::text, pattern(100 + i, i % 2 == 0), 7);
  ASSERT_TRUE(ws.send(b));
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(next_is(ws, i % 2 ? opc::binary : opc::text, pattern(100 + i, i % 2 == 0))) << "message " << i;
  EXPECT_TRUE(clean_close(ws));
}

TEST(Fragmentation, Fragmentation_5_28_LargeFragmentsAcrossLengthForms) {
  ws_client ws;
  const std::string p = pattern(125 + 65535 + 70000, false);
  const std::string b = binary(p.substr(0, 125), false) + cont(p.substr(125, 65535), false) + cont(p.substr(125 + 65535));
  ASSERT_TRUE(ws.send(b));
  ASSERT_TRUE(next_is(ws, opc::binary, p));
  EXPECT_TRUE(clean_close(ws));
}

}  // namespace
}  // namespace conformance
