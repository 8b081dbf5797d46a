// duplex::wasm::chat_client: the browser side of the chat protocol, in C++.
//
// Wraps one browser WebSocket (emscripten/websocket.h) and speaks the shared
// schema: outgoing join/chat are encoded with duplex::schema::encode, every
// incoming text frame is decoded with duplex::schema::decode_server (the same
// codec the native server uses). Callbacks run on the browser's event loop
// (this is single-threaded code: no pthreads).
//
// Lifetime: destroying the client closes and releases the socket; no callback
// runs afterwards. It is safe to destroy or close() the client from inside one
// of its own callbacks.
#pragma once

#include <duplex/schema/chat.hpp>
#include <duplex/schema/codec.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace duplex::wasm {

enum class client_state {
  idle,        // never connected
  connecting,  // open() called, handshake in progress
  open,        // WebSocket open: send() works
  closing,     // close() called, waiting for the close handshake
  closed,      // connection gone (clean or not); open() may be called again
};

// "idle", "connecting", "open", "closing", "closed".
std::string_view to_string(client_state) noexcept;

struct close_info {
  std::uint16_t code = 0;  // 1000 normal, 1006 abnormal (no close frame), ...
  std::string reason;
  bool was_clean = false;
};

class chat_client {
 public:
  // A decoded server message.
  using message_handler = std::function<void(const schema::server_message&)>;
  // A text frame that did not decode; raw is the frame as received.
  using decode_error_handler =
      std::function<void(const schema::decode_error&, std::string_view raw)>;
  // A transport-level problem: the browser's WebSocket "error" event, a failed
  // open(), a binary frame (the protocol is text only).
  using error_handler = std::function<void(std::string_view what)>;
  using state_handler = std::function<void(client_state)>;
  using close_handler = std::function<void(const close_info&)>;

  chat_client();
  ~chat_client();
  chat_client(const chat_client&) = delete;
  chat_client& operator=(const chat_client&) = delete;

  void on_message(message_handler h);
  void on_decode_error(decode_error_handler h);
  void on_error(error_handler h);
  void on_state(state_handler h);
  void on_close(close_handler h);

  // Starts connecting to a ws:// or wss:// URL. Any previous connection is
  // closed first (its callbacks stop). Returns false (after reporting through
  // on_error and moving to `closed`) if the browser refuses the URL.
  bool open(std::string_view url);

  // Encodes and sends one message. Returns false (and sends nothing) unless
  // the state is `open`.
  bool send(const schema::client_message& m);
  bool join(std::string name) { return send(schema::join{std::move(name)}); }
  bool chat(std::string text) { return send(schema::chat{std::move(text)}); }

  // Starts the closing handshake. code must be 1000 or 3000..4999 (the
  // browser rejects others; those are mapped to 1000); reason is truncated
  // to 123 bytes at a UTF-8 boundary. No-op unless connecting/open.
  void close(std::uint16_t code = 1000, std::string_view reason = {});

  client_state state() const noexcept;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace duplex::wasm
