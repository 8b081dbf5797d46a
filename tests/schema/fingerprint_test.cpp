// A protocol's description may not change under the same version: the
// fingerprint compiled into this build (native or WASM) must be the one
// recorded for its version.
#include "recorded_fingerprints.hpp"
#include "test_support.hpp"

#include <duplex/schema/describe.hpp>

#include <string>

namespace duplex::schema {
namespace {

template <protocol P>
::testing::AssertionResult matches_record() {
  const std::string now = fingerprint_hex(fingerprint<P>());
  for (const auto& r : testing::recorded_fingerprints) {
    if (r.name != P::name || r.version != P::version) continue;
    if (r.fingerprint == now) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "the description of " << P::name << " v" << P::version << " changed (fingerprint " << now
           << ", recorded " << r.fingerprint << "): bump its version and record {\"" << P::name << "\", "
           << P::version + 1 << ", \"" << now << "\"} in tests/schema/recorded_fingerprints.hpp";
  }
  return ::testing::AssertionFailure() << P::name << " v" << P::version << " has no recorded fingerprint: add {\""
                                       << P::name << "\", " << P::version << ", \"" << now
                                       << "\"} to tests/schema/recorded_fingerprints.hpp";
}

TEST(Fingerprint, ChatMatchesItsRecordedVersion) { EXPECT_TRUE(matches_record<chat_protocol>()); }
TEST(Fingerprint, ChatV2MatchesItsRecordedVersion) { EXPECT_TRUE(matches_record<chat_protocol_v2>()); }
TEST(Fingerprint, ChatV3MatchesItsRecordedVersion) { EXPECT_TRUE(matches_record<chat_protocol_v3>()); }
TEST(Fingerprint, ChatV4MatchesItsRecordedVersion) { EXPECT_TRUE(matches_record<chat_protocol_v4>()); }
TEST(Fingerprint, ChatV5MatchesItsRecordedVersion) { EXPECT_TRUE(matches_record<chat_protocol_v5>()); }

struct chat_v2 : chat_protocol {
  static constexpr unsigned version = 2;
};
struct only_join {
  static constexpr std::string_view name = "chat";
  static constexpr unsigned version = 1;
  using client_message = std::variant<join>;
  using server_message = chat_protocol::server_message;
};

TEST(Fingerprint, ChangesWithTheDescriptionButNotWithTheVersion) {
  EXPECT_EQ(fingerprint<chat_v2>(), fingerprint<chat_protocol>());
  EXPECT_NE(fingerprint<only_join>(), fingerprint<chat_protocol>());
  EXPECT_FALSE(matches_record<only_join>());
}

}  // namespace
}  // namespace duplex::schema
