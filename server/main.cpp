// duplex-chat: the chat server. Serves the web page (the WASM client) at /
// and the chat rooms at /ws/chat (history in SQLite under --data, or in
// memory), plus /healthz and /metrics.
#include "chat_service.hpp"
#include "ops.hpp"

#include <duplex/net/hub.hpp>
#include <duplex/net/io_pool.hpp>
#include <duplex/net/server.hpp>
#include <duplex/realtime/broker.hpp>
#include <duplex/realtime/presence_manager.hpp>
#include <duplex/realtime/sqlite_history.hpp>
#include <duplex/redis/broker.hpp>
#include <duplex/redis/presence_manager.hpp>

#include "chat_admin.hpp"
#include "chat_auth.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_future.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#ifndef DUPLEX_DEFAULT_ROOT
#define DUPLEX_DEFAULT_ROOT "build/site"
#endif

namespace {

constexpr std::string_view usage = R"(usage: duplex-chat [options]

Serves the duplex chat page at / and the chat WebSocket at /ws/chat.

  --host ADDR          address to listen on (default 127.0.0.1; 0.0.0.0 for all)
  --port N             port (default 3000; 0 picks a free one)
  --root DIR           directory served at / (default )" DUPLEX_DEFAULT_ROOT R"()
  --tls-cert FILE      PEM certificate chain: serve https:// and wss:// only
  --tls-key FILE       PEM private key for --tls-cert
  --allow-origin URL   allow WebSocket connections from a page at URL (e.g.
                       http://example.com:8080); repeatable; "*" allows any.
                       Default: only pages this server served (same origin).
  --max-message BYTES  largest accepted WebSocket message (default 65536)
  --no-deflate         do not negotiate permessage-deflate
  --allow-host NAME    answer requests for Host NAME (repeatable). Listening on
                       loopback, only localhost, 127.0.0.1 and [::1] are
                       answered (against DNS rebinding); otherwise any.
  --threads N          threads serving connections (default: the number of
                       cores); the room's members may be on any of them
  --health-port N      also answer GET /healthz on port N (0: any free port),
                       from a thread of its own: it still answers 503
                       "stalled: thread N" while a serving thread is stuck,
                       where the main port may not answer at all
  --drain-timeout SEC  on SIGTERM/SIGINT: stop accepting, send Close 1001 to
                       every client and wait this long for their Close before
                       exiting 0 (default 10; a second signal exits at once)
  --log-json           log one JSON object per line instead of text
  --data DIR           keep the rooms' history in SQLite under DIR (default
                       ./duplex-data, created if missing)
  --memory             keep history in memory only (lost on restart)
  --history N          messages a joiner or watcher gets (default 100)
  --max-rooms N        rooms open at once (default 1000)
  --presence-full-limit N
                       a room with more than N members is big: its chat
                       protocol v5 members get the member count and a bounded
                       set of names (the first 50, and members who spoke)
                       instead of every join and leave, and page through the
                       full list on request (default 100; 0: every room sends
                       every change). Versions 1-4 still get every change
  --line-rate N        chat lines a member may send per second, sustained
                       (default 5; 0: no limit). A line over it is refused
                       with the error rate_limited (how long to wait) and
                       reaches nobody; 20 refusals in a row close the member
                       with 4008
  --line-burst N       lines a member may send at once (default 10)
  --redis URL          share rooms, history and presence with other instances
                       through Redis: redis://[[user]:password@]host[:port][/db]
                       or rediss:// (TLS). History lives in Redis then (no
                       --data/--memory). See docs/scale-out.md
  --redis-ca FILE      extra CA certificate (PEM) for rediss://
  --redis-degraded-start
                       start even if Redis is unreachable (degraded until it is
                       up); without it such a start exits 1 with the reason
  --auth-jwt KEYFILE   require a signed-in user (JWT) for /ws/chat. KEYFILE is
                       an HMAC secret, a PEM public key or certificate, or a
                       JWK Set (told apart by content). The token comes in
                       "Authorization: Bearer" or the duplex_token cookie (the
                       page sets it from /#token=...); without a valid one the
                       upgrade gets 401. A member joins under the token's
                       name (or sub), rooms named private-... need the
                       token's "rooms" claim, and at exp it is closed (4001)
  --auth-refresh-notice SEC
                       with --auth-jwt: this long before a member's token
                       expires, send it token_expiring (chat protocol v4) so
                       the page refreshes the token in band (default 60; a
                       token with less than twice that left gets it halfway;
                       0: no notice)
  --auth-issuer ISS    with --auth-jwt: the token's iss must be ISS
  --auth-audience AUD  with --auth-jwt: the token's aud must contain AUD
  --admin-token-file F with --auth-jwt: GET /admin/disconnect?name=NAME with
                       "Authorization: Bearer <the token in F>" closes every
                       connection of the signed-in member NAME, on every
                       thread, with 4003; &ban=SECONDS also refuses NAME's
                       sign-ins (403) that long. F holds at least 16 bytes
  --instance NAME      this instance's name in Redis presence (default host:pid)
  --presence-ttl SEC   a member of a dead instance disappears after this long
                       (default 30)
  --redis-queue N      lines kept while Redis is down, published when it is
                       back (default 10000)
  --help               this text

GET /healthz answers 200 "ok", or 503 while draining, while a serving thread
has run one handler for over 3 s ("stalled: thread N"), or (with --redis)
while Redis is unreachable ("degraded: redis down"); GET /metrics gives
Prometheus text (see README).
)";

using duplex::chat::log_line;

[[noreturn]] void fail(std::string_view why) {
  std::cerr << "duplex-chat: " << why << "\n(try --help)\n";
  std::exit(2);
}

std::size_t count_arg(std::string_view flag, const std::string& v, std::size_t lo, std::size_t hi) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end || v[0] == '-' || n < lo || n > hi)
    fail("bad " + std::string(flag) + " " + v + " (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
  return static_cast<std::size_t>(n);
}

}  // namespace

int main(int argc, char** argv) {
  duplex::server_options opts;
  opts.port = 3000;
  opts.root = DUPLEX_DEFAULT_ROOT;
  opts.log = log_line;
  // Chat messages are small: 64 KiB bounds what one client can make the server buffer.
  opts.websocket.max_message_size = 64 * 1024;
  // The room broadcasts with post(): a member that can't keep up with 256 KiB
  // of backlog is closed (1008) instead of growing server memory.
  opts.websocket.send_queue_limit = 256 * 1024;
  opts.websocket.on_overflow = duplex::overflow_policy::close;
  // Browsers offer permessage-deflate on every connection. Without context
  // takeover (the defaults) an idle member holds no zlib memory, and each
  // broadcast is compressed once (prepared_message), not once per member.
  opts.websocket.deflate.enabled = true;

  std::vector<std::string> extra_hosts;
  std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  auto drain_timeout = std::chrono::milliseconds(10'000);
  std::filesystem::path data_dir = "duplex-data";
  bool memory = false, data_given = false;
  std::string redis_url;
  bool redis_degraded_start = false;
  std::optional<std::uint16_t> health_port;
  duplex::redis::options redis_opts;
  struct {
    std::string instance;                            // this instance's name (presence holder, logs)
    std::chrono::milliseconds presence_ttl{30'000};  // refreshed every ttl/3
    std::size_t queue_limit = 10'000;                // lines kept for Redis while it is down
  } cluster_opts;
  duplex::chat::service_config chat;
  std::string auth_key_file;
  duplex::auth::verify_options auth_verify;
  std::string admin_token_file;
  bool refresh_notice_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else if (arg == "--host") {
      opts.host = value();
    } else if (arg == "--port") {
      const std::string v = value();
      char* end = nullptr;
      const long port = std::strtol(v.c_str(), &end, 10);
      if (*end || port < 0 || port > 65535) fail("bad --port " + v);
      opts.port = static_cast<std::uint16_t>(port);
    } else if (arg == "--root") {
      opts.root = value();
    } else if (arg == "--tls-cert") {
      opts.tls_cert_file = value();
    } else if (arg == "--tls-key") {
      opts.tls_key_file = value();
    } else if (arg == "--no-deflate") {
      opts.websocket.deflate.enabled = false;
    } else if (arg == "--allow-host") {
      extra_hosts.push_back(value());
    } else if (arg == "--allow-origin") {
      opts.allowed_origins.push_back(value());
    } else if (arg == "--health-port") {
      health_port = static_cast<std::uint16_t>(count_arg(arg, value(), 0, 65535));
    } else if (arg == "--threads") {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (*end || n < 1 || n > 1024) fail("bad --threads " + v);
      threads = static_cast<std::size_t>(n);
    } else if (arg == "--drain-timeout") {
      const std::string v = value();
      char* end = nullptr;
      const double sec = std::strtod(v.c_str(), &end);
      if (*end || v.empty() || !(sec >= 0 && sec <= 3600)) fail("bad --drain-timeout " + v);
      drain_timeout = std::chrono::milliseconds(static_cast<long long>(sec * 1000));
    } else if (arg == "--log-json") {
      duplex::chat::set_log_json(true);
    } else if (arg == "--data") {
      data_dir = value();
      data_given = true;
    } else if (arg == "--memory") {
      memory = true;
    } else if (arg == "--history") {
      chat.join_history = count_arg(arg, value(), 0, 1000);
    } else if (arg == "--presence-full-limit") {
      chat.presence_full_limit = count_arg(arg, value(), 0, 10'000'000);
    } else if (arg == "--max-rooms") {
      chat.max_rooms = count_arg(arg, value(), 1, 1'000'000);
    } else if (arg == "--line-rate") {
      chat.line_rate = static_cast<double>(count_arg(arg, value(), 0, 1'000'000));
    } else if (arg == "--line-burst") {
      chat.line_burst = static_cast<double>(count_arg(arg, value(), 1, 1'000'000));
    } else if (arg == "--redis") {
      redis_url = value();
      auto e = duplex::redis::parse_url(redis_url);
      if (!e) fail("bad --redis " + redis_url + " (redis://[[user]:password@]host[:port][/db] or rediss://...)");
      redis_opts.server = *e;
    } else if (arg == "--redis-ca") {
      redis_opts.ca_file = value();
    } else if (arg == "--redis-degraded-start") {
      redis_degraded_start = true;
    } else if (arg == "--instance") {
      cluster_opts.instance = value();
      if (cluster_opts.instance.empty() || cluster_opts.instance.find('\n') != std::string::npos)
        fail("bad --instance (a name without newlines)");
    } else if (arg == "--presence-ttl") {
      cluster_opts.presence_ttl = std::chrono::seconds(count_arg(arg, value(), 1, 86'400));
    } else if (arg == "--redis-queue") {
      cluster_opts.queue_limit = count_arg(arg, value(), 0, 10'000'000);
    } else if (arg == "--auth-jwt") {
      auth_key_file = value();
    } else if (arg == "--auth-issuer") {
      auth_verify.issuer = value();
    } else if (arg == "--auth-audience") {
      auth_verify.audience = value();
    } else if (arg == "--auth-refresh-notice") {
      chat.refresh_notice = std::chrono::seconds(count_arg(arg, value(), 0, 86'400));
      refresh_notice_given = true;
    } else if (arg == "--admin-token-file") {
      admin_token_file = value();
    } else if (arg == "--max-message") {
      const std::string v = value();
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (*end || n < 64) fail("bad --max-message " + v);
      opts.websocket.max_message_size = n;
    } else {
      fail("unknown option " + std::string(arg));
    }
  }
  if (opts.tls_cert_file.empty() != opts.tls_key_file.empty()) fail("--tls-cert and --tls-key go together");
  // A loopback-only server answers only to loopback names (DNS rebinding).
  if (opts.host == "127.0.0.1" || opts.host == "::1" || opts.host == "localhost")
    opts.allowed_hosts = {"localhost", "127.0.0.1", "[::1]"};
  if (!extra_hosts.empty() && !opts.allowed_hosts.empty())
    opts.allowed_hosts.insert(opts.allowed_hosts.end(), extra_hosts.begin(), extra_hosts.end());
  else if (!extra_hosts.empty())
    opts.allowed_hosts = extra_hosts;
  if (!std::filesystem::is_directory(opts.root)) fail("--root " + opts.root.string() + " is not a directory");
  const bool use_redis = !redis_url.empty();
  if (use_redis && (memory || data_given)) fail("--redis keeps the history in Redis: drop --memory and --data");
  if (!use_redis && (redis_degraded_start || !redis_opts.ca_file.empty())) fail("--redis-* options need --redis");
  if (auth_key_file.empty() && (auth_verify.issuer || auth_verify.audience || refresh_notice_given))
    fail("--auth-issuer, --auth-audience and --auth-refresh-notice need --auth-jwt");
  if (auth_key_file.empty() && !admin_token_file.empty())
    fail("--admin-token-file needs --auth-jwt (members are disconnected by their signed-in name)");
  std::string admin_token;
  if (!admin_token_file.empty()) {
    std::ifstream in(admin_token_file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    admin_token = text.str();
    while (!admin_token.empty() && (admin_token.back() == '\n' || admin_token.back() == '\r')) admin_token.pop_back();
    if (!in || admin_token.size() < 16) {
      std::cerr << "duplex-chat: cannot use --admin-token-file " << admin_token_file
                << ": unreadable, or under 16 bytes (e.g. openssl rand -hex 32 > " << admin_token_file << ")\n";
      return 2;
    }
  }
  // Sign-in (--auth-jwt): a key file that cannot be used stops the start.
  std::unique_ptr<duplex::chat::authenticator> authn;
  if (!auth_key_file.empty()) {
    duplex::auth::key_set keys;
    duplex::chat::key_file_kind kind{};
    if (auto ec = duplex::chat::load_key_file(auth_key_file, keys, kind)) {
      std::cerr << "duplex-chat: cannot use --auth-jwt " << auth_key_file << ": " << ec.message();
      if (ec.category() == duplex::auth::jwt_category())
        std::cerr << " (read as " << duplex::chat::to_string(kind)
                  << ": a file starting with '{' is a JWK Set, with -----BEGIN a PEM public key or certificate, "
                     "anything else an HMAC secret of at least 32 bytes)";
      std::cerr << "\n";
      return 2;
    }
    log_line("auth: --auth-jwt " + auth_key_file + " (" + std::string(duplex::chat::to_string(kind)) + ", " +
             std::to_string(keys.size()) + (keys.size() == 1 ? " key" : " keys") + ")" +
             (auth_verify.issuer ? ", issuer " + *auth_verify.issuer : "") +
             (auth_verify.audience ? ", audience " + *auth_verify.audience : ""));
    authn = std::make_unique<duplex::chat::authenticator>(std::move(keys), auth_verify, log_line);
    chat.auth = true;
  }
  if (cluster_opts.instance.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    cluster_opts.instance = std::string(host) + ":" + std::to_string(::getpid());
  }

  // History: SQLite unless --memory. A store that cannot be opened stops
  // the server here; a disk error later is logged and chat goes on live.
  std::unique_ptr<duplex::realtime::history_engine> history;
  duplex::realtime::sqlite_history* db = nullptr;
  std::string store = "memory";
  if (use_redis) {
    store = (redis_opts.server.tls ? "rediss://" : "redis://") + duplex::redis::to_string(redis_opts.server);
  } else if (memory) {
    history = std::make_unique<duplex::realtime::memory_history>();
  } else {
    std::error_code ec;
    std::string detail;
    duplex::realtime::sqlite_history_config sc;
    sc.directory = data_dir;
    sc.on_error = [](std::error_code e, const std::string& why) {
      log_line("history-error " + e.message() + ": " + why + " (chat continues live)");
    };
    auto opened = duplex::realtime::sqlite_history::open(sc, ec, &detail);
    if (!opened) {
      std::cerr << "duplex-chat: cannot use --data " << data_dir.string() << ": " << ec.message()
                << (detail.empty() ? "" : " (" + detail + ")") << "\n";
      return 1;
    }
    store = opened->database_path().string();
    if (opened->recovered_from_crash()) log_line("history: the previous run did not stop cleanly; rooms get new epochs");
    db = opened.get();
    history = std::move(opened);
  }

  try {
    // Declared first, so destroyed last: everything below is torn down after
    // the threads stop.
    duplex::io_pool pool(threads);
    duplex::server srv(pool.contexts(), opts);
    duplex::hub hub(pool.contexts());

    // Redis (--redis): two connections on thread 0, where the chat's state
    // lives: commands (streams, presence) and the rooms' pub/sub channels.
    std::unique_ptr<duplex::chat::admin> admin;  // set below, with --auth-jwt
    duplex::redis::client redis;
    duplex::redis::subscriber redis_sub;
    // The engines (docs/architecture.md): lines through a broker, names
    // through a presence manager; in memory for one instance, in Redis for
    // rooms shared by several.
    std::unique_ptr<duplex::realtime::broker> broker;
    std::unique_ptr<duplex::realtime::presence_manager> presence;
    duplex::redis::redis_broker* redis_broker = nullptr;
    if (use_redis) {
      redis_opts.on_log = [](std::string_view l) { log_line(l); };
      auto sub_opts = redis_opts;
      sub_opts.name = "redis-sub";
      redis_opts.on_state = [&redis_broker](duplex::redis::link_state, std::error_code) {
        if (redis_broker) redis_broker->on_state(false);
      };
      sub_opts.on_state = [&redis_broker](duplex::redis::link_state s, std::error_code) {
        if (redis_broker) redis_broker->on_state(s == duplex::redis::link_state::up);
      };
      auto on_message = [&redis_broker, &admin](std::string_view channel, std::string_view payload) {
        if (channel == duplex::chat::admin::cluster_channel) {
          if (admin) admin->on_cluster_message(payload);
          return;
        }
        if (redis_broker) redis_broker->on_message(channel, payload);
      };
      if (redis_degraded_start) {
        redis = duplex::redis::client::start(pool[0].get_executor(), redis_opts);
        redis_sub = duplex::redis::subscriber::start(pool[0].get_executor(), sub_opts, on_message);
      } else {
        auto connected = asio::co_spawn(
            pool[0],
            [&]() -> asio::awaitable<void> {
              redis = co_await duplex::redis::client::connect(redis_opts);
              redis_sub = co_await duplex::redis::subscriber::connect(sub_opts, on_message);
            },
            asio::use_future);
        while (connected.wait_for(std::chrono::seconds(0)) != std::future_status::ready) pool[0].run_one();
        try {
          connected.get();
        } catch (const std::system_error& e) {
          std::cerr << "duplex-chat: redis " << duplex::redis::to_string(redis_opts.server)
                    << " unreachable: " << e.code().message()
                    << " (start it, or pass --redis-degraded-start to start without it)\n";
          return 1;
        }
      }
      auto b = std::make_unique<duplex::redis::redis_broker>(
          redis, redis_sub,
          duplex::redis::broker_options{.node = cluster_opts.instance, .queue_limit = cluster_opts.queue_limit, .log = log_line});
      redis_broker = b.get();
      broker = std::move(b);
      presence = std::make_unique<duplex::redis::redis_presence>(
          redis, duplex::redis::presence_options{.node = cluster_opts.instance, .ttl = cluster_opts.presence_ttl, .log = log_line});
    } else {
      broker = std::make_unique<duplex::realtime::memory_broker>(*history);
      presence = std::make_unique<duplex::realtime::memory_presence>();
    }
    // The chat's state lives on thread 0; members may be on any thread.
    duplex::chat::service rooms(pool[0].get_executor(), hub, *broker, *presence, chat, log_line);
    auto endpoint = duplex::chat::service::endpoint();
    if (authn) {
      endpoint.on_upgrade = authn->hook();
      rooms.use_authenticator(*authn);
    }
    srv.websocket("/ws/chat", [&rooms](duplex::websocket ws) { return rooms.serve(std::move(ws)); },
                  std::move(endpoint));
    rooms.start();
    // Signed in: members can be disconnected by name (chat_admin.hpp); the
    // route exists with --admin-token-file; with --redis every instance
    // carries out what any instance's route was asked.
    if (authn) {
      admin = std::make_unique<duplex::chat::admin>(srv, *authn, std::move(admin_token), pool[0].get_executor(), log_line);
      if (!admin_token_file.empty()) {
        admin->serve_routes();
        log_line("admin: GET /admin/disconnect?name=NAME[&ban=SECONDS] with the --admin-token-file token");
      }
      if (use_redis) {
        admin->publish_through([&redis](std::string payload) -> asio::awaitable<bool> {
          std::error_code ec;
          const std::string_view channel = duplex::chat::admin::cluster_channel;
          co_await redis.command(ec, "PUBLISH", channel, payload);
          co_return !ec;
        });
        asio::co_spawn(pool[0], [&redis_sub]() -> asio::awaitable<void> {
          std::error_code ec;  // while Redis is down: subscribed when it is back
          co_await redis_sub.subscribe(std::string(duplex::chat::admin::cluster_channel), ec);
        }, asio::detached);
      }
    }

    duplex::chat::operations ops(srv, pool);
    ops.metrics().gauge("duplex_chat_members", "Members joined to a chat room (connected), over all rooms.",
                        [&rooms] { return double(rooms.members()); });
    ops.metrics().gauge("duplex_chat_rooms", "Chat rooms open (watched, joined, or holding a name in its grace period).",
                        [&rooms] { return double(rooms.rooms()); });
    // After the drain: everything queued for SQLite is committed before exit.
    if (db) ops.on_flush([db] { db->flush(); });
    if (db) {
      ops.metrics().gauge("duplex_history_write_seconds", "Time the last SQLite history batch took to write and commit.",
                          [db] { return double(db->stats().last_batch_time.count()) / 1e6; });
      ops.metrics().gauge("duplex_history_write_max_seconds", "The longest SQLite history batch so far.",
                          [db] { return double(db->stats().max_batch_time.count()) / 1e6; });
      ops.metrics().gauge("duplex_history_queued", "Lines waiting to be written to SQLite.",
                          [db] { return double(db->stats().queued); });
      ops.metrics().counter("duplex_history_failed_writes_total", "Lines lost to SQLite write errors (chat went on live).",
                          [db] { return double(db->stats().failed_writes); });
    }
    ops.metrics().counter("duplex_chat_rate_limited_total", "Chat lines refused by flood control (rate_limited).",
                          [&rooms] { return double(rooms.rate_limited()); });
    ops.metrics().counter("duplex_chat_flood_closes_total", "Members closed for flooding (4008).",
                          [&rooms] { return double(rooms.flood_closes()); });
    // Requests refused in band by their error code (rate_limited,
    // forbidden_room, bad_token, ...): a labelled family.
    ops.metrics().counter_family(
        "duplex_chat_refused_total",
        "Chat requests refused with a typed error, by its code (rate_limited: flood control; the others in "
        "docs/chat-protocol.md).",
        "reason", [&rooms] {
          duplex::metrics::samples out;
          for (auto& [code, n] : rooms.refusals()) out.emplace_back(code, double(n));
          return out;
        });
    if (authn) {
      auto& a = *authn;
      ops.metrics().counter_family(
          "duplex_chat_auth_refused_total",
          "WebSocket upgrades refused by --auth-jwt, by reason: 401 missing_token, or the token's error (expired, "
          "bad_signature, alg_mismatch, unknown_key, wrong_audience, wrong_issuer, malformed, ...); 403 banned.",
          "reason", [&a] {
            duplex::metrics::samples out;
            for (auto& [reason, n] : a.refusals()) out.emplace_back(reason, double(n));
            return out;
          });
      ops.metrics().counter("duplex_chat_auth_expired_closes_total", "Members closed (4001) because their token expired.",
                            [&rooms] { return double(rooms.expired_closes()); });
      ops.metrics().counter("duplex_chat_auth_expiry_notices_total",
                            "token_expiring notices sent (chat protocol v4, --auth-refresh-notice before exp).",
                            [&rooms] { return double(rooms.expiry_notices()); });
      ops.metrics().counter("duplex_chat_auth_refreshed_total", "Tokens refreshed in band (refresh -> refreshed).",
                            [&rooms] { return double(rooms.refreshed()); });
      ops.metrics().counter("duplex_chat_auth_banned_total", "Sign-ins refused (403) because the member is banned for now.",
                            [&a] { return double(a.refused(duplex::chat::refusal::banned)); });
    }
    if (admin) {
      auto& a = *admin;
      ops.metrics().counter("duplex_chat_admin_disconnects_total",
                            "Connections closed (4003) through /admin/disconnect, by the member's signed-in name.",
                            [&a] { return double(a.disconnected()); });
    }
    ops.metrics().gauge("duplex_threads", "Threads serving connections.", [threads] { return double(threads); });
    if (redis_broker) {
      auto& c = *redis_broker;
      ops.health_check("redis down", [&c] { return c.up(); });
      ops.metrics().gauge("duplex_redis_up", "1 while both Redis connections (commands, pub/sub) are up.",
                          [&c] { return c.up() ? 1.0 : 0.0; });
      ops.metrics().gauge("duplex_redis_publish_seconds",
                          "Round trip of the last line published to Redis (numbering, stream write and PUBLISH).",
                          [&c] { return double(c.stats().publish_micros.load()) / 1e6; });
      ops.metrics().gauge("duplex_redis_queued_lines", "Lines sent while Redis is down, waiting to be published.",
                          [&c] { return double(c.stats().queued.load()); });
      ops.metrics().counter("duplex_redis_queue_dropped_total", "Lines dropped because the outage queue was full.",
                          [&c] { return double(c.stats().queue_dropped.load()); });
      ops.metrics().counter("duplex_redis_gap_reads_total",
                          "Reads of a room's stream to fill a gap in its pub/sub lines (or catch up after an outage).",
                          [&c] { return double(c.stats().gaps_filled.load()); });
    }
    ops.serve_routes();
    ops.handle_signals(drain_timeout);
    if (health_port) {
      auto ho = opts;
      ho.port = *health_port;
      ho.tls_cert_file.clear();
      ho.tls_key_file.clear();
      ho.log = {};  // a load balancer asks every few seconds
      const auto port = ops.serve_health(std::move(ho));
      log_line("health on http://" + opts.host + ":" + std::to_string(port) + "/healthz (answered off the serving threads)");
    }
    ops.start();

    asio::co_spawn(pool[0], srv.run(), asio::detached);
    const char* scheme = opts.tls_cert_file.empty() ? "http" : "https";
    const std::string host = opts.host == "0.0.0.0" || opts.host == "127.0.0.1" ? "localhost" : opts.host;
    log_line(std::string("listening on ") + scheme + "://" + host + ":" + std::to_string(srv.port()) +
             "/ (root " + opts.root.string() + ", " + std::to_string(threads) + " threads, history " + store + ")");
    pool.start();
    pool.join();
  } catch (const std::exception& e) {
    std::cerr << "duplex-chat: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
