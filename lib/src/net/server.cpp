#include <duplex/net/server.hpp>
#include <duplex/net/static_files.hpp>
#include <duplex/protocol/deflate.hpp>
#include <duplex/protocol/handshake.hpp>
#include <duplex/protocol/http.hpp>

#include "session.hpp"

#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>
#include <asio/post.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <any>
#include <atomic>
#include <cmath>
#include <mutex>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

namespace duplex {

using asio::ip::tcp;
using asio::redirect_error;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;
namespace proto = protocol;

struct server::impl : std::enable_shared_from_this<impl> {
  struct endpoint {
    handler fn;  // a coroutine endpoint's, or
    std::shared_ptr<detail::callback_host> callbacks;  // a callback endpoint's
    endpoint_options opts;
    // The websocket options its sessions share (detail::session_options()).
    std::shared_ptr<const websocket_options> session_opts;
  };

  void add_endpoint(std::string path, handler fn, std::shared_ptr<detail::callback_host> callbacks,
                    endpoint_options o) {
    auto shared = detail::session_options(o.websocket ? *o.websocket : opts.websocket, proto::role::server);
    endpoints[std::move(path)] = {std::move(fn), std::move(callbacks), std::move(o), std::move(shared)};
  }

  // A callback endpoint's sessions report to the server through this. Weak:
  // sessions may outlive the server.
  struct callback_endpoint final : detail::callback_host {
    callback_endpoint(websocket_callbacks c, std::weak_ptr<impl> s) : callback_host(std::move(c)), server(std::move(s)) {}
    void failed(detail::session& s, std::string_view what) noexcept override {
      if (auto self = server.lock()) self->log("handler-error " + s.remote + " " + std::string(what));
    }
    void ended(detail::session& s) noexcept override {
      auto self = server.lock();
      if (!self) return;
      for (auto& w : self->workers)
        if (&w->stats == s.stats) self->closed(s, *w);
    }
    std::weak_ptr<impl> server;
  };

  // One per thread: its connections and counters, touched by that thread only
  // (counters are read by scrapes, see metrics.hpp).
  struct worker {
    explicit worker(asio::io_context& io) : io(io) {}
    asio::io_context& io;
    // Its live connections are no index of their own: they are the
    // sessions in this io_context's watchdog list whose counters are this
    // worker's (see for_each_live()); a session leaves the list when its
    // transport ends, and past that drain() has nothing to do with it.
    // The live connections the upgrade hook identified, by a view of their
    // session's identity string (see disconnect()).
    std::unordered_multimap<std::string_view, std::weak_ptr<detail::session>> by_identity;
    traffic_counters stats;
  };

  impl(std::vector<asio::io_context*> threads, server_options o)
      : opts(std::move(o)), acceptor(*threads.at(0)) {
    for (auto* t : threads) workers.push_back(std::make_unique<worker>(*t));
    tcp::endpoint ep(asio::ip::make_address(opts.host), opts.port);
    acceptor.open(ep.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
    if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
      tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
      tls->use_certificate_chain_file(opts.tls_cert_file.string());
      tls->use_private_key_file(opts.tls_key_file.string(), asio::ssl::context::pem);
    }
  }

  void log(std::string_view line) const {
    if (opts.log) opts.log(line);
  }

  // One acceptor hands sockets to the threads in turn, rather than one
  // SO_REUSEPORT acceptor per thread: the kernel spreads SO_REUSEPORT
  // connections by a hash of the addresses, which leaves threads idle when
  // there are few long-lived connections, closing one of those acceptors
  // (drain) resets the connections in its queue, and it load-balances on
  // Linux only. An accept is cheap next to a handshake, so one thread keeps up.
  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    std::size_t next = 0;
    for (;;) {
      worker& w = *workers[next];
      std::error_code ec;
      tcp::socket sock = co_await acceptor.async_accept(w.io, redirect_error(use_awaitable, ec));
      if (ec) {
        if (!acceptor.is_open()) co_return;
        // EMFILE and the like: keep serving the connections we have.
        continue;
      }
      next = (next + 1) % workers.size();
      sock.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(w.io, serve(std::move(sock), w), asio::detached);
    }
  }

  // Writes a whole response; errors end the connection anyway, so they are ignored.
  static asio::awaitable<void> respond(detail::stream& io, const std::string& bytes) {
    std::error_code ec;
    co_await io.write(asio::buffer(bytes), ec);
  }

  asio::awaitable<void> serve(tcp::socket sock, worker& w) {
    auto self = shared_from_this();
    std::string peer;
    // Per-IP limits, before any work for this connection. A refused plain
    // client is answered 429 once its request head is read (closing with
    // the request unread would reset the connection under the answer); a
    // TLS one is closed before the TLS handshake, the costly part.
    std::shared_ptr<void> ip_slot;
    std::optional<int> retry_after;
    {
      std::error_code ec;
      const auto ep = sock.remote_endpoint(ec);
      if (!ec) {
        peer = ep.address().to_string() + ":" + std::to_string(ep.port());
        retry_after = admit_ip(ep.address(), ip_slot, w.stats);
      }
    }
    if (retry_after) log("refused " + peer + " 429 per-IP limit (retry after " + std::to_string(*retry_after) + " s)");
    detail::stream io(std::move(sock));
    if (retry_after && tls) {
      io.close();
      co_return;
    }
    asio::steady_timer timer(io.tcp().get_executor());
    timer.expires_after(opts.handshake_timeout);

    if (tls) {
      io.start_tls(*tls);
      detail::shrink_tls_buffers(*io.tls(), detail::tls_buffer_size);
      std::error_code ec;
      auto r = co_await (io.tls()->async_handshake(asio::ssl::stream_base::server, redirect_error(use_awaitable, ec)) ||
                         timer.async_wait(use_awaitable));
      if (r.index() == 1 || ec) {
        log("tls-failed " + peer + (r.index() == 1 ? " (timeout)" : " (" + ec.message() + ")"));
        io.close();
        co_return;
      }
    }

    std::string buf;
    for (;;) {  // one HTTP request per turn (keep-alive for static files)
      proto::http_request req;
      proto::parse_result pr;
      for (;;) {
        pr = proto::parse_request(buf, req, opts.max_request_head);
        if (pr.status != proto::parse_status::incomplete) break;
        const std::size_t old = buf.size();
        buf.resize(old + 2048);
        std::error_code ec;
        auto r = co_await (io.read_some(asio::buffer(buf.data() + old, 2048), ec) || timer.async_wait(use_awaitable));
        if (r.index() == 1) {
          if (old > 0) log("timeout " + peer + " (request head incomplete)");
          io.close();
          co_return;
        }
        if (ec) co_return;
        buf.resize(old + std::get<0>(r));
      }
      if (pr.status == proto::parse_status::error) {
        log("bad-request " + peer + " " + std::to_string(pr.http_status) + " " + pr.error);
        co_await respond(io, error_response(pr.http_status, pr.error));
        io.close();
        co_return;
      }
      const std::string_view leftover = std::string_view(buf).substr(pr.consumed);
      if (retry_after) {
        co_await respond(io, too_many_requests(*retry_after));
        io.close();
        co_return;
      }
      if (!proto::host_allowed(req, opts.allowed_hosts)) {
        log("refused " + peer + " 403 host not allowed: " + std::string(req.headers.get("Host").value_or("")));
        co_await respond(io, error_response(403, "host not allowed"));
        io.close();
        co_return;
      }

      if (proto::is_websocket_upgrade(req)) {
        timer.cancel();
        co_await upgrade(std::move(io), req, leftover, peer, w, std::move(ip_slot));
        co_return;
      }

      const bool keep_alive = req.version_minor >= 1 && !req.headers.has_token("Connection", "close");
      co_await respond(io, static_response(req, keep_alive));
      if (!keep_alive || req.headers.get("Content-Length") || req.headers.get("Transfer-Encoding")) {
        // We never read request bodies, so a request with one ends the connection.
        io.close();
        co_return;
      }
      buf.erase(0, pr.consumed);
      timer.expires_after(opts.handshake_timeout);
    }
  }

  // Kept out of the coroutines: GCC 12 miscompiles initializer lists of
  // pairs inside a coroutine body ("array used as initializer").
  static std::string error_response(int status, const std::string& why) {
    return proto::format_response(status, {{"Content-Type", "text/plain"}, {"Connection", "close"}}, why + "\n");
  }
  static std::string too_many_requests(int retry_after) {
    const std::string wait = std::to_string(retry_after);
    return proto::format_response(429, {{"Content-Type", "text/plain"}, {"Retry-After", wait}, {"Connection", "close"}},
                                  "too many connections from this address\n");
  }

  // ---- per-IP limits (server_options::per_ip) ----
  struct ip_entry {
    std::size_t open = 0;
    double tokens = 0;  // handshakes left in the bucket
    std::chrono::steady_clock::time_point refilled;
  };
  // Gives the count back when the connection ends (its session or serve() lets go).
  struct ip_slot {
    ip_slot(std::shared_ptr<impl> o, std::string a) : owner(std::move(o)), ip(std::move(a)) {}
    ip_slot(const ip_slot&) = delete;
    ip_slot& operator=(const ip_slot&) = delete;
    ~ip_slot() { owner->release_ip(ip); }
    std::shared_ptr<impl> owner;
    std::string ip;
  };

  // nullopt: admitted (`slot` holds the connection's place when counted);
  // otherwise the seconds to wait.
  // The handshake bucket's size (at least one handshake).
  double ip_burst() const { return std::max(1.0, opts.per_ip.handshake_burst); }

  // A refusal is counted in `stats` (the calling thread's) by its reason.
  std::optional<int> admit_ip(const asio::ip::address& a, std::shared_ptr<void>& slot, traffic_counters& stats) {
    const auto& l = opts.per_ip;
    if ((l.max_connections == 0 && l.handshakes_per_second <= 0) || (a.is_loopback() && !l.limit_loopback))
      return std::nullopt;
    const auto now = std::chrono::steady_clock::now();
    std::string ip = a.to_string();
    std::unique_lock lock(ips_mutex);
    auto [it, fresh] = ips.try_emplace(ip);
    ip_entry& e = it->second;
    if (fresh) {
      e.tokens = ip_burst();
      e.refilled = now;
      if (ips.size() > 1024 && ++ip_inserts % 256 == 0) prune_ips(now);
    }
    if (l.handshakes_per_second > 0) {
      const double elapsed = std::chrono::duration<double>(now - e.refilled).count();
      e.tokens = std::min(ip_burst(), e.tokens + elapsed * l.handshakes_per_second);
      e.refilled = now;
      if (e.tokens < 1) {
        stats.refused_per_ip_handshake_rate.add();
        return static_cast<int>(std::ceil((1 - e.tokens) / l.handshakes_per_second));
      }
    }
    if (l.max_connections && e.open >= l.max_connections) {
      stats.refused_per_ip_connections.add();
      return 1;
    }
    if (l.handshakes_per_second > 0) e.tokens -= 1;
    ++e.open;
    lock.unlock();  // the slot's release takes the lock
    slot = std::make_shared<ip_slot>(shared_from_this(), std::move(ip));
    return std::nullopt;
  }

  void release_ip(const std::string& ip) {
    std::lock_guard lock(ips_mutex);
    if (auto it = ips.find(ip); it != ips.end() && it->second.open > 0) --it->second.open;
  }

  // Forgets addresses with nothing open whose bucket has refilled.
  void prune_ips(std::chrono::steady_clock::time_point now) {
    const auto& l = opts.per_ip;
    std::erase_if(ips, [&](const auto& kv) {
      const ip_entry& e = kv.second;
      return e.open == 0 && (l.handshakes_per_second <= 0 ||
                             e.tokens + std::chrono::duration<double>(now - e.refilled).count() * l.handshakes_per_second >=
                                 ip_burst());
    });
  }

  std::string static_response(const proto::http_request& req, bool keep_alive) const {
    const std::string_view conn = keep_alive ? "keep-alive" : "close";
    const bool head = req.method == "HEAD";
    if (req.method != "GET" && !head)
      return proto::format_response(405, {{"Allow", "GET, HEAD"}, {"Content-Type", "text/plain"}, {"Connection", conn}},
                                    "method not allowed\n");
    if (!routes.empty()) {
      auto path = decode_target_path(req.target);
      if (auto r = path ? routes.find(*path) : routes.end(); r != routes.end()) {
        const route_response out = r->second(req);
        return proto::format_response(
            out.status, {{"Content-Type", out.content_type}, {"Cache-Control", "no-store"}, {"Connection", conn}},
            out.body, head);
      }
    }
    std::optional<std::filesystem::path> file;
    if (!opts.root.empty()) file = resolve_static(opts.root, req.target);
    if (!file) {
      if (!decode_target_path(req.target))
        return proto::format_response(400, {{"Content-Type", "text/plain"}, {"Connection", conn}}, "bad request target\n");
      return proto::format_response(404, {{"Content-Type", "text/plain"}, {"Connection", conn}}, "not found\n", head);
    }
    std::ifstream in(*file, std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    return proto::format_response(200,
                                  {{"Content-Type", mime_type(*file)},
                                   {"Cache-Control", "no-cache"},
                                   {"X-Content-Type-Options", "nosniff"},
                                   {"Connection", conn}},
                                  body.str(), head);
  }

  asio::awaitable<void> upgrade(detail::stream io, const proto::http_request& req, std::string_view leftover,
                                const std::string& peer, worker& w, std::shared_ptr<void> ip_slot) {
    auto path = decode_target_path(req.target);
    auto it = path ? endpoints.find(*path) : endpoints.end();
    if (it == endpoints.end()) it = endpoints.find("*");
    proto::upgrade_check check = proto::check_upgrade_request(req);
    if (check && it == endpoints.end())
      check = {404, make_error_code(errc::bad_handshake), "no WebSocket endpoint at this path"};
    if (check && !proto::origin_allowed(req, opts.allowed_origins, tls != nullptr))
      check = {403, make_error_code(errc::origin_refused), "origin not allowed"};
    if (check && is_draining.load(std::memory_order_acquire))
      check = {503, make_error_code(errc::closed), "server shutting down"};
    if (!check) {
      log("refused " + peer + " " + req.target + " " + std::to_string(check.status) + " " + check.message);
      co_await respond(io, proto::format_refusal(check));
      io.close();
      co_return;
    }
    const endpoint& ep = it->second;
    std::shared_ptr<const upgrade_request> request;
    if (ep.opts.on_upgrade || ep.opts.keep_request)
      request = std::make_shared<const upgrade_request>(req, peer, tls != nullptr);
    std::any user;
    std::string identity;
    if (ep.opts.on_upgrade) {
      upgrade_decision decision = co_await ask_hook(ep, *request, peer);
      if (!decision.accepted()) {
        log("refused " + peer + " " + req.target + " " + std::to_string(decision.status()) + " by the upgrade hook");
        co_await respond(io, format_refusal(decision));
        io.close();
        co_return;
      }
      user = std::move(decision.data());
      identity = std::move(decision.identity());
    }
    const websocket_options& wopts = ep.opts.websocket ? *ep.opts.websocket : opts.websocket;
    const std::string subprotocol = ep.opts.choose_subprotocol
                                        ? ep.opts.choose_subprotocol(proto::offered_subprotocols(req))
                                        : proto::select_subprotocol(req, ep.opts.subprotocols);
    std::optional<std::pair<proto::deflate_params, std::string>> deflate;
    if (wopts.deflate.enabled) deflate = proto::negotiate_server(req.headers, wopts.deflate);
    const std::string extensions = deflate ? deflate->second : std::string();
    std::error_code ec;
    co_await io.write(
        asio::buffer(proto::format_upgrade_response(*req.headers.get("Sec-WebSocket-Key"), subprotocol, extensions)), ec);
    if (ec) co_return;

    auto session = std::make_shared<detail::session>(std::move(io), proto::role::server, ep.session_opts);
    if (deflate) session->conn.enable_deflate(deflate->first, wopts.deflate);
    session->path = req.target;
    session->set_negotiated(subprotocol, extensions);
    session->stats = &w.stats;
    session->user = std::move(user);
    if (!identity.empty()) {
      session->cold().identity = std::move(identity);
      w.by_identity.emplace(session->rare->identity, session);
    }
    if (ep.opts.keep_request) session->cold().request = std::move(request);
    session->ip_slot = std::move(ip_slot);
    session->start(leftover);
    live_total.fetch_add(1, std::memory_order_acq_rel);
    w.stats.opened.add();
    // drain() marks the server first and then visits each thread's live
    // sessions on that thread: a session registered after the visit sees the mark.
    if (is_draining.load(std::memory_order_acquire)) start_close(*session, proto::close_code::going_away);
    log("open " + peer + " " + req.target);
    if (ep.callbacks) {
      session->host = ep.callbacks;
      session->start_callbacks();
      co_return;
    }
    // The handler runs in a coroutine of its own, so this one's frame and
    // serve()'s (request buffer, parsed headers, timer) are freed now rather
    // than held for the life of the connection.
    auto ex = session->io.tcp().get_executor();
    duplex::websocket ws = detail::make_handle(std::move(session));
    // The handler's own coroutine is spawned directly; a completion handler,
    // not a wrapping coroutine frame, does the closing afterwards (an idle
    // connection holds one frame less).
    asio::co_spawn(ex, ep.fn(ws), [self = shared_from_this(), ws, &w](std::exception_ptr failure) {
      std::uint16_t code = proto::close_code::normal;
      if (failure) {
        try {
          std::rethrow_exception(failure);
        } catch (const std::exception& e) {
          self->log("handler-error " + ws.remote_address() + " " + e.what());
        } catch (...) {
          self->log("handler-error " + ws.remote_address());
        }
        code = proto::close_code::internal_error;
      }
      asio::co_spawn(ws.get_executor(), finish_endpoint(self, ws, code, w), asio::detached);
    });
  }

  // The endpoint's hook; an exception refuses with 500. Not bounded here:
  // a hook that waits on something (a database, an auth service) bounds
  // that wait itself, as the client's own handshake timeout bounds the client.
  asio::awaitable<upgrade_decision> ask_hook(const endpoint& ep, const upgrade_request& r, const std::string& peer) {
    std::string failure;
    try {
      co_return co_await ep.opts.on_upgrade(r);
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
    log("upgrade-hook-error " + peer + " " + failure);
    co_return upgrade_decision::refuse(500, "internal error");
  }

  static asio::awaitable<void> finish_endpoint(std::shared_ptr<impl> self, duplex::websocket ws, std::uint16_t code,
                                               worker& w) {
    co_await ws.close(code, code == proto::close_code::internal_error ? "internal error" : "");
    self->closed(ws, w);
  }

  void closed(const duplex::websocket& ws, worker& w) { closed(*reinterpret_cast<detail::session*>(ws.id()), w); }
  void closed(detail::session& session, worker& w) {
    detail::session* s = &session;
    // Out of the index before the session (and the string its key views)
    // can go: finish_endpoint() holds a handle until after this.
    if (const std::string& identity = s->cold_or_empty().identity; !identity.empty()) {
      auto [it, end] = w.by_identity.equal_range(identity);
      while (it != end) {
        if (it->second.expired() || it->second.lock().get() == s)
          it = w.by_identity.erase(it);
        else
          ++it;
      }
    }
    w.stats.closed.add();
    const std::uint16_t c = s->close_code;
    if (c >= 1000 && c < 1016)
      w.stats.closes_by_code[c - 1000].add();
    else
      w.stats.closes_other.add();
    if (s->error == errc::slow_consumer) w.stats.slow_consumer_closes.add();
    if (s->error == errc::rate_limited) w.stats.rate_limit_closes.add();
    live_total.fetch_sub(1, std::memory_order_acq_rel);
    log("close " + s->remote + " " + std::to_string(c) + " " + s->error.message());
  }

  // Sends our Close; the handler's read() sees the peer's answer and returns.
  static void start_close(detail::session& s, std::uint16_t code) {
    if (s.transport_done || s.conn.get_state() != proto::state::open) return;
    if (s.conn.close(code, "server shutting down")) {
      s.arm_close_deadline();
      s.wake_writer();
    }
  }

  // disconnect(): visits each worker on its own thread in turn (so each
  // thread's index is only touched there) and closes its connections with
  // that identity.
  asio::awaitable<std::size_t> disconnect(std::string identity, std::uint16_t code, std::string reason) {
    auto self = shared_from_this();
    if (identity.empty()) co_return 0;
    if (!proto::is_valid_close_code(code)) code = proto::close_code::policy_violation;
    std::size_t closed = 0;
    for (auto& w : workers) {
      worker* wp = w.get();
      // (Bound to a local, not built inside the co_await: GCC 12.)
      auto visit = [self, wp, &identity, code, &reason]() -> asio::awaitable<std::size_t> {
        std::size_t n = 0;
        auto [it, end] = wp->by_identity.equal_range(identity);
        for (; it != end; ++it) {
          auto s = it->second.lock();
          if (!s || s->transport_done || s->conn.get_state() != proto::state::open) continue;
          if (s->conn.close(code, reason)) {
            s->arm_close_deadline();
            s->wake_writer();
            ++n;
          }
        }
        co_return n;
      };
      closed += co_await asio::co_spawn(wp->io, std::move(visit), asio::use_awaitable);
    }
    if (closed) log("disconnect " + identity + " " + std::to_string(closed) + " connections " + std::to_string(code));
    co_return closed;
  }

  // Calls `f(session&)` for each of this server's open connections on `w`'s
  // thread (from that thread): the io_context's watchdog list holds every
  // session there whose transport is up, this server's counted in w.stats.
  // `f` may drop the session it is given.
  template <class F>
  static void for_each_live(worker& w, F f) {
    asio::use_service<detail::watchdog>(static_cast<asio::execution_context&>(w.io)).for_each([&](detail::session& s) {
      if (s.stats == &w.stats) f(s);
    });
  }

  // Runs `f(worker&)` on each worker's thread.
  template <class F>
  void on_each_worker(F f) {
    for (auto& w : workers) asio::post(w->io, [self = shared_from_this(), wp = w.get(), f] { f(*self, *wp); });
  }

  // Polls: the count changes on many threads, and a drain happens once.
  asio::awaitable<void> wait_for_closes(std::chrono::steady_clock::time_point until) {
    asio::steady_timer tick(co_await asio::this_coro::executor);
    while (live_total.load(std::memory_order_acquire) > 0 && std::chrono::steady_clock::now() < until) {
      tick.expires_after(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(20),
                                                                       until - std::chrono::steady_clock::now()));
      std::error_code ec;
      co_await tick.async_wait(redirect_error(use_awaitable, ec));
    }
  }

  asio::awaitable<std::size_t> drain(std::chrono::milliseconds timeout) {
    auto self = shared_from_this();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    is_draining.store(true, std::memory_order_release);
    asio::post(acceptor.get_executor(), [self] {
      std::error_code ec;
      self->acceptor.close(ec);
    });
    on_each_worker([](impl&, worker& w) {
      for_each_live(w, [](detail::session& s) { start_close(s, proto::close_code::going_away); });
    });
    co_await wait_for_closes(deadline);
    const std::size_t left = live_total.load(std::memory_order_acquire);
    if (left > 0) {
      log("drain-timeout " + std::to_string(left) + " connections dropped");
      on_each_worker([](impl&, worker& w) {
        for_each_live(w, [](detail::session& s) { s.drop(make_error_code(errc::close_timeout)); });
      });
      // Their handlers see the drop at once; a handler that ignores its
      // connection's end is not waited for past this grace.
      co_await wait_for_closes(std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
    }
    co_return left;
  }

  server_stats stats() const {
    server_stats out;
    std::array<std::uint64_t, 16> codes{};
    std::uint64_t other = 0;
    for (const auto& w : workers) {
      const auto& c = w->stats;
      out.opened += c.opened.get();
      out.closed += c.closed.get();
      out.messages_in += c.messages_in.get();
      out.messages_out += c.messages_out.get();
      out.bytes_in += c.bytes_in.get();
      out.bytes_out += c.bytes_out.get();
      out.slow_consumer_closes += c.slow_consumer_closes.get();
      out.rate_limited += c.rate_limited.get();
      out.rate_limit_closes += c.rate_limit_closes.get();
      out.refused_per_ip_connections += c.refused_per_ip_connections.get();
      out.refused_per_ip_handshake_rate += c.refused_per_ip_handshake_rate.get();
      for (std::size_t i = 0; i < codes.size(); ++i) codes[i] += c.closes_by_code[i].get();
      other += c.closes_other.get();
    }
    // Read separately from opened and closed, so never "negative".
    out.connections = out.opened >= out.closed ? out.opened - out.closed : 0;
    for (std::size_t i = 0; i < codes.size(); ++i)
      if (codes[i]) out.closes_by_code.emplace_back(std::to_string(1000 + i), codes[i]);
    if (other) out.closes_by_code.emplace_back("other", other);
    return out;
  }

  server_options opts;
  tcp::acceptor acceptor;
  std::unique_ptr<asio::ssl::context> tls;
  std::map<std::string, endpoint, std::less<>> endpoints;
  std::map<std::string, http_handler, std::less<>> routes;
  std::vector<std::unique_ptr<worker>> workers;
  std::atomic<bool> is_draining{false};
  std::mutex ips_mutex;  // per-IP counts are shared by the threads
  std::unordered_map<std::string, ip_entry> ips;
  std::size_t ip_inserts = 0;
  std::atomic<std::size_t> live_total{0};  // open WebSockets, all threads (once per connection)
};

server::server(asio::io_context& io, server_options opts)
    : impl_(std::make_shared<impl>(std::vector<asio::io_context*>{&io}, std::move(opts))) {}
server::server(std::vector<asio::io_context*> threads, server_options opts)
    : impl_(std::make_shared<impl>(std::move(threads), std::move(opts))) {}
server::~server() { stop(); }

void server::websocket(std::string path, handler h, endpoint_options opts) {
  impl_->add_endpoint(std::move(path), std::move(h), nullptr, std::move(opts));
}

void server::websocket(std::string path, websocket_callbacks callbacks, endpoint_options opts) {
  auto host = std::make_shared<impl::callback_endpoint>(std::move(callbacks), impl_);
  impl_->add_endpoint(std::move(path), nullptr, std::move(host), std::move(opts));
}

void server::route(std::string path, http_handler h) { impl_->routes[std::move(path)] = std::move(h); }

asio::awaitable<void> server::run() { return impl_->accept_loop(); }

asio::awaitable<std::size_t> server::drain(std::chrono::milliseconds timeout) { return impl_->drain(timeout); }
asio::awaitable<std::size_t> server::disconnect(std::string identity, std::uint16_t code, std::string reason) {
  return impl_->disconnect(std::move(identity), code, std::move(reason));
}
bool server::draining() const noexcept { return impl_->is_draining.load(std::memory_order_acquire); }
server_stats server::stats() const { return impl_->stats(); }

std::vector<asio::io_context*> server::contexts() const {
  std::vector<asio::io_context*> out;
  for (const auto& w : impl_->workers) out.push_back(&w->io);
  return out;
}

void server::stop() {
  std::error_code ec;
  impl_->acceptor.close(ec);
}

std::uint16_t server::port() const noexcept {
  std::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

const server_options& server::options() const noexcept { return impl_->opts; }

}  // namespace duplex
