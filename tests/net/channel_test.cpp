// duplex::channel<Protocol> end to end, native client against native server:
// version negotiation (newest first, highest shared wins, no shared version
// -> 4406 with a reason), typed reads and decode errors, broadcast encoding.
#include <duplex/net/channel.hpp>
#include <duplex/net/client.hpp>
#include <duplex/schema/chat.hpp>

#include "test_server.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

using duplex::test::run_client;
using duplex::test::test_server;
namespace schema = duplex::schema;

namespace {

// The chat as this build speaks it (whatever its version), and the next
// version of it, as a newer page would speak it.
using chat_v1 = schema::chat_protocol;
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
      ch->post(schema::error{std::string(schema::to_string(in->error().code)), in->error().path});
      continue;
    }
    if (auto* c = std::get_if<schema::chat>(&**in)) {
      const schema::message reply{"echo", c->text, 7};
      co_await ch->send(reply);
    } else {
      // A broadcast: encoded once, the same bytes for every recipient.
      const auto prepared = duplex::channel<chat_v1>::prepare(schema::joined{std::get<schema::join>(**in).name});
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
    const schema::chat hello{"hello"};
    co_await ch->send(hello);
    auto r = co_await ch->read();
    EXPECT_TRUE(r && *r);
    if (r && *r) EXPECT_EQ(std::get<schema::message>(**r), (schema::message{"echo", "hello", 7}));

    const schema::join ada{"ada"};
    co_await ch->send(ada);
    r = co_await ch->read();
    EXPECT_TRUE(r && *r && std::get<schema::joined>(**r).name == "ada");

    // Bad input reaches the server's typed error path with code and path.
    const std::string bad = R"({"type":"chat","text":7})";
    co_await ch->socket().send(bad);
    r = co_await ch->read();
    EXPECT_TRUE(r && *r);
    if (r && *r) EXPECT_EQ(std::get<schema::error>(**r), (schema::error{"wrong_type", "text"}));
    co_await ch->socket().send("binary", true);
    r = co_await ch->read();
    if (r && *r) EXPECT_EQ(std::get<schema::error>(**r).code, "wrong_type");
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
