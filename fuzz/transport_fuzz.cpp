// libFuzzer target: the transport (lib/src/net), not just the parser. One
// real duplex::server, made once, runs on an io_context that this thread
// drives by hand between the client's writes; the clients are plain
// non-blocking loopback TCP sockets, so the fuzzer decides what bytes reach
// which session, how they are split, and when the server gets to run (on
// loopback a send() has reached the peer's socket when it returns).
// Several connections take turns on one io_context, so the shared input and
// output buffers (detail::shared_buffers) are lent and returned between them.
//
// Input: a little program.
//   byte 0         number of connections: 1 + (b & 3)
//   2 bytes each   their configuration:
//     cfg0 bit 0     the handler reads with read(message_batch&), else read(message&)
//          bits 1-2  Sec-WebSocket-Extensions offer: none, or one of three
//                    permessage-deflate offers (make_offer() of deflate_offer())
//          bits 3-4  endpoint /a../d (see endpoint_options_for(): limits,
//                    overflow policy, deflate settings)
//          bits 5-6  reply: post() the echo (send() when refused), co_await
//                    send(), post() a prepared_message plus a ping, or post()
//                    and yield to the other connections
//          bit 7     small buffers: the client's receive buffer and the
//                    server socket's send buffer (the server's writes fall
//                    behind: its asynchronous write path)
//     cfg1 bits 0-1  after k messages: nothing, return from the handler (or
//                    throw, for even k), co_await close(), post_close()
//          bits 2-5  k - 1
//          bit 6     at the end: half-close (FIN) instead of a reset
//          bit 7     the handshake request is written at connect; otherwise
//                    it is queued, and the program's writes split it too
//   then ops until the input ends, each one byte (op & 3: which connection,
//   modulo their number; op >> 2: what, below) plus operands:
//     0-9    RAW n bytes        append n bytes to the connection's queue
//     10-23  FRAME f n bytes    append a masked frame: first byte f (FIN,
//                               RSV1-3, opcode), the n-byte payload given
//                               (masked here: the fuzzer sees plain text)
//     24-25  FRAME_NOMASK f n bytes   the same, unmasked (a protocol error)
//     26-27  FRAME_LONG f lo hi c bytes   a masked frame of
//                               ((hi << 8 | lo) * 4) bytes: the c (< 32)
//                               given bytes repeated (big messages and reads)
//     28-39  WRITE n            write up to n bytes of the queue (0: all;
//                               128-255: (n - 127) * 512 bytes)
//     40-51  RUN k              let the server run up to k + 1 handlers
//     52-55  DRAIN              read what the server sent (validated, below)
//     56-57  SHUT_WR            half-close the client side (FIN)
//     58-59  RST                close with SO_LINGER 0 (a reset)
//     60-61  CLOSE              close() (FIN, or a reset with unread input)
//     62-63  RECONNECT          a closed slot connects again, same configuration
//   At most 8 connections and 256 KiB of frames per input. A missing
//   operand reads as 0. fuzz/transport_seeds.py writes the seeds in this
//   format (and shows how to write more).
//   Then the harness writes what is still queued, closes every connection
//   (reset or FIN per cfg1 bit 6), and checks:
//   - the server's io_context runs out of work: every handler coroutine
//     returned, the server counts no open connection, no socket leaked
//     (within 2 s, TRANSPORT_FUZZ_HANG_MS, and a bounded number of handler
//     runs: else abort with a message), and nothing of the shared buffers
//     is lent. A session spinning inside one resume never gives the thread
//     back, so a watchdog thread aborts the main thread (SIGABRT: libFuzzer
//     prints its stack and saves the input) when one call into the
//     io_context has not returned for 2 s. Run it with -timeout too.
//   - a fresh, well-behaved connection on the same io_context still gets its
//     echo and a clean close.
//   And throughout: what the server sends parses as a valid WebSocket stream
//   (client-role duplex::protocol::connection, with deflate as negotiated);
//   a message_batch's views keep their bytes across the handler's own
//   suspensions (the shared input buffer must not be lent away meanwhile);
//   text handed to a handler is UTF-8 and within max_message_size.
//
// TLS is not covered (the lending applies to plain TCP only; the TLS path
// would need certificates and a TLS client in the harness).
//
// Environment:
//   TRANSPORT_FUZZ_HANG_MS=n    the 2 s above
//   TRANSPORT_FUZZ_TRACE=1      print the program's ops, what the clients
//                               receive and the server's log lines
// Run:
//   build/fuzz/fuzz/transport_fuzz WORK_DIR fuzz/corpus/transport -timeout=10 -max_len=4096
// (-entropic=0 saves libFuzzer's rare-feature bookkeeping, which with ~15k
// features per input can cost as much as the input itself: 10-70% more
// exec/s in our measurements, depending on the load.)
//
// Inputs named found_* in the corpus are bugs this target found, fixed since:
// found_busy_loop_deferred_failure_then_reset (read_messages spun on a
// deferred failure after a failed reply write dropped the transport) and
// found_reset_with_unread_data_unnoticed (a reset arriving with data still
// unread went unseen until the idle ping: the TCP_INQ drained hint).
#include "session.hpp"  // detail::shared_buffers

#include <duplex/net/server.hpp>
#include <duplex/protocol/deflate.hpp>
#include <duplex/protocol/frame.hpp>
#include <duplex/protocol/http.hpp>
#include <duplex/protocol/utf8.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;
namespace proto = duplex::protocol;

// TRANSPORT_FUZZ_TRACE=1: what the program does and what the clients get.
const bool tracing = std::getenv("TRANSPORT_FUZZ_TRACE") != nullptr;
#define TRACE(...) \
  do {                                         \
    if (tracing) std::fprintf(stderr, __VA_ARGS__); \
  } while (0)

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "\ntransport_fuzz: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

// ---------------------------------------------------------------- server side

std::atomic<int> handlers_live{0};
std::atomic<const char*> phase{"idle"};

// The live handlers' sessions and where each handler waits, for the report
// when one does not end.
struct live_handler {
  duplex::detail::session* session;
  const char* at;
};
std::vector<live_handler*> live_handlers;
// Every session of this input (weak: no observer effect on their lifetime).
std::vector<std::weak_ptr<duplex::detail::session>> sessions_seen;

struct live_guard {
  live_handler self;
  explicit live_guard(const duplex::websocket& ws) : self{reinterpret_cast<duplex::detail::session*>(ws.id()), "start"} {
    handlers_live.fetch_add(1, std::memory_order_relaxed);
    live_handlers.push_back(&self);
    sessions_seen.push_back(self.session->weak_from_this());
  }
  ~live_guard() {
    handlers_live.fetch_sub(1, std::memory_order_relaxed);
    std::erase(live_handlers, &self);
  }
  live_guard(const live_guard&) = delete;
};

std::string describe_sessions() {
  std::string out;
  for (const auto& weak : sessions_seen) {
    const auto sp = weak.lock();
    if (!sp) continue;
    const duplex::detail::session& s = *sp;
    const char* at = "(handler returned)";
    for (const live_handler* h : live_handlers)
      if (h->session == &s) at = h->at;
    char line[512];
    std::snprintf(line, sizeof line,
                  "\n  session, handler at %s: transport_done %d writing %d write_scheduled %d input_lent %d "
                  "output_lent %d writes_fall_behind %d reads_big %d closing %d state %d failure_pending %d "
                  "buffered_input %zu output %zu inflight %zu read_error '%s' error '%s'",
                  at, s.transport_done, s.writing, s.write_scheduled, s.input_lent, s.output_lent,
                  s.writes_fall_behind, s.reads_big, s.closing, static_cast<int>(s.conn.get_state()),
                  s.conn.failure_pending(), s.conn.buffered_input(), s.conn.output().size(), s.inflight.size(),
                  s.read_error.message().c_str(), s.error.message().c_str());
    out += line;
    if (s.transport_done) continue;
    pollfd p{s.fd, POLLIN | POLLRDHUP, 0};
    ::poll(&p, 1, 0);
    int unread = -1;
    ::ioctl(s.fd, FIONREAD, &unread);
    tcp_info ti{};
    socklen_t len = sizeof ti;
    ::getsockopt(s.fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
    std::snprintf(line, sizeof line,
                  "\n    its socket (fd %d): poll revents 0x%x%s%s, %d bytes unread, TCP state %d%s; read_size %zu",
                  s.fd, p.revents, p.revents & POLLERR ? " ERR" : "", p.revents & POLLHUP ? " HUP" : "", unread,
                  ti.tcpi_state, ti.tcpi_state == 7 ? " (CLOSE)" : "", std::size_t{s.read_size});
    out += line;
  }
  return out;
}

struct handler_mode {
  bool batch = false;
  int reply = 0;   // cfg0 bits 5-6
  int action = 0;  // cfg1 bits 0-1
  unsigned k = 1;
  std::size_t max_message = 0;
  bool small_buffers = false;  // cfg0 bit 7
};

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return 0;
}

constexpr std::size_t endpoint_max_message[4] = {1024 * 1024, 2000, 64 * 1024, 256 * 1024};

duplex::websocket_options endpoint_options_for(int e) {
  duplex::websocket_options o;
  // Timers never fire within an input: the program decides what happens
  // when, and the harness's closes end every wait first. The keepalive is
  // armed as by default; it must never be what ends a session here.
  o.idle_timeout = std::chrono::seconds(60);
  o.close_timeout = std::chrono::seconds(30);
  o.max_message_size = endpoint_max_message[e];
  switch (e) {
    case 0:  // the echo example's shape: deflate without takeover, wait policy
      o.send_queue_limit = 1024 * 1024;
      o.on_overflow = duplex::overflow_policy::wait;
      o.deflate.enabled = true;
      break;
    case 1:  // tight: small messages and queue, overflow closes, deflate with takeover
      o.send_queue_limit = 512;
      o.on_overflow = duplex::overflow_policy::close;
      o.deflate.enabled = true;
      o.deflate.server_no_context_takeover = false;
      o.deflate.client_no_context_takeover = false;
      o.deflate.server_max_window_bits = 10;
      o.deflate.mem_level = 2;
      o.deflate.level = 1;
      o.deflate.threshold = 0;
      break;
    case 2:  // no deflate, overflow drops
      o.send_queue_limit = 4096;
      o.on_overflow = duplex::overflow_policy::drop;
      break;
    default:  // wait policy with a small queue: the reader stops while pongs/echoes drain
      o.send_queue_limit = 1024;
      o.on_overflow = duplex::overflow_policy::wait;
      o.deflate.enabled = true;
      o.deflate.threshold = 16;
      o.deflate.client_max_window_bits = 12;
      break;
  }
  return o;
}

handler_mode parse_mode(std::string_view path) {
  // "/e?XXYY": endpoint letter, cfg0, cfg1 in hex (the query is not routed on).
  handler_mode m;
  if (path.size() < 7) return m;
  const int e = path[1] - 'a';
  const unsigned cfg0 = hex(path[3]) << 4 | hex(path[4]);
  const unsigned cfg1 = hex(path[5]) << 4 | hex(path[6]);
  m.batch = cfg0 & 1;
  m.reply = (cfg0 >> 5) & 3;
  m.action = cfg1 & 3;
  m.k = 1 + ((cfg1 >> 2) & 15);
  m.max_message = endpoint_max_message[e & 3];
  m.small_buffers = cfg0 & 0x80;
  return m;
}

void check_message(const handler_mode& m, std::string_view data, bool binary) {
  if (data.size() > m.max_message) fail("handler got a message over max_message_size", std::to_string(data.size()));
  if (!binary && !proto::is_valid_utf8(data)) fail("handler got a text message that is not UTF-8");
}

asio::awaitable<void> yield_now() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

// Echoes one message as the mode says. Returns normally; the caller checks
// its batch afterwards (this may suspend).
asio::awaitable<void> reply(duplex::websocket& ws, const handler_mode& m, std::string_view data, bool binary) {
  switch (m.reply) {
    case 0:
      if (auto ec = ws.post(data, binary); ec && ec == duplex::errc::slow_consumer) co_await ws.send(data, binary);
      break;
    case 1:
      co_await ws.send(data, binary);
      break;
    case 2: {
      duplex::prepared_message pm{std::string(data), binary};
      ws.post(pm);
      co_await ws.ping("fz");
      break;
    }
    default:
      ws.post(data, binary);
      co_await yield_now();
      break;
  }
}

void check_batch(const duplex::message_batch& b, const std::vector<std::string>& copies) {
  if (b.size() != copies.size()) fail("message_batch changed size under the handler");
  for (std::size_t i = 0; i < b.size(); ++i)
    if (b[i].data != copies[i])
      fail("a message_batch view changed across the handler's own suspension (shared input buffer lent away?)",
           "message " + std::to_string(i) + " of " + std::to_string(b.size()));
}

// Returns true when the action after k messages ends the read loop.
asio::awaitable<bool> act(duplex::websocket& ws, handler_mode& m, unsigned count) {
  if (m.action == 0 || count != m.k) co_return false;
  switch (m.action) {
    case 1:
      if (m.k % 2 == 0) throw std::runtime_error("handler gives up");  // 1011 internal error
      co_return true;
    case 2:
      co_await ws.close(duplex::protocol::close_code::normal, "bye");
      co_return true;
    default:
      ws.post_close(duplex::protocol::close_code::going_away, "later");
      m.action = 0;
      co_return false;  // keeps reading until the peer's Close (or the end)
  }
}

asio::awaitable<void> fuzz_handler(duplex::websocket ws) {
  live_guard live(ws);
  const char*& at = live.self.at;
  handler_mode m = parse_mode(ws.path());
  if (m.small_buffers) {
    // On loopback the kernel's send buffer grows past a megabyte: without
    // this the server's writes never fall behind (no async write).
    const int small = 4096;
    ::setsockopt(live.self.session->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  }
  unsigned count = 0;
  if (m.batch) {
    duplex::message_batch batch;
    std::vector<std::string> copies;
    for (;;) {
      at = "read(message_batch&)";
      if (!co_await ws.read(batch)) break;
      at = "replying";
      if (batch.empty()) fail("read(message_batch&) returned true with an empty batch");
      copies.clear();
      for (auto v : batch) {
        check_message(m, v.data, v.binary);
        copies.emplace_back(v.data);
      }
      bool done = false;
      for (std::size_t i = 0; i < batch.size() && !done; ++i) {
        co_await reply(ws, m, batch[i].data, batch[i].binary);
        check_batch(batch, copies);
        done = co_await act(ws, m, ++count);
        if (!done) check_batch(batch, copies);  // close() ends the views (as documented)
      }
      if (done) co_return;
    }
  } else {
    duplex::message msg;
    for (;;) {
      at = "read(message&)";
      if (!co_await ws.read(msg)) break;
      at = "replying";
      check_message(m, msg.data, msg.binary);
      co_await reply(ws, m, msg.data, msg.binary);
      if (co_await act(ws, m, ++count)) co_return;
    }
  }
}

// ---------------------------------------------------------------- client side

constexpr std::uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

// The harness's own byte loops are not instrumented: their comparisons say
// nothing about the server, and on big frames they cost more than it.
#define HARNESS_ONLY __attribute__((no_sanitize("coverage")))

HARNESS_ONLY void append_frame(std::string& out, std::uint8_t first, std::string_view payload, bool masked) {
  out.push_back(static_cast<char>(first));
  const std::uint8_t m = masked ? 0x80 : 0;
  const std::size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(m | n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(static_cast<std::uint64_t>(n) >> (8 * i)));
  }
  if (!masked) {
    out.append(payload);
    return;
  }
  out.append(reinterpret_cast<const char*>(mask_key), 4);
  const std::size_t at = out.size();
  out.append(payload);
  for (std::size_t i = 0; i < n; ++i) out[at + i] = static_cast<char>(out[at + i] ^ mask_key[i & 3]);
}

// `len` bytes of `pattern` repeated ('x' when empty).
HARNESS_ONLY void fill(std::string& out, std::size_t len, std::string_view pattern) {
  if (pattern.empty()) pattern = "x";
  out.assign(pattern.substr(0, len));
  while (out.size() < len) out.append(out, 0, std::min(out.size(), len - out.size()));
}

duplex::protocol::deflate_options deflate_offer(int variant) {
  proto::deflate_options o;
  o.enabled = true;
  if (variant == 2) {  // context takeover both ways
    o.server_no_context_takeover = false;
    o.client_no_context_takeover = false;
  } else if (variant == 3) {  // small windows
    o.server_max_window_bits = 9;
    o.client_max_window_bits = 10;
    o.server_no_context_takeover = false;
  }
  return o;
}

std::uint32_t next_source = 0;

// A loopback connection; what the server sends is checked as a stream.
struct client {
  int fd = -1;
  std::uint8_t cfg0 = 0, cfg1 = 0;
  bool write_open = false;  // not half-closed, no write error
  bool read_open = false;
  std::string pending;  // queued, not yet written
  std::string head;     // the response head while incomplete
  bool head_done = false;
  std::optional<proto::connection> stream;  // client role: parses the server's frames
  std::optional<proto::deflate_options> offer;
  std::vector<std::string> texts;  // for the well-behaved check
  bool got_close = false;
  bool keep_texts = false;

  void open(std::uint16_t port, std::uint8_t c0, std::uint8_t c1) {
    cfg0 = c0;
    cfg1 = c1;
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket()", std::strerror(errno));
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cfg0 & 0x80) {
      const int small = 4096;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    // A different loopback source address each time: the 4-tuples of
    // connections in TIME_WAIT never come back.
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    const std::uint32_t n = next_source++ % (250u * 65535u);
    src.sin_addr.s_addr = htonl(0x7f000000u | ((2 + n / 65535) << 16) | (1 + n % 65535));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) fail("bind()", std::strerror(errno));
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Loopback: completes in the kernel's backlog, before the server accepts.
    // Non-blocking, so that libFuzzer's SIGALRM (-timeout) cannot interrupt it.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
      if (errno != EINPROGRESS && errno != EINTR) fail("connect()", std::strerror(errno));
      pollfd p{fd, POLLOUT, 0};
      int r;
      do r = ::poll(&p, 1, 2000);
      while (r < 0 && errno == EINTR);
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (r != 1 || err) fail("connect()", r == 1 ? std::strerror(err) : "timed out");
    }
    write_open = read_open = true;
    head.clear();
    head_done = false;
    got_close = false;
    texts.clear();
    stream.emplace(proto::role::client, 64 * 1024 * 1024);
    const int offer_variant = (cfg0 >> 1) & 3;
    offer.reset();
    if (offer_variant) offer = deflate_offer(offer_variant);

    static const char hexdigits[] = "0123456789abcdef";
    std::string target = "/";
    target += static_cast<char>('a' + ((cfg0 >> 3) & 3));
    target += '?';
    for (std::uint8_t b : {cfg0, cfg1}) {
      target += hexdigits[b >> 4];
      target += hexdigits[b & 15];
    }
    std::string req = "GET " + target +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (offer) req += "Sec-WebSocket-Extensions: " + proto::make_offer(*offer) + "\r\n";
    req += "\r\n";
    pending = std::move(req);
    if (cfg1 & 0x80) write(pending.size());
  }

  bool is_open() const { return fd >= 0; }

  // Writes up to n queued bytes; false when the socket took nothing.
  bool write(std::size_t n) {
    if (fd < 0 || !write_open || pending.empty()) return false;
    n = std::min(n, pending.size());
    ssize_t w;
    do w = ::send(fd, pending.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      write_open = false;  // the server reset us or closed: nothing more to say
      pending.clear();
      return false;
    }
    pending.erase(0, static_cast<std::size_t>(w));
    return w > 0;
  }

  void feed(std::string_view bytes) {
    if (!head_done) {
      head.append(bytes);
      proto::http_response res;
      auto r = proto::parse_response(head, res);
      if (r.status == proto::parse_status::incomplete) return;
      if (r.status == proto::parse_status::error) fail("server's response head does not parse", r.error);
      if (res.status != 101) fail("server refused a valid upgrade", std::to_string(res.status));
      head_done = true;
      if (auto ext = res.headers.get("Sec-WebSocket-Extensions")) {
        if (!offer) fail("server answered an extension nobody offered", std::string(*ext));
        auto params = proto::accept_client(*ext, *offer);
        if (!params) fail("server's permessage-deflate answer fails the client", std::string(*ext));
        stream->enable_deflate(*params, *offer);
      }
      const std::string rest = head.substr(r.consumed);
      head.clear();
      if (!rest.empty()) feed(rest);
      return;
    }
    stream->receive_data(bytes);
    while (auto ev = stream->next_event()) {
      TRACE("  fd %d got %s %zu bytes (code %u)\n", fd,
            ev->type == proto::event::kind::text     ? "text"
            : ev->type == proto::event::kind::binary ? "binary"
            : ev->type == proto::event::kind::ping   ? "ping"
            : ev->type == proto::event::kind::pong   ? "pong"
            : ev->type == proto::event::kind::close  ? "close"
                                                     : "failed",
            ev->data.size(), ev->code);
      switch (ev->type) {
        case proto::event::kind::failed:
          fail("server sent an invalid WebSocket stream", std::string(ev->data) + " (" + ev->error.message() + ")");
        case proto::event::kind::close:
          got_close = true;
          break;
        case proto::event::kind::text:
          if (keep_texts) texts.emplace_back(ev->data);
          break;
        default:
          break;
      }
    }
  }

  // Reads everything the server sent so far.
  void drain() {
    if (fd < 0 || !read_open) return;
    static char buf[64 * 1024];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        feed({buf, static_cast<std::size_t>(n)});
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      read_open = false;  // end of stream or reset
      return;
    }
  }

  void shut_wr() {
    if (fd < 0 || !write_open) return;
    ::shutdown(fd, SHUT_WR);
    write_open = false;
    pending.clear();
  }

  void close(bool reset) {
    if (fd < 0) return;
    if (reset) {
      const linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd);
    fd = -1;
    write_open = read_open = false;
    pending.clear();
  }
};

// ---------------------------------------------------------------- harness

// For the report of a descriptor leak: what each one is.
std::string describe_fds() {
  std::string out;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const int fd = std::atoi(e->d_name);
      char link[256] = {};
      const std::string path = std::string("/proc/self/fd/") + e->d_name;
      if (::readlink(path.c_str(), link, sizeof link - 1) < 0) continue;
      out += "\n  fd " + std::to_string(fd) + " " + link;
      sockaddr_in a{}, b{};
      socklen_t la = sizeof a, lb = sizeof b;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &la) == 0 && a.sin_family == AF_INET) {
        char x[32], y[32] = "-";
        ::inet_ntop(AF_INET, &a.sin_addr, x, sizeof x);
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&b), &lb) == 0) ::inet_ntop(AF_INET, &b.sin_addr, y, sizeof y);
        out += std::string(" ") + x + ":" + std::to_string(ntohs(a.sin_port)) + " <-> " + y + ":" +
               std::to_string(ntohs(b.sin_port));
      }
    }
    ::closedir(d);
  }
  return out;
}

// Open sockets (other descriptors come and go: libFuzzer's symbolizer's
// pipes, for one).
int count_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    char link[64];
    std::string path;
    while (auto* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      path = std::string("/proc/self/fd/") + e->d_name;
      const ssize_t len = ::readlink(path.c_str(), link, sizeof link);
      if (len > 7 && std::memcmp(link, "socket:", 7) == 0) ++n;
    }
    ::closedir(d);
  }
  return n;
}

struct harness {
  asio::io_context io{ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::unique_ptr<duplex::server> srv;
  std::uint16_t port = 0;
  int baseline_fds = 0;
  pthread_t main_thread = pthread_self();
  // When the main thread last came back from the io_context (steady_clock
  // ns); 0 between inputs.
  std::atomic<std::int64_t> heartbeat{0};
  std::int64_t hang_ms = 2000;
  std::uint64_t iterations = 0;

  harness() {
    std::signal(SIGPIPE, SIG_IGN);
    if (const char* e = std::getenv("TRANSPORT_FUZZ_HANG_MS")) hang_ms = std::atoll(e);
    duplex::server_options so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.allowed_origins = {"*"};
    if (tracing) so.log = [](std::string_view l) { std::fprintf(stderr, "server: %.*s\n", int(l.size()), l.data()); };
    srv = std::make_unique<duplex::server>(io, so);
    for (int e = 0; e < 4; ++e) {
      duplex::endpoint_options eo;
      eo.websocket = endpoint_options_for(e);
      srv->websocket(std::string("/") + static_cast<char>('a' + e), fuzz_handler, eo);
    }
    port = srv->port();
    asio::co_spawn(io, srv->run(), asio::detached);
    io.poll();
    baseline_fds = count_fds();
    std::thread([this] { watchdog(); }).detach();
  }

  // A session that spins inside one coroutine resume never gives the
  // thread back: abort the main thread from here, so that libFuzzer prints
  // where it spins and saves the input.
  void watchdog() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const std::int64_t since = heartbeat.load(std::memory_order_acquire);
      if (!since) continue;
      const std::int64_t now = clock_type::now().time_since_epoch().count();
      if (now - since > hang_ms * 1000000) {
        std::fprintf(stderr,
                     "\ntransport_fuzz: HANG: one handler of the server's io_context has not returned for %lld ms "
                     "(phase: %s; handler coroutines live: %d): a session spinning inside one resume? "
                     "The main thread's stack follows.\n",
                     static_cast<long long>(hang_ms), phase.load(), handlers_live.load());
        pthread_kill(main_thread, SIGABRT);
        std::this_thread::sleep_for(std::chrono::seconds(10));
        std::_Exit(1);
      }
    }
  }

  void beat() { heartbeat.store(clock_type::now().time_since_epoch().count(), std::memory_order_release); }
  std::size_t poll() {
    const std::size_t n = io.poll();
    beat();
    return n;
  }
  std::size_t poll_one() {
    const std::size_t n = io.poll_one();
    beat();
    return n;
  }
  std::size_t run_one_for(std::chrono::milliseconds d) {
    const std::size_t n = io.run_one_for(d);
    beat();
    return n;
  }

  std::vector<client> conns;

  void drain_all() {
    for (auto& c : conns) c.drain();
  }

  // Runs the server until nothing is ready, reading the clients as it goes.
  void settle() {
    std::size_t runs = 0;
    for (;;) {
      const std::size_t n = poll();
      drain_all();
      if (n == 0) {
        // Reading may have made room for the server's pending writes.
        if (poll() == 0) return;
      }
      runs += n;
      if (runs > 200000) fail("the server's io_context keeps running handlers (200000 without a pause): livelock");
    }
  }

  // Runs the server, reading the clients as it goes, until done() or for
  // hang_ms. On loopback a packet usually reaches the peer within the
  // send() or close() that makes it, but under load the kernel may defer
  // that work to ksoftirqd, so an idle poll() proves nothing: wait a little.
  template <class Done>
  bool run_until(Done done) {
    const auto until = clock_type::now() + std::chrono::milliseconds(hang_ms);
    std::size_t runs = 0;
    for (;;) {
      if (done()) return true;
      std::size_t n = poll();
      drain_all();
      if (done()) return true;
      if (n == 0) {
        n = run_one_for(std::chrono::milliseconds(1));
        drain_all();
      }
      runs += n;
      if (runs > 1000000) fail("the server's io_context keeps running handlers (1000000 without reaching the goal): livelock");
      if (clock_type::now() > until) return done();
    }
  }

  // Every client has closed: every session must end, and soon.
  void wait_idle(const char* what) {
    settle();
    auto idle = [&] { return handlers_live.load() == 0 && srv->stats().connections == 0; };
    if (!run_until(idle))
      fail("sessions did not end after every client closed",
           std::string(what) + ": " + std::to_string(handlers_live.load()) + " handlers live, " +
               std::to_string(srv->stats().connections) + " connections counted open" + describe_sessions());
    // Connections that never upgraded hold a descriptor but no handler.
    if (!run_until([&] { return count_fds() == baseline_fds; }))
      fail("socket leak", std::string(what) + ": " + std::to_string(count_fds()) + " open, " +
                                  std::to_string(baseline_fds) + " before:" + describe_fds());
    sessions_seen.clear();
  }

  void check_clean() {
    auto& pool = *asio::use_service<duplex::detail::shared_buffers>(io).buffers;
    if (pool.input_lent.load() || pool.output_lent.load())
      fail("a shared buffer is still lent with no session left",
           std::string("input ") + (pool.input_lent.load() ? "lent" : "free") + ", output " +
               (pool.output_lent.load() ? "lent" : "free"));
  }

  // The shared buffers as a fresh io_context has them: their capacity (grown
  // by earlier inputs) decides how reads are split, and an input must
  // replay alone as it ran among others.
  void reset_shared_buffers() {
    auto& pool = *asio::use_service<duplex::detail::shared_buffers>(io).buffers;
    pool.input.reset();
    pool.input_capacity = 0;
    pool.output = duplex::protocol::output_buffer{};
  }

  // A fresh, well-behaved client still gets its echo and a clean close.
  void well_behaved() {
    phase = "well-behaved connection";
    conns.clear();
    conns.emplace_back();
    client& c = conns.back();
    c.keep_texts = true;
    c.open(port, iterations & 1, 0);  // /a, read(message&) or read(message_batch&), post() echo
    const std::string hello = "hello " + std::to_string(iterations);
    append_frame(c.pending, 0x81, hello, true);
    c.write(c.pending.size());
    if (!run_until([&] { return !c.texts.empty() || !c.read_open; }) || c.texts.empty())
      fail("a well-behaved connection got no echo", c.read_open ? "" : "the server closed it");
    if (c.texts.front() != hello) fail("a well-behaved connection got a wrong echo", c.texts.front());
    std::string close_payload = "\x03\xe8";
    append_frame(c.pending, 0x88, close_payload, true);
    c.write(c.pending.size());
    if (!run_until([&] { return c.got_close || !c.read_open; }) || !c.got_close)
      fail("a well-behaved connection's close handshake did not complete");
    // The server half-closes after its Close; read to the end, then close.
    if (!run_until([&] { return !c.read_open; }))
      fail("the server did not end a well-behaved connection after the close handshake");
    c.close(false);
    wait_idle("after the well-behaved connection");
    conns.clear();
  }
};

// Never destroyed: the watchdog thread reads it until the process exits.
harness& get_harness() {
  static harness* h = new harness;
  return *h;
}

struct reader {
  const std::uint8_t* p;
  const std::uint8_t* end;
  bool empty() const { return p >= end; }
  std::uint8_t byte() { return p < end ? *p++ : 0; }
  std::string_view bytes(std::size_t n) {
    n = std::min<std::size_t>(n, end - p);
    std::string_view v(reinterpret_cast<const char*>(p), n);
    p += n;
    return v;
  }
};

constexpr std::size_t max_connections = 8;        // per input, reconnects included
constexpr std::size_t max_queued_total = 256 * 1024;  // bytes per input, long frames included

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  get_harness();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  harness& h = get_harness();
  h.beat();
  ++h.iterations;
  reader in{data, data + size};
  h.reset_shared_buffers();  // nothing is lent between inputs (check_clean)

  phase = "connecting";
  const std::size_t nconn = 1 + (in.byte() & 3);
  h.conns.clear();
  h.conns.resize(nconn);
  std::size_t opened = 0;
  for (auto& c : h.conns) {
    const std::uint8_t c0 = in.byte(), c1 = in.byte();
    c.open(h.port, c0, c1);
    ++opened;
  }

  phase = "running the program";
  std::size_t queued_total = 0;
  std::string payload;
  while (!in.empty()) {
    const std::uint8_t op = in.byte();
    client& c = h.conns[(op & 3) % nconn];
    const unsigned kind = op >> 2;
    TRACE("op %u on connection %u (fd %d, %zu queued)\n", kind, (op & 3) % unsigned(nconn), c.fd, c.pending.size());
    if (kind < 10) {  // RAW
      const auto bytes = in.bytes(in.byte());
      if (c.is_open() && c.write_open && queued_total + bytes.size() <= max_queued_total) {
        c.pending.append(bytes);
        queued_total += bytes.size();
      }
    } else if (kind < 28) {  // FRAME, FRAME_NOMASK, FRAME_LONG
      const std::uint8_t first = in.byte();
      if (kind < 26) {
        payload.assign(in.bytes(in.byte()));
      } else {
        const std::size_t lo = in.byte(), hi = in.byte();
        const std::size_t len = (hi << 8 | lo) * 4;
        const auto pattern = in.bytes(in.byte() & 31);
        fill(payload, len, pattern);
      }
      if (c.is_open() && c.write_open && queued_total + payload.size() <= max_queued_total) {
        append_frame(c.pending, first, payload, kind != 24 && kind != 25);
        queued_total += payload.size();
      }
    } else if (kind < 40) {  // WRITE
      const std::size_t n = in.byte();
      c.write(n == 0 ? c.pending.size() : n < 128 ? n : (n - 127) * 512);
    } else if (kind < 52) {  // RUN
      const std::size_t k = 1 + in.byte();
      for (std::size_t i = 0; i < k; ++i)
        if (h.poll_one() == 0) break;
    } else if (kind < 56) {
      c.drain();
    } else if (kind < 58) {
      c.shut_wr();
    } else if (kind < 60) {
      c.close(true);
    } else if (kind < 62) {
      c.close(false);
    } else if (!c.is_open() && opened < max_connections) {  // RECONNECT
      c.open(h.port, c.cfg0, c.cfg1);
      ++opened;
    }
  }

  // Everything queued goes out; the server answers as it reads.
  phase = "writing what is queued";
  for (auto& c : h.conns) {
    for (int stalls = 0; c.is_open() && c.write_open && !c.pending.empty();) {
      if (c.write(c.pending.size())) {
        stalls = 0;
        continue;
      }
      // The socket is full: let the server read (and the client read its
      // answers, or the server's writes would block its reads).
      const std::size_t ran = h.poll();
      h.drain_all();
      if (ran == 0 && ++stalls > 100) break;  // the server reads no more (it need not)
    }
  }
  phase = "settling";
  h.settle();
  phase = "closing";
  for (auto& c : h.conns) {
    if (c.cfg1 & 0x40)
      c.shut_wr();
    else
      c.close(true);
  }
  h.settle();
  for (auto& c : h.conns) {
    c.drain();
    c.close(false);
  }
  phase = "waiting for every session to end";
  h.wait_idle("after the program");
  h.check_clean();

  h.well_behaved();
  h.check_clean();
  phase = "idle";
  h.heartbeat.store(0, std::memory_order_release);
  return 0;
}
