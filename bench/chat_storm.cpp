// chat_storm: a join storm against a chat server (issue 11's scale bench).
//
// N clients connect and join one room as fast as the server takes them
// (at most --concurrency joins in flight). Once every join has been
// answered (the joiner's first message from the server), client 0 sends one chat message carrying a unique marker; every
// member records when the marker reaches it. Reported as one JSON line:
//   joined        clients whose handshake succeeded
//   closed        members the server closed during the run (any code), and
//                 the close codes seen
//   bytes_max/mean payload bytes each member received from its connect up
//                 to the marker (the storm's cost per member)
//   marker_got    members that received the marker within --timeout
//   p50/p99/max   marker delivery latency (ms) from its send
//   fanout_deliveries_per_s  with --fanout S: for S seconds the sender keeps
//                 --window chat messages in flight; messages received by all
//                 members per second (closes during it are in `closed`)
//   fanout_p50_ms/p99_ms  the fan-out lines' latency from their send to each
//                 member's receipt (every delivery counts)
//   cpu_s         with --cpu-pid PID (repeatable): CPU seconds each of those
//                 processes used during the fan-out phase
// --url is repeatable: client i connects to the (i mod count)-th, so the
// members of one room can be spread over several servers sharing it.
// The join and chat messages are templates (the protocol may change):
// "%d" in --join becomes the client's index, "%s" in --chat the marker.
#include <duplex/net/client.hpp>

#include "proc_stats.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct member {
  std::uint64_t bytes = 0;  // payload bytes before the marker arrived
  std::uint64_t fanout_received = 0;  // messages during the fan-out phase
  std::optional<clock_type::time_point> marker_at;
  std::uint16_t close_code = 0;
  bool connected = false;
  bool done = false;
};

struct config {
  std::vector<std::string> urls;  // default ws://127.0.0.1:3000/ws/chat
  std::vector<long> cpu_pids;
  int clients = 5000;
  int concurrency = 256;
  std::string subprotocol = "duplex.chat.v1";  // the chat refuses clients without one (4406)
  std::string join = R"({"type":"join","name":"u%d"})";
  std::string chat = R"({"type":"chat","text":"%s"})";
  double timeout_s = 10;
  double fanout_s = 0;  // then this long a fan-out phase (0: none)
  int window = 8;       // fan-out messages in flight (the sender is a member)
};

std::string fill(const std::string& tmpl, const std::string& value) {
  std::string out = tmpl;
  for (const char* key : {"%d", "%s"})
    if (auto p = out.find(key); p != std::string::npos) out.replace(p, 2, value);
  return out;
}

struct storm {
  config cfg;
  std::vector<member> members;
  std::vector<std::optional<duplex::websocket>> sockets;
  int pending_connects = 0;
  int joins_sent = 0;
  int joins_failed = 0;
  std::string marker = "storm-marker-" + std::to_string(std::rand());
  std::optional<clock_type::time_point> marker_sent;
  bool fanout = false;
  int fanout_in_flight = 0;
  std::uint64_t fanout_sent = 0;
  std::vector<clock_type::time_point> fanout_sent_at;  // by fan-out line number
  std::vector<float> fanout_lat_ms;                     // one per delivery
  int sender = -1;

  asio::awaitable<void> run_member(int i) {
    member& m = members[i];
    bool answered = false;
    try {
      duplex::connect_options o;
      if (!cfg.subprotocol.empty()) o.subprotocols.push_back(cfg.subprotocol);
      o.websocket.max_message_size = 64 * 1024 * 1024;
      o.websocket.idle_timeout = std::chrono::seconds(600);
      const std::string& url = cfg.urls[static_cast<std::size_t>(i) % cfg.urls.size()];
      auto ws = co_await duplex::connect(url, o);
      m.connected = true;
      sockets[i] = ws;
      co_await ws.send(fill(cfg.join, std::to_string(i)));
      ++joins_sent;
      // The join counts as done when the server's first answer arrives, so
      // the marker goes out after the server has taken every join.
      duplex::message_batch batch;
      while (co_await ws.read(batch)) {
        if (!answered) answered = true, --pending_connects;
        for (const auto& msg : batch) {
          if (fanout) {
            ++m.fanout_received;
            const auto at = msg.data.find("fan-");
            if (at == std::string_view::npos) continue;
            if (i == sender) --fanout_in_flight;
            const auto n = std::strtoull(msg.data.data() + at + 4, nullptr, 10);
            if (n < fanout_sent_at.size())
              fanout_lat_ms.push_back(
                  std::chrono::duration<float, std::milli>(clock_type::now() - fanout_sent_at[n]).count());
            continue;
          }
          if (!m.marker_at) {
            m.bytes += msg.data.size();
            if (marker_sent && msg.data.find(marker) != std::string_view::npos) m.marker_at = clock_type::now();
          }
        }
      }
      m.close_code = ws.close_code();
    } catch (const std::exception&) {
      if (!m.connected) ++joins_failed;
    }
    if (!answered) --pending_connects;
    m.done = true;
  }
};

asio::awaitable<void> drive(storm& s) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer t(ex);
  const auto start = clock_type::now();
  for (int i = 0; i < s.cfg.clients; ++i) {
    while (s.pending_connects >= s.cfg.concurrency) {
      t.expires_after(std::chrono::milliseconds(1));
      co_await t.async_wait(asio::use_awaitable);
    }
    ++s.pending_connects;
    asio::co_spawn(ex, s.run_member(i), asio::detached);
  }
  while (s.pending_connects > 0) {
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(asio::use_awaitable);
  }
  const double storm_s = std::chrono::duration<double>(clock_type::now() - start).count();
  // Client 0 (or the first still connected) sends the marker right after the last join.
  s.marker_sent = clock_type::now();
  for (std::size_t i = 0; i < s.sockets.size(); ++i)
    if (s.sockets[i] && s.sockets[i]->is_open()) {
      s.sender = static_cast<int>(i);
      co_await s.sockets[i]->send(fill(s.cfg.chat, s.marker));
      break;
    }
  const auto deadline = *s.marker_sent + std::chrono::duration<double>(s.cfg.timeout_s);
  for (;;) {
    bool all = true;
    for (auto& m : s.members)
      if (m.connected && !m.done && !m.marker_at) all = false;
    if (all || clock_type::now() >= deadline) break;
    t.expires_after(std::chrono::milliseconds(5));
    co_await t.async_wait(asio::use_awaitable);
  }

  std::vector<double> lat;
  std::uint64_t bytes_max = 0, bytes_sum = 0;
  int joined = 0, closed = 0;
  std::map<int, int> codes;
  for (auto& m : s.members) {
    if (!m.connected) continue;
    ++joined;
    bytes_max = std::max(bytes_max, m.bytes);
    bytes_sum += m.bytes;
    if (m.marker_at) lat.push_back(std::chrono::duration<double, std::milli>(*m.marker_at - *s.marker_sent).count());
  }
  std::sort(lat.begin(), lat.end());

  // Fan-out: the sender keeps `window` chat messages in flight (one is done
  // when it comes back to the sender); every member counts what it receives.
  double fanout_rate = 0;
  std::uint64_t fanout_total = 0;
  std::vector<double> cpu0;
  for (long pid : s.cfg.cpu_pids) cpu0.push_back(bench::read_cpu_s(pid));
  if (s.cfg.fanout_s > 0 && s.sender >= 0) {
    s.fanout = true;
    auto& ws = *s.sockets[s.sender];
    const auto f0 = clock_type::now();
    const auto fend = f0 + std::chrono::duration<double>(s.cfg.fanout_s);
    while (clock_type::now() < fend && ws.is_open()) {
      while (s.fanout_in_flight < s.cfg.window) {
        ++s.fanout_in_flight;
        s.fanout_sent_at.push_back(clock_type::now());
        co_await ws.send(fill(s.cfg.chat, "fan-" + std::to_string(s.fanout_sent++)));
      }
      t.expires_after(std::chrono::microseconds(200));
      co_await t.async_wait(asio::use_awaitable);
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - f0).count();
    std::uint64_t total = 0;
    for (auto& m : s.members) total += m.fanout_received;
    fanout_rate = total / secs;
    fanout_total = total;
    s.fanout = false;
  }
  std::string cpu = "[";
  for (std::size_t k = 0; k < cpu0.size(); ++k) {
    if (k) cpu += ',';
    cpu += std::to_string(bench::read_cpu_s(s.cfg.cpu_pids[k]) - cpu0[k]);
  }
  cpu += "]";
  std::sort(s.fanout_lat_ms.begin(), s.fanout_lat_ms.end());
  auto fpct = [&](double p) {
    auto& v = s.fanout_lat_ms;
    return v.empty() ? -1.0 : double(v[std::min(v.size() - 1, std::size_t(p * v.size()))]);
  };
  for (auto& m : s.members)
    if (m.connected && m.done) ++closed, ++codes[m.close_code];
  auto pct = [&](double p) { return lat.empty() ? -1.0 : lat[std::min(lat.size() - 1, std::size_t(p * lat.size()))]; };
  std::printf("{\"clients\":%d,\"joined\":%d,\"connect_failed\":%d,\"storm_s\":%.3f,\"closed\":%d,\"close_codes\":{",
              s.cfg.clients, joined, s.joins_failed, storm_s, closed);
  bool first = true;
  for (auto [c, n] : codes) std::printf("%s\"%d\":%d", first ? "" : ",", c, n), first = false;
  std::printf("},\"bytes_max\":%llu,\"bytes_mean\":%.0f,\"marker_got\":%zu,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,\"fanout_deliveries_per_s\":%.0f,\"fanout_deliveries\":%llu,\"fanout_sent\":%llu,"
              "\"fanout_p50_ms\":%.2f,\"fanout_p99_ms\":%.2f,\"cpu_s\":%s}\n",
              static_cast<unsigned long long>(bytes_max), joined ? double(bytes_sum) / joined : 0.0, lat.size(),
              pct(0.50), pct(0.99), lat.empty() ? -1.0 : lat.back(), fanout_rate, static_cast<unsigned long long>(fanout_total),
              static_cast<unsigned long long>(s.fanout_sent), fpct(0.50), fpct(0.99), cpu.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  storm s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "chat_storm: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--url") s.cfg.urls.push_back(next());
    else if (a == "--cpu-pid") s.cfg.cpu_pids.push_back(std::atol(next().c_str()));
    else if (a == "--clients") s.cfg.clients = std::atoi(next().c_str());
    else if (a == "--concurrency") s.cfg.concurrency = std::atoi(next().c_str());
    else if (a == "--subprotocol") s.cfg.subprotocol = next();
    else if (a == "--join") s.cfg.join = next();
    else if (a == "--chat") s.cfg.chat = next();
    else if (a == "--timeout") s.cfg.timeout_s = std::atof(next().c_str());
    else if (a == "--fanout") s.cfg.fanout_s = std::atof(next().c_str());
    else if (a == "--window") s.cfg.window = std::atoi(next().c_str());
    else {
      std::cerr << "usage: chat_storm [--url U] [--clients N] [--concurrency C] [--subprotocol P] [--join T] [--chat T] [--timeout S] [--fanout S] [--window W] [--cpu-pid PID]...\n";
      return 2;
    }
  }
  if (s.cfg.urls.empty()) s.cfg.urls.push_back("ws://127.0.0.1:3000/ws/chat");
  s.members.resize(s.cfg.clients);
  s.sockets.resize(s.cfg.clients);
  asio::io_context io(1);
  asio::co_spawn(io, drive(s), [&](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
    io.stop();  // the members' connections are dropped with the process
  });
  io.run();
  std::_Exit(0);  // skip destroying thousands of sessions whose io_context has stopped
}
