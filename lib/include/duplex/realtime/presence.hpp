// Presence of one channel with coalesced diffs (Phoenix Presence's wire
// shape), sans-I/O: the caller passes the time and drives tick().
//
// Contract:
// - A member is a unique name with opaque info (e.g. connection details as
//   JSON) and a session token (a secret resume key chosen by the server).
// - join() fails with errc::name_taken while another session holds the name,
//   connected or within its grace period. The same token re-joining within
//   the grace period keeps the name with no leave/join pair (only an info
//   change shows, as a leave+join of that name). `now` decides whether a
//   grace period is over even before tick() has released it.
// - leave() frees the name at once; disconnect() keeps it for `grace`, then
//   the next tick() frees it. A name is free again as soon as it is released.
// - tick() returns one diff with every change since the previous tick,
//   coalesced per name: a join and leave in the same tick cancel; a leave and
//   re-join with the same info cancel.
// - snapshot() is the state as of the last tick, so snapshot + every later
//   diff reproduces the state exactly: send a joiner the snapshot, then the
//   diffs from the next tick on (its own join arrives in that diff).
//   Capped: the first `cap` names in name order plus the total count.
//   page() reads the same state a page at a time (name order, after a cursor).
// - Cost: tick() is O(changes), not O(members): it visits only the names
//   changed since the last tick and the grace periods that ended (kept in
//   expiry order), so an idle presence of any size ticks for nothing.
//   pending() says in O(1) whether a tick would do anything; stats() counts
//   the names tick() has visited (what a test checks instead of timing).
#pragma once

#include <duplex/realtime/error.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace duplex::realtime {

struct presence_member {
  std::string name;
  std::string info;
  friend bool operator==(const presence_member&, const presence_member&) = default;
};

struct presence_snapshot {
  std::vector<presence_member> members;  // at most cap, in name order
  std::size_t total = 0;                 // all members
};

// One page of the state as of the last tick (page()).
struct presence_page {
  std::vector<presence_member> members;  // at most `limit`, in name order, all after the cursor
  std::size_t total = 0;                 // all members
  bool more = false;                     // names follow the last one returned
};

struct presence_diff {
  std::vector<presence_member> joins;  // name order
  std::vector<std::string> leaves;     // name order; a name both left and joined is an info change
  bool empty() const noexcept { return joins.empty() && leaves.empty(); }
};

class presence {
 public:
  using clock = std::chrono::steady_clock;
  struct config {
    std::chrono::milliseconds grace{5000};
  };

  presence() : presence(config{}) {}
  explicit presence(config c) : config_(c) {}

  std::error_code join(std::string_view name, std::string_view token, std::string info,
                       clock::time_point now);
  // The member's connection dropped: keep the name for the grace period.
  // Returns false if the name is not held by this token.
  bool disconnect(std::string_view name, std::string_view token, clock::time_point now);
  // The member left on purpose: free the name now. False if not held by this token.
  bool leave(std::string_view name, std::string_view token);

  // Releases expired grace periods and returns the coalesced diff.
  presence_diff tick(clock::time_point now);

  presence_snapshot snapshot(std::size_t cap) const;
  // Up to `limit` members after `after` in name order (from the first when
  // empty), as of the last tick. O(log members + limit).
  presence_page page(std::string_view after, std::size_t limit) const;
  // Members as of the last tick (what snapshot().total says), O(1).
  std::size_t published_size() const noexcept { return published_.size(); }
  // Whether tick(now) would change or release anything: a change since the
  // last tick, or a grace period over by `now`. O(1).
  bool pending(clock::time_point now) const;
  // Work done by tick() so far, for tests and benchmarks.
  struct counters {
    std::size_t ticks = 0;
    std::size_t visited = 0;  // names looked at by tick() (changed or expired)
  };
  const counters& stats() const noexcept { return stats_; }
  // Current (not yet ticked) state.
  bool holds(std::string_view name) const { return members_.find(name) != members_.end(); }
  std::size_t size() const noexcept { return members_.size(); }
  // Earliest grace expiry, if any (so an idle caller knows when to tick).
  std::optional<clock::time_point> next_expiry() const;

 private:
  // A member's info is usually empty (the chat sends names only): then one
  // null pointer, not a string's 32 bytes, in each of the two maps below.
  class info_box {
   public:
    info_box() = default;
    explicit info_box(std::string s) : p_(s.empty() ? nullptr : std::make_unique<std::string>(std::move(s))) {}
    info_box(const info_box& o) : p_(o.p_ ? std::make_unique<std::string>(*o.p_) : nullptr) {}
    info_box(info_box&&) noexcept = default;
    info_box& operator=(info_box&&) noexcept = default;
    const std::string& get() const noexcept {
      static const std::string none;
      return p_ ? *p_ : none;
    }
    friend bool operator==(const info_box& a, const info_box& b) noexcept { return a.get() == b.get(); }

   private:
    std::unique_ptr<std::string> p_;
  };
  struct member {
    std::string token;
    info_box info;
    bool connected = true;
    clock::time_point grace_until{};
  };
  using expiry_set = std::set<std::pair<clock::time_point, std::string>, std::less<>>;
  void forget_expiry(const std::string& name, const member& m);

  config config_;
  std::map<std::string, member, std::less<>> members_;
  std::map<std::string, info_box, std::less<>> published_;  // name -> info as of the last tick
  std::set<std::string, std::less<>> dirty_;                   // names changed since the last tick
  expiry_set expiries_;  // (grace_until, name) of every disconnected member, earliest first
  counters stats_;
};

}  // namespace duplex::realtime
