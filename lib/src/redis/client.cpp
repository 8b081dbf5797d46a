#include <duplex/redis/client.hpp>

#include "link.hpp"

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

namespace {

// One request in the pipeline. The waiter sleeps on `timer` (armed with the
// command timeout); the reader cancels it when the reply is in.
struct pending {
  explicit pending(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  reply value;
  std::error_code ec;
  bool done = false;  // also set when the waiter gave up (timeout): the reply is then dropped
};

}  // namespace

struct client::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor e, options o)
      : ex(std::move(e)), opts(std::move(o)), wake(ex), retry(ex), delays(opts.backoff_min, opts.backoff_max) {}

  asio::any_io_executor ex;
  options opts;
  std::shared_ptr<detail::link> conn;  // the current connection while up
  bool up = false;
  bool closed = false;
  std::string out;      // formatted requests not yet handed to the socket
  std::string sending;  // the batch being written
  asio::steady_timer wake;   // the writer sleeps on it while `out` is empty
  asio::steady_timer retry;  // reconnect backoff
  std::deque<std::shared_ptr<pending>> inflight;  // sent or queued, in order, awaiting replies
  detail::backoff delays;

  void finish(pending& p, reply r, std::error_code ec) {
    if (p.done) return;
    p.done = true;
    p.value = std::move(r);
    p.ec = ec;
    p.timer.cancel();
  }

  void fail_all(std::error_code ec) {
    auto lost = std::move(inflight);
    inflight.clear();
    out.clear();
    for (auto& p : lost) finish(*p, {}, ec);
  }

  void report(link_state s, std::error_code ec) {
    if (opts.on_state) opts.on_state(s, ec);
  }

  // Runs on `ex`.
  asio::awaitable<reply> exec(std::string packet, std::error_code& ec) {
    ec.clear();
    if (closed || !up) {
      ec = closed ? errc::closed : errc::not_connected;
      co_return reply{};
    }
    auto p = std::make_shared<pending>(ex);
    p->timer.expires_after(opts.command_timeout);
    inflight.push_back(p);
    out += packet;
    wake.cancel();
    std::error_code ignored;
    co_await p->timer.async_wait(redirect_error(use_awaitable, ignored));
    if (!p->done) {
      p->done = true;
      ec = errc::timeout;
      co_return reply{};
    }
    ec = p->ec;
    co_return std::move(p->value);
  }

  asio::awaitable<void> writer(std::shared_ptr<impl> self, std::shared_ptr<detail::link> l) {
    std::error_code ec;
    while (!closed && conn == l) {
      if (out.empty()) {
        wake.expires_at(asio::steady_timer::time_point::max());
        co_await wake.async_wait(redirect_error(use_awaitable, ec));
        continue;
      }
      sending.clear();
      std::swap(sending, out);
      co_await l->write(sending, ec);
      if (ec) {
        l->close();  // the reader sees it and reports the loss
        co_return;
      }
    }
  }

  asio::awaitable<std::error_code> reader(std::shared_ptr<detail::link> l) {
    std::error_code ec;
    for (;;) {
      reply r = co_await l->read(ec);
      if (ec) co_return ec;
      if (inflight.empty()) co_return errc::protocol_error;  // a reply nobody asked for
      auto p = std::move(inflight.front());
      inflight.pop_front();
      finish(*p, std::move(r), {});
    }
  }

  // Keeps a connection up until close(): serve, and on loss fail what is in
  // flight, then reconnect with backoff.
  asio::awaitable<void> run(std::shared_ptr<impl> self, std::shared_ptr<detail::link> l) {
    std::error_code ec;
    for (;;) {
      if (!l) {
        l = std::make_shared<detail::link>(ex);
        co_await l->open(opts, ec);
        if (closed) co_return;
        if (ec) {
          l.reset();
          const auto d = delays.next();
          detail::log(opts, "connect to " + to_string(opts.server) + " failed: " + detail::describe(ec) +
                                "; retrying in " + std::to_string(d.count()) + " ms");
          retry.expires_after(d);
          co_await retry.async_wait(redirect_error(use_awaitable, ec));
          if (closed) co_return;
          continue;
        }
        detail::log(opts, "connected to " + to_string(opts.server));
        delays.reset();
        up = true;
        conn = l;
        report(link_state::up, {});
      }
      asio::co_spawn(ex, writer(self, l), asio::detached);
      ec = co_await reader(l);
      up = false;
      conn.reset();
      l->close();
      l.reset();
      wake.cancel();
      if (closed) co_return;
      fail_all(make_error_code(errc::connection_lost));
      detail::log(opts, "connection to " + to_string(opts.server) + " lost: " + detail::describe(ec));
      report(link_state::down, ec);
      retry.expires_after(delays.next());
      co_await retry.async_wait(redirect_error(use_awaitable, ec));
      if (closed) co_return;
    }
  }
};

namespace {

// Runs the request on the client's executor, hopping there and back when
// the caller's coroutine lives elsewhere (another thread's io_context).
asio::awaitable<reply> call(std::shared_ptr<client::impl> p, std::string packet, std::error_code& ec) {
  auto here = co_await asio::this_coro::executor;
  if (here == p->ex) co_return co_await p->exec(std::move(packet), ec);
  auto op = p->exec(std::move(packet), ec);
  reply r = co_await asio::co_spawn(p->ex, std::move(op), use_awaitable);
  co_return r;
}

asio::awaitable<reply> call_or_throw(std::shared_ptr<client::impl> p, std::string packet) {
  std::error_code ec;
  reply r = co_await call(std::move(p), std::move(packet), ec);
  if (ec) throw std::system_error(ec, "redis");
  co_return r;
}

// Kept out of the coroutines: GCC 12 rejects braced lists inside them.
std::string format_load(const script& s) { return format_command({"SCRIPT", "LOAD", s.source}); }

bool is_noscript(const reply& r) { return r.is_error() && r.str.compare(0, 8, "NOSCRIPT") == 0; }

asio::awaitable<reply> eval_impl(std::shared_ptr<client::impl> p, const script* s, std::string packet,
                                 std::error_code& ec) {
  reply r = co_await call(p, packet, ec);
  if (ec || !is_noscript(r)) co_return r;
  const std::string load = format_load(*s);
  reply loaded = co_await call(p, load, ec);
  if (ec || loaded.is_error()) co_return loaded;
  r = co_await call(p, std::move(packet), ec);
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
  auto p = std::make_shared<impl>(ex, std::move(opts));
  auto l = std::make_shared<detail::link>(ex);
  std::error_code ec;
  co_await l->open(p->opts, ec);
  if (ec) {
    std::string what = "redis: cannot connect to " + to_string(p->opts.server);
    if (!l->refusal().empty()) what += " (" + l->refusal() + ")";
    throw std::system_error(ec, what);
  }
  detail::log(p->opts, "connected to " + to_string(p->opts.server));
  p->up = true;
  p->conn = l;
  asio::co_spawn(ex, p->run(p, l), asio::detached);
  co_return client(std::move(p));
}

client client::start(asio::any_io_executor ex, options opts) {
  auto p = std::make_shared<impl>(ex, std::move(opts));
  asio::co_spawn(ex, p->run(p, nullptr), asio::detached);
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

bool client::is_up() const noexcept { return impl_ && impl_->up; }
asio::any_io_executor client::get_executor() const noexcept { return impl_ ? impl_->ex : asio::any_io_executor{}; }

void client::close() noexcept {
  if (!impl_ || impl_->closed) return;
  impl_->closed = true;
  impl_->up = false;
  if (impl_->conn) impl_->conn->close();
  impl_->retry.cancel();
  impl_->wake.cancel();
  impl_->fail_all(make_error_code(errc::closed));
}

}  // namespace duplex::redis
