// loadgen: WebSocket load generator for the duplex benchmarks.
//
// One thread, raw standalone-Asio sockets and callbacks. It does its own
// HTTP upgrade, writes precomputed masked frames (the same bytes every time,
// so sending costs one write call and no per-message work) and parses the
// server's frames with a streaming parser that never allocates. Latencies go
// into a log-linear histogram (HdrHistogram-like, < 0.8 % relative error).
// The result is one JSON line on stdout.
//
// Modes:
//   echo       N connections, each keeps W messages in flight; a reply frees
//              a slot and the next message goes out. msgs/s, bytes/s and the
//              round-trip latency (send issued -> whole reply parsed).
//   broadcast  N receivers plus one sender on a broadcast endpoint (every
//              message is sent to all other clients). The sender keeps W
//              broadcasts in flight; a broadcast is complete once every
//              receiver got it. The payload carries the send timestamp and a
//              sequence number, so delivery latency is per receiver.
//   idle       opens N connections, holds them, and reports the server's RSS
//              (VmRSS of --server-pid) before and after: bytes per connection;
//              and the kernel's, system-wide (/proc/net/sockstat TCP mem,
//              /proc/meminfo Slab) before and after, per connection (both
//              ends, the load generator's included); and the server's CPU
//              seconds while they were held (--hold).
//
// --raw: the peer is a raw TCP echo (no HTTP upgrade; it returns our own
// masked frames), which is the ceiling for the echo scenarios.
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "proc_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using bench::read_cpu_s;
using bench::read_rss_kb;
using bench::self_cpu_s;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// ---------------------------------------------------------------------------
// Histogram: log-linear buckets. Values below 256 have their own bucket; above
// that every power of two is split into 128 buckets (relative error < 1/128).
class histogram {
 public:
  static constexpr int sub_bits = 7;                 // 128 buckets per power of two
  static constexpr int linear = 1 << (sub_bits + 1);  // values [0, 256) exact
  static constexpr int max_shift = 40;                // up to ~2^48 ns (78 h)
  histogram() : counts_(static_cast<std::size_t>(linear + max_shift * (1 << sub_bits)), 0) {}

  static std::size_t index(std::uint64_t v) {
    if (v < static_cast<std::uint64_t>(linear)) return static_cast<std::size_t>(v);
    const int msb = 63 - std::countl_zero(v);
    int shift = msb - sub_bits;  // >= 1
    if (shift > max_shift) shift = max_shift, v = (std::uint64_t{255} << max_shift);
    const std::uint64_t top = v >> shift;  // [128, 256)
    return static_cast<std::size_t>(shift) * (1u << sub_bits) + static_cast<std::size_t>(top);
  }
  // Midpoint of the bucket.
  static double value_at(std::size_t i) {
    if (i < static_cast<std::size_t>(linear)) return static_cast<double>(i);
    const std::size_t shift = i / (1u << sub_bits) - 1;
    const std::uint64_t top = i % (1u << sub_bits) + (1u << sub_bits);
    const double lo = static_cast<double>(top << shift);
    const double width = static_cast<double>(std::uint64_t{1} << shift);
    return lo + (width - 1) / 2;
  }

  void record(std::uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    sum_ += static_cast<double>(v);
    if (v > max_) max_ = v;
  }
  void reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
    sum_ = 0;
    max_ = 0;
  }
  std::uint64_t count() const { return total_; }
  double mean() const { return total_ ? sum_ / static_cast<double>(total_) : 0; }
  std::uint64_t max() const { return max_; }
  double percentile(double p) const {
    if (!total_) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
    if (rank < 1) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(value_at(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  double sum_ = 0;
  std::uint64_t max_ = 0;
};

// ---------------------------------------------------------------------------
// Options.
enum class mode_t { echo, broadcast, idle };

struct options {
  std::string mode = "echo";
  mode_t m = mode_t::echo;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string path = "/";
  int conns = 100;
  int window = 1;
  std::size_t size = 32;
  bool binary = false;
  double duration = 3;
  double warmup = 0.5;
  double hold = 2;             // idle mode
  int connect_concurrency = 256;
  bool raw = false;
  long server_pid = 0;
  std::string label;
  std::string server;
};

[[noreturn]] void usage(int status) {
  std::fputs(
      "usage: loadgen --port N [options]\n"
      "  --mode echo|broadcast|idle  (default echo)\n"
      "  --host ADDR --port N --path /P\n"
      "  --conns N            connections (broadcast: receivers; idle: connections to hold)\n"
      "  --window W           messages in flight per connection (broadcast: broadcasts in flight)\n"
      "  --size BYTES         payload size (broadcast: >= 24)\n"
      "  --binary | --text    message type (default text)\n"
      "  --duration S         measured seconds (default 3)\n"
      "  --warmup S           unmeasured seconds before (default 0.5)\n"
      "  --hold S             idle: seconds to hold before reading RSS (default 2)\n"
      "  --connect-concurrency N  handshakes in progress at once (default 256)\n"
      "  --raw                peer is a raw TCP echo: no upgrade, masked frames come back\n"
      "  --server-pid PID     report the server's RSS and CPU use\n"
      "  --label TEXT --server NAME  copied into the JSON line\n",
      status ? stderr : stdout);
  std::exit(status);
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "loadgen: %s needs a value\n", argv[i]);
        usage(2);
      }
      return argv[++i];
    };
    if (a == "--mode") o.mode = val();
    else if (a == "--host") o.host = val();
    else if (a == "--port") o.port = static_cast<std::uint16_t>(std::stoi(val()));
    else if (a == "--path") o.path = val();
    else if (a == "--conns") o.conns = std::stoi(val());
    else if (a == "--window") o.window = std::stoi(val());
    else if (a == "--size") o.size = std::stoull(val());
    else if (a == "--binary") o.binary = true;
    else if (a == "--text") o.binary = false;
    else if (a == "--duration") o.duration = std::stod(val());
    else if (a == "--warmup") o.warmup = std::stod(val());
    else if (a == "--hold") o.hold = std::stod(val());
    else if (a == "--connect-concurrency") o.connect_concurrency = std::stoi(val());
    else if (a == "--raw") o.raw = true;
    else if (a == "--server-pid") o.server_pid = std::stol(val());
    else if (a == "--label") o.label = val();
    else if (a == "--server") o.server = val();
    else if (a == "--help" || a == "-h") usage(0);
    else {
      std::fprintf(stderr, "loadgen: unknown option %s\n", argv[i]);
      usage(2);
    }
  }
  if (o.port == 0) usage(2);
  if (o.mode == "echo") o.m = mode_t::echo;
  else if (o.mode == "broadcast") o.m = mode_t::broadcast;
  else if (o.mode == "idle") o.m = mode_t::idle;
  else usage(2);
  if (o.conns < 1 || o.window < 1 || o.connect_concurrency < 1) usage(2);
  if (o.mode == "broadcast" && o.size < 24) o.size = 24;
  if (o.raw && o.mode == "broadcast") {
    std::fputs("loadgen: --raw has no broadcast mode\n", stderr);
    std::exit(2);
  }
  return o;
}


// ---------------------------------------------------------------------------
// Frames.
constexpr std::array<unsigned char, 4> mask_key{0x37, 0xfa, 0x21, 0x3d};

// A client frame (FIN, masked) carrying `payload`.
std::string make_frame(unsigned op, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | op));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  for (auto k : mask_key) f.push_back(static_cast<char>(k));
  const std::size_t off = f.size();
  f.append(payload);
  for (std::size_t i = 0; i < n; ++i) f[off + i] = static_cast<char>(f[off + i] ^ mask_key[i % 4]);
  return f;
}

// Streaming frame parser: feed() bytes as they arrive; calls back on each
// complete message (opcode of its first frame, total payload length, the
// first `prefix_cap` payload bytes) and each control frame. Never allocates.
struct frame_parser {
  static constexpr std::size_t prefix_cap = 32;
  unsigned char hdr[14];
  std::size_t hlen = 0, need = 2;
  bool in_payload = false;
  std::uint64_t remain = 0;
  unsigned op = 0;
  bool fin = false;
  unsigned msg_op = 0;
  std::uint64_t msg_len = 0;
  unsigned char prefix[prefix_cap];
  std::size_t prefix_len = 0;
  unsigned char ctrl[125];
  std::size_t ctrl_len = 0;

  enum class result { ok, error };

  template <class OnMessage, class OnControl>
  result feed(const char* p, std::size_t n, OnMessage&& on_message, OnControl&& on_control) {
    while (n) {
      if (!in_payload) {
        const std::size_t take = std::min(n, need - hlen);
        std::memcpy(hdr + hlen, p, take);
        hlen += take, p += take, n -= take;
        if (hlen < need) break;
        if (need == 2) {
          const unsigned len7 = hdr[1] & 0x7f;
          need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((hdr[1] & 0x80) ? 4 : 0);
          if (need > 2) continue;
        }
        fin = hdr[0] & 0x80;
        op = hdr[0] & 0x0f;
        if (hdr[0] & 0x70) return result::error;  // RSV bits: no extension negotiated
        const unsigned len7 = hdr[1] & 0x7f;
        std::uint64_t len = len7;
        if (len7 == 126) {
          len = (std::uint64_t{hdr[2]} << 8) | hdr[3];
        } else if (len7 == 127) {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | hdr[2 + i];
        }
        hlen = 0, need = 2;
        in_payload = true;
        remain = len;
        if (op & 0x8) {
          if (op > 0xA || !fin || len > 125) return result::error;
          ctrl_len = 0;
        } else if (op == 0) {
          if (!msg_op) return result::error;  // continuation without a message
        } else if (op <= 2) {
          if (msg_op) return result::error;  // new message inside a fragmented one
          msg_op = op, msg_len = 0, prefix_len = 0;
        } else {
          return result::error;
        }
      } else {
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, remain));
        if (op & 0x8) {
          std::memcpy(ctrl + ctrl_len, p, take);
          ctrl_len += take;
        } else {
          if (prefix_len < prefix_cap) {
            const std::size_t c = std::min(take, prefix_cap - prefix_len);
            std::memcpy(prefix + prefix_len, p, c);
            prefix_len += c;
          }
          msg_len += take;
        }
        p += take, n -= take, remain -= take;
      }
      if (in_payload && remain == 0) {
        in_payload = false;
        if (op & 0x8) {
          on_control(op, std::string_view(reinterpret_cast<const char*>(ctrl), ctrl_len));
        } else if (fin) {
          const unsigned mop = msg_op;
          msg_op = 0;
          on_message(mop, msg_len, prefix, prefix_len);
        }
      }
    }
    return result::ok;
  }
};

constexpr std::string_view ws_key = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 §1.3's sample
constexpr std::string_view ws_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::string hex16(std::uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016" PRIx64, v);
  return b;
}

std::uint64_t parse_hex(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
  }
  return v;
}

// ---------------------------------------------------------------------------
struct errors {
  std::uint64_t connect = 0, handshake = 0, io = 0, protocol = 0, mismatch = 0, server_close = 0;
  std::uint64_t total() const { return connect + handshake + io + protocol + mismatch + server_close; }
};

class loadgen;

struct conn {
  enum class st { idle, connecting, handshake, open, closing, dead };
  conn(asio::io_context& io, int id) : sock(io), id(id) {}
  tcp::socket sock;
  int id;
  st state = st::idle;
  std::unique_ptr<char[]> rbuf;
  std::size_t rcap = 0;
  std::size_t hs_len = 0;  // handshake bytes in rbuf
  frame_parser parser;
  // echo: send timestamps of messages in flight (ring of W)
  std::vector<std::int64_t> ring;
  std::uint64_t sent = 0, received = 0;
  std::uint32_t pending = 0;  // messages to send once the current write ends
  bool writing = false;
  std::string ctrl_out;       // pongs / close waiting for the writer
  std::string ctrl_inflight;
  std::string bc_out, bc_inflight;  // broadcast sender's frames
  bool got_close = false;
  bool gone = false;  // broadcast receiver no longer counted
};

class loadgen {
 public:
  explicit loadgen(options o) : o_(std::move(o)), io_(1), deadline_(io_) {}

  int run() {
    start_ns_ = now_ns();
    if (o_.m == mode_t::idle) {
      // Give a freshly started server a moment, then take the baseline.
      asio::steady_timer t(io_);
      t.expires_after(std::chrono::milliseconds(300));
      t.wait();
      rss_before_ = read_rss_kb(o_.server_pid);
      kmem_before_ = bench::read_kernel_mem();
    }
    const std::size_t payload = o_.size;
    if (o_.m == mode_t::echo) {
      std::string body(payload, 'x');
      for (std::size_t i = 0; i < payload; ++i) body[i] = static_cast<char>('a' + i % 26);
      frame_ = make_frame(o_.binary ? 2 : 1, body);
      // What the first payload bytes of every reply must be: our text, or for
      // a raw echo our masked bytes.
      expect_prefix_ = o_.raw ? frame_.substr(frame_.size() - payload, frame_parser::prefix_cap)
                              : body.substr(0, frame_parser::prefix_cap);
      frames_.reserve(frame_.size() * o_.window);
      for (int i = 0; i < o_.window; ++i) frames_ += frame_;
    } else if (o_.m == mode_t::broadcast) {
      std::string body(payload, 'x');
      bc_template_ = make_frame(o_.binary ? 2 : 1, body);
      bc_payload_off_ = bc_template_.size() - payload;
      slots_.resize(static_cast<std::size_t>(o_.window));
    }
    close_frame_ = make_frame(8, std::string_view("\x03\xe8", 2));

    const int total = o_.m == mode_t::broadcast ? o_.conns + 1 : o_.conns;
    conns_.reserve(static_cast<std::size_t>(total));
    const std::size_t rcap = o_.m == mode_t::idle ? 4096 : (o_.size >= 64 * 1024 ? 256 * 1024 : 64 * 1024);
    for (int i = 0; i < total; ++i) {
      auto c = std::make_unique<conn>(io_, i);
      c->rcap = rcap;
      c->rbuf = std::make_unique<char[]>(rcap);
      if (o_.m == mode_t::echo) c->ring.assign(static_cast<std::size_t>(o_.window), 0);
      conns_.push_back(std::move(c));
    }
    endpoint_ = tcp::endpoint(asio::ip::make_address(o_.host), o_.port);

    // Whole-run safety net: never hang.
    const double limit = 60 + (o_.conns / 200.0) + o_.warmup + o_.duration + o_.hold;
    deadline_.expires_after(std::chrono::milliseconds(static_cast<long>(limit * 1000)));
    deadline_.async_wait([this](std::error_code ec) {
      if (ec) return;
      timed_out_ = true;
      std::fputs("loadgen: run deadline reached, giving up\n", stderr);
      finish();
    });

    for (int i = 0; i < total && i < o_.connect_concurrency; ++i) connect_next();
    io_.run();
    print_result();
    return (open_count_max_ == 0 || timed_out_) ? 1 : 0;
  }

 private:
  // ---- connection setup ---------------------------------------------------
  void connect_next() {
    if (next_connect_ >= conns_.size() || phase_ >= phase::stopping) return;
    conn& c = *conns_[next_connect_++];
    ++connecting_;
    c.state = conn::st::connecting;
    c.sock.async_connect(endpoint_, [this, &c](std::error_code ec) {
      if (ec) {
        ++err_.connect;
        if (err_.connect <= 3) std::fprintf(stderr, "loadgen: connect: %s\n", ec.message().c_str());
        c.state = conn::st::dead;
        setup_done(c);
        return;
      }
      std::error_code ignore;
      c.sock.set_option(tcp::no_delay(true), ignore);
      if (o_.raw) {
        setup_done(c, true);
        if (c.state == conn::st::open || c.state == conn::st::closing) start_read(c);
        return;
      }
      c.state = conn::st::handshake;
      request_ = "GET " + o_.path + " HTTP/1.1\r\nHost: " + o_.host + ":" + std::to_string(o_.port) +
                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + std::string(ws_key) +
                 "\r\nSec-WebSocket-Version: 13\r\n\r\n";
      asio::async_write(c.sock, asio::buffer(request_), [this, &c](std::error_code ec, std::size_t) {
        if (ec) return handshake_failed(c, "write: " + ec.message());
        read_handshake(c);
      });
    });
  }

  void read_handshake(conn& c) {
    c.sock.async_read_some(asio::buffer(c.rbuf.get() + c.hs_len, c.rcap - c.hs_len),
                           [this, &c](std::error_code ec, std::size_t n) {
                             if (ec) return handshake_failed(c, "read: " + ec.message());
                             c.hs_len += n;
                             const std::string_view in(c.rbuf.get(), c.hs_len);
                             const auto end = in.find("\r\n\r\n");
                             if (end == std::string_view::npos) {
                               if (c.hs_len == c.rcap) return handshake_failed(c, "response head too long");
                               return read_handshake(c);
                             }
                             const std::string_view head = in.substr(0, end);
                             if (head.rfind("HTTP/1.1 101", 0) != 0 || head.find(ws_accept) == std::string_view::npos)
                               return handshake_failed(c, "bad response: " + std::string(head.substr(0, head.find('\r'))));
                             // Bytes behind the head are already frames.
                             const std::size_t rest = c.hs_len - (end + 4);
                             setup_done(c, true);
                             // Parse the leftover before the next read: Asio may read
                             // speculatively into rbuf as soon as a read is started.
                             if (rest && c.state != conn::st::dead) on_data(c, c.rbuf.get() + end + 4, rest, now_ns());
                             if (c.state != conn::st::dead) start_read(c);
                           });
  }

  void handshake_failed(conn& c, const std::string& why) {
    ++err_.handshake;
    if (err_.handshake <= 3) std::fprintf(stderr, "loadgen: handshake: %s\n", why.c_str());
    std::error_code ignore;
    c.sock.close(ignore);
    c.state = conn::st::dead;
    setup_done(c);
  }

  void setup_done(conn& c, bool ok = false) {
    --connecting_;
    ++setup_finished_;
    if (ok) {
      c.state = conn::st::open;
      ++open_;
      open_count_max_ = std::max(open_count_max_, open_);
      if (o_.m == mode_t::broadcast && c.id == 0) sender_ = &c;
    }
    if (phase_ >= phase::stopping) {
      if (ok) close_conn(c);
      return;
    }
    connect_next();
    if (setup_finished_ == conns_.size()) all_connected();
  }

  void all_connected() {
    connect_ns_ = now_ns() - start_ns_;
    if (open_ == 0) {
      std::fputs("loadgen: no connection could be opened\n", stderr);
      finish();
      return;
    }
    if (o_.m == mode_t::idle) {
      phase_ = phase::measuring;
      server_cpu0_ = read_cpu_s(o_.server_pid);
      measure_start_ns_ = now_ns();
      after([this] {
        server_cpu1_ = read_cpu_s(o_.server_pid);
        measure_ns_ = now_ns() - measure_start_ns_;
        rss_after_ = read_rss_kb(o_.server_pid);
        kmem_after_ = bench::read_kernel_mem();
        begin_stop();
      }, o_.hold);
      return;
    }
    // Let the server register the last connections (broadcast) before traffic.
    after([this] { start_traffic(); }, o_.m == mode_t::broadcast ? 0.3 : 0.0);
  }

  void start_traffic() {
    phase_ = phase::warmup;
    if (o_.m == mode_t::echo) {
      for (auto& c : conns_)
        if (c->state == conn::st::open) {
          c->pending = static_cast<std::uint32_t>(o_.window);
          pump(*c);
        }
    } else {
      receivers_ = 0;
      for (auto& c : conns_)
        if (c->state == conn::st::open && c->id != 0) ++receivers_;
      if (!sender_ || sender_->state != conn::st::open) {
        std::fputs("loadgen: broadcast sender could not connect\n", stderr);
        begin_stop();
        return;
      }
      for (std::size_t i = 0; i < slots_.size(); ++i) bc_send(i);
      bc_pump();
      bc_watchdog();
    }
    after([this] { begin_measure(); }, o_.warmup);
  }

  void begin_measure() {
    phase_ = phase::measuring;
    hist_.reset();
    messages_ = 0;
    payload_bytes_ = 0;
    broadcasts_done_ = 0;
    incomplete_ = 0;
    lost_ = 0;
    measure_start_ns_ = now_ns();
    server_cpu0_ = read_cpu_s(o_.server_pid);
    self_cpu0_ = self_cpu_s();
    after([this] {
      measure_ns_ = now_ns() - measure_start_ns_;
      server_cpu1_ = read_cpu_s(o_.server_pid);
      self_cpu1_ = self_cpu_s();
      rss_after_ = read_rss_kb(o_.server_pid);
      begin_stop();
    }, o_.duration);
  }

  // ---- stopping -------------------------------------------------------------
  void begin_stop() {
    if (phase_ >= phase::stopping) return;
    phase_ = phase::stopping;
    for (auto& c : conns_)
      if (c->state == conn::st::open) close_conn(*c);
    maybe_finish();
    after([this] { finish(); }, 3.0);  // peers that never answer our Close
  }

  // Sends a Close (1000) and waits for the server's Close and EOF.
  void close_conn(conn& c) {
    c.state = conn::st::closing;
    if (o_.raw) {  // a raw echo has no close handshake
      kill(c);
      return;
    }
    c.ctrl_out += close_frame_;
    c.pending = 0;
    pump(c);
  }

  void kill(conn& c) {
    if (c.state == conn::st::dead) return;
    if (c.state == conn::st::open || c.state == conn::st::closing) --open_;
    c.state = conn::st::dead;
    std::error_code ignore;
    c.sock.close(ignore);
    receiver_gone(c);
    maybe_finish();
  }

  // A broadcast receiver dropped out: broadcasts in flight no longer wait for it.
  void receiver_gone(conn& c) {
    if (o_.m != mode_t::broadcast || c.id == 0 || c.gone || phase_ < phase::warmup || phase_ >= phase::stopping) return;
    c.gone = true;
    if (receivers_ > 0) --receivers_;
    for (std::size_t i = 0; i < slots_.size(); ++i) bc_check(i);
  }

  void maybe_finish() {
    if (phase_ >= phase::stopping && open_ == 0 && connecting_ == 0) finish();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    phase_ = phase::done;
    for (auto& c : conns_) {
      std::error_code ignore;
      c->sock.close(ignore);
    }
    timer_cancel_all();
    io_.stop();
  }

  // ---- timers ----------------------------------------------------------------
  void after(std::function<void()> fn, double seconds) {
    auto t = std::make_shared<asio::steady_timer>(io_);
    t->expires_after(std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9)));
    timers_.push_back(t);
    t->async_wait([fn = std::move(fn)](std::error_code ec) {
      if (!ec) fn();
    });
  }
  void timer_cancel_all() {
    for (auto& t : timers_) t->cancel();
    deadline_.cancel();
  }

  // ---- I/O -------------------------------------------------------------------
  void start_read(conn& c) {
    c.sock.async_read_some(asio::buffer(c.rbuf.get(), c.rcap), [this, &c](std::error_code ec, std::size_t n) {
      if (ec) {
        if (c.state == conn::st::closing || c.state == conn::st::dead) {
          if (c.got_close && c.state == conn::st::closing) ++clean_closes_;
          kill(c);
          return;
        }
        ++err_.io;
        if (err_.io <= 3) std::fprintf(stderr, "loadgen: conn %d read: %s\n", c.id, ec.message().c_str());
        kill(c);
        return;
      }
      on_data(c, c.rbuf.get(), n, now_ns());
      if (c.state != conn::st::dead) start_read(c);
    });
  }

  void on_data(conn& c, const char* p, std::size_t n, std::int64_t t) {
    const bool measuring = phase_ == phase::measuring;
    auto on_message = [&](unsigned op, std::uint64_t len, const unsigned char* prefix, std::size_t plen) {
      if (c.state != conn::st::open) return;  // replies crossing our Close
      if (op != (o_.binary ? 2u : 1u) || len != o_.size) {
        ++err_.mismatch;
        if (err_.mismatch <= 3)
          std::fprintf(stderr, "loadgen: conn %d: got op %u len %llu, expected op %u len %zu\n", c.id, op,
                       static_cast<unsigned long long>(len), o_.binary ? 2u : 1u, o_.size);
      }
      if (o_.m == mode_t::echo) {
        if (plen != expect_prefix_.size() || std::memcmp(prefix, expect_prefix_.data(), plen) != 0) {
          ++err_.mismatch;
          if (err_.mismatch <= 3) std::fprintf(stderr, "loadgen: conn %d: reply payload differs from what was sent\n", c.id);
        }
        if (c.received >= c.sent) {
          ++err_.mismatch;
          return;
        }
        const std::int64_t sent_at = c.ring[c.received % c.ring.size()];
        ++c.received;
        if (measuring) {
          hist_.record(static_cast<std::uint64_t>(t - sent_at));
          ++messages_;
          payload_bytes_ += len;
        }
        if (phase_ < phase::stopping) ++c.pending;
      } else if (o_.m == mode_t::broadcast) {
        if (plen < 24) {
          ++err_.mismatch;
          return;
        }
        const std::int64_t sent_at = static_cast<std::int64_t>(parse_hex(prefix, 16));
        const std::uint64_t seq = parse_hex(prefix + 16, 8);
        if (measuring) {
          hist_.record(static_cast<std::uint64_t>(t - sent_at));
          ++messages_;
          payload_bytes_ += len;
        }
        auto& s = slots_[seq % slots_.size()];
        if (s.active && s.seq == seq) {
          ++s.delivered;
          bc_check(seq % slots_.size());
        }
      }
    };
    auto on_control = [&](unsigned op, std::string_view payload) {
      if (op == 0x9) {  // ping -> pong
        if (c.state == conn::st::open) {
          std::string pong = make_frame(0xA, payload);
          c.ctrl_out += pong;
        }
      } else if (op == 0x8) {
        c.got_close = true;
        if (c.state == conn::st::open) {  // the server closed on us
          ++err_.server_close;
          unsigned code = payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                                    static_cast<unsigned char>(payload[1])
                                              : 1005;
          if (err_.server_close <= 3)
            std::fprintf(stderr, "loadgen: conn %d: server sent Close %u %.*s\n", c.id, code,
                         static_cast<int>(payload.size() > 2 ? payload.size() - 2 : 0),
                         payload.size() > 2 ? payload.data() + 2 : "");
          c.ctrl_out += close_frame_;
          c.state = conn::st::closing;
          receiver_gone(c);
        }
      }
    };
    if (c.parser.feed(p, n, on_message, on_control) == frame_parser::result::error) {
      ++err_.protocol;
      if (err_.protocol <= 3) std::fprintf(stderr, "loadgen: conn %d: bad frame from server\n", c.id);
      kill(c);
      return;
    }
    pump(c);
    if (o_.m == mode_t::broadcast && sender_ && &c != sender_) bc_pump();
  }

  // Starts a write if none is running: control frames first, then the data
  // frames that became due (echo).
  void pump(conn& c) {
    if (c.writing || c.state == conn::st::dead) return;
    if (!c.ctrl_out.empty()) {
      c.ctrl_inflight.clear();
      c.ctrl_inflight.swap(c.ctrl_out);
      c.writing = true;
      asio::async_write(c.sock, asio::buffer(c.ctrl_inflight), [this, &c](std::error_code ec, std::size_t) {
        write_done(c, ec);
      });
      return;
    }
    if (o_.m == mode_t::broadcast) {
      if (&c == sender_) bc_pump();
      return;
    }
    if (o_.m != mode_t::echo || c.pending == 0 || c.state != conn::st::open) return;
    const std::uint32_t k = c.pending;
    c.pending = 0;
    const std::int64_t t = now_ns();
    for (std::uint32_t i = 0; i < k; ++i) c.ring[c.sent++ % c.ring.size()] = t;
    c.writing = true;
    asio::async_write(c.sock, asio::buffer(frames_.data(), frame_.size() * k),
                      [this, &c](std::error_code ec, std::size_t) { write_done(c, ec); });
  }

  void write_done(conn& c, std::error_code ec) {
    c.writing = false;
    if (ec) {
      if (c.state == conn::st::open) {
        ++err_.io;
        if (err_.io <= 3) std::fprintf(stderr, "loadgen: conn %d write: %s\n", c.id, ec.message().c_str());
      }
      kill(c);
      return;
    }
    pump(c);
  }

  // ---- broadcast sender -----------------------------------------------------
  struct slot {
    bool active = false;
    std::uint64_t seq = 0;
    std::int64_t sent_at = 0;
    int delivered = 0;
  };

  // Queues the next broadcast into slot i.
  void bc_send(std::size_t i) {
    if (phase_ >= phase::stopping || !sender_ || sender_->state != conn::st::open) return;
    auto& s = slots_[i];
    // Sequence numbers map to their slot: seq % W == i.
    s.seq = ((bc_round_++) * slots_.size() + i) & 0xffffffffu;  // 8 hex digits on the wire
    s.active = true;
    s.delivered = 0;
    s.sent_at = now_ns();
    const std::string ts = hex16(static_cast<std::uint64_t>(s.sent_at));
    char seqhex[9];
    std::snprintf(seqhex, sizeof seqhex, "%08" PRIx64, s.seq & 0xffffffffu);
    auto& out = sender_->bc_out;
    const std::size_t base = out.size();
    out += bc_template_;
    unsigned char* payload = reinterpret_cast<unsigned char*>(out.data() + base + bc_payload_off_);
    for (std::size_t k = 0; k < 16; ++k) payload[k] = static_cast<unsigned char>(ts[k]) ^ mask_key[k % 4];
    for (std::size_t k = 0; k < 8; ++k)
      payload[16 + k] = static_cast<unsigned char>(seqhex[k]) ^ mask_key[(16 + k) % 4];
  }

  void bc_check(std::size_t i) {
    auto& s = slots_[i];
    if (!s.active || s.delivered < receivers_) return;
    s.active = false;
    if (phase_ == phase::measuring) ++broadcasts_done_;
    bc_send(i);
  }

  void bc_pump() {
    conn* c = sender_;
    if (!c || c->writing || c->state != conn::st::open) return;
    if (!c->ctrl_out.empty()) return pump(*c);
    if (c->bc_out.empty()) return;
    c->bc_inflight.clear();
    c->bc_inflight.swap(c->bc_out);
    c->writing = true;
    asio::async_write(c->sock, asio::buffer(c->bc_inflight), [this, c](std::error_code ec, std::size_t) {
      write_done(*c, ec);
    });
  }

  // A broadcast that not every receiver got within 2 s is given up on (its
  // deliveries are counted as lost), so one lost message can't stall the run.
  void bc_watchdog() {
    if (phase_ >= phase::stopping) return;
    const std::int64_t t = now_ns();
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      auto& s = slots_[i];
      if (s.active && t - s.sent_at > 2'000'000'000) {
        if (phase_ == phase::measuring) {
          ++incomplete_;
          lost_ += static_cast<std::uint64_t>(std::max(0, receivers_ - s.delivered));
        }
        s.active = false;
        bc_send(i);
      }
    }
    bc_pump();
    after([this] { bc_watchdog(); }, 0.1);
  }

  // ---- output ----------------------------------------------------------------
  void print_result() {
    const double secs = measure_ns_ > 0 ? static_cast<double>(measure_ns_) / 1e9 : 0;
    std::ostringstream j;
    j.setf(std::ios::fixed);
    j.precision(1);
    auto str = [](const std::string& s) {
      std::string r = "\"";
      for (char ch : s) {
        if (ch == '"' || ch == '\\') r += '\\';
        r += ch;
      }
      return r + "\"";
    };
    j << "{\"mode\":" << str(o_.mode) << ",\"server\":" << str(o_.server) << ",\"label\":" << str(o_.label)
      << ",\"conns\":" << o_.conns << ",\"conns_open\":" << open_count_max_ << ",\"window\":" << o_.window
      << ",\"size\":" << o_.size << ",\"binary\":" << (o_.binary ? "true" : "false")
      << ",\"connect_s\":" << static_cast<double>(connect_ns_) / 1e9;
    if (o_.m == mode_t::idle) {
      const long n = static_cast<long>(open_count_max_);
      j << ",\"rss_before_kb\":" << rss_before_ << ",\"rss_after_kb\":" << rss_after_;
      if (rss_before_ > 0 && rss_after_ > 0 && n > 0)
        j << ",\"rss_per_conn_bytes\":" << static_cast<double>(rss_after_ - rss_before_) * 1024.0 / static_cast<double>(n);
      else
        j << ",\"rss_per_conn_bytes\":null";
      j << ",\"kernel\":" << bench::kernel_mem_json(kmem_before_, kmem_after_, n);
      // The server's CPU while the connections were held (clock ticks: 10 ms).
      if (server_cpu0_ >= 0 && server_cpu1_ >= 0) {
        j.precision(2);
        j << ",\"hold_s\":" << secs << ",\"hold_server_cpu_s\":" << server_cpu1_ - server_cpu0_;
        j.precision(1);
      }
    } else {
      const double mps = secs > 0 ? static_cast<double>(messages_) / secs : 0;
      j << ",\"duration_s\":" << secs << ",\"messages\":" << messages_ << ",\"msgs_per_s\":" << mps
        << ",\"bytes_per_s\":" << (secs > 0 ? static_cast<double>(payload_bytes_) / secs : 0);
      if (o_.m == mode_t::broadcast) {
        j << ",\"receivers\":" << receivers_ << ",\"deliveries_per_s\":" << mps
          << ",\"broadcasts_per_s\":" << (secs > 0 ? static_cast<double>(broadcasts_done_) / secs : 0)
          << ",\"incomplete_broadcasts\":" << incomplete_ << ",\"lost_deliveries\":" << lost_;
      }
      j.precision(2);
      j << ",\"lat_us\":{\"p50\":" << hist_.percentile(50) / 1e3 << ",\"p90\":" << hist_.percentile(90) / 1e3
        << ",\"p99\":" << hist_.percentile(99) / 1e3 << ",\"p99_9\":" << hist_.percentile(99.9) / 1e3
        << ",\"max\":" << static_cast<double>(hist_.max()) / 1e3 << ",\"mean\":" << hist_.mean() / 1e3 << "}";
      j.precision(1);
      if (secs > 0) {
        j << ",\"loadgen_cpu_pct\":" << (self_cpu1_ - self_cpu0_) / secs * 100;
        if (server_cpu0_ >= 0 && server_cpu1_ >= 0)
          j << ",\"server_cpu_pct\":" << (server_cpu1_ - server_cpu0_) / secs * 100;
      }
      if (rss_after_ > 0) j << ",\"server_rss_kb\":" << rss_after_;
    }
    j << ",\"clean_closes\":" << clean_closes_ << ",\"errors\":{\"connect\":" << err_.connect
      << ",\"handshake\":" << err_.handshake << ",\"io\":" << err_.io << ",\"protocol\":" << err_.protocol
      << ",\"mismatch\":" << err_.mismatch << ",\"server_close\":" << err_.server_close << "}"
      << ",\"timed_out\":" << (timed_out_ ? "true" : "false") << "}";
    std::cout << j.str() << std::endl;
  }

  enum class phase { connecting, warmup, measuring, stopping, done };

  options o_;
  asio::io_context io_;
  asio::steady_timer deadline_;
  std::vector<std::shared_ptr<asio::steady_timer>> timers_;
  tcp::endpoint endpoint_;
  std::vector<std::unique_ptr<conn>> conns_;
  std::string request_;
  std::string frame_, frames_, close_frame_, expect_prefix_;
  phase phase_ = phase::connecting;
  std::size_t next_connect_ = 0;
  std::size_t setup_finished_ = 0;
  int connecting_ = 0;
  int open_ = 0;
  int open_count_max_ = 0;
  bool finished_ = false;
  bool timed_out_ = false;
  errors err_;
  std::uint64_t clean_closes_ = 0;
  histogram hist_;
  std::uint64_t messages_ = 0, payload_bytes_ = 0;
  std::int64_t start_ns_ = 0, connect_ns_ = 0, measure_start_ns_ = 0, measure_ns_ = 0;
  double server_cpu0_ = -1, server_cpu1_ = -1, self_cpu0_ = 0, self_cpu1_ = 0;
  long rss_before_ = -1, rss_after_ = -1;
  bench::kernel_mem kmem_before_, kmem_after_;  // idle: system-wide socket memory
  // broadcast
  conn* sender_ = nullptr;
  int receivers_ = 0;
  std::string bc_template_;
  std::size_t bc_payload_off_ = 0;
  std::vector<slot> slots_;
  std::uint64_t bc_round_ = 0;
  std::uint64_t broadcasts_done_ = 0, incomplete_ = 0, lost_ = 0;
};

// --self-test: the histogram's percentiles and the frame parser, on known data.
int self_test() {
  int failures = 0;
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) {
      ++failures;
      std::fprintf(stderr, "self-test FAILED: %s\n", what.c_str());
    }
  };
  {
    histogram h;
    for (std::uint64_t v = 1; v <= 1'000'000; ++v) h.record(v);
    for (double p : {50.0, 90.0, 99.0, 99.9}) {
      const double want = p / 100 * 1e6, got = h.percentile(p);
      check(std::abs(got - want) / want < 0.01, "p" + std::to_string(p) + " = " + std::to_string(got));
    }
    check(h.max() == 1'000'000 && h.count() == 1'000'000, "max/count");
    check(std::abs(h.mean() - 500000.5) < 1, "mean");
    histogram e;
    for (std::uint64_t v : {0ull, 1ull, 255ull, 256ull, 1ull << 40, ~0ull}) e.record(v);  // no out-of-range index
    check(e.percentile(50) == 255, "small values are exact");
  }
  {
    // Server frames (unmasked): 7-bit, 16-bit and 64-bit lengths, a message
    // fragmented around a ping, then a close; plus one masked frame.
    auto server_frame = [](unsigned op, bool fin, const std::string& payload) {
      std::string f = make_frame(op, payload);  // masked client frame...
      const std::size_t hdr = f.size() - payload.size();
      std::string u;
      u.push_back(static_cast<char>((fin ? 0x80 : 0) | op));
      u.push_back(static_cast<char>(f[1] & 0x7f));
      u.append(f, 2, hdr - 6);  // ...minus mask bit and key
      return u + payload;
    };
    const std::string a(5, 'a'), b(300, 'b'), c(70000, 'c');
    std::string stream = server_frame(1, true, a) + server_frame(2, true, b) + server_frame(2, true, c) +
                         server_frame(1, false, "hello ") + server_frame(9, true, "pi") +
                         server_frame(0, false, "wor") + server_frame(0, true, "ld") + make_frame(2, b) +
                         server_frame(8, true, std::string("\x03\xe8", 2));
    for (std::size_t split : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{1000}, stream.size()}) {
      frame_parser fp;
      std::vector<std::pair<unsigned, std::uint64_t>> msgs;
      std::string first;
      std::vector<unsigned> ctrl;
      bool ok = true;
      for (std::size_t i = 0; i < stream.size() && ok; i += split)
        ok = fp.feed(stream.data() + i, std::min(split, stream.size() - i),
                     [&](unsigned op, std::uint64_t len, const unsigned char* pre, std::size_t plen) {
                       msgs.emplace_back(op, len);
                       if (msgs.size() == 4) first.assign(reinterpret_cast<const char*>(pre), plen);
                     },
                     [&](unsigned op, std::string_view) { ctrl.push_back(op); }) == frame_parser::result::ok;
      const std::string at = " (split " + std::to_string(split) + ")";
      check(ok, "parser accepts the stream" + at);
      check(msgs.size() == 5, "5 messages" + at);
      if (msgs.size() == 5) {
        check(msgs[0] == std::make_pair(1u, std::uint64_t{5}), "7-bit length" + at);
        check(msgs[1] == std::make_pair(2u, std::uint64_t{300}), "16-bit length" + at);
        check(msgs[2] == std::make_pair(2u, std::uint64_t{70000}), "64-bit length" + at);
        check(msgs[3] == std::make_pair(1u, std::uint64_t{11}) && first == "hello world", "fragments" + at);
        check(msgs[4] == std::make_pair(2u, std::uint64_t{300}), "masked frame" + at);
      }
      check(ctrl == std::vector<unsigned>{9, 8}, "ping and close" + at);
    }
    frame_parser bad;
    const char rsv[] = {static_cast<char>(0xC1), 0x00};
    check(bad.feed(rsv, 2, [](auto...) {}, [](auto...) {}) == frame_parser::result::error, "RSV1 is an error");
  }
  std::fprintf(stderr, "loadgen self-test: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--self-test") return self_test();
  try {
    loadgen lg(parse_args(argc, argv));
    return lg.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}
