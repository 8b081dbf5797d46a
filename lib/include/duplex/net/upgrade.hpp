// Who may connect: an endpoint's upgrade hook sees the request before the
// 101 and accepts it (attaching data of its own to the connection) or
// refuses it with an HTTP status, headers and a body.
//
//   endpoint_options o;
//   o.on_upgrade = [&](const duplex::upgrade_request& r) -> asio::awaitable<duplex::upgrade_decision> {
//     auto token = r.query_param("token");
//     if (!token) co_return duplex::upgrade_decision::refuse(401, "token required",
//                                                           {{"WWW-Authenticate", "Bearer"}});
//     co_return duplex::upgrade_decision::accept(user{.id = ...});   // any copyable type
//   };
//   srv.websocket("/ws", [](duplex::websocket ws) -> asio::awaitable<void> {
//     const user* u = ws.data<user>();   // what the hook attached (nullptr if another type)
//     ...
//   }, o);
//
// The hook runs on the connection's thread after the server's own checks
// (path, version, origin, host, draining, per-IP limits) and before
// subprotocol and extension negotiation. The server does not bound it: a
// hook that waits on something (a database, an auth service) bounds that
// wait itself. An exception refuses with 500.
#pragma once

#include <duplex/protocol/http.hpp>

#include <any>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duplex {

// The upgrade request, parsed: what a hook (and, with
// endpoint_options::keep_request, the handler) reads.
class upgrade_request {
 public:
  upgrade_request(protocol::http_request http, std::string remote_address, bool tls);

  const protocol::http_request& http() const noexcept { return http_; }
  std::string_view method() const noexcept { return http_.method; }
  std::string_view target() const noexcept { return http_.target; }
  // The target before '?', as sent (not percent-decoded).
  std::string_view path() const noexcept;
  // The target after '?' ("" when none), as sent.
  std::string_view query() const noexcept;
  // The first query parameter of that name, percent-decoded ('+' is a space);
  // nullopt when absent or badly encoded.
  std::optional<std::string> query_param(std::string_view name) const;
  // The first header of that name (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const { return http_.headers.get(name); }
  // The first cookie of that name across the Cookie headers (RFC 6265
  // §5.4 syntax: "a=b; c=d"), its value as sent (surrounding quotes removed).
  std::optional<std::string_view> cookie(std::string_view name) const;
  // "ip:port" of the peer, and the ip alone.
  const std::string& remote_address() const noexcept { return remote_; }
  std::string_view remote_ip() const noexcept;
  bool tls() const noexcept { return tls_; }

 private:
  protocol::http_request http_;
  std::string remote_;
  bool tls_ = false;
};

// A hook's answer.
class upgrade_decision {
 public:
  // Upgrade; the handler reads nothing from ws.data<T>().
  static upgrade_decision accept() { return upgrade_decision(); }
  // Upgrade, and attach `data` to the connection: ws.data<T>() returns it.
  template <class T>
  static upgrade_decision accept(T data) {
    upgrade_decision d;
    d.data_ = std::move(data);
    return d;
  }
  // No upgrade: this response, then the connection is closed. `status` is a
  // 4xx or 5xx (anything else becomes 500); headers such as
  // WWW-Authenticate or Retry-After are sent as given, except names or
  // values holding CR, LF or NUL, which are left out.
  static upgrade_decision refuse(int status, std::string body = {}, std::vector<protocol::http_header> headers = {}) {
    upgrade_decision d;
    d.refused_ = true;
    d.status_ = status >= 400 && status <= 599 ? status : 500;
    d.body_ = std::move(body);
    d.headers_ = std::move(headers);
    return d;
  }

  // Names whom the accepted connection belongs to (a user id, an account,
  // a session): server::disconnect(identity) closes every connection with
  // that name, on every thread; ws.identity() reads it. Chained:
  //   co_return upgrade_decision::accept(claims).identify("user:" + claims.sub);
  // Ignored on a refusal; empty: none.
  upgrade_decision identify(std::string identity) && {
    identity_ = std::move(identity);
    return std::move(*this);
  }
  upgrade_decision& identify(std::string identity) & {
    identity_ = std::move(identity);
    return *this;
  }

  bool accepted() const noexcept { return !refused_; }
  int status() const noexcept { return status_; }
  const std::string& body() const noexcept { return body_; }
  const std::vector<protocol::http_header>& headers() const noexcept { return headers_; }
  std::any& data() noexcept { return data_; }
  std::string& identity() noexcept { return identity_; }
  const std::string& identity() const noexcept { return identity_; }

 private:
  upgrade_decision() = default;
  bool refused_ = false;
  int status_ = 101;
  std::string body_;
  std::vector<protocol::http_header> headers_;
  std::any data_;
  std::string identity_;
};

// The refusal as an HTTP response (Connection: close).
std::string format_refusal(const upgrade_decision& refused);

}  // namespace duplex
