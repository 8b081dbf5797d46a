// Internal: the state behind a duplex::websocket handle, its writer and its
// watchdog. Shared by the server and the client.
#pragma once

#include <duplex/net/metrics.hpp>
#include <duplex/net/upgrade.hpp>
#include <duplex/net/websocket.hpp>
#include <duplex/protocol/connection.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace duplex::detail {

// A TCP socket, optionally wrapped in TLS. Branching here keeps one
// non-template session for ws:// and wss://.
// A plain connection's socket is kept here, inside the session (no block of
// its own). A TLS stream keeps a reference to its socket, which must
// survive moving the stream from the handshake code into the session: with
// TLS the socket lives on the heap, next to the TLS stream and its context.
struct stream {
  explicit stream(asio::ip::tcp::socket s) noexcept : plain_(std::move(s)) {}
  stream(stream&&) noexcept = default;

  // Wraps the socket in TLS with `ctx`, before the handshake. `owned`
  // keeps a context of the connection's own alive (client side).
  void start_tls(asio::ssl::context& ctx, std::shared_ptr<asio::ssl::context> owned = nullptr);
  asio::ip::tcp::socket& tcp() noexcept { return secure_ ? secure_->socket : plain_; }
  // Null: plain TCP.
  asio::ssl::stream<asio::ip::tcp::socket&>* tls() const noexcept { return secure_ ? &secure_->stream : nullptr; }

  asio::awaitable<std::size_t> read_some(asio::mutable_buffer b, std::error_code& ec);
  asio::awaitable<void> write(asio::const_buffer b, std::error_code& ec);
  void close() noexcept;

 private:
  struct secure {
    secure(asio::ip::tcp::socket s, asio::ssl::context& ctx, std::shared_ptr<asio::ssl::context> owned)
        : context(std::move(owned)), socket(std::move(s)), stream(socket, ctx) {}
    std::shared_ptr<asio::ssl::context> context;  // client side: owned per connection
    asio::ip::tcp::socket socket;
    asio::ssl::stream<asio::ip::tcp::socket&> stream;
  };
  asio::ip::tcp::socket plain_;  // moved into secure_ by start_tls()
  std::unique_ptr<secure> secure_;
};

struct session;

// Replaces the 4 x 17 KiB of buffers Asio's TLS stream holds for its whole
// life (its BIO pair with OpenSSL and its socket read and write buffers)
// with 4 x `size`, before the handshake. A 16 KiB TLS record then passes in
// several steps; OpenSSL's own record buffers are freed while idle
// (SSL_MODE_RELEASE_BUFFERS, which Asio sets). False: left as it was.
constexpr std::size_t tls_buffer_size = 4096;
bool shrink_tls_buffers(asio::ssl::stream<asio::ip::tcp::socket&>& s, std::size_t size) noexcept;

// A callback endpoint (websocket_callbacks), shared by its sessions.
struct callback_host {
  explicit callback_host(websocket_callbacks c) : cb(std::move(c)) {}
  virtual ~callback_host() = default;
  websocket_callbacks cb;
  // A callback threw: log it (the session closes with 1011).
  virtual void failed(session& s, std::string_view what) noexcept = 0;
  // The connection has ended and cb.close has run: the owner's bookkeeping.
  virtual void ended(session& s) noexcept = 0;
};

// The sessions of one io_context and one timer that checks all of their
// timeouts (idle ping, pong wait, close deadline) every `period`, instead of
// a timer and a pending wait per connection (uSockets' sweep): an idle
// connection holds two list pointers, not a timer object and an operation.
// The period is 1 s, shorter for connections whose timeouts are shorter
// (a quarter of the shortest, at least 10 ms); a timeout fires up to one
// period late. The sweep also frees the buffers an idle connection still
// holds (see session::check()).
class watchdog : public asio::execution_context::service {
 public:
  using key_type = watchdog;
  static inline asio::execution_context::id id;
  explicit watchdog(asio::execution_context& ctx);
  // From the io_context's thread only, like everything on a session.
  void add(session& s);
  void remove(session& s) noexcept;
  // Calls `f(session&)` for each session in the list; `f` may drop the
  // session it is given (which takes it out of the list), not others.
  // The server's drain visits its connections this way (each thread's own).
  template <class F>
  void for_each(F&& f);

 private:
  void arm();
  void sweep();
  void shutdown() override;
  std::optional<asio::steady_timer> timer_;  // made by the first add(), on its executor
  session* head_ = nullptr;
  std::chrono::steady_clock::duration period_ = std::chrono::seconds(1);
  bool armed_ = false;
};

// The sessions of one io_context whose queued frames wait for a write, and
// one posted handler that writes them all. Deferring the write lets every
// frame queued before the current handler yields (all replies to a
// pipelined batch, a whole broadcast) leave in one write per connection; one
// post per io_context turn instead of one per connection keeps a broadcast
// to N clients from posting (and allocating) N handlers.
class flush_queue : public asio::execution_context::service {
 public:
  using key_type = flush_queue;
  static inline asio::execution_context::id id;
  explicit flush_queue(asio::execution_context& ctx)
      : asio::execution_context::service(ctx), dog(asio::use_service<watchdog>(ctx)) {}
  // From the io_context's thread only, like everything on a session.
  void add(std::shared_ptr<session> s);
  // The io_context's watchdog: a session reaches it through its `flushes`
  // instead of keeping a pointer of its own.
  watchdog& dog;

 private:
  void run() noexcept;
  void shutdown() override { pending_.clear(); }
  std::vector<std::shared_ptr<session>> pending_, running_;
  bool posted_ = false;
};

// One input and one output buffer per io_context, lent to the connection
// whose input is being read and answered. A connection reads into the
// shared input buffer when its socket is ready (not when it starts waiting:
// see hinted_read.hpp), hands out views into it, and its replies go to the
// shared output buffer; when it waits for input again it writes them and
// gives both back, keeping only an unfinished frame's few bytes in its own
// buffer. A busy thread thus touches two buffers that stay in cache instead
// of a pair per connection (each a cache miss for the kernel's copy and our
// own), and an idle connection holds only its small own buffers. While a
// handler keeps a batch across a wait of its own, the buffers stay with it
// and the other connections use their own. Lending is an exchange (the
// connection's own buffer waits in the pool meanwhile), so every buffer has
// exactly one owner at any time; what a handler still views is never handed
// to another connection.
class shared_buffers : public asio::execution_context::service {
 public:
  using key_type = shared_buffers;
  static inline asio::execution_context::id id;
  explicit shared_buffers(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

  struct pool {
    std::unique_ptr<char[]> input;
    std::size_t input_capacity = 0;
    protocol::output_buffer output;  // empty while here
    // Set and cleared on the io_context's thread; also cleared by a
    // connection destroyed while holding one, on whatever thread let go of
    // it last. Such a connection took the buffer along; what it left here
    // in exchange (its own empty buffer) becomes the shared one.
    std::atomic<bool> input_lent{false}, output_lent{false};
  };
  // Shared with the sessions: one may outlive its io_context.
  const std::shared_ptr<pool> buffers = std::make_shared<pool>();

 private:
  void shutdown() override {}
};

// Where session reads land (see hinted_read.hpp).
struct read_target {
  session& s;
  asio::mutable_buffer acquire() noexcept;  // the shared buffer when it is free; empty when out of memory
  void unused() noexcept;
  asio::mutable_buffer own();
};

struct session : std::enable_shared_from_this<session> {
  // `o` as session_options() made it.
  session(stream s, protocol::role r, std::shared_ptr<const websocket_options> o);
  ~session();

  // Arms the watchdog. `leftover` is input read past the handshake (the peer
  // may send frames right behind it).
  void start(std::string_view leftover);

  void wake_writer() noexcept;
  // Waits until everything queued has been written (or the transport died).
  asio::awaitable<void> flush();
  // Ends the TCP connection (server: after the close handshake; or on error).
  void drop(std::error_code why) noexcept;
  // After our side is CLOSED: flush, half-close TCP (server), drain until the
  // peer closes, bounded by close_timeout; then close.
  asio::awaitable<void> finish();
  // Starts the close deadline (close_timeout) once our side leaves OPEN.
  void arm_close_deadline() noexcept;
  // A ping arrived: refills the pong budget each second, closes (1008) a
  // peer past twice the limit within one.
  void count_ping(std::uint32_t limit) noexcept;

  // The next message, or nullopt/false once closed (websocket::read()).
  asio::awaitable<std::optional<message>> read();
  asio::awaitable<bool> read(message& out);
  asio::awaitable<bool> read(message_batch& out);
  // The loop behind both: one message into `one`, or every message already
  // received into `many`.
  // A message the rate limit refuses is skipped, or with `report`, reported
  // there as errc::rate_limited (errc::closed once the connection ended).
  asio::awaitable<bool> read_messages(message* one, message_batch* many, std::error_code* report);
  // After a read of `n` bytes into conn: takes what more the socket holds
  // (see read_messages()), and the bookkeeping of a read. Returns the total.
  std::size_t took(std::size_t n);

  // A callback endpoint: hands out what is buffered (the handshake's
  // leftover), then reads (callbacks.cpp).
  void start_callbacks();
  // Parses what was read and calls the callbacks; reads again, or ends.
  void dispatch();
  void read_for_callbacks();
  void on_callback_input(std::error_code ec, std::size_t n);
  // Finishes the close handshake (finish()), then ended().
  void finish_callbacks();
  // cb.close, then host->ended(), once.
  void callbacks_ended() noexcept;
  // Runs a callback; an exception closes the connection with 1011.
  template <class F>
  void call_back(F&& f) noexcept;
  void callback_failed(std::string_view what) noexcept;

  // Starts the close handshake and reads until it completes (websocket::close()).
  asio::awaitable<void> close_and_drain(std::uint16_t code, std::string_view reason);
  // The last user handle is gone: close the connection in the background.
  void abandoned() noexcept;

  void start_write();
  // See shared_buffers. The input is borrowed only when none of ours is
  // buffered, the output only on plain TCP with nothing queued or in flight.
  void borrow_input() noexcept;
  void return_input() noexcept;
  void borrow_output() noexcept;
  // Writes what the handler queued, then gives the buffer back. When a
  // write could not finish at once (now or in a flush while lent), the
  // shared buffer left with that write: the pool keeps the connection's own
  // empty one in exchange, which becomes the shared one.
  void return_output() noexcept;
  void release_shared() noexcept {
    return_output();
    return_input();
  }
  // The watchdog's sweep: evaluates the timeouts (idle ping, pong wait,
  // close) and frees the buffers an idle connection holds.
  void check(std::chrono::steady_clock::time_point now) noexcept;
  // Waits for drain_signal (created on first use).
  asio::awaitable<void> wait_drained();
  void signal_drained() noexcept {
    if (drain_signal) drain_signal->cancel();
  }

  std::size_t queued() const noexcept { return conn.output().size() + inflight.size(); }
  // The send-queue limit and overflow policy before queueing `size` bytes:
  // errc::slow_consumer (and, by policy, the connection closing) or ok.
  std::error_code admit(std::size_t size) noexcept {
    // Inline: every post() passes here; only a refusal takes a call.
    if (transport_done || conn.get_state() != protocol::state::open || (queued() > 0 && queued() + size > send_queue_limit))
        [[unlikely]]
      return refuse();
    return {};
  }
  std::error_code refuse() noexcept;

  // The rate limit on received messages (server side; websocket_options::
  // max_messages_per_second, max_bytes_per_second). Per message: a
  // subtraction and a sign test (two of each with the byte bucket on); no
  // clock read, no floating point, no allocation.
  // Tokens are fixed-point integers (a message is message_unit, a byte
  // 1 << byte_shift); a bucket without a rate holds `unlimited`, reset at
  // each refill. The buckets are refilled by the time of the socket read
  // that brought the messages (last_activity): after a read when 10 ms
  // have passed since the last refill (read_messages(); the time is not lost,
  // only credited later, so a burst may exceed its cap by 10 ms worth of
  // tokens, 1 % of the rate), and always before a refusal.
  static constexpr std::int64_t message_unit = std::int64_t{1} << 20;
  static constexpr int byte_shift = 10;
  static constexpr std::int64_t unlimited = std::int64_t{1} << 62;
  static constexpr std::uint64_t max_byte_burst = std::uint64_t{1} << 50;  // bursts are capped here (1 PiB)
  static constexpr std::chrono::steady_clock::duration refill_step = std::chrono::milliseconds(10);
  bool admit_received(std::size_t size) noexcept {
    const std::int64_t messages = message_tokens - message_unit;
    if (!bytes_limited) [[likely]] {  // the default: only the message bucket
      if (messages < 0) [[unlikely]]
        return admit_slow(size);
      message_tokens = messages;
      return true;
    }
    const std::int64_t bytes = byte_tokens - (static_cast<std::int64_t>(size) << byte_shift);
    if ((messages | bytes) < 0) [[unlikely]]
      return admit_slow(size);
    message_tokens = messages;
    byte_tokens = bytes;
    return true;
  }
  void refill() noexcept;
  // A bucket ran short: refills to the last read's time and passes the
  // message if it fits now (a message bigger than the byte burst fits a
  // full bucket, leaving it in debt); else counts a refusal and closes a
  // peer that keeps sending over the limit.
  [[gnu::noinline]] bool admit_slow(std::size_t size) noexcept;
  std::chrono::milliseconds retry_after() const noexcept;

  // What post(), the writer and the reads touch for every message come
  // first, together (with the connection's own hot members at its start):
  // a broadcast touches them for each of thousands of recipients, and
  // spread over the object they cost a cache miss each.
  flush_queue& flushes;  // the io_context's
  traffic_counters* stats = nullptr;  // the server thread's; none on the client side
  protocol::output_buffer inflight;  // bytes being written now
  std::size_t send_queue_limit;      // opts.send_queue_limit, kept here with the hot fields
  int fd = -1;  // the socket's descriptor (written to directly when there is no TLS; see start_write())
  bool transport_done = false;
  bool writing = false;
  bool write_scheduled = false;
  bool input_lent = false;          // conn reads into shared->input
  bool output_lent = false;         // conn's output is shared->output
  bool writes_fall_behind = false;  // the last write could not finish at once
  bool reads_big = false;           // the last read brought max_read_size or more
  bool read_hint = false;           // the kernel's TCP_INQ hint is on: see hinted_read.hpp
  bool bytes_limited = false;       // opts.max_bytes_per_second is set (server side): see admit_received()
  // (Colder, in what would be padding.)
  bool closing = false;       // our side left OPEN: the close deadline runs (closing_since)
  bool stop_reading = false;  // closed for abuse: flush our Close, then drop
  bool rate_closed = false;   // closed for flooding: whatever follows is dropped
  protocol::connection conn;

  stream io;
  std::shared_ptr<shared_buffers::pool> shared;  // the io_context's
  read_target input{*this};
  // Where the pending socket read lives (direct_recv_op in hinted_read.hpp):
  // in the session rather than allocated per read.
  struct alignas(8) op_storage {
    unsigned char bytes[96];
  } read_op;
  // Shared by the endpoint's connections (see session_options()).
  std::shared_ptr<const websocket_options> opts;
  // flush()/wait-policy senders sleep on it; made on first use (an idle
  // connection has none).
  std::unique_ptr<asio::steady_timer> drain_signal;
  session* dog_prev = nullptr;  // the watchdog's list (flushes.dog), while `watched`
  session* dog_next = nullptr;
  std::uint32_t read_size = 128;  // adaptive, see read(): small while idle, doubling under load (to 64 KiB)
  std::uint32_t read_room = 0;    // the size of the last read's buffer (at most 4 GiB: see read_target::own())
  std::error_code read_error;   // met while draining the socket, raised by the next read
  std::chrono::steady_clock::time_point last_activity;
  // One time for two deadlines that never run together: while open, when
  // the idle ping was sent (with ping_outstanding); once closing, when the
  // close began (the close deadline). check() reads the second once
  // `closing` is set, and nothing reads the first after that.
  union {
    std::chrono::steady_clock::time_point ping_sent{};
    std::chrono::steady_clock::time_point closing_since;
  };
  // The receive buckets (see admit_received()): rates and bursts are in
  // opts (bursts made explicit at the start).
  // (Not adjacent: GCC would vectorize the two stores of admit_received()
  // into a dozen SSE instructions.)
  std::int64_t message_tokens = unlimited;
  std::chrono::steady_clock::time_point bucket_time;
  std::int64_t byte_tokens = unlimited;
  float refused_need = 0;         // the bytes the last refused message needed
  std::uint32_t refused_run = 0;  // refusals since the buckets were last full
  std::uint64_t refused_total = 0;
  std::chrono::steady_clock::time_point ping_window;  // max_pings_per_second's current second
  std::uint32_t pings_in_window = 0;
  std::uint16_t close_code = 0;
  bool ping_outstanding = false;
  // A read waits for the socket and holds no bytes in the input buffer (set
  // as it starts, cleared when the socket is ready: read_target), and the
  // handler holds no view into the input: the watchdog may free it.
  bool awaiting_input = false;
  bool ended_called = false;    // callbacks_ended() ran
  bool replying = false;        // a callback for this connection runs (see refuse())
  bool watched = false;         // in the watchdog's list (dog_prev, dog_next)
  std::error_code error;
  std::string path;
  std::string remote;
  std::any user;                          // the upgrade hook's data
  std::shared_ptr<void> ip_slot;          // the per-IP count this connection holds
  std::shared_ptr<callback_host> host;    // a callback endpoint's (else null)
  // A callback endpoint's handle on its own session: what the callbacks are
  // given, and what keeps the session alive until callbacks_ended().
  // Empty (null) otherwise.
  websocket handle{nullptr};

  // The negotiated subprotocol, in a block of its own (null: none). Not in
  // cold_fields: an application that speaks one (the chat) sets it on every
  // connection, and this block is the string's 32 bytes, not cold_fields'.
  std::unique_ptr<const std::string> subprotocol;

  // What most connections never set, in one block made on first use
  // (cold()): an idle connection without them holds a null pointer instead
  // of two strings, a shared_ptr and the identity.
  struct cold_fields {
    std::string extensions;
    std::string close_reason;
    std::shared_ptr<const upgrade_request> request;  // endpoint_options::keep_request
    // upgrade_decision::identify(); empty: none. The server's index
    // (server.cpp, worker::by_identity) keys by a view of it: the block
    // never moves once made.
    std::string identity;
  };
  std::unique_ptr<cold_fields> rare;
  cold_fields& cold() {
    if (!rare) rare = std::make_unique<cold_fields>();
    return *rare;
  }
  // What the handshake negotiated, on either side (a block is made only for
  // a value that is not empty).
  void set_negotiated(std::string chosen_subprotocol, std::string chosen_extensions) {
    if (!chosen_subprotocol.empty()) subprotocol = std::make_unique<const std::string>(std::move(chosen_subprotocol));
    if (!chosen_extensions.empty()) cold().extensions = std::move(chosen_extensions);
  }
  // The close reason the peer gave (a block is made only for a non-empty one).
  void set_close_reason(std::string_view reason) {
    if (!reason.empty() || rare) cold().close_reason = reason;
  }
  // The fields' values, empty when there is no block.
  static const cold_fields& no_cold_fields() noexcept;
  const cold_fields& cold_or_empty() const noexcept { return rare ? *rare : no_cold_fields(); }
};

template <class F>
void watchdog::for_each(F&& f) {
  for (session* s = head_; s;) {
    session* next = s->dog_next;
    f(*s);
    s = next;
  }
}

// The options a session runs with: `o` with the rate-limit bursts made
// explicit (server), or without rate limits (client). Made once per endpoint
// and shared by its sessions.
std::shared_ptr<const websocket_options> session_options(const websocket_options& o, protocol::role r);

// The user-facing handle; see make_handle() in websocket.cpp.
websocket make_handle(std::shared_ptr<session> s);

}  // namespace duplex::detail
