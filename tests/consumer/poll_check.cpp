// A user's protocol (examples/template/poll.hpp) decoded with the installed duplex::schema, compiled by
// run.cmake with the consumer's own flags (with and without -pthread, at -O0
// and -O2, NDEBUG unset). Its decoder comes from libduplex_schema's
// thread_decoder(), compiled with ours: any flag that changed simdjson's
// layout between the two crashed here (parser::unescape on an escaped string).
#include "poll.hpp"

#include <duplex/schema/codec.hpp>

#include <iostream>

int main() {
  using namespace duplex::schema;
  int failures = 0;
  auto check = [&](bool ok, const char* what) {
    if (!ok) {
      std::cout << "FAILED: " << what << "\n";
      ++failures;
    }
  };
  for (int round = 0; round < 1000; ++round) {
    auto v = decode_client<live_poll::protocol>(
        R"({"type":"vote","voter":"caf\u00e9 \"ada\"","choice":"maybe","weight":3,"comment":"line\nbreak \ud83d\ude00"})");
    check(v.ok(), "a valid vote decodes");
    if (!v) break;
    const auto& m = std::get<live_poll::vote>(*v);
    check(m.voter == "caf\xC3\xA9 \"ada\"", "escaped voter");
    check(m.choice == live_poll::mood::maybe && m.weight == 3, "choice and weight");
    check(m.comment && *m.comment == "line\nbreak \xF0\x9F\x98\x80", "escaped comment");
  }
  auto bad = decode_client<live_poll::protocol>(R"({"type":"vote","voter":"x","choice":"yes","weight":9})");
  check(!bad && bad.error().code == decode_errc::out_of_range && bad.error().path == "weight", "weight 9 refused");
  auto bad_enum = decode_client<live_poll::protocol>(R"({"type":"vote","voter":"x","choice":"perhaps"})");
  check(!bad_enum && bad_enum.error().code == decode_errc::bad_enum, "unknown choice refused");
  live_poll::tally t{"lunch?", {{live_poll::mood::yes, 2}, {live_poll::mood::no, 1}}};
  auto back = decode_server<live_poll::protocol>(encode(t));
  check(back.ok() && std::get<live_poll::tally>(*back).counts.size() == 2, "tally round trip");
  auto too_many = decode_server<live_poll::protocol>(
      R"({"type":"tally","question":"q","counts":[{"choice":"yes","votes":1},{"choice":"no","votes":1},{"choice":"maybe","votes":1},{"choice":"yes","votes":1}]})");
  check(!too_many && too_many.error().code == decode_errc::too_long, "four counts refused");
  if (failures) return 1;
  std::cout << "poll decode ok\n";
  return 0;
}
