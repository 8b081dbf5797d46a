// duplex::channel<Protocol>: a websocket that speaks one described protocol
// (duplex/schema/describe.hpp). Reads decode, sends encode; the version is
// the subprotocol (duplex/schema/version.hpp).
//
//   srv.websocket("/ws/game", [](duplex::websocket ws) -> asio::awaitable<void> {
//     auto ch = co_await duplex::channel<game_protocol>::accept(std::move(ws));
//     if (!ch) co_return;  // no version in common: closed with 4406 and a reason
//     while (auto in = co_await ch->read()) {
//       if (!*in) { ch->post(error{"bad_message", in->error().detail}); continue; }
//       std::visit([&](auto& m) { handle(*ch, m); }, **in);
//     }
//   }, duplex::protocol_endpoint<game_protocol>());
//
// The client side is channel<P, side::client>: it reads server messages and
// sends client messages:
//   auto ws = co_await duplex::connect(url, {.subprotocols = duplex::offered_subprotocols<game_protocol>()});
//   auto ch = co_await duplex::channel<game_protocol, duplex::side::client>::accept(std::move(ws));
//
// Encodings: a client that offers duplex.<name>.v<N>.bin (offered_subprotocols<P>(schema::encoding::binary))
// speaks the binary encoding (duplex/schema/binary.hpp) in binary frames;
// otherwise JSON in text frames. The server side speaks whichever the
// client chose, per connection, with the same API: one server serves both.
#pragma once

#include <duplex/net/server.hpp>
#include <duplex/net/websocket.hpp>
#include <duplex/schema/binary.hpp>
#include <duplex/schema/codec.hpp>
#include <duplex/schema/describe.hpp>
#include <duplex/schema/version.hpp>

#include <asio/awaitable.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace duplex {

enum class side { server, client };

// Endpoint options for a server that speaks these versions of one protocol
// (all the same name), each in JSON and in binary: the highest version the
// client offers is chosen, in the encoding it offered first; a client with
// none in common is still accepted, for channel::accept() to close with
// 4406 and a reason.
template <schema::protocol P, schema::protocol... Older>
endpoint_options protocol_endpoint(endpoint_options opts = {}) {
  static constexpr unsigned versions[] = {P::version, Older::version...};
  opts.subprotocols = {schema::subprotocol_name<P>(), schema::subprotocol_name<Older>()...,
                       schema::binary_subprotocol_name<P>(), schema::binary_subprotocol_name<Older>()...};
  opts.choose_subprotocol = [](std::span<const std::string_view> offered) {
    return schema::choose_subprotocol(P::name, versions, offered);
  };
  return opts;
}

// What a client offers for these versions, newest first, in one encoding.
template <schema::protocol P, schema::protocol... Older>
std::vector<std::string> offered_subprotocols(schema::encoding e = schema::encoding::json) {
  if (e == schema::encoding::binary)
    return {schema::binary_subprotocol_name<P>(), schema::binary_subprotocol_name<Older>()...};
  return {schema::subprotocol_name<P>(), schema::subprotocol_name<Older>()...};
}

// The version (P's or an older one listed) and the encoding the connection
// negotiated, from its subprotocol; nullopt when it speaks none of them (a
// client that offered none: the handshake completed so that it can be told
// why, with refuse_version()). For a server that speaks several versions
// with one handler, as duplex-chat does; channel<P> speaks one.
template <schema::protocol P, schema::protocol... Older>
std::optional<schema::subprotocol_offer> negotiated_version(const websocket& ws) {
  static constexpr unsigned versions[] = {P::version, Older::version...};
  const auto o = schema::parse_subprotocol(ws.subprotocol(), P::name);
  if (!o) return std::nullopt;
  for (unsigned v : versions)
    if (v == o->version) return o;
  return std::nullopt;
}

// Closes a connection that speaks none of the server's versions with
// schema::close_version_mismatch and a reason naming P's (the newest).
template <schema::protocol P>
asio::awaitable<void> refuse_version(websocket ws) {
  const std::string reason = schema::version_mismatch_reason(P::name, P::version);
  co_await ws.close(schema::close_version_mismatch, reason);
}

// The same without waiting for the peer's Close (websocket::post_close()),
// for callback endpoints (websocket_callbacks::open).
template <schema::protocol P>
std::error_code post_refuse_version(websocket& ws) {
  return ws.post_close(schema::close_version_mismatch, schema::version_mismatch_reason(P::name, P::version));
}

template <schema::protocol P, side Side = side::server>
class channel {
 public:
  using protocol_type = P;
  // What this end reads and what it sends.
  using in_message = std::conditional_t<Side == side::server, typename P::client_message, typename P::server_message>;
  using out_message = std::conditional_t<Side == side::server, typename P::server_message, typename P::client_message>;

  // Wraps `ws` if it negotiated this protocol's version; otherwise closes it
  // with schema::close_version_mismatch and a reason, and returns nullopt.
  // The same on both sides (a client's server picked another version).
  // (Written in plain statements: GCC 12 mishandles temporaries around co_await.)
  static asio::awaitable<std::optional<channel>> accept(websocket ws) {
    std::optional<channel> out;
    if (const auto v = negotiated_version<P>(ws)) {
      out.emplace(channel(std::move(ws), v->encoding));
      co_return out;
    }
    co_await refuse_version<P>(ws);
    co_return out;
  }

  // The next message, decoded, or the reason it isn't (a frame of the other
  // kind than the connection's encoding is a wrong_type error); nullopt once
  // the connection is closed.
  asio::awaitable<std::optional<schema::decode_result<in_message>>> read() {
    std::optional<schema::decode_result<in_message>> out;
    const bool got = co_await ws_.read(buffer_);
    if (!got) co_return out;
    if (buffer_.binary != binary()) out.emplace(wrong_frame());
    else if (binary()) out.emplace(schema::decode_binary<in_message>(buffer_.data));
    else out.emplace(schema::decode<in_message>(buffer_.data));
    co_return out;
  }

  // Encodes (in the connection's encoding) and queues one message (post:
  // never suspends; send: waits per the overflow policy).
  template <class M>
  std::error_code post(const M& m) {
    return binary() ? ws_.post(schema::encode_binary<out_message>(m), true) : ws_.post(schema::encode(m));
  }
  // Encodes now; the awaitable owns the bytes. (With GCC 12, name the message
  // rather than co_await a temporary: it destroys such temporaries twice.)
  template <class M>
  asio::awaitable<std::error_code> send(const M& m) {
    if (binary()) return send_bytes(ws_, schema::encode_binary<out_message>(m), true);
    return send_bytes(ws_, schema::encode(m), false);
  }
  // For a broadcast: encode once with prepare(), then post it to every
  // channel: each gets its own encoding's bytes, compressed once per
  // compressor setting. The JSON form is encoded by prepare(); the binary
  // form when a binary channel first posts it (or binary_form() asks), once,
  // shared by copies of the prepared: a broadcast to JSON-only clients does
  // no binary encoding. Until then the prepared holds a copy of the message.
  // Like prepared_message, one thread at a time.
  class prepared {
   public:
    prepared_message json;
    const prepared_message& binary_form() const {
      if (!lazy_->bytes) {
        lazy_->bytes.emplace(lazy_->encode(), true);
        lazy_->encode = nullptr;  // the message's copy is no longer needed
        ++lazy_->encodings;
      }
      return *lazy_->bytes;
    }
    // Binary encodings done so far: 0 (no binary recipient yet) or 1.
    std::size_t binary_encodings() const noexcept { return lazy_->encodings; }

   private:
    friend class channel;
    struct lazy {
      std::function<std::string()> encode;
      std::optional<prepared_message> bytes;
      std::size_t encodings = 0;
    };
    prepared(prepared_message j, std::function<std::string()> enc)
        : json(std::move(j)), lazy_(std::make_shared<lazy>()) {
      lazy_->encode = std::move(enc);
    }
    std::shared_ptr<lazy> lazy_;
  };
  template <class M>
  static prepared prepare(const M& m) {
    return prepared(prepared_message(schema::encode(m)),
                    [copy = m]() { return schema::encode_binary<out_message>(copy); });
  }
  std::error_code post(const prepared& m) { return ws_.post(binary() ? m.binary_form() : m.json); }

  // The encoding the client chose (its subprotocol).
  schema::encoding encoding() const noexcept { return encoding_; }
  bool binary() const noexcept { return encoding_ == schema::encoding::binary; }

  asio::awaitable<void> close(std::uint16_t code = protocol::close_code::normal, std::string_view reason = {}) {
    return ws_.close(code, reason);
  }

  websocket& socket() noexcept { return ws_; }
  const websocket& socket() const noexcept { return ws_; }

 private:
  channel(websocket ws, schema::encoding e) : ws_(std::move(ws)), encoding_(e) {}
  static asio::awaitable<std::error_code> send_bytes(websocket ws, std::string bytes, bool binary) {
    const std::error_code ec = co_await ws.send(bytes, binary);
    co_return ec;
  }
  schema::decode_error wrong_frame() const {
    if (binary())
      return {schema::decode_errc::wrong_type, {}, "a binary frame", "message: this connection speaks binary frames"};
    return {schema::decode_errc::wrong_type, {}, "a text frame", "message: binary frames are not part of the protocol"};
  }
  websocket ws_;
  schema::encoding encoding_ = schema::encoding::json;
  message buffer_;  // reused: no allocation per read beyond the decoded value
};

}  // namespace duplex
