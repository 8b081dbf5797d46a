// History engine micro-benchmark (issue 11): publish throughput with
// persistence off (memory engine) and on (SQLite write-behind), the writer's
// disk throughput, reopening, and the server time to resume a client that
// missed 1,000 messages (since() + merge).
//
//   history_bench [messages=200000] [payload_bytes=100] [dir=build/bench/history-data]
#include <duplex/realtime/history.hpp>
#include <duplex/realtime/recovery.hpp>
#include <duplex/realtime/sqlite_history.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace rt = duplex::realtime;
using hclock = std::chrono::steady_clock;

namespace {

double seconds_since(hclock::time_point t) { return std::chrono::duration<double>(hclock::now() - t).count(); }

rt::stream_position publish_all(rt::history_engine& h, int n, const std::string& payload, int channels) {
  rt::stream_position last;
  for (int i = 0; i < n; ++i)
    h.publish("room" + std::to_string(i % channels), payload,
              [&](std::error_code, rt::stream_position p) { last = std::move(p); });
  return last;
}

// Server time for one resume of `missed` publications: history read + merge.
double resume_us(rt::history_engine& h, const std::string& channel, rt::stream_position top, std::uint64_t missed) {
  const int reps = 50;
  auto t = hclock::now();
  std::size_t got = 0;
  for (int r = 0; r < reps; ++r) {
    rt::recovery rec({top.offset - missed, top.epoch});
    h.since(channel, rec.client(), 0, [&](std::error_code ec, rt::history_page page) {
      auto res = rec.finish(ec, page);
      if (res.ec) std::fprintf(stderr, "resume failed: %s\n", res.ec.message().c_str()), std::exit(1);
      got += res.publications.size();
    });
  }
  if (got != missed * reps) std::fprintf(stderr, "resume returned %zu\n", got), std::exit(1);
  return seconds_since(t) / reps * 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200000;
  std::size_t bytes = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100;
  std::filesystem::path dir = argc > 3 ? argv[3] : "build/bench/history-data";
  const int channels = 10;
  std::string payload(bytes, 'x');
  std::filesystem::remove_all(dir);

  rt::memory_history memory({.retention = 1000});
  auto t = hclock::now();
  publish_all(memory, n, payload, channels);
  double mem_s = seconds_since(t);

  std::error_code ec;
  std::string detail;
  auto sqlite = rt::sqlite_history::open({.directory = dir, .retention = 1000}, ec, &detail);
  if (!sqlite) return std::fprintf(stderr, "open: %s: %s\n", ec.message().c_str(), detail.c_str()), 1;
  t = hclock::now();
  auto top = publish_all(*sqlite, n, payload, channels);
  double pub_s = seconds_since(t);
  sqlite->flush();
  double disk_s = seconds_since(t);
  auto stats = sqlite->stats();
  double resume_live = resume_us(*sqlite, "room" + std::to_string((n - 1) % channels), top, 1000);
  sqlite->close();

  t = hclock::now();
  sqlite = rt::sqlite_history::open({.directory = dir, .retention = 1000}, ec, &detail);
  double reopen_ms = seconds_since(t) * 1e3;
  if (!sqlite) return std::fprintf(stderr, "reopen: %s: %s\n", ec.message().c_str(), detail.c_str()), 1;
  double resume_reopened = resume_us(*sqlite, "room" + std::to_string((n - 1) % channels), top, 1000);
  sqlite->close();

  std::printf("messages %d x %zu B over %d channels, retention 1000\n", n, bytes, channels);
  std::printf("%-44s %12.0f msg/s\n", "publish, persistence off (memory)", n / mem_s);
  std::printf("%-44s %12.0f msg/s  (%.0f%% of off)\n", "publish, persistence on (SQLite, caller side)", n / pub_s,
              100.0 * mem_s / pub_s);
  std::printf("%-44s %12.0f msg/s  (%llu batches, %.0f msg/batch)\n", "SQLite committed to disk (publish+flush)",
              n / disk_s, static_cast<unsigned long long>(stats.batches),
              stats.batches ? double(stats.committed) / double(stats.batches) : 0.0);
  std::printf("%-44s %12.1f ms\n", "reopen (load 10 x 1000 kept)", reopen_ms);
  std::printf("%-44s %12.1f us\n", "resume 1000 missed (since + merge)", resume_live);
  std::printf("%-44s %12.1f us\n", "resume 1000 missed after reopen", resume_reopened);
  std::filesystem::remove_all(dir);
}
