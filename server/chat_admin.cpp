#include "chat_admin.hpp"

#include <duplex/net/upgrade.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <charconv>
#include <chrono>

namespace duplex::chat {

namespace {

// Equal without an early exit, so the time taken does not tell how much of
// a guessed token was right.
bool same_secret(std::string_view a, std::string_view b) noexcept {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

route_response text(int status, std::string body) { return {status, "text/plain; charset=utf-8", std::move(body)}; }

}  // namespace

admin::admin(server& srv, authenticator& authn, std::string token, asio::any_io_executor ex, log_fn log)
    : srv_(srv), authn_(authn), token_(std::move(token)), ex_(std::move(ex)), log_(std::move(log)) {}

void admin::serve_routes() {
  srv_.route("/admin/disconnect", [this](const protocol::http_request& req) { return handle(req); });
}

route_response admin::handle(const protocol::http_request& req) {
  // upgrade_request parses the query and headers the same way the hook sees them.
  const upgrade_request r(req, {}, false);
  const auto auth = r.header("Authorization");
  if (!auth || auth->size() <= 7 || !protocol::iequals(auth->substr(0, 7), "bearer ") ||
      !same_secret(auth->substr(7), token_)) {
    if (log_) log_("admin-refused (no or wrong admin token)");
    return text(401, "admin token required (Authorization: Bearer)\n");
  }
  const auto name = r.query_param("name");
  if (!name || name->empty() || name->find_first_of("\r\n") != std::string::npos)
    return text(400, "name=NAME required\n");
  std::chrono::seconds ban{-1};
  if (auto b = r.query_param("ban")) {
    long long n = -1;
    const auto [end, ec] = std::from_chars(b->data(), b->data() + b->size(), n);
    if (ec != std::errc() || end != b->data() + b->size() || n < 0 || n > 365LL * 86400)
      return text(400, "ban=SECONDS (0 to 31536000)\n");
    ban = std::chrono::seconds(n);
  }
  if (publish_) {
    // "<ban seconds, -1: none> <name>": every instance carries it out.
    std::string payload = std::to_string(ban.count()) + " " + *name;
    asio::co_spawn(ex_, [this, payload = std::move(payload), who = *name, ban]() -> asio::awaitable<void> {
      const bool published = co_await publish_(payload);
      if (published) co_return;
      if (log_) log_("admin-disconnect " + who + ": redis down, carried out on this instance only");
      apply(who, ban);
    }, asio::detached);
  } else {
    apply(*name, ban);
  }
  return text(200, "disconnecting " + *name + (ban.count() > 0 ? " (banned for " + std::to_string(ban.count()) + " s)" : "") +
                       "\n");
}

void admin::apply(const std::string& name, std::chrono::seconds ban) {
  // The ban first: a reconnect racing the disconnect is refused by the hook.
  if (ban.count() >= 0) authn_.ban(name, ban);
  asio::co_spawn(ex_, [this, who = name, ban]() -> asio::awaitable<void> {
    const std::size_t n = co_await srv_.disconnect(who, close_disconnected, "disconnected by an administrator");
    disconnected_.fetch_add(n, std::memory_order_relaxed);
    if (log_)
      log_("admin-disconnect " + who + ": " + std::to_string(n) + (n == 1 ? " connection" : " connections") +
           (ban.count() > 0 ? ", banned for " + std::to_string(ban.count()) + " s" : ""));
  }, asio::detached);
}

void admin::on_cluster_message(std::string_view payload) {
  const auto space = payload.find(' ');
  long long n = 0;
  const char* end = payload.data() + (space == std::string_view::npos ? 0 : space);
  const auto [at, ec] = std::from_chars(payload.data(), end, n);
  if (space == std::string_view::npos || ec != std::errc() || at != end || space + 1 >= payload.size() ||
      n < -1 || n > 365LL * 86400) {
    if (log_) log_("admin-disconnect: ignored a malformed request on " + std::string(cluster_channel));
    return;
  }
  apply(std::string(payload.substr(space + 1)), std::chrono::seconds(n));
}

void admin::register_metrics(duplex::metrics& m) {
  auto& a = authn_;
  m.counter_family(
      "duplex_chat_auth_refused_total",
      "WebSocket upgrades refused by --auth-jwt, by reason: 401 missing_token, or the token's error (expired, "
      "bad_signature, alg_mismatch, unknown_key, wrong_audience, wrong_issuer, malformed, ...); 403 banned.",
      "reason", [&a] {
        duplex::metrics::samples out;
        for (auto& [reason, n] : a.refusals()) out.emplace_back(reason, double(n));
        return out;
      });
  m.counter("duplex_chat_auth_banned_total", "Sign-ins refused (403) because the member is banned for now.",
            [&a] { return double(a.refused(refusal::banned)); });
  m.counter("duplex_chat_admin_disconnects_total",
            "Connections closed (4003) through /admin/disconnect, by the member's signed-in name.",
            [this] { return double(disconnected()); });
}

}  // namespace duplex::chat
