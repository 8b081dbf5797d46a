// Autobahn|Testsuite category 6: UTF-8 handling of text messages (RFC 6455
// §5.6, §8.1; RFC 3629). Valid text is echoed however it is split; invalid
// text fails the connection with 1007, and fails it fast: at the first
// invalid byte, without waiting for the rest of the message.
#include "server_suite.hpp"

namespace conformance {
namespace {

constexpr std::string_view hello_utf8 = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!";
constexpr std::string_view kosme_hex = "cebae1bdb9cf83cebcceb5";  // κόσμε

TEST(Utf8, Utf8_6_1_1_EmptyText) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("")));
  ASSERT_TRUE(next_is(ws, opc::text, ""));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Utf8, Utf8_6_1_2_EmptyFragments) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("", false) + cont("", false) + cont("")));
  ASSERT_TRUE(next_is(ws, opc::text, ""));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Utf8, Utf8_6_1_3_EmptyFirstAndLastFragment) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text("", false) + cont("middle", false) + cont("")));
  ASSERT_TRUE(next_is(ws, opc::text, "middle"));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Utf8, Utf8_6_2_1_ValidInOneFrame) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text(hello_utf8)));
  ASSERT_TRUE(next_is(ws, opc::text, hello_utf8));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Utf8, Utf8_6_2_2_ValidInTwoFragmentsAtCodePointBoundary) {
  ws_client ws;
  const auto cut = hello_utf8.find("\xc3\xa0");
  ASSERT_TRUE(ws.send(text(hello_utf8.substr(0, cut), false) + cont(hello_utf8.substr(cut))));
  ASSERT_TRUE(next_is(ws, opc::text, hello_utf8));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Utf8, Utf8_6_2_3_ValidInOneByteFragments) {
  ws_client ws;
  ASSERT_TRUE(ws.send(fragmented(opc::text, hello_utf8, 1)));
  ASSERT_TRUE(next_is(ws, opc::text, hello_utf8));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Utf8, Utf8_6_2_4_KosmeInOneByteFragments) {
  ws_client ws;
  const std::string k = unhex(kosme_hex);
  ASSERT_TRUE(ws.send(fragmented(opc::text, k, 1)));
  ASSERT_TRUE(next_is(ws, opc::text, k));
  EXPECT_TRUE(clean_close(ws));
}

// extra 6.2.5: valid text split into three fragments at every pair of
// positions (also inside code points), one connection.
TEST(Utf8, Utf8_6_2_5_ValidSplitAtEveryPairOfPositions) {
  for (const std::string s : {std::string(hello_utf8), unhex(kosme_hex) + unhex("f09f9880 e282ac 7a")}) {
    ws_client ws;
    for (std::size_t i = 0; i <= s.size(); ++i)
      for (std::size_t j = i; j <= s.size(); ++j) {
        ASSERT_TRUE(ws.send(text(s.substr(0, i), false) + cont(s.substr(i, j - i), false) + cont(s.substr(j))));
        ASSERT_TRUE(next_is(ws, opc::text, s)) << "split at " << i << ", " << j;
      }
    EXPECT_TRUE(clean_close(ws));
  }
}

TEST(Utf8, Utf8_6_3_1_InvalidInOneFrame) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text(unhex("cebae1bdb9cf83cebcceb5eda080656469746564"))));
  EXPECT_TRUE(next_is_close(ws, 1007));
}

TEST(Utf8, Utf8_6_3_2_InvalidInOneByteFragments) {
  ws_client ws;
  ws.send(fragmented(opc::text, unhex("cebae1bdb9cf83cebcceb5eda080656469746564"), 1));
  EXPECT_TRUE(next_is_close(ws, 1007));
}

// ---- 6.4.x: fail fast. The server must fail at the first invalid byte,
// before the rest of the message is sent.

TEST(Utf8, Utf8_6_4_1_FailFastOnInvalidFragment) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text(unhex("cebae1bdb9cf83cebcceb5"), false)));
  ASSERT_TRUE(ws.send(cont(unhex("f4908080"), false)));
  ASSERT_TRUE(next_is_close(ws, 1007)) << "the message is incomplete: only a fail-fast server answers";
  ws.send(cont(unhex("656469746564")));
}

TEST(Utf8, Utf8_6_4_2_FailFastOnInvalidSequenceAcrossFragments) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text(unhex("cebae1bdb9cf83cebcceb5f4"), false)));  // F4 may still start U+10xxxx
  ASSERT_TRUE(ws.send(cont(unhex("90"), false)));                       // F4 90 is above U+10FFFF
  ASSERT_TRUE(next_is_close(ws, 1007));
  ws.send(cont(unhex("8080656469746564")));
}

TEST(Utf8, Utf8_6_4_3_FailFastInsideOneFrame) {
  ws_client ws;
  const std::string payload = unhex("cebae1bdb9cf83cebcceb5f4908080656469746564");
  const std::string f = text(payload);
  const std::size_t header = f.size() - payload.size();
  ASSERT_TRUE(ws.send(f.substr(0, header + 11)));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(ws.send(f.substr(header + 11, 4)));
  ASSERT_TRUE(next_is_close(ws, 1007)) << "the frame is incomplete: only a fail-fast server answers";
  ws.send(f.substr(header + 15));
}

TEST(Utf8, Utf8_6_4_4_FailFastInsideOneFrameAtSingleByte) {
  ws_client ws;
  const std::string payload = unhex("cebae1bdb9cf83cebcceb5f4908080656469746564");
  const std::string f = text(payload);
  const std::size_t header = f.size() - payload.size();
  ASSERT_TRUE(ws.send(f.substr(0, header + 12)));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(ws.send(f.substr(header + 12, 1)));
  ASSERT_TRUE(next_is_close(ws, 1007));
  ws.send(f.substr(header + 13));
}

// extra: the invalid byte is in the FIRST fragment of the message.
TEST(Utf8, Utf8_6_4_5_FailFastOnFirstFragment) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text(unhex("cebae1bdb9cf83cebcceb5eda080"), false)));
  ASSERT_TRUE(next_is_close(ws, 1007)) << "nothing but the first fragment was sent";
}

TEST(Utf8, Utf8_6_4_6_FailFastOnFirstByteOfFirstFragment) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text(unhex("ff"), false)));
  ASSERT_TRUE(next_is_close(ws, 1007));
}

TEST(Utf8, Utf8_6_4_7_FailFastInFirstFragmentOfLargeMessage) {
  ws_client ws;
  // A 512 KiB first fragment whose first bytes are invalid; only 1 KiB of it is sent.
  const std::string f = text(unhex("c0af") + std::string(512 * 1024, 'a'), false);
  ASSERT_TRUE(ws.send(f.substr(0, 1024)));
  ASSERT_TRUE(next_is_close(ws, 1007));
}

// extra 6.4.8-6.4.11: the validator's state survives control frames between
// fragments, and a Close reason is validated on its own.
TEST(Utf8, Utf8_6_4_8_SequenceSplitAroundPingIsValid) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text(unhex("48ce"), false) + ping("between") + cont(unhex("ba41"))));
  ASSERT_TRUE(next_is(ws, opc::pong, "between"));
  ASSERT_TRUE(next_is(ws, opc::text, unhex("48ceba41")));
  EXPECT_TRUE(clean_close(ws));
}

TEST(Utf8, Utf8_6_4_9_SequenceBrokenAfterPingFails) {
  ws_client ws;
  ws.send(text(unhex("48ce"), false) + ping("between") + cont(unhex("4141")));
  ASSERT_TRUE(next_is(ws, opc::pong, "between"));
  EXPECT_TRUE(next_is_close(ws, 1007));
}

TEST(Utf8, Utf8_6_4_10_CloseInsideUnfinishedSequenceIsClean) {
  ws_client ws;
  ASSERT_TRUE(ws.send(text(unhex("48ce"), false) + close_frame(1000, "ok")));
  EXPECT_TRUE(next_is_close(ws, 1000));
}

TEST(Utf8, Utf8_6_4_11_NextMessageStartsWithFreshValidator) {
  ws_client ws;
  // A complete valid message, then one starting with a continuation byte.
  ws.send(text(unhex("cebacf83")) + text(unhex("bf41")));
  ASSERT_TRUE(next_is(ws, opc::text, unhex("cebacf83")));
  EXPECT_TRUE(next_is_close(ws, 1007));
}

// ---- 6.5 onwards: one sample each, as Autobahn numbers them. Each sample
// is sent (a) in one frame, (b) in one-byte fragments, (c) in one frame
// written byte by byte, and (d) split into two fragments at every position.

struct utf8_case {
  std::string id;
  std::string bytes;
  bool valid;
};

std::vector<utf8_case> utf8_cases() {
  std::vector<utf8_case> v;
  auto add = [&](std::string id, std::string_view hex, bool valid) { v.push_back({std::move(id), unhex(hex), valid}); };
  auto add_raw = [&](std::string id, std::string bytes, bool valid) { v.push_back({std::move(id), std::move(bytes), valid}); };

  // 6.5 valid samples
  add("6_5_1", kosme_hex, true);
  add("6_5_2", "f09f9880", true);                    // U+1F600
  add("6_5_3", "e282ac20c2a220f0908d88", true);      // € ¢ 𐍈
  add("6_5_4", "e4bda0e5a5bd", true);                // 你好
  add("6_5_5", "cebae1bdb9cf83cebcceb5f09f9880", true);
  // 6.6 every prefix of κόσμε: cut inside a code point is invalid at the end
  for (int n = 1; n <= 11; ++n) {
    const std::string hex(kosme_hex.substr(0, 2 * n));
    add("6_6_" + std::to_string(n), hex, n == 2 || n == 5 || n == 7 || n == 9 || n == 11);
  }
  // 6.7 first possible sequence of each length
  add("6_7_1", "00", true);
  add("6_7_2", "c280", true);
  add("6_7_3", "e0a080", true);
  add("6_7_4", "f0908080", true);
  // 6.8 five- and six-byte sequences (not UTF-8 since RFC 3629)
  add("6_8_1", "f888808080", false);
  add("6_8_2", "fc8480808080", false);
  // 6.9 last possible sequence of each length
  add("6_9_1", "7f", true);
  add("6_9_2", "dfbf", true);
  add("6_9_3", "efbfbf", true);
  add("6_9_4", "f48fbfbf", true);
  // 6.10 beyond the last four-byte code point
  add("6_10_1", "f7bfbfbf", false);
  add("6_10_2", "fbbfbfbfbf", false);
  add("6_10_3", "fdbfbfbfbfbf", false);
  // 6.11 other boundaries
  add("6_11_1", "ed9fbf", true);    // U+D7FF
  add("6_11_2", "ee8080", true);    // U+E000
  add("6_11_3", "efbfbd", true);    // U+FFFD
  add("6_11_4", "f48fbfbf", true);  // U+10FFFF
  add("6_11_5", "f4908080", false); // U+110000
  // 6.12 unexpected continuation bytes
  add("6_12_1", "80", false);
  add("6_12_2", "bf", false);
  add("6_12_3", "80bf", false);
  add("6_12_4", "80bf80", false);
  add("6_12_5", "80bf80bf", false);
  add("6_12_6", "80bf80bf80", false);
  add("6_12_7", "80bf80bf80bf", false);
  {
    std::string all;
    for (int c = 0x80; c <= 0xbf; ++c) all.push_back(static_cast<char>(c));
    add_raw("6_12_8", all, false);
  }
  // 6.13 lonely start bytes, each followed by a space
  auto lonely = [&](std::string id, int from, int to) {
    std::string s;
    for (int c = from; c <= to; ++c) {
      s.push_back(static_cast<char>(c));
      s.push_back(' ');
    }
    add_raw(std::move(id), s, false);
  };
  lonely("6_13_1", 0xc0, 0xdf);
  lonely("6_13_2", 0xe0, 0xef);
  lonely("6_13_3", 0xf0, 0xf7);
  lonely("6_13_4", 0xf8, 0xfb);
  lonely("6_13_5", 0xfc, 0xfd);
  // 6.14 sequences with the last continuation byte missing
  add("6_14_1", "c0", false);
  add("6_14_2", "e080", false);
  add("6_14_3", "f08080", false);
  add("6_14_4", "f8808080", false);
  add("6_14_5", "fc80808080", false);
  add("6_14_6", "df", false);
  add("6_14_7", "efbf", false);
  add("6_14_8", "f7bfbf", false);
  add("6_14_9", "fbbfbfbf", false);
  add("6_14_10", "fdbfbfbfbf", false);
  // 6.15 the incomplete sequences of 6.14 concatenated
  add("6_15_1", "c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbfbfbf", false);
  // 6.16 impossible bytes
  add("6_16_1", "fe", false);
  add("6_16_2", "ff", false);
  add("6_16_3", "fefeffff", false);
  // 6.17 overlong '/'
  add("6_17_1", "c0af", false);
  add("6_17_2", "e080af", false);
  add("6_17_3", "f08080af", false);
  add("6_17_4", "f8808080af", false);
  add("6_17_5", "fc80808080af", false);
  // 6.18 maximum overlong sequences
  add("6_18_1", "c1bf", false);
  add("6_18_2", "e09fbf", false);
  add("6_18_3", "f08fbfbf", false);
  add("6_18_4", "f887bfbfbf", false);
  add("6_18_5", "fc83bfbfbfbf", false);
  // 6.19 overlong NUL
  add("6_19_1", "c080", false);
  add("6_19_2", "e08080", false);
  add("6_19_3", "f0808080", false);
  add("6_19_4", "f880808080", false);
  add("6_19_5", "fc8080808080", false);
  // 6.20 single UTF-16 surrogates
  add("6_20_1", "eda080", false);
  add("6_20_2", "edadbf", false);
  add("6_20_3", "edae80", false);
  add("6_20_4", "edafbf", false);
  add("6_20_5", "edb080", false);
  add("6_20_6", "edbe80", false);
  add("6_20_7", "edbfbf", false);
  // 6.21 paired UTF-16 surrogates (CESU-8 is not UTF-8)
  add("6_21_1", "eda080edb080", false);
  add("6_21_2", "eda080edbfbf", false);
  add("6_21_3", "edadbfedb080", false);
  add("6_21_4", "edadbfedbfbf", false);
  add("6_21_5", "edae80edb080", false);
  add("6_21_6", "edae80edbfbf", false);
  add("6_21_7", "edafbfedb080", false);
  add("6_21_8", "edafbfedbfbf", false);
  // 6.22 noncharacters are valid UTF-8: U+FFFE, U+FFFF, then U+nFFFE/U+nFFFF per plane
  add_raw("6_22_1", utf8(0xFFFE), true);
  add_raw("6_22_2", utf8(0xFFFF), true);
  for (std::uint32_t plane = 1, n = 3; plane <= 16; ++plane) {
    add_raw("6_22_" + std::to_string(n++), utf8(plane << 16 | 0xFFFE), true);
    add_raw("6_22_" + std::to_string(n++), utf8(plane << 16 | 0xFFFF), true);
  }
  // 6.23 specials U+FFF9..U+FFFF
  for (std::uint32_t cp = 0xFFF9, n = 1; cp <= 0xFFFF; ++cp) add_raw("6_23_" + std::to_string(n++), utf8(cp), true);
  // extra 6.24: invalid bytes after valid text, and valid text around them
  add("6_24_1", "48656c6c6fc0af", false);
  add("6_24_2", "e282ace282", false);     // € then a truncated €
  add("6_24_3", "f0908d", false);         // truncated 4-byte sequence
  add("6_24_4", "41f5808080", false);     // F5 can never start a sequence
  add("6_24_5", "41e0a0", false);         // message ends inside a sequence
  add("6_24_6", "c2", false);
  add("6_24_7", "ed9fbfee8080", true);    // both sides of the surrogate range
  add("6_24_8", "f09080804142", true);
  return v;
}

class Utf8Sample : public ::testing::TestWithParam<utf8_case> {};

void expect_outcome(ws_client& ws, const utf8_case& c) {
  if (c.valid) {
    ASSERT_TRUE(next_is(ws, opc::text, c.bytes));
    EXPECT_TRUE(clean_close(ws));
  } else {
    EXPECT_TRUE(next_is_close(ws, 1007));
  }
}

TEST_P(Utf8Sample, OneFrame) {
  const auto& c = GetParam();
  ASSERT_EQ(valid_utf8(c.bytes), c.valid) << "test table disagrees with the reference validator";
  ws_client ws;
  ws.send(text(c.bytes));
  expect_outcome(ws, c);
}

TEST_P(Utf8Sample, OneByteFragments) {
  const auto& c = GetParam();
  ws_client ws;
  ws.send(fragmented(opc::text, c.bytes, 1));
  expect_outcome(ws, c);
}

TEST_P(Utf8Sample, OneFrameWrittenByteByByte) {
  const auto& c = GetParam();
  ws_client ws;
  ws.send_chopped(text(c.bytes), 1);
  expect_outcome(ws, c);
}

TEST_P(Utf8Sample, TwoFragmentsSplitAtEveryPosition) {
  const auto& c = GetParam();
  if (c.valid) {
    ws_client ws;  // one connection, one message per split
    for (std::size_t i = 0; i <= c.bytes.size(); ++i) {
      ASSERT_TRUE(ws.send(text(c.bytes.substr(0, i), false) + cont(c.bytes.substr(i)))) << "split at " << i;
      ASSERT_TRUE(next_is(ws, opc::text, c.bytes)) << "split at " << i;
    }
    EXPECT_TRUE(clean_close(ws));
  } else {
    for (std::size_t i = 0; i <= c.bytes.size(); ++i) {
      ws_client ws;
      ws.send(text(c.bytes.substr(0, i), false) + cont(c.bytes.substr(i)));
      EXPECT_TRUE(next_is_close(ws, 1007)) << "split at " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Conformance, Utf8Sample, ::testing::ValuesIn(utf8_cases()),
                         [](const auto& info) { return "Utf8_" + info.param.id; });

}  // namespace
}  // namespace conformance
