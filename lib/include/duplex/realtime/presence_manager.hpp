// Presence across nodes (Centrifugo's PresenceManager): each channel's
// members as one realtime::presence on this node (snapshot, pages,
// coalesced diffs), with names unique across every node serving the channel
// and the other nodes' members merged in. Two engines: memory_presence (one
// node) and redis::redis_presence (Redis, entries with TTLs).
//
// Contract (tests/redis/presence_manager_test.cpp checks it against both):
// - open() gives the channel's presence here; read it there (snapshot,
//   page, pending, sizes), change it only through this interface. close()
//   forgets it (when nobody is left: local_members() is false).
// - claim() asks every node for the name: errc::name_taken when a live
//   entry elsewhere has another token. The same token takes the name (the
//   member moved here). Then join() takes it here: errc::name_taken when
//   this node holds it (connected, or in its grace period, under another
//   token); a name a join here refuses is not kept claimed.
// - disconnect() keeps the name for the grace period; leave() frees it;
//   tick() returns the coalesced diff since the last tick (the other nodes'
//   members' joins and leaves included) and frees, on every node, the names
//   whose grace period ended here.
// - maintain(now), called every tick: keeps this node's names alive on the
//   backend and reads the other nodes' members, each on its own period. A
//   name this node held that another node took meanwhile (its member
//   reconnected there) goes to the `lost` handler, then leaves here.
// - While the backend is away, claims succeed and names are checked on
//   this node only; the backend is brought up to date when it is back.
// - Handlers run on the engine's executor; the memory engine calls claim's
//   before it returns. Used from one thread (or strand).
#pragma once

#include <duplex/realtime/presence.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

namespace duplex::realtime {

class presence_manager {
 public:
  using clock = presence::clock;
  using claim_handler = std::function<void(std::error_code)>;
  using lost_handler = std::function<void(std::string_view channel, const std::string& name)>;

  explicit presence_manager(presence::config c = {}) : config_(c) {}
  virtual ~presence_manager() = default;
  presence_manager(const presence_manager&) = delete;
  presence_manager& operator=(const presence_manager&) = delete;

  void set_lost_handler(lost_handler h) { lost_ = std::move(h); }

  // The channel's presence here (opened on first use; stable until close()).
  const presence& open(std::string_view channel);
  virtual void close(std::string_view channel);

  virtual void claim(std::string_view channel, std::string name, std::string token, claim_handler done) = 0;
  virtual std::error_code join(std::string_view channel, const std::string& name, const std::string& token,
                               clock::time_point now);
  virtual bool disconnect(std::string_view channel, std::string_view name, std::string_view token,
                          clock::time_point now);
  virtual bool leave(std::string_view channel, const std::string& name, std::string_view token);
  virtual presence_diff tick(std::string_view channel, clock::time_point now);
  // Whether this node holds any name in the channel (connected or in grace).
  virtual bool local_members(std::string_view channel) const;
  // Periodic upkeep; true when it has work on its own periods (the caller
  // keeps ticking), false when nothing is due until something changes.
  virtual bool maintain(clock::time_point now) = 0;

 protected:
  presence& state(std::string_view channel);  // opened on first use
  presence* find(std::string_view channel);
  const presence* find(std::string_view channel) const;
  template <class F>
  void for_each(F&& f) {
    for (auto& [name, p] : channels_) f(std::string_view(name), p);
  }
  void lost(std::string_view channel, const std::string& name) {
    if (lost_) lost_(channel, name);
  }

 private:
  presence::config config_;
  std::map<std::string, presence, std::less<>> channels_;
  lost_handler lost_;
};

// One node: every claim succeeds and the local presence decides.
class memory_presence final : public presence_manager {
 public:
  using presence_manager::presence_manager;
  void claim(std::string_view channel, std::string name, std::string token, claim_handler done) override;
  bool maintain(clock::time_point) override { return false; }
};

}  // namespace duplex::realtime
