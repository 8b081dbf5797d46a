// Internal: an asynchronous read that asks for its buffer when the socket
// is ready, not when the read starts (Asio's receive operation, with that
// one change).
//
// It used to report "done and exhausted" to Asio's reactor when the kernel's
// TCP_INQ hint said nothing was left queued, saving the speculative
// recvmsg() (EAGAIN) of the next read. That was wrong for a peer that sends
// data and resets the connection at once: both arrive before the reactor's
// one readiness event, the hint counts only bytes (a FIN counts as 1, a
// reset as nothing), so the read that drained the data marked the socket
// drained and no later event came: the reset went unseen and the socket
// stayed open until the idle ping failed, 30 s later (a stress client with
// SO_LINGER 0 left hundreds open). Every read now leaves Asio's speculative
// flag alone, as Asio's own receive does: one recvmsg() more per batch,
// which is what notices the reset.
//
// Where the bytes land is asked for when the socket is ready, right before
// each recvmsg(), not when the read starts: a connection that waits for
// input then holds no buffer, so one buffer per thread can serve every
// connection (see shared_buffers in session.hpp). The target is a
//   asio::mutable_buffer acquire() noexcept;  // before each recvmsg(); empty: out of memory
//   void unused() noexcept;          // that recvmsg() brought no bytes
//   asio::mutable_buffer own();      // a read that cannot ask late (no hint)
#pragma once

// Standard headers first: asio picks its allocation functions by a libstdc++
// macro (see io_pool.hpp).
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <system_error>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/detail/bind_handler.hpp>
#include <asio/detail/fenced_block.hpp>
#include <asio/detail/handler_alloc_helpers.hpp>
#include <asio/detail/handler_cont_helpers.hpp>
#include <asio/detail/handler_work.hpp>
#include <asio/detail/memory.hpp>
#include <asio/detail/reactor.hpp>
#include <asio/detail/reactor_op.hpp>
#include <asio/ip/tcp.hpp>


#if defined(ASIO_HAS_EPOLL) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT)
#define DUPLEX_HINTED_READ 1
#endif

namespace duplex::detail {

// Whether async_read_hinted() can read this socket late (Asio on epoll);
// false: it is async_read_some() into target.own().
bool enable_read_hint(asio::ip::tcp::socket& s) noexcept;

#ifdef DUPLEX_HINTED_READ

// The socket's descriptor and its reactor state (private in Asio 1.22).
struct socket_reactor_data {
  int fd;
  asio::detail::epoll_reactor::per_descriptor_data* data;
  asio::detail::epoll_reactor* reactor;  // the one data is registered with
};
socket_reactor_data reactor_data_of(asio::ip::tcp::socket& s) noexcept;

// One recvmsg() into the buffer `target` hands out now (see above): the
// reactor's perform step of both operations below.
template <typename Target>
asio::detail::reactor_op::status perform_hinted_recv(asio::detail::reactor_op& o, int fd, Target& target) {
  using op = asio::detail::reactor_op;
  const asio::mutable_buffer b = target.acquire();
  if (b.size() == 0) {
    o.ec_ = asio::error::no_memory;
    return op::done;
  }
  iovec iov{b.data(), b.size()};
  for (;;) {
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const ssize_t n = ::recvmsg(fd, &msg, 0);  // the descriptor is non-blocking
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      target.unused();
      if (err == EAGAIN || err == EWOULDBLOCK) return op::not_done;
      o.ec_ = std::error_code(err, asio::error::get_system_category());
      return op::done;
    }
    if (n == 0) {
      target.unused();
      o.ec_ = asio::error::eof;
      return op::done_and_exhausted;
    }
    o.bytes_transferred_ = static_cast<std::size_t>(n);
    return op::done;
  }
}

template <typename Target, typename Handler, typename IoExecutor>
class hinted_recv_op : public asio::detail::reactor_op {
 public:
  ASIO_DEFINE_HANDLER_PTR(hinted_recv_op);

  hinted_recv_op(int fd, Target& target, Handler& handler, const IoExecutor& io_ex)
      : reactor_op(std::error_code(), &hinted_recv_op::do_perform, &hinted_recv_op::do_complete),
        fd_(fd),
        target_(target),
        handler_(static_cast<Handler&&>(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<hinted_recv_op*>(base);
    return perform_hinted_recv(*o, o->fd_, o->target_);
  }

  // As Asio's reactive_socket_recv_op::do_complete.
  static void do_complete(void* owner, asio::detail::operation* base, const std::error_code&, std::size_t) {
    auto* o = static_cast<hinted_recv_op*>(base);
    ptr p = {asio::detail::addressof(o->handler_), o, o};
    asio::detail::handler_work<Handler, IoExecutor> w(static_cast<asio::detail::handler_work<Handler, IoExecutor>&&>(o->work_));
    asio::detail::binder2<Handler, std::error_code, std::size_t> handler(o->handler_, o->ec_, o->bytes_transferred_);
    p.h = asio::detail::addressof(handler.handler_);
    p.reset();
    if (owner) {
      asio::detail::fenced_block b(asio::detail::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  int fd_;
  Target& target_;
  Handler handler_;
  asio::detail::handler_work<Handler, IoExecutor> work_;
};

// Per-operation cancellation, as Asio's own socket operations offer it.
struct hinted_recv_cancellation {
  // Spelled out: clang before 16 has no parenthesized aggregate
  // initialization, which the slot's emplace() uses.
  hinted_recv_cancellation(asio::detail::epoll_reactor* r, asio::detail::epoll_reactor::per_descriptor_data* d,
                           int f) noexcept
      : reactor(r), data(d), fd(f) {}
  asio::detail::epoll_reactor* reactor;
  asio::detail::epoll_reactor::per_descriptor_data* data;
  int fd;
  void operator()(asio::cancellation_type_t type) {
    if (!!(type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                   asio::cancellation_type::total)))
      reactor->cancel_ops_by_key(fd, *data, asio::detail::epoll_reactor::read_op, this);
  }
};


// The same read for a handler that resumes a coroutine of the socket's own
// io_context, with no cancellation slot (read_resumer below, in the common
// case): no tracked work and no executor to dispatch through, the handler is
// called as the reactor completes the read, and the operation (96 bytes)
// lives in storage its owner keeps (the session's), not in a block allocated
// per read (Asio recycles those through a per-thread cache of any size: an
// idle connection's read would hold whatever block was free, 296 bytes
// after an accept).
template <typename Target, typename Handler>
class direct_recv_op : public asio::detail::reactor_op {
 public:
  direct_recv_op(int fd, Target& target, Handler& handler)
      : reactor_op(std::error_code(), &direct_recv_op::do_perform, &direct_recv_op::do_complete),
        fd_(fd),
        target_(target),
        handler_(static_cast<Handler&&>(handler)) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<direct_recv_op*>(base);
    return perform_hinted_recv(*o, o->fd_, o->target_);
  }

  static void do_complete(void* owner, asio::detail::operation* base, const std::error_code&, std::size_t) {
    auto* o = static_cast<direct_recv_op*>(base);
    Handler handler(static_cast<Handler&&>(o->handler_));
    const std::error_code ec = o->ec_;
    const std::size_t n = o->bytes_transferred_;
    o->~direct_recv_op();  // the storage is free for the next read, which the handler may start
    if (owner) {
      asio::detail::fenced_block b(asio::detail::fenced_block::half);
      handler(ec, n);
    }
  }

 private:
  int fd_;
  Target& target_;
  Handler handler_;
};

// Starts a direct_recv_op in `storage` (of at least sizeof the op, free
// until the op completes); false when the socket is closed (nothing started).
template <typename Target, typename Handler>
bool start_direct_read(asio::ip::tcp::socket& s, Target& target, Handler& handler, void* storage) {
  using op = direct_recv_op<Target, Handler>;
  const auto where = reactor_data_of(s);
  if (!where.data) return false;
  auto* o = new (storage) op(where.fd, target, handler);
  where.reactor->start_op(asio::detail::epoll_reactor::read_op, where.fd, *where.data, o, true, true);
  return true;
}

#endif

// What a read brought, where read_resumer leaves it.
struct read_result {
  std::error_code ec;
  std::size_t n = 0;
};

// Attaches `t` to the frame on top of its stack, the one that awaits
// (private in Asio 1.22; see hinted_read.cpp).
void attach_to_top(asio::detail::awaitable_thread<asio::any_io_executor>& t) noexcept;

// A completion handler that resumes the awaiting coroutine without a
// coroutine frame of its own: Asio's use_awaitable wraps every operation in
// one (async_result<use_awaitable_t>::initiate(), 168 bytes, allocated,
// resumed and freed per read) to carry the result. This one is Asio's
// awaitable_handler, the coroutine's suspended thread of execution, with the
// result stored where the awaiting frame said. Made by
//   read_result r;
//   auto start = [&](auto* frame) { begin(read_resumer(frame->detach_thread(), r)); return nothing; };
//   co_await start;  // Asio's awaitable runs `start` once the coroutine is suspended
// As a handler it carries the coroutine's executor and cancellation slot
// (from awaitable_thread), so any Asio operation can complete it.
class read_resumer : public asio::detail::awaitable_thread<asio::any_io_executor> {
 public:
  using thread = asio::detail::awaitable_thread<asio::any_io_executor>;
  read_resumer(thread* t, read_result& r) noexcept : thread(std::move(*t)), result_(&r) {}
  read_resumer(read_resumer&&) noexcept = default;

  void operator()(const std::error_code& ec, std::size_t n) {
    result_->ec = ec;
    result_->n = n;
    // As awaitable_handler, minus returning a value through a frame.
    attach_to_top(*this);
    this->pump();
  }

 private:
  read_result* result_;
};

// async_read_some() with the drained hint, into `target` (see above);
// `hinted`: enable_read_hint() succeeded on this socket.
template <typename Target, typename Token>
auto async_read_hinted(asio::ip::tcp::socket& s, Target& target, bool hinted, Token&& token) {
#ifdef DUPLEX_HINTED_READ
  if (hinted) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [&s, &target](auto handler) {
          using handler_type = decltype(handler);
          using op = hinted_recv_op<Target, handler_type, asio::any_io_executor>;
          const auto where = reactor_data_of(s);
          if (!where.data) {  // closed: let Asio report it
            s.async_read_some(target.own(), std::move(handler));
            return;
          }
          auto& reactor = *where.reactor;
          const bool is_continuation = asio_handler_cont_helpers::is_continuation(handler);
          auto slot = asio::get_associated_cancellation_slot(handler);
          typename op::ptr p = {asio::detail::addressof(handler), op::ptr::allocate(handler), 0};
          p.p = new (p.v) op(where.fd, target, handler, s.get_executor());
          if (slot.is_connected())
            p.p->cancellation_key_ =
                &slot.template emplace<hinted_recv_cancellation>(&reactor, where.data, where.fd);
          reactor.start_op(asio::detail::epoll_reactor::read_op, where.fd, *where.data, p.p, is_continuation, true);
          p.v = p.p = 0;
        },
        token);
  }
#endif
  (void)hinted;
  return s.async_read_some(target.own(), std::forward<Token>(token));
}

}  // namespace duplex::detail
