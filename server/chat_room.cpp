#include "chat_room.hpp"

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>

namespace duplex::chat {

asio::awaitable<void> room::serve(websocket socket) {
  auto ch = co_await channel::accept(std::move(socket));
  if (!ch) co_return;  // no protocol version in common: closed with 4406 and a reason
  websocket& ws = ch->socket();
  std::string name;  // empty until a successful join
  while (auto decoded = co_await ch->read()) {  // decoded on the connection's thread
    if (!*decoded) {
      reply(ws, schema::error{"bad_message", decoded->error().detail});
      continue;
    }
    co_await in_room([&] {
      if (auto* j = std::get_if<schema::join>(&**decoded))
        on_join(ws, name, std::move(*j));
      else
        on_chat(ws, name, std::move(std::get<schema::chat>(**decoded)));
    });
  }
  if (!name.empty()) co_await in_room([&] { leave(name); });
}

template <class F>
asio::awaitable<void> room::in_room(F f) {
  co_await asio::co_spawn(
      ex_, [&f]() -> asio::awaitable<void> { f(); co_return; }, asio::use_awaitable);
}

void room::on_join(websocket& ws, std::string& name, schema::join j) {
  if (!name.empty()) {
    reply(ws, schema::error{"already_joined", "you already joined as " + name});
    return;
  }
  if (members_.contains(j.name)) {
    reply(ws, schema::error{"name_taken", "the name " + j.name + " is in use"});
    return;
  }
  name = std::move(j.name);
  members_.emplace(name, ws);
  hub_.subscribe(ws, std::string(topic));  // before the broadcast: the joiner sees its own join
  if (log_) log_("join " + ws.remote_address() + " " + name);
  broadcast(schema::joined{name});
  broadcast(online());
}

void room::on_chat(websocket& ws, const std::string& name, schema::chat c) {
  if (name.empty()) {
    reply(ws, schema::error{"not_joined", "join with a name before chatting"});
    return;
  }
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  broadcast(schema::message{name, std::move(c.text), now.count()});
}

void room::leave(const std::string& name) {
  if (auto it = members_.find(name); it != members_.end()) {
    hub_.unsubscribe(it->second, std::string(topic));
    members_.erase(it);
  }
  if (log_) log_("leave " + name);
  broadcast(schema::left{name});
  broadcast(online());
}

void room::broadcast(const schema::server_message& m) {
  hub_.publish(std::string(topic), schema::encode(m));  // compressed at most once per thread and setting
}

schema::presence room::online() const {
  schema::presence p;
  p.users.reserve(members_.size());
  for (const auto& [n, _] : members_) p.users.push_back(n);
  return p;
}

// Replies are made on the room's executor, not the connection's.
void room::reply(websocket& ws, const schema::server_message& m) { post_from_any_thread(ws, schema::encode(m)); }

}  // namespace duplex::chat
