// duplex::wasm::websocket: the browser's WebSocket (emscripten/websocket.h)
// for any protocol, text and binary, with a coroutine read like the native
// duplex::websocket:
//
//   auto ws = duplex::wasm::websocket::open("wss://host/ws", {"duplex.game.v1"});
//   ws->post("hello");  // once open; duplex::errc::closed before or after
//   while (auto m = co_await ws->read()) use(m->data, m->binary);  // a duplex::message
//   // closed: ws->info() says how
//
// Single-threaded (the browser's event loop; no pthreads). One coroutine
// reads at a time. Messages that arrive while nobody reads are queued.
// Errors follow the native library's convention (docs/errors.md): post()
// returns a std::error_code of duplex::errc, like duplex::websocket::post().
#pragma once

#include <duplex/error.hpp>
#include <duplex/message.hpp>
#include <duplex/wasm/task.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace duplex::wasm {

enum class socket_state {
  connecting,  // handshake in progress
  open,        // send() works
  closing,     // close() called, waiting for the close handshake
  closed,      // gone (clean or not), or never opened
};

// "connecting", "open", "closing", "closed".
std::string_view to_string(socket_state) noexcept;

struct close_info {
  std::uint16_t code = 0;  // 1000 normal, 1006 abnormal (no close frame), 4406 version mismatch...
  std::string reason;
  bool was_clean = false;
};

class websocket : public std::enable_shared_from_this<websocket> {
 public:
  // Starts connecting to a ws:// or wss:// URL offering `subprotocols`.
  // Never null: a refused URL gives a socket that is closed at once, with
  // the reason in info() (no on_error: it could not have been set yet).
  static std::shared_ptr<websocket> open(std::string_view url, const std::vector<std::string>& subprotocols = {});
  ~websocket();  // closes (1000) and releases the socket; a waiting read() resumes with nullopt
  websocket(const websocket&) = delete;
  websocket& operator=(const websocket&) = delete;

  // Awaitable: the next message, or nullopt once closed.
  struct read_op;
  read_op read();

  // Queues a message (text unless binary) without waiting, as
  // duplex::websocket::post() does: errc::closed unless open (or if the
  // browser refuses it); std::errc::invalid_argument for text holding a NUL
  // byte (Emscripten passes text NUL-terminated; encoded JSON never holds one).
  std::error_code post(std::string_view data, bool binary = false);
  // Starts the closing handshake. code must be 1000 or 3000..4999 (the
  // browser refuses others; those become 1000); the reason is cut to 123
  // bytes at a UTF-8 boundary. No-op unless connecting or open.
  void close(std::uint16_t code = 1000, std::string_view reason = {});
  // Stops at once: the socket is closed and released, no callback runs any
  // more, and a waiting read() resumes with nullopt.
  void abandon();

  socket_state state() const noexcept { return state_; }
  const close_info& info() const noexcept { return close_; }
  // The subprotocol the server chose (empty before open or if none).
  const std::string& subprotocol() const noexcept { return protocol_; }

  // Plain callbacks for what is not a message: state changes and transport
  // errors (the browser's "error" event, a refused URL).
  std::function<void(socket_state)> on_state;
  std::function<void(std::string_view)> on_error;

  struct read_op {
    websocket* ws;
    bool await_ready() const noexcept { return !ws->inbox_.empty() || ws->state_ == socket_state::closed; }
    void await_suspend(co::coroutine_handle<> h) noexcept { ws->reader_ = h; }
    std::optional<message> await_resume() {
      if (ws->inbox_.empty()) return std::nullopt;
      std::optional<message> m(std::move(ws->inbox_.front()));
      ws->inbox_.pop_front();
      return m;
    }
  };

  struct events;  // the C callbacks

 private:
  websocket() = default;
  void set_state(socket_state s);
  void wake();
  void fail(std::string what);

  int socket_ = 0;  // EMSCRIPTEN_WEBSOCKET_T; 0 = none
  socket_state state_ = socket_state::connecting;
  close_info close_;
  std::string protocol_;
  std::deque<message> inbox_;
  co::coroutine_handle<> reader_;
};

inline websocket::read_op websocket::read() { return read_op{this}; }

}  // namespace duplex::wasm
