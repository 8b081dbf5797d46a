// Errors of the Redis client (category "duplex.redis"). Network errors from
// Asio (connection refused, reset, ...) are passed through as they are.
#pragma once

#include <system_error>

namespace duplex::redis {

enum class errc {
  // The request was not sent: the connection is down (reconnecting) or closed.
  not_connected = 1,
  // The connection was lost after the request was sent: it may or may not
  // have run on the server.
  connection_lost,
  // No reply within options::command_timeout (the connection stays up; the
  // late reply is dropped).
  timeout,
  // Connecting, AUTH or SELECT took longer than options::connect_timeout.
  connect_timeout,
  // The server refused AUTH or SELECT during the handshake.
  handshake_failed,
  // The server answered with an error reply (-ERR ...), where a value was expected.
  server_error,
  // The server sent bytes that are not RESP, or a reply of an unexpected shape.
  protocol_error,
  // The client was closed by the application.
  closed,
  // A redis:// URL that cannot be used.
  bad_url,
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace duplex::redis

template <>
struct std::is_error_code_enum<duplex::redis::errc> : std::true_type {};
