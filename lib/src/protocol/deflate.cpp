#define ZLIB_CONST
#include <duplex/protocol/deflate.hpp>

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <vector>

namespace duplex::protocol {

// ---- zlib stream with counted allocations ----

namespace detail {

struct zstream {
  z_stream z{};
  std::size_t bytes = 0;  // what zlib has allocated and not freed
  bool inflate = false;
};

void zstream_deleter::operator()(zstream* s) const noexcept {
  if (s->inflate)
    inflateEnd(&s->z);
  else
    deflateEnd(&s->z);
  delete s;
}

}  // namespace detail

namespace {

using detail::zstream;
using detail::zstream_ptr;

// Each block carries its size in front so that zfree can count it.
constexpr std::size_t header = alignof(std::max_align_t) > sizeof(std::size_t) ? alignof(std::max_align_t)
                                                                                : sizeof(std::size_t);

voidpf counted_alloc(voidpf opaque, uInt items, uInt size) {
  const std::size_t n = static_cast<std::size_t>(items) * size;
  auto* p = static_cast<unsigned char*>(std::malloc(n + header));
  if (!p) return Z_NULL;
  *reinterpret_cast<std::size_t*>(p) = n;
  static_cast<zstream*>(opaque)->bytes += n;
  return p + header;
}

void counted_free(voidpf opaque, voidpf address) {
  if (!address) return;
  auto* p = static_cast<unsigned char*>(address) - header;
  static_cast<zstream*>(opaque)->bytes -= *reinterpret_cast<std::size_t*>(p);
  std::free(p);
}

zstream_ptr new_stream(bool inflate) {
  zstream_ptr s(new zstream);
  s->inflate = inflate;
  s->z.zalloc = counted_alloc;
  s->z.zfree = counted_free;
  s->z.opaque = s.get();
  return s;
}

[[noreturn]] void init_failed(int rc) {
  if (rc == Z_MEM_ERROR) throw std::bad_alloc();
  throw std::logic_error("duplex: zlib stream initialisation failed");
}

constexpr unsigned char sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

int clamp_bits(int b) noexcept { return std::clamp(b, 8, 15); }

deflate_options normalized(deflate_options o) noexcept {
  o.server_max_window_bits = clamp_bits(o.server_max_window_bits);
  o.client_max_window_bits = clamp_bits(o.client_max_window_bits);
  o.mem_level = std::clamp(o.mem_level, 1, 9);
  o.level = o.level < 0 ? 6 : std::min(o.level, 9);
  return o;
}

// ---- Sec-WebSocket-Extensions parsing (RFC 6455 §9.1, RFC 9110 §5.6) ----

bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

struct ext_param {
  std::string_view name;
  bool has_value = false;
  std::string value;  // unquoted
};

struct ext_element {
  std::string_view name;
  std::vector<ext_param> params;
};

// Splits one header value at the commas that are not inside a quoted
// string. Empty elements are dropped (RFC 9110 §5.6.1); an unterminated
// quote makes the rest one (malformed) element.
void split_elements(std::string_view v, std::vector<std::string_view>& out) {
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      auto e = v.substr(start, i - start);
      if (e.find_first_not_of(" \t") != std::string_view::npos) out.push_back(e);
      start = i + 1;
    }
  }
  auto e = v.substr(start);
  if (e.find_first_not_of(" \t") != std::string_view::npos) out.push_back(e);
}

class element_parser {
 public:
  explicit element_parser(std::string_view s) : s_(s) {}

  bool parse(ext_element& out) {
    skip_ows();
    out.name = token();
    if (out.name.empty()) return false;
    skip_ows();
    while (i_ < s_.size()) {
      if (s_[i_] != ';') return false;
      ++i_;
      skip_ows();
      ext_param p;
      p.name = token();
      if (p.name.empty()) return false;
      skip_ows();
      if (i_ < s_.size() && s_[i_] == '=') {
        ++i_;
        skip_ows();
        p.has_value = true;
        if (i_ < s_.size() && s_[i_] == '"') {
          if (!quoted(p.value)) return false;
          // RFC 6455 §9.1: the unescaped value must be a token.
          if (p.value.empty() || !std::all_of(p.value.begin(), p.value.end(), is_tchar)) return false;
        } else {
          p.value = token();
          if (p.value.empty()) return false;
        }
        skip_ows();
      }
      out.params.push_back(std::move(p));
    }
    return true;
  }

 private:
  void skip_ows() {
    while (i_ < s_.size() && is_ows(s_[i_])) ++i_;
  }
  std::string_view token() {
    const auto start = i_;
    while (i_ < s_.size() && is_tchar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  bool quoted(std::string& v) {
    ++i_;  // opening quote
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (i_ >= s_.size()) return false;
        v += s_[i_++];
      } else {
        v += c;
      }
    }
    return false;  // unterminated
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// A window value: 8..15, decimal, no leading zeros (RFC 7692 §7.1.2).
std::optional<int> parse_bits(const std::string& v) {
  if (v.size() == 1 && (v[0] == '8' || v[0] == '9')) return v[0] - '0';
  if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return 10 + (v[1] - '0');
  return std::nullopt;
}

// The four permessage-deflate parameters of one offer or response.
struct pmd_params {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::optional<int> server_max_window_bits;
  bool client_max_window_bits_present = false;
  std::optional<int> client_max_window_bits;
};

// False on an unknown or duplicate parameter or a bad value. In a response
// client_max_window_bits needs a value; in an offer it may have none.
bool read_params(const ext_element& e, bool response, pmd_params& out) {
  bool seen[4] = {};
  for (const auto& p : e.params) {
    if (iequals(p.name, "server_no_context_takeover")) {
      if (seen[0] || p.has_value) return false;
      seen[0] = out.server_no_context_takeover = true;
    } else if (iequals(p.name, "client_no_context_takeover")) {
      if (seen[1] || p.has_value) return false;
      seen[1] = out.client_no_context_takeover = true;
    } else if (iequals(p.name, "server_max_window_bits")) {
      if (seen[2] || !p.has_value) return false;
      seen[2] = true;
      out.server_max_window_bits = parse_bits(p.value);
      if (!out.server_max_window_bits) return false;
    } else if (iequals(p.name, "client_max_window_bits")) {
      if (seen[3]) return false;
      seen[3] = out.client_max_window_bits_present = true;
      if (p.has_value) {
        out.client_max_window_bits = parse_bits(p.value);
        if (!out.client_max_window_bits) return false;
      } else if (response) {
        return false;
      }
    } else {
      return false;
    }
  }
  return true;
}

// The response to one parsed permessage-deflate offer, or nullopt to decline it.
std::optional<std::pair<deflate_params, std::string>> answer(const pmd_params& offer,
                                                             const deflate_options& o) {
  deflate_params agreed;
  agreed.server_max_window_bits = std::min(o.server_max_window_bits, offer.server_max_window_bits.value_or(15));
  const int client_would_use = offer.client_max_window_bits.value_or(15);
  if (offer.client_max_window_bits_present) {
    agreed.client_max_window_bits = std::min(o.client_max_window_bits, client_would_use);
  } else {
    if (o.client_max_window_bits < 15) return std::nullopt;  // cannot limit this client's window
    agreed.client_max_window_bits = 15;
  }
  agreed.server_no_context_takeover = offer.server_no_context_takeover || o.server_no_context_takeover;
  agreed.client_no_context_takeover = offer.client_no_context_takeover || o.client_no_context_takeover;

  std::string r(permessage_deflate);
  if (agreed.server_no_context_takeover) r += "; server_no_context_takeover";
  if (agreed.client_no_context_takeover) r += "; client_no_context_takeover";
  if (offer.server_max_window_bits || agreed.server_max_window_bits < 15)
    r += "; server_max_window_bits=" + std::to_string(agreed.server_max_window_bits);
  if (offer.client_max_window_bits_present && agreed.client_max_window_bits < client_would_use)
    r += "; client_max_window_bits=" + std::to_string(agreed.client_max_window_bits);
  return std::pair{agreed, std::move(r)};
}

}  // namespace

std::string make_offer(const deflate_options& options) {
  if (!options.enabled) return {};
  const auto o = normalized(options);
  std::string r(permessage_deflate);
  if (o.server_no_context_takeover) r += "; server_no_context_takeover";
  if (o.client_no_context_takeover) r += "; client_no_context_takeover";
  if (o.server_max_window_bits < 15) r += "; server_max_window_bits=" + std::to_string(o.server_max_window_bits);
  r += "; client_max_window_bits";
  if (o.client_max_window_bits < 15) r += "=" + std::to_string(o.client_max_window_bits);
  return r;
}

std::optional<std::pair<deflate_params, std::string>> negotiate_server(
    std::span<const std::string_view> header_values, const deflate_options& options) {
  if (!options.enabled) return std::nullopt;
  const auto o = normalized(options);
  std::vector<std::string_view> elements;
  for (auto v : header_values) split_elements(v, elements);
  for (auto text : elements) {
    ext_element e;
    if (!element_parser(text).parse(e) || !iequals(e.name, permessage_deflate)) continue;
    pmd_params offer;
    if (!read_params(e, false, offer)) continue;
    if (auto a = answer(offer, o)) return a;
  }
  return std::nullopt;
}

std::optional<std::pair<deflate_params, std::string>> negotiate_server(std::string_view header_value,
                                                                       const deflate_options& options) {
  return negotiate_server(std::span<const std::string_view>(&header_value, 1), options);
}

std::optional<std::pair<deflate_params, std::string>> negotiate_server(const http_headers& request_headers,
                                                                       const deflate_options& options) {
  std::vector<std::string_view> values;
  for (const auto& h : request_headers.list)
    if (iequals(h.name, "Sec-WebSocket-Extensions")) values.push_back(h.value);
  return negotiate_server(std::span<const std::string_view>(values), options);
}

std::optional<deflate_params> accept_client(std::span<const std::string_view> response_values,
                                            const deflate_options& offered) {
  if (!offered.enabled) return std::nullopt;
  const auto o = normalized(offered);
  std::vector<std::string_view> elements;
  for (auto v : response_values) split_elements(v, elements);
  if (elements.size() != 1) return std::nullopt;
  ext_element e;
  if (!element_parser(elements[0]).parse(e) || !iequals(e.name, permessage_deflate)) return std::nullopt;
  pmd_params r;
  if (!read_params(e, true, r)) return std::nullopt;

  deflate_params p;
  if (o.server_max_window_bits < 15) {
    // We asked for a limit: the server must accept it with the same or a smaller value.
    if (!r.server_max_window_bits || *r.server_max_window_bits > o.server_max_window_bits) return std::nullopt;
  }
  p.server_max_window_bits = r.server_max_window_bits.value_or(15);
  // We always offer client_max_window_bits; an answer must not exceed our value.
  if (r.client_max_window_bits && *r.client_max_window_bits > o.client_max_window_bits) return std::nullopt;
  p.client_max_window_bits = r.client_max_window_bits.value_or(o.client_max_window_bits);
  if (o.server_no_context_takeover && !r.server_no_context_takeover) return std::nullopt;
  p.server_no_context_takeover = r.server_no_context_takeover;
  p.client_no_context_takeover = r.client_no_context_takeover || o.client_no_context_takeover;
  return p;
}

std::optional<deflate_params> accept_client(std::string_view response_value, const deflate_options& offered) {
  return accept_client(std::span<const std::string_view>(&response_value, 1), offered);
}

// ---- deflater ----

namespace {

// The smallest windowBits (9..15) whose match distances (window - 262 in
// zlib) reach back over a whole message of n bytes.
int bits_for(std::size_t n) noexcept {
  int b = 9;
  while (b < 15 && (std::size_t{1} << b) - 262 < n) ++b;
  return b;
}

}  // namespace

deflater::deflater(const deflate_params& params, role r, const deflate_options& options) {
  const auto o = normalized(options);
  const bool server = r == role::server;
  level_ = o.level;
  mem_level_ = o.mem_level;
  // zlib has no raw windowBits 8; 9 never references more than 250 bytes back.
  window_bits_ = std::max(9, clamp_bits(server ? params.server_max_window_bits : params.client_max_window_bits));
  takeover_ = server ? !(params.server_no_context_takeover || o.server_no_context_takeover)
                     : !(params.client_no_context_takeover || o.client_no_context_takeover);
  threshold_ = o.threshold;
}

std::size_t deflater::memory() const noexcept { return z_ ? z_->bytes : 0; }

void deflater::open(std::size_t size_hint) {
  if (z_) return;
  int bits = window_bits_;
  int mem = mem_level_;
  if (!takeover_) {
    // The stream lives for this message only: no larger than the message needs.
    bits = std::min(bits, bits_for(size_hint));
    mem = std::min(mem, std::max(1, bits - 6));
  }
  auto s = new_stream(false);
  const int rc = deflateInit2(&s->z, level_, Z_DEFLATED, -bits, mem, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) init_failed(rc);  // deflateEnd on a stream without state is harmless
  z_ = std::move(s);
}

void deflater::run(std::string_view in, int flush, std::string& out) {
  z_stream& z = z_->z;
  const auto* p = reinterpret_cast<const Bytef*>(in.data());
  std::size_t left = in.size();
  do {
    const auto n = static_cast<uInt>(std::min<std::size_t>(left, 1u << 30));
    z.next_in = p;
    z.avail_in = n;
    p += n;
    left -= n;
    const int f = left ? Z_NO_FLUSH : flush;
    // First guess: the bound for small inputs, a quarter for large ones; then grow.
    std::size_t room = n <= 65536 ? deflateBound(&z, n) + 64 : n / 4 + 4096;
    for (;;) {
      const std::size_t base = out.size();
      if (room > UINT_MAX) room = UINT_MAX;
      out.resize(base + room);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + base);
      z.avail_out = static_cast<uInt>(room);
      const int rc = ::deflate(&z, f);
      out.resize(base + room - z.avail_out);
      if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::logic_error("duplex: deflate failed");
      // Done when zlib had space left (avail_out > 6 avoids repeated flush markers).
      if (z.avail_out != 0 && z.avail_in == 0) break;
      room = std::max<std::size_t>(4096, out.size() / 2);
    }
  } while (left != 0);
}

void deflater::end_message(std::string& out, std::size_t start) {
  // A sync flush always ends with an empty stored block: BFINAL 0 BTYPE 00,
  // byte-aligned, LEN 0000 NLEN ffff. §7.2.1 removes its last four bytes.
  const std::string_view tail(reinterpret_cast<const char*>(sync_tail), 4);
  if (out.size() < start + 4 || std::string_view(out).substr(out.size() - 4) != tail)
    throw std::logic_error("duplex: deflate output does not end with a sync flush");
  out.resize(out.size() - 4);
  if (!takeover_) z_.reset();
}

void deflater::compress(std::string_view message, std::string& out) {
  if (in_message_) throw std::logic_error("duplex: compress() during a fragmented message");
  if (message.empty()) {
    // §7.2.3.6: an empty stored block, tail removed. The stream is byte-aligned
    // between messages, so this is valid with or without takeover.
    out.push_back('\0');
    return;
  }
  open(message.size());
  const std::size_t start = out.size();
  run(message, Z_SYNC_FLUSH, out);
  end_message(out, start);
}

void deflater::compress_fragment(std::string_view part, bool fin, std::string& out) {
  if (!in_message_) {
    in_message_ = true;
    fed_ = 0;
  }
  const std::size_t start = out.size();
  if (!part.empty()) {
    open(SIZE_MAX);  // total size unknown: the full window
    run(part, fin ? Z_SYNC_FLUSH : Z_NO_FLUSH, out);
    fed_ += part.size();
  }
  if (!fin) return;
  in_message_ = false;
  if (fed_ == 0) {
    out.push_back('\0');
    return;
  }
  if (part.empty()) run({}, Z_SYNC_FLUSH, out);
  end_message(out, start);
}

// ---- inflater ----

namespace {

// Makes room for `need` bytes in `s` without its capacity passing `limit`
// (when it starts below): geometric growth, capped. libstdc++ rounds a
// reserve below twice the capacity up to twice the capacity, so the last
// step goes through a fresh string reserved to the exact size.
void reserve_bounded(std::string& s, std::size_t need, std::size_t limit) {
  if (s.capacity() >= need) return;
  const std::size_t cap = std::max(need, std::min(limit, s.capacity() * 2));
  if (cap >= s.capacity() * 2) {
    s.reserve(cap);
  } else {
    std::string t;
    t.reserve(cap);
    t.append(s);
    s.swap(t);
  }
}

}  // namespace

inflater::inflater(const deflate_params& params, role r) {
  const bool server = r == role::server;
  // zlib inflates raw windowBits 8..15, so the peer's window is used as is.
  window_bits_ = clamp_bits(server ? params.client_max_window_bits : params.server_max_window_bits);
  takeover_ = !(server ? params.client_no_context_takeover : params.server_no_context_takeover);
}

std::size_t inflater::memory() const noexcept { return z_ ? z_->bytes : 0; }

void inflater::open() {
  if (z_) return;
  auto s = new_stream(true);
  const int rc = inflateInit2(&s->z, -window_bits_);
  if (rc != Z_OK) init_failed(rc);
  z_ = std::move(s);
}

std::error_code inflater::fail(errc e) {
  z_.reset();
  boundary_ = true;
  ended_ = false;
  fed_ = 0;
  return make_error_code(e);
}

void inflater::end_message() {
  if (!takeover_) {
    z_.reset();
  } else if (ended_ && z_) {
    // The peer ended its DEFLATE stream (BFINAL). Start a new one for the
    // next message, keeping the window it may refer back to.
    z_stream& z = z_->z;
    uInt len = 0;
    inflateGetDictionary(&z, Z_NULL, &len);
    std::vector<Bytef> window(len);
    if (len) inflateGetDictionary(&z, window.data(), &len);
    inflateReset(&z);
    if (len) inflateSetDictionary(&z, window.data(), len);
  }
  boundary_ = true;
  ended_ = false;
  fed_ = 0;
}

std::error_code inflater::run(std::string_view in, std::string& out, std::size_t max_output) {
  z_stream& z = z_->z;
  const auto* p = reinterpret_cast<const Bytef*>(in.data());
  std::size_t left = in.size();
  while (left != 0) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(left, 1u << 30));
    z.next_in = p;
    z.avail_in = n;
    p += n;
    left -= n;
    for (;;) {
      // Output space: up to a chunk (or the spare capacity) below the limit;
      // at the limit a one-byte probe: any output there means too big.
      unsigned char probe;
      const std::size_t base = out.size();
      std::size_t room;
      const bool probing = base >= max_output;
      if (probing) {
        room = 1;
        z.next_out = &probe;
      } else {
        room = std::min({max_output - base, std::max(chunk, out.capacity() - base), std::size_t{UINT_MAX}});
        reserve_bounded(out, base + room, max_output);
        out.resize(base + room);
        z.next_out = reinterpret_cast<Bytef*>(out.data() + base);
      }
      z.avail_out = static_cast<uInt>(room);
      // Z_BLOCK: stop at block boundaries so that data_type tells whether
      // the message ends on one.
      const int rc = ::inflate(&z, Z_BLOCK);
      const std::size_t produced = room - z.avail_out;
      if (!probing)
        out.resize(base + produced);
      else if (produced)
        return fail(errc::message_too_big);
      if (rc == Z_STREAM_END) {
        // BFINAL: whatever follows in this message is ignored.
        ended_ = true;
        return {};
      }
      if (rc == Z_MEM_ERROR) throw std::bad_alloc();
      if (rc != Z_OK && rc != Z_BUF_ERROR) return fail(errc::protocol_error);
      boundary_ = (z.data_type & 128) != 0;
      // Input used up and nothing pending: pending output is only possible
      // when zlib filled the buffer inside a block.
      if (z.avail_in == 0 && (z.avail_out != 0 || boundary_)) break;
    }
  }
  return {};
}

std::error_code inflater::feed(std::string_view compressed_fragment, bool final_fragment, std::string& out,
                               std::size_t max_output) {
  if (out.size() > max_output) return fail(errc::message_too_big);
  if (!compressed_fragment.empty()) {
    fed_ += compressed_fragment.size();
    if (!ended_) {
      open();
      if (auto ec = run(compressed_fragment, out, max_output)) return ec;
    }
  }
  if (!final_fragment) return {};
  if (fed_ != 0 && !ended_) {
    if (auto ec = run(std::string_view(reinterpret_cast<const char*>(sync_tail), 4), out, max_output)) return ec;
    // The tail completes an empty stored block only if the message ended on
    // a block boundary; anything else is a truncated or garbled message.
    if (!ended_ && !boundary_) return fail(errc::protocol_error);
  }
  end_message();
  return {};
}

}  // namespace duplex::protocol
