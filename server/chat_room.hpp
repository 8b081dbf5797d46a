// The chat room behind /ws/chat: names, the online list, and broadcast.
// Speaks duplex::schema (the same types the WASM client uses).
//
// Members may be on any of the server's threads. The room's state lives on
// one executor: each connection decodes on its own thread and hops to the
// room's executor to act; broadcasts go out through the hub, which hands
// them to every thread's members on their own thread.
#pragma once

#include <duplex/net/channel.hpp>
#include <duplex/net/hub.hpp>
#include <duplex/net/websocket.hpp>
#include <duplex/schema/chat.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace duplex::chat {

class room {
 public:
  using channel = duplex::channel<schema::chat_protocol>;
  // What the endpoint serving this room needs: the protocol's subprotocol
  // (duplex.chat.v1) and acceptance of other versions, to refuse them readably.
  static endpoint_options endpoint() { return protocol_endpoint<schema::chat_protocol>(); }

  room(hub& topics, asio::any_io_executor ex, std::function<void(std::string_view)> log = {})
      : hub_(topics), ex_(std::move(ex)), log_(std::move(log)) {}

  // The WebSocket handler: one call per connection, returns when it closes.
  asio::awaitable<void> serve(websocket ws);

  // The hub topic the members are subscribed to.
  static constexpr std::string_view topic = "chat";

 private:
  // Runs f() on the room's executor and resumes on the caller's.
  template <class F>
  asio::awaitable<void> in_room(F f);
  void on_join(websocket& ws, std::string& name, schema::join j);
  void on_chat(websocket& ws, const std::string& name, schema::chat c);
  void leave(const std::string& name);
  // Encodes once and queues the same bytes for every member. Never waits:
  // a member whose queue is full is closed (overflow_policy::close) rather
  // than slowing the room down.
  void broadcast(const schema::server_message& m);
  schema::presence online() const;
  static void reply(websocket& ws, const schema::server_message& m);

  hub& hub_;
  asio::any_io_executor ex_;
  std::map<std::string, websocket, std::less<>> members_;  // by name; ordered for the online list
  std::function<void(std::string_view)> log_;
};

}  // namespace duplex::chat
