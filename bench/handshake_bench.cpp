// handshake_bench: WebSocket handshakes per second against a duplex::server,
// with and without JWT verification in the endpoint's upgrade hook (issue 20).
//
//   handshake_bench [--seconds 0.5] [--warmup 0.1] [--rounds 16] [--conns 16]
//                   [--server-cpu 0] [--client-cpu 1]
//
// One process, two threads: the server (one io_context, as duplex-echo runs)
// pinned to --server-cpu, and the load on --client-cpu: --conns coroutines,
// each one handshake after another over a fresh TCP connection (connect,
// send the upgrade request, read the response head; then close with an RST,
// SO_LINGER 0, so no port waits in TIME_WAIT), counting only 101 answers.
// Endpoints, one per row:
//   none   no upgrade hook
//   hook   a hook that accepts without looking (the hook's own cost)
//   HS256  the hook takes "Authorization: Bearer <token>" and verifies it
//          with duplex::auth (HMAC secret; issuer and audience checked)
//   ES256  the same with an ECDSA P-256 public key
// The tokens are minted here with OpenSSL (tests/auth/jwt_mint.hpp), fresh
// keys each run, with a realistic payload (sub, iss, aud, iat, exp, name,
// rooms). Rows are measured in many short rounds, in reversed order every
// other round, and each row's median round is printed: handshakes per
// second, the server thread's CPU (its own clock), handshakes per server
// CPU-second (the fairer figure when the client is the bottleneck) and the
// handshake latency (connect issued to the 101 parsed); and the median of
// its ratio to the "none" row of the same round, which the drift of a
// shared machine disturbs least.
#include <duplex/auth/jwt.hpp>
#include <duplex/net/server.hpp>

#include "jwt_mint.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace auth = duplex::auth;
using asio::ip::tcp;
using hclock = std::chrono::steady_clock;
using namespace duplex::test::jwt;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "handshake_bench: %s\n", what.c_str());
  std::exit(1);
}

void pin(pthread_t t, int cpu) {
  if (cpu < 0 || cpu >= static_cast<int>(std::thread::hardware_concurrency())) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(t, sizeof set, &set);
}

double thread_cpu_s(pthread_t t) {
  clockid_t id;
  if (pthread_getcpuclockid(t, &id) != 0) return 0;
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

const char* const issuer = "https://id.example.com";

std::string payload() {
  const long long now = unix_now();
  return R"({"sub":"user-1234","iss":")" + std::string(issuer) + R"(","aud":"chat","iat":)" + std::to_string(now) +
         R"(,"exp":)" + std::to_string(now + 3600) + R"(,"name":"Alice","rooms":["lobby","dev","random"]})";
}

struct user {
  std::string id;
};

// The hook of a verifying endpoint (the chat's pattern, server/chat_auth.cpp).
duplex::endpoint_options verifying(const auth::key_set* keys) {
  duplex::endpoint_options o;
  auth::verify_options v;  // once, as the chat's authenticator holds it
  v.issuer = issuer;
  v.audience = "chat";
  o.on_upgrade = [keys, v](const duplex::upgrade_request& r) -> asio::awaitable<duplex::upgrade_decision> {
    const auto h = r.header("Authorization");
    if (!h || h->size() <= 7 || h->substr(0, 7) != "Bearer ") co_return duplex::upgrade_decision::refuse(401, "token required");
    auto claims = auth::verify(h->substr(7), *keys, v);
    if (!claims || !claims->sub) co_return duplex::upgrade_decision::refuse(401, "invalid token");
    co_return duplex::upgrade_decision::accept(user{*claims->sub});
  };
  return o;
}

asio::awaitable<void> idle(duplex::websocket ws) {
  // read(message&), not read(): GCC 12 at -O3 miscompiles the optional
  // temporary of `while (co_await ws.read())` here (SIGILL).
  duplex::message m;
  for (;;) {
    const bool got = co_await ws.read(m);
    if (!got) break;
  }
}

struct load {
  tcp::endpoint server;
  std::string request;
  bool stop = false;
  bool measuring = false;
  long long done = 0, failed = 0;
  std::vector<std::int64_t> latencies_ns;
  int running = 0;
};

asio::awaitable<void> handshaker(load& l) {
  auto ex = co_await asio::this_coro::executor;
  std::string head;
  head.reserve(512);
  while (!l.stop) {
    tcp::socket s(ex);
    std::error_code ec;
    const auto t0 = hclock::now();
    co_await s.async_connect(l.server, asio::redirect_error(asio::use_awaitable, ec));
    bool ok = false;
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      co_await asio::async_write(s, asio::buffer(l.request), asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec) {
      head.clear();
      auto buf = asio::dynamic_buffer(head);
      co_await asio::async_read_until(s, buf, "\r\n\r\n", asio::redirect_error(asio::use_awaitable, ec));
      ok = !ec && head.compare(0, 12, "HTTP/1.1 101") == 0;
    }
    if (l.measuring) {
      if (ok) {
        ++l.done;
        l.latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(hclock::now() - t0).count());
      } else {
        ++l.failed;
      }
    }
    std::error_code ignored;
    s.set_option(asio::socket_base::linger(true, 0), ignored);
    s.close(ignored);
  }
  --l.running;
}

struct row_result {
  double per_s = 0, server_cpu = 0, per_cpu_s = 0, p50_ms = 0, p99_ms = 0;
  long long failed = 0;
};

std::string upgrade_request(std::string_view path, const std::string& token) {
  std::string r = "GET " + std::string(path) +
                  " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  return r + "\r\n";
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.5, warmup = 0.1;
  int rounds = 16, conns = 16, server_cpu = 0, client_cpu = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) die("usage: handshake_bench [--seconds S] [--warmup S] [--rounds N] [--conns N] [--server-cpu C] [--client-cpu C]");
    if (a == "--seconds") seconds = std::atof(argv[++i]);
    else if (a == "--warmup") warmup = std::atof(argv[++i]);
    else if (a == "--rounds") rounds = std::atoi(argv[++i]);
    else if (a == "--conns") conns = std::atoi(argv[++i]);
    else if (a == "--server-cpu") server_cpu = std::atoi(argv[++i]);
    else if (a == "--client-cpu") client_cpu = std::atoi(argv[++i]);
    else die("unknown option " + std::string(a));
  }

  // Keys and tokens.
  const std::string secret = random_hex(32);
  auto ec_key = ec_p256_key();
  if (!ec_key) die("EC keygen");
  auth::key_set hs_keys, es_keys;
  if (hs_keys.add_secret(secret)) die("add_secret");
  if (es_keys.add_pem(public_pem(ec_key.get()))) die("add_pem");
  const std::string hs_token = hs256(secret, payload());
  const std::string es_token = es256(ec_key.get(), payload());

  // The server, on a thread of its own.
  asio::io_context server_io(1);
  duplex::server_options so;
  so.host = "127.0.0.1";
  so.port = 0;
  duplex::server srv(server_io, so);
  srv.websocket("/none", idle);
  duplex::endpoint_options accept_all;
  accept_all.on_upgrade = [](const duplex::upgrade_request&) -> asio::awaitable<duplex::upgrade_decision> {
    co_return duplex::upgrade_decision::accept(user{"user-1234"});
  };
  srv.websocket("/hook", idle, accept_all);
  srv.websocket("/hs256", idle, verifying(&hs_keys));
  srv.websocket("/es256", idle, verifying(&es_keys));
  asio::co_spawn(server_io, srv.run(), asio::detached);
  std::thread server_thread([&] { server_io.run(); });
  pin(server_thread.native_handle(), server_cpu);
  pin(pthread_self(), client_cpu);
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), srv.port());

  struct row {
    const char* name;
    std::string request;
    std::vector<row_result> results;
  };
  std::vector<row> rows;
  rows.push_back({"none", upgrade_request("/none", ""), {}});
  rows.push_back({"hook", upgrade_request("/hook", ""), {}});
  rows.push_back({"HS256", upgrade_request("/hs256", hs_token), {}});
  rows.push_back({"ES256", upgrade_request("/es256", es_token), {}});

  std::printf("handshake_bench: %d concurrent handshakes, %.1f s per row per round, %d rounds; server on cpu %d, "
              "load on cpu %d; HS256 token %zu bytes, ES256 %zu bytes\n",
              conns, seconds, rounds, server_cpu, client_cpu, hs_token.size(), es_token.size());
  asio::io_context io(1);
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < rows.size(); ++k) {
      row& r = rows[round % 2 ? rows.size() - 1 - k : k];
      load l;
      l.server = endpoint;
      l.request = r.request;
      l.latencies_ns.reserve(1 << 20);
      io.restart();
      for (int c = 0; c < conns; ++c, ++l.running) asio::co_spawn(io, handshaker(l), asio::detached);
      io.run_for(std::chrono::duration_cast<hclock::duration>(std::chrono::duration<double>(warmup)));
      l.measuring = true;
      const double cpu0 = thread_cpu_s(server_thread.native_handle());
      const auto t0 = hclock::now();
      io.run_for(std::chrono::duration_cast<hclock::duration>(std::chrono::duration<double>(seconds)));
      const double elapsed = std::chrono::duration<double>(hclock::now() - t0).count();
      const double cpu1 = thread_cpu_s(server_thread.native_handle());
      l.measuring = false;
      l.stop = true;
      while (l.running > 0) io.run_one();
      row_result res;
      res.per_s = static_cast<double>(l.done) / elapsed;
      res.server_cpu = (cpu1 - cpu0) / elapsed;
      res.per_cpu_s = cpu1 > cpu0 ? static_cast<double>(l.done) / (cpu1 - cpu0) : 0;
      res.failed = l.failed;
      if (!l.latencies_ns.empty()) {
        std::sort(l.latencies_ns.begin(), l.latencies_ns.end());
        res.p50_ms = static_cast<double>(l.latencies_ns[l.latencies_ns.size() / 2]) / 1e6;
        res.p99_ms = static_cast<double>(l.latencies_ns[l.latencies_ns.size() * 99 / 100]) / 1e6;
      }
      std::fprintf(stderr, "round %d %-5s %8.0f handshakes/s  server cpu %3.0f%%  %8.0f per server cpu-s  p50 %.2f ms  p99 %.2f ms  failed %lld\n",
                   round + 1, r.name, res.per_s, res.server_cpu * 100, res.per_cpu_s, res.p50_ms, res.p99_ms, res.failed);
      r.results.push_back(res);
    }
  }

  // This machine's speed drifts within seconds: besides each row's median
  // round, the ratio to the "none" row of the same round (measured next to
  // it), whose median is the figure to read.
  std::printf("\n| hook | handshakes/s | server CPU | handshakes per server CPU-s | server CPU per handshake | vs none, paired by round (median) | p50 ms | p99 ms | failed |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  for (auto& r : rows) {
    // The median round by handshakes per server CPU-second.
    auto v = r.results;
    std::sort(v.begin(), v.end(), [](const row_result& a, const row_result& b) { return a.per_cpu_s < b.per_cpu_s; });
    const row_result& m = v[v.size() / 2];
    long long failed = 0;
    std::vector<double> ratios;
    for (std::size_t i = 0; i < r.results.size(); ++i) {
      failed += r.results[i].failed;
      if (rows[0].results[i].per_cpu_s > 0) ratios.push_back(r.results[i].per_cpu_s / rows[0].results[i].per_cpu_s);
    }
    std::printf("| %s | %.0f | %.0f %% | %.0f | %.1f us | %.2fx | %.2f | %.2f | %lld |\n", r.name, m.per_s,
                m.server_cpu * 100, m.per_cpu_s, m.per_cpu_s > 0 ? 1e6 / m.per_cpu_s : 0, median(ratios), m.p50_ms,
                m.p99_ms, failed);
  }
  asio::post(server_io, [&] {
    srv.stop();
    server_io.stop();
  });
  server_thread.join();
}
