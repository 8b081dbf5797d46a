#include <duplex/protocol/connection.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace duplex::protocol {

// Client frames need a fresh unpredictable key each (RFC 6455 §5.3).
// xoshiro256** seeded once from OpenSSL's CSPRNG gives that at a few cycles
// per key instead of a RAND_bytes call per frame.
struct connection::mask_source {
  std::uint64_t s[4];
  mask_source() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s), sizeof s) != 1) {
      std::random_device rd;  // OpenSSL unavailable: still a non-deterministic seed
      for (auto& w : s) w = (std::uint64_t{rd()} << 32) ^ rd();
    }
    if (!(s[0] | s[1] | s[2] | s[3])) s[0] = 1;
  }
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  mask_key next() {
    const std::uint64_t r = rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    mask_key k;
    std::memcpy(k.data(), &r, 4);
    return k;
  }
};

connection::connection(role r, std::size_t max_message_size)
    : role_(r), max_message_size_(max_message_size) {
  if (r == role::client) masks_ = std::make_unique<mask_source>();
}
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;
connection::~connection() = default;

std::span<char> connection::prepare(std::size_t min) {
  if (in_cap_ - in_end_ < min) {
    const std::size_t used = in_end_ - in_begin_;
    if (in_cap_ - used >= min && in_begin_ > 0) {
      std::memmove(in_.get(), in_.get() + in_begin_, used);
    } else {
      const std::size_t cap = std::max(used + min, in_cap_ * 2);
      auto fresh = std::make_unique_for_overwrite<char[]>(cap);
      if (used) std::memcpy(fresh.get(), in_.get() + in_begin_, used);
      in_ = std::move(fresh);
      in_cap_ = cap;
    }
    in_begin_ = 0;
    in_end_ = used;
  } else if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;  // everything parsed: reuse from the start
  }
  return {in_.get() + in_end_, in_cap_ - in_end_};
}

void connection::swap_input(std::unique_ptr<char[]>& storage, std::size_t& capacity) {
  const std::size_t used = in_end_ - in_begin_;
  if (capacity < used) {
    storage = std::make_unique_for_overwrite<char[]>(used);
    capacity = used;
  }
  if (used) std::memcpy(storage.get(), in_.get() + in_begin_, used);
  std::swap(in_, storage);
  std::swap(in_cap_, capacity);
  in_begin_ = 0;
  in_end_ = used;
}

void connection::receive_data(std::string_view bytes) {
  auto span = prepare(bytes.size());
  if (!bytes.empty()) std::memcpy(span.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::optional<event> connection::fail(std::uint16_t code, errc why, std::string_view reason) {
  if (defer_failures_ && state_ != state::closed) {
    pending_ = {code, false, why, reason};
    in_frame_ = in_message_ = false;
    return std::nullopt;
  }
  return fail_now(code, why, reason);
}

event connection::fail_now(std::uint16_t code, errc why, std::string_view reason) {
  pending_.code = 0;
  if (state_ == state::open) {
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason.substr(0, max_control_payload - 2));
    write_frame(opcode::close, payload, true);
  }
  state_ = state::closed;
  in_frame_ = in_message_ = false;
  event e{event::kind::failed, reason, code, make_error_code(why)};
  return e;
}

std::optional<event> connection::next_event() {
  if (state_ == state::closed) return std::nullopt;
  if (pending_.code) [[unlikely]]
    return pending_.close ? take_close() : fail_now(pending_.code, pending_.why, pending_.reason);
  auto* base = reinterpret_cast<unsigned char*>(in_.get());
  // Fast path for the common frame: a whole text or binary message in one
  // frame (FIN, no RSV bits, 7- or minimal 16-bit length), masked as our role
  // requires, outside a fragmented message. It needs none of the checks
  // below; any other frame takes the general path, which enforces every rule.
  if (!in_frame_ && !in_message_) {
    const std::size_t avail = in_end_ - in_begin_;
    if (avail < 2) return std::nullopt;  // a batch's end: no header yet (as the general path decides)
    unsigned char* h = base + in_begin_;
    if ((h[0] == 0x81 || h[0] == 0x82) && bool(h[1] & 0x80) == (role_ == role::server)) {
      const bool masked = h[1] & 0x80;
      std::size_t len = h[1] & 0x7F;
      std::size_t head = 2;
      bool fits = len < 126;
      if (len == 126 && avail >= 4) {
        len = (std::size_t{h[2]} << 8) | h[3];
        head = 4;
        fits = len >= 126;  // a non-minimal length is the general path's to fail
      }
      head += masked ? 4 : 0;
      if (fits && len <= max_message_size_ && avail >= head + len) {
        unsigned char* payload = h + head;
        std::uint64_t k64 = 0;
        if (masked) {
          std::uint32_t k32;
          std::memcpy(&k32, payload - 4, 4);
          k64 = (std::uint64_t{k32} << 32) | k32;
        }
        const bool ascii = unmask_ascii(payload, len, k64);
        in_begin_ += head + len;
        const bool text = h[0] == 0x81;
        if (text && !ascii && !is_valid_utf8({reinterpret_cast<char*>(payload), len}))
          return fail(close_code::invalid_payload, errc::invalid_utf8, "invalid UTF-8 in text message");
        event ev{text ? event::kind::text : event::kind::binary, {reinterpret_cast<char*>(payload), len}};
        ev.in_input = true;
        return ev;
      }
    }
  }
  return next_event_general();
}

// Kept apart from the fast path so that the common call saves and restores
// only the few registers that path needs.
[[gnu::noinline]] std::optional<event> connection::next_event_general() {
  auto* base = reinterpret_cast<unsigned char*>(in_.get());
  for (;;) {
    if (!in_frame_) {
      // ---- frame header (RFC 6455 §5.2) ----
      const std::size_t avail = in_end_ - in_begin_;
      if (avail < 2) return std::nullopt;
      const unsigned char* h = base + in_begin_;
      const bool fin = h[0] & 0x80;
      const unsigned rsv = h[0] & 0x70;
      const unsigned op = h[0] & 0x0F;
      const bool masked = h[1] & 0x80;
      std::uint64_t len = h[1] & 0x7F;
      std::size_t need = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + (masked ? 4 : 0);
      if (avail < need) return std::nullopt;

      if (rsv & 0x30) return fail(close_code::protocol_error, errc::protocol_error, "reserved bits set");
      if (!is_known(op)) return fail(close_code::protocol_error, errc::protocol_error, "unknown opcode");
      const bool rsv1 = rsv & 0x40;
      // RSV1 marks a compressed message: only with permessage-deflate, and
      // only on a message's first frame (RFC 7692 §6).
      if (rsv1 && (!deflate_ || is_control(static_cast<opcode>(op)) || op == 0))
        return fail(close_code::protocol_error, errc::protocol_error, "reserved bit 1 set");
      // Clients mask, servers don't (§5.1).
      if (masked != (role_ == role::server))
        return fail(close_code::protocol_error, errc::protocol_error,
                    masked ? "masked frame from server" : "unmasked frame from client");
      std::size_t p = 2;
      if (len == 126) {
        len = (std::uint64_t{h[2]} << 8) | h[3];
        p = 4;
        if (len < 126) return fail(close_code::protocol_error, errc::protocol_error, "non-minimal length");
      } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | h[2 + i];
        p = 10;
        if (len >> 63) return fail(close_code::protocol_error, errc::protocol_error, "length top bit set");
        if (len <= 0xFFFF) return fail(close_code::protocol_error, errc::protocol_error, "non-minimal length");
      }
      const auto o = static_cast<opcode>(op);
      if (is_control(o)) {
        if (!fin) return fail(close_code::protocol_error, errc::protocol_error, "fragmented control frame");
        if (len > max_control_payload)
          return fail(close_code::protocol_error, errc::protocol_error, "control frame over 125 bytes");
      } else if (o == opcode::continuation) {
        if (!in_message_) return fail(close_code::protocol_error, errc::protocol_error, "continuation without a message");
        if (++message_frames_ > max_fragments_)
          return fail(close_code::policy_violation, errc::too_many_fragments, "too many fragments");
      } else if (in_message_) {
        return fail(close_code::protocol_error, errc::protocol_error, "new message inside a fragmented one");
      }
      if (!is_control(o)) {
        // Compressed frames are bounded one by one here; the inflater bounds
        // what they decompress to.
        const bool compressed = o == opcode::continuation ? message_compressed_ : rsv1;
        const std::size_t so_far = o == opcode::continuation && !compressed ? message_.size() : 0;
        if (len > max_message_size_ - so_far)
          return fail(close_code::message_too_big, errc::message_too_big, "message too big");
      }
      if (masked) std::memcpy(frame_mask_.data(), h + p, 4);
      in_begin_ += need;

      frame_fin_ = fin;
      frame_masked_ = masked;
      frame_op_ = o;
      frame_remaining_ = len;
      frame_offset_ = 0;
      in_frame_ = true;
      if (is_control(o)) {
        control_.clear();
      } else if (o != opcode::continuation) {
        message_op_ = o;
        message_compressed_ = rsv1;
        message_frames_ = 1;
        message_.clear();
        utf8_.reset();
        // Fast path: a whole unfragmented message is in the buffer. Unmask it
        // in place and hand out a view; nothing is copied (unless it must be
        // inflated).
        if (fin && len <= in_end_ - in_begin_) {
          unsigned char* payload = base + in_begin_;
          if (masked) apply_mask(payload, len, frame_mask_, 0);
          in_begin_ += len;
          in_frame_ = false;
          std::string_view view(reinterpret_cast<char*>(payload), len);
          if (message_compressed_) {
            if (auto failed = inflate(view, true); failed || pending_.code) return failed;
            view = message_;
          } else if (o == opcode::text && !utf8_.feed(payload, len)) {
            return fail(close_code::invalid_payload, errc::invalid_utf8, "invalid UTF-8 in text message");
          }
          if (o == opcode::text && !utf8_.complete())
            return fail(close_code::invalid_payload, errc::invalid_utf8, "invalid UTF-8 in text message");
          event ev{o == opcode::text ? event::kind::text : event::kind::binary, view};
          ev.in_input = !message_compressed_;
          return ev;
        }
        in_message_ = true;
      }
    }

    // ---- payload, possibly partial ----
    const std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(frame_remaining_, in_end_ - in_begin_));
    if (n == 0 && frame_remaining_ > 0) return std::nullopt;
    unsigned char* payload = base + in_begin_;
    if (frame_masked_) apply_mask(payload, n, frame_mask_, frame_offset_);
    if (is_control(frame_op_)) {
      control_.append(reinterpret_cast<char*>(payload), n);
    } else if (message_compressed_) {
      const bool last = frame_fin_ && n == frame_remaining_;
      if (auto failed = inflate({reinterpret_cast<char*>(payload), n}, last); failed || pending_.code) return failed;
    } else {
      // Validate as bytes arrive so a bad text message fails at its first
      // invalid byte, not after the whole message was buffered.
      if (message_op_ == opcode::text && !utf8_.feed(payload, n))
        return fail(close_code::invalid_payload, errc::invalid_utf8, "invalid UTF-8 in text message");
      message_.append(reinterpret_cast<char*>(payload), n);
    }
    in_begin_ += n;
    frame_remaining_ -= n;
    frame_offset_ += n;
    if (frame_remaining_ > 0) return std::nullopt;
    in_frame_ = false;

    if (is_control(frame_op_)) {
      if (auto e = on_control()) return e;
      if (state_ == state::closed || pending_.code) return std::nullopt;
      continue;
    }
    if (frame_fin_) {
      in_message_ = false;
      if (message_op_ == opcode::text && !utf8_.complete())
        return fail(close_code::invalid_payload, errc::invalid_utf8, "truncated UTF-8 in text message");
      return event{message_op_ == opcode::text ? event::kind::text : event::kind::binary, message_};
    }
  }
}

std::optional<event> connection::on_control() {
  switch (frame_op_) {
    case opcode::ping:
      // Answer at once, even between the fragments of a message (§5.5.2).
      if (state_ == state::open && pongs_left_ > 0) {
        --pongs_left_;
        write_frame(opcode::pong, control_, true);
      }
      return event{event::kind::ping, control_};
    case opcode::pong:
      return event{event::kind::pong, control_};
    case opcode::close: {
      std::uint16_t code = close_code::no_status;
      std::string_view reason;
      if (control_.size() == 1)
        return fail(close_code::protocol_error, errc::protocol_error, "one-byte close payload");
      if (control_.size() >= 2) {
        code = static_cast<std::uint16_t>((static_cast<unsigned char>(control_[0]) << 8) |
                                          static_cast<unsigned char>(control_[1]));
        if (!is_valid_close_code(code))
          return fail(close_code::protocol_error, errc::protocol_error, "invalid close code");
        reason = std::string_view(control_).substr(2);
        if (!is_valid_utf8(reason))
          return fail(close_code::invalid_payload, errc::invalid_utf8, "invalid UTF-8 in close reason");
      }
      (void)reason;
      pending_ = {code, true, {}, {}};
      if (defer_failures_) return std::nullopt;
      return take_close();
    }
    default:
      return std::nullopt;
  }
}

event connection::take_close() {
  const std::uint16_t code = pending_.code;
  pending_ = {};
  if (state_ == state::open) {
    // Echo the peer's code (§5.5.1); an empty Close is answered empty.
    std::string_view echo = std::string_view(control_).substr(0, control_.size() >= 2 ? 2 : 0);
    write_frame(opcode::close, echo, true);
  }
  state_ = state::closed;
  in_frame_ = in_message_ = false;
  const std::string_view reason = control_.size() >= 2 ? std::string_view(control_).substr(2) : std::string_view();
  return event{event::kind::close, reason, code};
}

std::optional<event> connection::inflate(std::string_view compressed, bool final_fragment) {
  const std::size_t before = message_.size();
  if (auto ec = deflate_->in.feed(compressed, final_fragment, message_, max_message_size_)) {
    if (ec == errc::message_too_big) return fail(close_code::message_too_big, errc::message_too_big, "message too big");
    return fail(close_code::invalid_payload, errc::bad_compressed_data, "invalid compressed data");
  }
  // Validate what this piece inflated to, so bad text still fails fast.
  if (message_op_ == opcode::text &&
      !utf8_.feed(reinterpret_cast<const unsigned char*>(message_.data()) + before, message_.size() - before))
    return fail(close_code::invalid_payload, errc::invalid_utf8, "invalid UTF-8 in text message");
  return std::nullopt;
}

void connection::enable_deflate(const deflate_params& params, const deflate_options& options) {
  deflate_ = std::make_unique<deflate_state>(params, role_, options);
  deflate_on_ = true;
}

std::uint32_t connection::shared_compression_key() const noexcept {
  return deflate_ ? deflate_->out.output_key() : 0;
}

bool connection::send_compressed(opcode op, std::string_view compressed_payload) {
  if (state_ != state::open || sending_fragmented_ || !deflate_) return false;
  if (op != opcode::text && op != opcode::binary) return false;
  write_frame(op, compressed_payload, true, true);
  return true;
}

void connection::write_frame(opcode op, std::string_view payload, bool fin, bool rsv1) {
  if (role_ == role::client) {
    const mask_key key = masks_->next();
    write_frame_header(out_, op, fin, rsv1, payload.size(), true, key);
    if (payload.empty()) return;
    char* at = out_.extend(payload.size());
    std::memcpy(at, payload.data(), payload.size());
    apply_mask(reinterpret_cast<unsigned char*>(at), payload.size(), key, 0);
    return;
  }
  // Server frames up to 64 KiB: the 2- or 4-byte header goes in with
  // push_back (inline, no call), then the payload with one append.
  const std::size_t n = payload.size();
  if (n <= 0xFFFF) {
    out_.push_back(static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<unsigned>(op)));
    if (n < 126) {
      out_.push_back(static_cast<char>(n));
    } else {
      out_.push_back(static_cast<char>(126));
      out_.push_back(static_cast<char>(n >> 8));
      out_.push_back(static_cast<char>(n & 0xFF));
    }
  } else {
    write_frame_header(out_, op, fin, rsv1, n, false, {});
  }
  if (n) out_.append(payload.data(), n);  // an empty view's data() may be null
}

bool connection::send_general(opcode op, std::string_view payload) {
  if (state_ != state::open || sending_fragmented_) return false;
  if (op != opcode::text && op != opcode::binary) return false;
  if (deflate_ && deflate_->out.should_compress(payload.size())) {
    std::string& compressed_ = deflate_->compressed;
    compressed_.clear();
    deflate_->out.compress(payload, compressed_);
    // Without takeover the peer's state doesn't depend on what we sent, so
    // data that doesn't shrink (already compressed, random) goes as it is.
    const bool use = deflate_->out.context_takeover() || compressed_.size() < payload.size();
    if (use) write_frame(op, compressed_, true, true);
    if (compressed_.capacity() > 64 * 1024) std::string().swap(compressed_);  // don't keep a big buffer
    if (use) return true;
  }
  write_frame(op, payload, true);
  return true;
}

bool connection::send_frame(opcode op, std::string_view payload, bool fin) {
  if (state_ != state::open) return false;
  if (op == opcode::continuation) {
    if (!sending_fragmented_) return false;
  } else if (op == opcode::text || op == opcode::binary) {
    if (sending_fragmented_) return false;
  } else {
    return false;
  }
  write_frame(op, payload, fin);
  sending_fragmented_ = !fin;
  return true;
}

bool connection::ping(std::string_view payload) {
  if (state_ != state::open || payload.size() > max_control_payload) return false;
  write_frame(opcode::ping, payload, true);
  return true;
}

bool connection::pong(std::string_view payload) {
  if (state_ != state::open || payload.size() > max_control_payload) return false;
  write_frame(opcode::pong, payload, true);
  return true;
}

bool connection::close(std::uint16_t code, std::string_view reason) {
  if (state_ != state::open) return false;
  std::string payload;
  if (code != close_code::no_status) {
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    // Cut the reason to fit, without splitting a UTF-8 sequence.
    if (reason.size() > max_control_payload - 2) {
      std::size_t cut = max_control_payload - 2;
      while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
      reason = reason.substr(0, cut);
    }
    payload.append(reason);
  }
  write_frame(opcode::close, payload, true);
  state_ = state::closing;
  return true;
}

}  // namespace duplex::protocol
