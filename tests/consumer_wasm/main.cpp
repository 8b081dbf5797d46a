// The user's protocol (../consumer/poll.hpp) through the installed
// duplex::schema compiled with em++, run under Node by run.cmake, which
// checks these lines (and the fingerprint against the native generator's).
#include "poll.hpp"

#include <duplex/schema/codec.hpp>

#include <iostream>

int main() {
  using namespace duplex::schema;
  std::cout << "fingerprint " << subprotocol_name<live_poll::protocol>() << " "
            << fingerprint_hex(fingerprint<live_poll::protocol>()) << "\n";

  auto v = decode_client<live_poll::protocol>(
      R"({"type":"vote","voter":"caf\u00e9 \"ada\"","choice":"maybe","weight":3,"comment":"line\nbreak \ud83d\ude00"})");
  if (!v) {
    std::cout << "vote refused\n";
    return 1;
  }
  const auto& m = std::get<live_poll::vote>(*v);
  const bool fields_ok = m.voter == "caf\xC3\xA9 \"ada\"" && m.choice == live_poll::mood::maybe && m.weight == 3 &&
                         m.comment && *m.comment == "line\nbreak \xF0\x9F\x98\x80";
  std::cout << "vote " << (fields_ok ? "fields ok" : "fields WRONG") << "\n";
  std::cout << "vote encoded " << encode(*v) << "\n";

  auto bad = decode_client<live_poll::protocol>(R"({"type":"vote","voter":"x","choice":"yes","weight":9})");
  std::cout << "weight 9: " << (bad ? "accepted" : "refused at " + bad.error().path) << "\n";
  auto bad_enum = decode_client<live_poll::protocol>(R"({"type":"vote","voter":"x","choice":"perhaps"})");
  std::cout << "choice perhaps: "
            << (!bad_enum && bad_enum.error().code == decode_errc::bad_enum ? "refused (bad_enum)" : "WRONG") << "\n";

  const live_poll::tally t{"lunch?", {{live_poll::mood::yes, 2}, {live_poll::mood::no, 1}}};
  const std::string json = encode(t);
  std::cout << "tally encoded " << json << "\n";
  auto back = decode_server<live_poll::protocol>(json);
  std::cout << "tally round trip " << (back && std::get<live_poll::tally>(*back).counts.size() == 2 ? "ok" : "WRONG")
            << "\n";
  return fields_ok ? 0 : 1;
}
