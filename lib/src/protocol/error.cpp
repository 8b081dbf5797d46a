#include <duplex/error.hpp>

#include <string>

namespace duplex {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "duplex"; }
  std::string message(int v) const override {
    switch (static_cast<errc>(v)) {
      case errc::closed: return "WebSocket closed";
      case errc::protocol_error: return "WebSocket protocol error";
      case errc::invalid_utf8: return "invalid UTF-8 in text message or close reason";
      case errc::message_too_big: return "message exceeds the maximum size";
      case errc::bad_compressed_data: return "compressed message is not valid DEFLATE data";
      case errc::slow_consumer: return "peer reads too slowly (send queue full)";
      case errc::bad_http: return "malformed HTTP message";
      case errc::bad_handshake: return "invalid WebSocket upgrade handshake";
      case errc::bad_version: return "unsupported Sec-WebSocket-Version (13 required)";
      case errc::origin_refused: return "Origin not allowed";
      case errc::bad_accept: return "server refused the upgrade or sent a wrong Sec-WebSocket-Accept";
      case errc::handshake_timeout: return "handshake timed out";
      case errc::idle_timeout: return "connection idle for too long (no pong)";
      case errc::close_timeout: return "close handshake timed out";
      case errc::bad_url: return "invalid or unsupported WebSocket URL";
      case errc::too_many_fragments: return "message sent in too many fragments";
      case errc::ping_flood: return "peer sent pings faster than allowed";
      case errc::too_many_requests: return "too many connections or handshakes from one address";
      case errc::upgrade_refused: return "the endpoint's upgrade hook refused the connection";
      case errc::rate_limited: return "peer sent messages faster than allowed";
    }
    return "unknown duplex error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace duplex
