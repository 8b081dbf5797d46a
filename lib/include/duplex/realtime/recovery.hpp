// Recovery merge (Centrifugo style), sans-I/O. A resuming subscriber is
// subscribed to live publications FIRST; while the history read is in flight
// the live ones are buffered here; then the history page and the buffer are
// merged by offset: sorted, deduplicated, and refused if anything is missing.
//
// Contract of finish():
// - Refusals: errc::epoch_mismatch if the history's epoch (or a buffered
//   publication's) is not the client's; errc::history_hole if the merged
//   offsets are not exactly client.offset+1, +2, ... up to the last one.
// - On success: publications are (client.offset, top] in order, each once,
//   and top is the position to continue from (the history's top or the last
//   buffered offset, whichever is later). With nothing missed, top equals the
//   client's position ("recovered" with zero publications).
// - A refused recovery never yields a partial list; the caller sends recent
//   history with the new epoch instead.
// After finish(), live publications are delivered directly; the caller drops
// any live publication whose offset is <= top (already replayed).
#pragma once

#include <duplex/realtime/history.hpp>

#include <cstddef>
#include <system_error>
#include <vector>

namespace duplex::realtime {

struct recovery_result {
  std::error_code ec;
  stream_position top;                    // continue from here (valid when !ec)
  std::vector<publication> publications;  // the gap, in order, each once (empty when ec)
};

// Merges a history answer with buffered live publications. Pure function.
recovery_result merge_recovery(const stream_position& client, const history_page& history,
                               std::vector<publication> live, const std::string& live_epoch);

// Buffers live publications between "subscribed" and "history answered".
class recovery {
 public:
  explicit recovery(stream_position client) : client_(std::move(client)) {}

  // A live publication arrived (in the channel's epoch `epoch`).
  void on_live(const std::string& epoch, publication p);
  // The history read (since(client, limit)) answered: merge.
  recovery_result finish(std::error_code history_ec, const history_page& history);

  const stream_position& client() const noexcept { return client_; }
  std::size_t buffered() const noexcept { return live_.size(); }

 private:
  stream_position client_;
  std::string live_epoch_;
  bool mixed_epochs_ = false;
  std::vector<publication> live_;
};

}  // namespace duplex::realtime
