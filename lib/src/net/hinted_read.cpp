#include "hinted_read.hpp"
#include "private_access.hpp"

namespace duplex::detail {

namespace {

// The top of a coroutine thread's stack: the frame that awaits.
struct top_of_stack {
  friend constexpr auto member(top_of_stack);
};
template struct expose<top_of_stack, &asio::detail::awaitable_frame<asio::detail::awaitable_thread_entry_point,
                                                                    asio::any_io_executor>::top_of_stack_>;

#ifdef DUPLEX_HINTED_READ
// The socket's implementation.
struct socket_impl {
  friend constexpr auto member(socket_impl);
};
using socket_base = asio::basic_socket<asio::ip::tcp, asio::any_io_executor>;
template struct expose<socket_impl, &socket_base::impl_>;
// The reactor a descriptor is registered with: found here instead of through
// use_service(), which locks the registry and compares type names per read.
struct state_reactor {
  friend constexpr auto member(state_reactor);
};
template struct expose<state_reactor, &asio::detail::epoll_reactor::descriptor_state::reactor_>;
#endif

}  // namespace

void attach_to_top(asio::detail::awaitable_thread<asio::any_io_executor>& t) noexcept {
  auto* top = t.entry_point()->*member(top_of_stack{});
  top->attach_thread(&t);
  top->clear_cancellation_slot();
}

#ifdef DUPLEX_HINTED_READ

socket_reactor_data reactor_data_of(asio::ip::tcp::socket& s) noexcept {
  socket_base& base = s;
  auto& impl = (base.*member(socket_impl{})).get_implementation();
  if (!impl.reactor_data_) return {impl.socket_, nullptr, nullptr};
  return {impl.socket_, &impl.reactor_data_, impl.reactor_data_->*member(state_reactor{})};
}

bool enable_read_hint(asio::ip::tcp::socket& s) noexcept { return s.is_open(); }

#else

bool enable_read_hint(asio::ip::tcp::socket&) noexcept { return false; }

#endif

}  // namespace duplex::detail
