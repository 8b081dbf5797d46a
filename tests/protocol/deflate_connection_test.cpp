// permessage-deflate wired into the sans-I/O connection: RSV1 rules, inflate
// before UTF-8 checks, bounded output, and client<->server round trips.
#include <duplex/protocol/connection.hpp>

#include <gtest/gtest.h>

#include <random>
#include <string>

using namespace duplex::protocol;
using kind = event::kind;

namespace {

deflate_options on(bool takeover = false) {
  deflate_options o;
  o.enabled = true;
  o.server_no_context_takeover = !takeover;
  o.client_no_context_takeover = !takeover;
  return o;
}

// A negotiated pair, as the handshake would leave it.
struct pair_of {
  connection client{role::client, 1 << 20}, server{role::server, 1 << 20};
  explicit pair_of(deflate_options o = on()) {
    auto agreed = negotiate_server(make_offer(o), o);
    EXPECT_TRUE(agreed);
    auto params = accept_client(agreed->second, o);
    EXPECT_TRUE(params);
    client.enable_deflate(*params, o);
    server.enable_deflate(agreed->first, o);
  }
};

std::string wire_of(connection& c) {
  output_buffer out;
  c.swap_output(out);
  return std::string(out.view());
}

std::vector<std::string> messages(connection& c, std::string_view bytes, kind* last = nullptr) {
  c.receive_data(bytes);
  std::vector<std::string> out;
  while (auto e = c.next_event()) {
    if (last) *last = e->type;
    if (e->type == kind::text || e->type == kind::binary) out.emplace_back(e->data);
  }
  return out;
}

std::string raw_deflate(std::string_view text) {
  // What a peer's compressor sends: our own deflater without takeover.
  deflate_params p;
  p.server_no_context_takeover = p.client_no_context_takeover = true;
  deflater d(p, role::client, on());
  std::string out;
  d.compress(text, out);
  return out;
}

// A client frame with first byte b0 (FIN, RSV bits, opcode as given).
std::string masked_frame(unsigned b0, std::string_view payload) {
  std::string f;
  const mask_key key{1, 2, 3, 4};
  write_frame_header(f, opcode::text, true, false, payload.size(), true, key);
  f[0] = static_cast<char>(b0);
  std::string body(payload);
  apply_mask(reinterpret_cast<unsigned char*>(body.data()), body.size(), key, 0);
  return f + body;
}

}  // namespace

TEST(DeflateConnection, RoundTripsManySizesBothWays) {
  std::mt19937 rng(7);
  for (bool takeover : {false, true}) {
    pair_of p(on(takeover));
    for (std::size_t n : {0u, 1u, 63u, 64u, 100u, 1000u, 70000u, 500000u}) {
      std::string json;
      while (json.size() < n) json += R"({"type":"message","from":"ada","text":"hello there","time":1732600000000})";
      json.resize(n);
      std::string random(n, '\0');
      for (auto& c : random) c = static_cast<char>(rng());
      ASSERT_TRUE(p.client.send(opcode::text, json));
      ASSERT_TRUE(p.client.send(opcode::binary, random));
      auto got = messages(p.server, wire_of(p.client));
      ASSERT_EQ(got.size(), 2u) << n;
      EXPECT_EQ(got[0], json);
      EXPECT_EQ(got[1], random);
      ASSERT_TRUE(p.server.send(opcode::text, json));
      auto back = messages(p.client, wire_of(p.server));
      ASSERT_EQ(back.size(), 1u);
      EXPECT_EQ(back[0], json);
    }
  }
}

TEST(DeflateConnection, CompressesAboveTheThresholdWithRsv1OnTheFirstFrameOnly) {
  pair_of p;
  const std::string big(1000, 'a');
  ASSERT_TRUE(p.server.send(opcode::text, big));
  const std::string wire = wire_of(p.server);
  EXPECT_EQ(static_cast<unsigned char>(wire[0]), 0xC1);  // FIN | RSV1 | text
  EXPECT_LT(wire.size(), 100u);
  ASSERT_TRUE(p.server.send(opcode::text, "tiny"));  // under the 64-byte threshold
  EXPECT_EQ(static_cast<unsigned char>(wire_of(p.server)[0]), 0x81);
  ASSERT_TRUE(p.server.ping("x"));
  EXPECT_EQ(static_cast<unsigned char>(wire_of(p.server)[0]), 0x89);  // control frames never compressed
}

TEST(DeflateConnection, InflatesFragmentedCompressedMessages) {
  pair_of p;
  const std::string text = std::string(3000, 'x') + "\xC3\xA9 end";
  const std::string z = raw_deflate(text);
  const std::size_t cut = z.size() / 2;
  auto got = messages(p.server, masked_frame(0x41, z.substr(0, cut)) + masked_frame(0x89, "ping") +
                                    masked_frame(0x80, z.substr(cut)));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], text);
}

TEST(DeflateConnection, Rsv1RulesFailWith1002) {
  for (const std::string& bytes : {
           masked_frame(0x01, "a") + masked_frame(0xC0, raw_deflate("b")),  // RSV1 on a continuation
           masked_frame(0xC9, ""),                                          // RSV1 on a ping
           masked_frame(0xA1, "x"),                                         // RSV2 never allowed
       }) {
    pair_of p;
    kind last{};
    messages(p.server, bytes, &last);
    EXPECT_EQ(last, kind::failed);
    EXPECT_EQ(p.server.get_state(), state::closed);
  }
  connection plain(role::server);  // not negotiated: RSV1 anywhere is an error
  kind last{};
  messages(plain, masked_frame(0xC1, raw_deflate("hello")), &last);
  EXPECT_EQ(last, kind::failed);
}

TEST(DeflateConnection, BombStopsAtTheLimitWith1009) {
  connection server(role::server, 64 * 1024);
  auto o = on();
  auto agreed = negotiate_server(make_offer(o), o);
  server.enable_deflate(agreed->first, o);
  const std::string zeros(10 * 1024 * 1024, '\0');
  server.receive_data(masked_frame(0xC2, raw_deflate(zeros)));
  auto e = server.next_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, kind::failed);
  EXPECT_EQ(e->code, 1009);
}

TEST(DeflateConnection, CorruptDataAndBadInflatedUtf8FailWith1007) {
  {
    pair_of p;
    kind last{};
    messages(p.server, masked_frame(0xC1, "\xFF\xFF\xFF\xFF garbage"), &last);
    EXPECT_EQ(last, kind::failed);
    EXPECT_EQ(p.server.get_state(), state::closed);
  }
  pair_of p;
  p.server.receive_data(masked_frame(0xC1, raw_deflate(std::string(200, 'a') + "\xED\xA0\x80")));
  auto e = p.server.next_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, kind::failed);
  EXPECT_EQ(e->code, 1007);
}

TEST(DeflateConnection, SharedCompressionKeyOnlyWithoutTakeover) {
  pair_of a, b;
  EXPECT_NE(a.server.shared_compression_key(), 0u);
  EXPECT_EQ(a.server.shared_compression_key(), b.server.shared_compression_key());
  pair_of t(on(true));
  EXPECT_EQ(t.server.shared_compression_key(), 0u);
}
