// The JavaScript face of a protocol's WASM client, generated from its
// description (no per-message code): duplex_wasm_client() in
// cmake/duplex_protocol.cmake builds a module with DUPLEX_WASM_CLIENT(P).
// The TypeScript declarations of the same face come from the generator
// (duplex/wasm/interface.hpp, which a change to this face must follow):
//
//   const Module = await createDuplexClient();
//   const client = new Module.DuplexClient();
//   client.on('state',   s => ...);   // "connecting" | "open" | "closing" | "closed"
//   client.on('message', m => ...);   // {type: "...", ...fields}, one per decoded server message
//   client.on('error',   e => ...);   // {kind:'decode', code, path, expected, detail, raw} | {kind:'transport', message}
//   client.on('close',   c => ...);   // {code, reason, wasClean}; code 4406: the page is out of date
//   client.connect('wss://host/ws');  // offers duplex.<name>.v<version>; false if the URL is refused
//   client.connect('wss://host/ws', {binary: true});  // offers duplex.<name>.v<version>.bin: binary frames
//   client.send({type: 'join', name: 'ada'});  // null when sent, else the error (rules checked here first)
//   client.close(); client.close(4000, 'bye'); client.state(); client.delete();
//   Module.protocol  // {name, version, subprotocol, fingerprint}
#pragma once

#include <duplex/schema/codec.hpp>
#include <duplex/schema/describe.hpp>
#include <duplex/schema/version.hpp>
#include <duplex/wasm/channel.hpp>
#include <duplex/wasm/js.hpp>
#include <duplex/wasm/task.hpp>
#include <duplex/wasm/websocket.hpp>

#include <emscripten/bind.h>
#include <emscripten/em_js.h>
#include <emscripten/val.h>

#include <memory>
#include <string>

namespace duplex::wasm {

// Calls fn(arg) if fn is a function, catching what it throws so a buggy page
// handler can't unwind through the Wasm stack.
void invoke(const emscripten::val& fn, const emscripten::val& arg);
emscripten::val transport_error(const std::string& what);
// JSON.stringify(v), or nullopt for what has no JSON text (undefined, functions).
std::optional<std::string> stringify(const emscripten::val& v);
void set_protocol_info(const std::string& name, unsigned version, const std::string& subprotocol,
                       const std::string& fingerprint);

template <schema::protocol P>
class js_client {
 public:
  js_client() : h_(std::make_shared<handlers>()) {}
  ~js_client() { release(); }
  js_client(const js_client&) = delete;
  js_client& operator=(const js_client&) = delete;

  // on(event, fn): "message", "error", "state" or "close"; null removes.
  bool on(const std::string& event, emscripten::val fn) {
    if (event == "message") h_->message = fn;
    else if (event == "error") h_->error = fn;
    else if (event == "state") h_->state = fn;
    else if (event == "close") h_->close = fn;
    else return false;
    return true;
  }

  bool connect(const std::string& url) { return open(url, schema::encoding::json); }
  // connect(url, {binary: true}): the same messages in the binary encoding.
  bool connect_with(const std::string& url, emscripten::val options) {
    const bool binary =
        !options.isNull() && options.typeOf().as<std::string>() == "object" && options["binary"].isTrue();
    return open(url, binary ? schema::encoding::binary : schema::encoding::json);
  }

  bool open(const std::string& url, schema::encoding e) {
    release();
    auto ws = websocket::open(url, {e == schema::encoding::binary ? schema::binary_subprotocol_name<P>()
                                                                   : schema::subprotocol_name<P>()});
    if (ws->state() == socket_state::closed) {  // the URL was refused
      invoke(h_->error, transport_error(ws->info().reason));
      invoke(h_->state, emscripten::val(std::string("closed")));
      return false;
    }
    h_->ws = ws;
    std::weak_ptr<handlers> weak = h_;
    ws->on_state = [weak](socket_state s) {
      if (auto h = weak.lock()) invoke(h->state, emscripten::val(std::string(to_string(s))));
    };
    ws->on_error = [weak](std::string_view what) {
      if (auto h = weak.lock()) invoke(h->error, transport_error(std::string(what)));
    };
    invoke(h_->state, emscripten::val(std::string("connecting")));
    pump(h_, std::move(ws));
    return true;
  }

  // Checks m against the protocol's rules (the same decoder the server
  // runs), then sends its canonical encoding. null when sent.
  emscripten::val send(emscripten::val m) {
    const auto ws = h_->ws;
    if (!ws || ws->state() != socket_state::open) return transport_error("not connected");
    const auto json = stringify(m);
    if (!json) {
      return decode_error_to_js(
          {schema::decode_errc::not_object, {}, "a message object", "message: not a JSON value"});
    }
    auto r = schema::decode<typename P::client_message>(*json);
    if (!r) return decode_error_to_js(r.error());
    const bool binary = ws->subprotocol() == schema::binary_subprotocol_name<P>();
    const std::error_code ec =
        binary ? ws->post(schema::encode_binary(*r), true) : ws->post(schema::encode(*r));
    if (ec) return transport_error("the browser refused to send");
    return emscripten::val::null();
  }

  void close() {
    if (h_->ws) h_->ws->close();
  }
  void close_with(int code, const std::string& reason) {
    if (h_->ws) h_->ws->close(static_cast<std::uint16_t>(code >= 0 && code <= 0xFFFF ? code : 1000), reason);
  }
  std::string state() const { return std::string(to_string(h_->ws ? h_->ws->state() : socket_state::closed)); }

 private:
  struct handlers {
    emscripten::val message = emscripten::val::null();
    emscripten::val error = emscripten::val::null();
    emscripten::val state = emscripten::val::null();
    emscripten::val close = emscripten::val::null();
    std::shared_ptr<websocket> ws;  // the current socket
  };

  // One coroutine per connection: reads until the socket closes.
  static task pump(std::shared_ptr<handlers> h, std::shared_ptr<websocket> ws) {
    channel<P> ch(ws);
    while (auto in = co_await ch.read()) {
      if (*in) {
        invoke(h->message, message_to_js(**in));
      } else {
        emscripten::val e = decode_error_to_js(in->error());
        if (!ch.last_frame().binary) e.set("raw", ch.last_frame().data);  // binary bytes are no JS string
        invoke(h->error, e);
      }
    }
    if (h->ws != ws) co_return;  // released: the page asked for it, no event
    const close_info& c = ws->info();
    emscripten::val o = emscripten::val::object();
    o.set("code", c.code);
    o.set("reason", c.reason);
    o.set("wasClean", c.was_clean);
    invoke(h->close, o);
  }

  // Stops listening to the current socket (closing it) and forgets it.
  void release() {
    if (auto ws = std::move(h_->ws)) ws->abandon();
  }

  std::shared_ptr<handlers> h_;
};

template <schema::protocol P>
void bind_client() {
  using client = js_client<P>;
  emscripten::class_<client>("DuplexClient")
      .template constructor<>()
      .function("on", &client::on)
      .function("connect", &client::connect)
      .function("connect", &client::connect_with)
      .function("send", &client::send)
      .function("close", emscripten::select_overload<void()>(&client::close))
      .function("close", &client::close_with)
      .function("state", &client::state);
  emscripten::constant("versionMismatchCode", static_cast<int>(schema::close_version_mismatch));
  set_protocol_info(std::string(P::name), P::version, schema::subprotocol_name<P>(),
                    schema::fingerprint_hex(schema::fingerprint<P>()));
}

}  // namespace duplex::wasm

// The module's bindings for protocol P (one protocol per module).
#define DUPLEX_WASM_CLIENT(P) \
  EMSCRIPTEN_BINDINGS(duplex_client) { ::duplex::wasm::bind_client<P>(); }
