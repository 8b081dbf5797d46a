#include <duplex/protocol/http.hpp>

#include <algorithm>
#include <charconv>

namespace duplex::protocol {
namespace {

constexpr std::string_view crlf = "\r\n";

bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

parse_result error(int status, std::string what) {
  return {parse_status::error, 0, status, std::move(what)};
}

// Finds the end of the head and splits it into the start line and the
// header lines; shared by requests and responses.
parse_result split_head(std::string_view buf, std::size_t max_head, std::string_view& start_line,
                        std::string_view& header_lines) {
  const auto end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buf.size() > max_head) return error(431, "request head too large");
    return {};
  }
  if (end + 4 > max_head) return error(431, "request head too large");
  const std::string_view head = buf.substr(0, end + 2);
  const auto eol = head.find(crlf);
  start_line = head.substr(0, eol);
  header_lines = head.substr(eol + 2);
  return {parse_status::complete, end + 4};
}

bool parse_version(std::string_view v, int& minor) {
  if (v.size() != 8 || v.substr(0, 7) != "HTTP/1.") return false;
  if (v[7] != '0' && v[7] != '1') return false;
  minor = v[7] - '0';
  return true;
}

// Parses header lines (after the start line) into `out`.
parse_result parse_headers(std::string_view lines, http_headers& out) {
  while (!lines.empty()) {
    const auto eol = lines.find(crlf);
    std::string_view line = lines.substr(0, eol);
    lines = eol == std::string_view::npos ? std::string_view{} : lines.substr(eol + 2);
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') return error(400, "obsolete header line folding");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return error(400, "malformed header line");
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_tchar)) return error(400, "invalid header name");
    std::string_view value = trim(line.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F)
        return error(400, "control character in header value");
    if (out.list.size() >= 100) return error(431, "too many headers");
    out.list.push_back({std::string(name), std::string(value)});
  }
  return {parse_status::complete};
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

std::vector<std::string_view> split_list(std::string_view s) {
  std::vector<std::string_view> items;
  while (!s.empty()) {
    const auto comma = s.find(',');
    auto item = trim(s.substr(0, comma));
    if (!item.empty()) items.push_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return items;
}

std::optional<std::string_view> http_headers::get(std::string_view name) const {
  for (const auto& h : list)
    if (iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

bool http_headers::has_token(std::string_view name, std::string_view token) const {
  for (const auto& h : list)
    if (iequals(h.name, name))
      for (auto item : split_list(h.value))
        if (iequals(item, token)) return true;
  return false;
}

std::size_t http_headers::count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(list.begin(), list.end(), [&](const http_header& h) { return iequals(h.name, name); }));
}

parse_result parse_request(std::string_view buf, http_request& out, std::size_t max_head) {
  std::string_view line, header_lines;
  parse_result r = split_head(buf, max_head, line, header_lines);
  if (r.status != parse_status::complete) return r;
  // request-line = method SP request-target SP HTTP-version
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return error(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_tchar))
    return error(400, "invalid method");
  if (target.empty() || std::any_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F;
      }))
    return error(400, "invalid request target");
  if (version.substr(0, 5) != "HTTP/") return error(400, "malformed HTTP version");
  if (!parse_version(version, out.version_minor)) return error(505, "HTTP version not supported");
  out.method = method;
  out.target = target;
  out.headers.list.clear();
  auto h = parse_headers(header_lines, out.headers);
  if (h.status == parse_status::error) return h;
  return r;
}

parse_result parse_response(std::string_view buf, http_response& out, std::size_t max_head) {
  std::string_view line, header_lines;
  parse_result r = split_head(buf, max_head, line, header_lines);
  if (r.status != parse_status::complete) return r;
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]
  if (line.size() < 12 || line[8] != ' ' || !parse_version(line.substr(0, 8), out.version_minor))
    return error(400, "malformed status line");
  int status = 0;
  auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc{} || p != line.data() + 12 || status < 100 || status > 999)
    return error(400, "malformed status code");
  out.status = status;
  out.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  out.headers.list.clear();
  auto h = parse_headers(header_lines, out.headers);
  if (h.status == parse_status::error) return h;
  return r;
}

std::string_view status_reason(int status) noexcept {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

std::string format_response(int status,
                            std::initializer_list<std::pair<std::string_view, std::string_view>> headers,
                            std::string_view body, bool head_only) {
  std::string out;
  out.reserve(128 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += status_reason(status);
  out += crlf;
  for (const auto& [name, value] : headers) {
    out += name;
    out += ": ";
    out += value;
    out += crlf;
  }
  if (status != 101 && status != 204 && status != 304) {
    out += "Content-Length: ";
    out += std::to_string(body.size());
    out += crlf;
  }
  out += crlf;
  if (!head_only) out += body;
  return out;
}

bool split_host_port(std::string_view authority, std::string_view& host, std::string_view& port) noexcept {
  port = {};
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  return !host.empty();
}

}  // namespace duplex::protocol

namespace duplex::protocol {

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

}  // namespace duplex::protocol
