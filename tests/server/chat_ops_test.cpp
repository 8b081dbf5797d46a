// duplex-chat as a real process: a room whose members are on different
// threads, /healthz and /metrics, and the drain on SIGTERM/SIGINT.
#include <chat_protocol.hpp>

#include <duplex/net/channel.hpp>
#include <duplex/net/client.hpp>

#include "chat_process.hpp"
#include "test_server.hpp"

#include <gtest/gtest.h>

#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <sys/ptrace.h>
#include <sys/wait.h>

#include <dirent.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

using duplex::test::chat_process;
using duplex::test::http_exchange;
using duplex::test::run_client;
using duplex::test::silent_client;
using namespace std::chrono_literals;

namespace {

// The chat's /ws/chat speaks duplex.chat.v<N> only (others are closed 4406).
asio::awaitable<duplex::websocket> connect_chat(std::string url) {
  duplex::connect_options o;
  o.subprotocols = duplex::offered_subprotocols<duplex::chat::wire::chat_protocol>();
  co_return co_await duplex::connect(url, o);
}

std::string get(std::uint16_t port, const std::string& path) {
  return http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", true);
}

// The value of an unlabelled sample in /metrics, or -1.
double metric(std::uint16_t port, const std::string& name) {
  const std::string text = get(port, "/metrics");
  std::smatch m;
  if (std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)\n"))) return std::stod(m[1]);
  return -1;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}


// An HTTP/1.1 keep-alive connection opened before the drain (the acceptor
// is closed during it): one request and its whole response per call.
struct keep_alive {
  keep_alive(asio::io_context& io, std::uint16_t port) : s(io) {
    s.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  std::string get(const std::string& path) {
    asio::write(s, asio::buffer("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    std::string r;
    const std::size_t head = asio::read_until(s, asio::dynamic_buffer(r), "\r\n\r\n");
    const auto cl = r.find("Content-Length: ");
    const std::size_t len = std::stoul(r.substr(cl + 16));
    if (r.size() < head + len) asio::read(s, asio::dynamic_buffer(r), asio::transfer_exactly(head + len - r.size()));
    return r;
  }
  asio::ip::tcp::socket s;
};

void wait_for_metric(std::uint16_t port, const std::string& name, double value) {
  for (int i = 0; i < 500 && metric(port, name) != value; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(metric(port, name), value) << name;
}

}  // namespace

TEST(ChatOps, MembersOnDifferentThreadsShareTheRoomAndTheMetricsCountThem) {
  chat_process chat({"--threads", "2"});
  EXPECT_EQ(get(chat.port(), "/healthz").rfind("HTTP/1.1 200", 0), 0u);
  constexpr int members = 8;
  run_client(
      [&]() -> asio::awaitable<void> {
        std::vector<duplex::websocket> ws;
        for (int i = 0; i < members; ++i) {
          ws.push_back(co_await connect_chat(chat.ws_url()));
          co_await ws.back().send(R"({"type":"join","name":"u)" + std::to_string(i) + R"("})");
        }
        // Sleeping lets this thread's io_context write the queued joins.
        for (int i = 0; i < 500 && metric(chat.port(), "duplex_chat_members") != members; ++i) co_await sleep_for(10ms);
        EXPECT_EQ(metric(chat.port(), "duplex_chat_members"), members) << chat.output();
        EXPECT_EQ(metric(chat.port(), "duplex_connections"), members);
        EXPECT_EQ(metric(chat.port(), "duplex_threads"), 2);
        // The connections alternate between the two threads; every member
        // gets u3's message once.
        co_await ws[3].send(R"({"type":"chat","text":"hello-from-u3"})");
        for (auto& w : ws) {
          int seen = 0;
          while (seen == 0) {
            auto m = co_await w.read();
            if (!m) break;
            if (m->data.find("hello-from-u3") != std::string::npos) ++seen;
          }
          EXPECT_EQ(seen, 1);
        }
        // A name taken on the other thread is refused.
        auto dup = co_await connect_chat(chat.ws_url());
        co_await dup.send(R"({"type":"join","name":"u0"})");
        EXPECT_NE((co_await dup.read())->data.find("name_taken"), std::string::npos);
        for (auto& w : ws) co_await w.close();
        co_await dup.close();
      },
      60s);
  wait_for_metric(chat.port(), "duplex_chat_members", 0);
  const std::string text = get(chat.port(), "/metrics");
  EXPECT_NE(text.find("duplex_closes_total{code=\"1000\"} 9\n"), std::string::npos) << text;
  EXPECT_GT(metric(chat.port(), "duplex_messages_received_total"), members);
  EXPECT_GT(metric(chat.port(), "duplex_sent_bytes_total"), 0);
}

TEST(ChatOps, SigtermDrainsFiftyClientsWithGoingAwayAndExitsZero) {
  chat_process chat({"--threads", "2", "--drain-timeout", "5"});
  constexpr int clients = 50;
  run_client(
      [&]() -> asio::awaitable<void> {
        std::vector<duplex::websocket> ws;
        for (int i = 0; i < clients; ++i) {
          ws.push_back(co_await connect_chat(chat.ws_url()));
          if (i % 2 == 0) co_await ws.back().send(R"({"type":"join","name":"d)" + std::to_string(i) + R"("})");
        }
        while (metric(chat.port(), "duplex_chat_members") != clients / 2) co_await sleep_for(10ms);
        chat.signal(SIGTERM);
        const auto t0 = std::chrono::steady_clock::now();
        for (auto& w : ws) {
          while (co_await w.read()) {  // presence updates may come first
          }
          EXPECT_EQ(w.close_code(), 1001);
        }
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
      },
      60s);
  auto status = chat.wait_exit(5s);
  ASSERT_TRUE(status) << chat.output();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_NE(chat.output().find("drained (0 connections dropped"), std::string::npos) << chat.output();
}

TEST(ChatOps, AClientThatNeverAnswersDoesNotHoldTheExitPastTheTimeout) {
  chat_process chat({"--threads", "2", "--drain-timeout", "2", "--log-json"});
  asio::io_context io;
  keep_alive http(io, chat.port());
  EXPECT_EQ(http.get("/healthz").rfind("HTTP/1.1 200", 0), 0u);
  auto quiet = silent_client(io, chat.port(), "/ws/chat");
  wait_for_metric(chat.port(), "duplex_connections", 1);
  const auto t0 = std::chrono::steady_clock::now();
  chat.signal(SIGINT);
  std::this_thread::sleep_for(300ms);
  const std::string health = http.get("/healthz");
  EXPECT_EQ(health.rfind("HTTP/1.1 503", 0), 0u) << health;
  EXPECT_NE(health.find("draining"), std::string::npos);
  auto status = chat.wait_exit(6s);
  ASSERT_TRUE(status) << chat.output();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_GE(took, 1900ms);
  EXPECT_LT(took, 5s);  // generous for a loaded machine
  // JSON lines, one per event.
  const std::string out = chat.output();
  EXPECT_NE(out.find(R"("event":"drain-timeout","detail":"1 connections dropped"})"), std::string::npos) << out;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(line.starts_with("{\"time\":\"") && line.ends_with("}")) << line;
}

TEST(ChatOps, ASecondSignalExitsAtOnce) {
  chat_process chat({"--threads", "2", "--drain-timeout", "60"});
  asio::io_context io;
  auto quiet = silent_client(io, chat.port(), "/ws/chat");
  wait_for_metric(chat.port(), "duplex_connections", 1);
  chat.signal(SIGTERM);
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(chat.wait_exit(0ms));  // still draining
  const auto t0 = std::chrono::steady_clock::now();
  chat.signal(SIGTERM);
  auto status = chat.wait_exit(5s);
  ASSERT_TRUE(status) << chat.output();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 128 + SIGTERM);
}

namespace {

// The id of pid's thread named `name` (/proc/PID/task/TID/comm), or -1.
pid_t thread_named(pid_t pid, const std::string& name) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return -1;
  pid_t found = -1;
  while (auto* e = ::readdir(d)) {
    std::ifstream comm(dir + "/" + e->d_name + "/comm");
    std::string n;
    if (std::getline(comm, n) && n == name) found = std::stoi(e->d_name);
  }
  ::closedir(d);
  return found;
}

}  // namespace

// A handler that never yields stalls its thread. Here the thread itself is
// stopped (ptrace stops one thread, the others run on), which is what such a
// handler looks like from outside: the main port, whose acceptor runs on
// thread 0, cannot answer, but --health-port, served by the operations
// thread, says which thread is stuck, and the log says so too.
TEST(ChatOps, AStuckServingThreadIsReportedByTheHealthPort) {
  chat_process chat({"--threads", "2", "--health-port", "0"});
  std::smatch m;
  const std::string out = chat.output();
  ASSERT_TRUE(std::regex_search(out, m, std::regex("health on http://127.0.0.1:([0-9]+)/healthz"))) << out;
  const auto health_port = static_cast<std::uint16_t>(std::stoi(m[1]));
  EXPECT_EQ(get(health_port, "/healthz").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(get(chat.port(), "/healthz").rfind("HTTP/1.1 200", 0), 0u);

  const pid_t tid = thread_named(chat.pid(), "duplex-io-0");
  ASSERT_GT(tid, 0) << "no thread named duplex-io-0";
  ASSERT_EQ(::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr), 0) << "ptrace: " << std::strerror(errno);
  ASSERT_EQ(::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr), 0);
  int st = 0;
  ASSERT_EQ(::waitpid(tid, &st, __WALL), tid);
  // Past operations::stall_limit (3 s); the watch looks once a second.
  std::this_thread::sleep_for(3500ms);
  const std::string stalled = get(health_port, "/healthz");
  for (int i = 0; i < 200 && chat.output().find("stalled thread 0") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  const bool stall_logged = chat.output().find("stalled thread 0") != std::string::npos;
  ASSERT_EQ(::ptrace(PTRACE_DETACH, tid, nullptr, nullptr), 0);
  EXPECT_EQ(stalled.rfind("HTTP/1.1 503", 0), 0u) << stalled;
  EXPECT_NE(stalled.find("stalled: thread 0"), std::string::npos) << stalled;
  EXPECT_TRUE(stall_logged) << chat.output();

  // Running again: both ports answer 200 once the heartbeat is back.
  std::string again;
  for (int i = 0; i < 300; ++i) {
    again = get(health_port, "/healthz");
    if (again.rfind("HTTP/1.1 200", 0) == 0) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(again.rfind("HTTP/1.1 200", 0), 0u) << again;
  EXPECT_EQ(get(chat.port(), "/healthz").rfind("HTTP/1.1 200", 0), 0u);
  for (int i = 0; i < 300 && chat.output().find("thread 0 serves again") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_NE(chat.output().find("thread 0 serves again"), std::string::npos) << chat.output();
}
