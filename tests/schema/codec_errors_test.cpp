// Every decode_errc, with the field it names, and the order in which the
// decoder reports problems.
#include "test_support.hpp"

#include <string>
#include <vector>

namespace duplex::schema {
namespace {

using testing::fails_with;

enum class dir { client, server };

struct bad_input {
  std::string json;
  dir direction;
  decode_errc code;
  std::string field;
};

void PrintTo(const bad_input& b, std::ostream* os) {
  *os << (b.direction == dir::client ? "client " : "server ") << b.json.substr(0, 80);
}

class DecodeRejects : public ::testing::TestWithParam<bad_input> {};

TEST_P(DecodeRejects, WithCodeAndField) {
  const bad_input& b = GetParam();
  if (b.direction == dir::client) {
    EXPECT_TRUE(fails_with(decode<client_message>(b.json), b.code, b.field));
  } else {
    EXPECT_TRUE(fails_with(decode<server_message>(b.json), b.code, b.field));
  }
}


// ---- invalid_json ----------------------------------------------------------
INSTANTIATE_TEST_SUITE_P(InvalidJson, DecodeRejects, ::testing::Values(
    bad_input{"", dir::client, decode_errc::invalid_json, ""},
    bad_input{" \n\t ", dir::client, decode_errc::invalid_json, ""},
    bad_input{"{", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat")", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi)", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi",)", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi",})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat" "text":"hi"})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text" "hi"})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({'type':'chat','text':'hi'})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({type:"chat",text:"hi"})", dir::client, decode_errc::invalid_json, ""},
    // a byte order mark, rejected like JSON.parse does (simdjson versions differ)
    bad_input{"\xEF\xBB\xBF{\"type\":\"chat\",\"text\":\"hi\"}", dir::client, decode_errc::invalid_json, ""},
    // trailing content after the object
    bad_input{R"({"type":"chat","text":"hi"}})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi"} {})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi"}x)", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi"},)", dir::client, decode_errc::invalid_json, ""},
    // duplicates: a second "type" (or any known field) is refused, not resolved
    bad_input{R"({"type":"chat","type":"join","name":"a","text":"b"})", dir::client, decode_errc::duplicate_key, "type"},
    bad_input{R"({"type":"chat","type":"chat","text":"b"})", dir::client, decode_errc::duplicate_key, "type"},
    bad_input{R"({"type":"chat","text":"a","text":"b"})", dir::client, decode_errc::duplicate_key, "text"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":1,"time":2})", dir::server, decode_errc::duplicate_key, "time"},
    // ...but a syntax error anywhere still comes first
    bad_input{R"({"type":"chat","type":"chat","text":"b","x":tru})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"typ\u0065":"chat","type":"chat","text":"b"})", dir::client, decode_errc::duplicate_key, "type"},
    // bad string contents
    bad_input{R"({"type":"chat","text":"\q"})", dir::client, decode_errc::invalid_json, ""},
    // valid UTF-8 after a bad escape: simdjson's portable kernel (WASM) calls this bad UTF-8
    bad_input{"{\"type\":\"chat\",\"text\":\"\\\xC3\xA9\"}", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"\u12"})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"\ud800"})", dir::client, decode_errc::invalid_json, ""},   // lone surrogate escape
    bad_input{R"({"type":"chat","text":"\udc00\ud800"})", dir::client, decode_errc::invalid_json, ""},
    bad_input{"{\"type\":\"chat\",\"text\":\"tab\there\"}", dir::client, decode_errc::invalid_json, ""},  // raw control char
    bad_input{std::string("{\"type\":\"chat\",\"text\":\"nul") + '\0' + "\"}", dir::client, decode_errc::invalid_json, ""},
    // garbage nested inside fields the decoder otherwise ignores
    bad_input{R"({"type":"chat","text":"hi","x":tru})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":nul})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":truex})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":01})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":1.})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":-})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":.5})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":+1})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":[1,2,]})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":[1 2]})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":{"a":}})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":{"a" 1}})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":[{]}})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":{"\q":1}})", dir::client, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"chat","text":"hi","x":[[[["\x"]]]]})", dir::client, decode_errc::invalid_json, ""},
    // malformed numbers in the one integer field (syntax errors name no field:
    // simdjson versions notice structural errors in different places)
    bad_input{R"({"type":"message","from":"a","text":"b","time":01})", dir::server, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"message","from":"a","text":"b","time":1x})", dir::server, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"message","from":"a","text":"b","time":-})", dir::server, decode_errc::invalid_json, ""},
    bad_input{R"({"type":"presence","users":["a",]})", dir::server, decode_errc::invalid_json, ""}
));

// ---- not_object --------------------------------------------------------------
INSTANTIATE_TEST_SUITE_P(NotObject, DecodeRejects, ::testing::Values(
    bad_input{"[]", dir::client, decode_errc::not_object, ""},
    bad_input{R"([{"type":"join","name":"ada"}])", dir::client, decode_errc::not_object, ""},
    bad_input{R"("join")", dir::client, decode_errc::not_object, ""},
    bad_input{"42", dir::client, decode_errc::not_object, ""},
    bad_input{"-1.5e3", dir::server, decode_errc::not_object, ""},
    bad_input{"null", dir::server, decode_errc::not_object, ""},
    bad_input{"true", dir::server, decode_errc::not_object, ""},
    bad_input{"  false  ", dir::server, decode_errc::not_object, ""},
    // judged by the first byte alone: these start like a value that isn't an object
    bad_input{"[1", dir::client, decode_errc::not_object, ""},
    bad_input{"t9x", dir::client, decode_errc::not_object, ""},
    // ...while these start like nothing in JSON
    bad_input{"xyz", dir::client, decode_errc::invalid_json, ""},
    bad_input{"}{", dir::client, decode_errc::invalid_json, ""},
    bad_input{"'join'", dir::client, decode_errc::invalid_json, ""}
));

// ---- unknown_type, including the wrong direction ----------------------------
INSTANTIATE_TEST_SUITE_P(UnknownType, DecodeRejects, ::testing::Values(
    bad_input{R"({"type":"leave"})", dir::client, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"JOIN","name":"ada"})", dir::client, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"","name":"ada"})", dir::client, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"join ","name":"ada"})", dir::client, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":1})", dir::client, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"presence","users":[]})", dir::client, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"joined","name":"a"})", dir::client, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"left","name":"a"})", dir::client, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"error","code":"a","message":"b"})", dir::client, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"join","name":"ada"})", dir::server, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"chat","text":"hi"})", dir::server, decode_errc::unknown_type, "type"},
    bad_input{R"({"type":"ping"})", dir::server, decode_errc::unknown_type, "type"}
));

// ---- missing_field -------------------------------------------------------------
INSTANTIATE_TEST_SUITE_P(MissingField, DecodeRejects, ::testing::Values(
    bad_input{"{}", dir::client, decode_errc::missing_field, "type"},
    bad_input{R"({"name":"ada"})", dir::client, decode_errc::missing_field, "type"},
    bad_input{R"({"Type":"join","name":"ada"})", dir::client, decode_errc::missing_field, "type"},
    bad_input{R"({"type":"join"})", dir::client, decode_errc::missing_field, "name"},
    bad_input{R"({"type":"join","text":"ada"})", dir::client, decode_errc::missing_field, "name"},
    bad_input{R"({"type":"chat","name":"ada"})", dir::client, decode_errc::missing_field, "text"},
    bad_input{"{}", dir::server, decode_errc::missing_field, "type"},
    bad_input{R"({"type":"message","text":"b","time":1})", dir::server, decode_errc::missing_field, "from"},
    bad_input{R"({"type":"message","from":"a","time":1})", dir::server, decode_errc::missing_field, "text"},
    bad_input{R"({"type":"message","from":"a","text":"b"})", dir::server, decode_errc::missing_field, "time"},
    bad_input{R"({"type":"presence"})", dir::server, decode_errc::missing_field, "users"},
    bad_input{R"({"type":"joined"})", dir::server, decode_errc::missing_field, "name"},
    bad_input{R"({"type":"left","from":"a"})", dir::server, decode_errc::missing_field, "name"},
    bad_input{R"({"type":"error","message":"m"})", dir::server, decode_errc::missing_field, "code"},
    bad_input{R"({"type":"error","code":"c"})", dir::server, decode_errc::missing_field, "message"}
));

// ---- wrong_type (also: control characters in names) -------------------------
INSTANTIATE_TEST_SUITE_P(WrongType, DecodeRejects, ::testing::Values(
    bad_input{R"({"type":1,"name":"ada"})", dir::client, decode_errc::wrong_type, "type"},
    bad_input{R"({"type":null})", dir::client, decode_errc::wrong_type, "type"},
    bad_input{R"({"type":["join"],"name":"ada"})", dir::client, decode_errc::wrong_type, "type"},
    bad_input{R"({"type":{"join":1}})", dir::server, decode_errc::wrong_type, "type"},
    bad_input{R"({"type":"join","name":42})", dir::client, decode_errc::wrong_type, "name"},
    bad_input{R"({"type":"join","name":true})", dir::client, decode_errc::wrong_type, "name"},
    bad_input{R"({"type":"join","name":["ada"]})", dir::client, decode_errc::wrong_type, "name"},
    bad_input{R"({"type":"chat","text":{"a":[1,{"b":null}]}})", dir::client, decode_errc::wrong_type, "text"},
    bad_input{R"({"type":"chat","text":null})", dir::client, decode_errc::wrong_type, "text"},
    bad_input{R"({"type":"message","from":1,"text":"b","time":1})", dir::server, decode_errc::wrong_type, "from"},
    bad_input{R"({"type":"message","from":"a","text":2,"time":1})", dir::server, decode_errc::wrong_type, "text"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":"1"})", dir::server, decode_errc::wrong_type, "time"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":1.5})", dir::server, decode_errc::wrong_type, "time"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":1.0})", dir::server, decode_errc::wrong_type, "time"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":1e3})", dir::server, decode_errc::wrong_type, "time"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":9223372036854775808})", dir::server, decode_errc::out_of_range, "time"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":-9223372036854775809})", dir::server, decode_errc::out_of_range, "time"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":123456789012345678901234567890})", dir::server, decode_errc::out_of_range, "time"},
    bad_input{R"({"type":"message","from":"a","text":"b","time":null})", dir::server, decode_errc::wrong_type, "time"},
    bad_input{R"({"type":"presence","users":"ada"})", dir::server, decode_errc::wrong_type, "users"},
    bad_input{R"({"type":"presence","users":{"0":"ada"}})", dir::server, decode_errc::wrong_type, "users"},
    bad_input{R"({"type":"presence","users":["ada",1]})", dir::server, decode_errc::wrong_type, "users[1]"},
    bad_input{R"({"type":"presence","users":[["ada"]]})", dir::server, decode_errc::wrong_type, "users[0]"},
    bad_input{R"({"type":"joined","name":false})", dir::server, decode_errc::wrong_type, "name"},
    bad_input{R"({"type":"error","code":404,"message":"m"})", dir::server, decode_errc::wrong_type, "code"},
    bad_input{R"({"type":"error","code":"c","message":null})", dir::server, decode_errc::wrong_type, "message"},
    // names must not contain control characters (see codec.hpp)
    bad_input{R"({"type":"join","name":"a\u0001b"})", dir::client, decode_errc::bad_character, "name"},
    bad_input{R"({"type":"join","name":"a\nb"})", dir::client, decode_errc::bad_character, "name"},
    bad_input{R"({"type":"join","name":"tab\t"})", dir::client, decode_errc::bad_character, "name"},
    bad_input{R"({"type":"join","name":"nul\u0000"})", dir::client, decode_errc::bad_character, "name"},
    bad_input{R"({"type":"join","name":"del\u007f"})", dir::client, decode_errc::bad_character, "name"},
    bad_input{R"({"type":"join","name":"c1\u0085"})", dir::client, decode_errc::bad_character, "name"},
    bad_input{R"({"type":"join","name":"rlo\u202eevil"})", dir::client, decode_errc::bad_character, "name"},
    bad_input{R"({"type":"join","name":"line\u2028sep"})", dir::client, decode_errc::bad_character, "name"},
    bad_input{R"({"type":"message","from":"a\rb","text":"b","time":1})", dir::server, decode_errc::bad_character, "from"},
    bad_input{R"({"type":"presence","users":["ok","b\u001bad"]})", dir::server, decode_errc::bad_character, "users[1]"},
    bad_input{R"({"type":"left","name":"\u2066x"})", dir::server, decode_errc::bad_character, "name"}
));

// ---- invalid_utf8: raw bytes anywhere in the document ------------------------
INSTANTIATE_TEST_SUITE_P(InvalidUtf8, DecodeRejects, ::testing::Values(
    bad_input{"{\"type\":\"chat\",\"text\":\"\xC3\x28\"}", dir::client, decode_errc::invalid_utf8, ""},        // bad continuation
    bad_input{"{\"type\":\"chat\",\"text\":\"\xC0\xAF\"}", dir::client, decode_errc::invalid_utf8, ""},        // overlong '/'
    bad_input{"{\"type\":\"chat\",\"text\":\"\xE0\x80\xAF\"}", dir::client, decode_errc::invalid_utf8, ""},    // overlong, 3 bytes
    bad_input{"{\"type\":\"chat\",\"text\":\"\xED\xA0\x80\"}", dir::client, decode_errc::invalid_utf8, ""},    // UTF-16 surrogate
    bad_input{"{\"type\":\"chat\",\"text\":\"\xF4\x90\x80\x80\"}", dir::client, decode_errc::invalid_utf8, ""}, // > U+10FFFF
    bad_input{"{\"type\":\"chat\",\"text\":\"\xF8\x88\x80\x80\x80\"}", dir::client, decode_errc::invalid_utf8, ""},
    bad_input{"{\"type\":\"chat\",\"text\":\"\xFF\"}", dir::client, decode_errc::invalid_utf8, ""},
    bad_input{"{\"type\":\"chat\",\"text\":\"\x80\"}", dir::client, decode_errc::invalid_utf8, ""},            // lone continuation
    bad_input{"{\"type\":\"chat\",\"text\":\"\xE2\x82\"}", dir::client, decode_errc::invalid_utf8, ""},        // truncated sequence
    bad_input{"{\"type\":\"join\",\"name\":\"ada\xE2\"}", dir::client, decode_errc::invalid_utf8, ""},
    bad_input{"{\"ty\xFFpe\":\"chat\",\"text\":\"hi\"}", dir::client, decode_errc::invalid_utf8, ""},          // in a key
    bad_input{"{\"type\":\"chat\",\"text\":\"hi\",\"x\":\"\xC0\x80\"}", dir::client, decode_errc::invalid_utf8, ""},  // in an ignored field
    bad_input{"{\"type\":\"message\",\"from\":\"a\",\"text\":\"\xED\xBF\xBF\",\"time\":1}", dir::server, decode_errc::invalid_utf8, ""}
));

// ---- too_long ------------------------------------------------------------------
std::string presence_of(std::size_t n, const std::string& name) {
  std::string s = R"({"type":"presence","users":[)";
  for (std::size_t i = 0; i < n; ++i) s += (i ? ",\"" : "\"") + name + "\"";
  return s + "]}";
}

INSTANTIATE_TEST_SUITE_P(TooLong, DecodeRejects, ::testing::Values(
    bad_input{R"({"type":"join","name":")" + std::string(max_name_bytes + 1, 'a') + "\"}", dir::client, decode_errc::too_long, "name"},
    // 11 x U+1F30D = 44 bytes but 11 characters: the limit is bytes
    bad_input{R"({"type":"join","name":")" + [] { std::string s; for (int i = 0; i < 11; ++i) s += "\xF0\x9F\x8C\x8D"; return s; }() + "\"}",
              dir::client, decode_errc::too_long, "name"},
    // escapes count as what they decode to: 33 x \u00e9 is 66 bytes
    bad_input{R"({"type":"join","name":")" + [] { std::string s; for (int i = 0; i < 33; ++i) s += "\\u00e9"; return s; }() + "\"}",
              dir::client, decode_errc::too_long, "name"},
    bad_input{R"({"type":"chat","text":")" + std::string(max_text_bytes + 1, 'x') + "\"}", dir::client, decode_errc::too_long, "text"},
    bad_input{R"({"type":"message","from":")" + std::string(max_name_bytes + 1, 'a') + R"(","text":"b","time":1})", dir::server, decode_errc::too_long, "from"},
    bad_input{R"({"type":"message","from":"a","text":")" + std::string(max_text_bytes + 1, 'b') + R"(","time":1})", dir::server, decode_errc::too_long, "text"},
    bad_input{R"({"type":"joined","name":")" + std::string(max_name_bytes + 1, 'a') + "\"}", dir::server, decode_errc::too_long, "name"},
    bad_input{R"({"type":"left","name":")" + std::string(100, 'a') + "\"}", dir::server, decode_errc::too_long, "name"},
    bad_input{presence_of(1, std::string(max_name_bytes + 1, 'u')), dir::server, decode_errc::too_long, "users[0]"},
    bad_input{presence_of(max_users + 1, "u"), dir::server, decode_errc::too_long, "users"},
    // the whole input: checked before parsing, whatever it contains
    bad_input{std::string(max_json_bytes + 1, ' '), dir::client, decode_errc::document_too_long, ""},
    bad_input{R"({"type":"chat","text":"hi"})" + std::string(max_json_bytes, ' '), dir::client, decode_errc::document_too_long, ""},
    bad_input{std::string(max_json_bytes + 1, '['), dir::server, decode_errc::document_too_long, ""}
));

// ---- empty_value ---------------------------------------------------------------
INSTANTIATE_TEST_SUITE_P(EmptyValue, DecodeRejects, ::testing::Values(
    bad_input{R"({"type":"join","name":""})", dir::client, decode_errc::empty_value, "name"},
    bad_input{R"({"type":"join","name":" "})", dir::client, decode_errc::empty_value, "name"},
    bad_input{R"({"type":"join","name":"      "})", dir::client, decode_errc::empty_value, "name"},
    bad_input{R"({"type":"join","name":"\u00a0\u3000\u2003"})", dir::client, decode_errc::empty_value, "name"},  // Unicode spaces
    bad_input{R"({"type":"join","name":"\u200b\u200d\ufeff"})", dir::client, decode_errc::empty_value, "name"},  // zero-width
    bad_input{R"({"type":"join","name":"\u3164"})", dir::client, decode_errc::empty_value, "name"},              // Hangul filler
    bad_input{R"({"type":"chat","text":""})", dir::client, decode_errc::empty_value, "text"},
    bad_input{R"({"type":"message","from":"","text":"b","time":1})", dir::server, decode_errc::empty_value, "from"},
    bad_input{R"({"type":"message","from":"a","text":"","time":1})", dir::server, decode_errc::empty_value, "text"},
    bad_input{R"({"type":"presence","users":["ada",""]})", dir::server, decode_errc::empty_value, "users[1]"},
    bad_input{R"({"type":"presence","users":["  "]})", dir::server, decode_errc::empty_value, "users[0]"},
    bad_input{R"({"type":"joined","name":""})", dir::server, decode_errc::empty_value, "name"},
    bad_input{R"({"type":"left","name":" "})", dir::server, decode_errc::empty_value, "name"},
    bad_input{R"({"type":"error","code":"","message":"m"})", dir::server, decode_errc::empty_value, "code"}
));

// ---- precedence ------------------------------------------------------------------

TEST(DecodePrecedence, SyntaxAnywhereBeatsEverythingElse) {
  // The wrong-typed text comes first, the broken atom later: still invalid_json.
  EXPECT_TRUE(fails_with(decode<client_message>(R"({"type":"chat","text":5,"x":[tru]})"), decode_errc::invalid_json, ""));
  EXPECT_TRUE(fails_with(decode<client_message>(R"({"type":"nope","x":01})"), decode_errc::invalid_json, ""));
  EXPECT_TRUE(fails_with(decode<client_message>("{\"type\":\"nope\",\"x\":\"\xC0\xAF\"}"), decode_errc::invalid_utf8, ""));
}

TEST(DecodePrecedence, BadUtf8BeatsBadSyntaxAndNonObjects) {
  // Both malformed and not UTF-8: simdjson's own verdict varies by version.
  EXPECT_TRUE(fails_with(decode<client_message>("{\"type\":\"\x1f\",\"nam\xE5\":\"ada\"}"), decode_errc::invalid_utf8, ""));
  EXPECT_TRUE(fails_with(decode<client_message>("{\":\"jo\xEDix\"}n\",\"name\":\"ada\"}"), decode_errc::invalid_utf8, ""));
  EXPECT_TRUE(fails_with(decode<client_message>("[\"\xFF\"]"), decode_errc::invalid_utf8, ""));
  EXPECT_TRUE(fails_with(decode<client_message>("\xFF"), decode_errc::invalid_utf8, ""));
  EXPECT_TRUE(fails_with(decode<server_message>("\xEF\xBB\xBF{\"type\":\"\xC0\"}"), decode_errc::invalid_utf8, ""));
}

TEST(DecodePrecedence, TypeFirstThenDocumentOrderThenMissingFields) {
  EXPECT_TRUE(fails_with(decode<client_message>(R"({"name":5})"), decode_errc::missing_field, "type"));
  EXPECT_TRUE(fails_with(decode<client_message>(R"({"type":"nope","name":5})"), decode_errc::unknown_type, "type"));
  // The first bad value in the document, wherever "type" is...
  EXPECT_TRUE(fails_with(decode<server_message>(R"({"time":"x","text":"","from":"","type":"message"})"), decode_errc::wrong_type, "time"));
  EXPECT_TRUE(fails_with(decode<server_message>(R"({"text":"","from":"","type":"message","time":1})"), decode_errc::empty_value, "text"));
  EXPECT_TRUE(fails_with(decode<server_message>(R"({"type":"message","from":"","text":"","time":1})"), decode_errc::empty_value, "from"));
  // ...and missing fields at the end of their object, in declaration order.
  EXPECT_TRUE(fails_with(decode<server_message>(R"({"type":"message","time":1})"), decode_errc::missing_field, "from"));
  EXPECT_TRUE(fails_with(decode<server_message>(R"({"type":"message","time":1,"from":"a"})"), decode_errc::missing_field, "text"));
  EXPECT_TRUE(fails_with(decode<server_message>(R"({"type":"message","time":"x"})"), decode_errc::wrong_type, "time"));
}

// Keys before a late "type" are walked twice; each walk unescapes them into
// the parser's string buffer again (the fuzzer found long keys overflowing
// it, seen natively under ASan on AVX-512 machines).
TEST(DecodeTwoPasses, LongKeysBeforeALateTypeAreWalkedTwiceSafely) {
  const std::string key = std::string(45, 'O') + std::string(86, 'R') + std::string(40, 'O');
  EXPECT_TRUE(fails_with(decode<client_message>("{\"" + key + "type\":\"t\"}"), decode_errc::missing_field, "type"));
  const std::string junk = "\"" + std::string(300, 'k') + "\":\"" + std::string(300, 'v') + "\",";
  EXPECT_TRUE(decode<client_message>("{" + junk + junk.substr(0, 1) + "x" + junk.substr(1) + "\"type\":\"chat\",\"text\":\"hi\"}").ok());
}

// ---- boundaries that must pass -----------------------------------------------------

TEST(DecodeLimits, NameOfExactlyMaxBytesIsAccepted) {
  const std::string name(max_name_bytes, 'a');
  const auto r = decode<client_message>(R"({"type":"join","name":")" + name + "\"}");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(std::get<join>(*r).name, name);
  // 8 x U+1F30D is exactly 32 bytes.
  std::string emoji;
  for (int i = 0; i < 8; ++i) emoji += "\xF0\x9F\x8C\x8D";
  const auto e = decode<client_message>(R"({"type":"join","name":")" + emoji + "\"}");
  ASSERT_TRUE(e.ok()) << e.error().detail;
  EXPECT_EQ(std::get<join>(*e).name, emoji);
}

TEST(DecodeLimits, TextOfExactlyMaxBytesIsAccepted) {
  const std::string text(max_text_bytes, 't');
  const auto r = decode<client_message>(R"({"type":"chat","text":")" + text + "\"}");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(std::get<chat>(*r).text, text);
}

TEST(DecodeLimits, MaxUsersIsAccepted) {
  const auto r = decode<server_message>(presence_of(max_users, "u"));
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(std::get<presence>(*r).users.size(), max_users);
}

TEST(DecodeLimits, InputOfExactlyMaxJsonBytesIsAccepted) {
  std::string json = R"({"type":"chat","text":"hi"})";
  json.insert(1, std::string(max_json_bytes - json.size(), ' '));
  ASSERT_EQ(json.size(), max_json_bytes);
  const auto r = decode<client_message>(json);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(std::get<chat>(*r).text, "hi");
}

TEST(DecodeLimits, DeepNestingIsRejectedWithoutExhaustingTheStack) {
  // Within max_json_bytes, nested far deeper than any message needs.
  const std::size_t depth = 30000;
  const std::string json = R"({"type":"chat","text":"hi","x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  ASSERT_LE(json.size(), max_json_bytes);
  EXPECT_TRUE(fails_with(decode<client_message>(json), decode_errc::too_deep, ""));
  const std::string objects = [] {
    std::string s = R"({"type":"chat","text":"hi","x":)";
    for (int i = 0; i < 5000; ++i) s += R"({"a":)";
    s += "1";
    s += std::string(5000, '}');
    return s + "}";
  }();
  EXPECT_TRUE(fails_with(decode<client_message>(objects), decode_errc::too_deep, ""));
}

TEST(DecodeLimits, ModestNestingInIgnoredFieldsIsFine) {
  const std::string json = R"({"type":"chat","text":"hi","x":)" + std::string(20, '[') + std::string(20, ']') + "}";
  EXPECT_TRUE(decode<client_message>(json).ok());
}

// ---- the error values themselves ------------------------------------------------------

TEST(DecodeErrc, HasStableNames) {
  EXPECT_EQ(to_string(decode_errc::invalid_json), "invalid_json");
  EXPECT_EQ(to_string(decode_errc::not_object), "not_object");
  EXPECT_EQ(to_string(decode_errc::unknown_type), "unknown_type");
  EXPECT_EQ(to_string(decode_errc::missing_field), "missing_field");
  EXPECT_EQ(to_string(decode_errc::wrong_type), "wrong_type");
  EXPECT_EQ(to_string(decode_errc::invalid_utf8), "invalid_utf8");
  EXPECT_EQ(to_string(decode_errc::too_long), "too_long");
  EXPECT_EQ(to_string(decode_errc::empty_value), "empty_value");
  EXPECT_EQ(to_string(decode_errc::document_too_long), "document_too_long");
  EXPECT_EQ(to_string(decode_errc::too_deep), "too_deep");
  EXPECT_EQ(to_string(decode_errc::duplicate_key), "duplicate_key");
  EXPECT_EQ(to_string(decode_errc::out_of_range), "out_of_range");
  EXPECT_EQ(to_string(decode_errc::bad_enum), "bad_enum");
  EXPECT_EQ(to_string(decode_errc::too_short), "too_short");
  EXPECT_EQ(to_string(decode_errc::bad_character), "bad_character");
}

TEST(DecodeErrc, DetailsAreHumanReadableAndSafeToSendBack) {
  const auto missing = decode<client_message>(R"({"type":"chat"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().detail, "text: missing (expected a value)");
  EXPECT_EQ(missing.error().expected, "a value");

  const auto wrong_dir = decode<client_message>(R"({"type":"presence","users":[]})");
  ASSERT_FALSE(wrong_dir.ok());
  EXPECT_EQ(wrong_dir.error().expected, "one of join, chat");

  const auto deep = decode<server_message>(R"({"type":"presence","users":["a","b",7]})");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().path, "users[2]");
  EXPECT_EQ(deep.error().expected, "a string");

  // A hostile type is echoed truncated (on a code point boundary) and without
  // control characters, so the detail can be put into an error message as is.
  std::string type = "\\n\\u0000";
  for (int i = 0; i < 40; ++i) type += "\xE2\x82\xAC";  // U+20AC, 3 bytes each
  const auto r = decode<client_message>(R"({"type":")" + type + "\"}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, decode_errc::unknown_type);
  EXPECT_LT(r.error().detail.size(), 120u);
  EXPECT_TRUE(testing::is_valid_utf8(r.error().detail));
  for (unsigned char c : r.error().detail) EXPECT_GE(c, 0x20) << r.error().detail;
  const auto again = decode<server_message>(encode(error{"bad_message", r.error().detail}));
  EXPECT_TRUE(again.ok());
}

}  // namespace
}  // namespace duplex::schema
