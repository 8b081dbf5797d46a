#include "session.hpp"
#include "hinted_read.hpp"

#include <algorithm>
#include <cerrno>
#include <new>
#include <utility>

#include <sys/socket.h>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

namespace duplex {
namespace detail {

using asio::redirect_error;
using asio::use_awaitable;
using clock = std::chrono::steady_clock;

// Reads land in the connection's buffer; the read size starts at
// session::read_size and doubles up to this while reads fill it.
constexpr std::size_t max_read_size = 64 * 1024;

void stream::start_tls(asio::ssl::context& ctx, std::shared_ptr<asio::ssl::context> owned) {
  secure_ = std::make_unique<secure>(std::move(plain_), ctx, std::move(owned));
}

asio::awaitable<std::size_t> stream::read_some(asio::mutable_buffer b, std::error_code& ec) {
  if (auto* t = tls()) co_return co_await t->async_read_some(b, redirect_error(use_awaitable, ec));
  co_return co_await tcp().async_read_some(b, redirect_error(use_awaitable, ec));
}

asio::awaitable<void> stream::write(asio::const_buffer b, std::error_code& ec) {
  if (auto* t = tls())
    co_await asio::async_write(*t, b, redirect_error(use_awaitable, ec));
  else
    co_await asio::async_write(tcp(), b, redirect_error(use_awaitable, ec));
}

void stream::close() noexcept {
  std::error_code ec;
  tcp().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  tcp().close(ec);
}

std::shared_ptr<const websocket_options> session_options(const websocket_options& o, protocol::role r) {
  auto n = std::make_shared<websocket_options>(o);
  if (r == protocol::role::server) {
    if (n->max_messages_per_second && !n->message_burst) n->message_burst = n->max_messages_per_second;
    if (n->max_bytes_per_second) {
      if (!n->byte_burst) n->byte_burst = n->max_bytes_per_second;
      n->byte_burst = std::min(n->byte_burst, session::max_byte_burst);
      n->max_bytes_per_second = std::min(n->max_bytes_per_second, session::max_byte_burst);
    }
  } else {
    n->max_messages_per_second = 0;
    n->max_bytes_per_second = 0;
  }
  return n;
}

session::session(stream s, protocol::role r, std::shared_ptr<const websocket_options> o)
    : flushes(asio::use_service<flush_queue>(asio::query(s.tcp().get_executor(), asio::execution::context))),
      send_queue_limit(o->send_queue_limit),
      conn(r, o->max_message_size),
      io(std::move(s)),
      shared(asio::use_service<shared_buffers>(asio::query(io.tcp().get_executor(), asio::execution::context)).buffers),
      opts(std::move(o)),
      last_activity(clock::now()),
      ping_window(last_activity) {
  // A violation waits until the messages before it were handed out and
  // answered (see read_messages).
  conn.defer_failures(true);
  conn.set_max_fragments(opts->max_fragments);
  if (opts->max_pings_per_second) conn.allow_pongs(opts->max_pings_per_second);
  bucket_time = last_activity;
  if (opts->max_messages_per_second) message_tokens = std::int64_t{opts->message_burst} * message_unit;
  if (opts->max_bytes_per_second) {
    byte_tokens = static_cast<std::int64_t>(opts->byte_burst) << byte_shift;
    bytes_limited = true;
  }
  std::error_code ec;
  io.tcp().non_blocking(true, ec);  // for start_write()'s immediate write and the reads
  fd = io.tcp().native_handle();
  if (!io.tls()) read_hint = enable_read_hint(io.tcp());
  auto ep = io.tcp().remote_endpoint(ec);
  if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
}

void session::start(std::string_view leftover) {
  if (!leftover.empty()) conn.receive_data(leftover);
  flushes.dog.add(*this);
}

watchdog::watchdog(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

void watchdog::add(session& s) {
  // The sweep's period follows the shortest timeout any connection here
  // has had: a quarter of it, between 10 ms and 1 s.
  auto shortest = s.opts->close_timeout;
  if (s.opts->idle_timeout.count() > 0) shortest = std::min(shortest, s.opts->idle_timeout / 2);
  const auto quarter = std::chrono::duration_cast<clock::duration>(shortest) / 4;
  period_ = std::clamp<clock::duration>(std::min(period_, quarter), std::chrono::milliseconds(10), period_);
  s.watched = true;
  s.dog_prev = nullptr;
  s.dog_next = head_;
  if (head_) head_->dog_prev = &s;
  head_ = &s;
  if (!timer_) timer_.emplace(s.io.tcp().get_executor());
  if (!armed_) arm();
}

void watchdog::remove(session& s) noexcept {
  if (!s.watched) return;
  if (s.dog_prev)
    s.dog_prev->dog_next = s.dog_next;
  else
    head_ = s.dog_next;
  if (s.dog_next) s.dog_next->dog_prev = s.dog_prev;
  s.watched = false;
  s.dog_prev = s.dog_next = nullptr;
  // Nobody left: no pending timer keeps the io_context's run() going.
  if (!head_ && armed_) timer_->cancel();
}

void watchdog::arm() {
  armed_ = true;
  timer_->expires_after(period_);
  timer_->async_wait([this](std::error_code ec) {
    armed_ = false;
    if (!ec) sweep();
    // Also after a cancel() that a new connection came after.
    if (head_ && !armed_) arm();
  });
}

void watchdog::sweep() {
  const auto now = clock::now();
  for (session* s = head_; s;) {
    // check() may drop the session, which takes it out of the list (not
    // more: drop() posts every completion, so no other session goes).
    session* next = s->dog_next;
    s->check(now);
    s = next;
  }
}

void watchdog::shutdown() {
  // The io_context is going; sessions that outlive it must not touch the list.
  while (head_) remove(*head_);
  if (timer_) timer_->cancel();
}

// The writer is a callback chain, not a coroutine: an idle connection holds
// no coroutine frame for it.
void session::wake_writer() noexcept {
  if (write_scheduled || writing || transport_done || !conn.has_output()) return;
  // Deferred, so that every frame queued before the current handler yields
  // leaves in one write (see flush_queue).
  write_scheduled = true;
  flushes.add(shared_from_this());
}

void flush_queue::add(std::shared_ptr<session> s) {
  if (!posted_) {
    posted_ = true;
    asio::post(s->io.tcp().get_executor(), [this] { run(); });
  }
  pending_.push_back(std::move(s));
}

void flush_queue::run() noexcept {
  posted_ = false;
  // Swapped, not moved: both vectors keep their capacity. start_write()
  // never queues here, so running_ does not change under the loop.
  running_.swap(pending_);
  for (auto& s : running_) {
    s->write_scheduled = false;
    s->start_write();
  }
  running_.clear();
}

void session::start_write() {
  if (writing || transport_done || !conn.has_output()) return;
  std::size_t sent = 0;
  if (!io.tls()) {
    // Write at once (the socket is non-blocking), straight from the
    // connection's output: usually the socket buffer takes everything, and
    // no asynchronous operation, allocation, completion handler or buffer
    // swap is needed; the next frames are queued into the same (cache-warm)
    // buffer. Only what is left waits for the reactor.
    // send() on the descriptor kept at start: Asio's write_some() would
    // reach through the socket object (one more cache line per connection
    // in a broadcast to thousands) and build error codes on every call.
    writes_fall_behind = false;
    const std::string_view out = conn.output();
    ssize_t n;
    do n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      conn.clear_output();
      drop(std::error_code(errno, asio::error::get_system_category()));
      return;
    }
    sent = n < 0 ? 0 : static_cast<std::size_t>(n);
    if (stats) stats->bytes_out.add(sent);
    if (sent == out.size()) {
      conn.clear_output();
      signal_drained();
      return;
    }
    // The socket takes less than we produce (big messages, a slow reader):
    // the output buffer leaves for the write, so none is borrowed from the
    // shared ones until a write completes at once again.
    writes_fall_behind = true;
  }
  conn.swap_output(inflight);
  writing = true;
  auto done = [self = shared_from_this()](std::error_code ec, std::size_t n) {
    if (self->stats) self->stats->bytes_out.add(n);
    self->writing = false;
    self->inflight.clear();  // keeps its capacity for the next swap
    self->signal_drained();
    if (ec) {
      self->drop(ec);
      return;
    }
    self->start_write();  // frames queued during the write go out at once
  };
  if (io.tls())
    asio::async_write(*io.tls(), asio::buffer(inflight.data(), inflight.size()), std::move(done));
  else
    asio::async_write(io.tcp(), asio::buffer(inflight.data() + sent, inflight.size() - sent), std::move(done));
}

const session::cold_fields& session::no_cold_fields() noexcept {
  static const cold_fields none;
  return none;
}

session::~session() {
  if (watched) flushes.dog.remove(*this);
  if (input_lent) shared->input_lent.store(false, std::memory_order_release);
  if (output_lent) shared->output_lent.store(false, std::memory_order_release);
}

void session::borrow_input() noexcept {
  if (input_lent || reads_big || conn.buffered_input() != 0 || shared->input_lent.load(std::memory_order_acquire))
    return;
  conn.swap_input(shared->input, shared->input_capacity);
  shared->input_lent.store(true, std::memory_order_relaxed);
  input_lent = true;
}

void session::return_input() noexcept {
  if (!input_lent) return;
  input_lent = false;
  try {
    conn.swap_input(shared->input, shared->input_capacity);  // an unfinished frame's bytes stay with us
  } catch (const std::bad_alloc&) {
    // No room for those bytes in our own buffer: we keep the shared one,
    // and ours (in the pool) becomes the shared one.
  }
  shared->input_lent.store(false, std::memory_order_release);
}

void session::borrow_output() noexcept {
  if (output_lent || io.tls() || writing || writes_fall_behind || reads_big || conn.has_output() ||
      shared->output_lent.load(std::memory_order_acquire))
    return;
  conn.swap_output(shared->output);
  shared->output_lent.store(true, std::memory_order_relaxed);
  output_lent = true;
}

void session::return_output() noexcept {
  if (!output_lent) return;
  output_lent = false;
  if (conn.has_output()) start_write();
  // Under way (the socket took only part): we keep the shared buffer, and
  // the pool keeps our empty one.
  if (!conn.has_output() && !writing) conn.swap_output(shared->output);
  shared->output_lent.store(false, std::memory_order_release);
}

asio::mutable_buffer read_target::acquire() noexcept {
  // From here until the completion, the read's bytes are in the input
  // buffer but not yet committed: the watchdog must not free it.
  s.awaiting_input = false;
  s.borrow_input();
  try {
    return own();
  } catch (const std::bad_alloc&) {
    return {};  // the read fails with no_memory (this runs inside the reactor)
  }
}

void read_target::unused() noexcept {
  s.return_input();
  s.awaiting_input = true;  // nothing came (EAGAIN): the read waits again
}

asio::mutable_buffer read_target::own() {
  auto b = s.conn.prepare(s.read_size);
  s.read_room = static_cast<std::uint32_t>(std::min<std::size_t>(b.size(), UINT32_MAX));
  return {b.data(), s.read_room};
}

void session::drop(std::error_code why) noexcept {
  if (transport_done) return;
  transport_done = true;
  if (!error) error = why ? why : make_error_code(errc::closed);
  if (conn.get_state() != protocol::state::closed) {
    if (!close_code) close_code = protocol::close_code::abnormal;
    conn.mark_closed();
  }
  io.close();
  signal_drained();
  if (watched) flushes.dog.remove(*this);
}

void session::count_ping(std::uint32_t limit) noexcept {
  // last_activity is the time of the read that brought this ping: no clock
  // read per ping.
  if (last_activity - ping_window >= std::chrono::seconds(1)) {
    ping_window = last_activity;
    pings_in_window = 0;
    conn.allow_pongs(limit);
  }
  if (++pings_in_window <= 2 * limit || conn.get_state() != protocol::state::open) return;
  error = errc::ping_flood;
  close_code = protocol::close_code::policy_violation;
  conn.close(protocol::close_code::policy_violation, "ping flood");
  arm_close_deadline();
  // Not read any further: the flood meets TCP's backpressure instead of
  // our parser until the Close is out (or the close deadline passes).
  stop_reading = true;
}

void session::refill() noexcept {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(last_activity - bucket_time).count();
  bucket_time = last_activity;
  if (rate_closed) return;
  // tokens + elapsed * rate, capped at the burst: computed in double (a
  // rounding of under one unit), the cap applied before converting back.
  const auto add = [ns](std::int64_t tokens, double per_second, std::int64_t cap) {
    const double t = static_cast<double>(tokens) + static_cast<double>(ns) * 1e-9 * per_second;
    return t >= static_cast<double>(cap) ? cap : static_cast<std::int64_t>(t);
  };
  bool full = true;
  if (opts->max_messages_per_second) {
    const std::int64_t cap = std::int64_t{opts->message_burst} * message_unit;
    message_tokens = add(message_tokens, static_cast<double>(opts->max_messages_per_second) * message_unit, cap);
    full = message_tokens >= cap;
  } else {
    message_tokens = unlimited;
  }
  if (opts->max_bytes_per_second) {
    const std::int64_t cap = static_cast<std::int64_t>(opts->byte_burst) << byte_shift;
    byte_tokens = add(byte_tokens, static_cast<double>(static_cast<std::int64_t>(opts->max_bytes_per_second) << byte_shift), cap);
    full = full && byte_tokens >= cap;
  } else {
    byte_tokens = unlimited;
  }
  // Full again: the peer slowed down long enough, its refusals are forgiven.
  if (full) refused_run = 0;
}

bool session::admit_slow(std::size_t size) noexcept {
  const std::int64_t cost = static_cast<std::int64_t>(size) << byte_shift;
  if (rate_closed) return false;  // closed for flooding: the rest is dropped
  if (bucket_time != last_activity) refill();
  const std::int64_t need = static_cast<std::int64_t>(std::min<std::uint64_t>(size, opts->byte_burst)) << byte_shift;
  if (message_tokens >= message_unit && byte_tokens >= need) {
    message_tokens -= message_unit;
    byte_tokens -= cost;
    return true;
  }
  ++refused_total;
  if (stats) {
    stats->messages_in.add();  // (the caller counts only what passes)
    stats->rate_limited.add();
  }
  refused_need = static_cast<float>(std::min<std::uint64_t>(size, opts->byte_burst));
  if (opts->rate_limit_close_after == 0 || ++refused_run < opts->rate_limit_close_after ||
      conn.get_state() != protocol::state::open)
    return false;
  const std::uint16_t code = protocol::is_valid_close_code(opts->rate_limit_close_code)
                                 ? opts->rate_limit_close_code
                                 : std::uint16_t{protocol::close_code::policy_violation};
  error = errc::rate_limited;
  close_code = code;
  conn.close(code, "rate limit");
  arm_close_deadline();
  // As for a ping flood: not read any further, and whatever was read behind
  // this message is dropped.
  stop_reading = true;
  rate_closed = true;
  message_tokens = -unlimited;  // every later message takes the slow path
  wake_writer();
  return false;
}

std::chrono::milliseconds session::retry_after() const noexcept {
  if (rate_closed) return std::chrono::milliseconds(0);
  // The time either bucket needs, from its state at the last read, to
  // cover the last refused message.
  double wait = 0;
  if (opts->max_messages_per_second && message_tokens < message_unit)
    wait = static_cast<double>(message_unit - message_tokens) / message_unit / opts->max_messages_per_second;
  const double bytes = static_cast<double>(byte_tokens) / (1 << byte_shift);
  if (opts->max_bytes_per_second && bytes < refused_need)
    wait = std::max(wait, (refused_need - bytes) / static_cast<double>(opts->max_bytes_per_second));
  const auto left = bucket_time + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(wait)) -
                    clock::now();
  if (left <= clock::duration::zero()) return std::chrono::milliseconds(0);
  return std::chrono::ceil<std::chrono::milliseconds>(left);
}

void session::arm_close_deadline() noexcept {
  if (closing) return;
  closing = true;
  closing_since = clock::now();
}

void session::check(clock::time_point now) noexcept {
  if (transport_done) return;
  if (closing) {
    if (now >= closing_since + opts->close_timeout) drop(errc::close_timeout);
    return;
  }
  if (opts->idle_timeout.count() > 0) {
    const auto half = opts->idle_timeout / 2;
    if (ping_outstanding && last_activity > ping_sent) ping_outstanding = false;
    if (ping_outstanding) {
      if (now >= ping_sent + half) return drop(errc::idle_timeout);
    } else if (now >= last_activity + half) {
      if (conn.ping()) wake_writer();
      ping_outstanding = true;
      ping_sent = now;
    }
  }
  // Buffers an idle connection still holds go back to the allocator (a
  // chat member's write buffer grew for a presence list it was sent once):
  // the output when nothing is queued or being written, the input when
  // nothing unparsed is in it and no read holds it (a hinted read asks for
  // its buffer only when the socket is ready; a TLS read holds its own).
  if (!writing && !output_lent && !conn.has_output()) {
    if (conn.output_capacity()) {
      protocol::output_buffer none;
      conn.swap_output(none);
    }
    if (inflight.capacity()) inflight.release();
  }
  if (awaiting_input && read_hint && !input_lent) conn.release_input();
}

asio::awaitable<void> session::wait_drained() {
  if (!drain_signal) drain_signal = std::make_unique<asio::steady_timer>(io.tcp().get_executor());
  drain_signal->expires_at(clock::time_point::max());
  std::error_code ec;
  co_await drain_signal->async_wait(redirect_error(use_awaitable, ec));
}

asio::awaitable<void> session::flush() {
  while (!transport_done && (conn.has_output() || writing)) {
    wake_writer();
    co_await wait_drained();
  }
}

asio::awaitable<void> session::finish() {
  auto self = shared_from_this();
  arm_close_deadline();
  co_await flush();
  if (transport_done) co_return;
  std::error_code ec;
  if (conn.get_role() == protocol::role::server && !io.tls()) {
    // RFC 6455 §7.1.1: the server ends TCP first. Only our sending side,
    // though: closing a socket with unread input makes the kernel send RST,
    // which can destroy our Close frame before the peer reads it (a peer
    // still sending a too-big message would see 1006 instead of 1009).
    io.tcp().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  }
  // Discard input until the peer closes; the watchdog's close deadline bounds
  // the wait. prepare() without commit() reuses the same bytes every time.
  while (!transport_done) {
    auto buf = conn.prepare(4096);
    co_await io.read_some(asio::buffer(buf.data(), buf.size()), ec);
    if (ec) break;
  }
  drop({});
}

asio::awaitable<bool> session::read(message& out) { return read_messages(&out, nullptr, nullptr); }
asio::awaitable<bool> session::read(message_batch& out) { return read_messages(nullptr, &out, nullptr); }

std::size_t session::took(std::size_t n) {
  conn.commit(n);
  // Start small (idle connections hold little) and grow while reads fill
  // the buffer (bulk or pipelined traffic needs few, large reads). A read
  // that filled the buffer left more behind: it is taken at once (the
  // socket is non-blocking) into the grown buffer, so that one batch holds
  // everything that has arrived, as one large read would have. Otherwise
  // what one write of the peer's brought could be split over two batches
  // and each batch's replies (or a broadcast's fan-out) over two writes,
  // for good: while the first half is answered the second arrives.
  for (std::size_t last = n, room = read_room; last == room && room < max_read_size;) {
    read_size = static_cast<std::uint32_t>(std::min(max_read_size, std::max<std::size_t>(read_size, room) * 2));
    if (io.tls()) break;  // the next read is large enough
    auto more = conn.prepare(read_size);
    room = more.size();
    last = io.tcp().read_some(asio::buffer(more.data(), room), read_error);
    if (read_error == asio::error::would_block || read_error == asio::error::try_again) read_error = {};
    // Any other error (or the end of the stream) is raised by the next read,
    // once what came before it was handed out.
    if (read_error) break;
    conn.commit(last);
    n += last;
  }
  // Big messages gain nothing from the shared buffers (a connection's
  // own stay busy, and cache-sized sharing does not apply); measured, the
  // 1 MiB echo lost a fifth of its speed with them.
  reads_big = n >= max_read_size;
  borrow_output();
  if (stats) stats->bytes_in.add(n);
  const auto now = std::chrono::steady_clock::now();
  last_activity = now;
  if (now - bucket_time >= refill_step) refill();
  return n;
}

// The read read_messages() waits for. One system call per batch, into the
// shared buffer when it is free (see hinted_read.hpp).
static void start_read(session& s, read_resumer h) {
  if (s.io.tls()) return s.io.tls()->async_read_some(s.input.own(), std::move(h));
#ifdef DUPLEX_HINTED_READ
  // The common case: the handler runs on the socket's io_context (a server
  // handler always does) and nothing can cancel the read but closing.
  static_assert(sizeof(direct_recv_op<read_target, read_resumer>) <= sizeof(s.read_op) &&
                alignof(direct_recv_op<read_target, read_resumer>) <= alignof(decltype(s.read_op)));
  if (s.read_hint && !h.get_cancellation_slot().is_connected() && h.get_executor() == s.io.tcp().get_executor() &&
      start_direct_read(s.io.tcp(), s.input, h, &s.read_op))
    return;
#endif
  async_read_hinted(s.io.tcp(), s.input, s.read_hint, std::move(h));
}

asio::awaitable<bool> session::read_messages(message* one, message_batch* many, std::error_code* report) {
  auto self = shared_from_this();  // keep the session alive across suspension
  auto& s = *this;
  using kind = protocol::event::kind;
  if (many) many->clear();
  if (report) report->clear();
  // A callback endpoint's connection is read by its callbacks (callbacks.cpp):
  // a second reader would take their input.
  if (s.host) {
    if (report) *report = make_error_code(errc::closed);
    co_return false;
  }
  // Every return that ends the connection goes through this.
  const auto ended = [report] {
    if (report) *report = make_error_code(errc::closed);
    return false;
  };
  for (;;) {
    while (auto ev = s.conn.next_event()) {
      switch (ev->type) {
        case kind::text:
        case kind::binary:
          // The check first, while the session is in a register (a refused
          // message is counted in messages_in by admit_slow()).
          if (!s.admit_received(ev->data.size())) [[unlikely]] {
            // Refused: dropped here. Reported unless the refusal closed the
            // connection (then the read ends as for any close).
            if (report && !s.stop_reading) {
              *report = make_error_code(errc::rate_limited);
              if (one) co_return false;
            }
            break;
          }
          if (s.stats) s.stats->messages_in.add();
          if (one) {
            // A reassembled or inflated message changes buffers with the
            // caller's (no copy of a big message); a whole frame's payload is
            // copied with assign(), which reuses the capacity: a caller that
            // passes the same message each time allocates nothing per message.
            if (ev->in_input || !s.conn.take_message(*ev, one->data)) one->data.assign(ev->data);
            one->binary = ev->type == kind::binary;
            co_return true;
          }
          // Views into the input buffer stay valid until the next read
          // prepares it; a reassembled or inflated message is swapped into
          // the batch's storage when that is empty, and copied otherwise.
          if (ev->in_input) {
            many->push_back_view(ev->data, ev->type == kind::binary);
          } else if (auto* store = many->empty_storage(); store && s.conn.take_message(*ev, *store)) {
            many->push_back_stored(ev->type == kind::binary);
          } else {
            many->push_back_copy(ev->data, ev->type == kind::binary);
          }
          break;
        case kind::ping:  // the pong is queued already (within max_pings_per_second)
          if (const auto limit = s.opts->max_pings_per_second) s.count_ping(limit);
          s.wake_writer();
          break;
        case kind::pong:
          break;
        case kind::close:
        case kind::failed:
          s.close_code = ev->code;
          s.set_close_reason(ev->data);
          if (ev->type == kind::failed) s.error = ev->error;
          // The connection is CLOSED now: messages that came before the Close
          // go out first, and the next read finishes.
          if (many && !many->empty()) co_return true;
          s.release_shared();
          co_await s.finish();
          co_return ended();
      }
    }
    // One batch per read from the socket: hand out what this read brought.
    // A violation behind these messages is raised by the next read, once the
    // handler has queued its replies to them.
    if (many && !many->empty()) co_return true;
    // Everything read was handed out and answered: the replies go out now,
    // and the shared buffers are free for the next connection.
    s.release_shared();
    // A batch read that only brought refused messages reports them.
    if (many && report && *report && !s.transport_done && !s.stop_reading) co_return false;
    // Invariant: every pass of this loop hands out messages, finishes the
    // connection, or waits for the socket. release_shared() writes the
    // replies, and a failed write drops the transport (and with it any
    // deferred failure): checked first, or a pending failure that
    // next_event() no longer raises would go round forever. A pending
    // failure on a live connection is raised by next_event() on the next
    // pass, which then finishes.
    if (s.transport_done) co_return ended();
    if (s.conn.failure_pending()) continue;
    if (s.stop_reading) {
      co_await s.flush();
      s.drop({});
      co_return ended();
    }
    if (s.conn.get_state() == protocol::state::closed) {
      co_await s.finish();
      co_return ended();
    }
    std::error_code ec;
    // A peer that sends but doesn't read (a ping flood, say) makes us owe it
    // pongs; stop reading until they drain, so TCP pushes back on the peer
    // instead of our buffer growing.
    while (!s.transport_done && s.queued() > s.send_queue_limit) {
      s.wake_writer();
      co_await s.wait_drained();
    }
    if (s.transport_done) co_return ended();
    // Inline rather than stream::read_some(): an idle connection waits here,
    // and a nested coroutine would hold one more frame per connection.
    std::size_t n = 0;
    s.awaiting_input = true;
    if (s.read_error) {
      ec = std::exchange(s.read_error, {});
    } else {
      // Resumed by the read's completion itself (read_resumer), without
      // use_awaitable's coroutine frame per read.
      read_result r;
      auto start = [&s, &r](auto* frame) -> read_resumer::thread* {
        start_read(s, read_resumer(frame->detach_thread(), r));
        return nullptr;
      };
      co_await start;
      n = r.n;
      ec = r.ec;
    }
    s.awaiting_input = false;
    if (ec) {
      s.drop(ec == asio::error::eof ? make_error_code(errc::closed) : ec);
      co_return ended();
    }
    s.took(n);
  }
}

asio::awaitable<std::optional<message>> session::read() {
  message m;
  if (co_await read(m)) co_return std::move(m);
  co_return std::nullopt;
}

asio::awaitable<void> session::close_and_drain(std::uint16_t code, std::string_view reason) {
  auto self = shared_from_this();
  if (!transport_done && conn.close(code, reason)) {
    arm_close_deadline();
    wake_writer();
  }
  // A callback endpoint reads the answer itself (and calls close).
  if (host) co_return;
  // Messages that cross our Close are discarded; read() returns nullopt once
  // the peer's Close arrived (or the deadline dropped the connection).
  message discard;
  while (co_await read(discard)) {
  }
}

void session::abandoned() noexcept {
  if (transport_done) return;
  // Handles destroyed while their io_context stops or is torn down (pending
  // coroutines are destroyed then) must not schedule new work on it.
  auto ex = io.tcp().get_executor();
  if (auto* ioex = ex.target<asio::io_context::executor_type>(); ioex && ioex->context().stopped()) return;
  try {
    asio::co_spawn(io.tcp().get_executor(),
                   [self = shared_from_this()] { return self->close_and_drain(protocol::close_code::normal, {}); },
                   asio::detached);
  } catch (...) {
    drop(make_error_code(errc::closed));
  }
}

websocket make_handle(std::shared_ptr<session> s) {
  // The handles users copy share their own count; when the last one goes,
  // the deleter closes the connection properly instead of leaving it open
  // with nobody reading. The deleter's copy keeps the session alive until then.
  session* raw = s.get();
  return websocket(std::shared_ptr<session>(raw, [keep = std::move(s)](session*) { keep->abandoned(); }));
}

std::error_code session::refuse() noexcept {
  if (transport_done || conn.get_state() != protocol::state::open) return errc::closed;
  // A callback's reply to its own connection under the wait policy: queued,
  // and the read loop waits for the queue to drain before reading more
  // (callbacks.cpp), as a coroutine's send() would have waited.
  if (replying && opts->on_overflow == overflow_policy::wait) return {};
  if (opts->on_overflow == overflow_policy::close) {
    error = errc::slow_consumer;
    close_code = protocol::close_code::policy_violation;
    conn.close(protocol::close_code::policy_violation, "send queue full");
    arm_close_deadline();
    wake_writer();
  }
  return errc::slow_consumer;
}

}  // namespace detail

asio::awaitable<std::optional<message>> websocket::read() { return s_->read(); }
asio::awaitable<bool> websocket::read(message& into) { return s_->read(into); }
asio::awaitable<bool> websocket::read(message_batch& into) { return s_->read(into); }
asio::awaitable<bool> websocket::read(message& into, std::error_code& ec) {
  return s_->read_messages(&into, nullptr, &ec);
}
asio::awaitable<bool> websocket::read(message_batch& into, std::error_code& ec) {
  return s_->read_messages(nullptr, &into, &ec);
}

std::error_code websocket::post(std::string_view data, bool binary) {
  auto& s = *s_;
  if (auto ec = s.admit(data.size())) return ec;
  s.conn.send(binary ? protocol::opcode::binary : protocol::opcode::text, data);
  if (s.stats) s.stats->messages_out.add();
  if (!s.write_scheduled && !s.replying) s.wake_writer();  // a batch's later replies find the flush scheduled
  return {};
}

const std::string& prepared_message::frame() const {
  if (frame_.empty()) {
    frame_.reserve(protocol::max_frame_header + data_.size());
    protocol::write_frame_header(frame_, binary_ ? protocol::opcode::binary : protocol::opcode::text, true, false,
                                 data_.size(), false, {});
    frame_.append(data_);
  }
  return frame_;
}

std::error_code websocket::post(const prepared_message& m) {
  auto& s = *s_;
  if (!s.conn.would_compress(m.data_.size())) {
    if (s.conn.get_role() != protocol::role::server) return post(m.data_, m.binary_);  // masked per frame
    // Framed once for all recipients: one append of the same bytes each.
    if (auto ec = s.admit(m.data_.size())) return ec;
    if (!s.conn.send_prepared(m.frame())) return make_error_code(errc::closed);
    if (s.stats) s.stats->messages_out.add();
    if (!s.write_scheduled && !s.replying) s.wake_writer();
    return {};
  }
  const std::uint32_t key = s.conn.shared_compression_key();
  if (key == 0) return post(m.data_, m.binary_);
  auto it = std::find_if(m.compressed_.begin(), m.compressed_.end(), [&](const auto& c) { return c.key == key; });
  if (it == m.compressed_.end()) {
    std::string payload;
    s.conn.compress(m.data_, payload);
    it = m.compressed_.insert(m.compressed_.end(), {key, std::move(payload)});
  }
  if (it->payload.size() >= m.data_.size()) return post(m.data_, m.binary_);  // didn't shrink
  if (auto ec = s.admit(it->payload.size())) return ec;
  s.conn.send_compressed(m.binary_ ? protocol::opcode::binary : protocol::opcode::text, it->payload);
  if (s.stats) s.stats->messages_out.add();
  if (!s.write_scheduled && !s.replying) s.wake_writer();
  return {};
}

asio::awaitable<std::error_code> websocket::send(std::string_view data, bool binary) {
  auto self = s_;
  auto& s = *s_;
  if (s.opts->on_overflow == overflow_policy::wait) {
    std::error_code ec;
    while (!s.transport_done && s.conn.get_state() == protocol::state::open && s.queued() > 0 &&
           s.queued() + data.size() > s.send_queue_limit) {
      co_await s.wait_drained();
    }
  }
  co_return post(data, binary);
}

asio::awaitable<std::error_code> websocket::ping(std::string_view payload) {
  auto& s = *s_;
  if (s.transport_done || !s.conn.ping(payload)) co_return make_error_code(errc::closed);
  s.wake_writer();
  co_return std::error_code{};
}

asio::awaitable<void> websocket::close(std::uint16_t code, std::string_view reason) {
  return s_->close_and_drain(code, reason);
}

std::error_code websocket::post_close(std::uint16_t code, std::string_view reason) {
  auto& s = *s_;
  if (s.transport_done || !s.conn.close(code, reason)) return make_error_code(errc::closed);
  s.arm_close_deadline();
  s.wake_writer();
  return {};
}

bool websocket::is_open() const noexcept {
  return !s_->transport_done && s_->conn.get_state() == protocol::state::open;
}
std::uint16_t websocket::close_code() const noexcept { return s_->close_code; }
const std::string& websocket::close_reason() const noexcept { return s_->cold_or_empty().close_reason; }
std::error_code websocket::error() const noexcept { return s_->error; }
const std::string& websocket::subprotocol() const noexcept {
  static const std::string none;
  return s_->subprotocol ? *s_->subprotocol : none;
}
const std::string& websocket::extensions() const noexcept { return s_->cold_or_empty().extensions; }
const std::string& websocket::path() const noexcept { return s_->path; }
const std::string& websocket::remote_address() const noexcept { return s_->remote; }
std::size_t websocket::queued_bytes() const noexcept { return s_->queued(); }
std::uint64_t websocket::rate_limited() const noexcept { return s_->refused_total; }
std::chrono::milliseconds websocket::retry_after() const noexcept { return s_->retry_after(); }
std::any& websocket::user_data() noexcept { return s_->user; }
const std::any& websocket::user_data() const noexcept { return s_->user; }
const upgrade_request* websocket::request() const noexcept { return s_->cold_or_empty().request.get(); }
const std::string& websocket::identity() const noexcept { return s_->cold_or_empty().identity; }
asio::any_io_executor websocket::get_executor() const noexcept { return s_->io.tcp().get_executor(); }

}  // namespace duplex
