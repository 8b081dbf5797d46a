// permessage-deflate (RFC 7692), sans-I/O: negotiation of the extension in
// the opening handshake (both roles) and the per-message compressor and
// decompressor over zlib raw DEFLATE. No frames here: the connection sets
// RSV1 on the first frame of a compressed message and passes payloads through
// a deflater (outgoing) and an inflater (incoming).
//
// Memory. zlib's state per stream (measured with zlib 1.2.13, 64-bit):
//   deflate: (1 << (windowBits + 2)) + (1 << (memLevel + 9)) + ~5.9 KiB
//            windowBits 15: memLevel 8 = 262 KiB, memLevel 4 = 142 KiB,
//                           memLevel 1 = 135 KiB
//            windowBits 12, memLevel 4 = 30 KiB; 11/2 = 16 KiB; 9/3 = 12 KiB
//   inflate: (1 << windowBits) + ~7 KiB
//            windowBits 15 = 39 KiB, 12 = 11 KiB, 8 = 7.3 KiB
// With context takeover a side keeps its stream for the whole connection:
// at windowBits 15 that is 142-262 KiB (deflate) + 39 KiB (inflate) per
// connection, 1.8-3 GB for 10k connections. Without it (the defaults) the
// stream exists only while a message is being (de)compressed and is freed
// after each message, so an idle connection holds no zlib memory at all.
//
// Measured on 1000 chat messages ({"type":"message","from":"ada","text":
// "...","time":...}, ~104 bytes each, level 6): compressed/original is 0.86
// without context takeover, 0.26 with takeover at windowBits 11 (memLevel 2),
// 0.24 at 12 (memLevel 4) and 0.22 at 15 (memLevel 4). deflate_test prints
// these figures.
#pragma once

#include <duplex/error.hpp>
#include <duplex/protocol/frame.hpp>
#include <duplex/protocol/http.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace duplex::protocol {

inline constexpr std::string_view permessage_deflate = "permessage-deflate";

// What an endpoint is willing to negotiate, and how it compresses. One
// struct for both roles: the server_* fields concern the server's
// compressor (and the client's decompressor), the client_* fields the
// client's compressor (and the server's decompressor). Values out of range
// are clamped (window bits to 8..15, mem_level to 1..9, level to 0..9 with
// -1 meaning 6).
//
// The defaults are chosen so that 10k idle connections cost no zlib memory:
// no context takeover in either direction (each message is compressed on
// its own; the zlib stream is freed after it), so only messages in flight
// hold memory (a server thread compresses one at a time). The price is the
// ratio on small messages: ~0.86 instead of ~0.22-0.26 for chat-sized JSON. A
// server whose traffic is many small similar messages can turn takeover on
// and buy most of the ratio back cheaply with a small window, e.g.
//   {.enabled = true, .mem_level = 2, .server_max_window_bits = 11,
//    .server_no_context_takeover = false}   // 16 KiB/connection, ratio 0.26
// (the client direction stays without takeover: the server's inflater is
// freed between messages).
// A bonus of no takeover on the server: compress() output depends only on
// the message (and level, mem_level, window bits), so a broadcaster can
// compress a message once and send the same payload to every connection
// that negotiated the same server_max_window_bits.
struct deflate_options {
  bool enabled = false;

  // zlib level 0-9. 6, zlib's own default, the usual balance. Measured
  // (memLevel 4, one core): a ~100-byte chat message takes 6-10 us at any
  // level (per-message overhead dominates), and with takeover level 6 is
  // 25% smaller than level 1. On a 1.1 MB JSON message level 1 gives 0.18
  // at 135 MB/s, 3 gives 0.16 at 90 MB/s, 6 gives 0.136 at 27 MB/s and 9
  // gives 0.132 at 9 MB/s: servers that send large messages and are CPU
  // bound should choose 1-3.
  int level = 6;

  // zlib memLevel 1-9: hash table and symbol buffer of 1 << (mem_level + 8)
  // bytes each. 4 (Beast's default too): at window 15 the stream costs
  // 142 KiB instead of 262 KiB at 8, and initialising it takes 15 us instead
  // of 45 us, for a ratio 2-3% worse on large messages (blocks of 1K symbols:
  // incompressible data grows by 0.5% instead of 0.03%) and the same on small
  // ones. Without takeover, small messages use a smaller memLevel still (see
  // deflater).
  int mem_level = 4;

  // Largest LZ77 window (log2 bytes, 8..15) the server compresses with.
  // Server: the window it uses (it answers server_max_window_bits=N when
  // N < 15 or the client asked; a smaller client request is honoured).
  // Client: below 15 it asks the server for at most this window, which
  // bounds the client's inflate memory (1 << N bytes).
  int server_max_window_bits = 15;
  // Largest window the client compresses with.
  // Server: the largest window it accepts from clients, i.e. its inflate
  // memory. Below 15 it answers client_max_window_bits=N to clients that
  // offer the parameter and DECLINES offers without it (such a client may
  // use 15): Firefox offers plain "permessage-deflate", so it would go
  // uncompressed. Chrome offers client_max_window_bits.
  // Client: the window it compresses with (offered as client_max_window_bits=N
  // when below 15).
  int client_max_window_bits = 15;

  // The server resets its compressor after every message. Server: answers
  // server_no_context_takeover (allowed even if not offered). Client: asks
  // for it, and fails the connection if the server does not agree.
  bool server_no_context_takeover = true;
  // The client resets its compressor after every message. Server: answers
  // client_no_context_takeover (always allowed), so it can free its inflater
  // between messages. Client: offers it and does it regardless of the answer.
  bool client_no_context_takeover = true;

  // Messages shorter than this are sent uncompressed (deflater::should_compress).
  // Measured without takeover: chat JSON under 40 bytes grows (1.05),
  // 64-100 bytes gives 0.91, 100-150 bytes 0.83.
  std::size_t threshold = 64;
};

// What was agreed for one connection (RFC 7692 §7.1), with concrete values.
// Window bits are 8..15.
struct deflate_params {
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  friend bool operator==(const deflate_params&, const deflate_params&) = default;
};

// ---- negotiation (RFC 7692 §5, §7.1) ----
//
// Header values follow RFC 6455 §9.1: comma-separated elements, each a
// token with ";"-separated params, a param value a token or a quoted string
// (RFC 7692 §7.1: server_max_window_bits="10" is valid). Extension and
// parameter names compare case-insensitively. Window values must be
// 8..15 without leading zeros.

// The client's Sec-WebSocket-Extensions value: one offer, e.g.
// "permessage-deflate; server_no_context_takeover; client_no_context_takeover;
// client_max_window_bits". client_max_window_bits is always offered (so the
// server may limit our window); server_max_window_bits=N and
// client_max_window_bits=N only when below 15. Empty when !enabled.
std::string make_offer(const deflate_options& options);

// Server: picks the first acceptable permessage-deflate offer among all
// elements of the client's Sec-WebSocket-Extensions headers, in order
// (each span element is one header's value; several headers are the same as
// one joined with ","). Returns the agreed params and the value for the
// response's Sec-WebSocket-Extensions header, or nullopt when nothing is
// acceptable or !enabled (then answer without the header). Never fails the
// handshake: an offer with an unknown or duplicate parameter, a value where
// none is allowed, a missing or bad window value, or a syntax error is
// declined and the next offer considered; other extensions are ignored.
//
// The agreed values: server window min(offer, options), echoed when offered
// or below 15; client window min(offer or 15, options) when the client
// offered client_max_window_bits (answered when below what the client would
// use), else 15, or the offer is declined when options want less;
// server/client_no_context_takeover when offered or wanted by options.
// Window 8 is accepted both ways: zlib cannot deflate raw with windowBits 8,
// but at windowBits 9 it never emits a distance above 250 (window size minus
// its 262-byte lookahead), so its output is valid for a 256-byte window;
// zlib inflates raw windowBits 8 directly.
std::optional<std::pair<deflate_params, std::string>> negotiate_server(
    std::span<const std::string_view> header_values, const deflate_options& options);
std::optional<std::pair<deflate_params, std::string>> negotiate_server(std::string_view header_value,
                                                                       const deflate_options& options);
// All Sec-WebSocket-Extensions headers of a request.
std::optional<std::pair<deflate_params, std::string>> negotiate_server(const http_headers& request_headers,
                                                                       const deflate_options& options);

// Client: validates the server's Sec-WebSocket-Extensions value (all
// response headers joined with ",", or the span overload) against the offer
// make_offer(offered) made. Call it only when the response has the header
// (no header: the server declined, no compression). nullopt means the
// client MUST fail the connection: anything but exactly one element, an
// extension other than permessage-deflate, a syntax error, an unknown or
// duplicate parameter, a value on a *_no_context_takeover, a window value
// missing or outside 8..15, a server_max_window_bits above ours or missing
// when we asked for one, a client_max_window_bits above ours, or no
// server_no_context_takeover when we asked for it. A server_max_window_bits
// or server_no_context_takeover we did not ask for is accepted (§7.1.1.1,
// §7.1.2.1). client_no_context_takeover in the params is set when either
// side wants it (we honour our own offer even if the server omits it).
std::optional<deflate_params> accept_client(std::string_view response_value, const deflate_options& offered);
std::optional<deflate_params> accept_client(std::span<const std::string_view> response_values,
                                            const deflate_options& offered);

namespace detail {
struct zstream;
struct zstream_deleter {
  void operator()(zstream* z) const noexcept;
};
using zstream_ptr = std::unique_ptr<zstream, zstream_deleter>;
}  // namespace detail

// Compresses outgoing messages (RFC 7692 §7.2.1): raw DEFLATE, each message
// ended with a sync flush whose trailing 00 00 ff ff is removed.
//
// The zlib stream is allocated on first use. With context takeover on our
// side it lives as long as the deflater (its size: see the top of this
// file). Without, it is created for each message and freed right after, so
// an idle deflater holds nothing; a one-shot message then also uses a
// window just large enough for it (windowBits 9 for <= 250 bytes, up to
// the agreed bits) and a memLevel to match (at most windowBits - 6), so a
// 100-byte message costs a 12 KiB stream that initialises in 0.4 us instead
// of a 142 KiB one that takes 15 us (a whole such message: ~6-10 us).
// Allocation failure throws std::bad_alloc.
class deflater {
 public:
  // `r` is our role: a server uses server_max_window_bits and
  // server_no_context_takeover, a client the client_* ones.
  // options.client/server_no_context_takeover of our own side also turn
  // takeover off (a sender may always reset).
  deflater(const deflate_params& params, role r, const deflate_options& options);
  deflater(deflater&&) noexcept = default;
  deflater& operator=(deflater&&) noexcept = default;
  ~deflater() = default;

  // Whether a message of `size` bytes should be compressed (size >= threshold).
  bool should_compress(std::size_t size) const noexcept { return size >= threshold_; }
  // With takeover, compressed output MUST be sent (the peer's window has to
  // see it); without, the caller may send the original uncompressed instead
  // when the output is not smaller.
  bool context_takeover() const noexcept { return takeover_; }

  // Appends the compressed payload of a whole message to `out` (not
  // cleared). An empty message gives the single byte 0x00 (§7.2.3.6).
  // Must not be called while a compress_fragment() message is unfinished
  // (std::logic_error).
  void compress(std::string_view message, std::string& out);

  // Streaming: one part of a message at a time, `fin` on the last. Appends
  // whatever output is ready (possibly nothing for non-final parts); the
  // final call ends with the sync flush, tail removed. For fragmented sends:
  // each call's output is one frame's payload.
  void compress_fragment(std::string_view part, bool fin, std::string& out);

  // Bytes zlib holds right now (0 when idle without takeover).
  std::size_t memory() const noexcept;
  // Without takeover, compress() output depends only on the message and
  // these settings: deflaters with equal non-zero keys produce equal bytes
  // (a broadcast can compress once per key). 0 with takeover.
  std::uint32_t output_key() const noexcept {
    if (takeover_) return 0;
    return (1u << 24) | (static_cast<std::uint32_t>(level_) << 16) | (static_cast<std::uint32_t>(mem_level_) << 8) |
           static_cast<std::uint32_t>(window_bits_);
  }

 private:
  void open(std::size_t size_hint);
  void run(std::string_view in, int flush, std::string& out);
  void end_message(std::string& out, std::size_t start);

  int level_;
  int mem_level_;
  int window_bits_;  // zlib's, 9..15 (8 is compressed with 9: see negotiate_server)
  bool takeover_;
  bool in_message_ = false;
  std::size_t fed_ = 0;  // bytes of the current fragmented message
  std::size_t threshold_;
  detail::zstream_ptr z_;
};

// Decompresses incoming messages (RFC 7692 §7.2.2), streaming: feed each
// frame's payload as it arrives (after unmasking); after the final one the
// 00 00 ff ff tail is appended internally. Output is appended to `out` in
// chunks (up to 16 KiB, or the spare capacity of `out`), and `out.size()`
// never exceeds `max_output`: a decompression bomb stops with
// errc::message_too_big at the limit, with `out` grown at most to
// `max_output` bytes (capacity included when `out` starts below it).
//
// Corrupt data (invalid DEFLATE, a distance reaching before the data the
// inflater has, a message that does not end on a block boundary) gives
// errc::protocol_error. (zlib checks a distance against the window only when
// it reaches behind the current output chunk, so a peer overstepping its
// negotiated window is not always caught; its data still decodes.) After
// any error the inflater has been reset (history lost): fail the connection.
// Bytes after a DEFLATE block with BFINAL set are ignored to the end of the
// message (§7.2.3.4 appends them), and with context takeover the window
// carries over to the next message. A compressed message with an empty
// payload is the empty message.
//
// The zlib stream is allocated on first use; when the peer does not take
// over context it is freed after each message (idle cost 0), else it lives
// as long as the inflater (window 1 << bits + ~7 KiB).
class inflater {
 public:
  // `r` is our role: a server inflates with the client's window and
  // client_no_context_takeover, a client with the server's.
  inflater(const deflate_params& params, role r);
  inflater(inflater&&) noexcept = default;
  inflater& operator=(inflater&&) noexcept = default;
  ~inflater() = default;

  std::error_code feed(std::string_view compressed_fragment, bool final_fragment, std::string& out,
                       std::size_t max_output);

  bool context_takeover() const noexcept { return takeover_; }
  // Bytes zlib holds right now (0 when idle without takeover).
  std::size_t memory() const noexcept;

  static constexpr std::size_t chunk = 16 * 1024;

 private:
  void open();
  std::error_code run(std::string_view in, std::string& out, std::size_t max_output);
  std::error_code fail(errc e);
  void end_message();

  int window_bits_;
  bool takeover_;
  bool boundary_ = true;  // zlib stopped right after a block
  bool ended_ = false;    // a BFINAL block ended the stream in this message
  std::size_t fed_ = 0;   // compressed bytes of the current message
  detail::zstream_ptr z_;
};

}  // namespace duplex::protocol
