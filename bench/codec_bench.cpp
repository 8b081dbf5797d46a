// codec_bench: throughput of the chat schema codec alone
// (duplex::schema::decode<client_message> / decode<server_message> / encode: the generic
// codec on the chat's description, server/chat_protocol.hpp) against the hand-written chat decoder it
// replaced (bench/handwritten, same simdjson), on a fixed set of
// realistic chat messages (bench/codec_messages.jsonl, one JSON message a
// line; codec_bench.mjs runs JSON.parse/JSON.stringify on the same lines).
// Builds natively and with em++ (run under Node). Prints one JSON line.
//   codec_bench [--messages FILE] [--seconds S] [--label TEXT]
#include <chat_protocol.hpp>

#include "handwritten/codec.hpp"  // the hand-written chat decoder the generic one replaced: the baseline

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#ifndef DUPLEX_BENCH_MESSAGES
#define DUPLEX_BENCH_MESSAGES "codec_messages.jsonl"
#endif

namespace {

using clk = std::chrono::steady_clock;
namespace schema = duplex::schema;
namespace wire = duplex::chat::wire;  // the chat's messages (server/chat_protocol.hpp) as the sample

struct rate {
  double msgs_per_s = 0;
  double mb_per_s = 0;  // JSON bytes (input for decode, output for encode), 10^6 bytes
};

volatile std::size_t sink;

// Runs `pass` (one pass over the set, returns the bytes it handled) until
// `seconds` have gone by; the first pass is a warm-up.
template <class Pass>
rate measure(std::size_t msgs_per_pass, double seconds, Pass&& pass) {
  sink = sink + pass();
  std::size_t passes = 0, bytes = 0;
  const auto start = clk::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  auto now = start;
  do {
    bytes += pass();
    ++passes;
    now = clk::now();
  } while (now < until);
  const double s = std::chrono::duration<double>(now - start).count();
  return {static_cast<double>(passes * msgs_per_pass) / s, static_cast<double>(bytes) / s / 1e6};
}

std::string json_rate(const rate& r) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(1);
  o << "{\"msgs_per_s\":" << r.msgs_per_s << ",\"mb_per_s\":" << r.mb_per_s << "}";
  return o.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string file = DUPLEX_BENCH_MESSAGES;
  double seconds = 1.0;
#ifdef __EMSCRIPTEN__
  std::string label = "duplex-wasm";
#else
  std::string label = "duplex-native";
#endif
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--messages") file = argv[i + 1];
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--label") label = argv[i + 1];
  }
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "codec_bench: cannot read %s\n", file.c_str());
    return 1;
  }
  std::vector<std::string> client_json, server_json;
  std::vector<wire::client_message> client_msgs;
  std::vector<wire::server_message> server_msgs;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (auto c = schema::decode<wire::client_message>(line)) {
      client_json.push_back(line);
      client_msgs.push_back(std::move(*c));
    } else if (auto s = schema::decode<wire::server_message>(line)) {
      server_json.push_back(line);
      server_msgs.push_back(std::move(*s));
    } else {
      std::fprintf(stderr, "codec_bench: neither a client nor a server message: %s (%s)\n", line.c_str(),
                   s.error().detail.c_str());
      return 1;
    }
  }
  // Round trip check: encode must give back the input (the set is written compact).
  for (std::size_t i = 0; i < client_msgs.size(); ++i)
    if (schema::encode(client_msgs[i]) != client_json[i])
      std::fprintf(stderr, "codec_bench: note: encode differs from input for %s\n", client_json[i].c_str());
  for (std::size_t i = 0; i < server_msgs.size(); ++i)
    if (schema::encode(server_msgs[i]) != server_json[i])
      std::fprintf(stderr, "codec_bench: note: encode differs from input for %.80s\n", server_json[i].c_str());

  auto decode_client_pass = [&] {
    std::size_t b = 0;
    for (const auto& j : client_json) {
      auto r = schema::decode<wire::client_message>(j);
      b += j.size();
      sink = sink + r.ok();
    }
    return b;
  };
  auto decode_server_pass = [&] {
    std::size_t b = 0;
    for (const auto& j : server_json) {
      auto r = schema::decode<wire::server_message>(j);
      b += j.size();
      sink = sink + r.ok();
    }
    return b;
  };
  auto encode_pass = [&] {
    std::size_t b = 0;
    for (const auto& m : client_msgs) b += schema::encode(m).size();
    for (const auto& m : server_msgs) b += schema::encode(m).size();
    return b;
  };
  auto handwritten_pass = [&] {
    std::size_t b = 0;
    for (const auto& j : client_json) {
      auto r = duplex::handwritten::decode_client(j);
      b += j.size();
      sink = sink + r.ok();
    }
    for (const auto& j : server_json) {
      auto r = duplex::handwritten::decode_server(j);
      b += j.size();
      sink = sink + r.ok();
    }
    return b;
  };
  for (const auto& j : client_json)
    if (!duplex::handwritten::decode_client(j)) std::fprintf(stderr, "codec_bench: baseline rejects %s\n", j.c_str());
  for (const auto& j : server_json)
    if (!duplex::handwritten::decode_server(j)) std::fprintf(stderr, "codec_bench: baseline rejects %.80s\n", j.c_str());
  const std::size_t nc = client_json.size(), ns = server_json.size();
  const rate dc = measure(nc, seconds, decode_client_pass);
  const rate ds = measure(ns, seconds, decode_server_pass);
  // Generic and hand-written interleaved, three rounds each; the best round
  // of each (the least disturbed by other load on the machine).
  rate dall, hand;
  for (int round = 0; round < 3; ++round) {
    const rate g = measure(nc + ns, seconds, [&] { return decode_client_pass() + decode_server_pass(); });
    const rate h = measure(nc + ns, seconds, handwritten_pass);
    if (g.msgs_per_s > dall.msgs_per_s) dall = g;
    if (h.msgs_per_s > hand.msgs_per_s) hand = h;
  }
  const rate enc = measure(nc + ns, seconds, encode_pass);

  std::cout << "{\"impl\":\"" << label << "\",\"messages\":" << nc + ns << ",\"client_messages\":" << nc
            << ",\"server_messages\":" << ns << ",\"decode\":" << json_rate(dall)
            << ",\"decode_client\":" << json_rate(dc) << ",\"decode_server\":" << json_rate(ds)
            << ",\"decode_handwritten\":" << json_rate(hand) << ",\"encode\":" << json_rate(enc) << "}" << std::endl;
}
