// The chat behind /ws/chat: rooms, history, resume and presence (issue 11),
// on duplex::realtime. Speaks version 5 of the chat protocol
// (duplex.chat.v5, chat_protocol.hpp: version 2's rooms, version 3's
// in-band token refresh, version 4's token_expiring notice, version 5's
// bounded presence in big rooms), versions 4, 3 and 2 to clients that offer
// only those and, for duplex.chat.v1 or a client
// that offers no subprotocol, version 1 in the lobby (no history, full
// online lists); other versions are closed with 4406 and a reason.
//
// - Rooms are opened on first watch/join, up to max_rooms; a room nobody
//   watches is closed again at the next tick (its history stays stored).
// - Every chat line is published to the history engine first; its position
//   (seq, epoch) goes out with it. A watcher gets the recent history, then
//   live lines; a resumer is subscribed before its gap is read, and the gap
//   and the live lines are merged (realtime::merge_recovery), each once.
// - Presence: the snapshot goes to a new watcher only; every tick (100 ms)
//   the room's coalesced diff goes to all its watchers. A dropped member
//   keeps its name for the grace period; a join with its token takes it back.
//   A tick costs the rooms with something pending and, in them, the changes:
//   an idle room costs nothing, and with nothing pending anywhere the tick
//   timer sleeps until the earliest grace expiry or the next change.
// - Version 5 watchers of a room above presence_full_limit members get a
//   presence_summary (the count and the first names) instead of the
//   snapshot, then diffs with the count and only the names of members who
//   spoke in the room; list_members reads the full list a page at a time.
//   Versions 2-4 get the full diffs as before (on their own topic).
// Threads: connections may live on any of the server's threads. All chat
// state lives on one executor; each connection hops onto it to act (its
// messages copied into posts, which run in order; the connection is read on
// meanwhile, and the line rate below bounds what a flooder queues). What
// goes out travels through the duplex::hub, which keeps one thread's sends
// in order: a room's lines and diffs on the room's topic (a watcher is
// subscribed once its history is sent), replies straight to the
// connection (hub::send) in the same order.
//
// Engines (docs/architecture.md): lines go through a realtime::broker,
// names through a realtime::presence_manager, whichever main() chose: the
// memory engines for one instance, the Redis ones (redis::redis_broker,
// redis::redis_presence) for rooms that span instances. The service does
// not know which.
#pragma once

#include <duplex/net/hub.hpp>
#include <duplex/net/metrics.hpp>
#include <duplex/net/server.hpp>
#include <duplex/net/websocket.hpp>
#include <duplex/realtime/broker.hpp>
#include <duplex/realtime/presence_manager.hpp>
#include <duplex/realtime/rooms.hpp>
#include "chat_protocol.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::chat {

using steady = std::chrono::steady_clock;

struct service_config {
  std::size_t join_history = realtime::default_join_history;  // messages a new watcher gets
  std::size_t max_rooms = 1000;
  std::size_t presence_cap = 200;  // names in a snapshot (the total is always sent)
  // Version 5: a room with more members than this is "big": its version-5
  // watchers get the count and a bounded set of names, not every join and
  // leave (--presence-full-limit). 0: no room is big.
  std::size_t presence_full_limit = 100;
  std::size_t presence_page = 50;       // names in a big room's presence_summary
  std::size_t speakers_kept = 256;      // a big room's recent speakers whose leaves and returns are sent
  std::chrono::milliseconds count_interval{1000};  // a big room's count-only diffs, at most one per this
  std::size_t max_replay = 1000;   // longest gap a resume replays (else cannot_resume)
  std::chrono::milliseconds tick{100};
  std::string default_room = "lobby";  // where version-1 clients chat
  // Flood control per connection: chat lines refill at line_rate per second
  // up to line_burst. A line over it is refused with the error rate_limited
  // (its message says how long to wait) and reaches nobody, not history
  // either; flood_close_after refusals in a row close the connection with
  // 4008. line_rate 0: no limit.
  double line_rate = 5;
  double line_burst = 10;
  std::uint32_t flood_close_after = 20;
  // Sign-in (--auth-jwt, chat_auth.hpp): each connection carries the
  // identity its upgrade hook attached. A join must use the identity's name
  // (else name_not_yours), private-... rooms need its "rooms" claim (else
  // forbidden_room), and at its exp the connection is closed with 4001.
  // Off: anyone may take any free name and enter any room.
  bool auth = false;
  // Version 4: this long before a signed-in connection's exp the server
  // sends token_expiring (once per token), so the page refreshes in band;
  // a token with less than twice this left gets it halfway to its exp.
  // Zero: no notice (the 4001 at exp stays).
  std::chrono::seconds refresh_notice{60};
};

// The close code for a member closed for flooding (documented in docs/chat-protocol.md).
inline constexpr std::uint16_t close_flooding = 4008;

class authenticator;   // chat_auth.hpp

struct service_stats {
  std::uint64_t published = 0;
  std::uint64_t resumed = 0;
  std::uint64_t resume_refused = 0;
  std::uint64_t replayed = 0;                     // messages sent by successful resumes
  std::chrono::nanoseconds resume_time{0};        // server time spent answering resumes
};

class service {
 public:
  using log_fn = std::function<void(std::string_view)>;

  // `ex`: the executor all chat state lives on (and the engines'); `topics`:
  // a hub over the server's io_contexts. They and the engines outlive the
  // service, which sets the engines' handlers.
  service(asio::any_io_executor ex, hub& topics, realtime::broker& lines, realtime::presence_manager& names,
          service_config config = {}, log_fn log = {});
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  // The endpoint's handler: callbacks, no coroutine per connection (an idle
  // member costs its connection, its session and its room entries).
  //   srv.websocket("/ws/chat", svc.callbacks(), chat::service::endpoint());
  websocket_callbacks callbacks();
  // Endpoint options: duplex.chat.v5, .v4, .v3, .v2, .v1 (a client offering nothing speaks v1).
  static endpoint_options endpoint();
  // Sign-in (config.auth): the verifier of the tokens a version-3 or -4
  // member refreshes in band. `a` outlives the service.
  void use_authenticator(const authenticator& a) { authn_ = &a; }
  // Starts the presence tick (call once, before serving).
  void start();
  // Stops the tick; connections keep working until closed.
  void stop();

  // Any thread (for metrics).
  std::size_t rooms() const noexcept { return rooms_open_.load(std::memory_order_relaxed); }
  std::size_t members() const noexcept { return members_.load(std::memory_order_relaxed); }
  std::uint64_t rate_limited() const noexcept { return rate_limited_.load(std::memory_order_relaxed); }
  std::uint64_t flood_closes() const noexcept { return flood_closes_.load(std::memory_order_relaxed); }
  std::uint64_t expired_closes() const noexcept { return expired_closes_.load(std::memory_order_relaxed); }
  std::uint64_t expiry_notices() const noexcept { return expiry_notices_.load(std::memory_order_relaxed); }
  std::uint64_t refreshed() const noexcept { return refreshed_.load(std::memory_order_relaxed); }
  // The error replies sent so far by code ("rate_limited", "forbidden_room",
  // "bad_token", ...): (code, count) in code order, any thread.
  std::vector<std::pair<std::string, std::uint64_t>> refusals() const;
  // Registers the gauges and counters above (duplex_chat_*) for /metrics.
  void register_metrics(duplex::metrics& m) const;
  // The service's executor only.
  const service_stats& stats() const noexcept { return stats_; }
  // Rooms the presence ticks have visited (had something pending), and tick
  // rounds that ran: an idle server adds to neither (the service's executor only).
  std::uint64_t rooms_ticked() const noexcept { return rooms_ticked_; }
  std::uint64_t tick_rounds() const noexcept { return tick_rounds_; }

  struct session;
  struct room;
  struct expiry_timer;
  using holder_map = std::map<std::string, session*, std::less<>>;  // name -> its connected session

 private:
  void opened(websocket& ws);
  void act(const std::shared_ptr<session>& s, std::string_view text, bool binary);
  void send(session& s, std::string json);
  template <class M>
  void reply(session& s, const M& m);
  void reply_error(session& s, std::string code, std::string why);
  void handle(const std::shared_ptr<session>& s, std::string_view text);
  // Decodes `text` as one of `Messages` (version 2's or 3's) and acts on it.
  template <class Messages>
  void handle_as(const std::shared_ptr<session>& s, std::string_view text);
  void on_refresh(session& s, std::string_view token);
  // (Re)schedules the token_expiring notice (version 4) and the 4001 close
  // at the session's token's exp, on its thread.
  void arm_expiry(session& s);
  void wait_expiry(std::shared_ptr<expiry_timer> t, websocket ws, std::uint64_t generation,
                   std::chrono::system_clock::time_point at,
                   std::optional<std::chrono::system_clock::time_point> notice);
  void on_join(const std::shared_ptr<session>& s, wire::v2::join j);
  void on_chat(session& s, std::string text);
  void on_watch(const std::shared_ptr<session>& s, const std::string& room_name,
                const realtime::stream_position* from);
  void on_leave(session& s);
  void on_list_members(session& s, const wire::v5::list_members& m);
  // Something changed that a tick must see: a sleeping tick timer wakes.
  void wake();
  bool room_pending(room& r, steady::time_point now) const;
  bool room_idle(const room& r) const;
  void tick_room(room& r, steady::time_point now);
  void on_legacy_join(const std::shared_ptr<session>& s, wire::join j);
  void closed(session& s);

  room* open_room(session& s, std::string_view name);
  void subscribe(const std::shared_ptr<session>& s, room& r, const realtime::stream_position* from);
  void read_history(const std::shared_ptr<session>& s);
  void read_recent(const std::shared_ptr<session>& s);  // the recent history, then live
  void unsubscribe(session& s);
  void answer_resume(const std::shared_ptr<session>& s, std::error_code ec, const realtime::history_page& page);
  void deliver_buffered(session& s, std::uint64_t after);
  void go_live(session& s);
  void send_history(session& s, const std::string& epoch, std::uint64_t top, bool replace,
                    const std::vector<realtime::publication>& pubs);
  void send_snapshot(session& s);
  const std::string& snapshot_frame(room& r);  // cached until the room's presence changes
  const std::string& summary_frame(room& r);
  void tick();
  asio::awaitable<void> tick_loop();
  void replace_holder(room& r, holder_map::iterator it);
  // `m`: the line decoded, when the caller has it (else decoded from `payload`).
  void deliver(room& r, const realtime::stream_position& pos, const std::string& payload);
  void admit(const std::shared_ptr<session>& s, room& r, std::string name, std::string token, bool has_token);
  void on_publication(std::string_view room_name, const realtime::stream_position& pos, const std::string& payload);
  void on_resync(std::string_view room_name);
  void on_name_lost(std::string_view room_name, const std::string& name);
  room* same_room(const std::string& name, std::uint64_t incarnation);
  void close_room(const std::string& name);

  asio::any_io_executor ex_;
  hub& hub_;
  realtime::broker& broker_;
  realtime::presence_manager& presence_;
  service_config config_;
  log_fn log_;
  std::unique_ptr<realtime::room_registry<room>> rooms_;  // room is defined in the .cpp
  service_stats stats_;
  std::unique_ptr<asio::steady_timer> timer_;
  bool stopped_ = false;
  bool busy_ = true;       // the last tick left work for the next one
  bool sleeping_ = false;  // the tick timer waits longer than a tick (nothing pending)
  std::uint64_t rooms_ticked_ = 0, tick_rounds_ = 0;
  std::atomic<std::size_t> rooms_open_{0}, members_{0};
  std::atomic<std::uint64_t> rate_limited_{0}, flood_closes_{0}, expired_closes_{0};
  std::atomic<std::uint64_t> expiry_notices_{0}, refreshed_{0};
  mutable std::mutex refusals_mu_;
  std::map<std::string, std::uint64_t, std::less<>> refusals_;  // error replies by code, under refusals_mu_
  // With config_.auth: whether the session may use the name / see the room
  // (replies name_not_yours / forbidden_room itself when not).
  bool name_allowed(session& s, const std::string& name);
  bool room_allowed(session& s, const std::string& room);
  // Whether `s` may say one more line now (flood control); refuses it otherwise.
  bool allow_line(session& s);
  const authenticator* authn_ = nullptr;
  std::uint64_t incarnations_ = 0;  // rooms opened: tells a reopened room from the one an answer was for
};

}  // namespace duplex::chat
