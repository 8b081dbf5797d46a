// duplex::redis::subscriber: a Redis connection in pub/sub mode. Channels
// are added and removed at run time; the set is kept across reconnects
// (resubscribed in one SUBSCRIBE after each reconnect), and
// options::on_state reports down on a loss and up once every channel is
// subscribed again, so the app can mark itself degraded meanwhile and
// catch up from history afterwards (messages published while down are
// not delivered: Redis pub/sub is at most once).
//
//   auto sub = co_await subscriber::connect(opts, [](std::string_view channel, std::string_view payload) { ... });
//   co_await sub.subscribe("room.1");   // returns once Redis confirmed it
//   sub.unsubscribe("room.1");
#pragma once

#include <duplex/redis/error.hpp>
#include <duplex/redis/options.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace duplex::redis {

class subscriber {
 public:
  // Called on the subscriber's executor for each message on a subscribed
  // channel. The views are valid during the call only.
  using message_handler = std::function<void(std::string_view channel, std::string_view payload)>;

  // Connects on the calling coroutine's executor; throws std::system_error
  // like client::connect.
  static asio::awaitable<subscriber> connect(options opts, message_handler on_message);
  // Returns at once and connects in the background (start degraded).
  static subscriber start(asio::any_io_executor ex, options opts, message_handler on_message);

  // Empty (like a moved-from one): only assign to it. Exists because
  // asio::co_spawn needs default-constructible results.
  subscriber() noexcept = default;
  subscriber(subscriber&&) noexcept;
  subscriber& operator=(subscriber&&) noexcept;
  ~subscriber();  // close()

  // Adds `channel` to the set kept subscribed and completes once Redis has
  // confirmed it: anything published after that is delivered. While down,
  // ec = not_connected at once (the channel is still subscribed on
  // reconnect); lost before the confirmation: connection_lost. Callable
  // from any executor.
  asio::awaitable<void> subscribe(std::string channel, std::error_code& ec);
  asio::awaitable<void> subscribe(std::string channel);  // throws std::system_error
  // Removes `channel` from the set; no message for it is delivered after
  // this call. Must be called on the subscriber's executor.
  void unsubscribe(std::string_view channel);

  // The channel is in the set and Redis confirmed it on this connection.
  // This and channel_count(): on the subscriber's executor only.
  bool is_subscribed(std::string_view channel) const;
  std::size_t channel_count() const noexcept;  // the set, confirmed or not
  // Connected. Safe from any thread. (After a reconnect, a subscriber's
  // on_state reports up only once its channels are subscribed again.)
  bool is_up() const noexcept;
  asio::any_io_executor get_executor() const noexcept;
  // Like the destructor: on the object's executor, or while it is not running.
  void close() noexcept;

  struct impl;

 private:
  explicit subscriber(std::shared_ptr<impl> p) noexcept;
  std::shared_ptr<impl> impl_;
};

}  // namespace duplex::redis
