// chat_scale: one of the client processes of bench/chat_scale.sh (issue 23:
// the chat at scale on one machine).
//
// The members are numbered 0 .. --total-1 across all the client processes;
// member g is named "m<g>" and joins room "big" when g < --big, otherwise
// room "r<(g - big) mod (rooms - 1)>". Process --proc p of --procs P takes
// the members g with g mod P == p, so every room (the big one included) is
// spread evenly over the processes and no process has to parse every
// delivery of a broadcast. Members are joined in order, at most
// --concurrency joins in flight (connect, upgrade, join, "joined"): first
// the big room's, then (after the "rest" command) the other rooms'.
//
// --url is repeatable (several instances sharing rooms through Redis): this
// process's k-th member connects to the (k mod count)-th.
//
// Output, one JSON line each on stdout (times are CLOCK_MONOTONIC ns, the
// same clock in every process on the host):
//   {"event":"big_joined",...}  once the big room's members here are answered
//   {"event":"joined",...}      once every member has its "joined" answer (or failed)
// Commands, one a line on stdin (the script writes them through a FIFO):
//   rest             join the other rooms' members (after big_joined)
//   say ROOM ROUND   the first joined member of ROOM here sends the line
//                    "mark-ROUND-<send time ns>" (process 0 gets these)
//   stats            prints {"event":"stats",...}: bytes received (all, and
//                    by the big room's members), the ns since any member here
//                    last received anything and when, closes
//   dump FILE        writes "ROUND LATENCY_US" per marker delivery here
//   quit             exits at once (the kernel closes the connections)
#include <duplex/net/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/read_until.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <istream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct config {
  std::vector<std::string> urls;  // member k of this process: urls[k mod n]
  std::string subprotocol = "duplex.chat.v2";
  int total = 15000, big = 5000, rooms = 100, procs = 1, proc = 0, concurrency = 64;
};

struct member {
  int g = 0;
  std::string room;
  std::optional<duplex::websocket> ws;
  bool joined = false, failed = false, closed = false;
  std::uint16_t close_code = 0;
};

struct client {
  config cfg;
  std::vector<member> members;
  int in_flight = 0, finished = 0;  // joins started and not answered / answered or failed
  int joined = 0, failed = 0, closed = 0;
  std::int64_t start_ns = 0, big_done_ns = 0, all_done_ns = 0, rest_start_ns = 0;
  bool rest_allowed = false;  // the "rest" command: join the other rooms' members
  int big_here = 0, big_answered = 0;
  std::uint64_t bytes = 0, messages = 0, errors = 0;
  std::uint64_t big_bytes = 0;  // received by the big room's members
  std::int64_t last_rx_ns = 0;
  std::map<int, int> close_codes;
  std::vector<std::pair<int, std::int64_t>> marks;  // (round, latency ns)
  std::string first_error;

  void answered(member& m) {
    --in_flight;
    ++finished;
    if (m.g < cfg.big && ++big_answered == big_here) big_done_ns = mono_ns();
    if (finished == static_cast<int>(members.size())) {
      all_done_ns = mono_ns();
      std::printf(
          "{\"event\":\"joined\",\"proc\":%d,\"members\":%zu,\"joined\":%d,\"failed\":%d,\"start_ns\":%lld,"
          "\"big_done_ns\":%lld,\"rest_start_ns\":%lld,\"all_done_ns\":%lld,\"big_here\":%d,\"first_error\":\"%s\"}\n",
          cfg.proc, members.size(), joined, failed, static_cast<long long>(start_ns),
          static_cast<long long>(big_done_ns), static_cast<long long>(rest_start_ns ? rest_start_ns : big_done_ns), static_cast<long long>(all_done_ns), big_here, first_error.c_str());
      std::fflush(stdout);
    }
  }

  asio::awaitable<void> run_member(member& m) {
    bool answered_yet = false;
    try {
      duplex::connect_options o;
      o.subprotocols.push_back(cfg.subprotocol);
      o.websocket.max_message_size = 64 * 1024 * 1024;
      o.websocket.idle_timeout = std::chrono::seconds(3600);
      o.handshake_timeout = std::chrono::seconds(60);
      const auto k = static_cast<std::size_t>(m.g / cfg.procs);  // spreads every room over the urls
      m.ws.emplace(co_await duplex::connect(cfg.urls[k % cfg.urls.size()], o));
      auto& ws = *m.ws;
      co_await ws.send("{\"type\":\"join\",\"name\":\"m" + std::to_string(m.g) + "\",\"room\":\"" + m.room + "\"}");
      duplex::message_batch batch;
      while (co_await ws.read(batch)) {
        const std::int64_t now = mono_ns();
        last_rx_ns = now;
        for (const auto& msg : batch) {
          const std::string_view d = msg.data;
          bytes += d.size();
          if (m.g < cfg.big) big_bytes += d.size();
          ++messages;
          if (!answered_yet) {
            if (d.find("\"type\":\"joined\"") != std::string_view::npos) {
              answered_yet = true;
              m.joined = true;
              ++joined;
              answered(m);
            } else if (d.find("\"type\":\"error\"") != std::string_view::npos) {
              answered_yet = true;
              m.failed = true;
              ++failed;
              if (first_error.empty()) first_error = std::string(d.substr(0, 120));
              for (auto& c : first_error)
                if (c == '"' || c == '\\') c = '\'';
              answered(m);
            }
            continue;
          }
          if (d.find("\"type\":\"error\"") != std::string_view::npos) ++errors;
          if (auto at = d.find("mark-"); at != std::string_view::npos) {
            char* end = nullptr;
            const long round = std::strtol(d.data() + at + 5, &end, 10);
            if (end && *end == '-') {
              const long long sent = std::strtoll(end + 1, nullptr, 10);
              marks.emplace_back(static_cast<int>(round), now - sent);
            }
          }
        }
      }
      m.close_code = ws.close_code();
    } catch (const std::exception& e) {
      if (first_error.empty()) first_error = e.what();
      for (auto& c : first_error)
        if (c == '"' || c == '\\') c = '\'';
    }
    if (!answered_yet) {
      m.failed = true;
      ++failed;
      answered(m);
    } else {
      m.closed = true;
      ++closed;
      ++close_codes[m.close_code];
    }
  }

  asio::awaitable<void> join_all() {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer t(ex);
    start_ns = mono_ns();
    if (big_here == 0) big_done_ns = start_ns;
    bool big_phase = true;
    for (auto& m : members) {
      if (big_phase && m.g >= cfg.big) {
        // The big room is complete here: wait for the other rooms' turn.
        big_phase = false;
        while (big_answered < big_here) {
          t.expires_after(std::chrono::milliseconds(1));
          co_await t.async_wait(asio::use_awaitable);
        }
        std::printf("{\"event\":\"big_joined\",\"proc\":%d,\"start_ns\":%lld,\"big_done_ns\":%lld}\n", cfg.proc,
                    static_cast<long long>(start_ns), static_cast<long long>(big_done_ns));
        std::fflush(stdout);
        while (!rest_allowed) {
          t.expires_after(std::chrono::milliseconds(1));
          co_await t.async_wait(asio::use_awaitable);
        }
        rest_start_ns = mono_ns();
      }
      while (in_flight >= cfg.concurrency) {
        t.expires_after(std::chrono::milliseconds(1));
        co_await t.async_wait(asio::use_awaitable);
      }
      ++in_flight;
      asio::co_spawn(ex, run_member(m), asio::detached);
    }
    if (big_phase) {  // only big-room members here
      while (big_answered < big_here) {
        t.expires_after(std::chrono::milliseconds(1));
        co_await t.async_wait(asio::use_awaitable);
      }
      std::printf("{\"event\":\"big_joined\",\"proc\":%d,\"start_ns\":%lld,\"big_done_ns\":%lld}\n", cfg.proc,
                  static_cast<long long>(start_ns), static_cast<long long>(big_done_ns));
      std::fflush(stdout);
    }
  }

  asio::awaitable<void> say(const std::string& room, int round) {
    for (auto& m : members)
      if (m.room == room && m.joined && !m.closed && m.ws && m.ws->is_open()) {
        const std::string text = "mark-" + std::to_string(round) + "-" + std::to_string(mono_ns());
        co_await m.ws->send("{\"type\":\"chat\",\"text\":\"" + text + "\"}");
        co_return;
      }
    std::printf("{\"event\":\"say_failed\",\"room\":\"%s\"}\n", room.c_str());
    std::fflush(stdout);
  }

  void stats() {
    const std::int64_t now = mono_ns();
    std::printf("{\"event\":\"stats\",\"proc\":%d,\"bytes\":%llu,\"big_bytes\":%llu,\"messages\":%llu,\"quiet_ns\":%lld,"
                "\"last_rx_ns\":%lld,\"closed\":%d,\"errors\":%llu,\"marks\":%zu,\"close_codes\":{",
                cfg.proc, static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(big_bytes),
                static_cast<unsigned long long>(messages), static_cast<long long>(last_rx_ns ? now - last_rx_ns : now - start_ns),
                static_cast<long long>(last_rx_ns), closed,
                static_cast<unsigned long long>(errors), marks.size());
    bool first = true;
    for (auto [c, n] : close_codes) std::printf("%s\"%d\":%d", first ? "" : ",", c, n), first = false;
    std::printf("}}\n");
    std::fflush(stdout);
  }

  asio::awaitable<void> commands() {
    auto ex = co_await asio::this_coro::executor;
    asio::posix::stream_descriptor in(ex, ::dup(0));
    asio::streambuf buf;
    for (;;) {
      std::error_code ec;
      co_await asio::async_read_until(in, buf, '\n', asio::redirect_error(asio::use_awaitable, ec));
      if (ec) std::_Exit(0);  // the script went away
      std::istream is(&buf);
      std::string line;
      std::getline(is, line);
      std::istringstream cmd(line);
      std::string op;
      cmd >> op;
      if (op == "say") {
        std::string room;
        int round = 0;
        cmd >> room >> round;
        co_await say(room, round);
      } else if (op == "rest") {
        rest_allowed = true;
      } else if (op == "stats") {
        stats();
      } else if (op == "dump") {
        std::string path;
        cmd >> path;
        std::ofstream f(path);
        for (auto [r, ns] : marks) f << r << ' ' << static_cast<double>(ns) / 1e3 << '\n';
        f.close();
        std::printf("{\"event\":\"dumped\",\"proc\":%d,\"marks\":%zu}\n", cfg.proc, marks.size());
        std::fflush(stdout);
      } else if (op == "quit") {
        std::fflush(stdout);
        std::_Exit(0);  // skip tearing down thousands of sessions
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  client c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "chat_scale: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--url") c.cfg.urls.push_back(next());
    else if (a == "--subprotocol") c.cfg.subprotocol = next();
    else if (a == "--total") c.cfg.total = std::atoi(next().c_str());
    else if (a == "--big") c.cfg.big = std::atoi(next().c_str());
    else if (a == "--rooms") c.cfg.rooms = std::atoi(next().c_str());
    else if (a == "--procs") c.cfg.procs = std::atoi(next().c_str());
    else if (a == "--proc") c.cfg.proc = std::atoi(next().c_str());
    else if (a == "--concurrency") c.cfg.concurrency = std::atoi(next().c_str());
    else {
      std::cerr << "usage: chat_scale --url U [--total N] [--big N] [--rooms N] [--procs P --proc p] [--concurrency C]\n";
      return 2;
    }
  }
  if (c.cfg.urls.empty()) c.cfg.urls.push_back("ws://127.0.0.1:3000/ws/chat");
  const config& k = c.cfg;
  if (k.rooms < 2 || k.big > k.total || k.procs < 1 || k.proc < 0 || k.proc >= k.procs) {
    std::cerr << "chat_scale: bad --rooms/--big/--procs/--proc\n";
    return 2;
  }
  for (int g = k.proc; g < k.total; g += k.procs) {
    member m;
    m.g = g;
    m.room = g < k.big ? std::string("big") : "r" + std::to_string((g - k.big) % (k.rooms - 1));
    if (g < k.big) ++c.big_here;
    c.members.push_back(std::move(m));
  }
  asio::io_context io(1);
  asio::co_spawn(io, c.join_all(), asio::detached);
  asio::co_spawn(io, c.commands(), asio::detached);
  io.run();
  std::_Exit(0);
}
