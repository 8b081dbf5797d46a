#include <duplex/realtime/broker.hpp>

#include <utility>

namespace duplex::realtime {

void memory_broker::publish(std::string_view channel, std::string payload, publish_handler done) {
  std::string kept = payload;  // the history engine takes its own copy
  history_.publish(channel, std::move(payload),
                   [this, ch = std::string(channel), kept = std::move(kept), done = std::move(done)](
                       std::error_code ec, stream_position pos) {
                     if (!ec) {
                       if (auto it = subscribed_.find(ch); it != subscribed_.end()) {
                         it->second = pos;
                         if (handlers_.publication) handlers_.publication(ch, pos, kept);
                       }
                     }
                     if (done) done(ec, std::move(pos));
                   });
}

void memory_broker::subscribe(std::string_view channel, subscribe_handler ready) {
  auto [it, added] = subscribed_.try_emplace(std::string(channel));
  if (!added && !it->second.epoch.empty()) {  // every publication since went through publish()
    if (ready) ready({}, it->second);
    return;
  }
  history_.recent(channel, 0, [this, ch = std::string(channel), ready = std::move(ready)](std::error_code ec,
                                                                                          history_page page) {
    if (auto it = subscribed_.find(ch); it != subscribed_.end() && !ec) it->second = page.top;
    if (ready) ready(ec, std::move(page.top));
  });
}

void memory_broker::unsubscribe(std::string_view channel) {
  if (auto it = subscribed_.find(channel); it != subscribed_.end()) subscribed_.erase(it);
}

stream_position memory_broker::position(std::string_view channel) const {
  auto it = subscribed_.find(channel);
  return it == subscribed_.end() ? stream_position{} : it->second;
}

}  // namespace duplex::realtime
