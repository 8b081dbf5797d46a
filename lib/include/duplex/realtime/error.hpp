// Errors of duplex::realtime (rooms, history, recovery, presence): one
// std::error_code category ("duplex.realtime") with values a caller compares
// against, e.g. `if (ec == duplex::realtime::errc::epoch_mismatch)`. Every
// refusal a client can cause has its own value so a server can map it to a
// typed protocol error without parsing strings.
#pragma once

#include <system_error>

namespace duplex::realtime {

enum class errc {
  // Room registry.
  invalid_room_name = 1,  // not 1-64 bytes of [A-Za-z0-9_.-]
  too_many_rooms,         // the configured room limit is reached
  // Recovery: the client must reload recent history instead.
  epoch_mismatch,        // the client's epoch is not the channel's (history lost or reset)
  gap_beyond_retention,  // the client's offset is older than the oldest kept publication
  position_from_future,  // the client's offset is beyond the channel's top
  recovery_limit,        // more missed publications than the caller allows replaying
  history_hole,          // merged history + live publications are not contiguous
  // Presence.
  name_taken,  // another session holds the name (connected or within its grace period)
  // Storage (SQLite engine).
  storage_unwritable,  // data directory or database file cannot be created or written
  storage_corrupt,     // database file is not a valid duplex history database
  storage_in_use,      // another open store (this or another process) holds the data directory
  storage_io,          // a write-behind batch failed (disk full, I/O error); live delivery continues
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace duplex::realtime

template <>
struct std::is_error_code_enum<duplex::realtime::errc> : std::true_type {};
