// The RFC 6455 §4 opening handshake for both roles, sans-I/O: checks a parsed
// upgrade request and builds the answer (server), builds the request and
// verifies the answer (client). SHA-1 and base64 come from OpenSSL.
#pragma once

#include <duplex/error.hpp>
#include <duplex/protocol/http.hpp>

#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace duplex::protocol {

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string accept_key(std::string_view client_key);

// Whether the request asks for a WebSocket at all (Upgrade: websocket); such
// a request is then either accepted or refused, never served as a file.
bool is_websocket_upgrade(const http_request& req);

struct upgrade_check {
  int status = 101;  // 101, or the HTTP status to refuse with (400, 403, 405, 426)
  std::error_code error;
  std::string message;  // why it was refused; sent as the response body
  explicit operator bool() const noexcept { return status == 101; }
};

// Validates an upgrade request: GET, HTTP/1.1, Host, Upgrade: websocket,
// Connection: Upgrade, a Sec-WebSocket-Key of 16 base64 bytes, and
// Sec-WebSocket-Version 13 (else 426).
upgrade_check check_upgrade_request(const http_request& req);

// Origin policy. An empty allow-list means "same origin only": a browser's
// Origin must be the scheme (https when `secure`, else http) and the Host
// the request was sent to. Requests without Origin (non-browser clients)
// pass. "*" allows any.
bool origin_allowed(const http_request& req, std::span<const std::string> allowed, bool secure = false);

// Host policy against DNS rebinding: the Host header's name (port ignored,
// case-insensitive) must be in `allowed`; an empty list allows any.
bool host_allowed(const http_request& req, std::span<const std::string> allowed);

// The server's pick from the client's Sec-WebSocket-Protocol list: the first
// of `supported` that the client offered, or empty.
std::string select_subprotocol(const http_request& req, std::span<const std::string> supported);
// Every subprotocol the client offered, in its order (views into req).
std::vector<std::string_view> offered_subprotocols(const http_request& req);

// `extensions`: the Sec-WebSocket-Extensions answer (e.g. from
// negotiate_server()), omitted when empty.
std::string format_upgrade_response(std::string_view client_key, std::string_view subprotocol,
                                    std::string_view extensions = {});
// The refusal: status, message body, and for 426 the Sec-WebSocket-Version: 13 header.
std::string format_refusal(const upgrade_check& refusal);

// ---- client role ----
std::string make_client_key();  // 16 random bytes, base64
std::string format_upgrade_request(std::string_view host, std::string_view target, std::string_view key,
                                   std::span<const std::string> subprotocols, std::string_view origin = {},
                                   std::string_view extensions = {});
// Verifies a server's answer to our request: 101, Upgrade/Connection, the
// accept value for our key, and a subprotocol we offered (or none). On
// success `chosen` holds the server's subprotocol. A Sec-WebSocket-Extensions
// answer fails the handshake unless `extensions_offered` (RFC 6455 §4.1);
// the caller then validates it (accept_client() for permessage-deflate).
std::error_code check_upgrade_response(const http_response& res, std::string_view key,
                                       std::span<const std::string> offered, std::string& chosen,
                                       bool extensions_offered = false);

}  // namespace duplex::protocol
