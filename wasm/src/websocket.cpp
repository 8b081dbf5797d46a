#include <duplex/wasm/websocket.hpp>

#include <emscripten/em_js.h>
#include <emscripten/websocket.h>

#include <utility>

// Checks a URL the way `new WebSocket(url)` would before Emscripten's
// library calls it (that call throws a JS exception on a bad URL, which would
// unwind straight through the Wasm stack). 0 = ok, 1 = unparseable,
// 2 = not ws:/wss:, 3 = has a #fragment.
EM_JS(int, duplex_check_ws_url, (const char* url), {
  try {
    var u = new URL(UTF8ToString(url));
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') return 2;
    if (u.href.indexOf('#') >= 0) return 3;  // even an empty fragment
    return 0;
  } catch (e) {
    return 1;
  }
});

namespace duplex::wasm {
namespace {

// Largest prefix of s of at most n bytes that does not split a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

std::string_view to_string(socket_state s) noexcept {
  switch (s) {
    case socket_state::connecting: return "connecting";
    case socket_state::open: return "open";
    case socket_state::closing: return "closing";
    case socket_state::closed: return "closed";
  }
  return "unknown";
}

// Every callback holds a shared_ptr while it runs: what it calls (a state
// handler, the resumed reader) may drop the last other reference.
struct websocket::events {
  static std::shared_ptr<websocket> self(void* user, int socket) {
    auto* ws = static_cast<websocket*>(user);
    if (ws->socket_ != socket) return nullptr;  // a socket already released
    return ws->shared_from_this();
  }
  static EM_BOOL on_open(int, const EmscriptenWebSocketOpenEvent* ev, void* user) {
    auto ws = self(user, ev->socket);
    if (!ws) return EM_TRUE;
    char protocol[256] = {};
    if (emscripten_websocket_get_protocol(ws->socket_, protocol, sizeof protocol) == EMSCRIPTEN_RESULT_SUCCESS)
      ws->protocol_ = protocol;
    ws->set_state(socket_state::open);
    return EM_TRUE;
  }
  static EM_BOOL on_message(int, const EmscriptenWebSocketMessageEvent* ev, void* user) {
    auto ws = self(user, ev->socket);
    if (!ws) return EM_TRUE;
    // Text frames come NUL-terminated; numBytes counts the NUL.
    std::size_t n = ev->numBytes;
    if (ev->isText && n > 0) --n;
    ws->inbox_.push_back(message{std::string(reinterpret_cast<const char*>(ev->data), n), !ev->isText});
    ws->wake();
    return EM_TRUE;
  }
  static EM_BOOL on_error(int, const EmscriptenWebSocketErrorEvent* ev, void* user) {
    // The browser deliberately tells scripts nothing more; a close event follows.
    if (auto ws = self(user, ev->socket)) {
      if (auto h = ws->on_error) h("WebSocket error (connection failed or was lost)");
    }
    return EM_TRUE;
  }
  static EM_BOOL on_close(int, const EmscriptenWebSocketCloseEvent* ev, void* user) {
    auto ws = self(user, ev->socket);
    if (!ws) return EM_TRUE;
    emscripten_websocket_delete(std::exchange(ws->socket_, 0));
    ws->close_ = close_info{ev->code, std::string(ev->reason), ev->wasClean != 0};
    ws->state_ = socket_state::closed;
    ws->wake();  // the reader sees the end (after any queued messages)
    if (auto h = ws->on_state) h(socket_state::closed);
    return EM_TRUE;
  }
};

std::shared_ptr<websocket> websocket::open(std::string_view url, const std::vector<std::string>& subprotocols) {
  std::shared_ptr<websocket> ws(new websocket());
  const std::string u(url);
  switch (duplex_check_ws_url(u.c_str())) {
    case 0: break;
    case 2: ws->fail("not a ws:// or wss:// URL: " + u); return ws;
    case 3: ws->fail("WebSocket URLs cannot have a #fragment: " + u); return ws;
    default: ws->fail("invalid URL: " + u); return ws;
  }
  if (!emscripten_websocket_is_supported()) {
    ws->fail("this browser has no WebSocket support");
    return ws;
  }
  std::string protocols;  // Emscripten takes them comma-separated
  for (const auto& p : subprotocols) protocols += (protocols.empty() ? "" : ",") + p;
  EmscriptenWebSocketCreateAttributes attrs;
  emscripten_websocket_init_create_attributes(&attrs);
  attrs.url = u.c_str();
  attrs.protocols = protocols.empty() ? nullptr : protocols.c_str();
  attrs.createOnMainThread = EM_TRUE;
  const EMSCRIPTEN_WEBSOCKET_T s = emscripten_websocket_new(&attrs);
  if (s <= 0) {
    ws->fail("could not create a WebSocket (emscripten result " + std::to_string(s) + ")");
    return ws;
  }
  ws->socket_ = s;
  void* user = ws.get();
  emscripten_websocket_set_onopen_callback(s, user, &events::on_open);
  emscripten_websocket_set_onmessage_callback(s, user, &events::on_message);
  emscripten_websocket_set_onerror_callback(s, user, &events::on_error);
  emscripten_websocket_set_onclose_callback(s, user, &events::on_close);
  return ws;
}

websocket::~websocket() {
  on_state = nullptr;
  on_error = nullptr;
  if (socket_) {
    unsigned short ready = 3;
    emscripten_websocket_get_ready_state(socket_, &ready);
    if (ready == 0 || ready == 1) emscripten_websocket_close(socket_, 1000, "client gone");
    emscripten_websocket_delete(socket_);  // drops the JS-side handlers
  }
}

void websocket::abandon() {
  auto keep = shared_from_this();
  on_state = nullptr;
  on_error = nullptr;
  if (socket_) {
    const int s = std::exchange(socket_, 0);
    unsigned short ready = 3;
    emscripten_websocket_get_ready_state(s, &ready);
    if (ready == 0 || ready == 1) emscripten_websocket_close(s, 1000, "client gone");
    emscripten_websocket_delete(s);
  }
  inbox_.clear();
  state_ = socket_state::closed;
  wake();
}

void websocket::fail(std::string what) {
  // Called from open() before anyone could set a handler: the caller sees
  // state() == closed and the reason in info().
  close_ = close_info{1006, std::move(what), false};
  state_ = socket_state::closed;
}

void websocket::set_state(socket_state s) {
  if (s == state_) return;
  state_ = s;
  if (auto h = on_state) h(s);
}

void websocket::wake() {
  if (auto h = std::exchange(reader_, nullptr)) h.resume();
}

std::error_code websocket::post(std::string_view data, bool binary) {
  if (state_ != socket_state::open || !socket_) return errc::closed;
  EMSCRIPTEN_RESULT r;
  if (binary) {
    r = emscripten_websocket_send_binary(socket_, const_cast<char*>(data.data()),
                                         static_cast<std::uint32_t>(data.size()));
  } else {
    // Emscripten takes text NUL-terminated, so text holding a NUL can't be
    // sent (encoded JSON never holds one: the encoder escapes controls).
    if (data.find('\0') != std::string_view::npos) return std::make_error_code(std::errc::invalid_argument);
    const std::string z(data);
    r = emscripten_websocket_send_utf8_text(socket_, z.c_str());
  }
  if (r != EMSCRIPTEN_RESULT_SUCCESS) return errc::closed;
  return {};
}

void websocket::close(std::uint16_t code, std::string_view reason) {
  if (!socket_ || (state_ != socket_state::connecting && state_ != socket_state::open)) return;
  if (code != 1000 && (code < 3000 || code > 4999)) code = 1000;
  const std::string r(utf8_prefix(reason, 123));  // the browser's limit for reasons
  emscripten_websocket_close(socket_, code, r.empty() ? nullptr : r.c_str());
  set_state(socket_state::closing);
}

}  // namespace duplex::wasm
