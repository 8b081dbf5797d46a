// The example protocol (examples/ticker/ticker.hpp) through the same generic
// codec, natively and in WASM: every message type round-trips, and every
// decode_errc comes out with its path.
#include "recorded_fingerprints.hpp"
#include "test_support.hpp"

#include <ticker.hpp>

#include <string>
#include <variant>

namespace duplex::schema {
namespace {

using testing::fails_with;

TEST(Ticker, EveryMessageRoundTrips) {
  const ticker::protocol::client_message client[] = {
      ticker::subscribe{{"ACME", "INIT"}},
      ticker::subscribe{{}},
      ticker::unsubscribe{{"ACME"}},
  };
  for (const auto& m : client) {
    const auto r = decode<ticker::protocol::client_message>(encode(m));
    ASSERT_TRUE(r.ok()) << encode(m) << ": " << r.error().detail;
    EXPECT_TRUE(*r == m) << encode(m);
  }
  const ticker::protocol::server_message server[] = {
      ticker::quotes{7, {{"ACME", 12.5, 900, ticker::side::buy, false}, {"INIT", 0.1 + 0.2, 0, std::nullopt, true}}},
      ticker::quotes{0, {}},
      ticker::status{ticker::market_state::halted, "circuit breaker"},
      ticker::status{ticker::market_state::open, std::nullopt},
      ticker::error{"bad_message", ""},
  };
  for (const auto& m : server) {
    const auto r = decode<ticker::protocol::server_message>(encode(m));
    ASSERT_TRUE(r.ok()) << encode(m) << ": " << r.error().detail;
    EXPECT_TRUE(*r == m) << encode(m);
  }
}

TEST(Ticker, EncodesCompactlyInDeclarationOrderWithoutEmptyOptionals) {
  EXPECT_EQ(encode(ticker::status{ticker::market_state::closed, std::nullopt}), R"({"type":"status","state":"closed"})");
  EXPECT_EQ(encode(ticker::quotes{1, {{"A", 2.5, 3, ticker::side::sell, false}}}),
            R"({"type":"quotes","seq":1,"items":[{"symbol":"A","price":2.5,"volume":3,"last":"sell","halted":false}]})");
}

TEST(Ticker, FingerprintIsRecorded) {
  const std::string now = fingerprint_hex(fingerprint<ticker::protocol>());
  bool found = false;
  for (const auto& r : testing::recorded_fingerprints)
    if (r.name == "ticker" && r.version == ticker::protocol::version) {
      found = true;
      EXPECT_EQ(r.fingerprint, now) << "ticker changed without a version bump";
    }
  EXPECT_TRUE(found) << "record {\"ticker\", 1, \"" << now << "\"}";
}

struct bad {
  std::string json;
  decode_errc code;
  std::string path;
};
void PrintTo(const bad& b, std::ostream* os) { *os << b.json.substr(0, 100); }

class TickerRejects : public ::testing::TestWithParam<bad> {};
TEST_P(TickerRejects, WithCodeAndPath) {
  EXPECT_TRUE(fails_with(decode<ticker::protocol::server_message>(GetParam().json), GetParam().code, GetParam().path));
}

const std::string q = R"({"symbol":"A","price":1,"volume":1,"halted":false})";

// One input for every decode_errc, most of them inside nested values.
INSTANTIATE_TEST_SUITE_P(EveryCode, TickerRejects, ::testing::Values(
    bad{R"({"type":"status","state":"open",})", decode_errc::invalid_json, ""},
    bad{R"(["status"])", decode_errc::not_object, ""},
    bad{R"({"type":"subscribe","symbols":[]})", decode_errc::unknown_type, "type"},
    bad{R"({"type":"quotes","seq":1,"items":[)" + q + R"(,{"symbol":"B","price":1,"halted":false}]})", decode_errc::missing_field, "items[1].volume"},
    bad{R"({"type":"quotes","seq":1,"items":[{"symbol":"A","price":"1","volume":1,"halted":false}]})", decode_errc::wrong_type, "items[0].price"},
    bad{"{\"type\":\"status\",\"state\":\"open\",\"note\":\"\xC3\x28\"}", decode_errc::invalid_utf8, ""},
    bad{R"({"type":"quotes","seq":1,"items":[{"symbol":"ABCDEFGHIJKLM","price":1,"volume":1,"halted":false}]})", decode_errc::too_long, "items[0].symbol"},
    bad{R"({"type":"quotes","seq":1,"items":[{"symbol":"","price":1,"volume":1,"halted":false}]})", decode_errc::empty_value, "items[0].symbol"},
    bad{std::string(max_json_bytes + 1, ' '), decode_errc::document_too_long, ""},
    bad{R"({"type":"status","state":"open","x":)" + std::string(40, '[') + std::string(40, ']') + "}", decode_errc::too_deep, ""},
    bad{R"({"type":"quotes","seq":1,"items":[{"symbol":"A","symbol":"B","price":1,"volume":1,"halted":false}]})", decode_errc::duplicate_key, "items[0].symbol"},
    bad{R"({"type":"quotes","seq":1,"items":[)" + q + R"(,{"symbol":"A","price":1,"volume":-1,"halted":false}]})", decode_errc::out_of_range, "items[1].volume"},
    bad{R"({"type":"quotes","seq":-1,"items":[]})", decode_errc::out_of_range, "seq"},
    bad{R"({"type":"quotes","seq":1,"items":[{"symbol":"A","price":0,"volume":1,"halted":false}]})", decode_errc::out_of_range, "items[0].price"},
    bad{R"({"type":"status","state":"paused"})", decode_errc::bad_enum, "state"},
    bad{R"({"type":"quotes","seq":1,"items":[{"symbol":"A","price":1,"volume":1,"last":"hold","halted":false}]})", decode_errc::bad_enum, "items[0].last"},
    bad{R"({"type":"error","code":"","message":""})", decode_errc::empty_value, "code"},
    bad{R"({"type":"status","state":"open","note":null})", decode_errc::wrong_type, "note"}
));

// Neither protocol has a minimum length above 1: a message of the test's own.
struct pin {
  std::string code;
};
constexpr auto describe(const pin*) { return object<pin>("pin", field("code", &pin::code, {.min_bytes = 4, .max_bytes = 8})); }

TEST(Ticker, TooShortAndBadCharacterAndMaxItems) {
  EXPECT_TRUE(fails_with(decode<std::variant<pin>>(R"({"type":"pin","code":"12"})"), decode_errc::too_short, "code"));
  EXPECT_TRUE(decode<std::variant<pin>>(R"({"type":"pin","code":"1234"})").ok());
  EXPECT_TRUE(fails_with(decode<ticker::protocol::client_message>(
                             R"({"type":"subscribe","symbols":[)" + [] {
                               std::string s;
                               for (int i = 0; i < 51; ++i) s += (i ? ",\"S\"" : "\"S\"");
                               return s;
                             }() + "]}"),
                         decode_errc::too_long, "symbols"));
  EXPECT_TRUE(fails_with(decode<client_message>(R"({"type":"join","name":"a\u202eb"})"), decode_errc::bad_character, "name"));
}

}  // namespace
}  // namespace duplex::schema
