// duplex::message: one WebSocket message, owned: what duplex::websocket
// (native) and duplex::wasm::websocket (the browser) read. Plain C++, no
// Asio, so that both builds share it.
#pragma once

#include <string>
#include <string_view>

namespace duplex {

struct message {
  std::string data;
  bool binary = false;
  std::string_view text() const noexcept { return data; }
};

}  // namespace duplex
