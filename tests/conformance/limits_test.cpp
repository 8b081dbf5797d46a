// Autobahn|Testsuite category 9: limits and performance. The echo endpoint
// accepts messages up to 1 MiB (max_message_size); everything up to that
// size round-trips whatever the fragmentation or TCP chopping, and anything
// bigger fails the connection with 1009 (§7.4.1), as soon as the length is
// known.
#include "server_suite.hpp"

namespace conformance {
namespace {

struct limit_case {
  std::string id;
  unsigned op;
  std::size_t length;
  std::size_t fragment;  // 0: one frame
  std::size_t chop;      // 0: one write
};

class Limits : public ::testing::TestWithParam<limit_case> {};

TEST_P(Limits, RoundTrip) {
  const auto& c = GetParam();
  ws_client ws;
  const std::string payload = pattern(c.length, c.op == opc::text);
  const std::string bytes = c.fragment ? fragmented(c.op, payload, c.fragment) : frame(c.op, payload);
  ASSERT_TRUE(c.chop ? ws.send_chopped(bytes, c.chop) : ws.send(bytes));
  ASSERT_TRUE(next_is(ws, c.op, payload, true, 5000ms));
  EXPECT_TRUE(clean_close(ws));
}

std::vector<limit_case> limit_cases() {
  std::vector<limit_case> v;
  const std::size_t sizes[] = {64 * 1024, 256 * 1024, max_message};
  // 9.1.x text, 9.2.x binary: one frame
  for (unsigned op : {opc::text, opc::binary}) {
    int n = 1;
    for (std::size_t s : sizes) v.push_back({"9_" + std::to_string(op) + "_" + std::to_string(n++), op, s, 0, 0});
  }
  // 9.3.x text, 9.4.x binary: 1 MiB in fragments of 64 B .. 1 MiB
  const std::size_t frags[] = {64, 256, 1024, 4096, 16384, 65536, 262144, max_message};
  for (unsigned op : {opc::text, opc::binary}) {
    int n = 1;
    for (std::size_t f : frags)
      v.push_back({"9_" + std::to_string(op + 2) + "_" + std::to_string(n++), op, max_message, f, 0});
  }
  // 9.5.x text, 9.6.x binary: 1 MiB in one frame written in chops of 64 B .. 2 KiB
  const std::size_t chops[] = {64, 128, 256, 512, 1024, 2048};
  for (unsigned op : {opc::text, opc::binary}) {
    int n = 1;
    for (std::size_t c : chops)
      v.push_back({"9_" + std::to_string(op + 4) + "_" + std::to_string(n++), op, max_message, 0, c});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Conformance, Limits, ::testing::ValuesIn(limit_cases()),
                         [](const auto& info) { return "Limits_" + info.param.id; });

// 9.7.x text, 9.8.x binary: 1000 messages of one size, pipelined 100 at a time.
struct burst_case {
  std::string id;
  unsigned op;
  std::size_t length;
};

class LimitsBurst : public ::testing::TestWithParam<burst_case> {};

TEST_P(LimitsBurst, ThousandMessagesRoundTrip) {
  const auto& c = GetParam();
  ws_client ws;
  for (int batch = 0; batch < 10; ++batch) {
    std::string b;
    for (int i = 0; i < 100; ++i) b += frame(c.op, pattern(c.length, c.op == opc::text));
    ASSERT_TRUE(ws.send(b));
    for (int i = 0; i < 100; ++i)
      ASSERT_TRUE(next_is(ws, c.op, pattern(c.length, c.op == opc::text))) << "message " << batch * 100 + i;
  }
  EXPECT_TRUE(clean_close(ws));
}

std::vector<burst_case> burst_cases() {
  std::vector<burst_case> v;
  const std::size_t sizes[] = {0, 16, 64, 256, 1024, 4096};
  for (unsigned op : {opc::text, opc::binary}) {
    int n = 1;
    for (std::size_t s : sizes) v.push_back({"9_" + std::to_string(op + 6) + "_" + std::to_string(n++), op, s});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Conformance, LimitsBurst, ::testing::ValuesIn(burst_cases()),
                         [](const auto& info) { return "Limits_" + info.param.id; });

// ---- extra 9.9.x: over the limit -> 1009 ----

TEST(Limits, Limits_9_9_1_TextOneByteOverLimitFailsAtHeader) {
  ws_client ws;
  // Only the header and 1 KiB of the (1 MiB + 1)-byte payload are sent: the
  // length alone must trigger the failure.
  const std::string f = text(pattern(max_message + 1, true));
  ASSERT_TRUE(ws.send(f.substr(0, 14 + 1024)));
  EXPECT_TRUE(next_is_close(ws, 1009));
}

TEST(Limits, Limits_9_9_2_BinaryOneByteOverLimitSentWhole) {
  ws_client ws;
  ws.send(binary(pattern(max_message + 1, false)));  // may fail midway: the server already closed
  EXPECT_TRUE(next_is_close(ws, 1009));
}

TEST(Limits, Limits_9_9_3_FragmentsAddingUpOverLimit) {
  ws_client ws;
  const std::size_t half = max_message / 2;
  ASSERT_TRUE(ws.send(text(pattern(half, true), false)));
  ASSERT_TRUE(ws.send(cont(pattern(half, true), false)));
  ws.send(cont("x"));  // one byte over
  EXPECT_TRUE(next_is_close(ws, 1009));
}

TEST(Limits, Limits_9_9_4_HugeDeclaredLength) {
  ws_client ws;
  ASSERT_TRUE(ws.send(frame(opc::binary, "abc", {.declared_length = std::uint64_t{1} << 40})));
  EXPECT_TRUE(next_is_close(ws, 1009));
}

TEST(Limits, Limits_9_9_5_ManySmallFragmentsOverLimit) {
  ws_client ws;
  // 1 MiB in 4 KiB fragments is fine (9.3.4); one more fragment is not.
  std::string b = text(pattern(4096, true), false);
  for (std::size_t at = 4096; at < max_message; at += 4096) b += cont(pattern(4096, true), false);
  ASSERT_TRUE(ws.send(b));
  ws.send(cont(pattern(4096, true)));
  EXPECT_TRUE(next_is_close(ws, 1009));
}

TEST(Limits, Limits_9_9_6_ExactlyAtLimitThenOver) {
  ws_client ws;
  const std::string p = pattern(max_message, false);
  ASSERT_TRUE(ws.send(binary(p)));
  ASSERT_TRUE(next_is(ws, opc::binary, p, true, 5000ms));
  ws.send(binary(pattern(max_message + 100, false)));
  EXPECT_TRUE(next_is_close(ws, 1009));
}

// ---- extra 9.10.x: the outgoing buffer is bounded (websocket.hpp:
// "The outgoing buffer is bounded (send_queue_limit)") also for the Pongs the
// connection queues by itself. A client that sends Pings and never reads
// must meet backpressure or be disconnected, not grow the server's memory.
TEST(Limits, Limits_9_10_1_PingFloodFromNonReadingClientIsBounded) {
  duplex::server_options opts;  // library defaults: send_queue_limit 1 MiB
  server_under_test srv(opts, [](duplex::server& s) { s.websocket("*", echo); });
  ws_client ws("/", srv.port());
  EXPECT_TRUE(ping_flood_is_bounded(ws.raw(), [](std::string_view p) { return ping(p); }, 48u << 20));
}

}  // namespace
}  // namespace conformance
