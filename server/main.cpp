// duplex-chat: the chat server. Serves the web page (the WASM client) at /
// and the chat rooms at /ws/chat (history in SQLite under --data, in memory,
// or with --redis in Redis, shared with other instances), plus /healthz and
// /metrics.
//
// Read from the bottom: main() parses the command line (the flag table in
// parse_command_line()), chooses the engines (class engines: where history,
// rooms and presence live) and starts the parts.
#include "chat_admin.hpp"
#include "chat_auth.hpp"
#include "chat_service.hpp"
#include "flags.hpp"
#include "ops.hpp"

#include <duplex/net/hub.hpp>
#include <duplex/net/io_pool.hpp>
#include <duplex/net/server.hpp>
#include <duplex/realtime/broker.hpp>
#include <duplex/realtime/presence_manager.hpp>
#include <duplex/realtime/sqlite_history.hpp>
#include <duplex/redis/broker.hpp>
#include <duplex/redis/presence_manager.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_future.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef DUPLEX_DEFAULT_ROOT
#define DUPLEX_DEFAULT_ROOT "build/site"
#endif

namespace {

namespace chat = duplex::chat;
using chat::log_line;

// ---------------------------------------------------------------------------
// Parse: the command line into one config.

struct config {
  duplex::server_options server;
  std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::chrono::milliseconds drain_timeout{10'000};
  std::optional<std::uint16_t> health_port;
  // History: SQLite under data_dir, memory, or (use_redis) Redis.
  std::filesystem::path data_dir = "duplex-data";
  bool memory = false;
  bool use_redis = false;
  bool redis_degraded_start = false;
  duplex::redis::options redis;
  struct {
    std::string instance;                            // this instance's name (presence holder, logs)
    std::chrono::milliseconds presence_ttl{30'000};  // refreshed every ttl/3
    std::size_t queue_limit = 10'000;                // lines kept for Redis while it is down
  } cluster;
  chat::service_config rooms;
  // Sign-in.
  std::string auth_key_file;
  duplex::auth::verify_options auth_verify;
  std::string admin_token_file;
};

// Exits 0 after --help, 2 on a bad command line.
config parse_command_line(int argc, char** argv) {
  config c;
  c.server.port = 3000;
  c.server.root = DUPLEX_DEFAULT_ROOT;
  c.server.log = log_line;
  // Chat messages are small: 64 KiB bounds what one client can make the server buffer.
  c.server.websocket.max_message_size = 64 * 1024;
  // The room broadcasts with post(): a member that can't keep up with 256 KiB
  // of backlog is closed (1008) instead of growing server memory.
  c.server.websocket.send_queue_limit = 256 * 1024;
  c.server.websocket.on_overflow = duplex::overflow_policy::close;
  // Browsers offer permessage-deflate on every connection. Without context
  // takeover (the defaults) an idle member holds no zlib memory, and each
  // broadcast is compressed once (prepared_message), not once per member.
  c.server.websocket.deflate.enabled = true;
  std::vector<std::string> extra_hosts;

  chat::flags f(R"(usage: duplex-chat [options]

Serves the duplex chat page at / and the chat WebSocket at /ws/chat.

)",
                R"(
GET /healthz answers 200 "ok", or 503 while draining, while a serving thread
has run one handler for over 3 s ("stalled: thread N"), or (with --redis)
while Redis is unreachable ("degraded: redis down"); GET /metrics gives
Prometheus text (see README).
)");
  // Each row: the flag, its value's name (and range), where it goes, its help.
  f.text("--host", "ADDR", c.server.host, "address to listen on (default 127.0.0.1; 0.0.0.0 for all)");
  f.number("--port", "N", 0, 65535, c.server.port, "port (default 3000; 0 picks a free one)");
  f.text("--root", "DIR", c.server.root, "directory served at / (default " DUPLEX_DEFAULT_ROOT ")");
  f.text("--tls-cert", "FILE", c.server.tls_cert_file, "PEM certificate chain: serve https:// and wss:// only");
  f.text("--tls-key", "FILE", c.server.tls_key_file, "PEM private key for --tls-cert");
  f.text("--allow-origin", "URL", [&](std::string v) { c.server.allowed_origins.push_back(std::move(v)); },
         "allow WebSocket connections from a page at URL (e.g.\n"
         "http://example.com:8080); repeatable; \"*\" allows any.\n"
         "Default: only pages this server served (same origin).");
  f.number("--max-message", "BYTES", 64, chat::flags::unbounded, c.server.websocket.max_message_size,
           "largest accepted WebSocket message (default 65536)");
  f.on("--no-deflate", [&] { c.server.websocket.deflate.enabled = false; }, "do not negotiate permessage-deflate");
  f.text("--allow-host", "NAME", [&](std::string v) { extra_hosts.push_back(std::move(v)); },
         "answer requests for Host NAME (repeatable). Listening on\n"
         "loopback, only localhost, 127.0.0.1 and [::1] are\n"
         "answered (against DNS rebinding); otherwise any.");
  f.number("--threads", "N", 1, 1024, c.threads,
           "threads serving connections (default: the number of\n"
           "cores); the room's members may be on any of them");
  f.whole("--health-port", "N", 0, 65535, [&](std::uint64_t n) { c.health_port = static_cast<std::uint16_t>(n); },
          "also answer GET /healthz on port N (0: any free port),\n"
          "from a thread of its own: it still answers 503\n"
          "\"stalled: thread N\" while a serving thread is stuck,\n"
          "where the main port may not answer at all");
  f.decimal("--drain-timeout", "SEC", 0, 3600,
            [&](double sec) { c.drain_timeout = std::chrono::milliseconds(static_cast<long long>(sec * 1000)); },
            "on SIGTERM/SIGINT: stop accepting, send Close 1001 to\n"
            "every client and wait this long for their Close before\n"
            "exiting 0 (default 10; a second signal exits at once)");
  f.on("--log-json", [] { chat::set_log_json(true); }, "log one JSON object per line instead of text");
  f.text("--data", "DIR", c.data_dir,
         "keep the rooms' history in SQLite under DIR (default\n"
         "./duplex-data, created if missing)");
  f.on("--memory", c.memory, "keep history in memory only (lost on restart)");
  f.number("--history", "N", 0, 1000, c.rooms.join_history, "messages a joiner or watcher gets (default 100)");
  f.number("--max-rooms", "N", 1, 1'000'000, c.rooms.max_rooms, "rooms open at once (default 1000)");
  f.number("--presence-full-limit", "N", 0, 10'000'000, c.rooms.presence_full_limit,
           "a room with more than N members is big: its chat\n"
           "protocol v5 members get the member count and a bounded\n"
           "set of names (the first 50, and members who spoke)\n"
           "instead of every join and leave, and page through the\n"
           "full list on request (default 100; 0: every room sends\n"
           "every change). Versions 1-4 still get every change");
  f.number("--line-rate", "N", 0, 1'000'000, c.rooms.line_rate,
           "chat lines a member may send per second, sustained\n"
           "(default 5; 0: no limit). A line over it is refused\n"
           "with the error rate_limited (how long to wait) and\n"
           "reaches nobody; 20 refusals in a row close the member\n"
           "with 4008");
  f.number("--line-burst", "N", 1, 1'000'000, c.rooms.line_burst, "lines a member may send at once (default 10)");
  f.checked("--redis", "URL", "redis://[[user]:password@]host[:port][/db] or rediss://...",
            [&](const std::string& url) {
              auto e = duplex::redis::parse_url(url);
              if (e) c.redis.server = *e;
              return c.use_redis = e.has_value();
            },
            "share rooms, history and presence with other instances\n"
            "through Redis: redis://[[user]:password@]host[:port][/db]\n"
            "or rediss:// (TLS). History lives in Redis then (no\n"
            "--data/--memory). See docs/scale-out.md");
  f.text("--redis-ca", "FILE", c.redis.ca_file, "extra CA certificate (PEM) for rediss://");
  f.on("--redis-degraded-start", c.redis_degraded_start,
       "start even if Redis is unreachable (degraded until it is\n"
       "up); without it such a start exits 1 with the reason");
  f.text("--auth-jwt", "KEYFILE", c.auth_key_file,
         "require a signed-in user (JWT) for /ws/chat. KEYFILE is\n"
         "an HMAC secret, a PEM public key or certificate, or a\n"
         "JWK Set (told apart by content). The token comes in\n"
         "\"Authorization: Bearer\" or the duplex_token cookie (the\n"
         "page sets it from /#token=...); without a valid one the\n"
         "upgrade gets 401. A member joins under the token's\n"
         "name (or sub), rooms named private-... need the\n"
         "token's \"rooms\" claim, and at exp it is closed (4001)");
  f.seconds("--auth-refresh-notice", 0, 86'400, c.rooms.refresh_notice,
            "with --auth-jwt: this long before a member's token\n"
            "expires, send it token_expiring (chat protocol v4) so\n"
            "the page refreshes the token in band (default 60; a\n"
            "token with less than twice that left gets it halfway;\n"
            "0: no notice)");
  f.text("--auth-issuer", "ISS", c.auth_verify.issuer, "with --auth-jwt: the token's iss must be ISS");
  f.text("--auth-audience", "AUD", c.auth_verify.audience, "with --auth-jwt: the token's aud must contain AUD");
  f.text("--admin-token-file", "F", c.admin_token_file,
         "with --auth-jwt: GET /admin/disconnect?name=NAME with\n"
         "\"Authorization: Bearer <the token in F>\" closes every\n"
         "connection of the signed-in member NAME, on every\n"
         "thread, with 4003; &ban=SECONDS also refuses NAME's\n"
         "sign-ins (403) that long. F holds at least 16 bytes");
  f.checked("--instance", "NAME", "a name without newlines",
            [&](const std::string& name) {
              c.cluster.instance = name;
              return !name.empty() && name.find('\n') == std::string::npos;
            },
            "this instance's name in Redis presence (default host:pid)");
  f.seconds("--presence-ttl", 1, 86'400, c.cluster.presence_ttl,
            "a member of a dead instance disappears after this long\n"
            "(default 30)");
  f.number("--redis-queue", "N", 0, 10'000'000, c.cluster.queue_limit,
           "lines kept while Redis is down, published when it is\n"
           "back (default 10000)");
  f.parse(argc, argv);

  // What the flags mean together.
  auto& s = c.server;
  if (s.tls_cert_file.empty() != s.tls_key_file.empty()) f.fail("--tls-cert and --tls-key go together");
  // A loopback-only server answers only to loopback names (DNS rebinding).
  if (s.host == "127.0.0.1" || s.host == "::1" || s.host == "localhost")
    s.allowed_hosts = {"localhost", "127.0.0.1", "[::1]"};
  if (!extra_hosts.empty() && !s.allowed_hosts.empty())
    s.allowed_hosts.insert(s.allowed_hosts.end(), extra_hosts.begin(), extra_hosts.end());
  else if (!extra_hosts.empty())
    s.allowed_hosts = extra_hosts;
  if (!std::filesystem::is_directory(s.root)) f.fail("--root " + s.root.string() + " is not a directory");
  if (c.use_redis && (c.memory || f.given("--data")))
    f.fail("--redis keeps the history in Redis: drop --memory and --data");
  if (!c.use_redis && (c.redis_degraded_start || !c.redis.ca_file.empty())) f.fail("--redis-* options need --redis");
  if (c.auth_key_file.empty() && (c.auth_verify.issuer || c.auth_verify.audience || f.given("--auth-refresh-notice")))
    f.fail("--auth-issuer, --auth-audience and --auth-refresh-notice need --auth-jwt");
  if (c.auth_key_file.empty() && !c.admin_token_file.empty())
    f.fail("--admin-token-file needs --auth-jwt (members are disconnected by their signed-in name)");
  c.rooms.auth = !c.auth_key_file.empty();
  if (c.cluster.instance.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    c.cluster.instance = std::string(host) + ":" + std::to_string(::getpid());
  }
  return c;
}

// ---------------------------------------------------------------------------
// Sign-in (--auth-jwt, --admin-token-file): files that cannot be used stop
// the start with 2.

// The token of the admin route ("" without --admin-token-file).
std::string read_admin_token(const std::string& file) {
  if (file.empty()) return {};
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (!in || token.size() < 16) {
    std::cerr << "duplex-chat: cannot use --admin-token-file " << file
              << ": unreadable, or under 16 bytes (e.g. openssl rand -hex 32 > " << file << ")\n";
    std::exit(2);
  }
  return token;
}

// The verifier of the members' tokens (null without --auth-jwt).
std::unique_ptr<chat::authenticator> load_authenticator(const config& c) {
  if (c.auth_key_file.empty()) return nullptr;
  duplex::auth::key_set keys;
  chat::key_file_kind kind{};
  if (auto ec = chat::load_key_file(c.auth_key_file, keys, kind)) {
    std::cerr << "duplex-chat: cannot use --auth-jwt " << c.auth_key_file << ": " << ec.message();
    if (ec.category() == duplex::auth::jwt_category())
      std::cerr << " (read as " << chat::to_string(kind)
                << ": a file starting with '{' is a JWK Set, with -----BEGIN a PEM public key or certificate, "
                   "anything else an HMAC secret of at least 32 bytes)";
    std::cerr << "\n";
    std::exit(2);
  }
  const auto& v = c.auth_verify;
  log_line("auth: --auth-jwt " + c.auth_key_file + " (" + std::string(chat::to_string(kind)) + ", " +
           std::to_string(keys.size()) + (keys.size() == 1 ? " key" : " keys") + ")" +
           (v.issuer ? ", issuer " + *v.issuer : "") + (v.audience ? ", audience " + *v.audience : ""));
  return std::make_unique<chat::authenticator>(std::move(keys), v, log_line);
}

// ---------------------------------------------------------------------------
// Choose engines: where the rooms' history, and with --redis the rooms and
// their presence, live.

// --redis: rooms, history and presence shared with other instances. All the
// Redis pieces are here: two connections on thread 0, where the chat's
// state lives (commands: streams, presence; and the rooms' pub/sub
// channels) and the engines on them. Built unconnected; start() connects,
// the connections' events going to the broker (and the admin).
class redis_engines {
 public:
  explicit redis_engines(const config& c)
      : opts_(c.redis),
        degraded_start_(c.redis_degraded_start),
        broker_(client_, sub_,
                duplex::redis::broker_options{
                    .node = c.cluster.instance, .queue_limit = c.cluster.queue_limit, .log = log_line}),
        presence_(client_, duplex::redis::presence_options{
                               .node = c.cluster.instance, .ttl = c.cluster.presence_ttl, .log = log_line}) {}

  duplex::realtime::broker& broker() { return broker_; }
  duplex::realtime::presence_manager& presence() { return presence_; }
  std::string describe() const {
    return (opts_.server.tls ? "rediss://" : "redis://") + duplex::redis::to_string(opts_.server);
  }

  // Throws when Redis is unreachable (unless --redis-degraded-start).
  void start(asio::io_context& ctx, chat::admin* admin) {
    opts_.on_log = [](std::string_view l) { log_line(l); };
    auto sub_opts = opts_;
    sub_opts.name = "redis-sub";
    opts_.on_state = [this](duplex::redis::link_state, std::error_code) { broker_.on_state(false); };
    sub_opts.on_state = [this](duplex::redis::link_state s, std::error_code) {
      broker_.on_state(s == duplex::redis::link_state::up);
    };
    auto on_message = [this, admin](std::string_view channel, std::string_view payload) {
      if (channel != chat::admin::cluster_channel) {
        broker_.on_message(channel, payload);
        return;
      }
      if (admin) admin->on_cluster_message(payload);
    };
    if (degraded_start_) {
      client_ = duplex::redis::client::start(ctx.get_executor(), opts_);
      sub_ = duplex::redis::subscriber::start(ctx.get_executor(), sub_opts, on_message);
    } else {
      auto connected = asio::co_spawn(
          ctx,
          [&]() -> asio::awaitable<void> {
            client_ = co_await duplex::redis::client::connect(opts_);
            sub_ = co_await duplex::redis::subscriber::connect(sub_opts, on_message);
          },
          asio::use_future);
      while (connected.wait_for(std::chrono::seconds(0)) != std::future_status::ready) ctx.run_one();
      try {
        connected.get();
      } catch (const std::system_error& e) {
        throw std::runtime_error("redis " + duplex::redis::to_string(opts_.server) + " unreachable: " +
                                 e.code().message() +
                                 " (start it, or pass --redis-degraded-start to start without it)");
      }
    }
    // Every signed-in instance carries out what any instance's admin route was asked.
    if (!admin) return;
    admin->publish_through([this](std::string payload) -> asio::awaitable<bool> {
      std::error_code ec;
      const std::string_view channel = chat::admin::cluster_channel;
      co_await client_.command(ec, "PUBLISH", channel, payload);
      co_return !ec;
    });
    asio::co_spawn(ctx, [this]() -> asio::awaitable<void> {
      std::error_code ec;  // while Redis is down: subscribed when it is back
      co_await sub_.subscribe(std::string(chat::admin::cluster_channel), ec);
    }, asio::detached);
  }

  void register_operations(chat::operations& ops) {
    auto& b = broker_;
    ops.health_check("redis down", [&b] { return b.up(); });
    auto& m = ops.metrics();
    m.gauge("duplex_redis_up", "1 while both Redis connections (commands, pub/sub) are up.",
            [&b] { return b.up() ? 1.0 : 0.0; });
    m.gauge("duplex_redis_publish_seconds",
            "Round trip of the last line published to Redis (numbering, stream write and PUBLISH).",
            [&b] { return double(b.stats().publish_micros.load()) / 1e6; });
    m.gauge("duplex_redis_queued_lines", "Lines sent while Redis is down, waiting to be published.",
            [&b] { return double(b.stats().queued.load()); });
    m.counter("duplex_redis_queue_dropped_total", "Lines dropped because the outage queue was full.",
              [&b] { return double(b.stats().queue_dropped.load()); });
    m.counter("duplex_redis_gap_reads_total",
              "Reads of a room's stream to fill a gap in its pub/sub lines (or catch up after an outage).",
              [&b] { return double(b.stats().gaps_filled.load()); });
  }

 private:
  duplex::redis::options opts_;
  bool degraded_start_;
  duplex::redis::client client_;
  duplex::redis::subscriber sub_;
  duplex::redis::redis_broker broker_;
  duplex::redis::redis_presence presence_;
};

// One instance: history in SQLite (unless --memory) under the memory broker
// and presence; with --redis, the Redis engines.
class engines {
 public:
  // A SQLite store that cannot be opened stops the start here (throws); a
  // disk error later is logged and chat goes on live.
  explicit engines(const config& c) {
    if (c.use_redis) {
      redis_ = std::make_unique<redis_engines>(c);
      store_ = redis_->describe();
      return;
    }
    if (c.memory) {
      local_ = std::make_unique<duplex::realtime::memory_history>();
    } else {
      std::error_code ec;
      std::string detail;
      duplex::realtime::sqlite_history_config sc;
      sc.directory = c.data_dir;
      sc.on_error = [](std::error_code e, const std::string& why) {
        log_line("history-error " + e.message() + ": " + why + " (chat continues live)");
      };
      auto opened = duplex::realtime::sqlite_history::open(sc, ec, &detail);
      if (!opened)
        throw std::runtime_error("cannot use --data " + c.data_dir.string() + ": " + ec.message() +
                                 (detail.empty() ? "" : " (" + detail + ")"));
      store_ = opened->database_path().string();
      if (opened->recovered_from_crash())
        log_line("history: the previous run did not stop cleanly; rooms get new epochs");
      db_ = opened.get();
      local_ = std::move(opened);
    }
    local_broker_ = std::make_unique<duplex::realtime::memory_broker>(*local_);
    local_presence_ = std::make_unique<duplex::realtime::memory_presence>();
  }

  duplex::realtime::broker& broker() { return redis_ ? redis_->broker() : *local_broker_; }
  duplex::realtime::presence_manager& presence() { return redis_ ? redis_->presence() : *local_presence_; }
  // For the log: "memory", the database's path, or the Redis URL.
  const std::string& describe() const { return store_; }
  // Connects to Redis (throws when it cannot); `admin`: null without sign-in.
  void start(asio::io_context& ctx, chat::admin* admin) {
    if (redis_) redis_->start(ctx, admin);
  }
  // Their metrics, health check and what to flush after the drain.
  void register_operations(chat::operations& ops) {
    if (redis_) redis_->register_operations(ops);
    if (!db_) return;
    auto* db = db_;
    // After the drain: everything queued for SQLite is committed before exit.
    ops.on_flush([db] { db->flush(); });
    auto& m = ops.metrics();
    m.gauge("duplex_history_write_seconds", "Time the last SQLite history batch took to write and commit.",
            [db] { return double(db->stats().last_batch_time.count()) / 1e6; });
    m.gauge("duplex_history_write_max_seconds", "The longest SQLite history batch so far.",
            [db] { return double(db->stats().max_batch_time.count()) / 1e6; });
    m.gauge("duplex_history_queued", "Lines waiting to be written to SQLite.",
            [db] { return double(db->stats().queued); });
    m.counter("duplex_history_failed_writes_total", "Lines lost to SQLite write errors (chat went on live).",
              [db] { return double(db->stats().failed_writes); });
  }

 private:
  std::string store_ = "memory";
  std::unique_ptr<duplex::realtime::history_engine> local_;  // memory or SQLite
  duplex::realtime::sqlite_history* db_ = nullptr;            // local_, when SQLite
  std::unique_ptr<duplex::realtime::memory_broker> local_broker_;
  std::unique_ptr<duplex::realtime::memory_presence> local_presence_;
  std::unique_ptr<redis_engines> redis_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Start.

int main(int argc, char** argv) {
  const config cfg = parse_command_line(argc, argv);
  const std::string admin_token = read_admin_token(cfg.admin_token_file);
  const auto authn = load_authenticator(cfg);

  try {
    // Declared first, so destroyed last: everything below is torn down after
    // the threads stop.
    duplex::io_pool pool(cfg.threads);
    engines chosen(cfg);
    duplex::server srv(pool.contexts(), cfg.server);
    duplex::hub hub(pool.contexts());

    // The chat's state lives on thread 0; members may be on any thread.
    chat::service rooms(pool[0].get_executor(), hub, chosen.broker(), chosen.presence(), cfg.rooms, log_line);
    // Signed in: members can be disconnected by name (chat_admin.hpp); the
    // route exists with --admin-token-file; with --redis every instance
    // carries out what any instance's route was asked.
    std::optional<chat::admin> admin;
    if (authn) admin.emplace(srv, *authn, admin_token, pool[0].get_executor(), log_line);
    chosen.start(pool[0], admin ? &*admin : nullptr);

    auto endpoint = chat::service::endpoint();
    if (authn) {
      endpoint.on_upgrade = authn->hook();
      rooms.use_authenticator(*authn);
    }
    srv.websocket("/ws/chat", rooms.callbacks(), std::move(endpoint));
    rooms.start();
    if (admin && !cfg.admin_token_file.empty()) {
      admin->serve_routes();
      log_line("admin: GET /admin/disconnect?name=NAME[&ban=SECONDS] with the --admin-token-file token");
    }

    chat::operations ops(srv, pool);
    rooms.register_metrics(ops.metrics());
    if (admin) admin->register_metrics(ops.metrics());
    chosen.register_operations(ops);
    ops.serve_routes();
    ops.handle_signals(cfg.drain_timeout);
    if (cfg.health_port) {
      auto ho = cfg.server;
      ho.port = *cfg.health_port;
      ho.tls_cert_file.clear();
      ho.tls_key_file.clear();
      ho.log = {};  // a load balancer asks every few seconds
      const auto port = ops.serve_health(std::move(ho));
      log_line("health on http://" + cfg.server.host + ":" + std::to_string(port) +
               "/healthz (answered off the serving threads)");
    }
    ops.start();

    asio::co_spawn(pool[0], srv.run(), asio::detached);
    const char* scheme = cfg.server.tls_cert_file.empty() ? "http" : "https";
    const auto& h = cfg.server.host;
    log_line(std::string("listening on ") + scheme + "://" + (h == "0.0.0.0" || h == "127.0.0.1" ? "localhost" : h) +
             ":" + std::to_string(srv.port()) + "/ (root " + cfg.server.root.string() + ", " +
             std::to_string(cfg.threads) + " threads, history " + chosen.describe() + ")");
    pool.start();
    pool.join();
  } catch (const std::exception& e) {
    std::cerr << "duplex-chat: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
