#include <duplex/protocol/handshake.hpp>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <random>

namespace duplex::protocol {
namespace {

constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

// Length of the decoded base64 value, or -1 when it is not canonical base64.
int base64_decoded_size(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return -1;
  unsigned char buf[96];
  if (s.size() > 128) return -1;
  const int n = EVP_DecodeBlock(buf, reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return -1;
  // EVP_DecodeBlock counts padding as zero bytes; subtract it.
  int pad = 0;
  if (s.back() == '=') ++pad;
  if (s.size() >= 2 && s[s.size() - 2] == '=') ++pad;
  return n - pad;
}

upgrade_check refuse(int status, errc e, std::string message) {
  return {status, make_error_code(e), std::move(message)};
}

}  // namespace

std::string accept_key(std::string_view client_key) {
  std::string input;
  input.reserve(client_key.size() + websocket_guid.size());
  input.append(client_key).append(websocket_guid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return base64(digest, sizeof digest);
}

bool is_websocket_upgrade(const http_request& req) { return req.headers.has_token("Upgrade", "websocket"); }

upgrade_check check_upgrade_request(const http_request& req) {
  if (req.method != "GET") return refuse(405, errc::bad_handshake, "WebSocket upgrade requires GET");
  if (req.version_minor < 1) return refuse(400, errc::bad_handshake, "WebSocket upgrade requires HTTP/1.1");
  if (req.headers.count("Host") != 1) return refuse(400, errc::bad_handshake, "missing or repeated Host header");
  if (!req.headers.has_token("Upgrade", "websocket"))
    return refuse(400, errc::bad_handshake, "missing Upgrade: websocket");
  if (!req.headers.has_token("Connection", "upgrade"))
    return refuse(400, errc::bad_handshake, "missing Connection: Upgrade");
  auto key = req.headers.get("Sec-WebSocket-Key");
  if (!key || req.headers.count("Sec-WebSocket-Key") != 1 || base64_decoded_size(*key) != 16)
    return refuse(400, errc::bad_handshake, "Sec-WebSocket-Key must be 16 bytes in base64");
  auto version = req.headers.get("Sec-WebSocket-Version");
  if (!version || *version != "13") return refuse(426, errc::bad_version, "Sec-WebSocket-Version must be 13");
  return {};
}

bool origin_allowed(const http_request& req, std::span<const std::string> allowed, bool secure) {
  auto origin = req.headers.get("Origin");
  if (!origin) return true;
  for (const auto& a : allowed)
    if (a == "*" || iequals(a, *origin)) return true;
  if (!allowed.empty()) return false;
  auto host = req.headers.get("Host");
  if (!host) return false;
  const std::string_view scheme = secure ? "https://" : "http://";
  return origin->size() == scheme.size() + host->size() && iequals(origin->substr(0, scheme.size()), scheme) &&
         iequals(origin->substr(scheme.size()), *host);
}

bool host_allowed(const http_request& req, std::span<const std::string> allowed) {
  if (allowed.empty()) return true;
  auto host = req.headers.get("Host");
  if (!host) return false;
  std::string_view name = *host;
  // Strip the port: "[::1]:3000" -> "[::1]", "localhost:3000" -> "localhost".
  const auto colon = name.rfind(':');
  if (colon != std::string_view::npos && name.find(']', colon) == std::string_view::npos) name = name.substr(0, colon);
  for (const auto& a : allowed)
    if (iequals(a, name)) return true;
  return false;
}

std::vector<std::string_view> offered_subprotocols(const http_request& req) {
  std::vector<std::string_view> offered;
  for (const auto& h : req.headers.list)
    if (iequals(h.name, "Sec-WebSocket-Protocol"))
      for (auto item : split_list(h.value)) offered.push_back(item);
  return offered;
}

std::string select_subprotocol(const http_request& req, std::span<const std::string> supported) {
  const std::vector<std::string_view> offered = offered_subprotocols(req);
  for (const auto& s : supported)
    if (std::find(offered.begin(), offered.end(), s) != offered.end()) return s;
  return {};
}

std::string format_upgrade_response(std::string_view client_key, std::string_view subprotocol,
                                    std::string_view extensions) {
  std::string out;
  out.reserve(160 + subprotocol.size() + extensions.size());
  out.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
  out.append("Sec-WebSocket-Accept: ").append(accept_key(client_key)).append("\r\n");
  if (!subprotocol.empty()) out.append("Sec-WebSocket-Protocol: ").append(subprotocol).append("\r\n");
  if (!extensions.empty()) out.append("Sec-WebSocket-Extensions: ").append(extensions).append("\r\n");
  out.append("\r\n");
  return out;
}

std::string format_refusal(const upgrade_check& refusal) {
  std::string body = refusal.message + "\n";
  if (refusal.status == 426)
    return format_response(426, {{"Sec-WebSocket-Version", "13"}, {"Content-Type", "text/plain"}, {"Connection", "close"}}, body);
  if (refusal.status == 405)
    return format_response(405, {{"Allow", "GET"}, {"Content-Type", "text/plain"}, {"Connection", "close"}}, body);
  return format_response(refusal.status, {{"Content-Type", "text/plain"}, {"Connection", "close"}}, body);
}

std::string make_client_key() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    std::random_device rd;
    for (auto& b : raw) b = static_cast<unsigned char>(rd());
  }
  return base64(raw, sizeof raw);
}

std::string format_upgrade_request(std::string_view host, std::string_view target, std::string_view key,
                                   std::span<const std::string> subprotocols, std::string_view origin,
                                   std::string_view extensions) {
  std::string out;
  out.reserve(256);
  out.append("GET ").append(target).append(" HTTP/1.1\r\n");
  out.append("Host: ").append(host).append("\r\n");
  out.append("Upgrade: websocket\r\nConnection: Upgrade\r\n");
  out.append("Sec-WebSocket-Key: ").append(key).append("\r\n");
  out.append("Sec-WebSocket-Version: 13\r\n");
  if (!subprotocols.empty()) {
    out.append("Sec-WebSocket-Protocol: ");
    for (std::size_t i = 0; i < subprotocols.size(); ++i) {
      if (i) out.append(", ");
      out.append(subprotocols[i]);
    }
    out.append("\r\n");
  }
  if (!origin.empty()) out.append("Origin: ").append(origin).append("\r\n");
  if (!extensions.empty()) out.append("Sec-WebSocket-Extensions: ").append(extensions).append("\r\n");
  out.append("\r\n");
  return out;
}

std::error_code check_upgrade_response(const http_response& res, std::string_view key,
                                       std::span<const std::string> offered, std::string& chosen,
                                       bool extensions_offered) {
  if (res.status != 101) return errc::bad_accept;
  if (!res.headers.has_token("Upgrade", "websocket") || !res.headers.has_token("Connection", "upgrade"))
    return errc::bad_handshake;
  auto accept = res.headers.get("Sec-WebSocket-Accept");
  if (!accept || *accept != accept_key(key)) return errc::bad_accept;
  // An extension we did not offer fails the handshake (§4.1).
  if (!extensions_offered && res.headers.get("Sec-WebSocket-Extensions")) return errc::bad_handshake;
  chosen.clear();
  if (auto p = res.headers.get("Sec-WebSocket-Protocol")) {
    if (std::find(offered.begin(), offered.end(), *p) == offered.end()) return errc::bad_handshake;
    chosen = *p;
  }
  return {};
}

}  // namespace duplex::protocol
