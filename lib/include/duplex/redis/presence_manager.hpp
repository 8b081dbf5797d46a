// duplex::realtime::presence_manager on Redis (presence_manager.hpp's
// contract for many nodes), on presence_store's owned entries: a name is
// claimed in Redis with the member's token and this node as holder before
// it joins here, kept alive every ttl/3, released when it leaves or its
// grace ends. Every presence_sync the other nodes' members of each open
// channel are read and merged into its presence here (as joins and leaves
// under a token no member has), so snapshots and diffs cover all nodes.
// While Redis is away, claims succeed (names are checked on this node
// only); when it is back the refresh re-adds this node's names and reports
// the ones another node took meanwhile. Runs on the client's executor.
#pragma once

#include <duplex/realtime/presence_manager.hpp>
#include <duplex/redis/client.hpp>
#include <duplex/redis/presence.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>

namespace duplex::redis {

struct presence_options {
  std::string node = "node";                      // this node's name (the holder of its entries)
  std::chrono::milliseconds ttl{30'000};          // an entry not refreshed for this long expires
  std::chrono::milliseconds sync{500};            // other nodes' members read this often
  std::string prefix = "duplex";                  // key prefix (presence_store)
  std::function<void(std::string_view)> log;
};

class redis_presence final : public realtime::presence_manager {
 public:
  // `c` outlives the engine.
  redis_presence(client& c, presence_options options, realtime::presence::config local = {});
  ~redis_presence() override;

  void close(std::string_view channel) override;
  void claim(std::string_view channel, std::string name, std::string token, claim_handler done) override;
  std::error_code join(std::string_view channel, const std::string& name, const std::string& token,
                       clock::time_point now) override;
  bool leave(std::string_view channel, const std::string& name, std::string_view token) override;
  realtime::presence_diff tick(std::string_view channel, clock::time_point now) override;
  bool local_members(std::string_view channel) const override;
  bool maintain(clock::time_point now) override;

  presence_store& store() noexcept { return store_; }

 private:
  struct shared {
    std::set<std::string, std::less<>> remote;              // names held by other nodes
    std::map<std::string, std::string, std::less<>> owned;  // name -> token this node holds in Redis
  };
  void release(std::string_view channel, const std::string& name);
  void sync(const std::string& channel);
  void refresh(const std::string& channel);
  void log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  client& client_;
  presence_options options_;
  presence_store store_;
  std::map<std::string, shared, std::less<>> shared_;
  std::multiset<std::pair<std::string, std::string>> releasing_;  // (channel, name) releases in flight
  bool was_up_ = false;
  clock::time_point next_sync_{}, next_refresh_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace duplex::redis
