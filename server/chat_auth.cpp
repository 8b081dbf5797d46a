#include "chat_auth.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <utility>

namespace duplex::chat {

using auth::jwt_errc;

bool may_enter(const identity* who, std::string_view room) {
  if (!room.starts_with(private_room_prefix)) return true;
  if (!who) return false;
  for (const auto& entry : who->rooms) {
    if (entry == room) return true;
    // "private-team-*": every room starting with "private-team-". A bare
    // "*" or "private-*" is a prefix too, as written by the issuer.
    if (!entry.empty() && entry.back() == '*' && room.starts_with(std::string_view(entry).substr(0, entry.size() - 1)))
      return true;
  }
  return false;
}

std::string_view to_string(key_file_kind k) noexcept {
  switch (k) {
    case key_file_kind::secret: return "HMAC secret";
    case key_file_kind::pem: return "PEM public key";
    case key_file_kind::jwks: return "JWK Set";
  }
  return "?";
}

std::error_code load_key_file(const std::filesystem::path& file, auth::key_set& keys, key_file_kind& kind) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) return std::make_error_code(std::errc::no_such_file_or_directory);
    return std::make_error_code(std::errc::permission_denied);
  }
  // Enough to tell the kinds apart; the loaders read the file themselves.
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  std::string_view rest = head;
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front()))) rest.remove_prefix(1);
  if (rest.starts_with("{")) {
    kind = key_file_kind::jwks;
    return keys.load_jwks(file);
  }
  if (rest.starts_with("-----BEGIN")) {
    kind = key_file_kind::pem;
    return keys.load_pem(file);
  }
  kind = key_file_kind::secret;
  return keys.load_secret(file);
}

std::string_view error_class(std::error_code ec) noexcept {
  if (ec.category() != auth::jwt_category()) return "invalid";
  switch (static_cast<jwt_errc>(ec.value())) {
    case jwt_errc::malformed: return "malformed";
    case jwt_errc::bad_base64: return "bad_base64";
    case jwt_errc::bad_json: return "bad_json";
    case jwt_errc::unsupported: return "unsupported";
    case jwt_errc::token_too_long: return "token_too_long";
    case jwt_errc::alg_none: return "alg_none";
    case jwt_errc::alg_mismatch: return "alg_mismatch";
    case jwt_errc::unknown_key: return "unknown_key";
    case jwt_errc::ambiguous_key: return "ambiguous_key";
    case jwt_errc::bad_signature: return "bad_signature";
    case jwt_errc::expired: return "expired";
    case jwt_errc::not_yet_valid: return "not_yet_valid";
    case jwt_errc::issued_in_future: return "issued_in_future";
    case jwt_errc::wrong_issuer: return "wrong_issuer";
    case jwt_errc::wrong_audience: return "wrong_audience";
    case jwt_errc::missing_claim: return "missing_claim";
    case jwt_errc::bad_claim: return "bad_claim";
    default: return "invalid";
  }
}

namespace {

refusal reason_of(std::error_code ec) {
  if (ec.category() != auth::jwt_category()) return refusal::other;
  switch (static_cast<jwt_errc>(ec.value())) {
    case jwt_errc::expired: return refusal::expired;
    case jwt_errc::alg_none:
    case jwt_errc::alg_mismatch:
    case jwt_errc::unknown_key:
    case jwt_errc::ambiguous_key:
    case jwt_errc::bad_signature: return refusal::signature;
    case jwt_errc::wrong_audience: return refusal::audience;
    case jwt_errc::wrong_issuer: return refusal::issuer;
    case jwt_errc::malformed:
    case jwt_errc::bad_base64:
    case jwt_errc::bad_json:
    case jwt_errc::unsupported:
    case jwt_errc::token_too_long:
    case jwt_errc::missing_claim:
    case jwt_errc::bad_claim: return refusal::malformed;
    default: return refusal::other;
  }
}

std::string_view reason_name(refusal r) {
  switch (r) {
    case refusal::missing: return "no token";
    case refusal::expired: return "expired";
    case refusal::signature: return "signature";
    case refusal::audience: return "audience";
    case refusal::issuer: return "issuer";
    case refusal::malformed: return "malformed";
    case refusal::banned: return "banned";
    default: return "other";
  }
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "Authorization: Bearer <token>" (RFC 6750 2.1), else the cookie.
std::optional<std::string_view> token_of(const upgrade_request& r) {
  if (auto h = r.header("Authorization")) {
    const std::string_view v = trim(*h);
    if (v.size() > 7 && iequals(v.substr(0, 7), "bearer ")) {
      auto t = trim(v.substr(7));
      if (!t.empty()) return t;
    }
  }
  if (auto c = r.cookie(token_cookie); c && !c->empty()) return c;
  return std::nullopt;
}

}  // namespace

authenticator::authenticator(auth::key_set keys, auth::verify_options verify, log_fn log)
    : keys_(std::move(keys)), verify_(std::move(verify)), log_(std::move(log)) {}

std::vector<std::pair<std::string, std::uint64_t>> authenticator::refusals() const {
  std::lock_guard lock(refusals_mu_);
  return {refusals_.begin(), refusals_.end()};
}

std::uint64_t authenticator::refused() const noexcept {
  std::uint64_t n = 0;
  for (auto& c : refused_) n += c.load(std::memory_order_relaxed);
  return n;
}

upgrade_decision authenticator::refuse(const upgrade_request& r, refusal why, std::string_view error_name,
                                       std::string_view detail) const {
  refused_[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  {
    const std::string_view label = why == refusal::missing  ? std::string_view("missing_token")
                                   : why == refusal::banned ? std::string_view("banned")
                                                            : error_name;
    std::lock_guard lock(refusals_mu_);
    auto it = refusals_.find(label);
    if (it == refusals_.end()) it = refusals_.emplace(std::string(label), 0).first;
    ++it->second;
  }
  if (log_) log_("auth-refused " + r.remote_address() + " " + std::string(reason_name(why)));
  if (why == refusal::missing)
    return upgrade_decision::refuse(401, "a token is required: sign in (Authorization: Bearer, or the duplex_token cookie)\n",
                                    {{"WWW-Authenticate", "Bearer"}});
  if (why == refusal::banned) return upgrade_decision::refuse(403, "banned for now\n");
  // The body names the class of error, never the token.
  return upgrade_decision::refuse(
      401, "invalid token: " + std::string(error_name) + " (" + std::string(detail) + ")\n",
      {{"WWW-Authenticate", "Bearer error=\"invalid_token\", error_description=\"" + std::string(error_name) + "\""}});
}

token_check authenticator::verify_token(std::string_view token) const {
  auto v = auth::verify(token, keys_, verify_);
  if (!v) {
    const auto ec = v.error();
    return {std::nullopt, reason_of(ec), std::string(error_class(ec)), ec.message()};
  }
  // The leeway covers clocks that disagree about nbf and iat; at exp the
  // server closes the member (4001), so a token past it is not let in.
  const auto now = verify_.now ? verify_.now() : std::chrono::system_clock::now();
  if (v->exp && *v->exp <= std::chrono::floor<std::chrono::seconds>(now))
    return {std::nullopt, refusal::expired, "expired", "token expired"};
  identity who;
  if (v->name && !v->name->empty()) who.name = *v->name;
  else if (v->sub && !v->sub->empty()) who.name = *v->sub;
  else return {std::nullopt, refusal::malformed, "missing_claim", "the token has neither name nor sub"};
  if (auto rooms = v->string_list("rooms")) who.rooms = std::move(*rooms);
  who.exp = v->exp;
  return {std::move(who), {}, {}, {}};
}

upgrade_decision authenticator::check(const upgrade_request& r) const {
  const auto token = token_of(r);
  if (!token) return refuse(r, refusal::missing, "", "");
  auto c = verify_token(*token);
  if (!c.who) return refuse(r, c.why, c.error_name, c.detail);
  if (banned(c.who->name)) return refuse(r, refusal::banned, "banned", "");
  std::string name = c.who->name;
  return upgrade_decision::accept(std::move(*c.who)).identify(std::move(name));
}

void authenticator::ban(const std::string& name, std::chrono::seconds duration) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(ban_mu_);
  // Expired bans go on the way (the list stays as small as the bans in force).
  std::erase_if(banned_, [now](const auto& kv) { return kv.second <= now; });
  if (duration.count() > 0) banned_[name] = now + duration;
  else banned_.erase(name);
}

bool authenticator::banned(const std::string& name) const {
  std::lock_guard lock(ban_mu_);
  if (banned_.empty()) return false;
  auto it = banned_.find(name);
  return it != banned_.end() && it->second > std::chrono::steady_clock::now();
}

std::function<asio::awaitable<upgrade_decision>(const upgrade_request&)> authenticator::hook() const {
  return [this](const upgrade_request& r) -> asio::awaitable<upgrade_decision> { co_return check(r); };
}

}  // namespace duplex::chat
