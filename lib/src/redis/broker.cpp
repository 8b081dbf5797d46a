#include <duplex/redis/broker.hpp>

#include <duplex/redis/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <exception>
#include <memory>
#include <utility>

namespace duplex::redis {
namespace {

using realtime::history_page;
using realtime::stream_position;
using steady = std::chrono::steady_clock;

}  // namespace

redis_broker::redis_broker(client& c, subscriber& s, broker_options options, stream_config streams)
    : client_(c), subscriber_(s), options_(std::move(options)), history_(c, std::move(streams)) {}

redis_broker::~redis_broker() { *alive_ = false; }

redis_broker::channel* redis_broker::same(const std::string& name, std::uint64_t incarnation) {
  auto it = channels_.find(name);
  return it != channels_.end() && it->second.incarnation == incarnation ? &it->second : nullptr;
}

stream_position redis_broker::position(std::string_view name) const {
  auto it = channels_.find(name);
  return it == channels_.end() ? stream_position{} : it->second.top;
}

// A channel is ready once Redis confirmed its pub/sub channel (no
// publication can slip between a reader's history read and the live ones)
// and its top is known (where in-order delivery starts). While Redis is
// down neither happens: it is ready at once, with an unknown top, and
// catches up when Redis is back.
void redis_broker::subscribe(std::string_view name, subscribe_handler ready) {
  auto [it, added] = channels_.try_emplace(std::string(name));
  channel& c = it->second;
  if (!added) {
    if (!c.ready) {
      c.waiting.push_back(std::move(ready));
    } else if (ready) {
      std::error_code ec;
      if (c.top.epoch.empty()) ec = errc::not_connected;
      ready(ec, c.top);
    }
    return;
  }
  c.incarnation = ++incarnations_;
  c.waiting.push_back(std::move(ready));
  auto op = [](redis_broker& b, std::string name) -> asio::awaitable<history_page> {
    co_await b.subscriber_.subscribe(b.history_.streams().pubsub_channel(name));
    co_return co_await b.history_.streams().recent(name, 0);
  };
  asio::co_spawn(client_.get_executor(), op(*this, it->first),
                 [this, alive = alive_, name = it->first, inc = c.incarnation](std::exception_ptr e, history_page page) {
                   if (!*alive) return;
                   channel* c = same(name, inc);
                   if (!c) return;
                   std::error_code ec;
                   if (!e) {
                     c->top = page.top;
                   } else {
                     ec = errc::not_connected;
                     log("channel " + name + ": subscribed while Redis is down (history follows when it is back)");
                   }
                   c->ready = true;
                   auto held = std::move(c->pending);
                   c->pending.clear();
                   auto waiting = std::move(c->waiting);
                   c->waiting.clear();
                   for (auto& p : held) {
                     if (!(c = same(name, inc))) return;
                     live(name, *c, std::move(p.pos), std::move(p.payload));
                   }
                   // Their history reads now miss nothing.
                   for (auto& f : waiting) {
                     if (!(c = same(name, inc))) return;
                     if (f) f(ec, c->top);
                   }
                 });
}

void redis_broker::unsubscribe(std::string_view name) {
  auto it = channels_.find(name);
  if (it == channels_.end()) return;
  subscriber_.unsubscribe(history_.streams().pubsub_channel(name));
  channels_.erase(it);
}

bool redis_broker::on_message(std::string_view pubsub_channel, std::string_view payload) {
  auto name = history_.streams().channel_of(pubsub_channel);
  if (!name) return false;
  auto it = channels_.find(*name);
  auto p = parse_live(payload);
  if (it != channels_.end() && p) live(it->first, it->second, {p->offset, std::string(p->epoch)}, std::string(p->payload));
  return true;
}

// In offset order, each once: a duplicate is dropped, a gap (a lost pub/sub
// message, a new epoch) is read from the stream first.
void redis_broker::live(const std::string& name, channel& c, stream_position pos, std::string payload) {
  if (!c.ready || c.catching_up) {
    c.pending.push_back({std::move(pos), std::move(payload)});
    return;
  }
  if (pos.epoch == c.top.epoch) {
    if (pos.offset <= c.top.offset) return;
    if (pos.offset == c.top.offset + 1) {
      c.top.offset = pos.offset;
      return deliver(name, c, pos, payload);
    }
  }
  c.pending.push_back({std::move(pos), std::move(payload)});
  catch_up(name, c);
}

void redis_broker::deliver(const std::string& name, channel& c, const stream_position& pos, const std::string& payload) {
  if (auto it = c.suppress.find(payload); it != c.suppress.end()) {
    c.suppress.erase(it);  // delivered here during the outage already
    return;
  }
  if (handlers_.publication) handlers_.publication(name, pos, payload);
}

void redis_broker::catch_up(const std::string& name, channel& ch) {
  if (ch.catching_up) {  // the read in flight may have started before what this call is for
    ch.catch_up_again = true;
    return;
  }
  ch.catching_up = true;
  ch.catch_up_again = false;
  const stream_position from = ch.top;
  const bool known = !from.epoch.empty();
  // From the start of the stream when the epoch is unknown or changed.
  auto op = [](redis_broker& b, std::string name, std::uint64_t after) -> asio::awaitable<history_page> {
    co_return co_await b.history_.streams().since(name, after, 0);
  };
  asio::co_spawn(
      client_.get_executor(), op(*this, name, known ? from.offset : 0),
      [this, alive = alive_, name, inc = ch.incarnation, from, known](std::exception_ptr e, history_page page) {
        if (!*alive) return;
        channel* cp = same(name, inc);
        if (!cp) return;
        channel& c = *cp;
        const bool ok = !e;
        c.catching_up = false;
        if (!ok && c.pending.size() < options_.max_held) {
          // Redis is away: hold the publications and read again (a hole is never delivered).
          auto timer = std::make_shared<asio::steady_timer>(client_.get_executor(), options_.retry);
          timer->async_wait([this, alive = alive_, timer, name, inc](std::error_code) {
            if (!*alive) return;
            if (channel* c = same(name, inc)) catch_up(name, *c);
          });
          return;
        }
        if (ok && !known) {
          // Subscribed while Redis was down: its readers got no history; they read it now.
          c.top = page.top;
          page.publications.clear();
          if (handlers_.resync) handlers_.resync(name);
          cp = same(name, inc);  // the handler may have unsubscribed
          if (!cp) return;
        } else if (ok && page.top.epoch != from.epoch) {
          if (known) log("channel " + name + ": new epoch " + page.top.epoch + " (Redis lost its history)");
          c.top = {0, page.top.epoch};
          if (known) return catch_up(name, c);  // read again from offset 0 of the new epoch
        }
        if (ok) {
          stats_.gaps_filled.fetch_add(1, std::memory_order_relaxed);
          for (auto& p : page.publications) {
            if (p.offset <= c.top.offset) continue;
            if (p.offset != c.top.offset + 1)
              log("channel " + name + ": publications " + std::to_string(c.top.offset + 1) + ".." +
                  std::to_string(p.offset - 1) + " were trimmed before they could be read");
            c.top.offset = p.offset;
            deliver(name, c, c.top, p.payload);
            if (!same(name, inc)) return;
          }
        }
        auto held = std::move(c.pending);
        c.pending.clear();
        std::stable_sort(held.begin(), held.end(), [](auto& a, auto& b) { return a.pos.offset < b.pos.offset; });
        for (auto& p : held) {
          if (!ok && p.pos.epoch == c.top.epoch && p.pos.offset > c.top.offset + 1) {
            // Too much held while Redis is away: delivered with the hole rather than hold more.
            log("channel " + name + ": publications before " + std::to_string(p.pos.offset) + " missing");
            c.top.offset = p.pos.offset - 1;
          }
          if (!ok && p.pos.epoch != c.top.epoch) c.top = {p.pos.offset - 1, p.pos.epoch};
          live(name, c, std::move(p.pos), std::move(p.payload));
          if (!same(name, inc)) return;
        }
        if (c.catch_up_again) catch_up(name, c);
      });
}

void redis_broker::publish(std::string_view name, std::string payload, publish_handler done) {
  if (!up()) {
    local(std::string(name), payload);
    if (done) done(errc::not_connected, {});
    return;
  }
  if (!queue_.empty()) flush_queue();  // what was said during the outage is numbered first
  const auto started = steady::now();
  std::string kept = payload;
  history_.publish(name, std::move(payload),
                   [this, alive = alive_, name = std::string(name), kept = std::move(kept), started,
                    done = std::move(done)](std::error_code ec, stream_position pos) mutable {
                     if (!*alive) return;
                     if (!ec) {
                       const auto us = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - started);
                       stats_.publish_micros.store(us.count(), std::memory_order_relaxed);
                     } else {
                       // Delivered here when it comes back on the pub/sub channel; not this one.
                       log("publish " + name + " failed: " + ec.message() + " (delivered here, queued)");
                       local(name, std::move(kept));
                     }
                     if (done) done(ec, std::move(pos));
                   });
}

// Redis is down: the publication reaches this node's subscriber now, in a
// stand-in epoch, and waits in the queue to be published when Redis is back
// (delivered here then only if it was not delivered now).
void redis_broker::local(const std::string& name, std::string payload) {
  if (stats_.queued.load(std::memory_order_relaxed) >= options_.queue_limit) {
    auto& [old_name, old] = queue_.front();
    if (auto it = channels_.find(old_name); it != channels_.end())
      if (auto s = it->second.suppress.find(old); s != it->second.suppress.end()) it->second.suppress.erase(s);
    queue_.pop_front();
    stats_.queue_dropped.fetch_add(1, std::memory_order_relaxed);
  } else {
    stats_.queued.fetch_add(1, std::memory_order_relaxed);
  }
  auto it = channels_.find(name);
  stream_position pos{0, local_epoch()};
  if (it != channels_.end()) {
    it->second.suppress.insert(payload);
    pos.offset = ++it->second.local_seq;
  }
  queue_.emplace_back(name, payload);
  if (it != channels_.end() && handlers_.publication) handlers_.publication(name, pos, payload);
}

void redis_broker::flush_queue() {
  auto queued = std::move(queue_);
  queue_.clear();
  stats_.queued.store(0, std::memory_order_relaxed);
  if (!queued.empty()) log("redis: publishing " + std::to_string(queued.size()) + " publications kept during the outage");
  for (auto& [name, payload] : queued) {
    history_.publish(name, payload, [this, alive = alive_, name, payload](std::error_code ec, stream_position) {
      if (!ec || !*alive) return;
      // Down again: back in the queue (already delivered here).
      queue_.emplace_back(name, payload);
      stats_.queued.fetch_add(1, std::memory_order_relaxed);
    });
  }
}

// Any reconnect of the subscriber may have lost pub/sub messages, however
// short: every channel catches up from its stream, and the queue is
// published before any newer publication.
void redis_broker::on_state(bool subscriber_came_up) {
  const bool now_up = up();
  if (now_up != was_up_) {
    was_up_ = now_up;
    log(now_up ? "redis up: channels shared again" : "redis down: channels are local to this node until it is back");
  }
  if (!now_up) {
    caught_up_ = false;
    return;
  }
  if (!queue_.empty()) flush_queue();
  if (subscriber_came_up || !caught_up_) {
    caught_up_ = true;
    std::vector<std::string> names;
    for (auto& [name, c] : channels_)
      if (c.ready) names.push_back(name);
    for (auto& n : names)
      if (auto it = channels_.find(n); it != channels_.end()) catch_up(it->first, it->second);
  }
}

void redis_broker::poll() {
  if (up() != was_up_) on_state(false);
}

}  // namespace duplex::redis
