#include <duplex/realtime/error.hpp>

#include <string>

namespace duplex::realtime {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "duplex.realtime"; }
  std::string message(int v) const override {
    switch (static_cast<errc>(v)) {
      case errc::invalid_room_name: return "invalid room name (1-64 bytes of A-Z a-z 0-9 _ . -)";
      case errc::too_many_rooms: return "room limit reached";
      case errc::epoch_mismatch: return "cannot recover: the channel's epoch changed";
      case errc::gap_beyond_retention: return "cannot recover: missed publications are no longer kept";
      case errc::position_from_future: return "cannot recover: position is beyond the channel's top";
      case errc::recovery_limit: return "cannot recover: too many missed publications";
      case errc::history_hole: return "cannot recover: history and live publications leave a hole";
      case errc::name_taken: return "name is taken";
      case errc::storage_unwritable: return "history storage is not writable";
      case errc::storage_corrupt: return "history database is corrupt or not a duplex database";
      case errc::storage_io: return "history write failed";
      case errc::storage_in_use: return "history data directory is in use by another server";
    }
    return "unknown duplex.realtime error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace duplex::realtime
