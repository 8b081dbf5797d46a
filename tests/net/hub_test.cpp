// duplex::hub across a server's threads, with real sockets: every member on
// every thread gets each publish once and in order per publisher; closed
// members leave; a member that doesn't read is cut off without stalling the rest.
#include <duplex/net/client.hpp>

#include "pool_server.hpp"
#include "test_server.hpp"

#include <gtest/gtest.h>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

using duplex::test::pool_server;
using duplex::test::run_client;
using namespace std::chrono_literals;

namespace {

// Each /sub connection learns which server thread it is on, then is a member of "t".
void topic_endpoint(duplex::server& srv, duplex::hub& hub, std::unique_ptr<pool_server>* self) {
  srv.websocket("/sub", [&hub, self](duplex::websocket ws) -> asio::awaitable<void> {
    ws.post(std::to_string((*self)->thread_of(ws.get_executor())));
    hub.subscribe(ws, "t");
    while (co_await ws.read()) {
    }
  });
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<bool> wait_for_members(duplex::hub& hub, std::size_t n) {
  for (int i = 0; i < 500 && hub.subscribers("t") != n; ++i) co_await sleep_for(10ms);
  co_return hub.subscribers("t") == n;
}

// "<publisher>:<seq>"
std::pair<int, int> parse(const std::string& m) {
  const auto colon = m.find(':');
  return {std::stoi(m.substr(0, colon)), std::stoi(m.substr(colon + 1))};
}

}  // namespace

TEST(Hub, EveryMemberOnEveryThreadGetsEachPublishOnceInPublisherOrder) {
  std::unique_ptr<pool_server> srv;
  srv = std::make_unique<pool_server>(2, duplex::server_options{},
                                      [&](duplex::server& s, duplex::hub& h) { topic_endpoint(s, h, &srv); });
  constexpr int members = 6, publishers = 2, per_publisher = 500;
  run_client(
      [&]() -> asio::awaitable<void> {
        std::vector<duplex::websocket> ws;
        std::set<int> threads;
        for (int i = 0; i < members; ++i) {
          ws.push_back(co_await duplex::connect(srv->ws_url("/sub")));
          auto where = co_await ws.back().read();
          threads.insert(std::stoi(where->data));
        }
        EXPECT_EQ(threads, (std::set<int>{0, 1}));  // members on both threads
        EXPECT_TRUE(co_await wait_for_members(srv->topics(), members));

        // Two publishing threads that are none of the server's.
        std::vector<std::thread> pubs;
        for (int p = 0; p < publishers; ++p)
          pubs.emplace_back([&, p] {
            for (int i = 0; i < per_publisher; ++i)
              srv->topics().publish("t", std::to_string(p) + ":" + std::to_string(i));
          });
        for (auto& w : ws) {
          std::vector<int> next(publishers, 0);
          for (int n = 0; n < publishers * per_publisher; ++n) {
            auto m = co_await w.read();
            if (!m) {
              ADD_FAILURE() << "connection ended after " << n << " messages";
              break;
            }
            auto [p, seq] = parse(m->data);
            EXPECT_EQ(seq, next[p]) << "publisher " << p;  // in order, none lost or repeated
            next[p] = seq + 1;
          }
        }
        for (auto& t : pubs) t.join();
        for (auto& w : ws) co_await w.close();
      },
      30s);
  EXPECT_EQ(srv->topics().deliveries(), std::size_t(members * publishers * per_publisher));
}

TEST(Hub, MembersLeaveWhenTheyCloseOrUnsubscribe) {
  std::unique_ptr<pool_server> srv;
  srv = std::make_unique<pool_server>(2, duplex::server_options{}, [&](duplex::server& s, duplex::hub& h) {
    topic_endpoint(s, h, &srv);
    // "/once": a member until it sends anything, then it unsubscribes.
    s.websocket("/once", [&h](duplex::websocket ws) -> asio::awaitable<void> {
      h.subscribe(ws, "t");
      ws.post("ready");
      co_await ws.read();
      h.unsubscribe(ws, "t");
      ws.post("left");
      while (co_await ws.read()) {
      }
    });
  });
  run_client([&]() -> asio::awaitable<void> {
    auto& hub = srv->topics();
    std::vector<duplex::websocket> ws;
    for (int i = 0; i < 4; ++i) {
      ws.push_back(co_await duplex::connect(srv->ws_url("/sub")));
      co_await ws.back().read();
    }
    auto once = co_await duplex::connect(srv->ws_url("/once"));
    co_await once.read();
    EXPECT_TRUE(co_await wait_for_members(hub, 5));

    co_await once.send("bye");
    EXPECT_EQ((co_await once.read())->data, "left");
    EXPECT_TRUE(co_await wait_for_members(hub, 4));

    // Two members close; the next publish finds them closed and drops them.
    co_await ws[0].close();
    co_await ws[1].close();
    co_await sleep_for(100ms);
    hub.publish("t", "0:0");
    EXPECT_TRUE(co_await wait_for_members(hub, 2));
    EXPECT_EQ((co_await ws[2].read())->data, "0:0");
    EXPECT_EQ((co_await ws[3].read())->data, "0:0");
    co_await once.close();
    co_await ws[2].close();
    co_await ws[3].close();
  });
}

TEST(Hub, ASlowMemberIsClosedWithoutStallingTheOthers) {
  duplex::server_options o;
  o.websocket.send_queue_limit = 512 * 1024;
  o.websocket.on_overflow = duplex::overflow_policy::close;
  std::unique_ptr<pool_server> srv;
  srv = std::make_unique<pool_server>(2, o, [&](duplex::server& s, duplex::hub& h) { topic_endpoint(s, h, &srv); });
  constexpr int messages = 5000, fast_members = 3;
  const std::string filler(4000, 'x');
  std::array<std::atomic<int>, fast_members> received{};
  std::atomic<bool> stop{false};
  run_client(
      [&]() -> asio::awaitable<void> {
        // The slow member never reads after this.
        auto slow = co_await duplex::connect(srv->ws_url("/sub"));
        auto where = co_await slow.read();
        std::vector<duplex::websocket> fast;
        for (int i = 0; i < fast_members; ++i) {
          fast.push_back(co_await duplex::connect(srv->ws_url("/sub")));
          co_await fast.back().read();
        }
        EXPECT_TRUE(co_await wait_for_members(srv->topics(), fast_members + 1));
        // The publisher keeps at most 50 messages (200 KB) ahead of the
        // slowest fast member, so they never overflow; the slow member falls
        // 20 MB behind, past what its socket buffers and queue hold.
        std::thread pub([&] {
          for (int i = 0; i < messages && !stop; ++i) {
            for (;;) {
              int least = messages;
              for (auto& r : received) least = std::min(least, r.load());
              if (i - least < 50 || stop) break;
              std::this_thread::sleep_for(1ms);
            }
            srv->topics().publish("t", "0:" + std::to_string(i) + filler);
          }
        });
        // The fast members (on both threads, one beside the slow one) read concurrently.
        auto ex = co_await asio::this_coro::executor;
        std::vector<std::future<void>> readers;
        for (int k = 0; k < fast_members; ++k)
          readers.push_back(asio::co_spawn(
              ex,
              [&, k]() -> asio::awaitable<void> {
                for (int i = 0; i < messages; ++i) {
                  auto m = co_await fast[k].read();
                  if (!m) {
                    ADD_FAILURE() << "fast member ended at " << i;
                    break;
                  }
                  EXPECT_EQ(parse(m->data.substr(0, m->data.size() - filler.size())).second, i);
                  received[k] = i + 1;
                }
              },
              asio::use_future));
        while (std::any_of(readers.begin(), readers.end(),
                           [](auto& f) { return f.wait_for(0s) != std::future_status::ready; }))
          co_await sleep_for(5ms);
        stop = true;
        pub.join();
        // The slow one was closed with 1008 after what its buffers held.
        int got = 0;
        while (co_await slow.read()) ++got;
        EXPECT_LT(got, messages);
        EXPECT_EQ(slow.close_code(), 1008) << "thread " << where->data;
        for (auto& w : fast) co_await w.close();
      },
      90s);
  EXPECT_EQ(srv->srv().stats().slow_consumer_closes, 1u);
}

TEST(Hub, PostFromAnyThreadSendsOnTheConnectionsOwnThread) {
  std::promise<duplex::websocket> handed;
  std::unique_ptr<pool_server> srv;
  srv = std::make_unique<pool_server>(2, duplex::server_options{}, [&](duplex::server& s, duplex::hub&) {
    s.websocket("/hand", [&handed](duplex::websocket ws) -> asio::awaitable<void> {
      handed.set_value(ws);
      while (co_await ws.read()) {
      }
    });
  });
  run_client([&]() -> asio::awaitable<void> {
    auto ws = co_await duplex::connect(srv->ws_url("/hand"));
    {
      // Dropped while the handler still holds the connection, so the last
      // handle goes on the server's thread.
      auto server_side = handed.get_future().get();
      // From two threads that are none of the server's, in order per thread.
      std::thread a([&] {
        for (int i = 0; i < 100; ++i) duplex::post_from_any_thread(server_side, "0:" + std::to_string(i));
      });
      std::thread b([&] {
        for (int i = 0; i < 100; ++i) duplex::post_from_any_thread(server_side, "1:" + std::to_string(i));
      });
      a.join();
      b.join();
    }
    std::array<int, 2> next{};
    for (int n = 0; n < 200; ++n) {
      auto m = co_await ws.read();
      if (!m) {
        ADD_FAILURE() << "ended after " << n;
        break;
      }
      auto [p, seq] = parse(m->data);
      EXPECT_EQ(seq, next[p]);
      next[p] = seq + 1;
    }
    co_await ws.close();
  });
}

TEST(Hub, SendReachesOneConnectionInOrderWithThePublishesAndSubscriptions) {
  std::promise<duplex::websocket> handed;
  std::unique_ptr<pool_server> srv;
  duplex::hub* hub = nullptr;
  srv = std::make_unique<pool_server>(2, duplex::server_options{}, [&](duplex::server& s, duplex::hub& h) {
    hub = &h;
    s.websocket("/hand", [&handed](duplex::websocket ws) -> asio::awaitable<void> {
      handed.set_value(ws);
      while (co_await ws.read()) {
      }
    });
  });
  run_client([&]() -> asio::awaitable<void> {
    auto ws = co_await duplex::connect(srv->ws_url("/hand"));
    {
      auto server_side = handed.get_future().get();
      // From a thread that is none of the server's: a reply, then the
      // subscription, then what the topic gets, then another reply.
      std::thread t([&] {
        for (int i = 0; i < 50; ++i) hub->send(server_side, "0:" + std::to_string(i));
        hub->subscribe(server_side, "t");
        hub->publish("t", "1:0");
        hub->send(server_side, "0:50");
        hub->publish("other", "2:0");  // not a member
      });
      t.join();
    }
    std::vector<std::string> got;
    for (int n = 0; n < 52; ++n) {
      auto m = co_await ws.read();
      if (!m) {
        ADD_FAILURE() << "ended after " << n;
        break;
      }
      got.push_back(m->data);
    }
    std::vector<std::string> want;
    for (int i = 0; i < 50; ++i) want.push_back("0:" + std::to_string(i));
    want.push_back("1:0");
    want.push_back("0:50");
    EXPECT_EQ(got, want);
    co_await ws.close();
  });
}
