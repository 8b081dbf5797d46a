// duplex::wasm::channel<Protocol>: the browser end of a described protocol,
// the same shape as the native duplex::channel:
//
//   duplex::wasm::task run() {
//     auto ch = duplex::wasm::channel<game_protocol>::connect("wss://host/ws/game");
//     ch.post(move{...});  // once open; errc::closed before
//     while (auto in = co_await ch.read()) {
//       if (!*in) { log(in->error().detail); continue; }
//       std::visit(handler, **in);
//     }
//     if (ch.version_refused()) show("this page is out of date: reload");
//   }
#pragma once

#include <duplex/schema/binary.hpp>
#include <duplex/schema/codec.hpp>
#include <duplex/schema/describe.hpp>
#include <duplex/schema/version.hpp>
#include <duplex/wasm/websocket.hpp>

#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

namespace duplex::wasm {

template <schema::protocol P>
class channel {
 public:
  using in_message = typename P::server_message;
  using out_message = typename P::client_message;
  using read_result = std::optional<schema::decode_result<in_message>>;

  // Connects offering this protocol's version (duplex.<name>.v<version>),
  // or its binary encoding (duplex.<name>.v<version>.bin: binary frames,
  // duplex/schema/binary.hpp).
  static channel connect(std::string_view url, schema::encoding e = schema::encoding::json) {
    return channel(websocket::open(url, {e == schema::encoding::binary ? schema::binary_subprotocol_name<P>()
                                                                        : schema::subprotocol_name<P>()}));
  }
  explicit channel(std::shared_ptr<websocket> ws) : ws_(std::move(ws)) {}

  // The encoding the server agreed to (known once open).
  bool binary() const noexcept { return ws_->subprotocol() == schema::binary_subprotocol_name<P>(); }

  struct read_op {
    channel* ch;
    websocket::read_op inner;
    bool await_ready() const noexcept { return inner.await_ready(); }
    void await_suspend(co::coroutine_handle<> h) noexcept { inner.await_suspend(h); }
    read_result await_resume() {
      auto m = inner.await_resume();
      if (!m) return std::nullopt;
      ch->last_ = std::move(*m);
      const bool binary = ch->binary();
      if (ch->last_.binary != binary) {
        return schema::decode_result<in_message>(
            binary ? schema::decode_error{schema::decode_errc::wrong_type, {}, "a binary frame",
                                          "message: this connection speaks binary frames"}
                   : schema::decode_error{schema::decode_errc::wrong_type, {}, "a text frame",
                                          "message: binary frames are not part of the protocol"});
      }
      if (binary) return schema::decode_binary<in_message>(ch->last_.data);
      return schema::decode<in_message>(ch->last_.data);
    }
  };
  // Awaitable: the next message decoded (or why it isn't), nullopt once closed.
  read_op read() { return read_op{this, ws_->read()}; }
  // The frame the last read() decoded, as received.
  const message& last_frame() const noexcept { return last_; }

  // Encodes (in the connection's encoding) and queues one message, as the
  // native channel::post() does: duplex::errc::closed unless open.
  template <class M>
  std::error_code post(const M& m) {
    if (binary()) return ws_->post(schema::encode_binary<out_message>(m), true);
    return ws_->post(schema::encode(m));
  }
  void close(std::uint16_t code = 1000, std::string_view reason = {}) { ws_->close(code, reason); }

  // After the end: the server speaks no version of this protocol that this
  // build does (it closed with 4406); the page should reload.
  bool version_refused() const noexcept { return ws_->info().code == schema::close_version_mismatch; }
  websocket& socket() noexcept { return *ws_; }

 private:
  std::shared_ptr<websocket> ws_;
  message last_;
};

}  // namespace duplex::wasm
