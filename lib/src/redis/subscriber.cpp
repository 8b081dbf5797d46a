#include <duplex/redis/subscriber.hpp>

#include "keeper.hpp"

#include <unordered_map>
#include <vector>

namespace duplex::redis {

namespace {

using confirmation = detail::waiter<bool>;

struct channel_state {
  bool confirmed = false;
  // SUBSCRIBE acks still due from before this entry was (re)created: an
  // unsubscribe and subscribe in quick succession must not take the old
  // SUBSCRIBE's ack as its own.
  int stale_acks = 0;
  std::vector<std::shared_ptr<confirmation>> waiters;
};

// Kept out of the coroutines: GCC 12 rejects braced lists inside them.
std::string format_one(std::string_view verb, std::string_view channel) { return format_command({verb, channel}); }

}  // namespace

struct subscriber::impl final : detail::keeper {
  impl(asio::any_io_executor ex, options o, message_handler h) : keeper(std::move(ex), std::move(o)), on_message(std::move(h)) {}

  message_handler on_message;
  std::unordered_map<std::string, channel_state> channels;  // the set kept subscribed
  std::unordered_map<std::string, int> acks_due;            // SUBSCRIBEs sent on this connection, not yet acked
  std::size_t resync_left = 0;  // acks of the resubscribe batch still to come before reporting up

  void send_subscribe(const std::string& channel) {
    send(format_one("SUBSCRIBE", channel));
    ++acks_due[channel];
  }

  void send_ping() override { send(detail::ping_packet()); }  // answered ["pong", ""] in pub/sub mode

  void on_up(bool reconnected) override {
    acks_due.clear();
    resync_left = channels.size();
    if (channels.empty()) {
      if (reconnected) report(link_state::up, {});
      return;
    }
    // One SUBSCRIBE per batch of channels rather than one per channel.
    constexpr std::size_t batch = 512;
    std::vector<std::string_view> argv;
    for (auto& [name, st] : channels) {
      st.confirmed = false;
      st.stale_acks = 0;
      if (argv.empty()) argv.push_back("SUBSCRIBE");
      argv.push_back(name);
      ++acks_due[name];
      if (argv.size() == batch + 1) {
        send(format_command(argv));
        argv.clear();
      }
    }
    if (!argv.empty()) send(format_command(argv));
  }

  void on_reply(reply r, std::error_code& ec) override {
    if (!r.is_array() || r.elements.size() < 2) {
      ec = errc::protocol_error;
      return;
    }
    const std::string& kind = r.elements[0].str;
    const std::string& channel = r.elements[1].str;
    if (kind == "message" && r.elements.size() == 3) {
      if (channels.count(channel) && on_message) on_message(channel, r.elements[2].str);
    } else if (kind == "subscribe") {
      if (auto due = acks_due.find(channel); due != acks_due.end() && --due->second == 0) acks_due.erase(due);
      if (auto it = channels.find(channel); it != channels.end()) {
        if (it->second.stale_acks > 0) {
          --it->second.stale_acks;
        } else {
          it->second.confirmed = true;
          for (auto& w : std::exchange(it->second.waiters, {})) w->finish(true, {});
        }
      }
      if (resync_left > 0 && --resync_left == 0) report(link_state::up, {});
    }
    // "unsubscribe" acks and "pong" need nothing.
  }

  void on_down(std::error_code why) override {
    const std::error_code ec = why == errc::closed ? why : make_error_code(errc::connection_lost);
    acks_due.clear();
    resync_left = 0;
    for (auto& [name, st] : channels) {
      st.confirmed = false;
      st.stale_acks = 0;
      for (auto& w : std::exchange(st.waiters, {})) w->finish(false, ec);
    }
  }

  // Runs on the subscriber's executor.
  asio::awaitable<void> exec_subscribe(std::string channel, std::error_code& ec) {
    ec.clear();
    if (is_closed()) {
      ec = errc::closed;
      co_return;
    }
    auto [it, added] = channels.try_emplace(channel);
    channel_state& st = it->second;
    if (!is_up()) {
      ec = errc::not_connected;  // kept in the set: subscribed on reconnect
      co_return;
    }
    if (st.confirmed) co_return;
    if (added) {
      if (auto due = acks_due.find(channel); due != acks_due.end()) st.stale_acks = due->second;
      send_subscribe(channel);
    }
    auto w = std::make_shared<confirmation>(executor());
    st.waiters.push_back(w);
    co_await w->wait(opts().command_timeout);
    ec = w->ec;
  }

  void unsubscribe(std::string_view channel) {
    auto it = channels.find(std::string(channel));
    if (it == channels.end()) return;
    for (auto& w : it->second.waiters) w->finish(false, make_error_code(asio::error::operation_aborted));
    channels.erase(it);
    if (is_up()) send(format_one("UNSUBSCRIBE", channel));
  }
};

namespace {

asio::awaitable<void> subscribe_impl(std::shared_ptr<subscriber::impl> p, std::string channel, std::error_code& ec) {
  auto op = p->exec_subscribe(std::move(channel), ec);
  co_await detail::on_executor(p->executor(), std::move(op));
}

asio::awaitable<void> subscribe_or_throw(std::shared_ptr<subscriber::impl> p, std::string channel) {
  std::error_code ec;
  co_await subscribe_impl(std::move(p), channel, ec);
  if (ec) throw std::system_error(ec, "redis: subscribe " + channel);
}

}  // namespace

subscriber::subscriber(std::shared_ptr<impl> p) noexcept : impl_(std::move(p)) {}
subscriber::subscriber(subscriber&&) noexcept = default;
subscriber& subscriber::operator=(subscriber&& other) noexcept {
  if (this != &other) {
    close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
subscriber::~subscriber() { close(); }

asio::awaitable<subscriber> subscriber::connect(options opts, message_handler on_message) {
  auto ex = co_await asio::this_coro::executor;
  auto first = co_await detail::open_or_throw(ex, opts);
  auto p = std::make_shared<impl>(ex, std::move(opts), std::move(on_message));
  p->start(std::move(first));
  co_return subscriber(std::move(p));
}

subscriber subscriber::start(asio::any_io_executor ex, options opts, message_handler on_message) {
  auto p = std::make_shared<impl>(ex, std::move(opts), std::move(on_message));
  p->start(nullptr);
  return subscriber(std::move(p));
}

asio::awaitable<void> subscriber::subscribe(std::string channel, std::error_code& ec) {
  return subscribe_impl(impl_, std::move(channel), ec);
}

asio::awaitable<void> subscriber::subscribe(std::string channel) { return subscribe_or_throw(impl_, std::move(channel)); }

void subscriber::unsubscribe(std::string_view channel) {
  if (impl_) impl_->unsubscribe(channel);
}

bool subscriber::is_subscribed(std::string_view channel) const {
  if (!impl_) return false;
  auto it = impl_->channels.find(std::string(channel));
  return it != impl_->channels.end() && it->second.confirmed;
}

std::size_t subscriber::channel_count() const noexcept { return impl_ ? impl_->channels.size() : 0; }
bool subscriber::is_up() const noexcept { return impl_ && impl_->is_up_atomic(); }
asio::any_io_executor subscriber::get_executor() const noexcept {
  return impl_ ? impl_->executor() : asio::any_io_executor{};
}
void subscriber::close() noexcept {
  if (impl_) impl_->close();
}

}  // namespace duplex::redis
