// Internal to duplex-chat's service (chat_service.cpp, chat_cluster.cpp):
// a connection's and a room's state, and the stored form of a line.
#pragma once

#include "chat_auth.hpp"
#include "chat_service.hpp"

#include <duplex/schema/codec.hpp>

#include <asio/system_timer.hpp>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::chat {

using realtime::publication;
using realtime::stream_position;

// A member of another instance, in a room's presence (never a real token:
// those are 32 hex digits).
inline constexpr std::string_view remote_member_token = "\x01remote";

// A signed-in connection's timer (its thread only): first the
// token_expiring notice (version 4), then the 4001 close at exp. A refresh
// re-arms it; `generation` tells a handler of an older arming (one that had
// already fired when it was cancelled) to do nothing.
struct service::expiry_timer {
  explicit expiry_timer(const asio::any_io_executor& ex) : timer(ex) {}
  asio::system_timer timer;
  std::uint64_t generation = 0;
};

struct service::session : std::enable_shared_from_this<service::session> {
  explicit session(websocket w) : ws(std::move(w)), topic("chat.to." + std::to_string(ws.id())) {}
  websocket ws;
  std::string topic;         // the hub topic of replies to this connection only
  bool v2 = true;             // version 2 or later
  bool v3 = false;            // version 3 or later (refresh)
  bool v4 = false;            // version 4 or later (token_expiring before exp)
  bool v5 = false;            // version 5 (bounded presence in big rooms, list_members)
  // The token's exp closes the connection (4001) from here, after the
  // token_expiring notice (version 4); a refresh moves both.
  std::shared_ptr<expiry_timer> expiry;
  const identity* who = nullptr;  // what the upgrade hook attached (--auth-jwt), in ws: lives as long
  room* in = nullptr;        // the room watched (v2) or joined (v1)
  std::string name, token;   // set while joined
  // Between subscribing and the history answer, live lines are buffered
  // here (subscribe first, then read, then merge).
  bool live = false;
  std::uint64_t generation = 0;  // bumped per subscription: late answers for an older one are dropped
  std::optional<stream_position> resume_from;
  steady::time_point resume_started;
  std::vector<publication> buffer;
  std::string buffer_epoch;
  // Flood control (service_config::line_rate): lines left, when last refilled,
  // refusals in a row.
  double line_tokens = -1;  // < 0: not started (a full bucket)
  steady::time_point line_refilled;
  std::uint32_t lines_refused = 0;
};

struct service::room {
  room(std::string n, std::chrono::milliseconds grace) : name(std::move(n)), presence({grace}) {}
  std::string name;
  std::string topic = "chat.room." + name;       // lines, to live version-2+ watchers
  std::string full_topic = "chat.presence." + name;  // every presence diff, to versions 2-4
  std::string v5_topic = "chat.presence5." + name;   // presence to version 5: full, or bounded while big
  std::string legacy_topic = "chat.v1." + name;  // to version-1 members
  realtime::presence presence;
  std::set<session*> watchers;                        // version 2 sessions
  std::set<session*> loading;                         // watchers waiting for their history (not live yet)
  std::set<session*> legacy;                          // version 1 members
  holder_map holders;  // name -> its connected session
  // Encoded answers shared by every new watcher until they change (a join
  // storm encodes the history and the snapshot once, not once per joiner).
  std::optional<stream_position> history_top;
  std::vector<std::string> history_frames;
  std::optional<std::string> snapshot_frame;
  std::optional<std::string> summary_frame;  // version 5's presence_summary while big
  // Version 5 (service_config::presence_full_limit): whether the room was
  // big at the last tick; the speakers whose leaves and returns its bounded
  // diffs carry (oldest first, at most speakers_kept); the count last sent
  // and when the next count-only diff may go.
  bool big = false;
  std::set<std::string, std::less<>> speakers;
  std::deque<std::string> speaker_order;
  std::size_t count_sent = 0;
  steady::time_point next_count{};
  // Cluster only (chat_cluster.cpp).
  std::uint64_t incarnation = 0;
  bool ready = true;                           // subscribed to its pub/sub channel and its top known
  std::vector<std::function<void()>> on_ready;  // watchers waiting for that
  stream_position top;                          // the last line delivered here
  struct pending_line {
    stream_position pos;
    std::string payload;
  };
  std::vector<pending_line> pending;  // live lines held during a catch-up
  bool catching_up = false;
  bool catch_up_again = false;  // asked for while a read was in flight
  std::multiset<std::string> suppress;  // lines delivered here during an outage: not again
  std::uint64_t local_seq = 0;          // lines numbered here during an outage
  std::set<std::string, std::less<>> remote;            // names in presence held by other instances
  std::map<std::string, std::string, std::less<>> owned;  // name -> token this instance holds in Redis
};

namespace detail {

// The stored form of a line is its version-1 message (no room, seq, epoch:
// those come from where it is stored). Version-1 members get it as is.
inline std::optional<wire::message> stored_line(const std::string& payload) {
  auto d = schema::decode<std::variant<wire::message>>(payload);
  if (!d) return std::nullopt;
  return std::get<0>(std::move(*d));
}

inline wire::v2::message line(wire::message m, const std::string& room, std::uint64_t seq, const std::string& epoch) {
  return {std::move(m.from), std::move(m.text), m.time, room, seq, epoch};
}

}  // namespace detail

}  // namespace duplex::chat
