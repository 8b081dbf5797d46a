#include <duplex/net/hub.hpp>

#include <asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>

namespace duplex {

namespace {

struct payload {
  std::string data;
  bool binary;
};

struct command {
  enum kind_t : unsigned char { subscribe, unsubscribe, publish, send } kind;
  std::string topic;
  std::optional<websocket> ws;              // subscribe, unsubscribe, send
  std::shared_ptr<const payload> message;  // publish, send
};

asio::io_context* context_of(const websocket& ws) {
  auto ex = ws.get_executor();
  auto* io = ex.target<asio::io_context::executor_type>();
  return io ? &io->context() : nullptr;
}

}  // namespace

struct alignas(64) shard {
  asio::io_context* io;
  std::mutex m;
  std::vector<command> queue;  // under m
  bool scheduled = false;      // under m: a drain is posted
  // The rest belongs to the shard's thread.
  std::vector<command> work;
  std::unordered_map<std::string, std::vector<websocket>> topics;
  std::atomic<std::size_t> delivered{0};  // written by the shard's thread only
};

struct hub::state : std::enable_shared_from_this<hub::state> {
  std::vector<std::unique_ptr<shard>> shards;
  mutable std::mutex registry_m;
  std::unordered_map<std::string, std::size_t> counts;  // members per topic, all threads

  shard& shard_of(const websocket& ws) {
    auto* io = context_of(ws);
    for (auto& s : shards)
      if (s->io == io) return *s;
    throw std::invalid_argument("duplex::hub: the websocket runs on none of the hub's io_contexts");
  }

  void push(shard& sh, command c) {
    bool post = false;
    {
      std::lock_guard lock(sh.m);
      sh.queue.push_back(std::move(c));
      post = !sh.scheduled;
      sh.scheduled = true;
    }
    // One wake-up per batch of commands: a burst of publishes costs each
    // thread one handler, not one per message.
    if (post) asio::post(*sh.io, [self = shared_from_this(), &sh] { self->drain(sh); });
  }

  void count(const std::string& topic, long delta) {
    std::lock_guard lock(registry_m);
    auto& n = counts[topic];
    n = static_cast<std::size_t>(static_cast<long>(n) + delta);
    if (n == 0) counts.erase(topic);
  }

  void drain(shard& sh) {
    {
      std::lock_guard lock(sh.m);
      sh.work.swap(sh.queue);
      sh.scheduled = false;
    }
    // The same payload published again in this batch reuses its compression.
    std::shared_ptr<const payload> last;
    std::optional<prepared_message> prepared;
    for (auto& c : sh.work) {
      switch (c.kind) {
        case command::subscribe: {
          auto& members = sh.topics[c.topic];
          if (std::find(members.begin(), members.end(), *c.ws) != members.end() || !c.ws->is_open()) break;
          members.push_back(*c.ws);
          count(c.topic, +1);
          break;
        }
        case command::unsubscribe: {
          auto it = sh.topics.find(c.topic);
          if (it == sh.topics.end()) break;
          auto& members = it->second;
          auto m = std::find(members.begin(), members.end(), *c.ws);
          if (m == members.end()) break;
          members.erase(m);
          count(c.topic, -1);
          if (members.empty()) sh.topics.erase(it);
          break;
        }
        case command::publish: {
          auto it = sh.topics.find(c.topic);
          if (it == sh.topics.end()) break;
          if (c.message != last) {
            // A per-thread copy: prepared_message caches its compressed forms
            // and is not shared between threads.
            prepared.emplace(c.message->data, c.message->binary);
            last = c.message;
          }
          auto& members = it->second;
          std::size_t gone = 0;
          for (auto& ws : members) {
            if (!ws.is_open()) {
              ++gone;
              continue;
            }
            ws.post(*prepared);
          }
          sh.delivered.store(sh.delivered.load(std::memory_order_relaxed) + members.size() - gone,
                             std::memory_order_relaxed);
          if (gone) {
            std::erase_if(members, [](const websocket& ws) { return !ws.is_open(); });
            count(c.topic, -static_cast<long>(gone));
            if (members.empty()) sh.topics.erase(it);
          }
          break;
        }
        case command::send: {
          if (!c.ws->is_open()) break;
          c.ws->post(c.message->data, c.message->binary);
          sh.delivered.store(sh.delivered.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
          break;
        }
      }
    }
    sh.work.clear();
  }
};

hub::hub(std::vector<asio::io_context*> threads) : s_(std::make_shared<state>()) {
  for (auto* io : threads) {
    s_->shards.push_back(std::make_unique<shard>());
    s_->shards.back()->io = io;
  }
}

hub::~hub() = default;

void hub::subscribe(const websocket& ws, std::string topic) {
  s_->push(s_->shard_of(ws), {command::subscribe, std::move(topic), ws, nullptr});
}

void hub::unsubscribe(const websocket& ws, std::string topic) {
  s_->push(s_->shard_of(ws), {command::unsubscribe, std::move(topic), ws, nullptr});
}

void hub::publish(std::string topic, std::string data, bool binary) {
  auto message = std::make_shared<const payload>(payload{std::move(data), binary});
  for (auto& sh : s_->shards) s_->push(*sh, {command::publish, topic, std::nullopt, message});
}

void hub::send(const websocket& ws, std::string data, bool binary) {
  auto message = std::make_shared<const payload>(payload{std::move(data), binary});
  s_->push(s_->shard_of(ws), {command::send, {}, ws, std::move(message)});
}

std::size_t hub::subscribers(std::string_view topic) const {
  std::lock_guard lock(s_->registry_m);
  auto it = s_->counts.find(std::string(topic));
  return it == s_->counts.end() ? 0 : it->second;
}

std::size_t hub::deliveries() const noexcept {
  std::size_t n = 0;
  for (const auto& sh : s_->shards) n += sh->delivered.load(std::memory_order_relaxed);
  return n;
}

void post_from_any_thread(const websocket& ws, std::string data, bool binary) {
  asio::post(ws.get_executor(), [ws, data = std::move(data), binary] { websocket(ws).post(data, binary); });
}

void post_close_from_any_thread(const websocket& ws, std::uint16_t code, std::string reason) {
  asio::post(ws.get_executor(), [ws, code, reason = std::move(reason)] { websocket(ws).post_close(code, reason); });
}

}  // namespace duplex
