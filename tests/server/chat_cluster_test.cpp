// duplex-chat scaled out on Redis (docs/scale-out.md): a real redis-server
// and two or three real duplex-chat processes sharing rooms. Members on
// different instances see each other's lines (same epoch and seq, same
// order) and presence; a member of a SIGKILLed or drained instance resumes
// on another without loss and keeps its name with its token (a killed
// instance's names go once --presence-ttl passes); 5-second Redis outages
// keep each instance's room alive and its queued lines reach the others
// once Redis is back (with an empty and with a persistent Redis); lines an
// instance missed while its subscriber reconnected are read from the
// stream; Redis unreachable at start is refused, or tolerated with
// --redis-degraded-start; /healthz and the duplex_redis_* metrics follow.
//
// The fixture's redis-server keeps no data (no RDB, no AOF): restarted, it
// is empty and the rooms get a new epoch. One outage case runs it with AOF
// instead, where the rooms keep their epoch and numbering.
#include <chat_protocol.hpp>

#include <duplex/net/client.hpp>
#include <duplex/redis/client.hpp>
#include <duplex/schema/codec.hpp>

#include "chat_lines.hpp"
#include "chat_process.hpp"
#include "jwt_mint.hpp"
#include "redis_server.hpp"
#include "test_server.hpp"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using duplex::test::chat_process;
using duplex::test::eventually;
using duplex::test::redis_server;
namespace v1 = duplex::chat::wire;
namespace v2 = duplex::chat::wire::v2;
using namespace std::chrono_literals;

namespace {

// Across instances a line travels through Redis and presence is polled
// every 500 ms: generous limits for a loaded two-core machine.
constexpr auto across = 10s;

// One member's connection to an instance; a background reader keeps all it
// receives (the test polls `seen`).
struct peer {
  explicit peer(duplex::websocket w) : ws(std::move(w)) {}
  duplex::websocket ws;
  std::vector<v2::server_message> seen;
  bool closed = false;
  std::string error;  // why the reader stopped early

  void post(const v2::client_message& m) { ws.post(duplex::schema::encode(m)); }

  std::vector<v2::message> lines() const { return duplex::test::chat_lines(seen); }
  // Live deliveries (message frames, not history) of this text.
  std::size_t live(const std::string& text) const {
    std::size_t n = 0;
    for (auto& m : seen)
      if (auto* l = std::get_if<v2::message>(&m); l && l->text == text) ++n;
    return n;
  }
  bool has_line(const std::string& text) const {
    auto ls = lines();
    return std::any_of(ls.begin(), ls.end(), [&](auto& l) { return l.text == text; });
  }
  // Who is online: the last snapshot with the diffs after it applied.
  std::set<std::string> online() const {
    std::set<std::string> names;
    for (auto& m : seen) {
      if (auto* p = std::get_if<v2::presence>(&m)) names = {p->users.begin(), p->users.end()};
      if (auto* d = std::get_if<v2::presence_diff>(&m)) {
        for (auto& n : d->leaves) names.erase(n);
        for (auto& n : d->joins) names.insert(n);
      }
    }
    return names;
  }
  bool saw_leave_of(const std::string& name) const {
    for (auto& m : seen)
      if (auto* d = std::get_if<v2::presence_diff>(&m))
        if (std::find(d->leaves.begin(), d->leaves.end(), name) != d->leaves.end()) return true;
    return false;
  }
  // The first message of type M at or after index `from`.
  template <class M>
  const M* first(std::size_t from = 0) const {
    for (std::size_t i = from; i < seen.size(); ++i)
      if (auto* m = std::get_if<M>(&seen[i])) return m;
    return nullptr;
  }
};

asio::awaitable<void> read_all(std::shared_ptr<peer> p) {
  duplex::message in;
  while (co_await p->ws.read(in)) {
    auto d = duplex::schema::decode<v2::server_message>(in.data);
    if (!d) {
      p->error = "undecodable server message: " + std::string(in.data);
      ADD_FAILURE() << p->error;
      break;
    }
    p->seen.push_back(std::move(*d));
  }
  p->closed = true;
}

// `token`: a signed-in member (--auth-jwt), by the duplex_token cookie.
asio::awaitable<std::shared_ptr<peer>> open_peer(const chat_process& instance, std::string_view token = {}) {
  const std::string url = instance.ws_url();
  duplex::connect_options o;
  o.subprotocols = {duplex::schema::subprotocol_name<duplex::chat::wire::chat_protocol_v2>()};
  if (!token.empty()) o.headers.emplace_back("Cookie", "duplex_token=" + std::string(token));
  auto ws = co_await duplex::connect(url, o);
  auto p = std::make_shared<peer>(ws);
  asio::co_spawn(co_await asio::this_coro::executor, read_all(p), asio::detached);
  co_return p;
}

// Joins and waits for the answer: `joined`, or nullopt after an error (its
// code in *error_code).
asio::awaitable<std::optional<v2::joined>> join(peer& p, const char* name, const std::string* token = nullptr,
                                                std::string* error_code = nullptr) {
  const std::size_t from = p.seen.size();
  p.post(v2::join{name, "room", token ? std::optional<std::string>(*token) : std::nullopt});
  const bool answered = co_await eventually([&] { return p.first<v2::joined>(from) || p.first<v1::error>(from); }, across);
  if (!answered)
    throw std::runtime_error(std::string("no answer to the join of ") + name + " (" + std::to_string(p.seen.size()) +
                             " messages, closed " + std::to_string(p.closed) + ") " + p.error);
  if (auto* e = p.first<v1::error>(from)) {
    if (error_code) *error_code = e->code;
    co_return std::nullopt;
  }
  co_return *p.first<v2::joined>(from);
}

// Says `text` and waits until it comes back to the sender. (Coroutine
// arguments here are references, pointers or views, never temporaries with
// destructors: GCC 12 destroys those twice when they live across a co_await.)
asio::awaitable<v2::message> say(peer& p, std::string_view said) {
  const std::string text(said);
  p.post(v1::chat{text});
  if (!co_await eventually([&] { return p.has_line(text); }, across))
    throw std::runtime_error("the sender never saw its line " + text);
  for (auto& l : p.lines())
    if (l.text == text) co_return l;
  throw std::logic_error("unreachable");
}

// xavier on instance a and yvonne on b, joined to the room.
struct two_members {
  std::shared_ptr<peer> x, y;
  v2::joined x_joined;
};
asio::awaitable<two_members> xavier_and_yvonne(const chat_process& a, const chat_process& b) {
  auto x = co_await open_peer(a);
  auto y = co_await open_peer(b);
  const auto x_in = co_await join(*x, "xavier");
  const auto y_in = co_await join(*y, "yvonne");
  if (!x_in || !y_in) throw std::runtime_error("xavier or yvonne could not join");
  co_return two_members{x, y, *x_in};
}

std::vector<std::string> texts(const std::vector<v2::message>& lines) {
  std::vector<std::string> out;
  for (auto& l : lines) out.push_back(l.text);
  return out;
}

std::string get(std::uint16_t port, const std::string& path) {
  return duplex::test::http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                                     true);
}
bool healthy(std::uint16_t port) { return get(port, "/healthz").rfind("HTTP/1.1 200", 0) == 0; }
bool degraded(std::uint16_t port) {
  const std::string r = get(port, "/healthz");
  return r.rfind("HTTP/1.1 503", 0) == 0 && r.find("degraded") != std::string::npos;
}

// An unlabelled sample of /metrics, or -1 if absent.
double metric(std::uint16_t port, const std::string& name) {
  const std::string text = get(port, "/metrics");
  std::smatch m;
  if (std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)\n"))) return std::stod(m[1]);
  return -1;
}
// The Redis state gauge (1 connected, 0 not).
double redis_state(std::uint16_t port) { return metric(port, "duplex_redis_up"); }

// Redis's ids of the pub/sub connections subscribed to a channel (the
// instances' subscribers once they have watchers), once there are
// `expected` of them or after 5 s.
asio::awaitable<std::set<std::string>> subscribers(duplex::redis::client& r, std::size_t expected) {
  std::set<std::string> ids;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto list = co_await r.command("CLIENT", "LIST");
    ids.clear();
    std::istringstream lines(list.str);
    for (std::string line; std::getline(lines, line);) {
      std::smatch m;
      if (std::regex_search(line, m, std::regex("^id=([0-9]+) .* sub=([1-9][0-9]*) "))) ids.insert(m[1]);
    }
    if (ids.size() == expected) break;
    co_await duplex::test::sleep_for(50ms);
  }
  co_return ids;
}

// Waits, blocking, until pred holds (for checks outside the client's io_context).
template <class Pred>
bool within(std::chrono::milliseconds limit, Pred pred) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

class ChatCluster : public ::testing::Test {
 protected:
  // An instance on the fixture's Redis; `name` is its --instance.
  std::unique_ptr<chat_process> instance(const char* name, std::vector<std::string> extra = {}) {
    std::vector<std::string> flags = {"--redis", redis->url(), "--instance", name, "--threads", "1"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    return std::make_unique<chat_process>(flags);
  }
  template <class F>
  void run(F f, std::chrono::seconds limit = 60s) {
    duplex::test::run(io, f(), limit);
  }

  // A 5-second Redis outage with members on two instances (below).
  void outage(bool persistent);
  // One instance's pub/sub connection lost and back (below).
  void subscriber_drop(bool next_line);

  std::unique_ptr<redis_server> redis = std::make_unique<redis_server>();
  asio::io_context io;
};

}  // namespace

TEST_F(ChatCluster, MembersOnDifferentInstancesShareLinesInOneOrderAndPresence) {
  auto a = instance("a");
  auto b = instance("b");
  auto c = instance("c");
  run([&]() -> asio::awaitable<void> {
    const auto two = co_await xavier_and_yvonne(*a, *b);
    auto x = two.x, y = two.y;
    auto w = co_await open_peer(*c);  // only watches, on a third instance
    w->post(v2::watch{"room"});
    const std::set<std::string> both{"xavier", "yvonne"};
    EXPECT_TRUE(co_await eventually([&] { return x->online() == both; }, across)) << a->output();
    EXPECT_TRUE(co_await eventually([&] { return y->online() == both; }, across)) << b->output();
    EXPECT_TRUE(co_await eventually([&] { return w->online() == both; }, across)) << c->output();

    // Interleaved senders on two instances: one numbering, one order.
    std::vector<std::string> said;
    for (int i = 0; i < 6; ++i) {
      const std::string text = "line-" + std::to_string(i);
      said.push_back(text);
      (i % 2 ? y : x)->post(v1::chat{text});
    }
    for (auto* p : {&x, &y, &w}) {
      const bool all = co_await eventually([&] { return (*p)->lines().size() >= said.size(); }, across);
      EXPECT_TRUE(all) << "lines seen: " << (*p)->lines().size();
    }
    const auto ref = x->lines();
    CO_ASSERT_EQ(ref.size(), said.size());
    const auto ref_texts = texts(ref);
    EXPECT_EQ(std::set<std::string>(ref_texts.begin(), ref_texts.end()),
              std::set<std::string>(said.begin(), said.end()));
    for (std::size_t i = 1; i < ref.size(); ++i) {
      EXPECT_EQ(ref[i].seq, ref[i - 1].seq + 1) << "consecutive numbering";
      EXPECT_EQ(ref[i].epoch, ref[0].epoch);
    }
    for (auto* p : {&y, &w}) {
      const auto other = (*p)->lines();
      CO_ASSERT_EQ(other.size(), ref.size());
      for (std::size_t i = 0; i < ref.size(); ++i) {
        EXPECT_EQ(other[i].text, ref[i].text) << i;
        EXPECT_EQ(other[i].seq, ref[i].seq) << i;
        EXPECT_EQ(other[i].epoch, ref[i].epoch) << i;
        EXPECT_EQ(other[i].from, ref[i].from) << i;
      }
    }
    // A name held on another instance is taken here too.
    auto z = co_await open_peer(*c);
    std::string code;
    const auto z_in = co_await join(*z, "xavier", nullptr, &code);
    EXPECT_FALSE(z_in);
    EXPECT_EQ(code, "name_taken");
    // A leave on one instance reaches the others.
    x->post(v2::leave{});
    EXPECT_TRUE(co_await eventually([&] { return y->online() == std::set<std::string>{"yvonne"}; }, across));
    EXPECT_TRUE(co_await eventually([&] { return w->online() == std::set<std::string>{"yvonne"}; }, across));
  });
}

TEST_F(ChatCluster, AMemberOfAKilledInstanceResumesOnAnotherWithoutLoss) {
  auto a = instance("a");
  auto b = instance("b");
  run([&]() -> asio::awaitable<void> {
    const auto two = co_await xavier_and_yvonne(*a, *b);
    auto x = two.x, y = two.y;
    const std::string x_line = "x-before", y_line = "y-before";
    co_await say(*x, x_line);
    co_await say(*y, y_line);
    CO_ASSERT_TRUE(co_await eventually([&] { return x->has_line(y_line); }, across));
    CO_ASSERT_TRUE(co_await eventually([&] { return y->online().count("xavier") == 1; }, across));
    const v2::message last = x->lines().back();

    a->stop();  // SIGKILL: x's connection drops with no Close
    CO_ASSERT_TRUE(co_await eventually([&] { return x->closed; }, across));
    std::vector<std::string> missed;
    for (int i = 1; i <= 5; ++i) {
      missed.push_back("missed-" + std::to_string(i));
      co_await say(*y, missed.back());
    }
    // The name stays x's: someone else is refused it.
    auto z = co_await open_peer(*b);
    std::string code;
    const auto z_in = co_await join(*z, "xavier", nullptr, &code);
    EXPECT_FALSE(z_in);
    EXPECT_EQ(code, "name_taken");

    // x comes back on b: resume from its last position, then its name.
    auto x2 = co_await open_peer(*b);
    x2->post(v2::resume{"room", last.epoch, last.seq});
    CO_ASSERT_TRUE(co_await eventually([&] { return x2->first<v2::resumed>() || x2->first<v1::error>(); }, across));
    const auto* err = x2->first<v1::error>();
    EXPECT_FALSE(err) << err->code << ": " << err->message;
    const auto* r = x2->first<v2::resumed>();
    CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->missed, missed.size());
    EXPECT_EQ(r->epoch, last.epoch);
    EXPECT_EQ(r->seq, last.seq + missed.size());
    auto back = co_await join(*x2, "xavier", &two.x_joined.token, &code);
    EXPECT_TRUE(back) << "join with the token: " << code;
    const std::string after = "after-return";
    co_await say(*y, after);
    CO_ASSERT_TRUE(co_await eventually([&] { return x2->has_line(after); }, across));
    missed.push_back(after);
    // Exactly the missed lines, once, in order, numbered on from `last`.
    const auto got = x2->lines();
    EXPECT_EQ(texts(got), missed);
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].seq, last.seq + 1 + i);
      EXPECT_EQ(got[i].epoch, last.epoch);
    }
    for (auto& m : x2->seen)
      if (auto* h = std::get_if<v2::history>(&m)) EXPECT_FALSE(h->replace) << "a resume does not reload";
    // Others never saw x leave: its name was held, then taken back.
    co_await say(*x2, "x-again");
    CO_ASSERT_TRUE(co_await eventually([&] { return y->has_line("x-again"); }, across));
    EXPECT_FALSE(y->saw_leave_of("xavier"));
    EXPECT_EQ(y->online(), (std::set<std::string>{"xavier", "yvonne"}));
  });
}

// persistent: Redis keeps its data across the restart (AOF, fsync always),
// so the room keeps its epoch and the queued lines continue its numbering;
// otherwise it restarts empty and the room gets a new epoch.
void ChatCluster::outage(bool persistent) {
  auto a = instance("a", {"--presence-ttl", "6"});
  auto b = instance("b", {"--presence-ttl", "6"});
  EXPECT_EQ(redis_state(a->port()), 1) << get(a->port(), "/metrics");
  run([&]() -> asio::awaitable<void> {
    auto x = co_await open_peer(*a);
    auto x2 = co_await open_peer(*a);
    auto y = co_await open_peer(*b);
    const auto x_in = co_await join(*x, "xavier");
    CO_ASSERT_TRUE(x_in);
    const auto x2_in = co_await join(*x2, "xena");
    CO_ASSERT_TRUE(x2_in);
    const auto y_in = co_await join(*y, "yvonne");
    CO_ASSERT_TRUE(y_in);
    const auto before = co_await say(*x, "before");
    CO_ASSERT_TRUE(co_await eventually([&] { return y->has_line("before"); }, across));

    redis->kill();
    const auto down_at = std::chrono::steady_clock::now();
    EXPECT_TRUE(within(5s, [&] { return degraded(a->port()) && degraded(b->port()); }))
        << get(a->port(), "/healthz") << get(b->port(), "/healthz");
    EXPECT_EQ(redis_state(a->port()), 0);
    // Members on one instance keep chatting, in a stand-in epoch.
    const std::vector<std::string> from_a{"out-a1", "out-a2", "out-a3"};
    for (auto& t : from_a) x->post(v1::chat{t});
    y->post(v1::chat{"out-b1"});
    EXPECT_TRUE(co_await eventually([&] { return x2->has_line("out-a3") && y->has_line("out-b1"); }, 4s));
    for (auto& l : x2->lines())
      if (l.text.starts_with("out-")) EXPECT_TRUE(l.epoch.starts_with("local-")) << l.epoch;
    EXPECT_FALSE(y->has_line("out-a1"));
    EXPECT_FALSE(x->has_line("out-b1"));

    std::this_thread::sleep_until(down_at + 5s);
    redis->start();  // on the same port
    EXPECT_TRUE(within(15s, [&] { return healthy(a->port()) && healthy(b->port()); }))
        << get(a->port(), "/healthz") << get(b->port(), "/healthz") << a->output();
    EXPECT_EQ(redis_state(a->port()), 1);
    // The queued lines reach the other instance, in order, once.
    EXPECT_TRUE(co_await eventually([&] { return y->has_line("out-a3"); }, across)) << b->output();
    EXPECT_TRUE(co_await eventually([&] { return x->has_line("out-b1") && x2->has_line("out-b1"); }, across))
        << a->output();
    std::vector<std::string> seen_by_y;
    for (auto& t : texts(y->lines()))
      if (t.starts_with("out-a")) seen_by_y.push_back(t);
    EXPECT_EQ(seen_by_y, from_a);
    // ... and not twice where they were said.
    for (auto* p : {&x, &x2})
      for (auto& t : from_a) {
        EXPECT_EQ((*p)->live(t), 1u) << t;
        const auto ls = texts((*p)->lines());
        EXPECT_LE(std::count(ls.begin(), ls.end(), t), 1) << t;
      }
    EXPECT_EQ(y->live("out-b1"), 1u);

    // Lines flow across instances again, numbered alike.
    const auto ya = co_await say(*y, "after-y");
    const auto xa = co_await say(*x, "after-x");
    CO_ASSERT_TRUE(co_await eventually([&] { return x->has_line("after-y") && x2->has_line("after-x"); }, across));
    CO_ASSERT_TRUE(co_await eventually([&] { return y->has_line("after-x"); }, across));
    for (auto& l : x->lines())
      if (l.text == "after-y") EXPECT_EQ(std::make_pair(l.epoch, l.seq), std::make_pair(ya.epoch, ya.seq));
    for (auto& l : y->lines())
      if (l.text == "after-x") EXPECT_EQ(std::make_pair(l.epoch, l.seq), std::make_pair(xa.epoch, xa.seq));
    EXPECT_FALSE(xa.epoch.starts_with("local-")) << xa.epoch;
    if (persistent) EXPECT_EQ(xa.epoch, before.epoch);
    else EXPECT_NE(xa.epoch, before.epoch) << "an empty Redis: a new epoch";
    // The history has every line once, numbered without holes: a newcomer
    // sees what both sides said during the outage.
    auto v = co_await open_peer(*b);
    v->post(v2::watch{"room"});
    CO_ASSERT_TRUE(co_await eventually([&] { return v->first<v2::history>() != nullptr; }, across));
    const auto h = *v->first<v2::history>();
    EXPECT_EQ(h.epoch, xa.epoch);
    std::vector<std::string> stored = texts(h.messages), expected;
    if (persistent) expected.push_back("before");
    for (auto& t : from_a) expected.push_back(t);
    expected.push_back("out-b1");
    expected.push_back("after-y");
    expected.push_back("after-x");
    auto sorted = [](std::vector<std::string> v) { return std::sort(v.begin(), v.end()), v; };
    EXPECT_EQ(sorted(stored), sorted(expected));
    std::vector<std::string> stored_a;
    for (auto& t : stored)
      if (t.starts_with("out-a")) stored_a.push_back(t);
    EXPECT_EQ(stored_a, from_a) << "in the order they were said";
    for (std::size_t i = 0; i < h.messages.size(); ++i) EXPECT_EQ(h.messages[i].seq, i + 1) << h.messages[i].text;
    EXPECT_EQ(h.seq, h.messages.size());
    // Resuming from the stand-in epoch is refused with the recent history;
    // from the room's old epoch, it works only if Redis kept the room.
    std::optional<v2::message> local;
    for (auto& l : x2->lines())
      if (l.text == "out-a3") local = l;
    CO_ASSERT_TRUE(local.has_value());
    auto r1 = co_await open_peer(*a);
    r1->post(v2::resume{"room", local->epoch, local->seq});
    CO_ASSERT_TRUE(co_await eventually([&] { return r1->first<v2::history>() != nullptr; }, across));
    EXPECT_TRUE(r1->first<v1::error>() && r1->first<v1::error>()->code == "epoch_mismatch");
    EXPECT_TRUE(r1->first<v2::history>()->replace);
    EXPECT_EQ(r1->first<v2::history>()->epoch, xa.epoch);
    auto r2 = co_await open_peer(*b);
    r2->post(v2::resume{"room", before.epoch, before.seq});
    if (persistent) {
      CO_ASSERT_TRUE(co_await eventually([&] { return r2->first<v2::resumed>() || r2->first<v1::error>(); }, across));
      const auto* r = r2->first<v2::resumed>();
      CO_ASSERT_TRUE(r != nullptr);
      EXPECT_EQ(r->missed, expected.size() - 1);  // all but "before"
      EXPECT_EQ(r->epoch, before.epoch);
    } else {
      CO_ASSERT_TRUE(co_await eventually([&] { return r2->first<v2::history>() != nullptr; }, across));
      EXPECT_TRUE(r2->first<v1::error>() && r2->first<v1::error>()->code == "epoch_mismatch");
      EXPECT_TRUE(r2->first<v2::history>()->replace);
    }
    // Presence is whole again (members re-added within the TTL).
    const std::set<std::string> all{"xavier", "xena", "yvonne"};
    EXPECT_TRUE(co_await eventually([&] { return x->online() == all && y->online() == all; }, across));
  });
}

TEST_F(ChatCluster, AFiveSecondOutageOfAnEmptyRestartingRedisKeepsEachInstanceChattingAndQueuesTheRest) {
  outage(false);
}

TEST_F(ChatCluster, AFiveSecondOutageOfAPersistentRedisContinuesTheRoomsNumbering) {
  const auto dir = std::filesystem::temp_directory_path() / ("duplex-cluster-aof-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  redis = std::make_unique<redis_server>(duplex::test::free_port(), true,
                                         std::vector<std::string>{"--appendonly", "yes", "--appendfsync", "always",
                                                                  "--dir", dir.string()});
  outage(true);
  redis.reset();
  std::filesystem::remove_all(dir);
}

TEST_F(ChatCluster, AFullOutageQueueDropsItsOldestLinesAndCountsThem) {
  auto a = instance("a", {"--redis-queue", "2"});
  auto b = instance("b");
  run([&]() -> asio::awaitable<void> {
    const auto two = co_await xavier_and_yvonne(*a, *b);
    auto x = two.x, y = two.y;
    redis->kill();
    CO_ASSERT_TRUE(within(5s, [&] { return degraded(a->port()); }));
    for (const char* t : {"q1", "q2", "q3"}) co_await say(*x, t);
    EXPECT_EQ(metric(a->port(), "duplex_redis_queued_lines"), 2);
    EXPECT_EQ(metric(a->port(), "duplex_redis_queue_dropped_total"), 1);
    redis->start();
    CO_ASSERT_TRUE(within(15s, [&] { return healthy(a->port()) && healthy(b->port()); }));
    co_await say(*x, "after");
    CO_ASSERT_TRUE(co_await eventually([&] { return y->has_line("after"); }, across));
    std::vector<std::string> got;
    for (auto& t : texts(y->lines()))
      if (t != "after") got.push_back(t);
    EXPECT_EQ(got, (std::vector<std::string>{"q2", "q3"})) << "the queue keeps the newest --redis-queue lines\n"
                                                          << a->output();
  });
}

// A line said right after Redis is back is numbered after the lines queued
// during the outage, however quickly it follows.
TEST_F(ChatCluster, LinesSaidRightAfterAnOutageFollowTheQueuedOnes) {
  auto a = instance("a");
  auto b = instance("b");
  run([&]() -> asio::awaitable<void> {
    const auto two = co_await xavier_and_yvonne(*a, *b);
    auto x = two.x, y = two.y;
    redis->kill();
    CO_ASSERT_TRUE(within(5s, [&] { return degraded(a->port()); }));
    co_await say(*x, "during");
    redis->start();
    CO_ASSERT_TRUE(within(15s, [&] { return healthy(a->port()); }));
    co_await say(*x, "after");
    EXPECT_TRUE(co_await eventually([&] { return y->has_line("during") && y->has_line("after"); }, across))
        << "a:\n" << a->output() << "b:\n" << b->output();
    EXPECT_EQ(texts(y->lines()), (std::vector<std::string>{"during", "after"}));
    EXPECT_EQ(metric(a->port(), "duplex_redis_queued_lines"), 0);
  });
}

// Only instance a's pub/sub connection drops (CLIENT KILL) while b goes on
// publishing g1..g5: a's members must still get every line, once, in order.
// next_line: b publishes g6 once a is subscribed again (a live line after
// a gap: a reads the gap from the stream); otherwise a must catch up by
// itself.
void ChatCluster::subscriber_drop(bool next_line) {
  auto b = instance("b");
  run([&]() -> asio::awaitable<void> {
    const auto admin_options = duplex::redis::options_from_url(redis->url());
    auto admin = co_await duplex::redis::client::connect(admin_options);
    auto y = co_await open_peer(*b);
    const auto y_in = co_await join(*y, "yvonne");
    CO_ASSERT_TRUE(y_in);
    const auto before = co_await subscribers(admin, 1);
    CO_ASSERT_EQ(before.size(), 1u);
    auto a = instance("a");
    auto x = co_await open_peer(*a);
    const auto x_in = co_await join(*x, "xavier");
    CO_ASSERT_TRUE(x_in);
    const auto now = co_await subscribers(admin, 2);
    CO_ASSERT_EQ(now.size(), 2u);
    std::string a_sub;
    for (auto& id : now)
      if (!before.count(id)) a_sub = id;
    co_await say(*y, "g0");
    CO_ASSERT_TRUE(co_await eventually([&] { return x->has_line("g0"); }, across));

    // Only a's subscriber drops: b goes on publishing, a's members miss
    // the pub/sub messages until it is back.
    const auto killed = co_await admin.command("CLIENT", "KILL", "ID", a_sub);
    EXPECT_EQ(killed.integer, 1);
    std::vector<std::string> said{"g0"};
    for (int i = 1; i <= 5; ++i) {
      said.push_back("g" + std::to_string(i));
      co_await say(*y, said.back());
    }
    if (next_line) {
      const auto back = co_await subscribers(admin, 2);
      CO_ASSERT_EQ(back.size(), 2u);
      said.push_back("g6");
      co_await say(*y, "g6");
    }
    EXPECT_TRUE(co_await eventually([&] { return x->has_line(said.back()); }, across)) << a->output();
    const auto got = x->lines();
    EXPECT_EQ(texts(got), said) << a->output();
    for (std::size_t i = 1; i < got.size(); ++i) {
      EXPECT_EQ(got[i].seq, got[i - 1].seq + 1);
      EXPECT_EQ(got[i].epoch, got[0].epoch);
    }
    // An instance is subscribed to a room only while it has watchers there.
    x->post(v2::leave{});
    x->ws.post_close(1000);
    const auto left = co_await subscribers(admin, 1);
    EXPECT_EQ(left, before) << a->output();
  });
}

TEST_F(ChatCluster, LinesMissedWhileAnInstancesSubscriberReconnectsAreReadFromTheStream) {
  subscriber_drop(true);
}

// The subscriber reconnects within a few ms (within one 100 ms tick): the
// instance still catches its rooms up by itself, even when no later line
// comes to show the gap.
TEST_F(ChatCluster, AnInstanceCatchesUpAfterAQuickSubscriberReconnectWithoutANewLine) {
  subscriber_drop(false);
}

TEST_F(ChatCluster, AMemberBackOnAnotherInstanceWithItsTokenReplacesItsOldConnection) {
  auto a = instance("a", {"--presence-ttl", "3"});
  auto b = instance("b", {"--presence-ttl", "3"});
  run([&]() -> asio::awaitable<void> {
    const auto two = co_await xavier_and_yvonne(*a, *b);
    auto x = two.x, y = two.y;
    CO_ASSERT_TRUE(co_await eventually([&] { return y->online().count("xavier") == 1; }, across));
    // x's old connection on a still looks alive; x comes back on b.
    auto x2 = co_await open_peer(*b);
    std::string code;
    const auto back = co_await join(*x2, "xavier", &two.x_joined.token, &code);
    EXPECT_TRUE(back) << code;
    // a notices at its next presence refresh and closes the old one.
    EXPECT_TRUE(co_await eventually([&] { return x->closed; }, across)) << a->output();
    EXPECT_EQ(x->ws.close_code(), 4000);
    co_await say(*x2, "from-b");
    CO_ASSERT_TRUE(co_await eventually([&] { return y->has_line("from-b"); }, across));
    EXPECT_FALSE(y->saw_leave_of("xavier"));
    EXPECT_EQ(y->online(), (std::set<std::string>{"xavier", "yvonne"}));
  });
}

// A deploy: SIGTERM drains an instance; its members reconnect to another
// and carry on where they were, under their names.
TEST_F(ChatCluster, MembersOfADrainedInstanceResumeOnAnotherUnderTheirNames) {
  auto a = instance("a", {"--drain-timeout", "5"});
  auto b = instance("b");
  run([&]() -> asio::awaitable<void> {
    const auto two = co_await xavier_and_yvonne(*a, *b);
    auto x = two.x, y = two.y;
    const auto last = co_await say(*x, "before-deploy");
    CO_ASSERT_TRUE(co_await eventually([&] { return y->online().count("xavier") == 1; }, across));
    a->signal(SIGTERM);
    CO_ASSERT_TRUE(co_await eventually([&] { return x->closed; }, across));
    EXPECT_EQ(x->ws.close_code(), 1001);
    const auto status = a->wait_exit(10s);
    CO_ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << a->output();
    co_await say(*y, "during-deploy");
    auto x2 = co_await open_peer(*b);
    x2->post(v2::resume{"room", last.epoch, last.seq});
    std::string code;
    const auto back = co_await join(*x2, "xavier", &two.x_joined.token, &code);
    EXPECT_TRUE(back) << code;
    CO_ASSERT_TRUE(co_await eventually([&] { return x2->first<v2::resumed>() != nullptr; }, across));
    EXPECT_EQ(texts(x2->lines()), std::vector<std::string>{"during-deploy"});
    co_await duplex::test::sleep_for(1500ms);  // three presence reads
    EXPECT_FALSE(y->saw_leave_of("xavier"));
    EXPECT_EQ(y->online(), (std::set<std::string>{"xavier", "yvonne"}));
  });
}

TEST_F(ChatCluster, AKilledInstancesMembersLeaveOnceThePresenceTtlPasses) {
  auto a = instance("a", {"--presence-ttl", "2"});
  auto b = instance("b", {"--presence-ttl", "2"});
  run([&]() -> asio::awaitable<void> {
    const auto two = co_await xavier_and_yvonne(*a, *b);
    auto x = two.x, y = two.y;
    CO_ASSERT_TRUE(co_await eventually([&] { return y->online().count("xavier") == 1; }, across));
    a->stop();  // SIGKILL: nobody removes xavier from Redis
    const auto killed = std::chrono::steady_clock::now();
    CO_ASSERT_TRUE(co_await eventually([&] { return y->saw_leave_of("xavier"); }, across));
    EXPECT_GE(std::chrono::steady_clock::now() - killed, 1s) << "held until the TTL passes";
    EXPECT_EQ(y->online(), std::set<std::string>{"yvonne"});
    auto z = co_await open_peer(*b);
    std::string code;
    const auto z_in = co_await join(*z, "xavier", nullptr, &code);
    EXPECT_TRUE(z_in) << "the name is free again: " << code;
  });
}

TEST_F(ChatCluster, RedisUnreachableAtStartIsRefusedOrToleratedWhenAsked) {
  redis_server later(duplex::test::free_port(), false);
  const std::string address = "127.0.0.1:" + std::to_string(later.port());
  {
    chat_process refused({"--redis", later.url()}, false);
    auto status = refused.wait_exit(10s);
    ASSERT_TRUE(status) << "still running: " << refused.output();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << *status;
    EXPECT_NE(refused.output().find("redis " + address + " unreachable"), std::string::npos) << refused.output();
  }
  chat_process tolerant({"--redis", later.url(), "--redis-degraded-start"});
  EXPECT_TRUE(degraded(tolerant.port())) << get(tolerant.port(), "/healthz");
  EXPECT_EQ(redis_state(tolerant.port()), 0) << get(tolerant.port(), "/metrics");
  later.start();
  EXPECT_TRUE(within(15s, [&] { return healthy(tolerant.port()); })) << tolerant.output();
  EXPECT_EQ(redis_state(tolerant.port()), 1);
  // And it chats through Redis: a line gets the room's real epoch.
  run([&]() -> asio::awaitable<void> {
    auto x = co_await open_peer(tolerant);
    const auto x_in = co_await join(*x, "xavier");
    CO_ASSERT_TRUE(x_in);
    const auto m = co_await say(*x, "hello");
    EXPECT_EQ(m.seq, 1u);
    EXPECT_FALSE(m.epoch.starts_with("local-")) << m.epoch;
  });
}

// An administrator's /admin/disconnect on one instance closes the member's
// connections on every instance (through Redis), with 4003, and its ban
// keeps the member out of every instance; others stay.
TEST_F(ChatCluster, AnAdminDisconnectOnOneInstanceClosesTheMemberEverywhere) {
  namespace jwt = duplex::test::jwt;
  const auto dir = std::filesystem::temp_directory_path() / ("duplex-cluster-admin-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string secret = jwt::random_hex(32), admin_token = jwt::random_hex(16);
  const auto write = [&](const char* name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  };
  const std::string secret_file = write("chat.secret", secret), admin_file = write("admin.token", admin_token);
  auto a = instance("a", {"--auth-jwt", secret_file, "--admin-token-file", admin_file});
  auto b = instance("b", {"--auth-jwt", secret_file});  // no admin route of its own
  const auto token = [&](const char* name) {
    return jwt::hs256(secret, R"({"sub":")" + std::string(name) + R"(","exp":)" + std::to_string(jwt::unix_now() + 600) + "}");
  };
  const std::string xt = token("xavier"), yt = token("yvonne");
  run([&]() -> asio::awaitable<void> {
    auto x_on_b = co_await open_peer(*b, xt);  // xavier on b (twice) and on a; yvonne on b
    auto x_on_a = co_await open_peer(*a, xt);
    auto y_on_b = co_await open_peer(*b, yt);
    CO_ASSERT_TRUE(co_await join(*x_on_b, "xavier"));
    CO_ASSERT_TRUE(co_await join(*y_on_b, "yvonne"));
    const std::string asked = get(a->port(), "/admin/disconnect?name=xavier&ban=60");  // no token: refused
    EXPECT_NE(asked.find(" 401 "), std::string::npos) << asked;
    const std::string ok = duplex::test::http_exchange(
        a->port(), "GET /admin/disconnect?name=xavier&ban=60 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                       admin_token + "\r\nConnection: close\r\n\r\n", true);
    EXPECT_NE(ok.find(" 200 "), std::string::npos) << ok;
    EXPECT_TRUE(co_await eventually([&] { return x_on_b->closed && x_on_a->closed; }, across))
        << "a: " << a->output() << "\nb: " << b->output();
    EXPECT_EQ(x_on_b->ws.close_code(), 4003);
    EXPECT_EQ(x_on_a->ws.close_code(), 4003);
    EXPECT_FALSE(y_on_b->closed);
    co_await say(*y_on_b, "still here");
    // The ban holds on the instance that was not asked: its upgrade is refused with 403.
    const std::string again = duplex::test::http_exchange(
        b->port(), "GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Cookie: duplex_token=" + xt + "\r\n\r\n", true);
    EXPECT_NE(again.find(" 403 "), std::string::npos) << again;
  });
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
