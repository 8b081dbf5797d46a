// duplex-chat's admin route (server/chat_admin.hpp) on a real chat with
// sign-in (HS256 tokens minted here), on two threads: GET /admin/disconnect
// closes every connection of one member (two tabs in two rooms) with 4003
// through server::disconnect(), leaves the others, refuses without the
// admin token, and with &ban= keeps the member out (403) until lifted.
#include "chat_admin.hpp"
#include "chat_auth.hpp"
#include "chat_service.hpp"
#include "jwt_mint.hpp"

#include <chat_protocol.hpp>

#include <duplex/net/client.hpp>
#include <duplex/net/hub.hpp>
#include <duplex/net/io_pool.hpp>
#include <duplex/net/server.hpp>
#include <duplex/realtime/history.hpp>
#include <duplex/schema/codec.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

namespace {

namespace v2 = duplex::chat::wire::v2;
namespace jwt = duplex::test::jwt;
using namespace std::chrono_literals;

const std::string admin_token = "admin-0123456789abcdef";

// The chat with --auth-jwt and --admin-token-file, as duplex-chat wires it.
class signed_in_chat {
 public:
  explicit signed_in_chat(const std::string& secret) : pool_(2) {
    duplex::auth::key_set keys;
    if (keys.add_secret(secret)) throw std::runtime_error("add_secret");
    authn_ = std::make_unique<duplex::chat::authenticator>(std::move(keys), duplex::auth::verify_options{});
    duplex::server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    srv_ = std::make_unique<duplex::server>(pool_.contexts(), o);
    hub_ = std::make_unique<duplex::hub>(pool_.contexts());
    duplex::chat::service_config cfg;
    cfg.auth = true;
    svc_ = std::make_unique<duplex::chat::service>(pool_[0].get_executor(), *hub_, broker_, presence_, cfg);
    svc_->use_authenticator(*authn_);
    auto endpoint = duplex::chat::service::endpoint();
    endpoint.on_upgrade = authn_->hook();
    srv_->websocket("/ws/chat", svc_->callbacks(), std::move(endpoint));
    svc_->start();
    admin_ = std::make_unique<duplex::chat::admin>(*srv_, *authn_, admin_token, pool_[0].get_executor());
    admin_->serve_routes();
    asio::co_spawn(pool_[0], srv_->run(), asio::detached);
    pool_.start();
  }
  ~signed_in_chat() {
    asio::post(pool_[0], asio::use_future([this] {
      svc_->stop();
      srv_->stop();
    })).get();
    pool_.stop();
    pool_.join();
    for (int round = 0; round < 3; ++round)
      for (std::size_t i = 0; i < pool_.size(); ++i) {
        pool_[i].restart();
        pool_[i].poll();
      }
    admin_.reset();
    svc_.reset();
    hub_.reset();
    srv_.reset();
  }
  std::uint16_t port() const { return srv_->port(); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port()) + "/ws/chat"; }
  const duplex::chat::admin& admin() const { return *admin_; }

 private:
  duplex::io_pool pool_;
  duplex::realtime::memory_history history_;
  duplex::realtime::memory_broker broker_{history_};
  duplex::realtime::memory_presence presence_;
  std::unique_ptr<duplex::chat::authenticator> authn_;
  std::unique_ptr<duplex::server> srv_;
  std::unique_ptr<duplex::hub> hub_;
  std::unique_ptr<duplex::chat::service> svc_;
  std::unique_ptr<duplex::chat::admin> admin_;
};

// One blocking GET; the whole response.
std::string http_get(std::uint16_t port, const std::string& target, const std::string& bearer = {}) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!bearer.empty()) req += "Authorization: Bearer " + bearer + "\r\n";
  asio::write(s, asio::buffer(req + "\r\n"));
  std::string out;
  char buf[4096];
  for (;;) {
    std::error_code ec;
    const std::size_t n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) return out;
  }
}

std::string token_for(const std::string& secret, const std::string& name) {
  return jwt::hs256(secret, R"({"sub":")" + name + R"(","name":")" + name + R"(","exp":)" +
                                std::to_string(jwt::unix_now() + 3600) + "}");
}

// Signs in as the token's member and joins `room` (the connection is
// registered, identity and all, once `joined` comes back).
asio::awaitable<duplex::websocket> sign_in(const std::string* url, const std::string* token, const std::string* name,
                                           const std::string* room) {
  duplex::connect_options o;
  o.subprotocols = {duplex::schema::subprotocol_name<duplex::chat::wire::chat_protocol_v2>()};
  o.headers = {{"Authorization", "Bearer " + *token}};
  auto ws = co_await duplex::connect(*url, o);
  ws.post(duplex::schema::encode(v2::client_message{v2::join{*name, *room, std::nullopt}}));
  duplex::message m;
  for (;;) {
    const bool got = co_await ws.read(m);
    if (!got) throw std::runtime_error("closed before joined: " + std::to_string(ws.close_code()));
    auto d = duplex::schema::decode<v2::server_message>(m.data);
    if (d && std::holds_alternative<v2::joined>(*d)) break;
  }
  co_return ws;
}

// Reads until the connection ends; its close code.
asio::awaitable<int> closed_with(duplex::websocket* ws) {
  duplex::message m;
  for (;;) {
    const bool got = co_await ws->read(m);
    if (!got) break;
  }
  co_return ws->close_code();
}

template <class F>
void run(F f) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, f(), asio::use_future);
  io.run_for(std::chrono::seconds(15));
  ASSERT_EQ(fut.wait_for(0s), std::future_status::ready) << "client did not finish";
  fut.get();
}

}  // namespace

TEST(ChatAdmin, DisconnectClosesEveryConnectionOfOneMemberAndBanKeepsThemOut) {
  const std::string secret = jwt::random_hex(32);
  signed_in_chat chat(secret);
  const std::string url = chat.url();
  // (Each sign-in of Alice's joins a room of its own: a name she left is
  // held for her in that room for the reconnect grace period.)
  const std::string alice = "alice", bob = "bob", lobby = "lobby", dev = "dev", r3 = "r3", r4 = "r4", r5 = "r5";
  const std::string alice_token = token_for(secret, alice), bob_token = token_for(secret, bob);

  // Refusals: no admin token, a wrong one, no name, a bad ban.
  EXPECT_EQ(http_get(chat.port(), "/admin/disconnect?name=alice").rfind("HTTP/1.1 401", 0), 0u);
  EXPECT_EQ(http_get(chat.port(), "/admin/disconnect?name=alice", "admin-0123456789abcdeX").rfind("HTTP/1.1 401", 0), 0u);
  EXPECT_EQ(http_get(chat.port(), "/admin/disconnect", admin_token).rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(http_get(chat.port(), "/admin/disconnect?name=alice&ban=-1", admin_token).rfind("HTTP/1.1 400", 0), 0u);

  run([&]() -> asio::awaitable<void> {
    // Alice in two tabs (two rooms; the two threads take one each), Bob in the lobby.
    auto tab1 = co_await sign_in(&url, &alice_token, &alice, &lobby);
    auto tab2 = co_await sign_in(&url, &alice_token, &alice, &dev);
    auto other = co_await sign_in(&url, &bob_token, &bob, &lobby);

    const std::string answer = http_get(chat.port(), "/admin/disconnect?name=alice", admin_token);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
    EXPECT_NE(answer.find("disconnecting alice"), std::string::npos) << answer;
    EXPECT_EQ(co_await closed_with(&tab1), duplex::chat::close_disconnected);
    EXPECT_EQ(co_await closed_with(&tab2), duplex::chat::close_disconnected);

    // Bob is still served.
    other.post(duplex::schema::encode(v2::client_message{duplex::chat::wire::chat{"still here"}}));
    duplex::message m;
    bool echoed = false;
    while (!echoed) {
      const bool got = co_await other.read(m);
      if (!got) break;
      auto d = duplex::schema::decode<v2::server_message>(m.data);
      if (d && std::holds_alternative<v2::message>(*d)) echoed = std::get<v2::message>(*d).text == "still here";
    }
    EXPECT_TRUE(echoed);

    // Without a ban she can come back (the page reconnects by itself)...
    auto back = co_await sign_in(&url, &alice_token, &alice, &r3);
    // ...with one she is closed again and refused (403) until it is lifted.
    const std::string banned = http_get(chat.port(), "/admin/disconnect?name=alice&ban=600", admin_token);
    EXPECT_NE(banned.find("banned for 600 s"), std::string::npos) << banned;
    EXPECT_EQ(co_await closed_with(&back), duplex::chat::close_disconnected);
    try {
      co_await sign_in(&url, &alice_token, &alice, &r4);
      ADD_FAILURE() << "a banned member signed in";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), duplex::errc::bad_accept);
    }
    http_get(chat.port(), "/admin/disconnect?name=alice&ban=0", admin_token);  // lifted (nobody to close)
    auto again = co_await sign_in(&url, &alice_token, &alice, &r5);
    EXPECT_TRUE(again.is_open());
    co_await again.close();
    co_await other.close();
  });
  // Counted once each disconnect has visited every thread.
  for (int i = 0; i < 200 && chat.admin().disconnected() < 3; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(chat.admin().disconnected(), 3u);
}
