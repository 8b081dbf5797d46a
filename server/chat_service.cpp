#include "chat_service.hpp"

#include <duplex/net/channel.hpp>
#include <duplex/realtime/recovery.hpp>
#include <duplex/schema/codec.hpp>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/system_timer.hpp>
#include <asio/use_awaitable.hpp>

#include "chat_state.hpp"

#include <algorithm>
#include <any>
#include <cmath>
#include <optional>
#include <utility>

namespace duplex::chat {

namespace v1 = duplex::chat::wire;
namespace v2 = duplex::chat::wire::v2;
namespace v3 = duplex::chat::wire::v3;
namespace v4 = duplex::chat::wire::v4;
namespace v5 = duplex::chat::wire::v5;

namespace {

std::string error_code_name(std::error_code ec) {
  using realtime::errc;
  if (ec == errc::invalid_room_name) return "bad_room";
  if (ec == errc::too_many_rooms) return "too_many_rooms";
  if (ec == errc::epoch_mismatch) return "epoch_mismatch";
  if (ec == errc::position_from_future) return "position_from_future";
  if (ec == errc::name_taken) return "name_taken";
  return "cannot_resume";  // gap_beyond_retention, recovery_limit, history_hole, storage
}

std::string new_token() { return realtime::new_epoch() + realtime::new_epoch(); }

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// History frames stay well under the decoders' 1 MiB document limit.
constexpr std::size_t frame_budget = 256 * 1024;

}  // namespace

service::service(asio::any_io_executor ex, hub& topics, realtime::broker& lines, realtime::presence_manager& names,
                 service_config config, log_fn log)
    : ex_(std::move(ex)),
      hub_(topics),
      broker_(lines),
      presence_(names),
      config_(std::move(config)),
      log_(std::move(log)),
      rooms_(std::make_unique<realtime::room_registry<room>>(config_.max_rooms)) {
  broker_.set_handlers({[this](std::string_view room_name, const stream_position& pos, const std::string& payload) {
                          on_publication(room_name, pos, payload);
                        },
                        [this](std::string_view room_name) { on_resync(room_name); }});
  presence_.set_lost_handler([this](std::string_view room_name, const std::string& name) { on_name_lost(room_name, name); });
}

service::~service() = default;

void service::send(session& s, std::string json) { hub_.send(s.ws, std::move(json)); }

template <class M>
void service::reply(session& s, const M& m) {
  send(s, schema::encode(m));
}

void service::reply_error(session& s, std::string code, std::string why) {
  {
    // For /metrics (duplex_chat_refused_total{reason=code}): codes are the
    // protocol's few, so the map stays small.
    std::lock_guard lock(refusals_mu_);
    auto it = refusals_.find(code);
    if (it == refusals_.end()) it = refusals_.emplace(code, 0).first;
    ++it->second;
  }
  reply(s, v1::error{std::move(code), std::move(why)});
}

endpoint_options service::endpoint() {
  return protocol_endpoint<wire::chat_protocol_v5, wire::chat_protocol_v4, wire::chat_protocol_v3, wire::chat_protocol_v2,
                           wire::chat_protocol>();
}

void service::start() {
  timer_ = std::make_unique<asio::steady_timer>(ex_);
  asio::co_spawn(ex_, tick_loop(), asio::detached);
}

void service::stop() {
  stopped_ = true;
  if (timer_) timer_->cancel();
}

// Ticks every config_.tick while some room has something pending or the
// presence engine has upkeep; with nothing pending it sleeps until the earliest
// grace expiry, or until wake() says something changed.
asio::awaitable<void> service::tick_loop() {
  while (!stopped_) {
    auto next = steady::now() + config_.tick;
    sleeping_ = false;
    if (!busy_) {
      steady::time_point earliest = next + std::chrono::hours(24);
      rooms_->for_each([&](std::string_view, room& r) {
        if (auto when = r.presence.next_expiry(); when && *when < earliest) earliest = *when;
      });
      if (earliest > next) {
        next = earliest;
        sleeping_ = true;
      }
    }
    timer_->expires_at(next);
    std::error_code ec;
    co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) break;
    if (ec == asio::error::operation_aborted) {  // wake(): tick after one tick period
      busy_ = true;
      continue;
    }
    tick();
  }
}

void service::wake() {
  if (!sleeping_ || !timer_) return;
  sleeping_ = false;
  timer_->cancel();
}

// The member's session rides in its connection's user data from open to
// close (which breaks that cycle). A connection on the service's own thread
// acts in place; the others hop onto it, in order: posts to one io_context
// run in the order they were made.
websocket_callbacks service::callbacks() {
  return {.open = [this](websocket& ws) { opened(ws); },
          .message =
              [this](websocket& ws, const message_view& m) {
                auto* held = std::any_cast<std::shared_ptr<session>>(&ws.user_data());
                if (!held) return;  // refused at open, closing
                if (ws.get_executor() == ex_) return act(*held, m.data, m.binary);
                asio::post(ex_, [this, s = *held, text = std::string(m.data), binary = m.binary] {
                  act(s, text, binary);
                });
              },
          .close =
              [this](websocket& ws) {
                auto* held = std::any_cast<std::shared_ptr<session>>(&ws.user_data());
                if (!held) return;
                std::shared_ptr<session> s = std::move(*held);
                ws.user_data().reset();
                if (s->expiry) {  // the timer lives on this thread
                  ++s->expiry->generation;
                  s->expiry->timer.cancel();
                }
                if (ws.get_executor() == ex_) return closed(*s);
                asio::post(ex_, [this, s = std::move(s)] { closed(*s); });
              }};
}

void service::opened(websocket& ws) {
  // A client that offers no subprotocol speaks version 1; one that offered
  // only versions (or the binary encoding) this server does not speak is told so.
  const auto negotiated = negotiated_version<wire::chat_protocol_v5, wire::chat_protocol_v4, wire::chat_protocol_v3,
                                             wire::chat_protocol_v2, wire::chat_protocol>(ws);
  const bool json = negotiated && negotiated->encoding == schema::encoding::json;
  if (!json && !ws.subprotocol().empty()) {
    post_refuse_version<wire::chat_protocol_v5>(ws);
    return;
  }
  const unsigned version = json ? negotiated->version : 1;
  auto s = std::make_shared<session>(ws);
  s->v2 = version >= 2;
  s->v3 = version >= 3;
  s->v4 = version >= 4;
  s->v5 = version >= 5;
  // What the upgrade hook attached moves into the session, whose place it takes.
  if (identity* who = ws.data<identity>()) {
    s->who = std::make_unique<identity>(std::move(*who));
  }
  // A signed-in connection ends when its token does: closed with 4001 at
  // exp (the page then asks for a new token instead of reconnecting), unless
  // a version-3 or -4 page refreshes it first; version 4 is told before.
  if (s->who) {
    s->expiry = std::make_shared<expiry_timer>(ws.get_executor());
    arm_expiry(*s);
  }
  ws.user_data() = std::move(s);
}

void service::act(const std::shared_ptr<session>& s, std::string_view text, bool binary) {
  if (binary) reply_error(*s, "bad_message", "binary messages are not part of the chat protocol");
  else handle(s, text);
}

void service::handle(const std::shared_ptr<session>& s, std::string_view text) {
  if (!s->v2) {
    auto d = schema::decode<v1::client_message>(text);
    if (!d) return reply_error(*s, "bad_message", d.error().detail);
    if (auto* j = std::get_if<v1::join>(&*d)) return on_legacy_join(s, std::move(*j));
    return on_chat(*s, std::move(std::get<v1::chat>(*d).text));
  }
  if (s->v5) handle_as<v5::client_message>(s, text);
  else if (s->v3) handle_as<v3::client_message>(s, text);  // version 4's too
  else handle_as<v2::client_message>(s, text);
}

template <class Messages>
void service::handle_as(const std::shared_ptr<session>& s, std::string_view text) {
  auto d = schema::decode<Messages>(text);
  if (!d) {
    const bool room_field = d.error().path == "room";
    return reply_error(*s, room_field ? "bad_room" : "bad_message", d.error().detail);
  }
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, v2::join>) {
          on_join(s, std::move(m));
        } else if constexpr (std::is_same_v<T, v1::chat>) {
          on_chat(*s, std::move(m.text));
        } else if constexpr (std::is_same_v<T, v2::watch>) {
          on_watch(s, m.room, nullptr);
        } else if constexpr (std::is_same_v<T, v2::resume>) {
          const stream_position from{m.seq, m.epoch};
          on_watch(s, m.room, &from);
        } else if constexpr (std::is_same_v<T, v3::refresh>) {
          on_refresh(*s, m.token);
        } else if constexpr (std::is_same_v<T, v5::list_members>) {
          on_list_members(*s, m);
        } else {
          on_leave(*s);
        }
      },
      *d);
}

void service::arm_expiry(session& s) {
  using clock = std::chrono::system_clock;
  // (An exp beyond what system_clock holds, e.g. year 9999, needs no timer.)
  constexpr auto far = std::chrono::floor<std::chrono::seconds>(clock::time_point::max()) -
                       std::chrono::hours(24 * 366);
  std::optional<clock::time_point> at, notice;
  if (s.who && s.who->exp && *s.who->exp < far) at = clock::time_point(*s.who->exp);
  if (at && s.v4 && config_.refresh_notice.count() > 0) {
    // The notice's lead: refresh_notice, or half the time left for a token
    // that lives shorter than twice that; under a second is no notice.
    const auto left = *at - clock::now();
    const auto lead = std::min<clock::duration>(config_.refresh_notice, left / 2);
    if (lead >= std::chrono::seconds(1)) notice = *at - lead;
  }
  // The timer belongs to the connection's thread; this may run on the service's.
  asio::post(s.ws.get_executor(), [this, t = s.expiry, ws = s.ws, at, notice]() mutable {
    const auto generation = ++t->generation;
    t->timer.cancel();
    if (at) wait_expiry(std::move(t), std::move(ws), generation, *at, notice);
  });
}

void service::wait_expiry(std::shared_ptr<expiry_timer> t, websocket ws, std::uint64_t generation,
                          std::chrono::system_clock::time_point at,
                          std::optional<std::chrono::system_clock::time_point> notice) {
  t->timer.expires_at(notice ? *notice : at);
  t->timer.async_wait([this, t, ws, generation, at, notice](std::error_code ec) mutable {
    // A handler that had fired before a refresh re-armed the timer does nothing.
    if (ec || t->generation != generation || !ws.is_open()) return;
    if (notice) {
      const auto left = std::chrono::ceil<std::chrono::seconds>(at - std::chrono::system_clock::now());
      const v4::token_expiring m{std::chrono::floor<std::chrono::seconds>(at).time_since_epoch().count(),
                                 static_cast<std::uint32_t>(std::max<std::int64_t>(0, left.count()))};
      ws.post(schema::encode(m));  // on the connection's own thread
      expiry_notices_.fetch_add(1, std::memory_order_relaxed);
      if (log_) log_("token-expiring " + ws.remote_address() + ": " + std::to_string(m.seconds) + " s left");
      return wait_expiry(std::move(t), std::move(ws), generation, at, std::nullopt);
    }
    expired_closes_.fetch_add(1, std::memory_order_relaxed);
    if (log_) log_("token-expired " + ws.remote_address() + ": closed with 4001");
    ws.post_close(close_token_expired, "token expired");
  });
}

std::vector<std::pair<std::string, std::uint64_t>> service::refusals() const {
  std::lock_guard lock(refusals_mu_);
  return {refusals_.begin(), refusals_.end()};
}

void service::on_refresh(session& s, std::string_view token) {
  if (!authn_ || !s.who) {
    return reply_error(s, "not_signed_in", "this server has no sign-in: there is no token to refresh");
  }
  token_check c = authn_->verify_token(token);
  if (!c.who) return reply_error(s, "bad_token", c.error_name + " (" + c.detail + ")");
  if (c.who->name != s.who->name) {
    return reply_error(s, "token_not_yours", "the token is for another user than this connection's");
  }
  refreshed_.fetch_add(1, std::memory_order_relaxed);
  identity* mine = s.who.get();
  *mine = std::move(*c.who);
  arm_expiry(s);
  if (log_) log_("token-refreshed " + s.ws.remote_address() + " " + mine->name);
  reply(s, v3::refreshed{mine->exp ? std::optional<std::int64_t>(mine->exp->time_since_epoch().count()) : std::nullopt});
}

service::room* service::open_room(session& s, std::string_view name) {
  std::error_code ec;
  const auto before = rooms_->size();
  room* r = rooms_->open(name, [this](std::string_view n) { return room(std::string(n), presence_.open(n)); }, ec);
  if (rooms_->size() != before) {
    wake();  // a room nobody ends up watching is closed by a tick
    rooms_open_.store(rooms_->size(), std::memory_order_relaxed);
    r->incarnation = ++incarnations_;
    broker_.subscribe(r->name, nullptr);  // its lines reach this instance from now on
  }
  if (!r) {
    reply_error(s, error_code_name(ec),
                ec == realtime::errc::too_many_rooms
                    ? "the server has its limit of " + std::to_string(config_.max_rooms) + " rooms"
                    : "room names are 1-64 characters of A-Z a-z 0-9 _ . -");
  }
  return r;
}

void service::on_watch(const std::shared_ptr<session>& s, const std::string& room_name, const stream_position* from) {
  if (!s->name.empty() && s->in && s->in->name != room_name) {
    return reply_error(*s, "already_joined", "you are in " + s->in->name + ": leave it first");
  }
  if (auto err = realtime::validate_room_name(room_name)) return reply_error(*s, "bad_room", "bad room name");
  if (!room_allowed(*s, room_name)) return;
  room* r = s->in && s->in->name == room_name ? s->in : nullptr;
  if (!r) {
    unsubscribe(*s);
    if (!(r = open_room(*s, room_name))) return;
  }
  subscribe(s, *r, from);
}

void service::subscribe(const std::shared_ptr<session>& s, room& r, const stream_position* from) {
  if (s->live) {  // watching again: live lines wait for the new answer
    hub_.unsubscribe(s->ws, r.topic);
    hub_.unsubscribe(s->ws, s->v5 ? r.v5_topic : r.full_topic);
  }
  s->in = &r;
  r.watchers.insert(s.get());
  r.loading.insert(s.get());
  s->live = false;
  s->waiting = std::make_unique<session::history_wait>();
  if (from) s->waiting->resume.emplace(*from);
  const auto gen = ++s->generation;
  std::weak_ptr<session> weak = s;
  // The history is read once the room's lines cannot be missed (the broker
  // is subscribed and knows the top): at once, unless a backend is slow.
  broker_.subscribe(r.name, [this, weak, gen](std::error_code, stream_position) {
    auto s = weak.lock();
    if (s && s->in && s->generation == gen) read_history(s);
  });
}

// A resume reads the gap (merged with the live lines by its recovery); a
// watcher the recent history.
void service::read_history(const std::shared_ptr<session>& s) {
  room& r = *s->in;
  const auto gen = s->generation;
  std::weak_ptr<session> weak = s;
  if (auto& w = *s->waiting; w.resume) {
    w.resume_started = steady::now();
    broker_.history().since(r.name, w.resume->client(), config_.max_replay, [this, weak, gen](std::error_code ec, realtime::history_page page) {
      auto s = weak.lock();
      if (s && s->in && s->generation == gen) answer_resume(s, ec, page);
    });
    return;
  }
  if (r.history_top && *r.history_top == broker_.position(r.name)) {  // nothing published since: the same frames
    for (auto& f : r.history_frames) send(*s, f);
    return deliver_buffered(*s, r.history_top->offset);
  }
  read_recent(s);
}

void service::read_recent(const std::shared_ptr<session>& s) {
  const auto gen = s->generation;
  std::weak_ptr<session> weak = s;
  broker_.history().recent(s->in->name, config_.join_history, [this, weak, gen](std::error_code ec, realtime::history_page page) {
    auto s = weak.lock();
    if (!s || !s->in || s->generation != gen) return;
    if (ec) {  // a backend engine can fail; embedded ones don't
      reply_error(*s, "cannot_resume", "history is unavailable: " + ec.message());
      page = {};
    }
    room& r = *s->in;
    r.history_frames.clear();
    r.history_top.reset();
    send_history(*s, page.top.epoch, page.top.offset, true, page.publications);
    if (!ec) r.history_top = page.top;  // kept for the next watcher, unless unavailable
    deliver_buffered(*s, page.top.offset);
  });
}

void service::deliver_buffered(session& s, std::uint64_t after) {
  auto& w = *s.waiting;
  for (auto& p : w.buffer) {
    if (p.offset <= after) continue;
    if (auto m = detail::stored_line(p.payload)) reply(s, detail::line(std::move(*m), s.in->name, p.offset, w.buffer_epoch));
  }
  go_live(s);
}

// The history is sent: live lines and diffs from now on (the hub keeps this
// thread's replies and publishes in order), starting with the snapshot.
void service::go_live(session& s) {
  s.live = true;
  s.waiting.reset();
  s.in->loading.erase(&s);
  send_snapshot(s);
  hub_.subscribe(s.ws, s.in->topic);
  hub_.subscribe(s.ws, s.v5 ? s.in->v5_topic : s.in->full_topic);
}

void service::answer_resume(const std::shared_ptr<session>& sp, std::error_code ec,
                            const realtime::history_page& page) {
  session& s = *sp;
  auto& resume = s.waiting->resume;
  const stream_position from = resume->client();
  realtime::recovery_result r = resume->finish(ec, page);
  resume.reset();
  const auto took = steady::now() - s.waiting->resume_started;
  room& rm = *s.in;
  if (r.ec) {
    ++stats_.resume_refused;
    reply_error(s, error_code_name(r.ec),
                "cannot resume " + rm.name + " after " + std::to_string(from.offset) + ": " + r.ec.message() +
                    "; the recent history follows");
    // The client reloads: the recent history (it has the lines that came
    // during the gap read), then the live lines buffered from now on.
    return read_recent(sp);
  }
  if (!r.publications.empty()) send_history(s, from.epoch, r.top.offset, false, r.publications);
  reply(s, v2::resumed{rm.name, r.top.epoch, r.top.offset, r.publications.size()});
  go_live(s);
  ++stats_.resumed;
  stats_.replayed += r.publications.size();
  stats_.resume_time += took;
  if (log_)
    log_("resume " + rm.name + " from " + std::to_string(from.offset) + ": " + std::to_string(r.publications.size()) +
         " replayed in " + std::to_string(std::chrono::duration<double, std::milli>(took).count()) + " ms");
}

// Sends pubs as history frames of at most ~frame_budget bytes each; only
// the first replaces the client's view. When the answer is the room's recent
// history, the frames are kept for the next watcher.
void service::send_history(session& s, const std::string& epoch, std::uint64_t top, bool replace,
                           const std::vector<publication>& pubs) {
  room& r = *s.in;
  const bool cache = replace && !(s.waiting && s.waiting->resume);
  v2::history h{r.name, epoch, top, replace, {}};
  std::size_t bytes = 0;
  auto flush = [&](std::uint64_t seq) {
    h.seq = seq;
    std::string f = schema::encode(h);
    if (cache) r.history_frames.push_back(f);
    send(s, std::move(f));
    h.replace = false;
    h.messages.clear();
    bytes = 0;
  };
  for (auto& p : pubs) {
    auto m = detail::stored_line(p.payload);
    if (!m) {
      if (log_) log_("history " + r.name + ": undecodable stored line " + std::to_string(p.offset) + " skipped");
      continue;
    }
    bytes += p.payload.size() + r.name.size() + epoch.size() + 40;
    h.messages.push_back(detail::line(std::move(*m), r.name, p.offset, epoch));
    if (bytes >= frame_budget && &p != &pubs.back()) flush(p.offset);
  }
  if (replace || !h.messages.empty()) flush(top);
}

const std::string& service::snapshot_frame(room& r) {
  if (!r.snapshot_frame) {
    auto snap = r.presence.snapshot(config_.presence_cap);
    v2::presence p{r.name, {}, snap.total};
    p.users.reserve(snap.members.size());
    for (auto& m : snap.members) p.users.push_back(std::move(m.name));
    r.snapshot_frame.emplace(schema::encode(p));
  }
  return *r.snapshot_frame;
}

// Version 5 in a big room: the count and the first names, bounded.
const std::string& service::summary_frame(room& r) {
  if (!r.summary_frame) {
    auto page = r.presence.page("", std::min<std::size_t>(config_.presence_page, v5::max_page));
    v5::presence_summary p{r.name, {}, page.total, config_.presence_full_limit};
    p.users.reserve(page.members.size());
    for (auto& m : page.members) p.users.push_back(std::move(m.name));
    r.summary_frame.emplace(schema::encode(p));
  }
  return *r.summary_frame;
}

void service::send_snapshot(session& s) {
  room& r = *s.in;
  send(s, s.v5 && r.big ? summary_frame(r) : snapshot_frame(r));
}

bool service::name_allowed(session& s, const std::string& name) {
  if (!config_.auth) return true;
  if (s.who && s.who->name == name) return true;
  reply_error(s, "name_not_yours",
              s.who ? "you are signed in as " + s.who->name + ": join under that name" : "sign in to join");
  return false;
}

bool service::room_allowed(session& s, const std::string& room) {
  if (!config_.auth || may_enter(s.who.get(), room)) return true;
  // The same answer whether or not the room exists or has anyone in it.
  reply_error(s, "forbidden_room", "the room " + room + " is private and your token does not list it");
  return false;
}

void service::on_join(const std::shared_ptr<session>& s, v2::join j) {
  if (!s->name.empty()) return reply_error(*s, "already_joined", "you already joined as " + s->name);
  if (!name_allowed(*s, j.name)) return;
  if (!s->in || s->in->name != j.room) {
    on_watch(s, j.room, nullptr);
    if (!s->in || s->in->name != j.room) return;  // refused (bad_room, too_many_rooms)
  }
  room& r = *s->in;
  const bool has_token = j.token.has_value();
  std::string token = has_token ? *j.token : new_token();
  // Every instance sharing the room is asked first (at once with one instance).
  std::weak_ptr<session> weak = s;
  presence_.claim(r.name, j.name, token,
                  [this, weak, room_name = r.name, inc = r.incarnation, name = j.name, token, has_token](
                      std::error_code ec) mutable {
                    auto s = weak.lock();
                    room* r = same_room(room_name, inc);
                    if (!s || !r || s->in != r || !s->name.empty()) return;
                    if (ec) return reply_error(*s, "name_taken", "the name " + name + " is in use in " + room_name);
                    admit(s, *r, std::move(name), std::move(token), has_token);
                  });
}

// The room an answer from an engine was for, if it is still open (not
// closed, nor closed and opened again, since the request).
service::room* service::same_room(const std::string& name, std::uint64_t incarnation) {
  room* r = rooms_->find(name);
  return r && r->incarnation == incarnation ? r : nullptr;
}

// Takes the name in the room (every instance has granted it).
void service::admit(const std::shared_ptr<session>& s, room& r, std::string name, std::string token, bool has_token) {
  const auto now = steady::now();
  auto ec = presence_.join(r.name, name, token, now);
  if (ec == realtime::errc::name_taken && has_token) {
    // The same token on a connection the server still thinks is alive: the
    // client reconnected before the old socket was noticed dead. The newer one wins.
    auto it = r.holders.find(name);
    if (it != r.holders.end() && it->second->token == token) {
      replace_holder(r, it);
      presence_.disconnect(r.name, name, token, now);
      ec = presence_.join(r.name, name, token, now);
    }
  }
  if (ec) return reply_error(*s, "name_taken", "the name " + name + " is in use in " + r.name);
  s->name = std::move(name);
  s->token = std::move(token);
  r.holders[s->name] = s.get();
  members_.fetch_add(1, std::memory_order_relaxed);
  if (log_) log_("join " + s->ws.remote_address() + " " + r.name + " " + s->name);
  wake();
  reply(*s, v2::joined{s->name, r.name, s->token});
}

// The member's newer connection (here or on another instance) wins: the old one is closed.
void service::replace_holder(room& r, holder_map::iterator it) {
  session& old = *it->second;
  old.name.clear();
  old.token.clear();
  asio::post(old.ws.get_executor(), [ws = old.ws]() mutable {
    ws.post_close(4000, "replaced by a newer connection of the same member");
  });
  members_.fetch_sub(1, std::memory_order_relaxed);
  r.holders.erase(it);
}

void service::on_legacy_join(const std::shared_ptr<session>& s, v1::join j) {
  if (!s->name.empty()) return reply_error(*s, "already_joined", "you already joined as " + s->name);
  if (!name_allowed(*s, j.name)) return;
  room* r = s->in ? s->in : open_room(*s, config_.default_room);
  if (!r) return;
  std::string token = new_token();
  if (presence_.join(r->name, j.name, token, steady::now()))
    return reply_error(*s, "name_taken", "the name " + j.name + " is in use");
  s->in = r;
  r->legacy.insert(s.get());
  hub_.subscribe(s->ws, r->legacy_topic);
  members_.fetch_add(1, std::memory_order_relaxed);
  s->live = true;
  s->name = std::move(j.name);
  s->token = std::move(token);
  r->holders[s->name] = s.get();
  // Version 1 has no resume: its name is claimed on the other instances in
  // the background, and it is closed if one of them holds it after all.
  presence_.claim(r->name, s->name, s->token, nullptr);
  if (log_) log_("join " + s->ws.remote_address() + " " + r->name + " " + s->name + " (v1)");
  wake();
}

void service::on_leave(session& s) {
  if (s.name.empty() || !s.in) return reply_error(s, "not_joined", "you are not in a room");
  room& r = *s.in;
  presence_.leave(r.name, s.name, s.token);
  r.holders.erase(s.name);
  members_.fetch_sub(1, std::memory_order_relaxed);
  if (log_) log_("leave " + r.name + " " + s.name);
  s.name.clear();
  s.token.clear();
  wake();
}

void service::on_list_members(session& s, const v5::list_members& m) {
  if (!s.in || s.in->name != m.room || !s.in->watchers.count(&s))
    return reply_error(s, "not_watching", "watch " + m.room + " before listing its members");
  room& r = *s.in;
  const std::size_t limit = std::min<std::size_t>(m.limit, v5::max_page);
  auto page = r.presence.page(m.after ? std::string_view(*m.after) : std::string_view(), limit);
  v5::members out{r.name, {}, page.total, std::nullopt};
  out.users.reserve(page.members.size());
  for (auto& p : page.members) out.users.push_back(std::move(p.name));
  if (page.more && !out.users.empty()) out.next = out.users.back();
  reply(s, out);
}

bool service::allow_line(session& s) {
  if (config_.line_rate <= 0) return true;
  const auto now = steady::now();
  const double burst = std::max(1.0, config_.line_burst);
  if (s.line_tokens < 0) {
    s.line_tokens = burst;
  } else {
    s.line_tokens = std::min(burst, s.line_tokens + std::chrono::duration<double>(now - s.line_refilled).count() *
                                                       config_.line_rate);
  }
  s.line_refilled = now;
  if (s.line_tokens >= 1) {
    s.line_tokens -= 1;
    s.lines_refused = 0;
    return true;
  }
  rate_limited_.fetch_add(1, std::memory_order_relaxed);
  if (++s.lines_refused >= config_.flood_close_after) {
    flood_closes_.fetch_add(1, std::memory_order_relaxed);
    if (log_) log_("flooding " + s.ws.remote_address() + " " + s.name + ": closed with 4008");
    // Closed on its own thread; this thread only holds the chat state.
    post_close_from_any_thread(s.ws, close_flooding, "flooding: too many lines");
    return false;
  }
  const auto wait_ms = static_cast<long long>(std::ceil((1 - s.line_tokens) / config_.line_rate * 1000));
  reply_error(s, "rate_limited", "too many lines: wait " + std::to_string(wait_ms) + " ms before sending again");
  return false;
}

void service::on_chat(session& s, std::string text) {
  if (s.name.empty() || !s.in) return reply_error(s, "not_joined", "join with a name before chatting");
  if (!allow_line(s)) return;
  v1::message m{s.name, std::move(text), now_ms()};
  room& r = *s.in;
  std::string payload = schema::encode(m);
  ++stats_.published;
  // Every instance in the room, this one too, gets it from the broker.
  broker_.publish(r.name, std::move(payload), [this, name = r.name](std::error_code ec, stream_position) {
    if (ec && log_) log_("publish " + name + " not stored: " + ec.message());
  });
}

void service::on_publication(std::string_view room_name, const stream_position& pos, const std::string& payload) {
  if (room* r = rooms_->find(room_name)) deliver(*r, pos, payload);
}

// Readers of a room subscribed while the backend was away got no history: they read it now.
void service::on_resync(std::string_view room_name) {
  room* r = rooms_->find(room_name);
  if (!r) return;
  std::vector<std::shared_ptr<session>> watchers;
  for (session* w : r->watchers) watchers.push_back(w->shared_from_this());
  for (auto& w : watchers)
    if (w->in == r) subscribe(w, *r, nullptr);
}

// Another instance holds the name now (its member reconnected there): the connection here is closed.
void service::on_name_lost(std::string_view room_name, const std::string& name) {
  room* r = rooms_->find(room_name);
  if (!r) return;
  if (auto h = r->holders.find(name); h != r->holders.end()) replace_holder(*r, h);
}

// A numbered line to the room's members here: live watchers through the
// room's topic, those still loading keep it to merge with their history.
void service::deliver(room& r, const stream_position& pos, const std::string& payload) {
  r.history_top.reset();
  r.history_frames.clear();
  auto m = detail::stored_line(payload);
  if (!m) {
    if (log_) log_("line " + r.name + " " + std::to_string(pos.offset) + ": undecodable, skipped");
    return;
  }
  if (!r.legacy.empty()) hub_.publish(r.legacy_topic, payload);
  // A speaker's leaves and returns reach version 5 watchers of a big room.
  if (config_.presence_full_limit && !r.speakers.count(m->from)) {
    r.speakers.insert(m->from);
    r.speaker_order.push_back(m->from);
    while (r.speaker_order.size() > config_.speakers_kept) {
      r.speakers.erase(r.speaker_order.front());
      r.speaker_order.pop_front();
    }
  }
  hub_.publish(r.topic, schema::encode(detail::line(std::move(*m), r.name, pos.offset, pos.epoch)));
  for (session* s : r.loading) {
    auto& w = *s->waiting;
    if (w.resume) {
      w.resume->on_live(pos.epoch, {pos.offset, payload});
    } else {
      w.buffer.push_back({pos.offset, payload});
      w.buffer_epoch = pos.epoch;
    }
  }
}

void service::unsubscribe(session& s) {
  if (!s.in) return;
  s.in->watchers.erase(&s);
  s.in->loading.erase(&s);
  s.in->legacy.erase(&s);
  hub_.unsubscribe(s.ws, s.in->topic);
  hub_.unsubscribe(s.ws, s.in->full_topic);
  hub_.unsubscribe(s.ws, s.in->v5_topic);
  hub_.unsubscribe(s.ws, s.in->legacy_topic);
  s.in = nullptr;
  s.waiting.reset();
  ++s.generation;
  wake();
}

void service::closed(session& s) {
  if (s.in && !s.name.empty()) {
    room& r = *s.in;
    // Version 2 members keep their name for the grace period (a reconnect
    // with the token takes it back); version 1 has no token: leave now.
    if (s.v2) presence_.disconnect(r.name, s.name, s.token, steady::now());
    else presence_.leave(r.name, s.name, s.token);
    if (auto it = r.holders.find(s.name); it != r.holders.end() && it->second == &s) {
      r.holders.erase(it);
      members_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (log_) log_("disconnect " + r.name + " " + s.name);
  }
  unsubscribe(s);
}

bool service::room_idle(const room& r) const {
  return r.watchers.empty() && r.legacy.empty() && !presence_.local_members(r.name);
}

// Whether a tick has anything to do in the room: presence changed or a grace
// ended, a big room's count not yet sent, or nobody left in it. O(1).
bool service::room_pending(room& r, steady::time_point now) const {
  return r.presence.pending(now) || (r.big && r.count_sent != r.presence.published_size()) || room_idle(r);
}

void service::tick_room(room& r, steady::time_point now) {
  ++rooms_ticked_;
  auto diff = presence_.tick(r.name, now);
  const std::size_t total = r.presence.published_size();
  const bool big = config_.presence_full_limit && total > config_.presence_full_limit;
  if (!diff.empty()) {
    r.snapshot_frame.reset();
    r.summary_frame.reset();
    v2::presence_diff d{r.name, {}, diff.leaves, total};
    d.joins.reserve(diff.joins.size());
    for (auto& m : diff.joins) d.joins.push_back(m.name);
    // Versions 2-4: every change. One still loading gets the snapshot, which has this diff.
    std::string full = schema::encode(d);
    if (big != r.big) {
      // Version 5 across the limit: the summary (now big) or the full
      // snapshot (small again) replaces its list.
      r.big = big;
      r.count_sent = total;
      r.next_count = now + config_.count_interval;
      hub_.publish(r.v5_topic, big ? summary_frame(r) : snapshot_frame(r));
    } else if (!big) {
      hub_.publish(r.v5_topic, full);
    } else {
      // Big: the count and the speakers' leaves and returns only.
      v2::presence_diff b{r.name, {}, {}, total};
      for (auto& n : d.joins)
        if (r.speakers.count(n)) b.joins.push_back(n);
      for (auto& n : d.leaves)
        if (r.speakers.count(n)) b.leaves.push_back(n);
      if (!b.joins.empty() || !b.leaves.empty() || now >= r.next_count) {
        hub_.publish(r.v5_topic, schema::encode(b));
        r.count_sent = total;
        r.next_count = now + config_.count_interval;
      }
    }
    hub_.publish(r.full_topic, std::move(full));
    if (!r.legacy.empty()) {
      // Version 1: one announcement per change and the whole online list.
      for (auto& n : d.leaves) hub_.publish(r.legacy_topic, schema::encode(v1::left{n}));
      for (auto& n : d.joins) hub_.publish(r.legacy_topic, schema::encode(v1::joined{n}));
      v1::presence all;
      for (auto& m : r.presence.snapshot(v1::max_users).members) all.users.push_back(std::move(m.name));
      hub_.publish(r.legacy_topic, schema::encode(all));
    }
  } else if (r.big && r.count_sent != total && now >= r.next_count) {
    // The count a throttled diff left unsent.
    hub_.publish(r.v5_topic, schema::encode(v2::presence_diff{r.name, {}, {}, total}));
    r.count_sent = total;
    r.next_count = now + config_.count_interval;
  }
}

void service::tick() {
  const auto now = steady::now();
  ++tick_rounds_;
  broker_.poll();
  std::vector<std::string> idle;
  bool busy = presence_.maintain(now);  // a shared presence has upkeep on its own periods
  rooms_->for_each([&](std::string_view name, room& r) {
    if (!room_pending(r, now)) return;
    tick_room(r, now);
    if (room_idle(r)) idle.emplace_back(name);
    else if (room_pending(r, now + config_.tick)) busy = true;
  });
  for (auto& n : idle) close_room(n);
  if (!idle.empty()) rooms_open_.store(rooms_->size(), std::memory_order_relaxed);
  busy_ = busy;
}

void service::close_room(const std::string& name) {
  broker_.unsubscribe(name);
  rooms_->erase(name);
  presence_.close(name);  // after the room, which refers to it
}

void service::register_metrics(duplex::metrics& m) const {
  m.gauge("duplex_chat_members", "Members joined to a chat room (connected), over all rooms.",
          [this] { return double(members()); });
  m.gauge("duplex_chat_rooms", "Chat rooms open (watched, joined, or holding a name in its grace period).",
          [this] { return double(rooms()); });
  m.counter("duplex_chat_rate_limited_total", "Chat lines refused by flood control (rate_limited).",
            [this] { return double(rate_limited()); });
  m.counter("duplex_chat_flood_closes_total", "Members closed for flooding (4008).",
            [this] { return double(flood_closes()); });
  // Requests refused in band by their error code (rate_limited,
  // forbidden_room, bad_token, ...): a labelled family.
  m.counter_family(
      "duplex_chat_refused_total",
      "Chat requests refused with a typed error, by its code (rate_limited: flood control; the others in "
      "docs/chat-protocol.md).",
      "reason", [this] {
        duplex::metrics::samples out;
        for (auto& [code, n] : refusals()) out.emplace_back(code, double(n));
        return out;
      });
  if (!config_.auth) return;
  m.counter("duplex_chat_auth_expired_closes_total", "Members closed (4001) because their token expired.",
            [this] { return double(expired_closes()); });
  m.counter("duplex_chat_auth_expiry_notices_total",
            "token_expiring notices sent (chat protocol v4, --auth-refresh-notice before exp).",
            [this] { return double(expiry_notices()); });
  m.counter("duplex_chat_auth_refreshed_total", "Tokens refreshed in band (refresh -> refreshed).",
            [this] { return double(refreshed()); });
}

}  // namespace duplex::chat
