// The sans-I/O WebSocket connection (RFC 6455 after the handshake), in the
// manner of wsproto: bytes in, events out, bytes to send accumulate in an
// output buffer. No sockets, no clocks: the transport (lib/src/net) and the
// tests drive it the same way, and fuzzers can feed it anything.
//
// Input is parsed in place: the transport reads into prepare()/commit(), and a
// complete unfragmented frame is unmasked where it lies and handed out as a
// view, so the common case copies nothing. Every RFC 6455 MUST about
// received frames is enforced here; a violation fails the connection: the
// matching Close frame is queued, the state becomes closed and a `failed`
// event says why.
#pragma once

#include <duplex/error.hpp>
#include <duplex/protocol/deflate.hpp>
#include <duplex/protocol/frame.hpp>
#include <duplex/protocol/utf8.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace duplex::protocol {

// RFC 6455 §4 and §7 states once the opening handshake is done (CONNECTING
// belongs to the handshake code).
enum class state : std::uint8_t {
  open,     // OPEN: data flows both ways
  closing,  // CLOSING: we sent a Close and wait for the peer's
  closed,   // CLOSED: both Close frames exchanged, or the connection failed
};

struct event {
  enum class kind : std::uint8_t { text, binary, ping, pong, close, failed };
  kind type{};
  // Message payload, ping/pong payload, or close reason. Valid until the next
  // call to prepare(), receive_data() or next_event().
  std::string_view data;
  // close: the peer's status code (1005 when it sent none).
  // failed: the code we sent (1002, 1007, 1009).
  std::uint16_t code = 0;
  // failed: duplex::errc::{protocol_error,invalid_utf8,message_too_big,bad_compressed_data}
  std::error_code error;
  // The payload lies in the input buffer (a whole unfragmented, uncompressed
  // message, unmasked in place): then it stays valid across next_event()
  // calls, until the next prepare() or receive_data(). A transport can hand
  // out every message of one read without copying them.
  bool in_input = false;
};

inline constexpr std::size_t default_max_message_size = 16 * 1024 * 1024;

class connection {
 public:
  explicit connection(role r, std::size_t max_message_size = default_max_message_size);
  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  ~connection();

  role get_role() const noexcept { return role_; }
  state get_state() const noexcept { return state_; }
  std::size_t max_message_size() const noexcept { return max_message_size_; }

  // ---- input ----
  // Writable space of at least `min` bytes after the unparsed input.
  std::span<char> prepare(std::size_t min = 4096);
  // `n` bytes were written into the span from prepare().
  void commit(std::size_t n) noexcept { in_end_ += n; }
  // Copying convenience for tests and fuzzers.
  void receive_data(std::string_view bytes);
  // The next event from buffered input, or nullopt when more bytes are needed
  // (or the connection is closed: input after CLOSED is ignored).
  std::optional<event> next_event();
  std::size_t buffered_input() const noexcept { return in_end_ - in_begin_; }
  // Exchanges the input storage with `storage` (of `capacity` bytes); the
  // unparsed input moves along (`storage` is replaced by a larger one if it
  // cannot hold it). A transport lends a connection a buffer that many share
  // while it reads, and takes it back afterwards. Like prepare(), it ends
  // the validity of payloads that lie in the input.
  void swap_input(std::unique_ptr<char[]>& storage, std::size_t& capacity);
  // Frees the input storage if it holds no unparsed input (an idle
  // connection's); payloads viewed in the input become invalid.
  void release_input() noexcept {
    if (in_begin_ != in_end_) return;
    in_.reset();
    in_cap_ = in_begin_ = in_end_ = 0;
  }
  // For a transport that hands out several messages at once (a batch): with
  // deferral on, a violation makes next_event() return nullopt with the
  // connection still OPEN and failure_pending() true, so the messages before
  // it can be answered first; the next call then fails the connection (its
  // Close goes after those replies) and returns the failed event. Nothing
  // after the violation is parsed. This is what Autobahn calls strict.
  // The peer's Close is deferred the same way: the messages before it are
  // answered before our Close echo goes out (RFC 6455 §5.5.1 lets an
  // endpoint finish what it sends first); failure_pending() is then true
  // too and the next call returns the close event.
  void defer_failures(bool on) noexcept { defer_failures_ = on; }
  // Abuse limits. A message may arrive in at most `n` frames; its next
  // frame fails the connection with 1008 (errc::too_many_fragments): tiny
  // fragments cost a frame's work per byte. Pings are answered while the
  // budget lasts (each Pong takes one); past it they are still reported but
  // not answered, so a transport refills it per time window (a ping flood
  // costs no output). Both unlimited unless set.
  void set_max_fragments(std::uint32_t n) noexcept { max_fragments_ = n == 0 ? UINT32_MAX : n; }
  void allow_pongs(std::uint32_t n) noexcept { pongs_left_ = n; }
  bool failure_pending() const noexcept { return pending_.code != 0; }
  // A text/binary event whose data is not in_input lives in the
  // connection's message buffer (a reassembled or inflated message). This
  // hands that buffer to `into` by swapping, so a big message is not copied
  // again; the connection keeps into's old capacity for the next message.
  // False (nothing done) when ev's data is not that buffer.
  bool take_message(const event& ev, std::string& into) noexcept {
    if (ev.data.data() != message_.data() || ev.data.size() != message_.size()) return false;
    into.swap(message_);
    message_.clear();
    return true;
  }

  // ---- permessage-deflate (RFC 7692) ----
  // Called once the handshake agreed on the extension: RSV1 is then allowed
  // on the first frame of a data message, which is inflated (bounded by
  // max_message_size) before UTF-8 validation, and send() compresses
  // messages of at least options.threshold bytes.
  void enable_deflate(const deflate_params& params, const deflate_options& options);
  bool deflate_enabled() const noexcept { return deflate_ != nullptr; }
  // Identifies our compressor's output when it has no context takeover: two
  // connections with the same key compress a message to the same bytes, so a
  // broadcast can compress once per key. 0 when not shareable.
  std::uint32_t shared_compression_key() const noexcept;
  // Whether send() would compress a message of this size.
  bool would_compress(std::size_t size) const noexcept {
    return deflate_on_ && deflate_->out.should_compress(size);
  }
  // Compresses without sending (no takeover only: the state is not touched).
  void compress(std::string_view message, std::string& out) { deflate_->out.compress(message, out); }
  // Sends a payload compressed elsewhere (see shared_compression_key) with RSV1.
  bool send_compressed(opcode op, std::string_view compressed_payload);

  // ---- output ----
  // A complete text or binary message. False when not OPEN or op is not data.
  bool send(opcode op, std::string_view payload) {
    // The common reply inline: a short uncompressed server frame is a
    // two-byte header and the payload, appended without a call.
    if (payload.size() < 126 && role_ == role::server && state_ == state::open && !sending_fragmented_ &&
        !deflate_on_ && (op == opcode::text || op == opcode::binary)) {
      char* at = out_.extend(2 + payload.size());
      at[0] = static_cast<char>(0x80 | static_cast<unsigned>(op));
      at[1] = static_cast<char>(payload.size());
      if (!payload.empty()) std::memcpy(at + 2, payload.data(), payload.size());  // an empty view's data() may be null
      return true;
    }
    return send_general(op, payload);
  }
  // A whole unmasked data frame built once for many server connections (a
  // broadcast: duplex::prepared_message), appended as it is. False when not
  // a server, not OPEN, or inside a fragmented message; the caller knows the
  // frame is uncompressed and would not have been compressed here.
  bool send_prepared(std::string_view frame) {
    if (role_ != role::server || state_ != state::open || sending_fragmented_) return false;
    out_.append(frame.data(), frame.size());
    return true;
  }
  // One frame of a fragmented message: the first has op text/binary, the
  // rest op continuation; the last has fin. False on a wrong sequence.
  bool send_frame(opcode op, std::string_view payload, bool fin);
  bool ping(std::string_view payload = {});  // payload <= 125 bytes
  bool pong(std::string_view payload = {});
  // Starts the close handshake. The reason is cut to fit 123 bytes.
  bool close(std::uint16_t code = close_code::normal, std::string_view reason = {});

  // Bytes waiting to be written. The transport swaps them out with
  // swap_output() so that sends during a write append to a fresh buffer.
  std::string_view output() const noexcept { return out_.view(); }
  bool has_output() const noexcept { return !out_.empty(); }
  void swap_output(output_buffer& other) noexcept { out_.swap(other); }
  std::size_t output_capacity() const noexcept { return out_.capacity(); }
  // The transport wrote all of output() directly (keeps the capacity).
  void clear_output() noexcept { out_.clear(); }

  // The transport lost the TCP connection: the state becomes closed, and a
  // deferred failure is dropped with it (there is nobody left to tell), so
  // that failure_pending() implies next_event() returns the failed event.
  void mark_closed() noexcept {
    state_ = state::closed;
    pending_ = {};
  }

 private:
  std::optional<event> fail(std::uint16_t code, errc why, std::string_view reason);
  event take_close();  // the deferred Close: echoed (when OPEN), then CLOSED
  event fail_now(std::uint16_t code, errc why, std::string_view reason);
  std::optional<event> on_control();
  // Every frame the fast path in next_event() does not take.
  std::optional<event> next_event_general();
  bool send_general(opcode op, std::string_view payload);
  void write_frame(opcode op, std::string_view payload, bool fin, bool rsv1 = false);
  std::optional<event> inflate(std::string_view compressed, bool final_fragment);

  // What sending and the parser's fast path read come first, together: a
  // broadcast touches them for every recipient.
  role role_;
  state state_ = state::open;
  bool defer_failures_ = false;
  bool sending_fragmented_ = false;  // sending a fragmented message
  bool deflate_on_ = false;          // deflate_ is engaged
  output_buffer out_;
  struct {
    std::uint16_t code = 0;  // 0: none
    bool close = false;      // the peer's Close (code is its code), not a failure
    errc why{};
    std::string_view reason;  // a literal
  } pending_;
  std::size_t max_message_size_;

  // Input buffer: [in_begin_, in_end_) is unparsed.
  std::unique_ptr<char[]> in_;
  std::size_t in_cap_ = 0, in_begin_ = 0, in_end_ = 0;

  // Frame being received.
  bool in_frame_ = false;
  bool frame_fin_ = false;
  bool frame_masked_ = false;
  opcode frame_op_{};
  mask_key frame_mask_{};
  std::uint64_t frame_remaining_ = 0;
  std::uint64_t frame_offset_ = 0;

  // Message being received across frames.
  std::string message_;
  std::string control_;
  utf8_validator utf8_;
  bool in_message_ = false;
  opcode message_op_{};
  bool message_compressed_ = false;  // RSV1 on the message's first frame
  std::uint32_t message_frames_ = 0;  // frames of the message being received
  std::uint32_t max_fragments_ = UINT32_MAX;
  std::uint32_t pongs_left_ = UINT32_MAX;

  // permessage-deflate's state, only for connections that negotiated it
  // (112 bytes a connection without it would carry for nothing).
  struct deflate_state {
    deflate_state(const deflate_params& p, role r, const deflate_options& o) : out(p, r, o), in(p, r) {}
    deflater out;
    inflater in;
    std::string compressed;  // send(): reused output buffer of the deflater
  };
  std::unique_ptr<deflate_state> deflate_;

  struct mask_source;
  std::unique_ptr<mask_source> masks_;  // client role only
};

}  // namespace duplex::protocol
