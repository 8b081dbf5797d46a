// duplex's error codes: one std::error_code category ("duplex") with named
// values a user can compare against, e.g. `if (ec == duplex::errc::closed)`.
#pragma once

#include <system_error>

namespace duplex {

enum class errc {
  // The WebSocket is closed (close handshake done, or the peer went away).
  closed = 1,
  // The peer violated RFC 6455 framing (we closed with 1002).
  protocol_error,
  // A text message or close reason was not valid UTF-8 (we closed with 1007).
  invalid_utf8,
  // A message exceeded the configured maximum size (we closed with 1009).
  message_too_big,
  // A permessage-deflate message did not decompress (we closed with 1007).
  bad_compressed_data,
  // A send was refused or the connection closed because the peer reads too slowly.
  slow_consumer,
  // HTTP request/response was malformed (we answered 400).
  bad_http,
  // The upgrade request was not a valid RFC 6455 handshake.
  bad_handshake,
  // Sec-WebSocket-Version was not 13 (we answered 426).
  bad_version,
  // The Origin header is not allowed (we answered 403).
  origin_refused,
  // The client's key/accept check failed, or the server refused the upgrade.
  bad_accept,
  handshake_timeout,
  idle_timeout,
  close_timeout,
  // duplex::connect was given a URL it cannot use.
  bad_url,
  // A message came in more fragments than websocket_options::max_fragments
  // allows (we closed with 1008).
  too_many_fragments,
  // The peer kept pinging past websocket_options::max_pings_per_second
  // (we closed with 1008).
  ping_flood,
  // The peer's IP is over a server_options::per_ip limit (answered 429).
  too_many_requests,
  // The endpoint's upgrade hook refused the request (its status).
  upgrade_refused,
  // A message from the peer was over websocket_options::max_messages_per_second
  // or max_bytes_per_second and was refused (the connection stays open); a
  // peer that kept sending over it was closed (rate_limit_close_code, 1008).
  rate_limited,
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace duplex

template <>
struct std::is_error_code_enum<duplex::errc> : std::true_type {};
