// The chat service over real sockets: history across a restart (a real
// SQLite directory), resume exactly once, presence snapshot + diffs, the
// grace period, typed errors, and what a join storm costs each member.
// (Coroutine calls take named values: see chat_client.hpp on GCC 12.)
#include "chat_client.hpp"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <random>

using duplex::test::chat_client;
using duplex::test::chat_server;
namespace v1 = duplex::chat::wire;
namespace v2 = duplex::chat::wire::v2;
using namespace std::chrono_literals;

namespace {

template <class F>
void run(F f, std::chrono::seconds limit = 30s) {
  asio::io_context io;
  auto fut = asio::co_spawn(io, f(), asio::use_future);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (fut.wait_for(0s) != std::future_status::ready && std::chrono::steady_clock::now() < deadline)
    io.run_for(20ms);
  ASSERT_EQ(fut.wait_for(0s), std::future_status::ready) << "client coroutine did not finish in time";
  fut.get();
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

std::filesystem::path fresh_dir(const char* name) {
  auto d = std::filesystem::temp_directory_path() /
           ("duplex-chat-test-" + std::string(name) + "-" + std::to_string(std::random_device{}()));
  std::filesystem::remove_all(d);
  return d;
}

// Joins `room` as `name` and waits for the confirmation and, when the
// client was not watching yet, until it is live (history, then the presence
// snapshot): with the Redis engines the join can be answered before the
// history read, and a line said meanwhile arrives in the history.
asio::awaitable<v2::joined> join(chat_client& c, const char* name, const char* room = "lobby",
                                 const std::string* token = nullptr) {
  const auto snapshots = [&c] {
    return std::count_if(c.seen.begin(), c.seen.end(), [](auto& m) { return std::holds_alternative<v2::presence>(m); });
  };
  const auto before = snapshots();
  c.post(v2::join{name, room, token ? std::optional<std::string>(*token) : std::nullopt});
  auto joined = co_await c.until<v2::joined>();
  if (before == 0 && snapshots() == 0) co_await c.until<v2::presence>();
  co_return joined;
}

// Says `text` and waits until the line comes back (with its seq).
asio::awaitable<v2::message> say(chat_client& c, const std::string& text) {
  c.post(v1::chat{text});
  co_return co_await c.until_text(text);
}

std::vector<std::string> texts(const std::vector<v2::message>& lines) {
  std::vector<std::string> out;
  for (auto& l : lines) out.push_back(l.text);
  return out;
}

bool total_is_1(const v2::presence_diff& d, const void*) { return d.total == 1; }
bool total_is_3(const v2::presence_diff& d, const void*) { return d.total == 3; }
bool has_leave(const v2::presence_diff& d, const void*) { return !d.leaves.empty(); }
bool room_two(const v2::presence& p, const void*) { return p.room == "two"; }

}  // namespace

TEST(ChatService, HistorySurvivesARestart) {
  if (duplex::test::on_redis_engines()) GTEST_SKIP() << "SQLite's: Redis keeps its own (native.chat.cluster restarts it)";
  const auto dir = fresh_dir("restart");
  std::string epoch;
  {
    chat_server srv(dir);
    run([&]() -> asio::awaitable<void> {
      auto a = co_await chat_client::open(srv);
      co_await join(a, "ada");
      for (int i = 1; i <= 3; ++i) {
        const std::string text = "line " + std::to_string(i);
        auto m = co_await say(a, text);
        EXPECT_EQ(m.seq, static_cast<std::uint64_t>(i));
        EXPECT_EQ(m.room, "lobby");
        epoch = m.epoch;
      }
    });
  }
  ASSERT_TRUE(std::filesystem::exists(dir / "history.sqlite3"));
  chat_server again(dir);
  run([&]() -> asio::awaitable<void> {
    // A visitor that never joins gets the history and the (empty) presence.
    auto v = co_await chat_client::open(again);
    v.post(v2::watch{"lobby"});
    auto h = co_await v.until<v2::history>();
    co_await v.until<v2::presence>();
    EXPECT_TRUE(h.replace);
    EXPECT_EQ(h.epoch, epoch) << "a clean restart keeps the epoch";
    EXPECT_EQ(h.seq, 3u);
    EXPECT_EQ(texts(h.messages), (std::vector<std::string>{"line 1", "line 2", "line 3"}));
    // New lines continue the numbering.
    auto b = co_await chat_client::open(again);
    co_await join(b, "bob");
    const std::string text = "after restart";
    auto m = co_await say(b, text);
    EXPECT_EQ(m.seq, 4u);
    EXPECT_EQ(m.epoch, epoch);
  });
  std::filesystem::remove_all(dir);
}

class ChatThreads : public ::testing::TestWithParam<std::size_t> {};
INSTANTIATE_TEST_SUITE_P(Threads, ChatThreads, ::testing::Values(1, 2));

TEST_P(ChatThreads, ResumeReplaysTheGapExactlyOnceThenLive) {
  chat_server srv({}, {}, GetParam());
  run([&]() -> asio::awaitable<void> {
    auto a = co_await chat_client::open(srv);
    co_await join(a, "ada");
    std::string text[8];
    for (int i = 1; i <= 7; ++i) text[i] = "m" + std::to_string(i);
    co_await say(a, text[1]);
    co_await say(a, text[2]);

    auto b = co_await chat_client::open(srv);
    b.post(v2::watch{"lobby"});
    auto h = co_await b.until<v2::history>();
    EXPECT_EQ(h.seq, 2u);
    const std::string epoch = h.epoch;
    b.ws.post_close(1000);  // b goes away having seen m1, m2

    for (int i = 3; i <= 6; ++i) co_await say(a, text[i]);

    auto b2 = co_await chat_client::open(srv);
    b2.post(v2::resume{"lobby", epoch, 2});
    auto r = co_await b2.until<v2::resumed>();
    EXPECT_EQ(r.seq, 6u);
    EXPECT_EQ(r.missed, 4u);
    EXPECT_EQ(r.epoch, epoch);
    co_await say(a, text[7]);
    co_await b2.until_text(text[7]);
    // Replayed m3..m6 in order, then m7 live: each once, no history reload.
    EXPECT_EQ(texts(b2.lines()), (std::vector<std::string>{"m3", "m4", "m5", "m6", "m7"}));
    for (auto& m : b2.seen)
      if (auto* hh = std::get_if<v2::history>(&m)) EXPECT_FALSE(hh->replace);
    std::uint64_t seq = 2;
    for (auto& l : b2.lines()) EXPECT_EQ(l.seq, ++seq);

    // Nothing missed: resumed with zero messages.
    auto c = co_await chat_client::open(srv);
    c.post(v2::resume{"lobby", epoch, 7});
    auto r2 = co_await c.until<v2::resumed>();
    EXPECT_EQ(r2.missed, 0u);
    EXPECT_EQ(r2.seq, 7u);
  });
}

TEST(ChatService, RefusedResumesAreTypedAndReloadTheRecentHistory) {
  duplex::chat::service_config cfg;
  cfg.max_replay = 3;
  chat_server srv({}, cfg);
  run([&]() -> asio::awaitable<void> {
    auto a = co_await chat_client::open(srv);
    co_await join(a, "ada");
    std::string epoch;
    for (int i = 1; i <= 5; ++i) {
      const std::string text = "m" + std::to_string(i);
      epoch = (co_await say(a, text)).epoch;
    }
    struct refusal {
      v2::resume ask;
      std::string code;
    };
    const refusal cases[] = {
        {{"lobby", epoch, 99}, "position_from_future"},
        {{"lobby", "0000000000000000", 2}, "epoch_mismatch"},
        {{"lobby", epoch, 1}, "cannot_resume"},  // 4 missed > max_replay 3
    };
    std::uint64_t top = 5;
    for (const auto& c : cases) {
      auto b = co_await chat_client::open(srv);
      b.post(c.ask);
      auto e = co_await b.until<v1::error>();
      EXPECT_EQ(e.code, c.code);
      auto h = co_await b.until<v2::history>();
      EXPECT_TRUE(h.replace) << c.code;
      EXPECT_EQ(h.seq, top);
      EXPECT_EQ(h.messages.size(), top);
      // Still subscribed: live lines follow.
      const std::string after = "after " + c.code;
      co_await say(a, after);
      co_await b.until_text(after);
      ++top;
    }
    // The member saw none of it.
    EXPECT_EQ(a.count<v1::error>(), 0u);
  });
}

TEST_P(ChatThreads, PresenceSnapshotToTheJoinerDiffsToEveryone) {
  chat_server srv({}, {}, GetParam());
  run([&]() -> asio::awaitable<void> {
    auto a = co_await chat_client::open(srv);
    co_await join(a, "ada");
    co_await a.until<v2::presence_diff>(total_is_1);

    // A visitor sees who is online before joining.
    auto v = co_await chat_client::open(srv);
    v.post(v2::watch{"lobby"});
    auto snap = co_await v.until<v2::presence>();
    EXPECT_EQ(snap.users, (std::vector<std::string>{"ada"}));
    EXPECT_EQ(snap.total, 1u);

    // Two joins in one tick reach the others as one diff.
    auto b = co_await chat_client::open(srv);
    auto c = co_await chat_client::open(srv);
    b.post(v2::join{"bob", "lobby", {}});
    c.post(v2::join{"cy", "lobby", {}});
    auto bs = co_await b.until<v2::presence>();
    EXPECT_EQ(bs.total, bs.users.size());
    auto d = co_await v.until<v2::presence_diff>(total_is_3);
    EXPECT_TRUE(d.leaves.empty());
    EXPECT_LE(v.count<v2::presence_diff>(), 2u) << "joins are coalesced per tick";
    // Only a joiner gets a snapshot: ada got diffs only after her own.
    co_await a.until<v2::presence_diff>(total_is_3);
    EXPECT_EQ(a.count<v2::presence>(), 1u);

    // A leave frees the name at once.
    b.post(v2::leave{});
    auto l = co_await v.until<v2::presence_diff>(has_leave);
    EXPECT_EQ(l.leaves, (std::vector<std::string>{"bob"}));
    auto b2 = co_await chat_client::open(srv);
    co_await join(b2, "bob");
  });
}

TEST(ChatService, AReconnectWithinTheGraceKeepsTheNameWithoutLeaveOrJoin) {
  duplex::chat::service_config cfg;
  chat_server srv({}, cfg, 1, 3000ms);
  run([&]() -> asio::awaitable<void> {
    auto v = co_await chat_client::open(srv);
    v.post(v2::watch{"lobby"});
    co_await v.until<v2::presence>();
    auto a = co_await chat_client::open(srv);
    auto j = co_await join(a, "ada");
    co_await v.until<v2::presence_diff>();
    a.ws.post_close(1001);
    co_await sleep_for(300ms);

    // Someone else can't take the name while it is held...
    auto x = co_await chat_client::open(srv);
    x.post(v2::join{"ada", "lobby", {}});
    EXPECT_EQ((co_await x.until<v1::error>()).code, "name_taken");
    // ...its holder can, with the token.
    auto a2 = co_await chat_client::open(srv);
    auto j2 = co_await join(a2, "ada", "lobby", &j.token);
    EXPECT_EQ(j2.name, "ada");
    EXPECT_EQ(j2.token, j.token);
    // The watcher saw no leave: a marker line arrives after a few ticks with
    // only ada's first join before it.
    co_await sleep_for(300ms);
    const std::string marker = "marker";
    co_await say(a2, marker);
    co_await v.until_text(marker);
    EXPECT_EQ(v.count<v2::presence_diff>(), 1u);
  });
}

TEST(ChatService, BadInputGetsTypedErrorsAndAffectsNobodyElse) {
  duplex::chat::service_config cfg;
  cfg.max_rooms = 2;
  chat_server srv({}, cfg);
  run([&]() -> asio::awaitable<void> {
    auto a = co_await chat_client::open(srv);
    co_await join(a, "ada", "one");
    auto x = co_await chat_client::open(srv);
    const std::string long_room = R"({"type":"watch","room":")" + std::string(65, 'r') + R"("})";
    const std::pair<std::string, std::string> cases[] = {
        {R"({"type":"watch","room":"no spaces"})", "bad_room"},
        {R"({"type":"watch","room":""})", "bad_room"},
        {long_room, "bad_room"},
        {R"({"type":"join","name":"x","room":"bad/room"})", "bad_room"},
        {R"({"type":"chat","text":"hi"})", "not_joined"},
        {R"({"type":"resume","room":"one","epoch":"e","seq":-1})", "bad_message"},
        {R"({"type":"join","name":"ada","room":"one"})", "name_taken"},
    };
    for (auto& [json, code] : cases) {
      x.post_raw(json);
      auto e = co_await x.until<v1::error>();
      EXPECT_EQ(e.code, code) << json;
    }
    // x now watches "one"; a second room opens, a third is over the limit.
    x.post(v2::watch{"two"});
    co_await x.until<v2::presence>(room_two);
    auto y = co_await chat_client::open(srv);
    y.post(v2::watch{"three"});
    EXPECT_EQ((co_await y.until<v1::error>()).code, "too_many_rooms");
    // None of it reached ada, who still chats.
    const std::string text = "still here";
    co_await say(a, text);
    EXPECT_EQ(a.count<v1::error>(), 0u);
  });
}

TEST_P(ChatThreads, JoinStormCostsEachMemberLinearBytes) {
  chat_server srv({}, {}, GetParam());
  constexpr int n = 300;
  std::uint64_t most = 0;
  const std::string marker = "marker";
  run(
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        int joined = 0, got = 0;
        std::vector<chat_client> members;
        members.reserve(n);
        for (int i = 0; i < n; ++i) members.push_back(co_await chat_client::open(srv));
        for (int i = 0; i < n; ++i)
          asio::co_spawn(
              ex,
              [&, i]() -> asio::awaitable<void> {
                members[i].post(v2::join{"u" + std::to_string(i), "lobby", {}});
                co_await members[i].until<v2::joined>();
                ++joined;
                co_await members[i].until_text(marker);
                ++got;
              },
              asio::detached);
        while (joined < n) co_await sleep_for(10ms);
        co_await sleep_for(300ms);  // the last joins' diffs go out
        members[0].post(v1::chat{marker});
        while (got < n) co_await sleep_for(10ms);
        for (auto& m : members) most = std::max(most, m.bytes);
      },
      60s);
  // A full online list to everyone per join would cost the first members
  // ~n*n/2 names (~400 KB here); a snapshot plus diffs is about n names.
  EXPECT_LT(most, 32u * 1024) << "bytes received by the busiest member";
  EXPECT_GT(most, n * 4u) << "every member heard about every join";
  EXPECT_EQ(srv.on_service([](duplex::chat::service& s) { return s.rooms(); }), 1u);
}

TEST(ChatService, TheSnapshotIsCappedAndCountsEveryone) {
  duplex::chat::service_config cfg;
  cfg.presence_cap = 2;
  chat_server srv({}, cfg);
  run([&]() -> asio::awaitable<void> {
    auto a = co_await chat_client::open(srv);
    auto b = co_await chat_client::open(srv);
    auto c = co_await chat_client::open(srv);
    co_await join(a, "ada");
    co_await join(b, "bob");
    co_await join(c, "cy");
    co_await c.until<v2::presence_diff>(total_is_3);
    auto v = co_await chat_client::open(srv);
    v.post(v2::watch{"lobby"});
    auto snap = co_await v.until<v2::presence>();
    EXPECT_EQ(snap.users, (std::vector<std::string>{"ada", "bob"}));
    EXPECT_EQ(snap.total, 3u);
  });
}

// Flood control: one member sends 200 lines at once while another listens.
// The flooder gets its burst through, then typed rate_limited errors that
// say how long to wait, and is closed with 4008; nothing over the limit
// reaches the listener or history; a line from someone else arrives at once.
TEST_P(ChatThreads, AFlooderIsRefusedThenClosedAndNobodyElseWaits) {
  duplex::chat::service_config cfg;
  cfg.line_rate = 5;
  cfg.line_burst = 10;
  cfg.flood_close_after = 20;
  chat_server srv({}, cfg, GetParam());
  run([&]() -> asio::awaitable<void> {
    auto flooder = co_await chat_client::open(srv);
    co_await join(flooder, "flood");
    auto listener = co_await chat_client::open(srv);
    co_await join(listener, "ear");
    auto talker = co_await chat_client::open(srv);
    co_await join(talker, "talk");
    for (int i = 0; i < 200; ++i) flooder.post(v1::chat{"spam " + std::to_string(i)});
    // The flooder sees its burst, refusals with a wait, then the close.
    std::size_t refusals = 0;
    std::string wait_text;
    try {
      for (;;) {
        auto e = co_await flooder.until<v1::error>();
        EXPECT_EQ(e.code, "rate_limited");
        if (wait_text.empty()) wait_text = e.message;
        ++refusals;
      }
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(flooder.ws.close_code(), duplex::chat::close_flooding);
    EXPECT_GE(refusals, 19u);
    EXPECT_NE(wait_text.find(" ms before sending again"), std::string::npos) << wait_text;
    // Someone else's line reaches the listener within a second.
    const auto t0 = std::chrono::steady_clock::now();
    const std::string text = "am I heard?";
    talker.post(v1::chat{text});
    co_await listener.until_text(text);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    std::size_t spam = 0;
    for (const auto& l : listener.lines()) spam += l.text.rfind("spam ", 0) == 0;
    EXPECT_LE(spam, 12u);  // the burst (10), plus what refilled meanwhile
    EXPECT_GE(spam, 10u);
    // History holds the same lines: nothing refused was stored.
    auto late = co_await chat_client::open(srv);
    late.post(v2::watch{"lobby"});
    co_await late.until<v2::history>();
    std::size_t stored = 0;
    for (const auto& l : late.lines()) stored += l.text.rfind("spam ", 0) == 0;
    EXPECT_EQ(stored, spam);
  });
}

// Issue 23: an idle room costs nothing per tick. Once the joins are
// announced the tick timer sleeps (no rounds, no room visited) until a change
// or a grace expiry; counted, not timed.
TEST(ChatService, AnIdleRoomIsNotTicked) {
  if (duplex::test::on_redis_engines()) GTEST_SKIP() << "the Redis presence engine has upkeep every tick by design";
  duplex::chat::service_config cfg;
  chat_server srv({}, cfg, 1, 600ms);
  using counts = std::pair<std::uint64_t, std::uint64_t>;
  auto work = [&] {
    return srv.on_service([](duplex::chat::service& s) { return counts(s.tick_rounds(), s.rooms_ticked()); });
  };
  run([&]() -> asio::awaitable<void> {
    constexpr int n = 40;
    std::vector<chat_client> members;
    members.reserve(n);
    for (int i = 0; i < n; ++i) members.push_back(co_await chat_client::open(srv));
    for (int i = 0; i < n; ++i) co_await join(members[i], ("u" + std::to_string(100 + i)).c_str());
    auto all = [](const v2::presence_diff& d, const void*) { return d.total == n; };
    co_await members[0].until<v2::presence_diff>(all);
    co_await sleep_for(500ms);  // the last tick finds nothing pending
    const counts idle_from = work();
    co_await sleep_for(1200ms);
    const counts idle_to = work();
    EXPECT_EQ(idle_to.first, idle_from.first) << "tick rounds while idle";
    EXPECT_EQ(idle_to.second, idle_from.second) << "rooms ticked while idle";
    // A join wakes it: announced, then asleep again after a round or two.
    auto late = co_await chat_client::open(srv);
    co_await join(late, "late");
    auto more = [](const v2::presence_diff& d, const void*) { return d.total == n + 1; };
    co_await members[0].until<v2::presence_diff>(more);
    co_await sleep_for(500ms);
    const counts after_join = work();
    EXPECT_GE(after_join.second, idle_to.second + 1);
    EXPECT_LE(after_join.first, idle_to.first + 6);
    // A dropped member: nothing to do until its grace ends, then its leave.
    co_await late.ws.close(1000, "bye");
    co_await members[0].until<v2::presence_diff>(has_leave);
    const counts after_leave = work();
    EXPECT_LE(after_leave.first, after_join.first + 6) << "rounds during a 600 ms grace";
  });
}

namespace {
namespace v5 = duplex::chat::wire::v5;
std::size_t names_in_diffs(const chat_client& c) {
  std::size_t n = 0;
  for (auto& m : c.seen)
    if (auto* d = std::get_if<v2::presence_diff>(&m)) n += d->joins.size() + d->leaves.size();
  return n;
}
}  // namespace

// Version 5 (issue 23): above presence_full_limit a version-5 member gets the
// count and a bounded page of names, speakers' leaves, and pages through the
// full list on request; a version-2 watcher still gets every change; a
// small room is unchanged.
TEST(ChatService, Version5InABigRoomGetsTheCountAndPagesTheList) {
  duplex::chat::service_config cfg;
  cfg.presence_full_limit = 20;
  cfg.presence_page = 5;
  cfg.count_interval = 200ms;
  chat_server srv({}, cfg);
  run([&]() -> asio::awaitable<void> {
    constexpr int n = 40;
    auto old = co_await chat_client::open(srv);  // version 2
    old.post(v2::watch{"lobby"});
    co_await old.until<v2::presence>();
    auto five = co_await chat_client::open_v5(srv);
    co_await join(five, "v5-member");
    std::vector<chat_client> members;
    members.reserve(n);
    std::vector<std::string> everyone = {"v5-member"};
    for (int i = 0; i < n; ++i) {
      members.push_back(co_await chat_client::open(srv));
      everyone.push_back("m" + std::to_string(10 + i));
      co_await join(members[i], everyone.back().c_str());
    }
    std::sort(everyone.begin(), everyone.end());
    co_await old.until_total(n + 1);
    co_await five.until_total(n + 1);
    // The room crossed the limit: the version-5 member got a summary, and
    // names only up to then; the version-2 watcher every join.
    auto summary = five.count<v5::presence_summary>();
    EXPECT_EQ(summary, 1u);
    EXPECT_EQ(names_in_diffs(old), std::size_t(n + 1));
    EXPECT_LE(names_in_diffs(five), 21u);
    // A new version-5 watcher: the summary, first page and the count.
    auto w = co_await chat_client::open_v5(srv);
    w.post(v2::watch{"lobby"});
    auto s = co_await w.until<v5::presence_summary>();
    EXPECT_EQ(s.total, std::size_t(n + 1));
    EXPECT_EQ(s.limit, 20u);
    EXPECT_EQ(s.users, std::vector<std::string>(everyone.begin(), everyone.begin() + 5));
    EXPECT_EQ(w.count<v2::presence>(), 0u);
    // The full list, 7 at a time.
    std::vector<std::string> listed;
    std::optional<std::string> after;
    for (int pages = 0; pages < 20; ++pages) {
      w.post5(v5::list_members{"lobby", after, 7});
      auto page = co_await w.until<v5::members>();
      EXPECT_LE(page.users.size(), 7u);
      EXPECT_EQ(page.total, std::size_t(n + 1));
      listed.insert(listed.end(), page.users.begin(), page.users.end());
      if (!page.next) break;
      after = page.next;
    }
    EXPECT_EQ(listed, everyone);
    // A speaker's leave reaches version 5 by name; a silent member's only as the count.
    const std::string line = "hello from m13";
    co_await say(members[3], line);
    co_await w.until_text(line);
    members[4].post(v2::leave{});  // m14, silent
    co_await w.until_total(n);
    members[3].post(v2::leave{});  // m13, spoke
    auto gone = [](const v2::presence_diff& d, const void*) { return !d.leaves.empty(); };
    auto d = co_await w.until<v2::presence_diff>(gone);
    EXPECT_EQ(d.leaves, std::vector<std::string>{"m13"});
    EXPECT_EQ(d.total, std::size_t(n - 1));
    EXPECT_EQ(names_in_diffs(w), 1u) << "m14 left silently: the count only";
    // Listing a room one does not watch is refused.
    w.post5(v5::list_members{"elsewhere", std::nullopt, 10});
    auto e = co_await w.until<v1::error>();
    EXPECT_EQ(e.code, "not_watching");
    // A small room stays exactly as before for version 5: snapshot and named diffs.
    auto small5 = co_await chat_client::open_v5(srv);
    co_await join(small5, "ann", "small");
    co_await small5.until_total(1);
    auto other = co_await chat_client::open(srv);
    co_await join(other, "bea", "small");
    co_await small5.until_total(2);
    auto* sd = std::get_if<v2::presence_diff>(&small5.seen.back());
    EXPECT_TRUE(sd);
    if (!sd) co_return;
    EXPECT_EQ(sd->joins, std::vector<std::string>{"bea"});
    EXPECT_EQ(small5.count<v2::presence>(), 1u);
    EXPECT_EQ(small5.count<v5::presence_summary>(), 0u);
  });
}
