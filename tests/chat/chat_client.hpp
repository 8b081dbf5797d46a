// Test side of the chat: a real duplex-chat service (chat::service on a
// duplex::server on 127.0.0.1, its own thread) and a protocol-v2 client on
// duplex::connect that reads until what a test waits for.
#pragma once

#include "chat_lines.hpp"
#include "chat_service.hpp"

#include <chat_protocol.hpp>

#include <duplex/net/client.hpp>
#include <duplex/net/hub.hpp>
#include <duplex/net/io_pool.hpp>
#include <duplex/net/server.hpp>
#include <duplex/realtime/sqlite_history.hpp>
#include <duplex/redis/broker.hpp>
#include <duplex/redis/presence_manager.hpp>

#include "redis_server.hpp"  // tests/redis
#include <duplex/schema/codec.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_future.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace duplex::test {

namespace v2 = chat::wire::v2;

// DUPLEX_CHAT_ENGINES=redis (the test native.chat.redis): the same service
// on the Redis engines instead of the memory ones, with one redis-server for
// the whole run, emptied for each chat_server.
inline bool on_redis_engines() {
  const char* e = std::getenv("DUPLEX_CHAT_ENGINES");
  return e && std::string_view(e) == "redis";
}
inline std::function<void(std::string_view)> test_log() {
  if (!std::getenv("DUPLEX_TEST_LOG")) return {};
  return [](std::string_view l) { std::fprintf(stderr, "log: %.*s\n", int(l.size()), l.data()); };
}
inline redis_server& shared_redis() {
  static redis_server s;
  return s;
}

// The chat service on a real server with `threads` threads (connections
// spread over them, chat state on thread 0); history in SQLite under `dir`,
// or in memory when dir is empty. Stopped (and the store closed) by the
// destructor.
class chat_server {
 public:
  // `grace`: the presence engine's (a dropped member keeps its name this long).
  explicit chat_server(std::filesystem::path dir = {}, chat::service_config cfg = {}, std::size_t threads = 1,
                       std::chrono::milliseconds grace = std::chrono::milliseconds(5000))
      : pool_(threads) {
    if (on_redis_engines()) {
      // (No SQLite: history is Redis's.)
    } else if (dir.empty()) {
      history_ = std::make_unique<realtime::memory_history>();
    } else {
      realtime::sqlite_history_config sc;
      sc.directory = dir;
      std::error_code ec;
      history_ = realtime::sqlite_history::open(sc, ec);
      if (!history_) throw std::runtime_error("sqlite_history::open: " + ec.message());
    }
    server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    srv_ = std::make_unique<server>(pool_.contexts(), o);
    hub_ = std::make_unique<hub>(pool_.contexts());
    if (on_redis_engines()) {
      connect_redis(grace);
    } else {
      broker_ = std::make_unique<realtime::memory_broker>(*history_);
      presence_ = std::make_unique<realtime::memory_presence>(realtime::presence::config{grace});
    }
    chat::service::log_fn log;
    if (std::getenv("DUPLEX_TEST_LOG")) log = [](std::string_view l) { std::fprintf(stderr, "chat: %.*s\n", int(l.size()), l.data()); };
    svc_ = std::make_unique<chat::service>(pool_[0].get_executor(), *hub_, *broker_, *presence_, cfg, log);
    srv_->websocket("/ws/chat", svc_->callbacks(), chat::service::endpoint());
    svc_->start();
    asio::co_spawn(pool_[0], srv_->run(), asio::detached);
    pool_.start();
  }
  // Both Redis connections on thread 0 (the chat's), wired as duplex-chat's
  // main() does; connected before the pool runs.
  void connect_redis(std::chrono::milliseconds grace) {
    auto opts = redis::options_from_url(shared_redis().url());
    auto sub_opts = opts;
    opts.on_state = [this](redis::link_state, std::error_code) {
      if (redis_broker_) redis_broker_->on_state(false);
    };
    sub_opts.on_state = [this](redis::link_state st, std::error_code) {
      if (redis_broker_) redis_broker_->on_state(st == redis::link_state::up);
    };
    auto connected = asio::co_spawn(
        pool_[0],
        [&]() -> asio::awaitable<void> {
          redis_ = co_await redis::client::connect(opts);
          redis_sub_ = co_await redis::subscriber::connect(sub_opts, [this](std::string_view ch, std::string_view p) {
            if (redis_broker_) redis_broker_->on_message(ch, p);
          });
          co_await redis_.command("FLUSHALL");
        },
        asio::use_future);
    while (connected.wait_for(std::chrono::seconds(0)) != std::future_status::ready) pool_[0].run_one();
    connected.get();
    pool_[0].restart();
    auto b = std::make_unique<redis::redis_broker>(redis_, redis_sub_, redis::broker_options{.node = "test", .log = test_log()});
    redis_broker_ = b.get();
    broker_ = std::move(b);
    presence_ = std::make_unique<redis::redis_presence>(redis_, redis::presence_options{.node = "test"},
                                                        realtime::presence::config{grace});
  }
  ~chat_server() {
    asio::post(pool_[0], asio::use_future([this] {
      svc_->stop();
      srv_->stop();
    })).get();
    pool_.stop();
    pool_.join();
    // Run what is still queued (hub batches hold connections of every
    // thread): destroying it with the io_contexts would touch connections
    // whose io_context is already gone.
    for (int round = 0; round < 3; ++round)
      for (std::size_t i = 0; i < pool_.size(); ++i) {
        pool_[i].restart();
        pool_[i].poll();
      }
    svc_.reset();
    hub_.reset();
    srv_.reset();
    presence_.reset();
    redis_broker_ = nullptr;
    broker_.reset();
    redis_sub_ = {};
    redis_ = {};
    history_.reset();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(srv_->port()) + "/ws/chat"; }
  // Runs f on the service's thread and returns its result.
  template <class F>
  auto on_service(F f) {
    return asio::post(pool_[0], asio::use_future([this, f] { return f(*svc_); })).get();
  }

 private:
  io_pool pool_;
  std::unique_ptr<realtime::history_engine> history_;
  redis::client redis_;          // the Redis engines' connections (on_redis_engines())
  redis::subscriber redis_sub_;
  redis::redis_broker* redis_broker_ = nullptr;
  std::unique_ptr<realtime::broker> broker_;
  std::unique_ptr<realtime::presence_manager> presence_;
  std::unique_ptr<server> srv_;
  std::unique_ptr<hub> hub_;
  std::unique_ptr<chat::service> svc_;
};

// One protocol-v2 connection (or v5: open_v5). Everything received is kept
// in `seen` (version 5's messages include every version-2 one).
// (Arguments of these coroutines are pointers or references, never
// temporaries with destructors: GCC 12 destroys those twice when they live
// across a co_await in the same full-expression.)
struct chat_client {
  websocket ws;
  std::vector<chat::wire::v5::server_message> seen;
  std::uint64_t bytes = 0;
  bool v5 = false;

  static asio::awaitable<chat_client> open(const chat_server& srv) { return open_as(srv, false); }
  static asio::awaitable<chat_client> open_v5(const chat_server& srv) { return open_as(srv, true); }
  static asio::awaitable<chat_client> open_as(const chat_server& srv, bool v5) {
    connect_options o;
    o.subprotocols = {v5 ? schema::subprotocol_name<chat::wire::chat_protocol_v5>()
                         : schema::subprotocol_name<chat::wire::chat_protocol_v2>()};
    o.websocket.max_message_size = 4 << 20;
    const std::string url = srv.url();
    auto ws = co_await duplex::connect(url, o);
    if (ws.subprotocol() != o.subprotocols[0]) throw std::runtime_error("server chose " + ws.subprotocol());
    co_return chat_client{ws, {}, 0, v5};
  }
  // Queues a message (no suspension).
  void post(const v2::client_message& m) { ws.post(schema::encode(m)); }
  void post5(const chat::wire::v5::client_message& m) { ws.post(schema::encode(m)); }
  void post_raw(std::string_view json) { ws.post(json); }

  // Reads until a message of type M satisfying pred (if any) arrives.
  template <class M>
  asio::awaitable<M> until(bool (*pred)(const M&, const void*) = nullptr, const void* arg = nullptr) {
    message in;
    while (co_await ws.read(in)) {
      bytes += in.data.size();
      auto d = v5 ? schema::decode<chat::wire::v5::server_message>(in.data) : widen(in.data);
      if (!d) throw std::runtime_error("undecodable server message: " + std::string(in.data));
      seen.push_back(*d);
      if (auto* m = std::get_if<M>(&seen.back()); m && (!pred || pred(*m, arg))) co_return *m;
    }
    throw std::runtime_error("connection closed while waiting (code " + std::to_string(ws.close_code()) + " " + ws.close_reason() + ")");
  }
  // A version-2 connection decodes only version 2's messages.
  static schema::decode_result<chat::wire::v5::server_message> widen(std::string_view data) {
    auto d = schema::decode<v2::server_message>(data);
    if (!d) return schema::decode_result<chat::wire::v5::server_message>(d.error());
    return std::visit([](auto& m) { return schema::decode_result<chat::wire::v5::server_message>(chat::wire::v5::server_message(m)); }, *d);
  }
  // Reads until a presence message (snapshot, diff or version 5's summary)
  // says the room has `total` members.
  asio::awaitable<void> until_total(std::uint64_t total) {
    for (auto it = seen.rbegin(); it != seen.rend(); ++it)
      if (auto t = total_in(*it)) {
        if (*t == total) co_return;
        break;
      }
    message in;
    while (co_await ws.read(in)) {
      bytes += in.data.size();
      auto d = v5 ? schema::decode<chat::wire::v5::server_message>(in.data) : widen(in.data);
      if (!d) throw std::runtime_error("undecodable server message: " + std::string(in.data));
      seen.push_back(*d);
      if (total_in(seen.back()) == std::optional<std::uint64_t>(total)) co_return;
    }
    throw std::runtime_error("connection closed while waiting (code " + std::to_string(ws.close_code()) + ")");
  }
  static std::optional<std::uint64_t> total_in(const chat::wire::v5::server_message& m) {
    if (auto* p = std::get_if<v2::presence>(&m)) return p->total;
    if (auto* d = std::get_if<v2::presence_diff>(&m)) return d->total;
    if (auto* s = std::get_if<chat::wire::v5::presence_summary>(&m)) return s->total;
    return std::nullopt;
  }
  // Reads until the chat line with this text.
  asio::awaitable<v2::message> until_text(const std::string& text) {
    return until<v2::message>([](const v2::message& m, const void* t) { return m.text == *static_cast<const std::string*>(t); },
                              &text);
  }
  // Every chat line seen so far, live or in history frames, in arrival order.
  std::vector<v2::message> lines() const { return chat_lines(seen); }
  template <class M>
  std::size_t count() const {
    std::size_t n = 0;
    for (auto& m : seen) n += std::holds_alternative<M>(m);
    return n;
  }
};

}  // namespace duplex::test
