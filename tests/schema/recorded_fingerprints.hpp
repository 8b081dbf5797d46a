// The fingerprint of every released protocol version (name, version,
// fingerprint), as the build computes it from the C++ description. The wire
// format of a released version must not change: if a test says a
// description changed, bump the protocol's version and add a line here with
// the value the test prints. Old lines stay.
#pragma once

#include <cstdint>
#include <string_view>

namespace duplex::schema::testing {

struct recorded_fingerprint {
  std::string_view name;
  unsigned version;
  std::string_view fingerprint;
};

inline constexpr recorded_fingerprint recorded_fingerprints[] = {
    {"chat", 1, "b01e807937c4127c"},
    {"chat", 2, "d520fb300e320340"},
    {"chat", 3, "6547baa53752f805"},
    {"chat", 4, "511e8acedbcc5e73"},
    {"chat", 5, "094f350303b30821"},
    {"ticker", 1, "f56d91953794d39d"},
};

}  // namespace duplex::schema::testing
