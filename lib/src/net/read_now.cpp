#include "read_now.hpp"

#include <asio/detail/reactor.hpp>

#include <cerrno>
#include <cstring>
#include <type_traits>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace duplex::detail {

#if defined(ASIO_HAS_EPOLL) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT) && defined(TCP_INQ)

namespace {

// Access to the private members read_now() needs. An explicit instantiation
// may name private members ([temp.spec]); the friend function it defines
// hands the member pointer out.
template <typename Tag, auto Member>
struct expose {
  friend constexpr auto member(Tag) { return Member; }
};

struct socket_impl {
  friend constexpr auto member(socket_impl);
};
struct descriptor_mutex {
  friend constexpr auto member(descriptor_mutex);
};
struct descriptor_try_speculative {
  friend constexpr auto member(descriptor_try_speculative);
};

using socket_base = asio::basic_socket<asio::ip::tcp, asio::any_io_executor>;
using descriptor_state = asio::detail::epoll_reactor::descriptor_state;

}  // namespace

template struct expose<socket_impl, &socket_base::impl_>;
template struct expose<descriptor_mutex, &descriptor_state::mutex_>;
template struct expose<descriptor_try_speculative, &descriptor_state::try_speculative_>;

bool enable_read_hint(asio::ip::tcp::socket& s) noexcept {
  const int on = 1;
  return ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
}

std::size_t read_now(asio::ip::tcp::socket& s, asio::mutable_buffer b, bool hinted, std::error_code& ec) {
  socket_base& base = s;
  descriptor_state* d = (base.*member(socket_impl{})).get_implementation().reactor_data_;
  if (!hinted || !d) return s.read_some(b, ec);  // closed: read_some reports it
  auto& flag = (d->*member(descriptor_try_speculative{}))[asio::detail::epoll_reactor::read_op];
  auto& mutex = d->*member(descriptor_mutex{});
  std::remove_reference_t<decltype(mutex)>::scoped_lock lock(mutex);
  if (!flag) {
    ec = asio::error::would_block;
    return 0;
  }
  iovec iov{b.data(), b.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(s.native_handle(), &msg, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      flag = false;  // drained, and the edge for what comes next is still to come
      ec = asio::error::would_block;
    } else {
      ec = std::error_code(errno, asio::error::get_system_category());
    }
    return 0;
  }
  if (n == 0) {
    ec = asio::error::eof;
    return 0;
  }
  ec = {};
  // Nothing left (not even a FIN, which the hint counts as 1): the next
  // read waits for the reactor's next event instead of failing with EAGAIN.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
      int inq;
      std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
      if (inq == 0) flag = false;
    }
  }
  return static_cast<std::size_t>(n);
}

#else

bool enable_read_hint(asio::ip::tcp::socket&) noexcept { return false; }

std::size_t read_now(asio::ip::tcp::socket& s, asio::mutable_buffer b, bool, std::error_code& ec) {
  return s.read_some(b, ec);
}

#endif

}  // namespace duplex::detail
