// A WebSocket connection over Asio, for C++20 coroutines. Both the server's
// handlers and duplex::connect() hand out this type.
//
// One coroutine reads (the handler, through read()); any coroutine on the
// same io_context may send at any time: send() appends the frame to the
// connection's outgoing buffer and a per-connection writer flushes
// everything queued with one write. The outgoing buffer is bounded
// (send_queue_limit) and the overflow policy says what happens to a peer that
// reads too slowly. A websocket is a cheap handle (shared ownership): copy it
// into a room to broadcast. Use it only from its io_context's thread; from
// another thread, post_from_any_thread() or duplex::hub (hub.hpp).
#pragma once

#include <duplex/error.hpp>
#include <duplex/message.hpp>
#include <duplex/protocol/connection.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <any>
#include <chrono>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace duplex {

// Every message that has arrived, handed out by one read: for loops over
// many small messages (pipelined requests, echo, relays), one suspension per
// batch of input instead of one per message, and no copy: a whole
// unfragmented message is viewed where it was read and unmasked. Fragmented
// and decompressed messages are copied into the batch's own storage, whose
// capacity is reused. The views stay valid until the next read() or close()
// on the websocket, or the next read into the batch; keep a copy to hold on.
//   duplex::message_batch batch;
//   while (co_await ws.read(batch))
//     for (const auto& m : batch) ws.post(m.data, m.binary);
class message_batch {
 public:
  struct view {
    std::string_view data;
    bool binary = false;
    std::string_view text() const noexcept { return data; }
  };

  std::size_t size() const noexcept { return used_; }
  bool empty() const noexcept { return used_ == 0; }
  view operator[](std::size_t i) const noexcept {
    const entry& e = entries_[i];
    return {{e.external ? e.external : storage_.data() + e.offset, e.size}, e.binary};
  }

  class iterator {
   public:
    using value_type = view;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    view operator*() const noexcept { return (*b_)[i_]; }
    iterator& operator++() noexcept { return ++i_, *this; }
    iterator operator++(int) noexcept { auto t = *this; ++i_; return t; }
    friend bool operator==(const iterator&, const iterator&) = default;

   private:
    friend class message_batch;
    iterator(const message_batch* b, std::size_t i) : b_(b), i_(i) {}
    const message_batch* b_ = nullptr;
    std::size_t i_ = 0;
  };
  iterator begin() const noexcept { return {this, 0}; }
  iterator end() const noexcept { return {this, used_}; }

  void clear() noexcept {
    storage_.clear();
    used_ = 0;
  }
  // A message that stays where it is until the batch is read into again.
  void push_back_view(std::string_view data, bool binary) { add({data.data(), 0, data.size(), binary}); }
  // A message copied into the batch.
  void push_back_copy(std::string_view data, bool binary) {
    add({nullptr, storage_.size(), data.size(), binary});
    storage_.append(data);
  }
  // Storage the batch may take a message into by swapping (when it holds no
  // copied message yet) instead of copying: see read(message_batch&).
  std::string* empty_storage() noexcept { return storage_.empty() ? &storage_ : nullptr; }
  void push_back_stored(bool binary) { add({nullptr, 0, storage_.size(), binary}); }

 private:
  struct entry {
    const char* external;  // the payload where it was read, or nullptr: at offset in storage_
    std::size_t offset;    // an offset, not a pointer: appending may move storage_
    std::size_t size;
    bool binary;
  };
  // entries_ only grows; the first used_ are this batch's, so refilling a
  // batch overwrites entries in place.
  [[gnu::always_inline]] void add(const entry& e) {
    if (used_ < entries_.size()) [[likely]]
      entries_[used_++] = e;
    else
      grow(e);
  }
  // Out of line, so that add() stays small enough to inline.
  [[gnu::noinline]] void grow(const entry& e) {
    entries_.push_back(e);
    ++used_;
  }
  std::string storage_;
  std::vector<entry> entries_;
  std::size_t used_ = 0;
};

// What happens when a message would push the outgoing buffer past
// send_queue_limit (a peer that reads slower than we send).
enum class overflow_policy {
  wait,   // send() suspends until the writer drains (the default: backpressure
          // for a coroutine that talks to one peer); post() refuses as with drop
  drop,   // the message is refused with errc::slow_consumer; the connection stays
  close,  // the connection is closed with 1008 and errc::slow_consumer: what a
          // broadcaster wants, so one slow reader neither stalls the others
          // nor makes the server buffer without bound
};

struct websocket_options {
  // Largest message accepted from the peer; bigger ones close with 1009.
  std::size_t max_message_size = 1024 * 1024;
  // Bytes that may wait in the outgoing buffer before overflow applies.
  std::size_t send_queue_limit = 1024 * 1024;
  overflow_policy on_overflow = overflow_policy::wait;
  // No traffic for half of this sends a ping; no answer in the other half
  // drops the connection. Zero disables keepalive.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // How long to wait for the peer's Close after sending ours.
  std::chrono::milliseconds close_timeout = std::chrono::seconds(5);
  // permessage-deflate (RFC 7692); off unless deflate.enabled. The defaults
  // (no context takeover either way) hold no zlib memory between messages;
  // see protocol/deflate.hpp for what each setting costs per connection.
  protocol::deflate_options deflate;
  // Abuse limits (0: none). A message may arrive in at most this many
  // frames; the next one closes with 1008 (errc::too_many_fragments). It
  // bounds a message that never ends in empty fragments (max_message_size
  // cannot), while 64-byte fragments of a 4 MiB message still pass.
  std::uint32_t max_fragments = 65536;
  // Pings answered per second; more go unanswered, and a peer that sends
  // over twice as many within a second is closed with 1008 (errc::ping_flood)
  // and not read any further.
  std::uint32_t max_pings_per_second = 32;
  // Rate limits on what the peer sends, for connections a server accepted
  // (a client trusts the server it chose; duplex::connect() ignores them):
  // token buckets on messages and on message bytes (after inflating),
  // refilled continuously at the rate up to the burst (0: one second's
  // worth), full at the start. A message over either is refused: never
  // handed out; read(message&, std::error_code&) reports errc::rate_limited
  // for it and the connection stays open. A message bigger than the byte
  // burst passes once the bucket is full and leaves it in debt. Rate 0: no
  // limit. The message default is far above what an interactive client
  // sends (and above an echo benchmark's 30k/s per connection) and far
  // below what one client can push over a modest link (2M empty frames a
  // second at 100 Mbit/s); bytes are unlimited by default, since refusing
  // part of a legitimate upload loses data: set them where bulk input is
  // expensive. See docs/options.md.
  std::uint32_t max_messages_per_second = 100000;
  std::uint32_t message_burst = 0;
  std::uint64_t max_bytes_per_second = 0;
  std::uint64_t byte_burst = 0;
  // Sustained abuse: after this many refused messages with no moment in
  // between where the buckets had refilled completely, the connection is
  // closed with rate_limit_close_code (errc::rate_limited) and not read any
  // further. 0: refuse, never close.
  std::uint32_t rate_limit_close_after = 1000;
  // 1008 (policy violation), or the application's own (4000-4999, e.g. 4008).
  std::uint16_t rate_limit_close_code = 1008;
};

// A message for many connections (a broadcast). It is framed once: the
// server frame (header and payload) is built on the first post() and every
// uncompressed recipient appends those bytes as they are. Where recipients
// compress without context takeover, it is compressed once per distinct
// compressor setting rather than once per recipient; the results are cached
// here. Not for sharing between threads (the caches are not synchronized).
class prepared_message {
 public:
  explicit prepared_message(std::string data, bool binary = false) : data_(std::move(data)), binary_(binary) {}
  const std::string& data() const noexcept { return data_; }
  bool binary() const noexcept { return binary_; }
  // Distinct compressed forms made so far (one per compressor setting).
  std::size_t compressions() const noexcept { return compressed_.size(); }

 private:
  friend class websocket;
  struct compressed {
    std::uint32_t key;
    std::string payload;
  };
  // The unmasked, uncompressed frame, built on first use.
  const std::string& frame() const;
  std::string data_;
  bool binary_;
  mutable std::string frame_;
  mutable std::vector<compressed> compressed_;  // usually 0 or 1 entries
};

namespace detail {
struct session;
}
class upgrade_request;

class websocket {
 public:
  explicit websocket(std::shared_ptr<detail::session> s) noexcept : s_(std::move(s)) {}

  // The next message, or nullopt once the connection is closed; then
  // close_code() and error() say how it ended.
  asio::awaitable<std::optional<message>> read();
  // The same, into a message the caller keeps: its string's capacity is
  // reused, so a read loop allocates nothing per message. False once closed.
  //   duplex::message m;
  //   while (co_await ws.read(m)) co_await ws.send(m);
  asio::awaitable<bool> read(message& into);
  // Every message already received (at least one; waits for one if none is
  // there) into a batch the caller keeps, replacing its contents. False once
  // closed, after the last messages before the peer's Close were handed out.
  asio::awaitable<bool> read(message_batch& into);
  // The same, telling the handler about messages the rate limit refused
  // (websocket_options::max_messages_per_second, max_bytes_per_second),
  // which the reads above skip silently. False with ec ==
  // errc::rate_limited: a message was refused, the connection is open, read
  // again (retry_after() says when the peer may send again); false with
  // errc::closed: the connection has ended (error() says how). A batch may
  // also come back true with ec == errc::rate_limited: it holds what passed.
  //   duplex::message m;
  //   std::error_code ec;
  //   for (;;) {
  //     if (co_await ws.read(m, ec)) handle(m);
  //     else if (ec == duplex::errc::rate_limited) ws.post("slow down");
  //     else break;
  //   }
  asio::awaitable<bool> read(message& into, std::error_code& ec);
  asio::awaitable<bool> read(message_batch& into, std::error_code& ec);

  // Queues a message (text unless binary). Returns errc::closed when the
  // connection is not open, errc::slow_consumer per the overflow policy.
  asio::awaitable<std::error_code> send(std::string_view data, bool binary = false);
  asio::awaitable<std::error_code> send(const message& m) { return send(m.data, m.binary); }
  // Non-suspending send for broadcast loops: same rules, but the wait policy
  // behaves as drop (a broadcaster should choose drop or close).
  std::error_code post(std::string_view data, bool binary = false);

  // post() for a broadcast: compressed once per setting across recipients.
  std::error_code post(const prepared_message& m);

  asio::awaitable<std::error_code> ping(std::string_view payload = {});

  // Starts the close handshake, waits (bounded by close_timeout) for the
  // peer's Close, and closes the TCP connection.
  asio::awaitable<void> close(std::uint16_t code = protocol::close_code::normal, std::string_view reason = {});

  // close() without waiting, for when another coroutine is the reader (a
  // second reader is not allowed): sends the Close and returns; the reader's
  // read() hands out what arrives before the peer's Close, then returns
  // nullopt/false (at the latest after close_timeout). errc::closed if the
  // connection is not open.
  std::error_code post_close(std::uint16_t code = protocol::close_code::normal, std::string_view reason = {});

  bool is_open() const noexcept;
  // The peer's close code (1005 if it sent none, 1006 if the TCP connection
  // dropped), or the code we failed the connection with.
  std::uint16_t close_code() const noexcept;
  const std::string& close_reason() const noexcept;
  std::error_code error() const noexcept;
  const std::string& subprotocol() const noexcept;
  // The negotiated Sec-WebSocket-Extensions value ("" when none).
  const std::string& extensions() const noexcept;
  const std::string& path() const noexcept;        // request target (server side)
  const std::string& remote_address() const noexcept;
  std::size_t queued_bytes() const noexcept;
  // Messages the rate limit has refused on this connection so far.
  std::uint64_t rate_limited() const noexcept;
  // After a refusal: how long until the peer's next message would pass (by
  // the buckets as of the last read; zero when it would now).
  std::chrono::milliseconds retry_after() const noexcept;
  // What the endpoint's upgrade hook attached (upgrade_decision::accept(T)),
  // or nullptr when it attached nothing or another type.
  template <class T>
  T* data() noexcept {
    return std::any_cast<T>(&user_data());
  }
  template <class T>
  const T* data() const noexcept {
    return std::any_cast<T>(&user_data());
  }
  std::any& user_data() noexcept;
  const std::any& user_data() const noexcept;
  // Whom the connection belongs to, as the upgrade hook named it
  // (upgrade_decision::identify(); server::disconnect() closes by it), or "".
  const std::string& identity() const noexcept;
  // The upgrade request (headers, query, cookies) when the endpoint keeps it
  // (endpoint_options::keep_request), else nullptr.
  const upgrade_request* request() const noexcept;
  std::uintptr_t id() const noexcept { return reinterpret_cast<std::uintptr_t>(s_.get()); }
  // The executor of the connection's io_context.
  asio::any_io_executor get_executor() const noexcept;

  friend bool operator==(const websocket& a, const websocket& b) noexcept { return a.s_ == b.s_; }

 private:
  std::shared_ptr<detail::session> s_;
};

// A message as a callback sees it: the payload is valid during the call only.
using message_view = message_batch::view;

// A server endpoint driven by callbacks instead of a coroutine per connection
// (server::websocket(path, websocket_callbacks)), uWebSockets' style: an idle
// connection then holds no coroutine frame, no pending coroutine read, about
// half the memory (docs/memory.md). Same websocket handle, options, limits
// and ordering: each read from the socket hands its messages to `message`
// one by one, and the replies they post leave in one write afterwards.
// Every callback runs on the connection's thread; an exception from one is
// logged and closes the connection with 1011.
//
// Backpressure: with overflow_policy::wait (the default), what a callback
// posts to its own connection is queued even past send_queue_limit, and the
// connection is not read again until its queue has drained below the limit
// (TCP then pushes back on a peer that sends faster than it reads), as a
// coroutine's send() would wait. Posts to other connections (a broadcast)
// follow the drop policy; choose drop or close for broadcasters.
//
// The server owns the connection until it ends: copies of the handle may be
// kept (a room), but dropping them does not close it (post_close() does).
// The callbacks are its only reader: read() on its handle returns false at
// once (errc::closed), and close() sends the Close and returns without
// waiting (the answer reaches the callbacks, then `close` is called).
//   srv.websocket("/echo", duplex::websocket_callbacks{
//       .message = [](duplex::websocket& ws, const duplex::message_view& m) { ws.post(m.data, m.binary); }});
struct websocket_callbacks {
  // After the 101, before the first message.
  std::function<void(websocket&)> open;
  // Each message in order (text or binary).
  std::function<void(websocket&, const message_view&)> message;
  // A message the receive rate limit refused (not handed to `message`);
  // retry_after() says when the peer may send again. Optional.
  std::function<void(websocket&)> rate_limited;
  // Once, when the connection has ended (close_code(), error() say how);
  // posts are refused from then on.
  std::function<void(websocket&)> close;
};

}  // namespace duplex
