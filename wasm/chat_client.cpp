#include "chat_client.hpp"

#include <emscripten/em_js.h>
#include <emscripten/emscripten.h>
#include <emscripten/websocket.h>

#include <string>
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

// Largest prefix of s that is at most n bytes and does not split a UTF-8
// sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

std::string_view to_string(client_state s) noexcept {
  switch (s) {
    case client_state::idle: return "idle";
    case client_state::connecting: return "connecting";
    case client_state::open: return "open";
    case client_state::closing: return "closing";
    case client_state::closed: return "closed";
  }
  return "unknown";
}

struct chat_client::impl : std::enable_shared_from_this<chat_client::impl> {
  EMSCRIPTEN_WEBSOCKET_T socket = 0;  // 0 = none
  client_state state = client_state::idle;
  message_handler on_message;
  decode_error_handler on_decode_error;
  error_handler on_error;
  state_handler on_state;
  close_handler on_close;

  // Every dispatch copies the handler first: the user may replace handlers or
  // destroy the chat_client from inside the call, and a std::function must not
  // be destroyed while it runs. The shared_ptr taken by each socket callback
  // keeps *this alive until the callback returns.
  void set_state(client_state s) {
    if (s == state) return;
    state = s;
    if (auto h = on_state) h(s);
  }

  void report_error(std::string_view what) {
    if (auto h = on_error) h(what);
  }

  // Stops listening to the current socket (closing it if needed) and forgets
  // it. No callback for it runs afterwards.
  void release_socket(std::uint16_t code, const char* reason) {
    if (!socket) return;
    EMSCRIPTEN_WEBSOCKET_T s = std::exchange(socket, 0);
    unsigned short ready = 3;
    emscripten_websocket_get_ready_state(s, &ready);
    if (ready == 0 || ready == 1) emscripten_websocket_close(s, code, reason);
    emscripten_websocket_delete(s);  // drops the JS-side handlers
  }

  static impl* from(void* user) { return static_cast<impl*>(user); }

  static EM_BOOL handle_open(int, const EmscriptenWebSocketOpenEvent* ev, void* user) {
    auto self = from(user)->shared_from_this();
    if (ev->socket != self->socket) return EM_TRUE;  // stale socket
    self->set_state(client_state::open);
    return EM_TRUE;
  }

  static EM_BOOL handle_message(int, const EmscriptenWebSocketMessageEvent* ev, void* user) {
    auto self = from(user)->shared_from_this();
    if (ev->socket != self->socket) return EM_TRUE;
    if (!ev->isText) {
      self->report_error("unexpected binary frame of " + std::to_string(ev->numBytes) +
                         " bytes ignored (the chat protocol is text only)");
      return EM_TRUE;
    }
    // Emscripten hands text frames over NUL-terminated; numBytes counts the NUL.
    std::size_t n = ev->numBytes > 0 ? ev->numBytes - 1 : 0;
    std::string_view raw(reinterpret_cast<const char*>(ev->data), n);
    auto decoded = schema::decode_server(raw);
    if (decoded) {
      if (auto h = self->on_message) h(*decoded);
    } else {
      if (auto h = self->on_decode_error) h(decoded.error(), raw);
    }
    return EM_TRUE;
  }

  static EM_BOOL handle_error(int, const EmscriptenWebSocketErrorEvent* ev, void* user) {
    auto self = from(user)->shared_from_this();
    if (ev->socket != self->socket) return EM_TRUE;
    // The browser deliberately tells scripts nothing more; a close event follows.
    self->report_error("WebSocket error (connection failed or was lost)");
    return EM_TRUE;
  }

  static EM_BOOL handle_close(int, const EmscriptenWebSocketCloseEvent* ev, void* user) {
    auto self = from(user)->shared_from_this();
    if (ev->socket != self->socket) return EM_TRUE;
    emscripten_websocket_delete(std::exchange(self->socket, 0));
    close_info info{ev->code, std::string(ev->reason), ev->wasClean != 0};
    if (auto h = self->on_close) h(info);
    // Unless the close handler already reconnected:
    if (!self->socket) self->set_state(client_state::closed);
    return EM_TRUE;
  }
};

chat_client::chat_client() : impl_(std::make_shared<impl>()) {}

chat_client::~chat_client() {
  impl_->on_message = nullptr;
  impl_->on_decode_error = nullptr;
  impl_->on_error = nullptr;
  impl_->on_state = nullptr;
  impl_->on_close = nullptr;
  impl_->release_socket(1000, "client destroyed");  // browsers only accept 1000 or 3000-4999
}

void chat_client::on_message(message_handler h) { impl_->on_message = std::move(h); }
void chat_client::on_decode_error(decode_error_handler h) { impl_->on_decode_error = std::move(h); }
void chat_client::on_error(error_handler h) { impl_->on_error = std::move(h); }
void chat_client::on_state(state_handler h) { impl_->on_state = std::move(h); }
void chat_client::on_close(close_handler h) { impl_->on_close = std::move(h); }

client_state chat_client::state() const noexcept { return impl_->state; }

bool chat_client::open(std::string_view url) {
  auto self = impl_;  // keep alive across user callbacks below
  self->release_socket(1000, "reconnecting");

  std::string u(url);
  switch (duplex_check_ws_url(u.c_str())) {
    case 0: break;
    case 2:
      self->set_state(client_state::closed);
      self->report_error("not a ws:// or wss:// URL: " + u);
      return false;
    case 3:
      self->set_state(client_state::closed);
      self->report_error("WebSocket URLs cannot have a #fragment: " + u);
      return false;
    default:
      self->set_state(client_state::closed);
      self->report_error("invalid URL: " + u);
      return false;
  }
  if (!emscripten_websocket_is_supported()) {
    self->set_state(client_state::closed);
    self->report_error("this browser has no WebSocket support");
    return false;
  }

  EmscriptenWebSocketCreateAttributes attrs;
  emscripten_websocket_init_create_attributes(&attrs);
  attrs.url = u.c_str();
  attrs.protocols = nullptr;
  attrs.createOnMainThread = EM_TRUE;
  EMSCRIPTEN_WEBSOCKET_T s = emscripten_websocket_new(&attrs);
  if (s <= 0) {
    self->set_state(client_state::closed);
    self->report_error("could not create a WebSocket (emscripten result " + std::to_string(s) + ")");
    return false;
  }
  self->socket = s;
  void* user = self.get();
  emscripten_websocket_set_onopen_callback(s, user, &impl::handle_open);
  emscripten_websocket_set_onmessage_callback(s, user, &impl::handle_message);
  emscripten_websocket_set_onerror_callback(s, user, &impl::handle_error);
  emscripten_websocket_set_onclose_callback(s, user, &impl::handle_close);
  self->set_state(client_state::connecting);
  return true;
}

bool chat_client::send(const schema::client_message& m) {
  if (impl_->state != client_state::open || !impl_->socket) return false;
  // encode() escapes control characters, so the JSON holds no NUL byte and
  // survives the NUL-terminated hand-over to JavaScript.
  std::string json = schema::encode(m);
  return emscripten_websocket_send_utf8_text(impl_->socket, json.c_str()) ==
         EMSCRIPTEN_RESULT_SUCCESS;
}

void chat_client::close(std::uint16_t code, std::string_view reason) {
  auto self = impl_;
  if (!self->socket) return;
  if (self->state != client_state::connecting && self->state != client_state::open) return;
  if (code != 1000 && (code < 3000 || code > 4999)) code = 1000;
  std::string r(utf8_prefix(reason, 123));  // the browser's limit for reasons
  emscripten_websocket_close(self->socket, code, r.empty() ? nullptr : r.c_str());
  self->set_state(client_state::closing);
}

}  // namespace duplex::wasm
