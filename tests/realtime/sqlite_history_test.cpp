// The SQLite engine against real database files in temporary directories.
#include <duplex/realtime/sqlite_history.hpp>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>

namespace rt = duplex::realtime;
namespace fs = std::filesystem;

namespace {

class SqliteHistory : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("duplex-history-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<rt::sqlite_history> open(rt::sqlite_history_config c = {}) {
    if (c.directory == "duplex-data") c.directory = dir_ / "data";
    std::error_code ec;
    std::string detail;
    auto h = rt::sqlite_history::open(std::move(c), ec, &detail);
    EXPECT_FALSE(ec) << ec.message() << ": " << detail;
    return h;
  }

  // Runs SQL against the store's file directly; returns the first column of the first row.
  std::string query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((dir_ / "data" / "history.sqlite3").c_str(), &db), SQLITE_OK);
    std::string out;
    sqlite3_exec(
        db, sql.c_str(),
        [](void* o, int, char** v, char**) {
          if (v[0]) *static_cast<std::string*>(o) = v[0];
          return 1;  // first row only
        },
        &out, nullptr);
    sqlite3_close(db);
    return out;
  }

  fs::path dir_;
};

rt::stream_position publish(rt::history_engine& h, std::string_view channel, std::string payload) {
  rt::stream_position pos;
  h.publish(channel, std::move(payload), [&](std::error_code ec, rt::stream_position p) {
    EXPECT_FALSE(ec);
    pos = std::move(p);
  });
  return pos;
}

rt::history_page recent(rt::history_engine& h, std::string_view channel, std::size_t n) {
  rt::history_page page;
  h.recent(channel, n, [&](std::error_code ec, rt::history_page p) {
    EXPECT_FALSE(ec);
    page = std::move(p);
  });
  return page;
}

std::error_code since(rt::history_engine& h, std::string_view channel, rt::stream_position after,
                      rt::history_page* out = nullptr) {
  std::error_code result;
  h.since(channel, std::move(after), 0, [&](std::error_code ec, rt::history_page p) {
    result = ec;
    if (out) *out = std::move(p);
  });
  return result;
}

}  // namespace

TEST_F(SqliteHistory, RestartKeepsHistoryEpochAndTop) {
  rt::stream_position lobby, other;
  {
    auto h = open({.retention = 1000});
    ASSERT_TRUE(h);
    for (int i = 1; i <= 1500; ++i) lobby = publish(*h, "lobby", "message " + std::to_string(i));
    other = publish(*h, "other", std::string("bin\0ary", 7));
    EXPECT_EQ(lobby.offset, 1500u);
    h->close();
    auto s = h->stats();
    EXPECT_EQ(s.committed, 1501u);
    EXPECT_EQ(s.failed_writes, 0u);
    EXPECT_EQ(s.queued, 0u);
  }
  EXPECT_EQ(query("SELECT count(*) FROM publications WHERE channel = 'lobby'"), "1000");  // trimmed
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");

  auto h = open({.retention = 1000});
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->recovered_from_crash());
  auto page = recent(*h, "lobby", 100);
  EXPECT_EQ(page.top, lobby);
  ASSERT_EQ(page.publications.size(), 100u);
  EXPECT_EQ(page.publications.front(), (rt::publication{1401, "message 1401"}));
  EXPECT_EQ(page.publications.back(), (rt::publication{1500, "message 1500"}));
  EXPECT_EQ(recent(*h, "other", 10).publications.at(0).payload, std::string("bin\0ary", 7));

  // A client that saw 1200 resumes across the restart.
  rt::history_page gap;
  ASSERT_FALSE(since(*h, "lobby", {1200, lobby.epoch}, &gap));
  ASSERT_EQ(gap.publications.size(), 300u);
  EXPECT_EQ(gap.publications.front().offset, 1201u);
  EXPECT_EQ(since(*h, "lobby", {400, lobby.epoch}), rt::errc::gap_beyond_retention);
  // Offsets continue after the restart.
  EXPECT_EQ(publish(*h, "lobby", "after").offset, 1501u);
  EXPECT_EQ(publish(*h, "lobby", "after").epoch, lobby.epoch);
}

TEST_F(SqliteHistory, ResetIsPersisted) {
  rt::stream_position reset_pos, quiet;
  {
    auto h = open();
    publish(*h, "a", "1");
    publish(*h, "a", "2");
    h->reset("a", [&](std::error_code, rt::stream_position p) { reset_pos = p; });
    publish(*h, "a", "new");
    quiet = recent(*h, "quiet", 0).top;  // a channel only read from also keeps its epoch
  }
  auto h = open();
  EXPECT_EQ(recent(*h, "quiet", 0).top, quiet);
  auto page = recent(*h, "a", 10);
  EXPECT_EQ(page.top, (rt::stream_position{1, reset_pos.epoch}));
  ASSERT_EQ(page.publications.size(), 1u);
  EXPECT_EQ(page.publications[0].payload, "new");
}

TEST_F(SqliteHistory, UncleanShutdownRotatesEpochs) {
  // A child process publishes and dies without close(): the writes it flushed
  // survive, but offsets it might have assigned without writing must not be
  // resumable, so the epoch changes.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::error_code ec;
    auto h = rt::sqlite_history::open({.directory = dir_ / "data"}, ec);
    if (!h) ::_exit(1);
    for (int i = 0; i < 10; ++i) h->publish("a", "m", [](std::error_code, rt::stream_position) {});
    h->flush();
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto old_epoch = query("SELECT epoch FROM channels WHERE name = 'a'");
  ASSERT_EQ(old_epoch.size(), 16u);

  auto h = open();
  EXPECT_TRUE(h->recovered_from_crash());
  auto page = recent(*h, "a", 100);
  EXPECT_EQ(page.publications.size(), 10u);
  EXPECT_EQ(page.top.offset, 10u);
  EXPECT_NE(page.top.epoch, old_epoch);
  EXPECT_EQ(since(*h, "a", {5, old_epoch}), rt::errc::epoch_mismatch);
  h->close();
  EXPECT_EQ(query("SELECT epoch FROM channels WHERE name = 'a'"), page.top.epoch);
}

TEST_F(SqliteHistory, UnwritableDirectoryFailsAtOpen) {
  std::ofstream(dir_ / "a-file") << "not a directory";
  std::error_code ec;
  std::string detail;
  auto h = rt::sqlite_history::open({.directory = dir_ / "a-file" / "data"}, ec, &detail);
  EXPECT_FALSE(h);
  EXPECT_EQ(ec, rt::errc::storage_unwritable);
  EXPECT_NE(detail.find("a-file"), std::string::npos) << detail;

  // The database path is taken by a directory.
  fs::create_directories(dir_ / "data" / "history.sqlite3");
  h = rt::sqlite_history::open({.directory = dir_ / "data"}, ec, &detail);
  EXPECT_FALSE(h);
  EXPECT_EQ(ec, rt::errc::storage_unwritable);
  EXPECT_NE(detail.find("history.sqlite3"), std::string::npos) << detail;
}

TEST_F(SqliteHistory, SecondStoreOnOneDirectoryFailsAtOpen) {
  auto first = open();
  ASSERT_TRUE(first);
  std::error_code ec;
  std::string detail;
  auto second = rt::sqlite_history::open({.directory = dir_ / "data"}, ec, &detail);
  EXPECT_FALSE(second);
  EXPECT_EQ(ec, rt::errc::storage_in_use);
  EXPECT_NE(detail.find("history.lock"), std::string::npos) << detail;
  first->close();
  EXPECT_TRUE(open());  // released by close()
}

TEST_F(SqliteHistory, CorruptOrForeignDatabaseFailsAtOpen) {
  fs::create_directories(dir_ / "data");
  {
    std::ofstream f(dir_ / "data" / "history.sqlite3", std::ios::binary);
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>(i * 7));
  }
  std::error_code ec;
  std::string detail;
  auto h = rt::sqlite_history::open({.directory = dir_ / "data"}, ec, &detail);
  EXPECT_FALSE(h);
  EXPECT_EQ(ec, rt::errc::storage_corrupt);
  EXPECT_NE(detail.find("history.sqlite3"), std::string::npos) << detail;

  fs::remove(dir_ / "data" / "history.sqlite3");
  query("CREATE TABLE invoices(id INTEGER PRIMARY KEY)");  // someone else's database
  h = rt::sqlite_history::open({.directory = dir_ / "data"}, ec, &detail);
  EXPECT_FALSE(h);
  EXPECT_EQ(ec, rt::errc::storage_corrupt);
  EXPECT_NE(detail.find("not written by duplex"), std::string::npos) << detail;
}

TEST_F(SqliteHistory, DamagedPagesFailAtOpen) {
  {
    auto h = open();
    for (int i = 0; i < 1000; ++i) publish(*h, "a", std::string(200, 'x'));  // no trimming: no free pages
  }
  // Overwrite the middle of the file (b-tree pages) with garbage; keep the header.
  auto path = dir_ / "data" / "history.sqlite3";
  auto size = fs::file_size(path);
  ASSERT_GT(size, 16384u);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>(0xA5 ^ i));
  }
  std::error_code ec;
  std::string detail;
  auto h = rt::sqlite_history::open({.directory = dir_ / "data"}, ec, &detail);
  EXPECT_FALSE(h);
  EXPECT_EQ(ec, rt::errc::storage_corrupt) << detail;
}

TEST_F(SqliteHistory, DiskErrorIsReportedAndPublishingContinues) {
  std::atomic<int> errors{0};
  std::string last_detail;
  std::mutex m;
  auto h = open({.max_db_bytes = 128 * 1024,  // a disk that fills up: SQLite's max_page_count
                 .on_error = [&](std::error_code ec, const std::string& detail) {
                   EXPECT_EQ(ec, rt::errc::storage_io);
                   std::lock_guard lock(m);
                   last_detail = detail;
                   ++errors;
                 }});
  ASSERT_TRUE(h);
  rt::stream_position pos;
  for (int i = 1; i <= 300; ++i) {
    pos = publish(*h, "a", std::string(1000, 'a' + i % 26));
    ASSERT_EQ(pos.offset, static_cast<std::uint64_t>(i));
    if (i % 50 == 0) h->flush();  // several batches, so some commit and later ones fail
  }
  h->flush();
  EXPECT_GT(errors.load(), 0);
  {
    std::lock_guard lock(m);
    EXPECT_NE(last_detail.find("full"), std::string::npos) << last_detail;
  }
  auto s = h->stats();
  EXPECT_GT(s.failed_writes, 0u);
  EXPECT_GT(s.committed, 0u);
  EXPECT_EQ(s.committed + s.failed_writes, 300u);
  // Live delivery and recent history go on from memory.
  auto page = recent(*h, "a", 100);
  EXPECT_EQ(page.publications.size(), 100u);
  EXPECT_EQ(page.top, pos);
  EXPECT_EQ(publish(*h, "a", "still live").offset, 301u);
  h.reset();

  // Writes were lost: the next open must not let anyone resume across them.
  auto again = open();
  EXPECT_TRUE(again->recovered_from_crash());
  EXPECT_NE(recent(*again, "a", 1).top.epoch, pos.epoch);
}

TEST_F(SqliteHistory, FlushFromAnotherThreadWhilePublishing) {
  auto h = open();
  // publish() is single-threaded; flush() may wait on any thread.
  for (int i = 0; i < 5000; ++i) publish(*h, "room" + std::to_string(i % 7), "payload");
  std::thread t([&] { h->flush(); });
  t.join();
  auto s = h->stats();
  EXPECT_EQ(s.committed, 5000u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_GE(s.batches, 1u);
}

TEST_F(SqliteHistory, LockedDatabaseOverflowsTheQueueAndIsReported) {
  std::atomic<int> overflows{0};
  auto h = open({.max_queue = 10, .on_error = [&](std::error_code ec, const std::string& detail) {
                   EXPECT_EQ(ec, rt::errc::storage_io);
                   if (detail.find("queue full") != std::string::npos) ++overflows;
                 }});
  ASSERT_TRUE(h);
  // Another process holds the write lock: the writer waits (busy timeout), the queue fills.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(h->database_path().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  for (int i = 1; i <= 100; ++i) ASSERT_EQ(publish(*h, "a", "m").offset, static_cast<std::uint64_t>(i));
  EXPECT_GE(overflows.load(), 80);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  h->flush();
  auto s = h->stats();
  EXPECT_EQ(s.committed + s.failed_writes, 100u);
  EXPECT_GE(s.failed_writes, 80u);
  EXPECT_EQ(recent(*h, "a", 1000).publications.size(), 100u);  // live history unaffected
}
