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
