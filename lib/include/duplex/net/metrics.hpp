// Server counters and the Prometheus text format.
//
// Every server thread owns one traffic_counters and is its only writer, so
// counting costs a plain load and store (relaxed atomics: no lock prefix, no
// cache line shared between threads). A scrape sums the threads' counters.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duplex {

// A counter with one writing thread; any thread may read it.
class thread_counter {
 public:
  void add(std::uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// One server thread's WebSocket traffic. Cache-line aligned so that two
// threads' counters never share a line.
struct alignas(64) traffic_counters {
  thread_counter opened, closed;
  thread_counter messages_in, messages_out, bytes_in, bytes_out;
  thread_counter slow_consumer_closes;
  // Messages refused by the receive rate limit, and connections it closed.
  thread_counter rate_limited, rate_limit_closes;
  // Connections refused (429) before the upgrade by the per-IP limits
  // (server_options::per_ip): too many open, or handshakes too fast.
  thread_counter refused_per_ip_connections, refused_per_ip_handshake_rate;
  // Close codes 1000..1015 (the peer's, or the one we failed the connection
  // with) and every other code in one bucket.
  std::array<thread_counter, 16> closes_by_code;
  thread_counter closes_other;
};

// The sum over a server's threads at one moment.
struct server_stats {
  std::uint64_t connections = 0;  // open WebSocket connections
  std::uint64_t opened = 0, closed = 0;
  std::uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0;
  std::uint64_t slow_consumer_closes = 0;
  std::uint64_t rate_limited = 0, rate_limit_closes = 0;
  std::uint64_t refused_per_ip_connections = 0, refused_per_ip_handshake_rate = 0;
  std::vector<std::pair<std::string, std::uint64_t>> closes_by_code;  // ("1000", n)..., ("other", n); zeros left out
};

// Renders server_stats plus gauges the application registers (rooms, broker
// state, latencies) as Prometheus text exposition format 0.0.4.
class metrics {
 public:
  // `value` is called at scrape time on the scraping thread: it must be
  // safe to call from any thread (read an atomic, or a thread-safe count).
  void gauge(std::string name, std::string help, std::function<double()> value);
  // The same for a value that only grows (name it *_total): typed counter.
  void counter(std::string name, std::string help, std::function<double()> value);
  // A family of counters told apart by one label (refusals by reason):
  // `values` returns (label value, count) pairs at scrape time, same thread
  // rules as above, rendered in that order as name{label="value"} count.
  // Label values are escaped as the format wants (\, \", \n).
  //   m.counter_family("app_refused_total", "Requests refused, by reason.", "reason",
  //                    [&] { return metrics::samples{{"bad_token", 3.0}, {"rate_limited", 1.0}}; });
  using samples = std::vector<std::pair<std::string, double>>;
  void counter_family(std::string name, std::string help, std::string label, std::function<samples()> values);
  std::string render(const server_stats& s) const;

 private:
  struct entry {
    std::string name, help;
    std::function<double()> value;
    const char* type;
    std::string label;                 // a family's (value unset)
    std::function<samples()> values;
  };
  std::vector<entry> gauges_;
};

}  // namespace duplex
