#include <duplex/redis/client.hpp>

#include "keeper.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <openssl/sha.h>

#include <deque>

namespace duplex::redis {

using asio::redirect_error;
using asio::use_awaitable;

script::script(std::string src) : source(std::move(src)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(source.data()), source.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  for (unsigned char b : digest) {
    sha1 += hex[b >> 4];
    sha1 += hex[b & 15];
  }
}

using pending = detail::waiter<reply>;

struct client::impl final : detail::keeper {
  using keeper::keeper;

  std::deque<std::shared_ptr<pending>> inflight;  // sent or queued, in order, awaiting replies

  void on_up(bool reconnected) override {
    if (reconnected) report(link_state::up, {});
  }

  void on_reply(reply r, std::error_code& ec) override {
    if (inflight.empty()) {
      ec = errc::protocol_error;  // a reply nobody asked for
      return;
    }
    auto p = std::move(inflight.front());
    inflight.pop_front();
    p->finish(std::move(r), {});
  }

  void on_down(std::error_code why) override {
    const std::error_code ec = why == errc::closed ? why : make_error_code(errc::connection_lost);
    auto lost = std::move(inflight);
    inflight.clear();
    for (auto& p : lost) p->finish({}, ec);
  }

  void send_ping() override {
    auto p = std::make_shared<pending>(executor());
    p->done = true;  // nobody waits: the reply only proves the link is alive
    inflight.push_back(std::move(p));
    send(detail::ping_packet());
  }

  // Runs on the client's executor.
  asio::awaitable<reply> exec(std::string packet, std::error_code& ec) {
    ec.clear();
    if (is_closed() || !is_up()) {
      ec = is_closed() ? errc::closed : errc::not_connected;
      co_return reply{};
    }
    auto p = std::make_shared<pending>(executor());
    inflight.push_back(p);
    send(packet);
    co_await p->wait(opts().command_timeout);
    ec = p->ec;
    co_return std::move(p->value);
  }
};

namespace {

asio::awaitable<reply> call(std::shared_ptr<client::impl> p, std::string packet, std::error_code& ec) {
  auto op = p->exec(std::move(packet), ec);
  reply r = co_await detail::on_executor(p->executor(), std::move(op));
  co_return r;
}

asio::awaitable<reply> call_or_throw(std::shared_ptr<client::impl> p, std::string packet) {
  std::error_code ec;
  reply r = co_await call(std::move(p), std::move(packet), ec);
  if (ec) throw std::system_error(ec, "redis");
  co_return r;
}

bool is_noscript(const reply& r) { return r.is_error() && r.str.compare(0, 8, "NOSCRIPT") == 0; }

// format_eval()'s request as EVAL with the script's source (which also
// caches it). Retrying with it after NOSCRIPT is one request: a SCRIPT LOAD
// and then EVALSHA again let a later EVALSHA, sent after the LOAD, run
// first (two lines published across a Redis restart came out in the wrong
// order). Kept out of the coroutines: GCC 12 rejects braced lists in them.
std::string as_eval(const std::string& evalsha_packet, const script& s) {
  // "*N\r\n", then EVALSHA and the hash as format_command() wrote them.
  const std::size_t args_at = evalsha_packet.find("\r\n") + 2;
  const std::size_t replaced = format_command({"EVALSHA", s.sha1}).size() - 4;  // without its "*2\r\n"
  const std::string eval = format_command({"EVAL", s.source});
  return evalsha_packet.substr(0, args_at) + eval.substr(4) + evalsha_packet.substr(args_at + replaced);
}

asio::awaitable<reply> eval_impl(std::shared_ptr<client::impl> p, const script* s, std::string packet,
                                 std::error_code& ec) {
  reply r = co_await call(p, packet, ec);
  if (ec || !is_noscript(r)) co_return r;
  r = co_await call(p, as_eval(packet, *s), ec);
  co_return r;
}

asio::awaitable<reply> eval_or_throw(std::shared_ptr<client::impl> p, const script* s, std::string packet) {
  std::error_code ec;
  reply r = co_await eval_impl(std::move(p), s, std::move(packet), ec);
  if (ec) throw std::system_error(ec, "redis");
  co_return r;
}

std::string format_eval(const script& s, std::size_t numkeys, const std::vector<std::string_view>& keys_then_args) {
  const std::string n = std::to_string(numkeys);
  std::vector<std::string_view> argv;
  argv.reserve(3 + keys_then_args.size());
  argv.push_back("EVALSHA");
  argv.push_back(s.sha1);
  argv.push_back(n);
  argv.insert(argv.end(), keys_then_args.begin(), keys_then_args.end());
  return format_command(argv);
}

std::vector<std::string_view> concat(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b) {
  std::vector<std::string_view> out(a);
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace

client::client(std::shared_ptr<impl> p) noexcept : impl_(std::move(p)) {}
client::client(client&&) noexcept = default;
client& client::operator=(client&& other) noexcept {
  if (this != &other) {
    close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
client::~client() { close(); }

asio::awaitable<client> client::connect(options opts) {
  auto ex = co_await asio::this_coro::executor;
  auto first = co_await detail::open_or_throw(ex, opts);
  auto p = std::make_shared<impl>(ex, std::move(opts));
  p->start(std::move(first));
  co_return client(std::move(p));
}

client client::start(asio::any_io_executor ex, options opts) {
  auto p = std::make_shared<impl>(ex, std::move(opts));
  p->start(nullptr);
  return client(std::move(p));
}

asio::awaitable<reply> client::command(const std::vector<std::string_view>& args, std::error_code& ec) {
  return call(impl_, format_command(args), ec);
}

asio::awaitable<reply> client::command(const std::vector<std::string_view>& args) {
  return call_or_throw(impl_, format_command(args));
}

asio::awaitable<reply> client::eval(const script& s, const std::vector<std::string_view>& keys,
                                    const std::vector<std::string_view>& args, std::error_code& ec) {
  return eval_impl(impl_, &s, format_eval(s, keys.size(), concat(keys, args)), ec);
}

asio::awaitable<reply> client::eval(const script& s, const std::vector<std::string_view>& keys,
                                    const std::vector<std::string_view>& args) {
  return eval_or_throw(impl_, &s, format_eval(s, keys.size(), concat(keys, args)));
}

asio::awaitable<reply> client::eval_argv(const script& s, std::size_t numkeys,
                                         const std::vector<std::string_view>& keys_then_args, std::error_code* ec) {
  if (ec) return eval_impl(impl_, &s, format_eval(s, numkeys, keys_then_args), *ec);
  return eval_or_throw(impl_, &s, format_eval(s, numkeys, keys_then_args));
}

asio::awaitable<reply> client::raw(std::string packet, std::error_code& ec) { return call(impl_, std::move(packet), ec); }

bool client::is_up() const noexcept { return impl_ && impl_->is_up_atomic(); }
asio::any_io_executor client::get_executor() const noexcept { return impl_ ? impl_->executor() : asio::any_io_executor{}; }

void client::close() noexcept {
  if (impl_) impl_->close();
}

}  // namespace duplex::redis
