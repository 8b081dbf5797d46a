// Just enough HTTP/1.1 (RFC 9112) for the WebSocket upgrade and static files:
// sans-I/O parsing of a request or response head, with a size limit, and
// formatting of responses. Bodies are not parsed: duplex serves GET/HEAD only.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duplex::protocol {

struct http_header {
  std::string name;
  std::string value;
};

struct http_headers {
  std::vector<http_header> list;
  // First header of that name (case-insensitive), if any.
  std::optional<std::string_view> get(std::string_view name) const;
  // Whether a comma-separated header (e.g. Connection) holds `token`
  // (case-insensitive), across all headers of that name.
  bool has_token(std::string_view name, std::string_view token) const;
  std::size_t count(std::string_view name) const;
};

struct http_request {
  std::string method;
  std::string target;
  int version_minor = 1;  // HTTP/1.x
  http_headers headers;
};

struct http_response {
  int status = 0;
  std::string reason;
  int version_minor = 1;
  http_headers headers;
};

enum class parse_status { incomplete, complete, error };

struct parse_result {
  parse_status status = parse_status::incomplete;
  std::size_t consumed = 0;  // bytes of the head, when complete
  int http_status = 0;       // when error: 400, 431 (head too large) or 505
  std::string error;         // when error: what was wrong
};

inline constexpr std::size_t default_max_head_bytes = 8 * 1024;

parse_result parse_request(std::string_view buf, http_request& out,
                           std::size_t max_head = default_max_head_bytes);
parse_result parse_response(std::string_view buf, http_response& out,
                            std::size_t max_head = default_max_head_bytes);

std::string_view status_reason(int status) noexcept;

// "HTTP/1.1 <status> <reason>\r\n<headers>Content-Length: n\r\n\r\n<body>".
std::string format_response(int status,
                            std::initializer_list<std::pair<std::string_view, std::string_view>> headers,
                            std::string_view body, bool head_only = false);

bool iequals(std::string_view a, std::string_view b) noexcept;
// RFC 3986 percent-decoding ("%41" -> "A"); with plus_is_space, '+' is a
// space (query strings, application/x-www-form-urlencoded). nullopt for a
// malformed escape or a NUL byte.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);
// Splits "a, b ,c" into trimmed non-empty items.
std::vector<std::string_view> split_list(std::string_view s);

// Splits a URL authority ("host", "host:port", "[v6]", "[v6]:port") into the
// host (without brackets) and the port's text ("" when absent). False when a
// bracket is unclosed, something other than ":port" follows it, or the host
// is empty. The caller parses the port: its range and default are its own.
bool split_host_port(std::string_view authority, std::string_view& host, std::string_view& port) noexcept;

}  // namespace duplex::protocol
