// duplex-chat's sign-in (--auth-jwt): who may connect, under which name, to
// which private rooms. Off unless configured; without it the chat is open.
//
// - The endpoint's upgrade hook (authenticator::hook) takes a JWT from
//   "Authorization: Bearer <token>" or else the cookie duplex_token (the
//   page's way: a browser WebSocket cannot set headers, and a token in the
//   URL lands in logs), verifies it with duplex::auth and attaches an
//   identity to the connection, or refuses the upgrade with 401 and
//   WWW-Authenticate (RFC 6750), never echoing the token.
// - The chat service (chat_service.cpp) then holds the member to that
//   identity: a join's name must be the token's (name_not_yours), rooms
//   named private-... need the token's "rooms" claim (forbidden_room), and
//   the connection is closed with 4001 when the token's exp passes, unless
//   the member refreshed its token in band (protocol v3); a version-4
//   member is sent token_expiring before then (--auth-refresh-notice).
#pragma once

#include <duplex/auth/jwt.hpp>
#include <duplex/net/upgrade.hpp>

#include <asio/awaitable.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace duplex::chat {

// The close code for a member whose token expired (docs/chat-protocol.md).
inline constexpr std::uint16_t close_token_expired = 4001;
// With auth on, rooms whose name starts with this need the "rooms" claim.
inline constexpr std::string_view private_room_prefix = "private-";
// The cookie the page stores the token in (Path=/ws, SameSite=Strict).
inline constexpr std::string_view token_cookie = "duplex_token";

// Who a connection is, from its verified token.
struct identity {
  std::string name;                // the "name" claim, else "sub"
  std::vector<std::string> rooms;  // the "rooms" claim (exact names, or prefixes ending in '*')
  std::optional<std::chrono::sys_seconds> exp;
};

// Whether `who` may watch, join or resume `room`: public rooms always;
// private-... rooms only when a "rooms" entry equals the name or is a
// prefix ending in '*' ("private-team-*"). `who` null: no rights.
bool may_enter(const identity* who, std::string_view room);

enum class key_file_kind { secret, pem, jwks };
std::string_view to_string(key_file_kind k) noexcept;

// Loads a key file into `keys`, choosing the loader by its content: a JSON
// object is a JWK Set, "-----BEGIN" a PEM public key or certificate,
// anything else an HMAC secret. `kind` says which was used.
std::error_code load_key_file(const std::filesystem::path& file, auth::key_set& keys, key_file_kind& kind);

// Why an upgrade was refused, for the log and the metrics.
enum class refusal : std::uint8_t {
  missing,     // no token
  expired,     // exp passed
  signature,   // bad signature, unknown or ambiguous key, algorithm mismatch
  audience,    // wrong or missing aud
  issuer,      // wrong or missing iss
  malformed,   // not a readable JWT, bad claims, no name
  other,       // not yet valid, issued in the future, ...
  banned,      // a valid token, but its member is banned for now (authenticator::ban)
  count_
};

// The short name of a token error, as the 401 body names it ("expired",
// "bad_signature", ...).
std::string_view error_class(std::error_code ec) noexcept;

// A token checked on its own (a refresh on an open connection): the
// identity, or why not, named as a 401 would name it.
struct token_check {
  std::optional<identity> who;
  refusal why{};
  std::string error_name;  // "expired", "bad_signature", ...
  std::string detail;
};

class authenticator {
 public:
  using log_fn = std::function<void(std::string_view)>;
  authenticator(auth::key_set keys, auth::verify_options verify, log_fn log = {});

  // The decision for one upgrade request (any thread). An accepted
  // connection is identified by the member's name (ws.identity(), for
  // server::disconnect()).
  upgrade_decision check(const upgrade_request& r) const;
  // Refuses `name`'s sign-ins (403) for `duration` (any thread; zero lifts
  // it). Connections already open stay: server::disconnect(name) closes them.
  void ban(const std::string& name, std::chrono::seconds duration);
  bool banned(const std::string& name) const;
  // One token (any thread): verified with the same keys and rules.
  token_check verify_token(std::string_view token) const;
  // endpoint_options::on_upgrade. The authenticator outlives the server.
  std::function<asio::awaitable<upgrade_decision>(const upgrade_request&)> hook() const;

  // Any thread (metrics).
  std::uint64_t refused() const noexcept;
  std::uint64_t refused(refusal why) const noexcept {
    return refused_[static_cast<std::size_t>(why)].load(std::memory_order_relaxed);
  }
  // Refused upgrades by the typed token error, as the 401 names it
  // ("expired", "bad_signature", "wrong_audience", ...), "missing_token"
  // (no token) or "banned" (403): (reason, count) in reason order.
  std::vector<std::pair<std::string, std::uint64_t>> refusals() const;

 private:
  upgrade_decision refuse(const upgrade_request& r, refusal why, std::string_view error_name,
                          std::string_view detail) const;

  auth::key_set keys_;
  auth::verify_options verify_;
  log_fn log_;
  mutable std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(refusal::count_)> refused_{};
  mutable std::mutex refusals_mu_;
  mutable std::map<std::string, std::uint64_t, std::less<>> refusals_;  // by reason, under refusals_mu_
  mutable std::mutex ban_mu_;
  mutable std::unordered_map<std::string, std::chrono::steady_clock::time_point> banned_;  // name -> until
};

}  // namespace duplex::chat
