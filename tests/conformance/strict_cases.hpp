// Autobahn's "strict" expectation, shared by the server and client suites:
// when one TCP segment brings valid messages and then a protocol violation,
// the endpoint answers every message before the violation (its replies go
// out), and only then fails the connection with the violation's close code.
// Nothing after the violation is acted on (no Pong for a later Ping).
// Autobahn marks an endpoint that fails without those replies NON-STRICT;
// these cases mirror 3.2-3.4, 4.1.3-4.1.5, 4.2.3-4.2.5 and 5.15, with the
// whole sequence in one write, plus the other violations a later frame can
// carry (fragmented control, bad continuation, invalid UTF-8, too big).
#pragma once

#include "wire.hpp"

#include <string>
#include <utility>
#include <vector>

namespace conformance {

struct strict_case {
  const char* id;
  std::string bytes;                                     // one write
  std::vector<std::pair<unsigned, std::string>> echoes;  // expected replies, in order
  std::uint16_t code;                                    // then this Close
};

// `masked`: frames as a client sends them (for the server suite), else as a
// server does (for the client suite). `limit`: the endpoint's max message size.
inline std::vector<strict_case> strict_cases(bool masked, std::size_t limit) {
  auto f = [masked](unsigned op, std::string_view p, frame_options o = {}) {
    o.masked = masked;
    return frame(op, p, o);
  };
  const std::string hello = "Hello, world!";
  const std::string hi = f(opc::text, hello), ping = f(opc::ping, hello);
  const std::string bad_utf8 = std::string("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", 14);  // 6.4-style, a surrogate
  std::vector<strict_case> v;
  const std::vector<std::pair<unsigned, std::string>> one{{opc::text, hello}};
  // 3.2-3.4: RSV2, RSV3 (3.3 sends frame by frame, 3.4 chopped: one write here) and RSV1 without an extension.
  v.push_back({"3_2_rsv2", hi + f(opc::text, hello, {.rsv = 2}) + ping, one, 1002});
  v.push_back({"3_3_rsv3", hi + f(opc::text, hello, {.rsv = 3}) + ping, one, 1002});
  v.push_back({"3_4_rsv4", hi + f(opc::text, hello, {.rsv = 4}) + ping, one, 1002});
  // 4.1.3-4.1.5: reserved data opcodes; 4.2.3-4.2.5: reserved control opcodes.
  v.push_back({"4_1_3_op5", hi + f(5, "") + ping, one, 1002});
  v.push_back({"4_1_4_op6", hi + f(6, "reserved opcode payload") + ping, one, 1002});
  v.push_back({"4_1_5_op7", hi + f(7, "reserved opcode payload") + ping, one, 1002});
  v.push_back({"4_2_3_op13", hi + f(13, "") + ping, one, 1002});
  v.push_back({"4_2_4_op14", hi + f(14, "reserved opcode payload") + ping, one, 1002});
  v.push_back({"4_2_5_op15", hi + f(15, "reserved opcode payload") + ping, one, 1002});
  // 5.15: a fragmented message, then a continuation that starts nothing.
  v.push_back({"5_15_stray_continuation",
               f(opc::text, "fragment1", {.fin = false}) + f(opc::cont, "fragment2") +
                   f(opc::cont, "fragment3", {.fin = false}) + f(opc::text, "fragment4"),
               {{opc::text, "fragment1fragment2"}},
               1002});
  // extra: several messages (both kinds, the fast path and the 16-bit length) before the violation.
  const std::string big = pattern(300, false);
  v.push_back({"x_1_three_then_rsv2", hi + f(opc::binary, big) + f(opc::text, "third") + f(opc::binary, "x", {.rsv = 2}),
               {{opc::text, hello}, {opc::binary, big}, {opc::text, "third"}},
               1002});
  // extra: the other violations a later frame can carry.
  v.push_back({"x_2_fragmented_ping", hi + f(opc::ping, "p", {.fin = false}) + ping, one, 1002});
  v.push_back({"x_3_long_ping", hi + f(opc::ping, std::string(126, 'p')), one, 1002});
  v.push_back({"x_4_new_message_inside_fragmented",
               hi + f(opc::text, "a", {.fin = false}) + f(opc::text, "b"), one, 1002});
  v.push_back({"x_5_invalid_utf8_later", hi + f(opc::text, bad_utf8) + ping, one, 1007});
  v.push_back({"x_6_invalid_utf8_in_fragment", hi + f(opc::text, bad_utf8, {.fin = false}), one, 1007});
  v.push_back({"x_7_too_big_later", hi + f(opc::binary, "", {.declared_length = limit + 1}), one, 1009});
  v.push_back({"x_8_bad_close_code", hi + f(opc::close, close_payload(999)), one, 1002});
  v.push_back({"x_9_wrong_masking", hi + frame(opc::text, hello, {.masked = !masked}), one, 1002});
  return v;
}

}  // namespace conformance
