#include <duplex/protocol/utf8.hpp>

#include <gtest/gtest.h>

#include <string>

using duplex::protocol::is_valid_utf8;
using duplex::protocol::utf8_validator;

TEST(Utf8, AcceptsValidText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii that is longer than eight bytes"));
  EXPECT_TRUE(is_valid_utf8("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"));  // κόσμε
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));                                // U+1F600
  EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));                                    // U+D7FF
  EXPECT_TRUE(is_valid_utf8("\xEE\x80\x80"));                                    // U+E000
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));                                // U+10FFFF
  EXPECT_TRUE(is_valid_utf8(std::string("a\0b", 3)));
}

TEST(Utf8, RejectsInvalidSequences) {
  for (const char* bad : {
           "\x80",              // lone continuation
           "\xC0\xAF",          // overlong '/'
           "\xC1\xBF",          // overlong
           "\xE0\x80\xAF",      // overlong 3-byte
           "\xF0\x80\x80\xAF",  // overlong 4-byte
           "\xED\xA0\x80",      // UTF-16 surrogate U+D800
           "\xED\xBF\xBF",      // U+DFFF
           "\xF4\x90\x80\x80",  // above U+10FFFF
           "\xF5\x80\x80\x80",  // invalid lead
           "\xFE", "\xFF",
           "\xC3\x28",          // bad continuation
           "\xCE\xBA\xE1\xBD",  // truncated at the end
       }) {
    EXPECT_FALSE(is_valid_utf8(bad)) << testing::PrintToString(std::string(bad));
  }
}

TEST(Utf8, ValidatesAcrossPieces) {
  const std::string text = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 and \xF0\x9F\x98\x80";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    utf8_validator v;
    EXPECT_TRUE(v.feed(std::string_view(text).substr(0, cut)));
    EXPECT_TRUE(v.feed(std::string_view(text).substr(cut)));
    EXPECT_TRUE(v.complete());
  }
}

TEST(Utf8, FailsAtTheFirstBadByteAndStaysFailed) {
  utf8_validator v;
  EXPECT_TRUE(v.feed("\xCE"));
  EXPECT_FALSE(v.complete());
  EXPECT_FALSE(v.feed("\x28"));
  EXPECT_FALSE(v.feed("ok"));
}

// Pieces of 64 bytes and more go through simdjson's validator up to the last
// whole sequence, shorter ones through the state machine. Fed byte by byte,
// the same text only ever takes the state-machine path: both must agree on
// every input, valid or not, wherever a piece ends.
namespace {

bool whole(const std::string& s) {
  utf8_validator v;
  return v.feed(s) && v.complete();
}
bool byte_by_byte(const std::string& s) {
  utf8_validator v;
  for (char c : s)
    if (!v.feed(std::string_view(&c, 1))) return false;
  return v.complete();
}
bool in_two(const std::string& s, std::size_t cut) {
  utf8_validator v;
  return v.feed(std::string_view(s).substr(0, cut)) && v.feed(std::string_view(s).substr(cut)) && v.complete();
}

}  // namespace

TEST(Utf8, LongPiecesAgreeWithTheStateMachine) {
  const std::string seed =
      "chat \xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 \xF0\x9F\x98\x80 \xE2\x82\xAC plain ascii text, "
      "more \xF4\x8F\xBF\xBF and \xED\x9F\xBF \xEE\x80\x80 to pass sixty-four bytes\xC3\xA9 and then some "
      "more of the same: \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E, \xD0\xBF\xD1\x80\xD0\xB8 \xF0\x9F\x8E\x89 end";
  ASSERT_GE(seed.size(), 128u);
  ASSERT_TRUE(byte_by_byte(seed));
  std::uint32_t rng = 12345;
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  int invalid = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string s = seed.substr(0, 64 + next() % (seed.size() - 63));
    // Zero to three random byte changes: most rounds make it invalid
    // somewhere (a stray continuation, a cut sequence, a surrogate...).
    const unsigned changes = next() % 4;
    for (unsigned i = 0; i < changes; ++i) {
      static constexpr unsigned char nasty[] = {0x80, 0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xA0, 0xF0, 0xF4, 0x90, 0xF5, 0xFF, 'a'};
      s[next() % s.size()] = static_cast<char>(nasty[next() % sizeof nasty]);
    }
    const bool expected = byte_by_byte(s);
    invalid += !expected;
    ASSERT_EQ(whole(s), expected) << testing::PrintToString(s);
    const std::size_t cut = next() % (s.size() + 1);
    ASSERT_EQ(in_two(s, cut), expected) << testing::PrintToString(s) << " cut at " << cut;
  }
  EXPECT_GT(invalid, 1000);  // the mutations did reach the invalid cases
}

TEST(Utf8, LongPieceEndingInsideASequenceContinues) {
  // 70 ASCII bytes then U+1F600 cut after 1, 2 and 3 of its 4 bytes.
  const std::string text = std::string(70, 'x') + "\xF0\x9F\x98\x80";
  for (std::size_t keep = 71; keep < text.size(); ++keep) {
    utf8_validator v;
    EXPECT_TRUE(v.feed(std::string_view(text).substr(0, keep)));
    EXPECT_FALSE(v.complete());
    EXPECT_TRUE(v.feed(std::string_view(text).substr(keep)));
    EXPECT_TRUE(v.complete());
  }
  EXPECT_FALSE(is_valid_utf8(std::string(100, 'x') + "\xED\xA0\x80" + std::string(30, 'y')));  // surrogate mid-run
}
