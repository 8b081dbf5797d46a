// The embedded default history engine: SQLite in a data directory, with the
// history_engine contract (history.hpp) plus durability.
//
// Contract:
// - open() creates the directory if missing, opens <dir>/history.sqlite3 in
//   WAL mode and checks it. An unwritable directory/file fails with
//   errc::storage_unwritable, a corrupt or foreign file with
//   errc::storage_corrupt; `detail` then says which path and why. One store
//   per directory: a second open (any process) fails with
//   errc::storage_in_use while the first holds <dir>/history.lock.
// - Every channel's kept window is loaded at open and served from memory;
//   offsets are assigned in memory, so publish/recent/since never wait for
//   disk. Writes go to a write-behind queue that one background thread
//   commits in batched transactions (everything queued while the previous
//   batch committed goes into the next one), trimming each channel to
//   `retention` rows.
// - Epoch and top offset of each channel are persisted and reloaded. If the
//   previous process did not close() cleanly, or a write failed, some assigned
//   offsets may never have reached disk: every channel then gets a new epoch
//   at the next open, so a client can never resume across lost publications.
// - A failed batch (disk full, I/O error, queue overflow) is counted
//   (stats().failed_writes), logged to stderr once per failure streak, and
//   reported to on_error (called on the writer thread; make it thread-safe).
//   Publishing continues live from memory.
// - flush() waits until everything queued so far is committed (or failed);
//   close() flushes, stops the writer and marks a clean shutdown. The
//   destructor closes.
#pragma once

#include <duplex/realtime/history.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace duplex::realtime {

struct sqlite_history_config {
  std::filesystem::path directory = "duplex-data";
  std::size_t retention = 1000;          // publications kept per channel
  std::size_t max_queue = 1'000'000;     // queued writes beyond this are dropped (and reported)
  std::uint64_t max_db_bytes = 0;        // 0: unlimited; else SQLite's max_page_count (a disk quota)
  bool synchronous_full = false;         // false: synchronous=NORMAL (WAL: durable except on power loss)
  // Called on the writer thread when a batch fails.
  std::function<void(std::error_code, const std::string& detail)> on_error = {};
};

struct sqlite_history_stats {
  std::uint64_t committed = 0;       // publications written
  std::uint64_t batches = 0;         // transactions committed
  std::uint64_t failed_writes = 0;   // publications lost to write errors or queue overflow
  std::uint64_t queued = 0;          // publications waiting for the writer now
  std::chrono::microseconds last_batch_time{0};  // how long the last batch took to write and commit
  std::chrono::microseconds max_batch_time{0};   // the longest batch so far
};

class sqlite_history final : public history_engine {
 public:
  // Returns nullptr and sets ec (and detail) if the store cannot be opened.
  static std::unique_ptr<sqlite_history> open(sqlite_history_config config, std::error_code& ec,
                                              std::string* detail = nullptr);
  ~sqlite_history() override;
  sqlite_history(const sqlite_history&) = delete;
  sqlite_history& operator=(const sqlite_history&) = delete;

  void publish(std::string_view channel, std::string payload, publish_handler done) override;
  void recent(std::string_view channel, std::size_t n, read_handler done) override;
  void since(std::string_view channel, stream_position after, std::size_t limit,
             read_handler done) override;
  void reset(std::string_view channel, publish_handler done) override;

  void flush();
  void close();
  sqlite_history_stats stats() const;
  // True if open() found an unclean previous shutdown and gave every channel a new epoch.
  bool recovered_from_crash() const noexcept;
  const std::filesystem::path& database_path() const noexcept;

  struct impl;

 private:
  explicit sqlite_history(std::unique_ptr<impl> p);
  channel_log& log(std::string_view channel);
  std::unique_ptr<impl> impl_;
};

}  // namespace duplex::realtime
