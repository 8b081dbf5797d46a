#include <duplex/realtime/history.hpp>

#include <algorithm>
#include <random>
#include <utility>

namespace duplex::realtime {

std::string new_epoch() {
  // Straight from the OS each time (epochs are rare): a seeded generator
  // would repeat its epochs in a forked child and its parent.
  std::random_device rd;
  static constexpr char digits[] = "0123456789abcdef";
  std::uint64_t v = (std::uint64_t{rd()} << 32) ^ rd();
  std::string s(16, '0');
  for (auto& c : s) {
    c = digits[v & 15];
    v >>= 4;
  }
  return s;
}

channel_log::channel_log(std::string epoch, std::uint64_t top, std::size_t retention)
    : epoch_(std::move(epoch)), top_(top), retention_(retention) {}

std::uint64_t channel_log::append(std::string payload) {
  kept_.push_back({++top_, std::move(payload)});
  while (kept_.size() > retention_) kept_.pop_front();
  return top_;
}

void channel_log::restore(publication p) {
  kept_.push_back(std::move(p));
  while (kept_.size() > retention_) kept_.pop_front();
}

history_page channel_log::recent(std::size_t n) const {
  history_page page{position(), {}};
  auto count = std::min(n, kept_.size());
  page.publications.assign(kept_.end() - static_cast<std::ptrdiff_t>(count), kept_.end());
  return page;
}

std::error_code channel_log::since(const stream_position& after, std::size_t limit,
                                   history_page& out) const {
  out = {position(), {}};
  if (after.epoch != epoch_) return errc::epoch_mismatch;
  if (after.offset > top_) return errc::position_from_future;
  if (after.offset == top_) return {};
  // The kept window must hold every offset in (after.offset, top]; a window
  // restored from storage can have holes where a write was lost.
  auto missed = top_ - after.offset;
  auto first = std::lower_bound(kept_.begin(), kept_.end(), after.offset + 1,
                                [](const publication& p, std::uint64_t o) { return p.offset < o; });
  if (first == kept_.end() || first->offset != after.offset + 1 ||
      static_cast<std::uint64_t>(kept_.end() - first) != missed || kept_.back().offset != top_)
    return errc::gap_beyond_retention;
  if (limit != 0 && missed > limit) return errc::recovery_limit;
  out.publications.assign(first, kept_.end());
  return {};
}

memory_history::memory_history(history_config config) : config_(config) {}

channel_log& memory_history::log(std::string_view channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end())
    it = channels_.emplace(std::string(channel), channel_log(new_epoch(), 0, config_.retention)).first;
  return it->second;
}

void memory_history::publish(std::string_view channel, std::string payload, publish_handler done) {
  auto& l = log(channel);
  auto offset = l.append(std::move(payload));
  done({}, {offset, l.epoch()});
}

void memory_history::recent(std::string_view channel, std::size_t n, read_handler done) {
  done({}, log(channel).recent(n));
}

void memory_history::since(std::string_view channel, stream_position after, std::size_t limit,
                           read_handler done) {
  history_page page;
  auto ec = log(channel).since(after, limit, page);
  done(ec, std::move(page));
}

void memory_history::reset(std::string_view channel, publish_handler done) {
  auto& l = log(channel);
  l = channel_log(new_epoch(), 0, config_.retention);
  done({}, l.position());
}

}  // namespace duplex::realtime
