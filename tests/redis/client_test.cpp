#include "redis_server.hpp"

#include <duplex/redis/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

using namespace std::chrono_literals;
using duplex::redis::client;
using duplex::redis::errc;
using duplex::redis::reply;
using duplex::test::eventually;
using duplex::test::run;
using duplex::test::sleep_for;

namespace {

duplex::redis::options opts_for(const duplex::test::redis_server& s) {
  return duplex::redis::options_from_url(s.url());
}

}  // namespace

TEST(RedisUrl, Parses) {
  auto e = duplex::redis::parse_url("redis://user:p%40ss@example.com:6380/2");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "example.com");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->user, "user");
  EXPECT_EQ(e->password, "p@ss");
  EXPECT_EQ(e->db, 2);
  e = duplex::redis::parse_url("redis://:secret@[::1]");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->user, "");
  EXPECT_EQ(e->password, "secret");
  EXPECT_FALSE(e->tls);
  e = duplex::redis::parse_url("rediss://h:6380");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->port, 6380);
  e = duplex::redis::parse_url("redis://secret@h");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->password, "secret");
  EXPECT_EQ(e->user, "");
  for (auto bad : {"http://h", "redis://", "redis://h:0", "redis://h:70000", "redis://h/x", "redis://h:1/-1",
                   "redis://u:%zz@h"})
    EXPECT_FALSE(duplex::redis::parse_url(bad)) << bad;
  try {
    duplex::redis::options_from_url("redis://user:hunter2@h:bad");
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::bad_url);
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << "the password leaked into the error";
  }
}

TEST(RedisClient, CommandsAndReplyTypes) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(opts_for(server));
    EXPECT_TRUE(redis.is_up());
    const std::string binary("a\0b\r\nc", 6);
    auto r = co_await redis.command("SET", "k", binary);
    EXPECT_TRUE(r.is_status("OK"));
    r = co_await redis.command("GET", "k");
    EXPECT_TRUE(r.is_string());
    EXPECT_EQ(r.str, binary);
    r = co_await redis.command("GET", "missing");
    EXPECT_TRUE(r.is_nil());
    r = co_await redis.command("INCRBY", "n", "41");
    EXPECT_TRUE(r.is_integer());
    EXPECT_EQ(r.integer, 41);
    r = co_await redis.command("RPUSH", "l", "x", "y", "z");
    r = co_await redis.command("LRANGE", "l", "0", "-1");
    CO_ASSERT_TRUE(r.is_array());
    CO_ASSERT_EQ(r.elements.size(), 3u);
    EXPECT_EQ(r.elements[2].str, "z");
    // An error reply is a value, not a failure of the connection.
    r = co_await redis.command("INCR", "k");
    EXPECT_TRUE(r.is_error());
    EXPECT_NE(r.str.find("not an integer"), std::string::npos) << r.str;
    r = co_await redis.command("NOSUCHCOMMAND");
    EXPECT_TRUE(r.is_error());
    r = co_await redis.command("PING");
    EXPECT_TRUE(r.is_status("PONG"));
  }());
}

TEST(RedisClient, Pipelines10kConcurrentRequestsInOrder) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(opts_for(server));
    constexpr int n = 10000;
    std::vector<long long> got(n, -1);
    std::vector<std::string> echoed(n);
    int finished = 0;
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(
          ex,
          [&, i]() -> asio::awaitable<void> {
            auto r = co_await redis.command("INCR", "counter");
            got[i] = r.integer;
            const std::string mine = "payload-" + std::to_string(i);
            auto e = co_await redis.command("ECHO", mine);
            echoed[i] = e.str;
            ++finished;
          },
          asio::detached);
    }
    while (finished < n) co_await sleep_for(5ms);
    // Started in order, so sent in order: the i-th INCR returns i + 1.
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(got[i], i + 1) << i;
      EXPECT_EQ(echoed[i], "payload-" + std::to_string(i));
      if (::testing::Test::HasFailure()) break;
    }
  }());
}

TEST(RedisClient, TimeoutFailsOneRequestAndTheConnectionGoesOn) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto o = opts_for(server);
    o.command_timeout = 200ms;
    auto redis = co_await client::connect(o);
    std::error_code ec;
    const auto t0 = std::chrono::steady_clock::now();
    co_await redis.command(ec, "DEBUG", "SLEEP", "0.6");
    EXPECT_EQ(ec, errc::timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 550ms);
    co_await sleep_for(500ms);  // Redis is busy until then
    // The late reply to DEBUG SLEEP is dropped, not given to the next request.
    auto r = co_await redis.command(ec, "ECHO", "after");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(r.str, "after");
  }());
}

TEST(RedisClient, EvalshaLoadsTheScriptOnNoscript) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(opts_for(server));
    const duplex::redis::script add("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    EXPECT_EQ(add.sha1.size(), 40u);
    auto r = co_await redis.eval(add, 1, "x", "5");
    EXPECT_EQ(r.integer, 5);
    r = co_await redis.command("SCRIPT", "EXISTS", add.sha1);
    CO_ASSERT_TRUE(r.is_array());
    EXPECT_EQ(r.elements.at(0).integer, 1) << "EVALSHA did not load the script";
    co_await redis.command("SCRIPT", "FLUSH");
    r = co_await redis.eval(add, 1, "x", "2");
    EXPECT_EQ(r.integer, 7);
    // A script error is an error reply.
    const duplex::redis::script bad("return redis.call('NOPE')");
    r = co_await redis.eval(bad, 0);
    EXPECT_TRUE(r.is_error());
  }());
}

// A call made after another must run after it, also when the first found
// no script: the first one's retry must not let the second overtake it (a
// SCRIPT LOAD round trip before retrying did: the PING below is answered
// after the first call's NOSCRIPT, so the second call went out behind the
// LOAD and ran first).
TEST(RedisClient, CallsMadeInOrderRunInOrderAcrossNoscript) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(opts_for(server));
    const duplex::redis::script push("return redis.call('RPUSH', KEYS[1], ARGV[1])");
    co_await redis.command("SCRIPT", "FLUSH");
    bool first_done = false;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> {
          co_await redis.eval(push, 1, "order", "first");
          first_done = true;
        },
        asio::detached);
    co_await redis.command("PING");
    co_await redis.eval(push, 1, "order", "second");
    CO_ASSERT_TRUE(co_await eventually([&] { return first_done; }, 2s));
    const reply r = co_await redis.command("LRANGE", "order", "0", "-1");
    CO_ASSERT_TRUE(r.is_array());
    CO_ASSERT_TRUE(r.elements.size() == 2u);
    EXPECT_EQ(r.elements[0].str, "first");
    EXPECT_EQ(r.elements[1].str, "second");
  }());
}

TEST(RedisClient, AuthAndSelectFromTheUrl) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto admin = co_await client::connect(opts_for(server));
    co_await admin.command("CONFIG", "SET", "requirepass", "s3cret");
    const std::string base = "127.0.0.1:" + std::to_string(server.port());
    auto redis = co_await client::connect(duplex::redis::options_from_url("redis://:s3cret@" + base + "/3"));
    co_await redis.command("SET", "where", "db3");
    auto r = co_await redis.command("SELECT", "3");
    EXPECT_TRUE(r.is_status("OK"));
    auto other = co_await client::connect(duplex::redis::options_from_url("redis://:s3cret@" + base));
    r = co_await other.command("GET", "where");
    EXPECT_TRUE(r.is_nil()) << "SELECT 3 was not applied";
    try {
      co_await client::connect(duplex::redis::options_from_url("redis://:wrong@" + base));
      ADD_FAILURE() << "a wrong password connected";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), errc::handshake_failed);
      EXPECT_NE(std::string(e.what()).find("WRONGPASS"), std::string::npos) << e.what();
    }
  }());
}

TEST(RedisClient, UnreachableAtStartIsAClearError) {
  const auto port = duplex::test::free_port();  // nothing listens there
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    try {
      co_await client::connect(duplex::redis::options_from_url("redis://127.0.0.1:" + std::to_string(port)));
      ADD_FAILURE() << "connected to nothing";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), asio::error::connection_refused);
      EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
    }
  }());
}

TEST(RedisClient, StartDegradedConnectsWhenRedisAppears) {
  duplex::test::redis_server server(duplex::test::free_port(), false);
  asio::io_context io;
  std::vector<duplex::redis::link_state> states;
  std::vector<std::string> log;
  auto o = opts_for(server);
  o.backoff_min = 50ms;
  o.backoff_max = 200ms;
  o.on_state = [&](duplex::redis::link_state s, std::error_code) { states.push_back(s); };
  o.on_log = [&](std::string_view line) { log.emplace_back(line); };
  auto redis = client::start(io.get_executor(), o);
  run(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    co_await redis.command(ec, "PING");
    EXPECT_EQ(ec, errc::not_connected);
    co_await sleep_for(400ms);  // a few failed attempts
    EXPECT_TRUE(states.empty());
    server.start();
    for (int i = 0; i < 100 && states.empty(); ++i) co_await sleep_for(20ms);
    CO_ASSERT_EQ(states.size(), 1u);
    EXPECT_EQ(states[0], duplex::redis::link_state::up);
    auto r = co_await redis.command(ec, "PING");
    EXPECT_FALSE(ec);
    EXPECT_TRUE(r.is_status("PONG"));
  }());
  ASSERT_GE(log.size(), 3u);
  EXPECT_NE(log.front().find("failed"), std::string::npos) << log.front();
  EXPECT_NE(log.back().find("connected to"), std::string::npos) << log.back();
}

TEST(RedisClient, RedisKilledFailsPendingRequestsThenReconnects) {
  duplex::test::redis_server server;
  asio::io_context io;
  std::vector<duplex::redis::link_state> states;
  auto o = opts_for(server);
  o.backoff_min = 50ms;
  o.backoff_max = 200ms;
  o.command_timeout = 30s;  // the failure must come from the lost connection, not a timeout
  o.on_state = [&](duplex::redis::link_state s, std::error_code) { states.push_back(s); };
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(o);
    auto ex = co_await asio::this_coro::executor;
    // Requests in flight when Redis dies: a blocked BLPOP and many behind it.
    constexpr int n = 200;
    int failed = 0, done = 0;
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(
          ex,
          [&, i]() -> asio::awaitable<void> {
            std::error_code ec;
            if (i == 0)
              co_await redis.command(ec, "BLPOP", "nothing", "20");
            else
              co_await redis.command(ec, "PING");
            if (ec == errc::connection_lost) ++failed;
            ++done;
          },
          asio::detached);
    }
    co_await sleep_for(100ms);  // all sent; the PINGs queue behind the BLPOP
    const auto t0 = std::chrono::steady_clock::now();
    server.kill();
    while (done < n) co_await sleep_for(5ms);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    EXPECT_EQ(failed, n);
    CO_ASSERT_EQ(states.size(), 1u);
    EXPECT_EQ(states[0], duplex::redis::link_state::down);
    EXPECT_FALSE(redis.is_up());
    std::error_code ec;
    co_await redis.command(ec, "PING");
    EXPECT_EQ(ec, errc::not_connected);

    server.start();  // same port
    for (int i = 0; i < 150 && !redis.is_up(); ++i) co_await sleep_for(20ms);
    CO_ASSERT_TRUE(redis.is_up());
    EXPECT_EQ(states.back(), duplex::redis::link_state::up);
    auto r = co_await redis.command(ec, "PING");
    EXPECT_FALSE(ec);
    EXPECT_TRUE(r.is_status("PONG"));
  }());
}

TEST(RedisClient, CommandsFromAnotherThreadHopToTheClientsExecutor) {
  duplex::test::redis_server server;
  asio::io_context owner;
  auto work = asio::make_work_guard(owner);
  std::thread owner_thread([&] { owner.run(); });
  auto connected = asio::co_spawn(owner, client::connect(opts_for(server)), asio::use_future);
  client redis = connected.get();
  asio::io_context io;  // the test thread's own
  run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 200; ++i) {
      auto r = co_await redis.command("INCR", "n");
      EXPECT_EQ(r.integer, i + 1);
    }
  }());
  asio::post(owner, [&] { redis.close(); });
  work.reset();
  owner_thread.join();
}

// A peer that accepts TCP and then never answers, like a Redis host that
// vanished behind a dead network path.
TEST(RedisClient, HealthCheckDropsASilentConnection) {
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});
  std::vector<asio::ip::tcp::socket> accepted;
  std::function<void()> accept_next = [&] {
    silent.async_accept([&](std::error_code ec, asio::ip::tcp::socket s) {
      if (ec) return;
      accepted.push_back(std::move(s));
      accept_next();
    });
  };
  accept_next();
  std::vector<duplex::redis::link_state> states;
  std::vector<std::string> log;
  auto o = duplex::redis::options_from_url("redis://127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
  o.health_interval = 100ms;
  o.backoff_min = 5s;  // one connection is enough for this test
  std::error_code why;
  o.on_state = [&](duplex::redis::link_state s, std::error_code ec) {
    states.push_back(s);
    why = ec;
  };
  o.on_log = [&](std::string_view line) { log.emplace_back(line); };
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(o);  // no AUTH/SELECT: TCP alone makes it "up"
    EXPECT_TRUE(redis.is_up());
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 200 && states.empty(); ++i) co_await sleep_for(10ms);
    CO_ASSERT_EQ(states.size(), 1u);
    EXPECT_EQ(states[0], duplex::redis::link_state::down);
    EXPECT_EQ(why, errc::timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    EXPECT_FALSE(redis.is_up());
  }());
  bool said_why = false;
  for (auto& l : log) said_why |= l.find("no reply") != std::string::npos;
  EXPECT_TRUE(said_why);
}

TEST(RedisClient, CloseCompletesPendingRequests) {
  duplex::test::redis_server server;
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto redis = co_await client::connect(opts_for(server));
    std::error_code blocked_ec;
    bool finished = false;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> {
          co_await redis.command(blocked_ec, "BLPOP", "nothing", "5");
          finished = true;
        },
        asio::detached);
    co_await sleep_for(50ms);
    redis.close();
    for (int i = 0; i < 100 && !finished; ++i) co_await sleep_for(5ms);
    EXPECT_TRUE(finished);
    EXPECT_EQ(blocked_ec, errc::closed);
    std::error_code ec;
    co_await redis.command(ec, "PING");
    EXPECT_EQ(ec, errc::closed);
  }());
}

// rediss:// against redis-server's own TLS port, with a certificate made for
// the test by the openssl command line tool.
TEST(RedisClient, TlsWithAVerifiedCertificate) {
  const auto dir = std::filesystem::temp_directory_path() / ("duplex-redis-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string make_cert = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                                "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " + key + " -out " + cert +
                                " 2>/dev/null";
  ASSERT_EQ(std::system(make_cert.c_str()), 0) << "openssl could not make a certificate";
  const auto port = duplex::test::free_port();
  duplex::test::redis_server server(port, false,
                                    {"--port", "0", "--tls-port", std::to_string(port), "--tls-cert-file", cert,
                                     "--tls-key-file", key, "--tls-auth-clients", "no"});
  server.start();
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto o = duplex::redis::options_from_url("rediss://127.0.0.1:" + std::to_string(port));
    o.ca_file = cert;
    auto redis = co_await client::connect(o);
    co_await redis.command("SET", "over", "tls");
    auto r = co_await redis.command("GET", "over");
    EXPECT_EQ(r.str, "tls");
    // Without the test's CA the certificate is refused.
    o.ca_file.clear();
    try {
      co_await client::connect(o);
      ADD_FAILURE() << "an unverified certificate was accepted";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().category(), asio::error::get_ssl_category()) << e.what();
    }
  }());
  std::filesystem::remove_all(dir);
}
