// duplex::channel<Protocol> end to end, native client against native server:
// version negotiation (newest first, highest shared wins, no shared version
// -> 4406 with a reason), typed reads and decode errors, broadcast encoding.
#include <chat_protocol.hpp>

#include <duplex/net/channel.hpp>
#include <duplex/net/client.hpp>

#include "test_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <variant>
#include <vector>

using duplex::test::run_client;
using duplex::test::test_server;
namespace schema = duplex::schema;
namespace wire = duplex::chat::wire;

namespace {

// The chat as this build speaks it (whatever its version), and the next
// version of it, as a newer page would speak it.
using chat_v1 = wire::chat_protocol;
struct chat_v2 : chat_v1 {
  static constexpr unsigned version = chat_v1::version + 1;
};
static_assert(schema::protocol<chat_v2>);
const std::string current = schema::subprotocol_name<chat_v1>();

// Echoes every chat back as a message from "echo"; answers bad input with an
// error naming the decode error's code and path.
asio::awaitable<void> serve(duplex::websocket ws) {
  auto ch = co_await duplex::channel<chat_v1>::accept(std::move(ws));
  if (!ch) co_return;
  while (auto in = co_await ch->read()) {
    if (!*in) {
      ch->post(wire::error{std::string(schema::to_string(in->error().code)), in->error().path});
      continue;
    }
    if (auto* c = std::get_if<wire::chat>(&**in)) {
      const wire::message reply{"echo", c->text, 7};
      co_await ch->send(reply);
    } else {
      // A broadcast: encoded once, the same bytes for every recipient.
      const auto prepared = duplex::channel<chat_v1>::prepare(wire::joined{std::get<wire::join>(**in).name});
      ch->post(prepared);
    }
  }
}

test_server chat_server() {
  return test_server({}, [](duplex::server& s) { s.websocket("/chat", serve, duplex::protocol_endpoint<chat_v1>()); });
}

}  // namespace

TEST(Channel, TypedRoundTripAndTypedDecodeErrors) {
  auto srv = chat_server();
  run_client([&]() -> asio::awaitable<void> {
    // Options in statements of their own: GCC 12 mishandles temporaries in a co_await.
    duplex::connect_options co;
    co.subprotocols = duplex::offered_subprotocols<chat_v1>();
    auto ws = co_await duplex::connect(srv.ws_url("/chat"), co);
    EXPECT_EQ(ws.subprotocol(), current);
    auto ch = co_await duplex::channel<chat_v1, duplex::side::client>::accept(std::move(ws));
    EXPECT_TRUE(ch.has_value());
    if (!ch) co_return;
    const wire::chat hello{"hello"};
    co_await ch->send(hello);
    auto r = co_await ch->read();
    EXPECT_TRUE(r && *r);
    if (r && *r) EXPECT_EQ(std::get<wire::message>(**r), (wire::message{"echo", "hello", 7}));

    const wire::join ada{"ada"};
    co_await ch->send(ada);
    r = co_await ch->read();
    EXPECT_TRUE(r && *r && std::get<wire::joined>(**r).name == "ada");

    // Bad input reaches the server's typed error path with code and path.
    const std::string bad = R"({"type":"chat","text":7})";
    co_await ch->socket().send(bad);
    r = co_await ch->read();
    EXPECT_TRUE(r && *r);
    if (r && *r) EXPECT_EQ(std::get<wire::error>(**r), (wire::error{"wrong_type", "text"}));
    co_await ch->socket().send("binary", true);
    r = co_await ch->read();
    if (r && *r) EXPECT_EQ(std::get<wire::error>(**r).code, "wrong_type");
    co_await ch->close();
  });
}

TEST(Channel, ServerPicksTheHighestVersionItSpeaks) {
  auto srv = chat_server();
  run_client([&]() -> asio::awaitable<void> {
    // A newer client offers v(N+1) then vN: the vN server answers vN.
    duplex::connect_options co;
    co.subprotocols = duplex::offered_subprotocols<chat_v2, chat_v1>();
    auto ws = co_await duplex::connect(srv.ws_url("/chat"), co);
    EXPECT_EQ(ws.subprotocol(), current);
    auto ch = co_await duplex::channel<chat_v1, duplex::side::client>::accept(std::move(ws));
    EXPECT_TRUE(ch.has_value());
    if (ch) co_await ch->close();
  });
}

TEST(Channel, NoSharedVersionIsRefusedAfterTheHandshakeWithAReason) {
  auto srv = chat_server();
  run_client([&]() -> asio::awaitable<void> {
    for (auto offer : {duplex::offered_subprotocols<chat_v2>(), std::vector<std::string>{}}) {
      duplex::connect_options co;
      co.subprotocols = offer;
      auto ws = co_await duplex::connect(srv.ws_url("/chat"), co);
      const auto none = co_await ws.read();
      EXPECT_FALSE(none);
      EXPECT_EQ(ws.close_code(), schema::close_version_mismatch);
      EXPECT_NE(ws.close_reason().find("out of date: reload"), std::string::npos) << ws.close_reason();
      EXPECT_LE(ws.close_reason().size(), 123u);
    }
  });
}

TEST(Channel, ChooseSubprotocolRules) {
  const unsigned both[] = {1, 2};
  const std::string_view newest_first[] = {"duplex.chat.v3", "duplex.chat.v2", "duplex.chat.v1"};
  EXPECT_EQ(schema::choose_subprotocol("chat", both, newest_first), "duplex.chat.v2");
  const std::string_view oldest_first[] = {"duplex.chat.v1", "duplex.chat.v2"};
  EXPECT_EQ(schema::choose_subprotocol("chat", both, oldest_first), "duplex.chat.v2");
  const std::string_view none[] = {"mqtt", "duplex.chat.v9"};
  EXPECT_EQ(schema::choose_subprotocol("chat", both, none), "duplex.chat.v9");  // accepted, to be closed with 4406
  const std::string_view other[] = {"duplex.game.v1", "duplex.chat.vx"};
  EXPECT_EQ(schema::choose_subprotocol("chat", both, other), "duplex.game.v1");
  EXPECT_EQ(schema::subprotocol_version("duplex.chat.v12", "chat"), 12u);
  EXPECT_FALSE(schema::subprotocol_version("duplex.chat.v", "chat"));
  EXPECT_FALSE(schema::subprotocol_version("duplex.chatty.v1", "chat"));
}

TEST(Channel, ChooseSubprotocolWithBinaryOffers) {
  const unsigned both[] = {1, 2};
  // The highest version wins whatever the encoding; within it, the client's first offer.
  const std::string_view bin_first[] = {"duplex.chat.v2.bin", "duplex.chat.v2", "duplex.chat.v1"};
  EXPECT_EQ(schema::choose_subprotocol("chat", both, bin_first), "duplex.chat.v2.bin");
  const std::string_view json_first[] = {"duplex.chat.v2", "duplex.chat.v2.bin"};
  EXPECT_EQ(schema::choose_subprotocol("chat", both, json_first), "duplex.chat.v2");
  const std::string_view old_json_new_bin[] = {"duplex.chat.v1", "duplex.chat.v2.bin"};
  EXPECT_EQ(schema::choose_subprotocol("chat", both, old_json_new_bin), "duplex.chat.v2.bin");
  // A server that speaks no binary passes it over.
  EXPECT_EQ(schema::choose_subprotocol("chat", both, bin_first, false), "duplex.chat.v2");
  const auto o = schema::parse_subprotocol("duplex.chat.v12.bin", "chat");
  EXPECT_TRUE(o && o->version == 12 && o->encoding == schema::encoding::binary);
  EXPECT_FALSE(schema::parse_subprotocol("duplex.chat.v.bin", "chat"));
  EXPECT_FALSE(schema::parse_subprotocol("duplex.chat.v1.json", "chat"));
  EXPECT_FALSE(schema::subprotocol_version("duplex.chat.v12.bin", "chat"));  // the JSON-only reading
}

// One server, two kinds of clients: the binary one gets binary frames of the
// binary encoding, the JSON one text frames, from the same handler code
// (send, post, and a prepared broadcast).
TEST(Channel, OneServerSpeaksJsonAndBinaryPerConnection) {
  auto srv = chat_server();
  // (Named values only around co_await: GCC 12 destroys temporaries there twice.)
  run_client([&]() -> asio::awaitable<void> {
    for (int round = 0; round < 2; ++round) {
      const bool bin = round == 0;
      const schema::encoding enc = bin ? schema::encoding::binary : schema::encoding::json;
      duplex::connect_options co;
      co.subprotocols = duplex::offered_subprotocols<chat_v1>(enc);
      auto ws = co_await duplex::connect(srv.ws_url("/chat"), co);
      EXPECT_EQ(ws.subprotocol(), bin ? schema::binary_subprotocol_name<chat_v1>() : current);
      auto ch = co_await duplex::channel<chat_v1, duplex::side::client>::accept(std::move(ws));
      EXPECT_TRUE(ch.has_value());
      if (!ch) co_return;
      EXPECT_EQ(ch->binary(), bin);

      // Raw frames, to see the bytes: a chat encoded by hand in this encoding.
      using client_message = chat_v1::client_message;
      const wire::chat hello{"héllo"};
      const std::string wire = bin ? schema::encode_binary<client_message>(hello) : schema::encode(hello);
      co_await ch->socket().send(wire, bin);
      duplex::message m;
      const bool got = co_await ch->socket().read(m);
      EXPECT_TRUE(got);
      EXPECT_EQ(m.binary, bin);
      const wire::message want{"echo", "héllo", 7};
      EXPECT_EQ(m.data, bin ? schema::encode_binary<chat_v1::server_message>(want) : schema::encode(want));

      // Typed, through the channel: the prepared broadcast in the right encoding.
      const wire::join ada{"ada"};
      co_await ch->send(ada);
      auto r = co_await ch->read();
      EXPECT_TRUE(r && *r && std::get<wire::joined>(**r).name == "ada");

      // The other kind of frame is a typed error on the server, and the connection stays.
      const std::string other_kind = bin ? schema::encode(hello) : wire;
      co_await ch->socket().send(other_kind, !bin);
      r = co_await ch->read();
      EXPECT_TRUE(r && *r);
      if (r && *r) EXPECT_EQ(std::get<wire::error>(**r).code, "wrong_type");
      // A truncated binary message: the binary decoder's typed error.
      if (bin) {
        const std::string cut = wire.substr(0, wire.size() - 1);
        co_await ch->socket().send(cut, true);
        r = co_await ch->read();
        EXPECT_TRUE(r && *r);
        if (r && *r) EXPECT_EQ(std::get<wire::error>(**r), (wire::error{"truncated", "text"}));
      }
      co_await ch->close();
    }
  });
}

// ---- a prepared broadcast encodes its binary form only for binary recipients ----

namespace {

// Every connected channel; a join is broadcast to all of them, and the
// prepared's count of binary encodings is recorded after the posts. A chat
// is answered (in order with the broadcasts: the client's sync point).
struct hub {
  std::vector<duplex::channel<chat_v1>*> members;  // the server's thread only
  std::atomic<int> encodings{-1};
  std::atomic<int> broadcasts{0};
};

asio::awaitable<void> serve_hub(hub& h, duplex::websocket ws) {
  auto ch = co_await duplex::channel<chat_v1>::accept(std::move(ws));
  if (!ch) co_return;
  h.members.push_back(&*ch);
  while (auto in = co_await ch->read()) {
    if (!*in) continue;
    if (auto* c = std::get_if<wire::chat>(&**in)) {
      const wire::message ack{"hub", c->text, 1};
      co_await ch->send(ack);
    } else if (auto* j = std::get_if<wire::join>(&**in)) {
      const auto p = duplex::channel<chat_v1>::prepare(wire::joined{j->name});
      const auto copy = p;  // copies share the one binary form
      for (auto* m : h.members) m->post(copy);
      h.encodings = static_cast<int>(p.binary_encodings());
      ++h.broadcasts;
    }
  }
  std::erase(h.members, &*ch);
}

using client_channel = duplex::channel<chat_v1, duplex::side::client>;

// Connects in one encoding and waits for the hub's answer to a chat: the
// server holds the channel by then.
asio::awaitable<std::optional<client_channel>> hub_client(const std::string& url, schema::encoding enc) {
  duplex::connect_options co;
  co.subprotocols = duplex::offered_subprotocols<chat_v1>(enc);
  auto ws = co_await duplex::connect(url, co);
  auto ch = co_await client_channel::accept(std::move(ws));
  if (!ch) co_return ch;
  const wire::chat hi{"hi"};
  co_await ch->send(hi);
  auto r = co_await ch->read();
  EXPECT_TRUE(r && *r);
  co_return ch;
}

// The next frame is exactly `want` in this channel's encoding.
asio::awaitable<void> expect_joined(client_channel& ch, const char* name) {
  duplex::message m;
  const bool got = co_await ch.socket().read(m);
  EXPECT_TRUE(got);
  const wire::joined want{name};
  EXPECT_EQ(m.binary, ch.binary());
  EXPECT_EQ(m.data, ch.binary() ? schema::encode_binary<chat_v1::server_message>(want) : schema::encode(want));
}

// A chat round trip after a broadcast: the server has recorded its count.
asio::awaitable<void> sync_point(client_channel& ch) {
  const wire::chat ping{"sync"};
  co_await ch.send(ping);
  auto r = co_await ch.read();
  EXPECT_TRUE(r && *r && std::holds_alternative<wire::message>(**r));
}

}  // namespace

TEST(Channel, PreparedEncodesBinaryOnFirstBinaryUse) {
  const wire::joined j{"ada"};
  const auto p = duplex::channel<chat_v1>::prepare(j);
  EXPECT_EQ(p.json.data(), schema::encode(j));
  EXPECT_EQ(p.binary_encodings(), 0u);
  const auto copy = p;
  EXPECT_EQ(copy.binary_form().data(), schema::encode_binary<chat_v1::server_message>(j));
  EXPECT_TRUE(copy.binary_form().binary());
  EXPECT_EQ(p.binary_form().data(), schema::encode_binary<chat_v1::server_message>(j));
  EXPECT_EQ(p.binary_encodings(), 1u);  // once, shared by the copy
}

TEST(Channel, BroadcastToJsonOnlyDoesNoBinaryEncodingAndMixedGetTheirBytes) {
  hub h;
  test_server srv({}, [&h](duplex::server& s) {
    s.websocket(
        "/hub", [&h](duplex::websocket ws) { return serve_hub(h, std::move(ws)); },
        duplex::protocol_endpoint<chat_v1>());
  });
  run_client([&]() -> asio::awaitable<void> {
    const std::string url = srv.ws_url("/hub");
    auto a = co_await hub_client(url, schema::encoding::json);
    auto b = co_await hub_client(url, schema::encoding::json);
    EXPECT_TRUE(a && b);
    if (!a || !b) co_return;
    // JSON recipients only: the binary form is never encoded.
    const wire::join x{"x"};
    co_await a->send(x);
    co_await expect_joined(*a, "x");
    co_await expect_joined(*b, "x");
    co_await sync_point(*a);
    EXPECT_EQ(h.broadcasts.load(), 1);
    EXPECT_EQ(h.encodings.load(), 0);

    // Two binary recipients join: one binary encoding, each gets its encoding's bytes.
    auto d = co_await hub_client(url, schema::encoding::binary);
    auto e = co_await hub_client(url, schema::encoding::binary);
    EXPECT_TRUE(d && e && d->binary() && e->binary());
    if (!d || !e) co_return;
    const wire::join y{"y"};
    co_await b->send(y);
    co_await expect_joined(*a, "y");
    co_await expect_joined(*b, "y");
    co_await expect_joined(*d, "y");
    co_await expect_joined(*e, "y");
    co_await sync_point(*b);
    EXPECT_EQ(h.broadcasts.load(), 2);
    EXPECT_EQ(h.encodings.load(), 1);
    co_await a->close();
    co_await b->close();
    co_await d->close();
    co_await e->close();
  });
}
