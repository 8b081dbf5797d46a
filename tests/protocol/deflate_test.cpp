#include <duplex/protocol/deflate.hpp>

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

using namespace duplex::protocol;
using duplex::errc;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

std::string hex(std::string_view s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x ", c);
    out += buf;
  }
  return out;
}

deflate_options on(deflate_options o = {}) {
  o.enabled = true;
  return o;
}

// Options with context takeover in both directions (the RFC's default).
deflate_options takeover(deflate_options o = {}) {
  o.enabled = true;
  o.server_no_context_takeover = false;
  o.client_no_context_takeover = false;
  return o;
}

std::optional<deflate_params> server_params(std::string_view offer, const deflate_options& o = takeover()) {
  auto r = negotiate_server(offer, o);
  if (!r) return std::nullopt;
  return r->first;
}

std::string server_response(std::string_view offer, const deflate_options& o = takeover()) {
  auto r = negotiate_server(offer, o);
  return r ? r->second : "<declined>";
}

// English-like text (compressible) and random bytes (not).
std::string text(std::size_t n, unsigned seed = 1) {
  static const char* words[] = {"the",  "quick",  "brown", "fox",    "jumps", "over",  "lazy",
                                "dog",  "socket", "frame", "deflate", "window", "message", "server",
                                "client", "buffer", "close", "ping",  "pong",  "bytes"};
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < n) {
    s += words[rng() % 20];
    s += rng() % 9 ? ' ' : '\n';
  }
  s.resize(n);
  return s;
}

std::string random_bytes(std::size_t n, unsigned seed = 2) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string chat_message(std::mt19937& rng, long long time) {
  static const char* names[] = {"ada", "grace", "linus", "ken", "barbara"};
  static const char* words[] = {"hello", "world", "the",   "meeting", "is",    "at",    "noon",
                                "can",   "you",   "send",  "me",      "file",  "thanks", "ok",
                                "see",   "later", "lunch", "today",   "great", "idea",  "sure"};
  std::string s = R"({"type":"message","from":")";
  s += names[rng() % 5];
  s += R"(","text":")";
  const int n = 3 + static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += words[rng() % 21];
  }
  s += R"(","time":)" + std::to_string(time) + "}";
  return s;
}

struct inflated {
  std::error_code ec;
  std::string data;
};

// Feeds `payload` in `pieces` fragments.
inflated inflate_message(inflater& inf, std::string_view payload, std::size_t max = SIZE_MAX,
                         std::size_t pieces = 1) {
  inflated r;
  const std::size_t step = pieces > 1 ? payload.size() / pieces + 1 : payload.size();
  std::size_t at = 0;
  do {
    const auto part = payload.substr(at, step);
    at += part.size();
    r.ec = inf.feed(part, at >= payload.size(), r.data, max);
    if (r.ec) break;
  } while (at < payload.size());
  return r;
}

std::string compress(deflater& d, std::string_view msg) {
  std::string out;
  d.compress(msg, out);
  return out;
}

// Raw zlib: `level`, windowBits, memLevel; message ended with a sync flush (tail kept).
struct zlib_deflate {
  z_stream z{};
  zlib_deflate(int level, int bits, int mem = 8) {
    EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, -bits, mem, Z_DEFAULT_STRATEGY), Z_OK);
  }
  ~zlib_deflate() { deflateEnd(&z); }
  std::string run(std::string_view in, int flush) {
    std::string out(in.size() + in.size() / 2 + 128, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_NE(deflate(&z, flush), Z_STREAM_ERROR);
    EXPECT_EQ(z.avail_in, 0u);
    out.resize(out.size() - z.avail_out);
    return out;
  }
};

const std::string sync_tail = bytes({0x00, 0x00, 0xff, 0xff});

bool ends_with_tail(std::string_view s) { return s.size() >= 4 && s.substr(s.size() - 4) == sync_tail; }

}  // namespace

// ---------------------------------------------------------------- offers

TEST(DeflateNegotiation, OfferFromDefaults) {
  EXPECT_EQ(make_offer({}), "");  // not enabled
  EXPECT_EQ(make_offer(on()),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits");
  EXPECT_EQ(make_offer(takeover()), "permessage-deflate; client_max_window_bits");
}

TEST(DeflateNegotiation, OfferWithLimits) {
  auto o = takeover();
  o.server_max_window_bits = 10;
  o.client_max_window_bits = 12;
  EXPECT_EQ(make_offer(o), "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12");
  o.server_max_window_bits = 3;  // clamped to 8
  o.client_max_window_bits = 99;  // clamped to 15
  EXPECT_EQ(make_offer(o), "permessage-deflate; server_max_window_bits=8; client_max_window_bits");
}

// ---------------------------------------------------------------- server side

TEST(DeflateNegotiation, ServerAcceptsPlainOffer) {
  auto r = negotiate_server("permessage-deflate", takeover());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, (deflate_params{15, 15, false, false}));
  EXPECT_EQ(r->second, "permessage-deflate");
  // Defaults: no context takeover either way, said in the response even unasked.
  r = negotiate_server("permessage-deflate", on());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, (deflate_params{15, 15, true, true}));
  EXPECT_EQ(r->second, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
}

TEST(DeflateNegotiation, ServerDisabledDeclinesEverything) {
  EXPECT_FALSE(negotiate_server("permessage-deflate", deflate_options{}));
}

TEST(DeflateNegotiation, ServerHonoursNoContextTakeoverRequests) {
  auto r = negotiate_server("permessage-deflate; server_no_context_takeover; client_no_context_takeover", takeover());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, (deflate_params{15, 15, true, true}));
  EXPECT_EQ(r->second, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  EXPECT_EQ(server_response("permessage-deflate; client_no_context_takeover"),
            "permessage-deflate; client_no_context_takeover");
}

TEST(DeflateNegotiation, ServerMaxWindowBits) {
  // Offered: the server uses at most that and echoes it (even 15).
  EXPECT_EQ(server_response("permessage-deflate; server_max_window_bits=10"),
            "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(server_params("permessage-deflate; server_max_window_bits=10")->server_max_window_bits, 10);
  EXPECT_EQ(server_response("permessage-deflate; server_max_window_bits=15"),
            "permessage-deflate; server_max_window_bits=15");
  // The server may use less than offered...
  auto o = takeover();
  o.server_max_window_bits = 9;
  EXPECT_EQ(server_response("permessage-deflate; server_max_window_bits=12", o),
            "permessage-deflate; server_max_window_bits=9");
  // ...and says so even when not asked (RFC 7692 §7.1.2.1).
  EXPECT_EQ(server_response("permessage-deflate", o), "permessage-deflate; server_max_window_bits=9");
  EXPECT_EQ(server_params("permessage-deflate", o)->server_max_window_bits, 9);
  // 8 is accepted (deflated with zlib's 9, whose distances stay within 250).
  EXPECT_EQ(server_response("permessage-deflate; server_max_window_bits=8"),
            "permessage-deflate; server_max_window_bits=8");
}

TEST(DeflateNegotiation, ClientMaxWindowBits) {
  // Chrome's offer: valueless; the server with 15 need not answer it.
  EXPECT_EQ(server_response("permessage-deflate; client_max_window_bits"), "permessage-deflate");
  EXPECT_EQ(server_params("permessage-deflate; client_max_window_bits")->client_max_window_bits, 15);
  // With a value: the client will use at most that; no need to answer.
  EXPECT_EQ(server_response("permessage-deflate; client_max_window_bits=12"), "permessage-deflate");
  EXPECT_EQ(server_params("permessage-deflate; client_max_window_bits=12")->client_max_window_bits, 12);
  // A server that wants less answers with its limit.
  auto o = takeover();
  o.client_max_window_bits = 10;
  EXPECT_EQ(server_response("permessage-deflate; client_max_window_bits", o),
            "permessage-deflate; client_max_window_bits=10");
  EXPECT_EQ(server_response("permessage-deflate; client_max_window_bits=12", o),
            "permessage-deflate; client_max_window_bits=10");
  EXPECT_EQ(server_response("permessage-deflate; client_max_window_bits=9", o), "permessage-deflate");
  EXPECT_EQ(server_params("permessage-deflate; client_max_window_bits=9", o)->client_max_window_bits, 9);
  // A client that did not offer the parameter may use 15: declined.
  EXPECT_FALSE(negotiate_server("permessage-deflate", o));
  EXPECT_EQ(server_params("permessage-deflate; client_max_window_bits=8")->client_max_window_bits, 8);
}

TEST(DeflateNegotiation, QuotedValues) {
  EXPECT_EQ(server_response(R"(permessage-deflate; server_max_window_bits="10")"),
            "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(server_params(R"(permessage-deflate; client_max_window_bits="9")")->client_max_window_bits, 9);
  // quoted-pair escapes are undone before the value is checked.
  EXPECT_EQ(server_params(R"(permessage-deflate; server_max_window_bits="1\1")")->server_max_window_bits, 11);
  EXPECT_FALSE(negotiate_server(R"(permessage-deflate; server_max_window_bits="")", takeover()));
  EXPECT_FALSE(negotiate_server(R"(permessage-deflate; server_max_window_bits="1 0")", takeover()));
  EXPECT_FALSE(negotiate_server(R"(permessage-deflate; server_max_window_bits="10)", takeover()));
  // A comma inside quotes does not split the list.
  EXPECT_EQ(server_response(R"(permessage-deflate; server_max_window_bits="1,0", permessage-deflate; client_max_window_bits)"),
            "permessage-deflate");
}

TEST(DeflateNegotiation, SyntaxAndCase) {
  EXPECT_EQ(server_response("PerMessage-Deflate; Server_No_Context_Takeover"),
            "permessage-deflate; server_no_context_takeover");
  EXPECT_EQ(server_params("  permessage-deflate ;\tserver_max_window_bits = 10 ; client_max_window_bits ")
                ->server_max_window_bits,
            10);
  EXPECT_EQ(server_response(" , ,permessage-deflate,,"), "permessage-deflate");
}

TEST(DeflateNegotiation, FirstAcceptableOfSeveralOffersInOneHeader) {
  auto r = negotiate_server(
      "permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=10; "
      "client_max_window_bits, permessage-deflate",
      takeover());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, (deflate_params{10, 15, false, false}));
  EXPECT_EQ(r->second, "permessage-deflate; server_max_window_bits=10");
}

TEST(DeflateNegotiation, OffersAcrossHeaders) {
  const std::string_view values[] = {"x-webkit-deflate-frame, foo; bar=1",
                                     "permessage-deflate; unknown_param",
                                     "permessage-deflate; client_max_window_bits=11; server_no_context_takeover",
                                     "permessage-deflate"};
  auto r = negotiate_server(std::span<const std::string_view>(values), takeover());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, (deflate_params{15, 11, true, false}));
  EXPECT_EQ(r->second, "permessage-deflate; server_no_context_takeover");

  http_request req;
  ASSERT_EQ(parse_request("GET / HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Extensions: foo\r\n"
                          "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=13\r\n\r\n",
                          req)
                .status,
            parse_status::complete);
  auto h = negotiate_server(req.headers, takeover());
  ASSERT_TRUE(h);
  EXPECT_EQ(h->first.client_max_window_bits, 13);
  http_request none;
  ASSERT_EQ(parse_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", none).status, parse_status::complete);
  EXPECT_FALSE(negotiate_server(none.headers, takeover()));
}

TEST(DeflateNegotiation, MalformedOrUnsupportedOffersAreDeclined) {
  const char* bad[] = {
      "permessage-deflate; foo",                                           // unknown param
      "permessage-deflate; foo=1",                                         //
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",  // duplicate
      "permessage-deflate; client_no_context_takeover; client_no_context_takeover",  //
      "permessage-deflate; client_max_window_bits; client_max_window_bits=10",       //
      "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",    //
      "permessage-deflate; server_no_context_takeover=1",                  // value not allowed
      "permessage-deflate; client_no_context_takeover=true",               //
      "permessage-deflate; server_max_window_bits",                        // value required
      "permessage-deflate; server_max_window_bits=7",                      // out of range
      "permessage-deflate; server_max_window_bits=16",                     //
      "permessage-deflate; server_max_window_bits=0",                      //
      "permessage-deflate; server_max_window_bits=08",                     // leading zero
      "permessage-deflate; server_max_window_bits=010",                    //
      "permessage-deflate; server_max_window_bits=1a",                     //
      "permessage-deflate; server_max_window_bits=-9",                     //
      "permessage-deflate; client_max_window_bits=16",                     //
      "permessage-deflate; client_max_window_bits=",                       // syntax
      "permessage-deflate;",                                               //
      "permessage-deflate;; client_max_window_bits",                       //
      "permessage-deflate; =10",                                           //
      "permessage-deflate client_max_window_bits",                         //
      "permessage-deflate; client_max_window_bits=10=",                    //
      "permessage-deflate; client_max_window_bits 10",                     //
      "permessage-deflate/1",                                              //
  };
  for (const char* offer : bad) {
    SCOPED_TRACE(offer);
    EXPECT_FALSE(negotiate_server(offer, takeover()));
    EXPECT_FALSE(negotiate_server(offer, on()));
    // A later good offer is still taken.
    auto r = negotiate_server(std::string(offer) + ", permessage-deflate; client_max_window_bits=9", takeover());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, (deflate_params{15, 9, false, false}));
  }
  // An unterminated quote swallows the rest of the header value, but not other headers.
  EXPECT_FALSE(negotiate_server(R"(permessage-deflate; x="a, permessage-deflate)", takeover()));
  const std::string_view values[] = {R"(permessage-deflate; x="a, permessage-deflate)", "permessage-deflate"};
  EXPECT_TRUE(negotiate_server(std::span<const std::string_view>(values), takeover()));
}

// ---------------------------------------------------------------- client side

TEST(DeflateNegotiation, ClientAcceptsValidResponses) {
  EXPECT_EQ(accept_client("permessage-deflate", takeover()), (deflate_params{15, 15, false, false}));
  EXPECT_EQ(accept_client("permessage-deflate; server_no_context_takeover; client_no_context_takeover", on()),
            (deflate_params{15, 15, true, true}));
  // Unasked but allowed: a smaller server window, server_no_context_takeover,
  // client_no_context_takeover, a client window (we always offer the parameter).
  EXPECT_EQ(accept_client("permessage-deflate; server_max_window_bits=10", takeover()),
            (deflate_params{10, 15, false, false}));
  EXPECT_EQ(accept_client("permessage-deflate; server_no_context_takeover", takeover()),
            (deflate_params{15, 15, true, false}));
  EXPECT_EQ(accept_client("permessage-deflate; client_no_context_takeover", takeover()),
            (deflate_params{15, 15, false, true}));
  EXPECT_EQ(accept_client(R"(permessage-deflate; client_max_window_bits="9")", takeover()),
            (deflate_params{15, 9, false, false}));
  EXPECT_EQ(accept_client("permessage-deflate; server_max_window_bits=8; client_max_window_bits=8", takeover()),
            (deflate_params{8, 8, false, false}));
  // We honour our own client_no_context_takeover even if the server omits it.
  auto o = on();
  o.server_no_context_takeover = false;
  EXPECT_EQ(accept_client("permessage-deflate", o), (deflate_params{15, 15, false, true}));
  // Our limits, answered within.
  o = takeover();
  o.server_max_window_bits = 12;
  o.client_max_window_bits = 11;
  EXPECT_EQ(accept_client("permessage-deflate; server_max_window_bits=12", o), (deflate_params{12, 11, false, false}));
  EXPECT_EQ(accept_client("permessage-deflate; server_max_window_bits=9; client_max_window_bits=10", o),
            (deflate_params{9, 10, false, false}));
  // Several header lines holding one element.
  const std::string_view lines[] = {"", "permessage-deflate; server_max_window_bits=12"};
  EXPECT_EQ(accept_client(std::span<const std::string_view>(lines), o), (deflate_params{12, 11, false, false}));
}

TEST(DeflateNegotiation, ClientRejectsInvalidResponses) {
  auto limited = takeover();
  limited.server_max_window_bits = 12;
  limited.client_max_window_bits = 11;
  struct bad_case {
    const char* response;
    deflate_options offered;
  };
  const bad_case cases[] = {
      {"", takeover()},                                                                  // no element
      {"permessage-deflate, permessage-deflate", takeover()},                            // two elements
      {"permessage-deflate; server_no_context_takeover, permessage-deflate", takeover()},  //
      {"x-foo", takeover()},                                                             // not offered
      {"permessage-deflate, x-foo", takeover()},                                         //
      {"permessage-deflate; foo", takeover()},                                           // unknown param
      {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", takeover()},  // duplicate
      {"permessage-deflate; client_max_window_bits=10; client_max_window_bits=10", takeover()},    //
      {"permessage-deflate; client_no_context_takeover=1", takeover()},                  // value not allowed
      {"permessage-deflate; client_max_window_bits", takeover()},                        // value required
      {"permessage-deflate; server_max_window_bits", takeover()},                        //
      {"permessage-deflate; server_max_window_bits=16", takeover()},                     // range
      {"permessage-deflate; server_max_window_bits=7", takeover()},                      //
      {"permessage-deflate; client_max_window_bits=07", takeover()},                     //
      {"permessage-deflate; server_max_window_bits=13", limited},                        // above our offer
      {"permessage-deflate", limited},                                                   // our limit ignored
      {"permessage-deflate; server_max_window_bits=12; client_max_window_bits=12", limited},  // above ours
      {"permessage-deflate", on()},  // we asked for server_no_context_takeover
      {"permessage-deflate;", takeover()},                                               // syntax
      {R"(permessage-deflate; server_max_window_bits="10)", takeover()},                 //
      {"permessage-deflate", deflate_options{}},                                         // we never offered
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.response);
    EXPECT_FALSE(accept_client(c.response, c.offered));
  }
}

TEST(DeflateNegotiation, OfferNegotiateAcceptAgree) {
  // The server's agreed params and the client's reading of the response match.
  std::vector<deflate_options> clients, servers;
  for (int bits : {8, 10, 15})
    for (bool nct : {false, true}) {
      auto o = takeover();
      o.server_max_window_bits = bits;
      o.client_max_window_bits = 23 - bits;
      o.server_no_context_takeover = nct;
      o.client_no_context_takeover = !nct;
      clients.push_back(o);
      servers.push_back(o);
    }
  servers.push_back(on());
  int agreed = 0;
  for (const auto& c : clients)
    for (const auto& s : servers) {
      const std::string offer = make_offer(c);
      SCOPED_TRACE(offer);
      auto r = negotiate_server(offer, s);
      if (!r) continue;
      ++agreed;
      auto p = accept_client(r->second, c);
      ASSERT_TRUE(p) << r->second;
      EXPECT_EQ(*p, r->first) << r->second;
    }
  // Our offer always has client_max_window_bits, so no server declines it.
  EXPECT_EQ(agreed, static_cast<int>(clients.size() * servers.size()));
}

// ---------------------------------------------------------------- compression

TEST(DeflateCompression, Rfc7692HelloExamples) {
  // §7.2.3.1 and §7.2.3.2: "Hello", then "Hello" again sharing the window.
  const deflate_params p{15, 15, false, false};
  deflater d(p, role::server, takeover());
  EXPECT_EQ(hex(compress(d, "Hello")), hex(bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})));
  EXPECT_EQ(hex(compress(d, "Hello")), hex(bytes({0xf2, 0x00, 0x11, 0x00, 0x00})));

  inflater inf(p, role::client);
  EXPECT_EQ(inflate_message(inf, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})).data, "Hello");
  EXPECT_EQ(inflate_message(inf, bytes({0xf2, 0x00, 0x11, 0x00, 0x00})).data, "Hello");
  // §7.2.3.3: a stored block.
  EXPECT_EQ(inflate_message(inf, bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f})).data, "Hello");
  // §7.2.3.5: two blocks in one message.
  auto two = inflate_message(inf, bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}));
  EXPECT_FALSE(two.ec);
  EXPECT_EQ(two.data, "Hello");
  // §7.2.3.6: the empty message.
  EXPECT_EQ(compress(d, ""), bytes({0x00}));
  auto empty = inflate_message(inf, bytes({0x00}));
  EXPECT_FALSE(empty.ec);
  EXPECT_EQ(empty.data, "");
  // The window survived all of that.
  EXPECT_EQ(inflate_message(inf, compress(d, "Hello")).data, "Hello");
}

TEST(DeflateCompression, Rfc7692BfinalBlockThenSharedWindow) {
  // §7.2.3.4: "Hello" in a BFINAL block followed by an octet of a new block header.
  const deflate_params p{15, 15, false, false};
  inflater inf(p, role::client);
  auto r = inflate_message(inf, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}));
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.data, "Hello");
  // The next message, from a peer deflating a new stream over the same window.
  zlib_deflate z(6, 15);
  ASSERT_EQ(deflateSetDictionary(&z.z, reinterpret_cast<const Bytef*>("Hello"), 5), Z_OK);
  std::string next = z.run("Hello, Hello", Z_SYNC_FLUSH);
  ASSERT_TRUE(ends_with_tail(next));
  next.resize(next.size() - 4);
  r = inflate_message(inf, next);
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.data, "Hello, Hello");
  // Without takeover that back-reference points at nothing: an error.
  inflater fresh(deflate_params{15, 15, true, true}, role::client);
  EXPECT_EQ(inflate_message(fresh, next).ec, errc::protocol_error);
}

TEST(DeflateCompression, TrailingSyncTailIsRemoved) {
  // Same zlib settings as the takeover deflater (window 15, memLevel from options).
  auto o = takeover();
  o.mem_level = 8;
  deflater d(deflate_params{}, role::client, o);
  zlib_deflate z(6, 15, 8);
  for (const std::string& msg : {text(100), text(5000, 3), random_bytes(300)}) {
    const std::string ours = compress(d, msg);
    const std::string theirs = z.run(msg, Z_SYNC_FLUSH);
    ASSERT_TRUE(ends_with_tail(theirs));
    EXPECT_EQ(ours + sync_tail, theirs);
  }
}

TEST(DeflateCompression, InteropWithZlibStreams) {
  // Data from another deflater: level 9, several flushes inside one message,
  // a full flush, a stored block (level 0).
  const std::string msg = text(50000, 9);
  for (int level : {0, 1, 9}) {
    zlib_deflate z(level, 15);
    std::string payload = z.run(std::string_view(msg).substr(0, 20000), Z_SYNC_FLUSH);
    payload += z.run(std::string_view(msg).substr(20000, 10000), Z_FULL_FLUSH);
    payload += z.run(std::string_view(msg).substr(30000), Z_SYNC_FLUSH);
    ASSERT_TRUE(ends_with_tail(payload));
    payload.resize(payload.size() - 4);
    inflater inf(deflate_params{}, role::server);
    auto r = inflate_message(inf, payload, SIZE_MAX, 7);
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.data, msg) << "level " << level;
  }
}

TEST(DeflateCompression, RoundTripsOfManySizes) {
  const std::size_t sizes[] = {0, 1, 100, 64 * 1024, 1024 * 1024};
  for (bool takeover_on : {false, true})
    for (role sender : {role::client, role::server}) {
      const deflate_options o = takeover_on ? takeover() : on();
      const deflate_params p = takeover_on ? deflate_params{} : deflate_params{15, 15, true, true};
      const role receiver = sender == role::client ? role::server : role::client;
      deflater d(p, sender, o);
      inflater inf(p, receiver);
      EXPECT_EQ(d.context_takeover(), takeover_on);
      EXPECT_EQ(inf.context_takeover(), takeover_on);
      for (std::size_t n : sizes)
        for (int kind = 0; kind < 2; ++kind) {
          const std::string msg = kind ? random_bytes(n, static_cast<unsigned>(n)) : text(n, static_cast<unsigned>(n));
          SCOPED_TRACE(testing::Message() << "takeover " << takeover_on << " size " << n << " random " << kind);
          const std::string c = compress(d, msg);
          EXPECT_FALSE(ends_with_tail(c) && n > 0);
          if (kind == 1) {
            EXPECT_LE(c.size(), n + n / 100 + 16);  // incompressible: stored blocks of ~1 KiB at memLevel 4
          }
          // Without takeover, decode whole and in three fragments; with, once
          // per message (the window moves on), fragmented for random data.
          std::vector<std::size_t> splits{1, 3};
          if (takeover_on) splits = {kind ? std::size_t{3} : std::size_t{1}};
          for (std::size_t pieces : splits) {
            auto r = inflate_message(inf, c, SIZE_MAX, pieces);
            ASSERT_FALSE(r.ec) << r.ec.message();
            ASSERT_EQ(r.data.size(), msg.size());
            EXPECT_TRUE(r.data == msg);
          }
          if (!takeover_on) {
            EXPECT_EQ(d.memory(), 0u);
            EXPECT_EQ(inf.memory(), 0u);
          } else {
            EXPECT_GT(inf.memory(), 0u);
          }
        }
    }
}

TEST(DeflateCompression, ContextTakeoverShrinksRepeats) {
  const std::string msg = text(2000, 5);
  deflater with(deflate_params{}, role::server, takeover());
  const std::string first = compress(with, msg);
  const std::string second = compress(with, msg);
  EXPECT_LT(second.size() * 10, first.size()) << first.size() << " then " << second.size();
  inflater inf(deflate_params{}, role::client);
  EXPECT_EQ(inflate_message(inf, first).data, msg);
  EXPECT_EQ(inflate_message(inf, second).data, msg);

  // Without: every message stands alone, byte for byte the same.
  deflater without(deflate_params{15, 15, true, true}, role::server, on());
  const std::string a = compress(without, msg);
  EXPECT_EQ(compress(without, msg), a);
  EXPECT_GT(a.size(), second.size() * 10);
  // Our own option turns takeover off even when the peer would allow it.
  auto o = takeover();
  o.server_no_context_takeover = true;
  EXPECT_FALSE(deflater(deflate_params{}, role::server, o).context_takeover());
  EXPECT_TRUE(deflater(deflate_params{}, role::client, o).context_takeover());
}

TEST(DeflateCompression, FragmentedCompression) {
  const std::string msg = text(100000, 11);
  for (bool takeover_on : {false, true}) {
    SCOPED_TRACE(takeover_on);
    const deflate_params p = takeover_on ? deflate_params{} : deflate_params{15, 15, true, true};
    deflater d(p, role::client, takeover_on ? takeover() : on());
    inflater inf(p, role::server);
    for (int round = 0; round < 2; ++round) {
      std::vector<std::string> frames;
      for (std::size_t at = 0; at < msg.size(); at += 30000) {
        frames.emplace_back();
        d.compress_fragment(std::string_view(msg).substr(at, 30000), false, frames.back());
      }
      frames.emplace_back();
      d.compress_fragment({}, true, frames.back());  // an empty last part
      EXPECT_FALSE(ends_with_tail(frames.back()));
      std::string out;
      for (std::size_t i = 0; i < frames.size(); ++i)
        ASSERT_FALSE(inf.feed(frames[i], i + 1 == frames.size(), out, SIZE_MAX));
      EXPECT_TRUE(out == msg);
    }
    // Interleaved with whole messages, and an all-empty fragmented message.
    EXPECT_EQ(inflate_message(inf, compress(d, "after")).data, "after");
    std::string e1, e2;
    d.compress_fragment({}, false, e1);
    d.compress_fragment({}, true, e2);
    EXPECT_EQ(e1 + e2, bytes({0x00}));
    std::string out;
    EXPECT_FALSE(inf.feed(e1, false, out, SIZE_MAX));
    EXPECT_FALSE(inf.feed(e2, true, out, SIZE_MAX));
    EXPECT_EQ(out, "");
    // compress() in the middle of a fragmented message is a caller bug.
    std::string x;
    d.compress_fragment("part", false, x);
    EXPECT_THROW(d.compress("whole", x), std::logic_error);
    d.compress_fragment("", true, x);
    EXPECT_EQ(inflate_message(inf, x).data, "part");
  }
}

TEST(DeflateCompression, EmptyCompressedPayloadIsTheEmptyMessage) {
  deflater d(deflate_params{}, role::server, takeover());
  inflater inf(deflate_params{}, role::client);
  EXPECT_EQ(inflate_message(inf, compress(d, "Hello")).data, "Hello");
  auto r = inflate_message(inf, "");
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.data, "");
  EXPECT_EQ(inflate_message(inf, compress(d, "Hello")).data, "Hello");
}

TEST(DeflateCompression, WindowBits8) {
  // The deflater uses zlib windowBits 9 for 8; its output must decode with a
  // strict 256-byte window. zlib only checks distances against the window
  // when they reach behind the current output buffer, so inflate one byte at
  // a time. Control: zlib's windowBits 10 fails that check.
  const deflate_params p{8, 8, false, false};
  deflater d(p, role::server, takeover());
  std::string all, payload;
  std::mt19937 rng(4);
  for (int i = 0; i < 50; ++i) {
    const std::string msg = chat_message(rng, 1712345678901 + i) + text(300, static_cast<unsigned>(i % 3));
    all += msg;
    std::string c = compress(d, msg);
    payload += c + sync_tail;  // what the receiving side inflates
  }
  auto strict = [](const std::string& stream, std::string& out) {
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, -8), Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(stream.data()));
    z.avail_in = static_cast<uInt>(stream.size());
    int rc = Z_OK;
    while (rc == Z_OK && z.avail_in) {
      unsigned char b;
      z.next_out = &b;
      z.avail_out = 1;
      rc = inflate(&z, Z_SYNC_FLUSH);
      if (z.avail_out == 0) out.push_back(static_cast<char>(b));
    }
    inflateEnd(&z);
    return rc;
  };
  std::string out;
  EXPECT_EQ(strict(payload, out), Z_OK);
  EXPECT_TRUE(out == all);
  zlib_deflate z10(6, 10);
  std::string out10;
  EXPECT_EQ(strict(z10.run(all, Z_SYNC_FLUSH), out10), Z_DATA_ERROR);

  // And our inflater with an 8-bit window reads it.
  deflater d2(p, role::client, takeover());
  inflater inf(p, role::server);
  for (int i = 0; i < 5; ++i) {
    const std::string msg = text(3000, static_cast<unsigned>(i % 2));
    EXPECT_EQ(inflate_message(inf, compress(d2, msg)).data, msg);
  }
}

TEST(DeflateCompression, DecompressionBombStopsAtTheLimit) {
  const std::size_t limit = 1024 * 1024;
  const std::string zeros(10 * 1000 * 1000, '\0');
  deflater d(deflate_params{}, role::client, takeover());
  const std::string bomb = compress(d, zeros);
  std::printf("[   INFO   ] 10 MB of zeros compress to %zu bytes\n", bomb.size());
  EXPECT_LT(bomb.size(), 20000u);
  for (std::size_t pieces : {1, 10}) {
    inflater inf(deflate_params{}, role::server);
    std::string out;
    auto r = inflate_message(inf, bomb, limit, pieces);
    EXPECT_EQ(r.ec, errc::message_too_big);
    EXPECT_LE(r.data.size(), limit);
    EXPECT_LE(r.data.capacity(), limit);  // never allocated past the limit
    std::printf("[   INFO   ] bomb in %zu piece(s): stopped with %zu bytes out, capacity %zu\n", pieces,
                r.data.size(), r.data.capacity());
  }
  // Exactly at the limit is fine; one byte over is not.
  const std::string exact(limit, 'x');
  deflater d2(deflate_params{15, 15, true, true}, role::client, on());
  const std::string c = compress(d2, exact);
  inflater a(deflate_params{15, 15, true, true}, role::server);
  auto ok = inflate_message(a, c, limit);
  EXPECT_FALSE(ok.ec);
  EXPECT_EQ(ok.data.size(), limit);
  auto over = inflate_message(a, c, limit - 1);
  EXPECT_EQ(over.ec, errc::message_too_big);
  EXPECT_EQ(over.data.size(), limit - 1);
  // Output already past the limit.
  std::string big(10, 'x');
  EXPECT_EQ(a.feed(c, true, big, 5), errc::message_too_big);
  // After the error the inflater starts afresh.
  EXPECT_EQ(inflate_message(a, compress(d2, "fine")).data, "fine");
}

TEST(DeflateCompression, CorruptInputIsAnError) {
  const deflate_params p{15, 15, true, true};
  inflater inf(p, role::server);
  // BTYPE 11 is reserved.
  EXPECT_EQ(inflate_message(inf, bytes({0x07, 0x00})).ec, errc::protocol_error);
  // A stored block whose NLEN is not the complement of LEN.
  EXPECT_EQ(inflate_message(inf, bytes({0x00, 0x05, 0x00, 0x00, 0x00, 'H', 'e', 'l', 'l', 'o'})).ec,
            errc::protocol_error);
  // Random garbage (fails somewhere, never crashes or loops).
  int failed = 0;
  for (unsigned seed = 0; seed < 200; ++seed) {
    auto r = inflate_message(inf, random_bytes(64 + seed, seed), 1 << 20);
    failed += r.ec ? 1 : 0;
  }
  EXPECT_GT(failed, 190);
  // A truncated message does not end on a block boundary.
  deflater d(p, role::client, on());
  const std::string c = compress(d, text(5000, 6));
  auto r = inflate_message(inf, std::string_view(c).substr(0, c.size() - 3));
  EXPECT_EQ(r.ec, errc::protocol_error);
  // Recovers for the next message.
  EXPECT_EQ(inflate_message(inf, c).data, text(5000, 6));
}

TEST(DeflateCompression, MoveOnlyWithNoexceptMoves) {
  static_assert(!std::is_copy_constructible_v<deflater> && !std::is_copy_assignable_v<deflater>);
  static_assert(!std::is_copy_constructible_v<inflater> && !std::is_copy_assignable_v<inflater>);
  static_assert(std::is_nothrow_move_constructible_v<deflater> && std::is_nothrow_move_assignable_v<deflater>);
  static_assert(std::is_nothrow_move_constructible_v<inflater> && std::is_nothrow_move_assignable_v<inflater>);
  // The stream (and its context) moves along.
  deflater d(deflate_params{}, role::server, takeover());
  inflater inf(deflate_params{}, role::client);
  EXPECT_EQ(inflate_message(inf, compress(d, text(1000))).data, text(1000));
  deflater d2 = std::move(d);
  inflater inf2 = std::move(inf);
  const std::string again = compress(d2, text(1000));
  EXPECT_LT(again.size(), 40u);
  EXPECT_EQ(inflate_message(inf2, again).data, text(1000));
  d = std::move(d2);
  EXPECT_EQ(inflate_message(inf2, compress(d, text(1000))).data, text(1000));
}

TEST(DeflateCompression, LevelAndThreshold) {
  auto o = on();
  o.level = 0;  // stored
  deflater stored(deflate_params{15, 15, true, true}, role::server, o);
  const std::string msg = text(1000);
  EXPECT_GT(compress(stored, msg).size(), msg.size());
  deflater normal(deflate_params{15, 15, true, true}, role::server, on());
  EXPECT_LT(compress(normal, msg).size(), msg.size() / 2);
  EXPECT_FALSE(normal.should_compress(63));
  EXPECT_TRUE(normal.should_compress(64));
}

TEST(DeflateMemory, StreamSizesAndIdleCost) {
  // Takeover at window 15: zlib's deflate state is window*4 + (1 << (mem+9)) + ~6 KiB.
  for (int mem : {1, 4, 8}) {
    auto o = takeover();
    o.mem_level = mem;
    deflater d(deflate_params{}, role::server, o);
    EXPECT_EQ(d.memory(), 0u);  // lazy
    compress(d, "x");
    const std::size_t expect = (std::size_t{1} << 17) + (std::size_t{1} << (mem + 9));
    EXPECT_GE(d.memory(), expect);
    EXPECT_LE(d.memory(), expect + 8 * 1024);
    std::printf("[   INFO   ] deflate takeover window 15 memLevel %d: %zu bytes\n", mem, d.memory());
  }
  auto small = takeover();
  small.server_max_window_bits = 11;
  small.mem_level = 2;
  auto r = negotiate_server("permessage-deflate", small);
  ASSERT_TRUE(r);
  deflater d(r->first, role::server, small);
  compress(d, "x");
  std::printf("[   INFO   ] deflate takeover window 11 memLevel 2: %zu bytes\n", d.memory());
  EXPECT_LE(d.memory(), 17u * 1024);

  inflater inf(deflate_params{}, role::server);
  EXPECT_EQ(inf.memory(), 0u);
  deflater c(deflate_params{}, role::client, takeover());
  inflate_message(inf, compress(c, "Hello"));
  std::printf("[   INFO   ] inflate takeover window 15: %zu bytes\n", inf.memory());
  EXPECT_GE(inf.memory(), 32u * 1024);
  EXPECT_LE(inf.memory(), 40u * 1024);

  // Defaults: nothing held between messages.
  auto p = negotiate_server("permessage-deflate; client_max_window_bits", on());
  ASSERT_TRUE(p);
  deflater sd(p->first, role::server, on());
  inflater si(p->first, role::server);
  deflater cd(p->first, role::client, on());
  inflate_message(si, compress(cd, text(5000)));
  compress(sd, text(5000));
  EXPECT_EQ(sd.memory() + si.memory() + cd.memory(), 0u);
}

TEST(DeflateRatio, ChatMessages) {
  std::mt19937 rng(42);
  long long t = 1712345678901;
  std::vector<std::string> msgs;
  std::size_t total = 0;
  for (int i = 0; i < 1000; ++i) {
    msgs.push_back(chat_message(rng, t += rng() % 5000));
    total += msgs.back().size();
  }
  // One typical message, default options.
  const std::string one = R"({"type":"message","from":"ada","text":"are we still on for lunch at noon today?","time":1712345678901})";
  deflater d1(deflate_params{15, 15, true, true}, role::server, on());
  const std::size_t c1 = compress(d1, one).size();
  std::printf("[   INFO   ] one chat message, defaults: %zu -> %zu bytes, ratio %.3f\n", one.size(), c1,
              static_cast<double>(c1) / one.size());
  RecordProperty("chat_one_message_ratio", std::to_string(static_cast<double>(c1) / one.size()));
  EXPECT_LT(c1, one.size());

  struct config {
    const char* name;
    deflate_options options;
  };
  auto preset = [](int bits, int mem) {
    auto o = takeover();
    o.server_max_window_bits = bits;
    o.mem_level = mem;
    return o;
  };
  const config configs[] = {{"defaults (no takeover)", on()},
                            {"takeover, window 11, memLevel 2", preset(11, 2)},
                            {"takeover, window 12, memLevel 4", preset(12, 4)},
                            {"takeover, window 15, memLevel 4", preset(15, 4)}};
  double ratios[4] = {};
  for (int i = 0; i < 4; ++i) {
    auto r = negotiate_server("permessage-deflate; client_max_window_bits", configs[i].options);
    ASSERT_TRUE(r);
    deflater d(r->first, role::server, configs[i].options);
    inflater inf(r->first, role::client);
    std::size_t compressed = 0, held = 0;
    for (const auto& m : msgs) {
      const std::string c = compress(d, m);
      compressed += c.size();
      ASSERT_EQ(inflate_message(inf, c).data, m);
      held = std::max(held, d.memory());
    }
    ratios[i] = static_cast<double>(compressed) / total;
    std::printf("[   INFO   ] 1000 chat messages (avg %zu bytes), %s: ratio %.3f, deflate memory held %zu bytes\n",
                total / msgs.size(), configs[i].name, ratios[i], held);
  }
  RecordProperty("chat_stream_ratio_defaults", std::to_string(ratios[0]));
  EXPECT_LT(ratios[0], 0.95);
  EXPECT_LT(ratios[1], 0.35);
  EXPECT_LT(ratios[3], ratios[1]);
}
