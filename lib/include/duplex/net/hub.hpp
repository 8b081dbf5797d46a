// duplex::hub: publish/subscribe by topic across a server's threads.
//
//   duplex::hub hub(pool.contexts());          // the server's io_contexts
//   srv.websocket("/feed", [&](duplex::websocket ws) -> asio::awaitable<void> {
//     hub.subscribe(ws, "news");
//     while (co_await ws.read()) {}
//     hub.unsubscribe(ws, "news");              // or left to the next publish
//   });
//   hub.publish("news", R"({"headline":"..."})");  // from any thread
//
// Every call may come from any thread. The hub has one shard per thread;
// each shard owns its thread's subscribers and a queue that other threads
// append to (the only lock, held for a push or a swap). A publish is encoded
// once by the caller, shared by all shards, compressed at most once per
// thread and compressor setting (prepared_message), and queued by each shard
// on its own thread for its own members: no lock or atomic on a
// connection's path.
//
// Order: the calls one thread makes reach every shard in that order, so the
// messages of one publisher arrive in order, and a subscribe followed by a
// publish delivers that publish to the new subscriber. Sends never wait: a
// member whose queue is full gets the server's overflow policy (use
// overflow_policy::close so that one slow reader is cut off instead of
// slowing down its thread). Members whose connection closed are dropped on
// the next publish to their topic.
//
// The hub must outlive the work it queued: destroy it after its io_contexts
// stop.
#pragma once

#include <duplex/net/websocket.hpp>

#include <asio/io_context.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace duplex {

class hub {
 public:
  // The io_contexts the subscribers' connections run on (server::contexts()).
  explicit hub(std::vector<asio::io_context*> threads);
  ~hub();
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  // Takes effect on the websocket's own thread, in order with this thread's
  // publishes. Throws std::invalid_argument if the websocket runs on none of
  // the hub's io_contexts. Subscribing twice is subscribing once.
  void subscribe(const websocket& ws, std::string topic);
  void unsubscribe(const websocket& ws, std::string topic);
  // Sends `data` to every member of `topic` on every thread.
  void publish(std::string topic, std::string data, bool binary = false);
  // Sends `data` to one connection, on its thread, in order with this
  // thread's publishes and subscription changes (a reply sent before
  // subscribing the connection to a topic arrives before that topic's next
  // publish). Dropped if the connection closed.
  void send(const websocket& ws, std::string data, bool binary = false);

  // Members of `topic` over all threads, as of the changes applied so far.
  std::size_t subscribers(std::string_view topic) const;
  // Messages handed to members so far (sent or refused by overflow).
  std::size_t deliveries() const noexcept;

  struct state;

 private:
  std::shared_ptr<state> s_;
};

// The safe way to send to a websocket from a thread other than its own: the
// message is copied and sent on the connection's thread (websocket::post();
// refused silently if the connection closed or its queue is full).
// websocket::send()/post() themselves are for the connection's own thread.
void post_from_any_thread(const websocket& ws, std::string data, bool binary = false);
// The same for websocket::post_close(): starts the close handshake on the
// connection's thread (nothing happens if it is closed already).
void post_close_from_any_thread(const websocket& ws, std::uint16_t code, std::string reason = {});

}  // namespace duplex
