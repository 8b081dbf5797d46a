// Internal to duplex-chat's service (chat_service.cpp):
// a connection's and a room's state, and the stored form of a line.
#pragma once

#include "chat_auth.hpp"
#include "chat_service.hpp"

#include <duplex/realtime/recovery.hpp>
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
  explicit session(websocket w) : ws(std::move(w)) {}
  websocket ws;
  bool v2 = true;             // version 2 or later
  bool v3 = false;            // version 3 or later (refresh)
  bool v4 = false;            // version 4 or later (token_expiring before exp)
  bool v5 = false;            // version 5 (bounded presence in big rooms, list_members)
  // The token's exp closes the connection (4001) from here, after the
  // token_expiring notice (version 4); a refresh moves both.
  std::shared_ptr<expiry_timer> expiry;
  std::unique_ptr<identity> who;  // what the upgrade hook attached (--auth-jwt); a refresh replaces it
  room* in = nullptr;        // the room watched (v2) or joined (v1)
  std::string name, token;   // set while joined
  // Between subscribing and the history answer, live lines wait (subscribe
  // first, then read, then merge): a resume's in its realtime::recovery,
  // which merges them with the gap read; a watcher's in `buffer`.
  // (Held only while waiting: an idle member does not carry it.)
  struct history_wait {
    std::optional<realtime::recovery> resume;
    steady::time_point resume_started;
    std::vector<publication> buffer;
    std::string buffer_epoch;
  };
  bool live = false;
  std::uint64_t generation = 0;  // bumped per subscription: late answers for an older one are dropped
  std::unique_ptr<history_wait> waiting;
  // Flood control (service_config::line_rate): lines left, when last refilled,
  // refusals in a row.
  double line_tokens = -1;  // < 0: not started (a full bucket)
  steady::time_point line_refilled;
  std::uint32_t lines_refused = 0;
};

struct service::room {
  room(std::string n, const realtime::presence& p) : name(std::move(n)), presence(p) {}
  std::string name;
  std::string topic = "chat.room." + name;       // lines, to live version-2+ watchers
  std::string full_topic = "chat.presence." + name;  // every presence diff, to versions 2-4
  std::string v5_topic = "chat.presence5." + name;   // presence to version 5: full, or bounded while big
  std::string legacy_topic = "chat.v1." + name;  // to version-1 members
  const realtime::presence& presence;  // the presence engine's, changed through it
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
  std::uint64_t incarnation = 0;  // tells this room from one closed and opened again since a request
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
