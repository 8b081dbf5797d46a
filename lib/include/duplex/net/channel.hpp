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
#pragma once

#include <duplex/net/server.hpp>
#include <duplex/net/websocket.hpp>
#include <duplex/schema/codec.hpp>
#include <duplex/schema/describe.hpp>
#include <duplex/schema/version.hpp>

#include <asio/awaitable.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace duplex {

enum class side { server, client };

// Endpoint options for a server that speaks these versions of one protocol
// (all the same name): the highest version the client offers is chosen;
// a client with none in common is still accepted, for channel::accept() to
// close with 4406 and a reason.
template <schema::protocol P, schema::protocol... Older>
endpoint_options protocol_endpoint(endpoint_options opts = {}) {
  static constexpr unsigned versions[] = {P::version, Older::version...};
  opts.subprotocols = {schema::subprotocol_name<P>(), schema::subprotocol_name<Older>()...};
  opts.choose_subprotocol = [](std::span<const std::string_view> offered) {
    return schema::choose_subprotocol(P::name, versions, offered);
  };
  return opts;
}

// What a client offers for these versions, newest first.
template <schema::protocol P, schema::protocol... Older>
std::vector<std::string> offered_subprotocols() {
  return {schema::subprotocol_name<P>(), schema::subprotocol_name<Older>()...};
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
    if (ws.subprotocol() == schema::subprotocol_name<P>()) {
      out.emplace(channel(std::move(ws)));
      co_return out;
    }
    const std::string reason = schema::version_mismatch_reason(P::name, P::version);
    co_await ws.close(schema::close_version_mismatch, reason);
    co_return out;
  }

  // The next message, decoded, or the reason it isn't (a binary frame is a
  // wrong_type error); nullopt once the connection is closed.
  asio::awaitable<std::optional<schema::decode_result<in_message>>> read() {
    std::optional<schema::decode_result<in_message>> out;
    const bool got = co_await ws_.read(buffer_);
    if (!got) co_return out;
    if (buffer_.binary) out.emplace(binary_frame());
    else out.emplace(schema::decode<in_message>(buffer_.data));
    co_return out;
  }

  // Encodes and queues one message (post: never suspends; send: waits per
  // the overflow policy).
  template <class M>
  std::error_code post(const M& m) {
    return ws_.post(schema::encode(m));
  }
  // Encodes now; the awaitable owns the text. (With GCC 12, name the message
  // rather than co_await a temporary: it destroys such temporaries twice.)
  template <class M>
  asio::awaitable<std::error_code> send(const M& m) {
    return send_text(ws_, schema::encode(m));
  }
  // For a broadcast: encode once with prepare(), then post the same bytes
  // (compressed once per compressor setting) to every channel.
  template <class M>
  static prepared_message prepare(const M& m) {
    return prepared_message(schema::encode(m));
  }
  std::error_code post(const prepared_message& m) { return ws_.post(m); }

  asio::awaitable<void> close(std::uint16_t code = protocol::close_code::normal, std::string_view reason = {}) {
    return ws_.close(code, reason);
  }

  websocket& socket() noexcept { return ws_; }
  const websocket& socket() const noexcept { return ws_; }

 private:
  explicit channel(websocket ws) : ws_(std::move(ws)) {}
  static asio::awaitable<std::error_code> send_text(websocket ws, std::string json) {
    const std::error_code ec = co_await ws.send(json);
    co_return ec;
  }
  static schema::decode_error binary_frame() {
    return {schema::decode_errc::wrong_type, {}, "a text frame", "message: binary frames are not part of the protocol"};
  }
  websocket ws_;
  message buffer_;  // reused: no allocation per read beyond the decoded value
};

}  // namespace duplex
