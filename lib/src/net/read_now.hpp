// Internal: a non-blocking read that tells Asio's reactor when it drained
// the socket, so that the next wait for input costs no system call.
//
// Asio 1.22 tries every asynchronous read at once ("speculatively") unless
// the descriptor's flag says not to, and clears that flag only at the end of
// the stream. A read loop over a socket that was just drained therefore makes
// one recvfrom() per batch that fails with EAGAIN before it waits: two system
// calls per batch where one would do. read_now() reads with the kernel's
// TCP_INQ hint (Linux 4.18+: the bytes still queued after this read, and 1
// when only the peer's FIN is), and when nothing is left it clears the flag,
// under the descriptor's lock as the reactor does. A short read alone would
// not prove that: data and FIN that arrived together leave no further
// readiness event, and a wait would never end.
//
// Any readiness event the reactor handles after that sets the flag again
// under the same lock, so a read that starts later cannot miss input: either
// the flag is still clear (nothing arrived since the socket was drained, so
// the edge is still to come) or it is set and the read is tried at once.
// Without TCP_INQ (another kernel or reactor) it is a plain non-blocking read
// and the flag is left alone.
#pragma once

#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <system_error>

namespace duplex::detail {

// Asks the kernel for the TCP_INQ hint on this socket; false if unsupported.
bool enable_read_hint(asio::ip::tcp::socket& s) noexcept;

// Reads what the socket holds now into `b` (non-blocking). asio::error::
// would_block when it holds nothing, or when the reactor has seen no
// readiness since a read drained it (then without a system call): wait with
// async_wait(wait_read) and call again. asio::error::eof at the end of the
// stream. `hinted`: enable_read_hint() succeeded for this socket.
std::size_t read_now(asio::ip::tcp::socket& s, asio::mutable_buffer b, bool hinted, std::error_code& ec);

}  // namespace duplex::detail
