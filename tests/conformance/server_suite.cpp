#include "server_suite.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>

#include <cstdlib>
#include <iostream>
#include <string_view>

namespace conformance {

server_under_test::server_under_test(duplex::server_options opts, const setup_fn& setup) {
  opts.host = "127.0.0.1";
  opts.port = 0;
  srv_ = std::make_unique<duplex::server>(io_, std::move(opts));
  if (setup) setup(*srv_);
  port_ = srv_->port();
  asio::co_spawn(io_, srv_->run(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

server_under_test::~server_under_test() {
  asio::post(io_, [this] {
    srv_->stop();
    io_.stop();
  });
  thread_.join();
  srv_.reset();
}

asio::awaitable<void> echo(duplex::websocket ws) {
  while (auto msg = co_await ws.read()) co_await ws.send(*msg);
}

asio::awaitable<void> batch_echo(duplex::websocket ws) {
  duplex::message_batch batch;
  while (co_await ws.read(batch))
    for (const auto& m : batch) co_await ws.send(m.data, m.binary);
}

duplex::server_options echo_server_options() {
  duplex::server_options o;
  o.websocket.max_message_size = max_message;
  o.websocket.send_queue_limit = 64 * 1024 * 1024;
  o.websocket.on_overflow = duplex::overflow_policy::wait;
  if (std::getenv("DUPLEX_CONFORMANCE_LOG")) o.log = [](std::string_view l) { std::cerr << "[server] " << l << "\n"; };
  return o;
}

bool with_callbacks() {
  const char* v = std::getenv("DUPLEX_CONFORMANCE_CALLBACKS");
  return v && *v && std::string_view(v) != "0";
}

namespace {

// The echo as callbacks (websocket_callbacks): every case of the suite then
// runs against the callback-driven read loop instead of the coroutine one.
// Without a coroutine to wait in, the echo relies on the read loop's
// backpressure (no reading while the queue is over its limit); the 64 MiB
// queue holds whatever the cases pipeline.
duplex::websocket_callbacks callback_echo() {
  return {.message = [](duplex::websocket& ws, const duplex::message_view& m) {
    if (auto ec = ws.post(m.data, m.binary)) ws.post_close(1011, "echo refused: " + ec.message());
  }};
}

}  // namespace

void install_endpoints(duplex::server& srv) {
  const duplex::websocket_options base = echo_server_options().websocket;
  const bool cb = with_callbacks();
  duplex::endpoint_options idle;
  idle.websocket = base;
  idle.websocket->idle_timeout = idle_timeout;
  duplex::endpoint_options closer;
  closer.websocket = base;
  closer.websocket->close_timeout = close_timeout;
  duplex::endpoint_options proto;
  proto.subprotocols = {"chat.v2", "chat"};

  if (cb) {
    srv.websocket("*", callback_echo());
    srv.websocket("/batch", callback_echo());
    srv.websocket("/idle", callback_echo(), idle);
    srv.websocket("/closer", duplex::websocket_callbacks{.open = [](duplex::websocket& ws) { ws.post_close(1000, "bye"); }},
                  closer);
    srv.websocket("/proto", callback_echo(), proto);
    return;
  }
  srv.websocket("*", echo);
  srv.websocket("/batch", batch_echo);
  srv.websocket("/idle", echo, idle);
  srv.websocket(
      "/closer", [](duplex::websocket ws) -> asio::awaitable<void> { co_await ws.close(1000, "bye"); }, closer);
  srv.websocket("/proto", echo, proto);
}

namespace {

std::unique_ptr<server_under_test> shared;

class shared_server_env : public ::testing::Environment {
 public:
  void SetUp() override { shared = std::make_unique<server_under_test>(echo_server_options(), install_endpoints); }
  void TearDown() override { shared.reset(); }
};

[[maybe_unused]] auto* const env = ::testing::AddGlobalTestEnvironment(new shared_server_env);

// Checks that hold for every frame a server sends.
::testing::AssertionResult server_frame_ok(const rx_frame& f) {
  if (f.masked) return ::testing::AssertionFailure() << "server sent a masked frame (RFC 6455 §5.1): " << f.describe();
  if (f.rsv) return ::testing::AssertionFailure() << "server set RSV bits without an extension: " << f.describe();
  if (!f.minimal_length)
    return ::testing::AssertionFailure() << "server used a non-minimal length encoding (§5.2): " << f.describe();
  const bool control = f.op & 0x8;
  if (control && (!f.fin || f.payload.size() > 125))
    return ::testing::AssertionFailure() << "server sent an invalid control frame: " << f.describe();
  if (f.op == opc::close) {
    if (f.payload.size() == 1) return ::testing::AssertionFailure() << "server sent a 1-byte Close payload";
    if (f.payload.size() >= 2) {
      const auto c = f.close_code();
      const bool sendable = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
      if (!sendable) return ::testing::AssertionFailure() << "server sent Close with code " << c << " (§7.4)";
      if (!valid_utf8(f.close_reason()))
        return ::testing::AssertionFailure() << "server sent a Close reason that is not UTF-8: " << f.describe();
    }
  }
  if (f.op != opc::cont && f.op != opc::text && f.op != opc::binary && f.op != opc::close && f.op != opc::ping &&
      f.op != opc::pong)
    return ::testing::AssertionFailure() << "server sent a reserved opcode: " << f.describe();
  return ::testing::AssertionSuccess();
}

}  // namespace

std::uint16_t echo_port() {
  if (!shared) throw std::logic_error("shared server not running");
  return shared->port();
}

ws_client::ws_client(std::string_view path, std::uint16_t port, std::string_view extra_headers)
    : c_(conn::connect_to(port)) {
  if (!c_.send(upgrade_request(port, path, sample_key, extra_headers))) throw std::runtime_error("sending the upgrade failed");
  std::string head;
  const io_status s = c_.read_head(head);
  if (s != io_status::ok) throw std::runtime_error(std::string("no handshake response: ") + to_string(s));
  res_ = http_head::parse(head);
  if (res_.status != 101) throw std::runtime_error("handshake refused: " + res_.start_line);
}

bool ws_client::send_framewise(const std::vector<std::string>& frames, ms pause) {
  for (const auto& f : frames) {
    if (!send(f)) return false;
    std::this_thread::sleep_for(pause);
  }
  return true;
}

::testing::AssertionResult next_is(ws_client& ws, unsigned op, std::string_view payload, bool fin, ms timeout) {
  rx_frame f;
  const io_status s = ws.raw().read_frame(f, timeout);
  if (s != io_status::ok)
    return ::testing::AssertionFailure() << "expected " << frame(op, payload, {.fin = fin, .masked = false}).size()
                                         << "-byte frame op=" << op << ", got " << to_string(s);
  if (auto ok = server_frame_ok(f); !ok) return ok;
  if (f.op != op || f.fin != fin)
    return ::testing::AssertionFailure() << "expected op=" << op << " fin=" << fin << " len=" << payload.size()
                                         << ", got " << f.describe();
  return same_bytes(f.payload, payload);
}

::testing::AssertionResult tcp_closed(ws_client& ws, ms timeout) {
  std::string extra;
  const io_status s = ws.raw().await_close(timeout, &extra);
  if (s == io_status::eof || s == io_status::reset) return ::testing::AssertionSuccess();
  if (s == io_status::ok) {
    rx_frame f;
    if (ws.raw().read_frame(f, 10ms) == io_status::ok)
      return ::testing::AssertionFailure() << "expected the TCP close, got another frame: " << f.describe();
    return ::testing::AssertionFailure() << "expected the TCP close, got bytes " << to_hex(extra);
  }
  return ::testing::AssertionFailure() << "the server did not close the TCP connection within " << timeout.count()
                                       << " ms (" << to_string(s) << ")";
}

::testing::AssertionResult next_is_close(ws_client& ws, std::optional<std::uint16_t> code) {
  rx_frame f;
  const io_status s = ws.raw().read_frame(f);
  if (s != io_status::ok)
    return ::testing::AssertionFailure() << "expected Close " << (code ? std::to_string(*code) : "(empty)") << ", got "
                                         << to_string(s);
  if (auto ok = server_frame_ok(f); !ok) return ok;
  if (f.op != opc::close)
    return ::testing::AssertionFailure() << "expected Close " << (code ? std::to_string(*code) : "(empty)") << ", got "
                                         << f.describe();
  if (!code && !f.payload.empty())
    return ::testing::AssertionFailure() << "expected an empty Close, got " << f.describe();
  if (code && f.close_code() != *code)
    return ::testing::AssertionFailure() << "expected Close " << *code << ", got " << f.describe();
  return tcp_closed(ws);
}

::testing::AssertionResult clean_close(ws_client& ws) {
  if (!ws.send(close_frame(1000))) return ::testing::AssertionFailure() << "could not send Close 1000";
  return next_is_close(ws, 1000);
}

::testing::AssertionResult silent_for(ws_client& ws, ms quiet) {
  std::string extra;
  const io_status s = ws.raw().await_close(quiet, &extra);
  if (s == io_status::timeout) return ::testing::AssertionSuccess();
  if (s == io_status::ok) {
    rx_frame f;
    if (ws.raw().read_frame(f, 10ms) == io_status::ok)
      return ::testing::AssertionFailure() << "expected silence, got " << f.describe();
    return ::testing::AssertionFailure() << "expected silence, got bytes " << to_hex(extra);
  }
  return ::testing::AssertionFailure() << "expected silence, got " << to_string(s);
}

}  // namespace conformance
