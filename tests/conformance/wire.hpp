// Wire-level helpers for the conformance suites: raw TCP over POSIX sockets
// (every read bounded by a deadline, so no case can hang), RFC 6455 frames
// built and parsed by hand, and a minimal HTTP head reader. Deliberately
// independent of duplex's own protocol code: the suite checks the library
// against RFC 6455, not against itself.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace conformance {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

// Opcodes (RFC 6455 §5.2).
namespace opc {
inline constexpr unsigned cont = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA;
}

// RSV bit values as Autobahn numbers them: RSV1 = 4, RSV2 = 2, RSV3 = 1.
inline constexpr ms default_timeout = 2000ms;

// ---------------------------------------------------------------- bytes ----

inline std::string unhex(std::string_view hex) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("bad hex digit");
  };
  std::string digits;
  for (char c : hex)
    if (c != ' ') digits.push_back(c);
  std::string out;
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    out.push_back(static_cast<char>(nib(digits[i]) << 4 | nib(digits[i + 1])));
  return out;
}

inline std::string to_hex(std::string_view s, std::size_t limit = 48) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  if (s.size() > limit) out += "...";
  return out;
}

// A payload whose bytes depend on their offset, so a masking or reassembly
// error at any position shows up.
inline std::string pattern(std::size_t n, bool text) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = text ? static_cast<char>('!' + (i * 7 + i / 91) % 94) : static_cast<char>((i * 31 + 7 + i / 251) & 0xFF);
  return s;
}

// UTF-8 encoding of one code point (no validity checks: tests build bad input too).
inline std::string utf8(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | cp >> 6));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | cp >> 12));
    s.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | cp >> 18));
    s.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

inline std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return p.append(reason);
}

// Compares possibly large payloads without printing megabytes on failure.
inline ::testing::AssertionResult same_bytes(std::string_view got, std::string_view want) {
  if (got == want) return ::testing::AssertionSuccess();
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure() << "payload differs: got " << got.size() << " bytes, want " << want.size()
                                       << ", first difference at offset " << i << " (got "
                                       << to_hex(got.substr(i, 16)) << ", want " << to_hex(want.substr(i, 16)) << ")";
}

// Independent RFC 3629 check (the suite does not trust the library's own).
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated
    for (int k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3F);
    }
    static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// ----------------------------------------------------------- handshake ----

inline std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int w = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(w));
  return out;
}

// RFC 6455 §4.2.2: base64(SHA-1(key + GUID)).
inline std::string expected_accept(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), d);
  return base64(d, sizeof d);
}

// The RFC 6455 §1.3 sample.
inline constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr std::string_view sample_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// A parsed HTTP/1.1 message head (request or response).
struct http_head {
  std::string start_line;
  std::vector<std::pair<std::string, std::string>> headers;
  int status = 0;  // responses
  std::string body;

  static bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
  }
  std::optional<std::string> get(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (ieq(n, name)) return v;
    return std::nullopt;
  }
  std::size_t count(std::string_view name) const {
    std::size_t c = 0;
    for (const auto& [n, v] : headers) c += ieq(n, name);
    return c;
  }
  // Whether a comma-separated header holds `token` (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const {
    for (const auto& [n, v] : headers) {
      if (!ieq(n, name)) continue;
      std::string_view rest = v;
      while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (ieq(item, token)) return true;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    return false;
  }

  // `head` includes the final CRLFCRLF.
  static http_head parse(std::string_view head) {
    http_head h;
    auto eol = head.find("\r\n");
    h.start_line = std::string(head.substr(0, eol));
    if (h.start_line.rfind("HTTP/1.", 0) == 0 && h.start_line.size() >= 12)
      h.status = std::atoi(h.start_line.substr(9, 3).c_str());
    std::string_view rest = head.substr(eol + 2);
    while (!rest.empty()) {
      eol = rest.find("\r\n");
      std::string_view line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
      if (line.empty()) break;
      auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      h.headers.emplace_back(std::string(line.substr(0, colon)), std::string(v));
    }
    return h;
  }
};

inline std::string upgrade_request(std::uint16_t port, std::string_view path = "/", std::string_view key = sample_key,
                                   std::string_view extra_headers = {}) {
  std::string r = "GET " + std::string(path) + " HTTP/1.1\r\n";
  r += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  r += "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  r += "Sec-WebSocket-Key: " + std::string(key) + "\r\n";
  r += "Sec-WebSocket-Version: 13\r\n";
  r += extra_headers;
  r += "\r\n";
  return r;
}

// --------------------------------------------------------------- frames ----

struct frame_options {
  bool fin = true;
  unsigned rsv = 0;      // 0..7, RSV1 = 4, RSV2 = 2, RSV3 = 1
  bool masked = true;    // clients mask, servers don't
  int length_form = 0;   // 0: minimal; 7, 16 or 64 force that encoding
  std::optional<std::uint64_t> declared_length;  // claim this length instead of the payload's
  std::optional<std::array<unsigned char, 4>> key;  // default: a fresh key per frame
};

inline std::array<unsigned char, 4> next_mask_key() {
  static std::uint32_t state = 0x9E3779B9u;
  state = state * 1664525u + 1013904223u;
  std::uint32_t v = state ^ (state >> 15);
  if ((v & 0xFFFFFFFFu) == 0) v = 0x5A5A5A5A;
  return {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 8),
          static_cast<unsigned char>(v)};
}

inline std::string frame(unsigned op, std::string_view payload, frame_options o = {}) {
  std::string out;
  out.push_back(static_cast<char>((o.fin ? 0x80 : 0) | ((o.rsv & 7) << 4) | (op & 0x0F)));
  const std::uint64_t n = o.declared_length.value_or(payload.size());
  const int form = o.length_form ? o.length_form : (n < 126 ? 7 : n <= 0xFFFF ? 16 : 64);
  const unsigned char m = o.masked ? 0x80 : 0;
  if (form == 7) {
    out.push_back(static_cast<char>(m | (n & 0x7F)));
  } else if (form == 16) {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(m | 127));
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>(n >> s));
  }
  std::string body(payload);
  if (o.masked) {
    const auto k = o.key.value_or(next_mask_key());
    out.append(reinterpret_cast<const char*>(k.data()), 4);
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(body[i] ^ k[i & 3]);
  }
  return out + body;
}

// Client frames (masked).
inline std::string text(std::string_view p, bool fin = true) { return frame(opc::text, p, {.fin = fin}); }
inline std::string binary(std::string_view p, bool fin = true) { return frame(opc::binary, p, {.fin = fin}); }
inline std::string cont(std::string_view p, bool fin = true) { return frame(opc::cont, p, {.fin = fin}); }
inline std::string ping(std::string_view p = {}) { return frame(opc::ping, p); }
inline std::string pong(std::string_view p = {}) { return frame(opc::pong, p); }
inline std::string close_frame(std::uint16_t code, std::string_view reason = {}) {
  return frame(opc::close, close_payload(code, reason));
}
inline std::string close_empty() { return frame(opc::close, {}); }

// Server frames (unmasked).
inline std::string s_frame(unsigned op, std::string_view p, bool fin = true, unsigned rsv = 0) {
  return frame(op, p, {.fin = fin, .rsv = rsv, .masked = false});
}

// A message split into data frames of at most `size` bytes (at least one frame).
inline std::string fragmented(unsigned op, std::string_view p, std::size_t size, bool masked = true) {
  std::string out;
  std::size_t at = 0;
  bool first = true;
  do {
    const std::size_t n = std::min(size, p.size() - at);
    const bool fin = at + n == p.size();
    out += frame(first ? op : opc::cont, p.substr(at, n), {.fin = fin, .masked = masked});
    first = false;
    at += n;
  } while (at < p.size());
  return out;
}

struct rx_frame {
  bool fin = false;
  unsigned rsv = 0;
  unsigned op = 0;
  bool masked = false;
  bool minimal_length = true;
  std::array<unsigned char, 4> key{};
  std::string payload;  // unmasked

  std::uint16_t close_code() const {
    if (payload.size() < 2) return 1005;
    return static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 | static_cast<unsigned char>(payload[1]));
  }
  std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : std::string{}; }
  std::string describe() const {
    std::string s = "frame{op=" + std::to_string(op) + " fin=" + std::to_string(fin) + " rsv=" + std::to_string(rsv) +
                    " masked=" + std::to_string(masked) + " len=" + std::to_string(payload.size());
    if (op == opc::close && payload.size() >= 2) s += " code=" + std::to_string(close_code()) + " reason=\"" + close_reason() + "\"";
    else s += " payload=" + to_hex(payload);
    return s + "}";
  }
};

enum class io_status { ok, eof, reset, timeout, error };

inline const char* to_string(io_status s) {
  switch (s) {
    case io_status::ok: return "ok";
    case io_status::eof: return "EOF";
    case io_status::reset: return "connection reset";
    case io_status::timeout: return "timeout";
    case io_status::error: return "socket error";
  }
  return "?";
}

// ----------------------------------------------------------- raw TCP ----

class conn {
 public:
  conn() = default;
  explicit conn(int fd) : fd_(fd) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  conn(conn&& o) noexcept : fd_(std::exchange(o.fd_, -1)), in_(std::move(o.in_)) {}
  conn& operator=(conn&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
      in_ = std::move(o.in_);
    }
    return *this;
  }
  ~conn() { reset(); }

  static conn connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const int e = errno;
      ::close(fd);
      throw std::system_error(e, std::generic_category(), "connect to 127.0.0.1:" + std::to_string(port));
    }
    return conn(fd);
  }

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  std::string& buffered() { return in_; }

  // Writes everything; false if the peer is gone (EPIPE/ECONNRESET), which
  // failure cases must tolerate: the server may close before we finish.
  bool send(std::string_view b) {
    while (!b.empty()) {
      const ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      b.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Separate writes of `chunk` bytes (TCP_NODELAY: separate segments), with an
  // optional pause between them so the peer really sees partial input.
  bool send_chopped(std::string_view b, std::size_t chunk, std::chrono::microseconds pause = {}) {
    while (!b.empty()) {
      const std::size_t n = std::min(chunk, b.size());
      if (!send(b.substr(0, n))) return false;
      b.remove_prefix(n);
      if (pause.count() && !b.empty()) std::this_thread::sleep_for(pause);
    }
    return true;
  }

  // Writes without ever blocking for long: returns ok once everything is
  // written, timeout if the peer accepted nothing for `stall` (TCP
  // backpressure), reset/error if the peer is gone. `accepted` counts the
  // bytes the kernel took.
  io_status send_bounded(std::string_view b, ms stall, std::size_t& accepted) {
    while (!b.empty()) {
      const ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        accepted += static_cast<std::size_t>(n);
        b.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        const int r = ::poll(&p, 1, static_cast<int>(stall.count()));
        if (r == 0) return io_status::timeout;
        if (r < 0 && errno != EINTR) return io_status::error;
        continue;
      }
      return errno == ECONNRESET || errno == EPIPE ? io_status::reset : io_status::error;
    }
    return io_status::ok;
  }

  // Reads more bytes into the buffer (waits at most until `deadline`).
  io_status fill(clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<ms>(deadline - clock::now()).count();
      if (left < 0) return io_status::timeout;
      pollfd p{fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left));
      if (r < 0) {
        if (errno == EINTR) continue;
        return io_status::error;
      }
      if (r == 0) return io_status::timeout;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<std::size_t>(n));
        return io_status::ok;
      }
      if (n == 0) return io_status::eof;
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno == ECONNRESET ? io_status::reset : io_status::error;
    }
  }

  // One frame (any role); payload unmasked.
  io_status read_frame(rx_frame& f, ms timeout = default_timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      if (parse_frame(f)) return io_status::ok;
      const io_status s = fill(deadline);
      if (s != io_status::ok) return s;
    }
  }

  // An HTTP head up to and including CRLFCRLF; bytes behind it stay buffered.
  io_status read_head(std::string& head, ms timeout = default_timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      const auto end = in_.find("\r\n\r\n");
      if (end != std::string::npos) {
        head = in_.substr(0, end + 4);
        in_.erase(0, end + 4);
        return io_status::ok;
      }
      const io_status s = fill(deadline);
      if (s != io_status::ok) return s;
    }
  }

  // A whole response: head plus Content-Length body.
  io_status read_response(http_head& h, ms timeout = default_timeout) {
    const auto deadline = clock::now() + timeout;
    std::string head;
    io_status s = read_head(head, timeout);
    if (s != io_status::ok) return s;
    h = http_head::parse(head);
    std::size_t len = 0;
    if (auto cl = h.get("Content-Length")) len = std::stoul(*cl);
    while (in_.size() < len) {
      s = fill(deadline);
      if (s != io_status::ok) return s;
    }
    h.body = in_.substr(0, len);
    in_.erase(0, len);
    return io_status::ok;
  }

  // Waits for the peer to end the TCP connection. Returns ok (with the bytes
  // in `unexpected`) if data arrives instead, timeout if nothing happens.
  io_status await_close(ms timeout, std::string* unexpected = nullptr) {
    if (!in_.empty()) {
      if (unexpected) *unexpected = in_;
      return io_status::ok;
    }
    const io_status s = fill(clock::now() + timeout);
    if (s == io_status::ok && unexpected) *unexpected = in_;
    return s;
  }

 private:
  bool parse_frame(rx_frame& f) {
    const auto* b = reinterpret_cast<const unsigned char*>(in_.data());
    const std::size_t avail = in_.size();
    if (avail < 2) return false;
    std::uint64_t len = b[1] & 0x7F;
    const bool masked = b[1] & 0x80;
    std::size_t p = 2;
    bool minimal = true;
    if (len == 126) {
      if (avail < 4) return false;
      len = std::uint64_t{b[2]} << 8 | b[3];
      minimal = len >= 126;
      p = 4;
    } else if (len == 127) {
      if (avail < 10) return false;
      len = 0;
      for (int i = 0; i < 8; ++i) len = len << 8 | b[2 + i];
      minimal = len > 0xFFFF && !(len >> 63);
      p = 10;
    }
    const std::size_t need = p + (masked ? 4 : 0);
    if (avail < need || avail - need < len) return false;
    f = {};
    f.fin = b[0] & 0x80;
    f.rsv = (b[0] >> 4) & 7;
    f.op = b[0] & 0x0F;
    f.masked = masked;
    f.minimal_length = minimal;
    if (masked) std::memcpy(f.key.data(), b + p, 4);
    f.payload = in_.substr(need, static_cast<std::size_t>(len));
    if (masked)
      for (std::size_t i = 0; i < f.payload.size(); ++i) f.payload[i] = static_cast<char>(f.payload[i] ^ f.key[i & 3]);
    in_.erase(0, need + static_cast<std::size_t>(len));
    return true;
  }

  int fd_ = -1;
  std::string in_;
};

// Floods `peer` with Pings (`ping_frame` builds one) without ever reading
// its answers. An endpoint with a bounded outgoing buffer must resist: stop
// reading (our writes stall) or fail the connection. Returns success if it
// did before we got `budget` bytes through, failure with the count if not.
template <class PingFrame>
::testing::AssertionResult ping_flood_is_bounded(conn& peer, PingFrame ping_frame, std::size_t budget) {
  int small = 4096;  // our receive window stays tiny: the Pongs pile up on the other side
  ::setsockopt(peer.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::string burst;
  for (int i = 0; i < 1000; ++i) burst += ping_frame(std::string(125, 'p'));
  std::size_t accepted = 0;
  const auto t0 = clock::now();
  while (accepted < budget && clock::now() - t0 < 10s) {
    const io_status s = peer.send_bounded(burst, 300ms, accepted);
    if (s == io_status::timeout || s == io_status::reset || s == io_status::error)
      return ::testing::AssertionSuccess() << "resisted after " << (accepted >> 20) << " MiB (" << to_string(s) << ")";
  }
  return ::testing::AssertionFailure()
         << "the peer took " << (accepted >> 20) << " MiB of Pings (" << accepted / 131
         << " Pongs owed) from a connection that never reads, without backpressure or closing: "
            "its automatic Pongs queue without bound, past send_queue_limit";
}

// A listening socket on 127.0.0.1 (free port), for the client-side suite.
class listener {
 public:
  listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = 0;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
      throw std::system_error(errno, std::generic_category(), "bind/listen");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~listener() {
    if (fd_ >= 0) ::close(fd_);
  }
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  std::uint16_t port() const { return port_; }

  // The next connection, or a closed conn after `timeout`.
  conn accept(ms timeout = default_timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return conn{};
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    return fd < 0 ? conn{} : conn(fd);
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace conformance
