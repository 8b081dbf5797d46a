// The read loop of a callback endpoint (websocket_callbacks): the same steps
// as session::read_messages() (websocket.cpp), run from the read's
// completion instead of a coroutine. An idle connection then holds its
// session and one pending read, stored in the session. The rare paths
// (closing, waiting for the send queue to drain) spawn a coroutine while
// they last.
#include "session.hpp"
#include "hinted_read.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <exception>
#include <optional>
#include <utility>

namespace duplex::detail {

namespace {

// Completes a read for a callback session. A plain pointer: the session's
// own handle keeps it alive until callbacks_ended(), which never runs while
// a read is pending (a read in flight when the connection is dropped
// completes with an error, and that completion ends the session).
struct callback_read {
  session* s;
  void operator()(const std::error_code& ec, std::size_t n) { s->on_callback_input(ec, n); }
};

}  // namespace

template <class F>
void session::call_back(F&& f) noexcept {
  try {
    replying = true;
    std::forward<F>(f)();
    replying = false;
  } catch (const std::exception& e) {
    replying = false;
    callback_failed(e.what());
  } catch (...) {
    replying = false;
    callback_failed("unknown exception");
  }
}

void session::callback_failed(std::string_view what) noexcept {
  host->failed(*this, what);
  if (transport_done || !conn.close(protocol::close_code::internal_error, "internal error")) return;
  close_code = protocol::close_code::internal_error;
  arm_close_deadline();
  wake_writer();
}

void session::start_callbacks() {
  handle = websocket(shared_from_this());
  if (host->cb.open) call_back([&] { host->cb.open(handle); });
  dispatch();  // the handshake's leftover, if any; then the first read
}

void session::read_for_callbacks() {
  awaiting_input = true;
  if (read_error) {
    const std::error_code ec = std::exchange(read_error, {});
    return on_callback_input(ec, 0);
  }
  callback_read h{this};
  if (io.tls()) return io.tls()->async_read_some(input.own(), std::move(h));
#ifdef DUPLEX_HINTED_READ
  static_assert(sizeof(direct_recv_op<read_target, callback_read>) <= sizeof(read_op));
  if (read_hint && start_direct_read(io.tcp(), input, h, &read_op)) return;
#endif
  async_read_hinted(io.tcp(), input, read_hint, std::move(h));
}

void session::on_callback_input(std::error_code ec, std::size_t n) {
  awaiting_input = false;
  if (ec) {
    drop(ec == asio::error::eof ? make_error_code(errc::closed) : ec);
    return callbacks_ended();
  }
  took(n);
  dispatch();
}

void session::dispatch() {
  using kind = protocol::event::kind;
  websocket& ws = handle;  // a copy the callback may keep
  for (;;) {
    while (auto ev = conn.next_event()) {
      switch (ev->type) {
        case kind::text:
        case kind::binary:
          if (!admit_received(ev->data.size())) [[unlikely]] {
            if (!stop_reading && host->cb.rate_limited) call_back([&] { host->cb.rate_limited(ws); });
            break;
          }
          if (stats) stats->messages_in.add();
          if (host->cb.message) {
            const message_view m{ev->data, ev->type == kind::binary};
            call_back([&] { host->cb.message(ws, m); });
          }
          break;
        case kind::ping:  // the pong is queued already (within max_pings_per_second)
          if (const auto limit = opts->max_pings_per_second) count_ping(limit);
          wake_writer();
          break;
        case kind::pong:
          break;
        case kind::close:
        case kind::failed:
          close_code = ev->code;
          set_close_reason(ev->data);
          if (ev->type == kind::failed) error = ev->error;
          release_shared();
          return finish_callbacks();
      }
      if (transport_done) break;  // a callback's post() failed the write
    }
    // As read_messages(): the replies go out, the shared buffers are free.
    // (post() from this connection's callbacks schedules no flush: the
    // write happens here, once per batch.)
    release_shared();
    if (conn.has_output()) start_write();
    if (transport_done) return callbacks_ended();
    if (conn.failure_pending()) continue;
    break;
  }
  if (stop_reading) {  // closed for abuse: our Close goes out, then the end
    asio::co_spawn(
        io.tcp().get_executor(),
        [self = shared_from_this()]() -> asio::awaitable<void> {
          co_await self->flush();
          self->drop({});
          self->callbacks_ended();
        },
        asio::detached);
    return;
  }
  if (conn.get_state() == protocol::state::closed) return finish_callbacks();
  if (queued() > send_queue_limit) {
    // Owed more than the queue may hold (pongs to a peer that does not
    // read, say): no reading until the writer drains, so TCP pushes back.
    asio::co_spawn(
        io.tcp().get_executor(),
        [self = shared_from_this()]() -> asio::awaitable<void> {
          while (!self->transport_done && self->queued() > self->send_queue_limit) {
            self->wake_writer();
            co_await self->wait_drained();
          }
          if (self->transport_done)
            self->callbacks_ended();
          else
            self->read_for_callbacks();
        },
        asio::detached);
    return;
  }
  read_for_callbacks();
}

void session::finish_callbacks() {
  asio::co_spawn(
      io.tcp().get_executor(),
      [self = shared_from_this()]() -> asio::awaitable<void> {
        co_await self->finish();
        self->callbacks_ended();
      },
      asio::detached);
}

void session::callbacks_ended() noexcept {
  if (ended_called) return;
  ended_called = true;
  if (!transport_done) drop({});
  if (host->cb.close) call_back([&] { host->cb.close(handle); });
  host->ended(*this);
  // The session's own reference goes last (it may be the only one).
  const websocket last = std::move(handle);  // (leaves handle empty)
}

}  // namespace duplex::detail
