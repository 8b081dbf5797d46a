#include <duplex/net/client.hpp>
#include <duplex/protocol/deflate.hpp>
#include <duplex/protocol/handshake.hpp>
#include <duplex/protocol/http.hpp>

#include "session.hpp"

#include <asio/connect.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <system_error>

namespace duplex {

using asio::ip::tcp;
using asio::redirect_error;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

std::optional<url> parse_url(std::string_view text) {
  url u;
  if (text.substr(0, 5) == "ws://") {
    text.remove_prefix(5);
  } else if (text.substr(0, 6) == "wss://") {
    u.secure = true;
    text.remove_prefix(6);
  } else {
    return std::nullopt;
  }
  const auto slash = text.find_first_of("/?");
  std::string_view authority = text.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  if (u.target.front() == '?') u.target.insert(0, "/");
  if (u.target.find('#') != std::string::npos) return std::nullopt;  // fragments are not allowed (§3)
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host, port;
  if (!protocol::split_host_port(authority, host, port)) return std::nullopt;
  u.host = host;
  u.port = u.secure ? 443 : 80;
  if (!port.empty()) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc{} || p != port.data() + port.size() || v == 0 || v > 65535) return std::nullopt;
    u.port = static_cast<std::uint16_t>(v);
  }
  return u;
}

namespace {

std::string host_header(const url& u) {
  std::string h = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  if (u.port != (u.secure ? 443 : 80)) h += ":" + std::to_string(u.port);
  return h;
}

// connect_options::headers, each "Name: value\r\n", after validation: a CR
// or LF in a value would let a caller's input inject headers.
std::string extra_headers(const connect_options& o) {
  std::string out;
  for (const auto& [name, value] : o.headers) {
    const bool good_name = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return c > 32 && c < 127 && std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) == std::string_view::npos;
    });
    if (!good_name || value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      throw std::system_error(make_error_code(errc::bad_http), "invalid request header: " + name);
    out += name + ": " + value + "\r\n";
  }
  return out;
}

std::shared_ptr<asio::ssl::context> client_tls_context(const connect_options& o, const url& u) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  if (o.verify_peer) {
    ctx->set_default_verify_paths();
    if (!o.ca_file.empty()) ctx->load_verify_file(o.ca_file.string());
    ctx->set_verify_mode(asio::ssl::verify_peer);
    ctx->set_verify_callback(asio::ssl::host_name_verification(u.host));
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

// Everything up to the 101, in one coroutine so a single timer bounds it.
asio::awaitable<std::shared_ptr<detail::session>> handshake(url u, connect_options opts) {
  const std::string headers = extra_headers(opts);  // bad ones fail before any network traffic
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(u.host, std::to_string(u.port), use_awaitable);
  tcp::socket sock(ex);
  co_await asio::async_connect(sock, endpoints, use_awaitable);
  sock.set_option(tcp::no_delay(true));
  detail::stream io(std::move(sock));
  if (u.secure) {
    auto context = client_tls_context(opts, u);
    io.start_tls(*context, context);
    detail::shrink_tls_buffers(*io.tls(), detail::tls_buffer_size);
    // SNI, so virtual hosts present the right certificate.
    if (!SSL_set_tlsext_host_name(io.tls()->native_handle(), u.host.c_str()))
      throw std::system_error(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
    co_await io.tls()->async_handshake(asio::ssl::stream_base::client, use_awaitable);
  }
  const std::string key = protocol::make_client_key();
  std::error_code ec;
  const std::string offer = protocol::make_offer(opts.websocket.deflate);  // "" when disabled
  std::string request =
      protocol::format_upgrade_request(host_header(u), u.target, key, opts.subprotocols, opts.origin, offer);
  request.insert(request.size() - 2, headers);  // before the blank line
  co_await io.write(asio::buffer(request), ec);
  if (ec) throw std::system_error(ec);

  std::string buf;
  protocol::http_response res;
  protocol::parse_result pr;
  for (;;) {
    pr = protocol::parse_response(buf, res);
    if (pr.status == protocol::parse_status::complete) break;
    if (pr.status == protocol::parse_status::error) throw std::system_error(make_error_code(errc::bad_http), pr.error);
    const std::size_t old = buf.size();
    buf.resize(old + 2048);
    const std::size_t n = co_await io.read_some(asio::buffer(buf.data() + old, 2048), ec);
    if (ec) throw std::system_error(ec, "reading the upgrade response");
    buf.resize(old + n);
  }
  std::string chosen;
  if (auto bad = protocol::check_upgrade_response(res, key, opts.subprotocols, chosen, !offer.empty()))
    throw std::system_error(bad, "server answered " + std::to_string(res.status) + " " + res.reason);
  std::optional<protocol::deflate_params> deflate;
  std::string extensions;
  if (res.headers.count("Sec-WebSocket-Extensions") > 0) {
    for (const auto& h : res.headers.list)
      if (protocol::iequals(h.name, "Sec-WebSocket-Extensions")) extensions += (extensions.empty() ? "" : ", ") + h.value;
    deflate = protocol::accept_client(extensions, opts.websocket.deflate);
    if (!deflate)
      throw std::system_error(make_error_code(errc::bad_handshake), "unacceptable Sec-WebSocket-Extensions: " + extensions);
  }

  auto s = std::make_shared<detail::session>(std::move(io), protocol::role::client,
                                             detail::session_options(opts.websocket, protocol::role::client));
  if (deflate) s->conn.enable_deflate(*deflate, opts.websocket.deflate);
  s->set_negotiated(std::move(chosen), std::move(extensions));
  s->path = u.target;
  s->start(std::string_view(buf).substr(pr.consumed));
  co_return s;
}

// `||` waits for the first operation to *succeed*: a failing handshake must
// not throw inside it, or it would wait for the timer. Carry the error out.
// (No co_await inside a temporary here: GCC 12 double-destroys those.)
asio::awaitable<std::pair<std::shared_ptr<detail::session>, std::exception_ptr>> guarded_handshake(
    url u, connect_options opts) {
  std::shared_ptr<detail::session> s;
  std::exception_ptr failure;
  try {
    s = co_await handshake(std::move(u), std::move(opts));
  } catch (...) {
    failure = std::current_exception();
  }
  co_return std::pair{std::move(s), failure};
}

}  // namespace

namespace {

asio::awaitable<websocket> connect_impl(std::string text, connect_options opts) {
  auto u = parse_url(text);
  if (!u) throw std::system_error(make_error_code(errc::bad_url), text);
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, opts.handshake_timeout);
  // Built in statements of their own: GCC 12 mishandles argument temporaries
  // that live across a co_await in the same full-expression.
  auto attempt = guarded_handshake(*u, opts);
  auto expiry = timer.async_wait(use_awaitable);
  auto r = co_await (std::move(attempt) || std::move(expiry));
  if (r.index() == 1) throw std::system_error(make_error_code(errc::handshake_timeout), text);
  auto [session, failure] = std::get<0>(std::move(r));
  if (failure) std::rethrow_exception(failure);
  co_return detail::make_handle(std::move(session));
}

}  // namespace

// Not coroutines themselves: the URL is copied before the caller's string
// can go away.
asio::awaitable<websocket> connect(std::string_view url, connect_options opts) {
  return connect_impl(std::string(url), std::move(opts));
}

asio::awaitable<websocket> connect(std::string_view url) { return connect_impl(std::string(url), connect_options{}); }

namespace {

// The error_code form: what connect_impl throws as std::system_error goes
// to `ec` (anything else, e.g. bad_alloc, still propagates).
asio::awaitable<std::optional<websocket>> connect_ec(std::string text, connect_options opts, std::error_code& ec) {
  std::optional<websocket> out;
  ec.clear();
  try {
    auto attempt = connect_impl(std::move(text), std::move(opts));
    websocket ws = co_await std::move(attempt);
    out.emplace(std::move(ws));
  } catch (const std::system_error& e) {
    ec = e.code();
  }
  co_return out;
}

}  // namespace

asio::awaitable<std::optional<websocket>> connect(std::string_view url, connect_options opts, std::error_code& ec) {
  return connect_ec(std::string(url), std::move(opts), ec);
}

asio::awaitable<std::optional<websocket>> connect(std::string_view url, std::error_code& ec) {
  return connect_ec(std::string(url), connect_options{}, ec);
}

}  // namespace duplex
