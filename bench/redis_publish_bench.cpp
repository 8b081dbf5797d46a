// Publish latency and throughput through duplex::redis::streams (the Lua
// script: offset, XADD, EXPIRE, PUBLISH), one request at a time against
// many in flight on the one pipelined connection, with a subscriber
// counting deliveries.
//
//   redis-server --port 6399 --save '' --appendonly no &
//   build/bench/redis_publish_bench redis://127.0.0.1:6399 [publications] [in-flight]
#include <duplex/redis/client.hpp>
#include <duplex/redis/streams.hpp>
#include <duplex/redis/subscriber.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using clock_type = std::chrono::steady_clock;

namespace {

struct result {
  double seconds = 0;
  std::vector<double> latencies_us;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

// `in_flight` workers, each publishing its share one after another.
asio::awaitable<result> publish_all(duplex::redis::streams& s, std::string channel, int count, int in_flight,
                                    const std::string& payload) {
  result r;
  r.latencies_us.resize(count);
  int next = 0, finished = 0;
  auto ex = co_await asio::this_coro::executor;
  const auto t0 = clock_type::now();
  for (int w = 0; w < in_flight; ++w) {
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          while (next < count) {
            const int i = next++;
            const auto start = clock_type::now();
            co_await s.publish(channel, payload);
            r.latencies_us[i] = std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
          }
          ++finished;
        },
        asio::detached);
  }
  asio::steady_timer t(ex);
  while (finished < in_flight) {
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(asio::use_awaitable);
  }
  r.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  co_return r;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string url = argc > 1 ? argv[1] : "redis://127.0.0.1:6379";
  const int count = argc > 2 ? std::stoi(argv[2]) : 20000;
  const int pipelined = argc > 3 ? std::stoi(argv[3]) : 64;
  asio::io_context io(1);
  long long delivered = 0;
  auto main_co = [&]() -> asio::awaitable<void> {
    auto opts = duplex::redis::options_from_url(url);
    auto redis = co_await duplex::redis::client::connect(opts);
    duplex::redis::stream_config config;
    config.prefix = "bench";
    config.size = 1000;
    duplex::redis::streams streams(redis, config);
    auto sub = co_await duplex::redis::subscriber::connect(
        opts, [&](std::string_view, std::string_view) { ++delivered; });
    const std::string payload(100, 'x');
    std::printf("%-22s %10s %10s %10s %10s %10s\n", "mode", "pubs", "pubs/s", "p50 us", "p99 us", "delivered");
    for (int in_flight : {1, pipelined}) {
      const std::string channel = "bench-" + std::to_string(in_flight);
      co_await streams.reset(channel);
      co_await sub.subscribe(streams.pubsub_channel(channel));
      delivered = 0;
      auto r = co_await publish_all(streams, channel, count, in_flight, payload);
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(200));
      co_await t.async_wait(asio::use_awaitable);  // let the last deliveries in
      const std::string mode = in_flight == 1 ? "one at a time" : std::to_string(in_flight) + " in flight";
      std::printf("%-22s %10d %10.0f %10.0f %10.0f %10lld\n", mode.c_str(), count, count / r.seconds,
                  percentile(r.latencies_us, 0.5), percentile(r.latencies_us, 0.99), delivered);
      sub.unsubscribe(streams.pubsub_channel(channel));
    }
    sub.close();
    redis.close();
  };
  asio::co_spawn(io, main_co(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "redis_publish_bench: %s\n", x.what());
      std::exit(1);
    }
  });
  io.run();
}
