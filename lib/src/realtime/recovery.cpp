#include <duplex/realtime/recovery.hpp>

#include <algorithm>
#include <utility>

namespace duplex::realtime {

recovery_result merge_recovery(const stream_position& client, const history_page& history,
                               std::vector<publication> live, const std::string& live_epoch) {
  recovery_result r;
  if (history.top.epoch != client.epoch || (!live.empty() && live_epoch != client.epoch)) {
    r.ec = errc::epoch_mismatch;
    return r;
  }
  auto& merged = r.publications;
  merged.reserve(history.publications.size() + live.size());
  merged.insert(merged.end(), history.publications.begin(), history.publications.end());
  for (auto& p : live)
    if (p.offset > client.offset) merged.push_back(std::move(p));
  // History first in the sequence, so on equal offsets the stable sort keeps
  // the stored copy and unique() drops the live duplicate.
  std::stable_sort(merged.begin(), merged.end(),
                   [](const publication& a, const publication& b) { return a.offset < b.offset; });
  merged.erase(std::unique(merged.begin(), merged.end(),
                           [](const publication& a, const publication& b) { return a.offset == b.offset; }),
               merged.end());
  auto expected = client.offset + 1;
  for (auto& p : merged) {
    if (p.offset != expected) {
      r.ec = errc::history_hole;
      r.publications.clear();
      return r;
    }
    ++expected;
  }
  auto last = merged.empty() ? client.offset : merged.back().offset;
  // "Recovered": the last replayed (or the client's own position) reaches the top.
  if (last < history.top.offset) {
    r.ec = errc::history_hole;
    r.publications.clear();
    return r;
  }
  r.top = {last, client.epoch};
  return r;
}

void recovery::on_live(const std::string& epoch, publication p) {
  if (live_.empty() && live_epoch_.empty()) live_epoch_ = epoch;
  else if (epoch != live_epoch_) mixed_epochs_ = true;
  live_.push_back(std::move(p));
}

recovery_result recovery::finish(std::error_code history_ec, const history_page& history) {
  if (history_ec) return {history_ec, {}, {}};
  if (mixed_epochs_) return {make_error_code(errc::epoch_mismatch), {}, {}};
  return merge_recovery(client_, history, std::move(live_), live_epoch_);
}

}  // namespace duplex::realtime
