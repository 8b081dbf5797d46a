#include <duplex/protocol/http.hpp>
#include <duplex/redis/error.hpp>
#include <duplex/redis/options.hpp>

#include "checks.hpp"

#include <charconv>

namespace duplex::redis {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

std::optional<endpoint> parse_url(std::string_view text) {
  endpoint e;
  if (text.substr(0, 8) == "redis://") {
    text.remove_prefix(8);
  } else if (text.substr(0, 9) == "rediss://") {
    e.tls = true;
    text.remove_prefix(9);
  } else {
    return std::nullopt;
  }
  const auto slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view db = text.substr(slash + 1);
    if (!db.empty() && (!detail::parse_number(db, e.db) || e.db < 0)) return std::nullopt;
  }
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const auto colon = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, colon));
    auto password = percent_decode(colon == std::string_view::npos ? std::string_view{} : userinfo.substr(colon + 1));
    if (!user || !password) return std::nullopt;
    // redis://secret@host (no colon) is a password, as redis-cli reads it.
    if (colon == std::string_view::npos) std::swap(*user, *password);
    e.user = std::move(*user);
    e.password = std::move(*password);
  }
  std::string_view host, port;
  if (!protocol::split_host_port(authority, host, port)) return std::nullopt;
  e.host = host;
  if (!port.empty() && (!detail::parse_number(port, e.port) || e.port == 0)) return std::nullopt;
  return e;
}

std::string to_string(const endpoint& e) {
  const bool v6 = e.host.find(':') != std::string::npos;
  return (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port) + (e.db ? "/" + std::to_string(e.db) : "");
}

options options_from_url(std::string_view url) {
  auto e = parse_url(url);
  // The URL itself is not quoted: it may hold a password.
  if (!e) throw std::system_error(make_error_code(errc::bad_url));
  options o;
  o.server = std::move(*e);
  return o;
}

}  // namespace duplex::redis
