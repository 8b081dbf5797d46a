// server::disconnect(identity): every connection the upgrade hook named with
// one identity is closed, on every thread of a real multi-threaded server,
// with the code and reason given; others stay; the index forgets closed
// connections; callable from outside the server and from a handler on one
// of its threads.
#include <duplex/net/client.hpp>

#include "pool_server.hpp"
#include "test_server.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using duplex::test::pool_server;
using duplex::test::run_client;

namespace {

struct seen {
  std::mutex mu;
  std::set<int> alice_threads;  // the server threads alice's connections ran on
};

// /ws?user=NAME: the hook identifies the connection as "user:NAME". The
// handler first says which identity and thread it has, then echoes; "kick
// ID" makes it disconnect ID itself (from a server thread) and answer
// "kicked N".
void endpoint(duplex::server& srv, std::unique_ptr<pool_server>* self, seen* record) {
  duplex::endpoint_options o;
  o.on_upgrade = [](const duplex::upgrade_request& r) -> asio::awaitable<duplex::upgrade_decision> {
    auto user = r.query_param("user");
    if (!user) co_return duplex::upgrade_decision::refuse(401, "who are you?");
    // A refusal that names an identity: nothing is registered.
    if (user->rfind("banned-", 0) == 0) co_return duplex::upgrade_decision::refuse(403, "banned").identify("user:" + *user);
    co_return duplex::upgrade_decision::accept().identify("user:" + *user);
  };
  srv.websocket("/ws", [self, record](duplex::websocket ws) -> asio::awaitable<void> {
    const int thread = (*self)->thread_of(ws.get_executor());
    if (ws.identity() == "user:alice") {
      std::lock_guard lock(record->mu);
      record->alice_threads.insert(thread);
    }
    const std::string hello = ws.identity() + " on " + std::to_string(thread);
    co_await ws.send(hello);
    duplex::message m;
    for (;;) {
      const bool got = co_await ws.read(m);
      if (!got) break;
      if (m.data.rfind("kick ", 0) == 0) {
        const std::size_t n = co_await (*self)->srv().disconnect(m.data.substr(5), 4003, "kicked");
        const std::string answer = "kicked " + std::to_string(n);
        co_await ws.send(answer);
      } else {
        co_await ws.send(m);
      }
    }
  }, o);
}

// Connects as `user` and waits for the hello (the connection is registered by then).
asio::awaitable<duplex::websocket> join(const pool_server& srv, const std::string& user) {
  const std::string url = srv.ws_url("/ws?user=" + user);
  auto ws = co_await duplex::connect(url);
  auto hello = co_await ws.read();
  EXPECT_TRUE(hello && hello->data.rfind("user:" + user + " on ", 0) == 0) << (hello ? hello->data : "closed");
  co_return ws;
}

}  // namespace

TEST(Disconnect, ClosesEveryConnectionOfOneIdentityOnEveryThread) {
  seen record;
  std::unique_ptr<pool_server> srv;
  srv = std::make_unique<pool_server>(3, duplex::server_options{},
                                      [&](duplex::server& s, duplex::hub&) { endpoint(s, &srv, &record); });
  run_client([&]() -> asio::awaitable<void> {
    std::vector<duplex::websocket> alice;
    for (int i = 0; i < 4; ++i) alice.push_back(co_await join(*srv, "alice"));
    auto bob = co_await join(*srv, "bob");

    // From outside the server (this test's own io_context).
    const std::size_t n = co_await srv->srv().disconnect("user:alice", 4003, "signed out elsewhere");
    EXPECT_EQ(n, 4u);
    for (auto& ws : alice) {
      auto m = co_await ws.read();
      EXPECT_FALSE(m);
      EXPECT_EQ(ws.close_code(), 4003);
      EXPECT_EQ(ws.close_reason(), "signed out elsewhere");
    }
    // Bob is untouched.
    co_await bob.send("still here?");
    auto echo = co_await bob.read();
    EXPECT_TRUE(echo && echo->data == "still here?");

    // Nobody left by that name, nobody by another.
    EXPECT_EQ(co_await srv->srv().disconnect("user:alice"), 0u);
    EXPECT_EQ(co_await srv->srv().disconnect("user:carol"), 0u);
    EXPECT_EQ(co_await srv->srv().disconnect(""), 0u);

    // Alice again, twice; Bob kicks her from a handler on a server thread.
    auto again = co_await join(*srv, "alice");
    auto twice = co_await join(*srv, "alice");
    co_await bob.send("kick user:alice");
    auto kicked = co_await bob.read();
    EXPECT_TRUE(kicked && kicked->data == "kicked 2") << (kicked ? kicked->data : "closed");
    auto m1 = co_await again.read();
    auto m2 = co_await twice.read();
    EXPECT_FALSE(m1);
    EXPECT_FALSE(m2);
    EXPECT_EQ(again.close_code(), 4003);
    EXPECT_EQ(twice.close_reason(), "kicked");
    co_await bob.close();
  });
  std::lock_guard lock(record.mu);
  EXPECT_GE(record.alice_threads.size(), 2u);  // round robin over 3 threads: her connections were spread
}

TEST(Disconnect, AnInvalidCodeBecomes1008AndARefusalRegistersNothing) {
  seen record;
  std::unique_ptr<pool_server> srv;
  srv = std::make_unique<pool_server>(2, duplex::server_options{},
                                      [&](duplex::server& s, duplex::hub&) { endpoint(s, &srv, &record); });
  run_client([&]() -> asio::awaitable<void> {
    auto ws = co_await join(*srv, "dave");
    EXPECT_EQ(co_await srv->srv().disconnect("user:dave", 1005), 1u);  // 1005 may not be sent
    auto m = co_await ws.read();
    EXPECT_FALSE(m);
    EXPECT_EQ(ws.close_code(), 1008);
    EXPECT_EQ(ws.close_reason(), "disconnected");

    const std::string url = srv->ws_url("/ws?user=banned-eve");
    try {
      co_await duplex::connect(url);
      ADD_FAILURE() << "a refused upgrade connected";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), duplex::errc::bad_accept);
    }
    EXPECT_EQ(co_await srv->srv().disconnect("user:banned-eve"), 0u);
  });
}
