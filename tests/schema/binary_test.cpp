// The binary codec (duplex/schema/binary.hpp): exact bytes, round trips of
// every protocol in the tree, the same typed errors and paths as JSON, and
// hostile input (every truncation, trailing bytes, huge counts, mutated
// bytes). Built natively and with em++: the same bytes on both.
#include "test_support.hpp"  // the chat's messages (server/chat_protocol.hpp) under short names

#include <duplex/schema/binary.hpp>

#include <ticker.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace arena {
using duplex::schema::field;
using duplex::schema::object;

enum class kind { player, bot, pickup };
constexpr auto describe(const kind*) {
  return duplex::schema::enumeration<kind>("player", kind::player, "bot", kind::bot, "pickup", kind::pickup);
}

struct stats {
  std::int64_t hp = 100;
  double speed = 1.5;
  friend bool operator==(const stats&, const stats&) = default;
};
constexpr auto describe(const stats*) {
  return object<stats>("stats", field("hp", &stats::hp, {.min = 0, .max = 1000}), field("speed", &stats::speed));
}

struct entity {
  std::uint32_t id = 0;
  float x = 0, y = 0;
  kind what = kind::player;
  std::optional<std::string> name;
  std::vector<std::int16_t> tags;
  std::optional<stats> detail;
  bool alive = true;
  friend bool operator==(const entity&, const entity&) = default;
};
constexpr auto describe(const entity*) {
  return object<entity>("entity", field("id", &entity::id), field("x", &entity::x), field("y", &entity::y),
                        field("what", &entity::what), field("name", &entity::name, {.min_bytes = 1, .max_bytes = 16}),
                        field("tags", &entity::tags, {.max_items = 8}), field("detail", &entity::detail),
                        field("alive", &entity::alive));
}

struct snapshot {
  std::uint64_t tick = 0;
  std::vector<entity> entities;
  friend bool operator==(const snapshot&, const snapshot&) = default;
};
constexpr auto describe(const snapshot*) {
  return object<snapshot>("snapshot", field("tick", &snapshot::tick),
                          field("entities", &snapshot::entities, {.max_items = 1000}));
}

struct input {
  std::int8_t dx = 0, dy = 0;
  friend bool operator==(const input&, const input&) = default;
};
constexpr auto describe(const input*) {
  return object<input>("input", field("dx", &input::dx, {.min = -1, .max = 1}),
                       field("dy", &input::dy, {.min = -1, .max = 1}));
}

using server_message = std::variant<input, snapshot>;  // input first: snapshot is index 1
}  // namespace arena

namespace duplex::schema {
namespace {

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out += ' ';
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

arena::snapshot sample() {
  arena::snapshot s{7, {}};
  s.entities.push_back({1, 1.5f, -2.25f, arena::kind::player, "ada", {3, -4}, arena::stats{90, 2.5}, true});
  s.entities.push_back({300, 0, 0, arena::kind::bot, std::nullopt, {}, std::nullopt, false});
  return s;
}

template <class Variant>
void expect_round_trip(const Variant& m) {
  const std::string bytes = encode_binary(m);
  auto back = decode_binary<Variant>(bytes);
  ASSERT_TRUE(back.ok()) << hex(bytes) << ": " << back.error().detail;
  EXPECT_TRUE(*back == m) << hex(bytes);
  EXPECT_EQ(encode_binary(*back), bytes);  // one encoding per value
}

TEST(Binary, ExactBytes) {
  // ticker subscribe: index 0, 1 item, "ACME" (4 bytes).
  EXPECT_EQ(hex(encode_binary<ticker::protocol::client_message>(ticker::subscribe{{"ACME"}})),
            "00 01 04 41 43 4d 45");
  // arena input: index 0, dx -1 (zigzag 1), dy 1 (zigzag 2).
  EXPECT_EQ(hex(encode_binary<arena::server_message>(arena::input{-1, 1})), "00 01 02");
  // An entity: the optional bitmap (name: bit 0, detail: bit 1), id 300 as
  // a two-byte varint, floats as 4 bytes, the enum's position, bool.
  arena::snapshot one{1, {{300, 1.0f, 0.0f, arena::kind::bot, "a", {}, std::nullopt, true}}};
  EXPECT_EQ(hex(encode_binary<arena::server_message>(one)),
            "01 01 01 01 ac 02 00 00 80 3f 00 00 00 00 01 01 61 00 01");
}

TEST(Binary, RoundTripsEveryProtocolInTheTree) {
  expect_round_trip(arena::server_message{sample()});
  expect_round_trip(arena::server_message{arena::input{0, -1}});
  using sm = chat_protocol_v3::server_message;
  expect_round_trip(sm{v2::message{"zoë 😀", "line\nbreak", 1732600000000, "lobby", 42, "e1"}});
  expect_round_trip(sm{v2::presence_diff{"lobby", {"ada", "bob"}, {"cy"}, 3}});
  expect_round_trip(sm{v3::refreshed{1765000000}});
  expect_round_trip(sm{v3::refreshed{std::nullopt}});
  expect_round_trip(chat_protocol_v3::client_message{v2::resume{"lobby", "e1", 41}});
  using sm4 = chat_protocol_v4::server_message;
  expect_round_trip(sm4{v4::token_expiring{1765000000, 60}});
  expect_round_trip(sm4{v3::refreshed{1765000000}});
  using sm5 = chat_protocol_v5::server_message;
  expect_round_trip(sm5{v5::members{"lobby", {"ada", "bob"}, 5000, "bob"}});
  expect_round_trip(sm5{v5::members{"lobby", {}, 0, std::nullopt}});
  expect_round_trip(sm5{v5::presence_summary{"lobby", {"ada"}, 5000, 100}});
  expect_round_trip(chat_protocol_v5::client_message{v5::list_members{"lobby", "ada", 100}});
  expect_round_trip(chat_protocol_v5::client_message{v5::list_members{"lobby", std::nullopt, 1}});
  ticker::quotes q{5, {{"ACME", 12.5, 100, ticker::side::buy, false}, {"INIT", 99.0, 0, std::nullopt, true}}};
  expect_round_trip(ticker::protocol::server_message{q});
}

TEST(Binary, ExtremesOfEveryNumberType) {
  arena::snapshot s{std::numeric_limits<std::uint64_t>::max() >> 1, {}};
  arena::entity e;
  e.id = std::numeric_limits<std::uint32_t>::max();
  e.x = std::numeric_limits<float>::max();
  e.y = -std::numeric_limits<float>::denorm_min();
  e.tags = {std::numeric_limits<std::int16_t>::min(), std::numeric_limits<std::int16_t>::max(), 0, -1};
  e.detail = arena::stats{1000, -std::numeric_limits<double>::max()};
  s.entities.push_back(e);
  expect_round_trip(arena::server_message{s});
}

TEST(Binary, SmallerThanJson) {
  const arena::snapshot s = sample();
  const std::string json = encode(s), bin = encode_binary<arena::server_message>(s);
  EXPECT_LT(bin.size() * 3, json.size()) << bin.size() << " binary bytes vs " << json.size() << " JSON bytes";
}

// ---- errors: the same codes and paths as JSON ---------------------------------

template <class Variant>
decode_error error_of(std::string_view bytes) {
  auto r = decode_binary<Variant>(bytes);
  EXPECT_FALSE(r.ok()) << hex(bytes) << " decoded";
  return r.ok() ? decode_error{} : r.error();
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}

TEST(Binary, EveryTruncationIsRefusedAndNeverOverReads) {
  const std::string full = encode_binary<arena::server_message>(sample());
  for (std::size_t n = 0; n < full.size(); ++n) {
    // A copy of exactly n bytes: a sanitizer catches any read past it.
    const std::string cut = full.substr(0, n);
    const auto e = error_of<arena::server_message>(cut);
    EXPECT_EQ(e.code, decode_errc::truncated) << n << " bytes: " << e.detail;
  }
}

TEST(Binary, TrailingBytesUnknownIndexAndOversize) {
  std::string full = encode_binary<arena::server_message>(arena::input{1, 1});
  EXPECT_EQ(error_of<arena::server_message>(full + '\0').code, decode_errc::trailing_bytes);
  const auto unknown = error_of<arena::server_message>(bytes({2}));
  EXPECT_EQ(unknown.code, decode_errc::unknown_type);
  EXPECT_EQ(unknown.path, "type");
  EXPECT_EQ(error_of<arena::server_message>(std::string(max_json_bytes + 1, '\0')).code,
            decode_errc::document_too_long);
}

TEST(Binary, RulesGiveTheJsonCodesAndPaths) {
  // input.dx = 2 (zigzag 4): out of its [-1, 1] rule.
  auto e = error_of<arena::server_message>(bytes({0, 4, 0}));
  EXPECT_EQ(e.code, decode_errc::out_of_range);
  EXPECT_EQ(e.path, "dx");
  EXPECT_EQ(e.expected, "an integer in [-1, 1]");

  arena::snapshot s = sample();
  std::string good = encode_binary<arena::server_message>(s);
  // The second entity's kind: position 1 (bot) -> 3, past the enum.
  s.entities[1].what = static_cast<arena::kind>(7);
  std::string bad = encode_binary<arena::server_message>(s);
  e = error_of<arena::server_message>(bad);
  EXPECT_EQ(e.code, decode_errc::bad_enum);
  EXPECT_EQ(e.path, "entities[1].what");

  s = sample();
  s.entities[0].detail->hp = 1001;
  e = error_of<arena::server_message>(encode_binary<arena::server_message>(s));
  EXPECT_EQ(e.code, decode_errc::out_of_range);
  EXPECT_EQ(e.path, "entities[0].detail.hp");

  s = sample();
  s.entities[0].name = std::string(17, 'n');
  e = error_of<arena::server_message>(encode_binary<arena::server_message>(s));
  EXPECT_EQ(e.code, decode_errc::too_long);
  EXPECT_EQ(e.path, "entities[0].name");
  s.entities[0].name = "";
  EXPECT_EQ(error_of<arena::server_message>(encode_binary<arena::server_message>(s)).code, decode_errc::empty_value);

  s = sample();
  s.entities[0].tags.assign(9, 1);
  e = error_of<arena::server_message>(encode_binary<arena::server_message>(s));
  EXPECT_EQ(e.code, decode_errc::too_long);
  EXPECT_EQ(e.path, "entities[0].tags");

  s = sample();
  s.entities[0].name = std::string("a\xff", 2);
  e = error_of<arena::server_message>(encode_binary<arena::server_message>(s));
  EXPECT_EQ(e.code, decode_errc::invalid_utf8);
  EXPECT_EQ(e.path, "entities[0].name");

  s = sample();
  s.entities[0].x = std::numeric_limits<float>::quiet_NaN();
  e = error_of<arena::server_message>(encode_binary<arena::server_message>(s));
  EXPECT_EQ(e.code, decode_errc::out_of_range);
  EXPECT_EQ(e.path, "entities[0].x");
  s.entities[0].x = std::numeric_limits<float>::infinity();
  EXPECT_EQ(error_of<arena::server_message>(encode_binary<arena::server_message>(s)).code, decode_errc::out_of_range);
}

TEST(Binary, MalformedNumbersBooleansAndBitmaps) {
  // A varint with a needless zero byte (1 written as 81 00).
  EXPECT_EQ(error_of<arena::server_message>(bytes({0, 0x81, 0x00, 0})).code, decode_errc::wrong_type);
  // Over 64 bits.
  EXPECT_EQ(error_of<arena::server_message>(bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02})).code,
            decode_errc::out_of_range);
  // A boolean of 2: the last byte of a bot entity.
  std::string s = encode_binary<arena::server_message>(arena::snapshot{1, {arena::entity{}}});
  s.back() = 2;
  EXPECT_EQ(error_of<arena::server_message>(s).code, decode_errc::wrong_type);
  // A bitmap bit past the two optional fields.
  s = encode_binary<arena::server_message>(arena::snapshot{1, {arena::entity{}}});
  s[3] = 0x04;
  const auto e = error_of<arena::server_message>(s);
  EXPECT_EQ(e.code, decode_errc::wrong_type);
  EXPECT_EQ(e.path, "entities[0]");
}

TEST(Binary, AHugeCountIsRefusedBeforeAnyAllocation) {
  // snapshot, tick 1, then 2^62 entities in a few bytes.
  const auto e = error_of<arena::server_message>(
      bytes({1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40}));
  EXPECT_EQ(e.code, decode_errc::too_long);  // over max_items (1000)
  // Under max_items but more than the bytes left: truncated, no reserve.
  EXPECT_EQ(error_of<arena::server_message>(bytes({1, 1, 0xe7, 0x07})).code, decode_errc::truncated);
  // A string claiming 2^40 bytes.
  EXPECT_EQ(error_of<ticker::protocol::client_message>(bytes({0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20})).code,
            decode_errc::truncated);
}

// Mutated encodings: never a crash; whatever decodes is canonical (its
// encoding is the input, byte for byte).
TEST(Binary, MutatedBytesDecodeCanonicallyOrNotAtAll) {
  std::mt19937 rng(12345);
  const std::string seeds[] = {
      encode_binary<arena::server_message>(sample()),
      encode_binary(chat_protocol_v3::server_message{v2::message{"ada", "hi", 1, "lobby", 2, "e"}}),
      encode_binary(ticker::protocol::server_message{ticker::quotes{5, {{"ACME", 12.5, 100, ticker::side::buy, false}}}}),
  };
  int decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string m = seeds[round % 3];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !m.empty(); ++k) {
      const std::size_t at = rng() % m.size();
      switch (rng() % 4) {
        case 0: m[at] = static_cast<char>(rng()); break;
        case 1: m.erase(at, 1); break;
        case 2: m.insert(at, 1, static_cast<char>(rng())); break;
        default: m[at] = static_cast<char>(m[at] ^ (1 << (rng() % 8))); break;
      }
    }
    const auto check = [&](auto variant_tag) {
      using V = decltype(variant_tag);
      auto r = decode_binary<V>(m);
      if (!r) {
        EXPECT_FALSE(r.error().detail.empty());
        return;
      }
      ++decoded;
      EXPECT_EQ(hex(encode_binary(*r)), hex(m));
    };
    check(arena::server_message{});
    check(chat_protocol_v3::server_message{});
    check(ticker::protocol::server_message{});
  }
  EXPECT_GT(decoded, 100);  // the mutations also reach values that decode
}

}  // namespace
}  // namespace duplex::schema
