#include <duplex/net/upgrade.hpp>

#include <algorithm>

namespace duplex {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A header a refusal may carry: a token name, a value without line breaks
// (no response splitting through an application's header).
bool safe_header(const protocol::http_header& h) {
  if (h.name.empty()) return false;
  const bool name_ok = std::all_of(h.name.begin(), h.name.end(), [](unsigned char c) {
    return c > 32 && c < 127 && c != ':' && c != '(' && c != ')' && c != '"' && c != '\\';
  });
  const bool value_ok = h.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
  return name_ok && value_ok && !protocol::iequals(h.name, "Content-Length") && !protocol::iequals(h.name, "Connection");
}

}  // namespace

upgrade_request::upgrade_request(protocol::http_request http, std::string remote_address, bool tls)
    : http_(std::move(http)), remote_(std::move(remote_address)), tls_(tls) {}

std::string_view upgrade_request::path() const noexcept {
  const std::string_view t = http_.target;
  return t.substr(0, t.find_first_of("?#"));
}

std::string_view upgrade_request::query() const noexcept {
  std::string_view t = http_.target;
  t = t.substr(0, t.find('#'));
  const auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::optional<std::string> upgrade_request::query_param(std::string_view name) const {
  std::string_view rest = query();
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const auto eq = pair.find('=');
    auto key = protocol::percent_decode(pair.substr(0, eq), true);
    if (!key || *key != name) continue;
    return protocol::percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

std::optional<std::string_view> upgrade_request::cookie(std::string_view name) const {
  for (const auto& h : http_.headers.list) {
    if (!protocol::iequals(h.name, "Cookie")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
      std::string_view value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return value;
    }
  }
  return std::nullopt;
}

std::string_view upgrade_request::remote_ip() const noexcept {
  const std::string_view r = remote_;
  const auto colon = r.rfind(':');
  return colon == std::string_view::npos ? r : r.substr(0, colon);
}

std::string format_refusal(const upgrade_decision& refused) {
  std::string out = "HTTP/1.1 " + std::to_string(refused.status()) + " ";
  out += protocol::status_reason(refused.status());
  out += "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n";
  for (const auto& h : refused.headers()) {
    if (!safe_header(h) || protocol::iequals(h.name, "Content-Type")) continue;
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  std::string body = refused.body();
  if (!body.empty() && body.back() != '\n') body += '\n';
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

}  // namespace duplex
