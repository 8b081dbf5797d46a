#include "link.hpp"

#include <duplex/redis/error.hpp>

#include <asio/connect.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>

namespace duplex::redis {

reply to_reply(const redisReply* r);  // reply.cpp

namespace detail {

using asio::redirect_error;
using asio::use_awaitable;

void reader_deleter::operator()(redisReader* r) const noexcept { redisReaderFree(r); }

link::link(const asio::any_io_executor& ex) : socket_(ex), reader_(redisReaderCreate()) {}

asio::awaitable<void> link::open(const options& opts, std::error_code& ec) {
  ec.clear();
  auto ex = co_await asio::this_coro::executor;
  // The deadline closes the socket, which ends whichever step is running.
  auto expired = std::make_shared<bool>(false);
  asio::steady_timer deadline(ex, opts.connect_timeout);
  deadline.async_wait([this, expired](std::error_code e) {
    if (e) return;
    *expired = true;
    std::error_code ignored;
    socket_.close(ignored);
  });
  asio::ip::tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(opts.server.host, std::to_string(opts.server.port),
                                                   redirect_error(use_awaitable, ec));
  if (!ec && !*expired) co_await asio::async_connect(socket_, endpoints, redirect_error(use_awaitable, ec));
  if (!ec && !*expired) {
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    if (!ec && opts.server.tls) co_await start_tls(opts, ec);
    if (!ec && !*expired) co_await handshake(opts, ec);
  }
  deadline.cancel();
  if (*expired) ec = errc::connect_timeout;
  if (ec) close();
}

asio::awaitable<void> link::start_tls(const options& opts, std::error_code& ec) {
  namespace ssl = asio::ssl;
  tls_context_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  tls_context_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (opts.verify_peer) {
    tls_context_->set_default_verify_paths(ec);
    if (!ec && !opts.ca_file.empty()) tls_context_->load_verify_file(opts.ca_file, ec);
    if (ec) co_return;
    tls_context_->set_verify_mode(ssl::verify_peer);
    tls_context_->set_verify_callback(ssl::host_name_verification(opts.server.host));
  } else {
    tls_context_->set_verify_mode(ssl::verify_none);
  }
  tls_ = std::make_unique<ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls_context_);
  SSL_set_tlsext_host_name(tls_->native_handle(), opts.server.host.c_str());  // SNI
  co_await tls_->async_handshake(ssl::stream_base::client, redirect_error(use_awaitable, ec));
}

// Kept out of the coroutines: GCC 12 rejects braced lists inside them.
static std::string format_select(int db) { return format_command({"SELECT", std::to_string(db)}); }

asio::awaitable<void> link::handshake(const options& opts, std::error_code& ec) {
  const endpoint& e = opts.server;
  std::string hello;
  if (!e.password.empty()) {
    std::vector<std::string_view> auth(1, "AUTH");
    if (!e.user.empty()) auth.push_back(e.user);
    auth.push_back(e.password);
    hello += format_command(auth);
  }
  if (e.db != 0) hello += format_select(e.db);
  if (hello.empty()) co_return;
  co_await write(hello, ec);
  const int expected = (e.password.empty() ? 0 : 1) + (e.db != 0 ? 1 : 0);
  for (int i = 0; i < expected && !ec; ++i) {
    reply r = co_await read(ec);
    if (!ec && r.is_error()) {
      refusal_ = r.str;
      ec = errc::handshake_failed;
    }
  }
}

bool link::next(reply& out, std::error_code& ec) {
  void* raw = nullptr;
  if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
    ec = errc::protocol_error;
    return false;
  }
  if (!raw) return false;
  out = to_reply(static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return true;
}

asio::awaitable<reply> link::read(std::error_code& ec) {
  ec.clear();
  reply r;
  while (!next(r, ec)) {
    if (ec) co_return r;
    // Separate statements: GCC 12 mishandles co_await inside a conditional expression.
    std::size_t n = 0;
    if (tls_)
      n = co_await tls_->async_read_some(asio::buffer(buf_), redirect_error(use_awaitable, ec));
    else
      n = co_await socket_.async_read_some(asio::buffer(buf_), redirect_error(use_awaitable, ec));
    if (ec) co_return r;
    if (redisReaderFeed(reader_.get(), buf_.data(), n) != REDIS_OK) {
      ec = errc::protocol_error;
      co_return r;
    }
  }
  co_return r;
}

asio::awaitable<void> link::write(std::string_view bytes, std::error_code& ec) {
  ec.clear();
  if (tls_)
    co_await asio::async_write(*tls_, asio::buffer(bytes), redirect_error(use_awaitable, ec));
  else
    co_await asio::async_write(socket_, asio::buffer(bytes), redirect_error(use_awaitable, ec));
}

void link::close() noexcept {
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

asio::awaitable<std::shared_ptr<link>> open_or_throw(asio::any_io_executor ex, const options& opts) {
  auto l = std::make_shared<link>(ex);
  std::error_code ec;
  co_await l->open(opts, ec);
  if (ec) {
    std::string what = "redis: cannot connect to " + to_string(opts.server);
    if (!l->refusal().empty()) what += " (" + l->refusal() + ")";
    throw std::system_error(ec, what);
  }
  log(opts, "connected to " + to_string(opts.server));
  co_return l;
}

std::chrono::milliseconds backoff::next() {
  const auto d = next_;
  next_ = std::min(next_ * 2, max_);
  std::uniform_int_distribution<long long> pick(d.count() / 2, d.count());
  return std::chrono::milliseconds(pick(rng_));
}

const std::string& ping_packet() {
  static const std::string packet = format_command(std::vector<std::string_view>(1, "PING"));
  return packet;
}

void log(const options& opts, std::string_view text) {
  if (!opts.on_log) return;
  std::string line = opts.name;
  line += ": ";
  line += text;
  opts.on_log(line);
}

std::string describe(const std::error_code& ec) { return ec.message() + " (" + ec.category().name() + ":" + std::to_string(ec.value()) + ")"; }

}  // namespace detail
}  // namespace duplex::redis
