// Encoding format and encode/decode round trips for every message type.
#include "test_support.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <variant>

namespace duplex::schema {
namespace {

template <class M>
M client_round_trip(const M& m) {
  const auto r = decode<client_message>(encode(m));
  EXPECT_TRUE(r.ok()) << encode(m) << " -> " << (r.ok() ? "" : r.error().detail);
  if (!r.ok() || !std::holds_alternative<M>(*r)) return M{};
  return std::get<M>(*r);
}

template <class M>
M server_round_trip(const M& m) {
  const auto r = decode<server_message>(encode(m));
  EXPECT_TRUE(r.ok()) << encode(m) << " -> " << (r.ok() ? "" : r.error().detail);
  if (!r.ok() || !std::holds_alternative<M>(*r)) return M{};
  return std::get<M>(*r);
}

// ---- exact wire format ----------------------------------------------------

TEST(Encode, CompactWithTypeFirstAndStableFieldOrder) {
  EXPECT_EQ(encode(join{"ada"}), R"({"type":"join","name":"ada"})");
  EXPECT_EQ(encode(chat{"hello"}), R"({"type":"chat","text":"hello"})");
  EXPECT_EQ(encode(message{"ada", "hello", 1732600000000}),
            R"({"type":"message","from":"ada","text":"hello","time":1732600000000})");
  EXPECT_EQ(encode(presence{{"ada", "bob"}}), R"({"type":"presence","users":["ada","bob"]})");
  EXPECT_EQ(encode(presence{}), R"({"type":"presence","users":[]})");
  EXPECT_EQ(encode(joined{"bob"}), R"({"type":"joined","name":"bob"})");
  EXPECT_EQ(encode(left{"bob"}), R"({"type":"left","name":"bob"})");
  EXPECT_EQ(encode(error{"name_taken", "the name ada is in use"}),
            R"({"type":"error","code":"name_taken","message":"the name ada is in use"})");
}

TEST(Encode, EscapesPerRfc8259) {
  EXPECT_EQ(encode(chat{"say \"hi\" \\ bye"}), R"({"type":"chat","text":"say \"hi\" \\ bye"})");
  EXPECT_EQ(encode(chat{"a\nb\tc\rd\be\ff"}), R"({"type":"chat","text":"a\nb\tc\rd\be\ff"})");
  EXPECT_EQ(encode(chat{std::string("\x01\x1f\x00z", 4)}), R"({"type":"chat","text":"\u0001\u001f\u0000z"})");
  // Not required to be escaped, so not escaped: '/', DEL and non-ASCII.
  EXPECT_EQ(encode(chat{"a/b\x7f"}), "{\"type\":\"chat\",\"text\":\"a/b\x7f\"}");
  EXPECT_EQ(encode(chat{"h\xC3\xA9llo \xF0\x9F\x8C\x8D"}), "{\"type\":\"chat\",\"text\":\"h\xC3\xA9llo \xF0\x9F\x8C\x8D\"}");
}

TEST(Encode, IntegersAtTheEdgesOfInt64) {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(encode(message{"a", "b", lo}), R"({"type":"message","from":"a","text":"b","time":-9223372036854775808})");
  EXPECT_EQ(encode(message{"a", "b", hi}), R"({"type":"message","from":"a","text":"b","time":9223372036854775807})");
  EXPECT_EQ(encode(message{"a", "b", 0}), R"({"type":"message","from":"a","text":"b","time":0})");
}

TEST(Encode, VariantOverloadsMatchTheDirectOnes) {
  EXPECT_EQ(encode(client_message{join{"ada"}}), encode(join{"ada"}));
  EXPECT_EQ(encode(client_message{chat{"x"}}), encode(chat{"x"}));
  EXPECT_EQ(encode(server_message{message{"a", "b", 7}}), encode(message{"a", "b", 7}));
  EXPECT_EQ(encode(server_message{presence{{"a"}}}), encode(presence{{"a"}}));
  EXPECT_EQ(encode(server_message{joined{"a"}}), encode(joined{"a"}));
  EXPECT_EQ(encode(server_message{left{"a"}}), encode(left{"a"}));
  EXPECT_EQ(encode(server_message{error{"c", "m"}}), encode(error{"c", "m"}));
}

// ---- round trips ----------------------------------------------------------

TEST(RoundTrip, Join) {
  for (const char* name : {"ada", "x", "Zo\xC3\xAB", "\xE4\xB8\xAD\xE6\x96\x87", "\xF0\x9F\x90\xB1 cat", "a \"quoted\" \\ name",
                           " padded ", "O'Brien"}) {
    EXPECT_EQ(client_round_trip(join{name}), join{name}) << name;
  }
}

TEST(RoundTrip, Chat) {
  static constexpr char controls[] = "controls \x01\x02\x1f\b\f\r and a NUL \x00 inside";
  const std::string texts[] = {
      "hello",
      "multi\nline\ttext with \"quotes\" and \\backslashes\\ and /slashes/",
      std::string(controls, sizeof controls - 1),
      "unicode: h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x8C\x8D \xE2\x80\xAE",
      "   ",  // whitespace-only text is allowed; only names must show something
      std::string(max_text_bytes, 'x'),
      std::string(max_text_bytes / 2, '\n'),  // escapes double it on the wire; the limit is on the value
  };
  for (const auto& t : texts) EXPECT_EQ(client_round_trip(chat{t}), chat{t}) << t.substr(0, 40);
}

TEST(RoundTrip, Message) {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  for (std::int64_t t : {std::int64_t{0}, std::int64_t{1732600000000}, std::int64_t{-1}, std::int64_t{-1732600000000}, lo, hi}) {
    const message m{"ada", "hi \xF0\x9F\x91\x8B\n\"there\"", t};
    EXPECT_EQ(server_round_trip(m), m) << t;
  }
}

TEST(RoundTrip, Presence) {
  EXPECT_EQ(server_round_trip(presence{}), presence{});
  const presence p{{"ada", "bob", "\xC3\xA9ve", "\xF0\x9F\x90\xB1", "with \"quote\"", std::string(max_name_bytes, 'n')}};
  EXPECT_EQ(server_round_trip(p), p);
}

TEST(RoundTrip, JoinedLeftError) {
  EXPECT_EQ(server_round_trip(joined{"bob"}), joined{"bob"});
  EXPECT_EQ(server_round_trip(left{"b\xC3\xB6""b"}), left{"b\xC3\xB6""b"});
  EXPECT_EQ(server_round_trip(error{"name_taken", "the name \"ada\" is in use\n"}),
            (error{"name_taken", "the name \"ada\" is in use\n"}));
  EXPECT_EQ(server_round_trip(error{"not_joined", ""}), (error{"not_joined", ""}));  // message may be empty
}

TEST(RoundTrip, CanonicalJsonSurvivesDecodeThenEncode) {
  const char* client[] = {R"({"type":"join","name":"ada"})", R"({"type":"chat","text":"a\"b\\c\nd\u0001"})"};
  for (const char* s : client) {
    const auto r = decode<client_message>(s);
    ASSERT_TRUE(r.ok()) << s;
    EXPECT_EQ(encode(*r), s);
  }
  const char* server[] = {
      R"({"type":"message","from":"ada","text":"hi","time":-5})",
      R"({"type":"presence","users":[]})",
      R"({"type":"presence","users":["ada","bob"]})",
      R"({"type":"joined","name":"bob"})",
      R"({"type":"left","name":"bob"})",
      R"({"type":"error","code":"bad_message","message":"no"})",
  };
  for (const char* s : server) {
    const auto r = decode<server_message>(s);
    ASSERT_TRUE(r.ok()) << s;
    EXPECT_EQ(encode(*r), s);
  }
}

// ---- what the decoder accepts beyond the canonical form -------------------

TEST(Decode, AcceptsAnyFieldOrderAndWhitespace) {
  const auto r = decode<server_message>(" \n{ \"time\" : 42 ,\t\"text\":\"hi\", \"from\":\"ada\",\r\n \"type\":\"message\" } \n");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(std::get<message>(*r), (message{"ada", "hi", 42}));
}

TEST(Decode, UnescapesJsonEscapesInValuesAndKeys) {
  // \u00e9 = é, \ud83c\udf0d = U+1F30D (a surrogate pair), "t\u0079pe" = "type".
  const auto r = decode<client_message>(R"({"t\u0079pe":"join","name":"\u00e9\ud83c\udf0d\/"})");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(std::get<join>(*r).name, "\xC3\xA9\xF0\x9F\x8C\x8D/");
}

TEST(Decode, IgnoresUnknownFieldsOfAnyShape) {
  const auto r = decode<client_message>(
      R"({"v":2,"type":"chat","meta":{"a":[1,-2.5e3,true,false,null,{"b":"c"}],"d":{}},"text":"hi","tags":[]})");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(std::get<chat>(*r).text, "hi");
}

TEST(Decode, IgnoresKnownFieldsThatDoNotBelongToTheType) {
  // "time", "name" and "users" are fields of other message types: a chat
  // doesn't look at them, so their JSON types don't matter.
  const auto c = decode<client_message>(R"({"type":"chat","text":"hi","name":5,"time":"noon","users":{}})");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(std::get<chat>(*c).text, "hi");
  const auto s = decode<server_message>(R"({"type":"joined","name":"bob","users":[1,2],"text":null})");
  ASSERT_TRUE(s.ok()) << s.error().detail;
  EXPECT_EQ(std::get<joined>(*s).name, "bob");
}

TEST(Decode, NegativeZeroTimeIsZero) {
  const auto r = decode<server_message>(R"({"type":"message","from":"a","text":"b","time":-0})");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(std::get<message>(*r).time, 0);
}

TEST(Decode, ReusedParserForgetsTheLongerPreviousInput) {
  // The per-thread buffer still holds the longer message's bytes past the
  // new end; a truncated message must not be completed by them.
  const std::string long_msg = R"({"type":"join","name":"abcdefghijklmnop"})";
  ASSERT_TRUE(decode<client_message>(long_msg).ok());
  EXPECT_TRUE(testing::fails_with(decode<client_message>(long_msg.substr(0, long_msg.size() - 2)),
                                  decode_errc::invalid_json, ""));
  const auto short_ok = decode<client_message>(R"({"type":"join","name":"ab"})");
  ASSERT_TRUE(short_ok.ok());
  EXPECT_EQ(std::get<join>(*short_ok).name, "ab");
}

}  // namespace
}  // namespace duplex::schema
