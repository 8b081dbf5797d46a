// The service's Redis side (chat_service.hpp's "Cluster"): room
// subscriptions, in-order delivery with gap reads, the outage queue, and
// presence shared with the other instances.
#include "chat_cluster.hpp"
#include "chat_state.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <exception>
#include <utility>

namespace duplex::chat {

namespace {

// Runs `op` on the service's executor; `then(ok, value)` gets its result
// (value-initialized when it threw: Redis down, timeout, bad reply).
template <class T, class Then>
void in_background(const asio::any_io_executor& ex, asio::awaitable<T> op, Then then) {
  asio::co_spawn(ex, std::move(op), [then = std::move(then)](std::exception_ptr e, T v) mutable {
    then(!e, std::move(v));
  });
}

template <class Then>
void in_background(const asio::any_io_executor& ex, asio::awaitable<void> op, Then then) {
  asio::co_spawn(ex, std::move(op), [then = std::move(then)](std::exception_ptr e) mutable { then(!e); });
}

std::string local_epoch(const cluster& c) { return "local-" + c.options.instance; }

// Live lines a room holds while its catch-up read keeps failing, before it
// delivers them with the hole.
constexpr std::size_t max_held_lines = 10'000;

}  // namespace

// A room is usable once Redis confirmed its pub/sub channel (no line can
// slip between a watcher's history read and its live lines) and its top is
// known (where in-order delivery starts). While Redis is down neither
// happens: the room opens at once, with an unknown top, and catches up when
// Redis is back.
void service::cluster_room_opened(room& r) {
  r.ready = false;
  const auto inc = r.incarnation;
  const std::string name = r.name;
  auto op = [](cluster& c, std::string name) -> asio::awaitable<realtime::history_page> {
    co_await c.subscriber.subscribe(c.history.streams().pubsub_channel(name));
    co_return co_await c.history.streams().recent(name, 0);
  };
  in_background(ex_, op(*cluster_, name), [this, name, inc](bool ok, realtime::history_page page) {
    room* r = same_room(name, inc);
    if (!r) return;
    if (ok) r->top = page.top;
    else if (log_) log_("room " + name + ": opened while Redis is down (history follows when it is back)");
    r->ready = true;
    auto waiting = std::move(r->pending);
    r->pending.clear();
    for (auto& p : waiting) live(*r, std::move(p.pos), std::move(p.payload));
    auto ready = std::move(r->on_ready);
    r->on_ready.clear();
    for (auto& f : ready) f();
  });
}

// The room an answer from Redis was for, if it is still open (not closed,
// nor closed and opened again, since the request).
service::room* service::same_room(const std::string& name, std::uint64_t incarnation) {
  room* r = rooms_->find(name);
  return r && r->incarnation == incarnation ? r : nullptr;
}

void service::cluster_room_closed(room& r) {
  cluster_->subscriber.unsubscribe(cluster_->history.streams().pubsub_channel(r.name));
}

void service::on_broker_message(std::string_view channel, std::string_view payload) {
  auto name = cluster_ ? cluster_->history.streams().channel_of(channel) : std::nullopt;
  if (!name) return;
  room* r = rooms_->find(*name);
  auto p = redis::parse_live(payload);
  if (!r || !p) return;
  live(*r, {p->offset, std::string(p->epoch)}, std::string(p->payload));
}

// Lines are delivered in offset order, each once: a duplicate is dropped, a
// gap (a lost pub/sub message, a new epoch) is read from the stream first.
void service::live(room& r, stream_position pos, std::string payload) {
  if (!r.ready || r.catching_up) {
    r.pending.push_back({std::move(pos), std::move(payload)});
    return;
  }
  if (pos.epoch == r.top.epoch) {
    if (pos.offset <= r.top.offset) return;
    if (pos.offset == r.top.offset + 1) {
      r.top.offset = pos.offset;
      return deliver(r, pos, payload);
    }
  }
  r.pending.push_back({std::move(pos), std::move(payload)});
  catch_up(r);
}

void service::catch_up(room& r) {
  if (r.catching_up) {  // the read in flight may have started before what this call is for
    r.catch_up_again = true;
    return;
  }
  r.catching_up = true;
  r.catch_up_again = false;
  const auto inc = r.incarnation;
  const std::string name = r.name;
  const stream_position from = r.top;
  // From the start of the stream when the epoch is unknown or changed.
  auto op = [](cluster& c, std::string name, std::uint64_t after) -> asio::awaitable<realtime::history_page> {
    co_return co_await c.history.streams().since(name, after, 0);
  };
  const bool known = !from.epoch.empty();
  in_background(ex_, op(*cluster_, name, known ? from.offset : 0),
                [this, name, inc, from, known](bool ok, realtime::history_page page) {
                  room* rp = same_room(name, inc);
                  if (!rp) return;
                  room& r = *rp;
                  r.catching_up = false;
                  if (!ok && r.pending.size() < max_held_lines) {
                    // Redis is away: hold the lines and read again (a hole is never delivered).
                    auto timer = std::make_shared<asio::steady_timer>(ex_, std::chrono::milliseconds(250));
                    timer->async_wait([this, timer, name, inc](std::error_code) {
                      if (room* r = same_room(name, inc)) catch_up(*r);
                    });
                    return;
                  }
                  if (ok && !known) {
                    // Opened while Redis was down: its watchers got no history; they get it now.
                    r.top = page.top;
                    page.publications.clear();
                    std::vector<std::shared_ptr<session>> watchers;
                    for (session* w : r.watchers) watchers.push_back(w->shared_from_this());
                    for (auto& w : watchers) subscribe(w, r, nullptr);
                  } else if (ok && page.top.epoch != from.epoch) {
                    if (known && log_) log_("room " + name + ": new epoch " + page.top.epoch + " (Redis lost its history)");
                    r.top = {0, page.top.epoch};
                    if (known) return catch_up(r);  // read again from offset 0 of the new epoch
                  }
                  if (ok) {
                    cluster_->stats.gaps_filled.fetch_add(1, std::memory_order_relaxed);
                    for (auto& p : page.publications) {
                      if (p.offset <= r.top.offset) continue;
                      if (p.offset != r.top.offset + 1 && log_)
                        log_("room " + name + ": lines " + std::to_string(r.top.offset + 1) + ".." +
                             std::to_string(p.offset - 1) + " were trimmed before they could be read");
                      r.top.offset = p.offset;
                      deliver(r, r.top, p.payload);
                    }
                  }
                  auto held = std::move(r.pending);
                  r.pending.clear();
                  std::stable_sort(held.begin(), held.end(),
                                   [](auto& a, auto& b) { return a.pos.offset < b.pos.offset; });
                  for (auto& p : held) {
                    if (!ok && p.pos.epoch == r.top.epoch && p.pos.offset > r.top.offset + 1) {
                      // Too much held while Redis is away: deliver it with the hole rather than hold more.
                      if (log_) log_("room " + name + ": lines before " + std::to_string(p.pos.offset) + " missing");
                      r.top.offset = p.pos.offset - 1;
                    }
                    if (!ok && p.pos.epoch != r.top.epoch) r.top = {p.pos.offset - 1, p.pos.epoch};
                    live(r, std::move(p.pos), std::move(p.payload));
                  }
                  if (r.catch_up_again) catch_up(r);
                });
}

void service::cluster_publish(room& r, std::string payload, wire::message m) {
  if (!cluster_->up()) return local_line(r, std::move(payload), std::move(m));
  if (!queue_.empty()) flush_queue();  // what was said during the outage is numbered first
  const auto started = steady::now();
  history_.publish(r.name, payload,
                   [this, name = r.name, payload, m = std::move(m), started](std::error_code ec, stream_position) mutable {
                     if (!ec) {
                       const auto us = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - started);
                       cluster_->stats.publish_micros.store(us.count(), std::memory_order_relaxed);
                       return;  // delivered when it comes back on the room's channel
                     }
                     if (log_) log_("publish " + name + " failed: " + ec.message() + " (delivered here, queued)");
                     if (room* r = rooms_->find(name)) local_line(*r, std::move(payload), std::move(m));
                   });
}

// Redis is down: the line reaches this instance's members now, numbered in
// a stand-in epoch, and waits in the queue to be published when Redis is
// back (delivered here then only if it was not delivered now).
void service::local_line(room& r, std::string payload, wire::message m) {
  if (cluster_->stats.queued.load(std::memory_order_relaxed) >= cluster_->options.queue_limit) {
    auto& [room_name, old] = queue_.front();
    if (room* q = rooms_->find(room_name))
      if (auto it = q->suppress.find(old); it != q->suppress.end()) q->suppress.erase(it);
    queue_.pop_front();
    cluster_->stats.queue_dropped.fetch_add(1, std::memory_order_relaxed);
  } else {
    cluster_->stats.queued.fetch_add(1, std::memory_order_relaxed);
  }
  queue_.emplace_back(r.name, payload);
  r.suppress.insert(payload);
  if (!r.legacy.empty()) hub_.publish(r.legacy_topic, payload);
  hub_.publish(r.topic, schema::encode(detail::line(std::move(m), r.name, ++r.local_seq, local_epoch(*cluster_))));
}

void service::flush_queue() {
  auto queued = std::move(queue_);
  queue_.clear();
  cluster_->stats.queued.store(0, std::memory_order_relaxed);
  if (!queued.empty() && log_) log_("redis: publishing " + std::to_string(queued.size()) + " lines kept during the outage");
  for (auto& [name, payload] : queued) {
    history_.publish(name, payload, [this, name, payload](std::error_code ec, stream_position) {
      if (!ec) return;
      // Down again: back in the queue (already delivered here).
      queue_.emplace_back(name, payload);
      cluster_->stats.queued.fetch_add(1, std::memory_order_relaxed);
    });
  }
}

void service::cluster_claim(const std::shared_ptr<session>& s, room& r, std::string name, std::string token,
                            bool has_token) {
  const auto inc = r.incarnation;
  const std::string room_name = r.name;
  std::weak_ptr<session> weak = s;
  const bool background = !s;
  auto op = [](cluster& c, std::string room, std::string name, std::string token) -> asio::awaitable<bool> {
    co_return co_await c.presence.claim(room, name, token, c.options.instance);
  };
  in_background(ex_, op(*cluster_, room_name, name, token),
                [this, weak, background, room_name, inc, name, token, has_token](bool ok, bool claimed) mutable {
                  if (background) return;
                  auto s = weak.lock();
                  room* r = same_room(room_name, inc);
                  if (!s || !r || s->in != r || !s->name.empty()) return;
                  // Redis down: names are checked on this instance only until it is back.
                  if (ok && !claimed)
                    return reply_error(*s, "name_taken", "the name " + name + " is in use in " + room_name);
                  admit(s, *r, std::move(name), std::move(token), has_token);
                });
}

void service::cluster_released(room& r, const std::string& name) {
  r.owned.erase(name);
  auto op = [](cluster& c, std::string room, std::string name) -> asio::awaitable<void> {
    co_await c.presence.release(room, name, c.options.instance);
  };
  in_background(ex_, op(*cluster_, r.name, name), [](bool) {});
}

// A Redis connection went down or came back (its on_state hook). Any
// reconnect of the subscriber may have lost pub/sub messages, however
// short: every room catches up from its stream, and the queue is published
// before any newer line.
void service::on_broker_state(bool subscriber_came_up) {
  const bool up = cluster_->up();
  if (up != cluster_up_) {
    cluster_up_ = up;
    if (log_) log_(up ? "redis up: rooms shared again" : "redis down: rooms are local to this instance until it is back");
  }
  if (!up) {
    caught_up_ = false;
    return;
  }
  if (!queue_.empty()) flush_queue();
  if (subscriber_came_up || !caught_up_) {
    caught_up_ = true;
    rooms_->for_each([&](std::string_view, room& r) {
      if (r.ready) catch_up(r);
    });
    next_sync_ = next_refresh_ = steady::now();
  }
}

// Every tick: a missed state change (belt and braces: the hooks report
// every one), and on their own periods the presence reads and refreshes.
void service::cluster_tick() {
  const bool up = cluster_->up();
  const auto now = steady::now();
  if (up != cluster_up_) on_broker_state(false);
  if (!up) return;
  if (now >= next_sync_) {
    next_sync_ = now + cluster_->options.presence_sync;
    rooms_->for_each([&](std::string_view, room& r) {
      if (!r.watchers.empty() || !r.legacy.empty()) sync_presence(r);
    });
  }
  if (now >= next_refresh_) {
    next_refresh_ = now + cluster_->options.presence_ttl / 3;
    rooms_->for_each([&](std::string_view, room& r) {
      if (!r.owned.empty()) refresh_presence(r);
    });
  }
}

// The other instances' members enter and leave this room's presence like
// local ones, so its snapshot and coalesced diffs cover the whole cluster.
void service::sync_presence(room& r) {
  const auto inc = r.incarnation;
  auto op = [](cluster& c, std::string room) -> asio::awaitable<std::vector<redis::presence_entry>> {
    co_return co_await c.presence.list(room);
  };
  in_background(ex_, op(*cluster_, r.name), [this, name = r.name, inc](bool ok, std::vector<redis::presence_entry> all) {
    room* r = same_room(name, inc);
    if (!ok || !r) return;
    std::set<std::string, std::less<>> there;
    for (auto& e : all) {
      auto owner = redis::parse_owner(e.info);
      if (owner && owner->holder == cluster_->options.instance) continue;
      there.insert(std::move(e.client_id));
    }
    const auto now = steady::now();
    for (auto it = r->remote.begin(); it != r->remote.end();) {
      if (there.count(*it)) {
        ++it;
        continue;
      }
      r->presence.leave(*it, remote_member_token);
      it = r->remote.erase(it);
    }
    for (auto& n : there) {
      if (r->remote.count(n) || r->presence.holds(n)) continue;  // ours (moving away shows in the refresh)
      if (!r->presence.join(n, remote_member_token, "", now)) r->remote.insert(n);
    }
  });
}

// Keeps this instance's names alive in Redis; a name another instance now
// holds (its member reconnected there with its token) is dropped here, and a
// connection still using it here is closed.
void service::refresh_presence(room& r) {
  std::vector<std::pair<std::string, std::string>> mine(r.owned.begin(), r.owned.end());
  const auto inc = r.incarnation;
  auto op = [](cluster& c, std::string room,
               std::vector<std::pair<std::string, std::string>> mine) -> asio::awaitable<std::vector<std::string>> {
    co_return co_await c.presence.refresh(room, mine, c.options.instance);
  };
  in_background(ex_, op(*cluster_, r.name, std::move(mine)), [this, name = r.name, inc](bool ok, std::vector<std::string> lost) {
    room* r = same_room(name, inc);
    if (!ok || !r) return;
    for (auto& n : lost) {
      auto owned = r->owned.find(n);
      if (owned == r->owned.end()) continue;
      if (auto h = r->holders.find(n); h != r->holders.end()) replace_holder(*r, h);
      r->presence.leave(n, owned->second);
      r->owned.erase(owned);
      if (log_) log_("presence " + name + " " + n + ": held by another instance now");
    }
  });
}

}  // namespace duplex::chat
