// Deterministic mutation fuzzing: whatever bytes arrive, decode returns a
// value or a well-formed error, never crashes, and anything it accepts
// survives encode -> decode unchanged.
#include "test_support.hpp"

#include <array>
#include <cstdint>
#include <ios>
#include <string_view>
#include <string>
#include <vector>

namespace duplex::schema {
namespace {

// splitmix64: tiny, fast and identical on every platform, so a failure
// reproduces from its iteration number alone.
class rng {
 public:
  explicit rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t s_;
};

std::vector<std::string> seeds() {
  return {
      encode(join{"ada"}),
      encode(chat{"hello \"world\"\n\xC3\xA9\xF0\x9F\x8C\x8D"}),
      encode(message{"ada", "hi there", 1732600000000}),
      encode(message{"b\xC3\xB6""b", "x", -42}),
      encode(presence{{"ada", "bob", "\xE4\xB8\xAD"}}),
      encode(presence{}),
      encode(joined{"bob"}),
      encode(left{"bob"}),
      encode(error{"name_taken", "the name ada is in use"}),
      R"({"type":"chat","meta":{"a":[1,2.5e-3,true,null,{"b":"\u00e9"}]},"text":"x"})",
      R"({"t\u0079pe":"join","name":"\ud83c\udf0d"})",
  };
}

// Bytes that matter to a JSON parser or a UTF-8 validator.
constexpr std::array<char, 30> interesting = {
    '{', '}', '[', ']', '"', ':', ',', '\\', 'u', '0', '1', '9', '-', '.', 'e', 't', 'n', ' ', '\n', '\0',
    '\x01', '\x1f', '\x7f', '\x80', '\xBF', '\xC0', '\xC3', '\xE2', '\xED', '\xFF'};

std::string mutate(std::string s, rng& r, const std::vector<std::string>& corpus) {
  const int edits = 1 + static_cast<int>(r.below(2));
  for (int i = 0; i < edits; ++i) {
    const std::size_t pos = r.below(s.size() + 1);
    switch (r.below(7)) {
      // One rng call per statement: the order of calls within one
      // expression may differ between g++ and em++, and the digest below
      // needs both builds to see the same inputs.
      case 0: {  // flip a bit
        if (s.empty()) break;
        const std::size_t at = r.below(s.size());
        s[at] = static_cast<char>(s[at] ^ (1u << r.below(8)));
        break;
      }
      case 1:  // insert an interesting byte
        s.insert(pos, 1, interesting[r.below(interesting.size())]);
        break;
      case 2: {  // overwrite with an interesting byte
        if (s.empty()) break;
        const std::size_t at = r.below(s.size());
        s[at] = interesting[r.below(interesting.size())];
        break;
      }
      case 3:  // delete a range
        s.erase(pos, r.below(8));
        break;
      case 4:  // truncate
        s.resize(pos);
        break;
      case 5: {  // duplicate a slice of itself
        const std::size_t from = r.below(s.size() + 1);
        s.insert(pos, s.substr(from, r.below(16)));
        break;
      }
      default: {  // splice in part of another seed
        const std::string& other = corpus[r.below(corpus.size())];
        const std::size_t from = r.below(other.size() + 1);
        s.insert(pos, other.substr(from, r.below(other.size() + 1)));
        break;
      }
    }
  }
  return s;
}

// Checks one decode result; returns false (with a gtest failure) if broken.
template <class Result, class Decode>
bool well_formed(const Result& r, Decode decode, const std::string& input, int iteration) {
  if (r.ok()) {
    // Accepted values re-encode to canonical JSON that decodes to the same value.
    const std::string again = encode(*r);
    const auto r2 = decode(again);
    EXPECT_TRUE(r2.ok()) << "iteration " << iteration << ": re-encoded form rejected: " << again;
    if (!r2.ok()) return false;
    EXPECT_TRUE(*r2 == *r) << "iteration " << iteration << ": " << again;
    EXPECT_TRUE(testing::is_valid_utf8(again)) << "iteration " << iteration;
    return r2.ok() && *r2 == *r;
  }
  const decode_error& e = r.error();
  const int code = static_cast<int>(e.code);
  const bool ok = code >= static_cast<int>(decode_errc::invalid_json) &&
                  code <= static_cast<int>(decode_errc::bad_character) && !e.detail.empty() &&
                  testing::is_valid_utf8(e.detail) && testing::is_valid_utf8(e.path);
  EXPECT_TRUE(ok) << "iteration " << iteration << ": bad error " << code << " '" << e.detail << "' for input of "
                  << input.size() << " bytes";
  return ok;
}

constexpr int iterations = 4000;

const auto client_decoder = [](std::string_view j) { return decode<client_message>(j); };
const auto server_decoder = [](std::string_view j) { return decode<server_message>(j); };

// FNV-1a over every verdict, so the two builds (simdjson 3.0.1 with SIMD
// kernels natively, 3.9.4's portable kernel in WASM) can be held to the same
// answers: the server and the browser must agree on what is valid.
class digest {
 public:
  void add_bytes(std::string_view s) {
    for (unsigned char c : s) h_ = (h_ ^ c) * 0x100000001B3ull;
    h_ = (h_ ^ 0xFF) * 0x100000001B3ull;  // separator
  }
  template <class Result>
  void add(const Result& r) {
    if (r.ok()) {
      add_bytes(encode(*r));
    } else {
      add_bytes(to_string(r.error().code));
      add_bytes(r.error().path);
    }
  }
  std::uint64_t value() const { return h_; }

 private:
  std::uint64_t h_ = 0xCBF29CE484222325ull;
};

// Update when the decoder's rules, the seeds or the mutator change on purpose
// (the failure message prints the new value); it must then be the same in
// the native and the WASM run.
constexpr std::uint64_t expected_digest = 0xa4473807ff5c5d90ull;

TEST(DecodeFuzz, MutatedMessagesNeverCrashAndAlwaysAnswer) {
  const auto corpus = seeds();
  rng r(20241126);
  int accepted = 0;
  int rejected = 0;
  digest verdicts;
  for (int i = 0; i < iterations; ++i) {
    const std::string input = mutate(corpus[r.below(corpus.size())], r, corpus);
    const auto c = decode<client_message>(input);
    const auto s = decode<server_message>(input);
    verdicts.add(c);
    verdicts.add(s);
    ASSERT_TRUE(well_formed(c, client_decoder, input, i));
    ASSERT_TRUE(well_formed(s, server_decoder, input, i));
    // Syntax and UTF-8 verdicts don't depend on the direction.
    if (!c.ok() && (c.error().code == decode_errc::invalid_json || c.error().code == decode_errc::invalid_utf8)) {
      ASSERT_FALSE(s.ok()) << "iteration " << i;
      EXPECT_EQ(s.error().code, c.error().code) << "iteration " << i << ": " << input;
    }
    (c.ok() || s.ok()) ? ++accepted : ++rejected;
  }
  // The mutator must exercise both outcomes, or this test proves little.
  EXPECT_GT(accepted, iterations / 50);
  EXPECT_GT(rejected, iterations / 2);
  EXPECT_EQ(verdicts.value(), expected_digest) << "0x" << std::hex << verdicts.value();
}

TEST(DecodeFuzz, RandomBytesNeverCrash) {
  rng r(7);
  for (int i = 0; i < iterations; ++i) {
    std::string input(r.below(64), '\0');
    for (char& c : input) c = static_cast<char>(r.next());
    if (r.below(2)) input.insert(0, "{\"type\":");
    ASSERT_TRUE(well_formed(decode<client_message>(input), client_decoder, input, i));
    ASSERT_TRUE(well_formed(decode<server_message>(input), server_decoder, input, i));
  }
}

}  // namespace
}  // namespace duplex::schema
