#include <duplex/realtime/sqlite_history.hpp>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace duplex::realtime {
namespace {

constexpr int application_id = 0x64757078;  // "dupx": marks a duplex history database

// One queued write. `channel` views the key of the engine's channel map,
// which never erases, so no copy per publication; create and reset carry
// the channel's new epoch, which the writer remembers for later rows.
struct write_op {
  enum kind_t { publish, create, reset } kind;
  std::string_view channel;
  std::uint64_t offset = 0;  // publish: the offset; create/reset: the top
  std::string data;          // publish: the payload; create/reset: the epoch
};

struct statement {
  sqlite3_stmt* s = nullptr;
  statement() = default;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(s); }
};

std::string sqlite_message(sqlite3* db, int rc) {
  std::string m = sqlite3_errstr(rc);
  if (db && sqlite3_errcode(db) == rc && m != sqlite3_errmsg(db)) {
    m += ": ";
    m += sqlite3_errmsg(db);
  }
  return m;
}

errc classify(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
    case SQLITE_SCHEMA:
      return errc::storage_corrupt;
    default:
      return errc::storage_unwritable;
  }
}

}  // namespace

struct sqlite_history::impl {
  sqlite_history_config config;
  std::filesystem::path db_path;
  sqlite3* db = nullptr;
  bool crash_recovered = false;
  std::map<std::string, channel_log, std::less<>> channels;

  // Write-behind queue, shared with the writer thread.
  mutable std::mutex mutex;
  std::condition_variable wake;      // writer: work or stop
  std::condition_variable progress;  // flush(): a batch finished
  std::vector<write_op> queue;
  std::uint64_t enqueued = 0;   // ops ever queued
  std::uint64_t processed = 0;  // ops ever taken and finished (committed or failed)
  bool stopping = false;
  bool closed = false;
  bool had_failure = false;
  std::atomic<std::uint64_t> committed{0}, batches{0}, failed{0};
  std::atomic<std::int64_t> last_batch_us{0}, max_batch_us{0};
  std::thread writer;
  std::map<std::string_view, std::string> writer_epochs;  // writer thread only (after open)

  int lock_fd = -1;  // flock'ed <dir>/history.lock: two writers would hand out the same offsets

  ~impl() {
    if (db) sqlite3_close_v2(db);
    if (lock_fd >= 0) ::close(lock_fd);
  }

  // The channel's map entry, created (and its creation queued) on first use.
  std::pair<const std::string, channel_log>& entry(std::string_view channel) {
    auto it = channels.find(channel);
    if (it == channels.end()) {
      it = channels.emplace(std::string(channel), channel_log(new_epoch(), 0, config.retention)).first;
      enqueue({write_op::create, it->first, 0, it->second.epoch()});
    }
    return *it;
  }

  int exec(const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }

  int prepare(statement& st, const char* sql) {
    return sqlite3_prepare_v2(db, sql, -1, &st.s, nullptr);
  }

  void enqueue(write_op op) {
    std::unique_lock lock(mutex);
    if (closed) {  // live delivery goes on after close(); storage does not
      if (op.kind == write_op::publish) failed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (queue.size() >= config.max_queue) {
      had_failure = true;
      lock.unlock();
      if (op.kind == write_op::publish) failed.fetch_add(1, std::memory_order_relaxed);
      report(errc::storage_io, "write queue full (" + std::to_string(config.max_queue) +
                                   " writes): the disk is too slow; publication dropped from storage");
      return;
    }
    queue.push_back(std::move(op));
    ++enqueued;
    lock.unlock();
    wake.notify_one();
  }

  std::atomic<bool> failing{false};  // logs once per streak of failures; a commit ends the streak
  void report(std::error_code ec, const std::string& detail) {
    if (!failing.exchange(true)) std::fprintf(stderr, "duplex history: %s (%s)\n", detail.c_str(), db_path.c_str());
    if (config.on_error) config.on_error(ec, detail);
  }

  void run_writer() {
    std::vector<write_op> batch;
    for (;;) {
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;
        batch.swap(queue);
      }
      std::string error;
      const auto started = std::chrono::steady_clock::now();
      int rc = write_batch(batch, error);
      const std::int64_t us =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
      last_batch_us.store(us, std::memory_order_relaxed);
      if (us > max_batch_us.load(std::memory_order_relaxed)) max_batch_us.store(us, std::memory_order_relaxed);
      std::size_t pubs = 0;
      for (auto& op : batch) pubs += op.kind == write_op::publish;
      if (rc == SQLITE_OK) {
        committed.fetch_add(pubs, std::memory_order_relaxed);
        batches.fetch_add(1, std::memory_order_relaxed);
        failing = false;
      } else {
        failed.fetch_add(pubs, std::memory_order_relaxed);
        {
          std::lock_guard lock(mutex);
          had_failure = true;
        }
        report(errc::storage_io, "history write of " + std::to_string(pubs) + " publications failed: " + error);
      }
      {
        std::lock_guard lock(mutex);
        processed += batch.size();
      }
      progress.notify_all();
      batch.clear();
    }
  }

  // One transaction: insert the publications, persist each touched channel's
  // (epoch, top), trim each to retention.
  int write_batch(const std::vector<write_op>& batch, std::string& error) {
    int rc = exec("BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
      error = sqlite_message(db, rc);
      return rc;
    }
    auto fail = [&](int code) {
      error = sqlite_message(db, code);
      exec("ROLLBACK");
      return code;
    };
    statement insert, wipe, upsert, trim;
    if ((rc = prepare(insert, "INSERT OR REPLACE INTO publications(channel, offset, payload) VALUES(?1, ?2, ?3)")) ||
        (rc = prepare(wipe, "DELETE FROM publications WHERE channel = ?1")) ||
        (rc = prepare(upsert, "INSERT INTO channels(name, epoch, top) VALUES(?1, ?2, ?3) "
                              "ON CONFLICT(name) DO UPDATE SET epoch = excluded.epoch, top = excluded.top")) ||
        (rc = prepare(trim, "DELETE FROM publications WHERE channel = ?1 AND offset <= ?2")))
      return fail(rc);
    std::map<std::string_view, std::uint64_t> tops;
    for (auto& op : batch) {
      sqlite3_stmt* st = op.kind == write_op::publish ? insert.s : op.kind == write_op::reset ? wipe.s : nullptr;
      if (st) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, op.channel.data(), static_cast<int>(op.channel.size()), SQLITE_STATIC);
        if (op.kind == write_op::publish) {
          sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(op.offset));
          sqlite3_bind_blob(st, 3, op.data.data(), static_cast<int>(op.data.size()), SQLITE_STATIC);
        }
        if ((rc = sqlite3_step(st)) != SQLITE_DONE) return fail(rc);
      }
      if (op.kind != write_op::publish) writer_epochs[op.channel] = op.data;
      tops[op.channel] = op.offset;
    }
    for (auto& [channel, top] : tops) {
      const std::string& epoch = writer_epochs[channel];
      sqlite3_reset(upsert.s);
      sqlite3_bind_text(upsert.s, 1, channel.data(), static_cast<int>(channel.size()), SQLITE_STATIC);
      sqlite3_bind_text(upsert.s, 2, epoch.data(), static_cast<int>(epoch.size()), SQLITE_STATIC);
      sqlite3_bind_int64(upsert.s, 3, static_cast<sqlite3_int64>(top));
      if ((rc = sqlite3_step(upsert.s)) != SQLITE_DONE) return fail(rc);
      if (top > config.retention) {
        sqlite3_reset(trim.s);
        sqlite3_bind_text(trim.s, 1, channel.data(), static_cast<int>(channel.size()), SQLITE_STATIC);
        sqlite3_bind_int64(trim.s, 2, static_cast<sqlite3_int64>(top - config.retention));
        if ((rc = sqlite3_step(trim.s)) != SQLITE_DONE) return fail(rc);
      }
    }
    if ((rc = exec("COMMIT")) != SQLITE_OK) return fail(rc);
    return SQLITE_OK;
  }

  // Opens, checks and loads; on failure sets ec and detail.
  std::error_code open(std::string& detail) {
    std::error_code fs_ec;
    std::filesystem::create_directories(config.directory, fs_ec);
    if (fs_ec) {
      detail = "cannot create data directory " + config.directory.string() + ": " + fs_ec.message();
      return errc::storage_unwritable;
    }
    auto lock_path = config.directory / "history.lock";
    lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) {
      detail = "cannot create " + lock_path.string() + ": " + std::generic_category().message(errno);
      return errc::storage_unwritable;
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      detail = lock_path.string() + " is locked: another duplex server uses this data directory";
      return errc::storage_in_use;
    }
    db_path = config.directory / "history.sqlite3";
    auto failed_open = [&](int rc, const std::string& what) {
      detail = "cannot open history database " + db_path.string() + ": " + what + ": " + sqlite_message(db, rc);
      return make_error_code(classify(rc));
    };
    int rc = sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) return failed_open(rc, "open");
    sqlite3_extended_result_codes(db, 0);
    sqlite3_busy_timeout(db, 5000);
    if ((rc = exec("PRAGMA journal_mode=WAL")) != SQLITE_OK) return failed_open(rc, "WAL");

    // Not ours (another application's database) or damaged: refuse before writing anything.
    int app_id = 0, tables = 0;
    {
      statement st;
      if ((rc = prepare(st, "PRAGMA application_id")) != SQLITE_OK) return failed_open(rc, "read header");
      if (sqlite3_step(st.s) == SQLITE_ROW) app_id = sqlite3_column_int(st.s, 0);
      statement count;
      if ((rc = prepare(count, "SELECT count(*) FROM sqlite_schema")) != SQLITE_OK)
        return failed_open(rc, "read schema");
      if ((rc = sqlite3_step(count.s)) != SQLITE_ROW) return failed_open(rc, "read schema");
      tables = sqlite3_column_int(count.s, 0);
    }
    if (app_id != application_id && !(app_id == 0 && tables == 0)) {
      detail = "history database " + db_path.string() + " was not written by duplex (application_id " +
               std::to_string(app_id) + ")";
      return errc::storage_corrupt;
    }
    if (tables != 0) {
      statement st;
      if ((rc = prepare(st, "PRAGMA quick_check")) != SQLITE_OK) return failed_open(rc, "integrity check");
      rc = sqlite3_step(st.s);
      if (rc != SQLITE_ROW) return failed_open(rc, "integrity check");
      std::string verdict = reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0));
      if (verdict != "ok") {
        detail = "history database " + db_path.string() + " is corrupt: " + verdict;
        return errc::storage_corrupt;
      }
    }
    std::string setup = std::string(config.synchronous_full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;") +
                        "PRAGMA application_id=" + std::to_string(application_id) + ";" +
                        "CREATE TABLE IF NOT EXISTS channels(name TEXT PRIMARY KEY, epoch TEXT NOT NULL, "
                        "top INTEGER NOT NULL) WITHOUT ROWID;"
                        "CREATE TABLE IF NOT EXISTS publications(channel TEXT NOT NULL, offset INTEGER NOT NULL, "
                        "payload BLOB NOT NULL, PRIMARY KEY(channel, offset));"  // rowid table: payloads up to ~4 KB stay on one page
                        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;";
    if ((rc = exec(setup.c_str())) != SQLITE_OK) return failed_open(rc, "create schema");

    // A previous run that did not close cleanly may have assigned offsets that
    // never reached disk: rotate every epoch so no client resumes across them.
    {
      statement st;
      if ((rc = prepare(st, "SELECT value FROM meta WHERE key = 'clean'")) != SQLITE_OK)
        return failed_open(rc, "read meta");
      rc = sqlite3_step(st.s);
      crash_recovered = rc == SQLITE_ROW && std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0))) != "1";
    }
    if ((rc = load()) != SQLITE_OK) return failed_open(rc, "load channels");
    if (crash_recovered) {
      for (auto& [name, log] : channels) {
        channel_log fresh(new_epoch(), log.top(), config.retention);
        for (auto& p : log.recent(config.retention).publications) fresh.restore(p);
        log = std::move(fresh);
      }
    }
    if ((rc = exec("BEGIN IMMEDIATE")) != SQLITE_OK) return failed_open(rc, "mark open");
    if ((rc = exec("INSERT OR REPLACE INTO meta(key, value) VALUES('clean', '0')")) != SQLITE_OK) {
      exec("ROLLBACK");
      return failed_open(rc, "mark open");
    }
    if (crash_recovered) {
      statement st;
      if ((rc = prepare(st, "UPDATE channels SET epoch = ?2 WHERE name = ?1")) != SQLITE_OK) {
        exec("ROLLBACK");
        return failed_open(rc, "rotate epochs");
      }
      for (auto& [name, log] : channels) {
        sqlite3_reset(st.s);
        sqlite3_bind_text(st.s, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
        sqlite3_bind_text(st.s, 2, log.epoch().data(), static_cast<int>(log.epoch().size()), SQLITE_STATIC);
        if ((rc = sqlite3_step(st.s)) != SQLITE_DONE) {
          exec("ROLLBACK");
          return failed_open(rc, "rotate epochs");
        }
      }
    }
    if ((rc = exec("COMMIT")) != SQLITE_OK) {
      exec("ROLLBACK");
      return failed_open(rc, "mark open");
    }
    // The quota applies to later growth only, so an existing database still opens.
    if (config.max_db_bytes) {
      auto pages = config.max_db_bytes / 4096 + 1;
      if ((rc = exec(("PRAGMA max_page_count=" + std::to_string(pages)).c_str())) != SQLITE_OK)
        return failed_open(rc, "quota");
    }
    for (auto& [name, log] : channels) writer_epochs.emplace(name, log.epoch());
    writer = std::thread([this] { run_writer(); });
    return {};
  }

  int load() {
    statement names, pubs;
    int rc;
    if ((rc = prepare(names, "SELECT name, epoch, top FROM channels")) != SQLITE_OK) return rc;
    if ((rc = prepare(pubs, "SELECT offset, payload FROM publications WHERE channel = ?1 AND offset > ?2 "
                            "ORDER BY offset")) != SQLITE_OK)
      return rc;
    while ((rc = sqlite3_step(names.s)) == SQLITE_ROW) {
      std::string name(reinterpret_cast<const char*>(sqlite3_column_text(names.s, 0)),
                       static_cast<std::size_t>(sqlite3_column_bytes(names.s, 0)));
      std::string epoch(reinterpret_cast<const char*>(sqlite3_column_text(names.s, 1)));
      auto top = static_cast<std::uint64_t>(sqlite3_column_int64(names.s, 2));
      channel_log log(std::move(epoch), top, config.retention);
      sqlite3_reset(pubs.s);
      sqlite3_bind_text(pubs.s, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
      sqlite3_bind_int64(pubs.s, 2, static_cast<sqlite3_int64>(top > config.retention ? top - config.retention : 0));
      while ((rc = sqlite3_step(pubs.s)) == SQLITE_ROW) {
        auto offset = static_cast<std::uint64_t>(sqlite3_column_int64(pubs.s, 0));
        auto* data = static_cast<const char*>(sqlite3_column_blob(pubs.s, 1));
        log.restore({offset, std::string(data ? data : "", static_cast<std::size_t>(sqlite3_column_bytes(pubs.s, 1)))});
      }
      if (rc != SQLITE_DONE) return rc;
      channels.emplace(std::move(name), std::move(log));
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  void flush() {
    std::unique_lock lock(mutex);
    if (closed) return;  // close() drained the queue already
    auto target = enqueued;
    progress.wait(lock, [&] { return processed >= target; });
  }

  void close() {
    {
      std::lock_guard lock(mutex);
      if (closed) return;
      closed = stopping = true;  // the writer drains the queue, then exits
    }
    wake.notify_one();
    if (writer.joinable()) writer.join();
    if (!had_failure) exec("INSERT OR REPLACE INTO meta(key, value) VALUES('clean', '1')");
    sqlite3_close_v2(db);
    db = nullptr;
    ::close(lock_fd);  // releases the directory
    lock_fd = -1;
  }
};

std::unique_ptr<sqlite_history> sqlite_history::open(sqlite_history_config config, std::error_code& ec,
                                                     std::string* detail) {
  auto p = std::make_unique<impl>();
  p->config = std::move(config);
  std::string message;
  ec = p->open(message);
  if (detail) *detail = message;
  if (ec) return nullptr;
  return std::unique_ptr<sqlite_history>(new sqlite_history(std::move(p)));
}

sqlite_history::sqlite_history(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

sqlite_history::~sqlite_history() { close(); }

channel_log& sqlite_history::log(std::string_view channel) { return impl_->entry(channel).second; }

void sqlite_history::publish(std::string_view channel, std::string payload, publish_handler done) {
  auto& [name, l] = impl_->entry(channel);
  auto offset = l.append(payload);
  impl_->enqueue({write_op::publish, name, offset, std::move(payload)});
  done({}, {offset, l.epoch()});
}

void sqlite_history::recent(std::string_view channel, std::size_t n, read_handler done) {
  done({}, log(channel).recent(n));
}

void sqlite_history::since(std::string_view channel, stream_position after, std::size_t limit,
                           read_handler done) {
  history_page page;
  auto ec = log(channel).since(after, limit, page);
  done(ec, std::move(page));
}

void sqlite_history::reset(std::string_view channel, publish_handler done) {
  auto& [name, l] = impl_->entry(channel);
  l = channel_log(new_epoch(), 0, impl_->config.retention);
  impl_->enqueue({write_op::reset, name, 0, l.epoch()});
  done({}, l.position());
}

void sqlite_history::flush() {
  impl_->flush();
}

void sqlite_history::close() { impl_->close(); }

sqlite_history_stats sqlite_history::stats() const {
  sqlite_history_stats s;
  s.committed = impl_->committed.load(std::memory_order_relaxed);
  s.batches = impl_->batches.load(std::memory_order_relaxed);
  s.failed_writes = impl_->failed.load(std::memory_order_relaxed);
  s.last_batch_time = std::chrono::microseconds(impl_->last_batch_us.load(std::memory_order_relaxed));
  s.max_batch_time = std::chrono::microseconds(impl_->max_batch_us.load(std::memory_order_relaxed));
  std::lock_guard lock(impl_->mutex);
  s.queued = impl_->enqueued - impl_->processed;
  return s;
}

bool sqlite_history::recovered_from_crash() const noexcept { return impl_->crash_recovered; }

const std::filesystem::path& sqlite_history::database_path() const noexcept { return impl_->db_path; }

}  // namespace duplex::realtime
