// The JavaScript face of duplex::wasm::chat_client (embind).
//
//   const Module = await createDuplexClient();
//   const client = new Module.DuplexClient();
//   client.on('state',   s   => ...);  // "connecting" | "open" | "closing" | "closed"
//   client.on('message', msg => ...);  // plain object, one per decoded server message:
//       {type:'message', from, text, time}   {type:'presence', users:[...]}
//       {type:'joined', name}  {type:'left', name}  {type:'error', code, message}
//   client.on('error',   err => ...);  // {kind:'decode', code, field, detail, raw}
//                                      // or {kind:'transport', message}
//   client.on('close',   ev  => ...);  // {code, reason, wasClean}
//   client.connect('ws://host/ws/chat');   // false if the URL is refused
//   client.join('ada'); client.say('hi');  // false unless the socket is open
//   client.close(); client.close(4000, 'bye');
//   client.state();                        // current state string
//   client.delete();                       // embind: frees it (closes the socket)
//
// Module.maxNameBytes / Module.maxTextBytes expose the schema limits.
#include "chat_client.hpp"

#include <emscripten/bind.h>
#include <emscripten/emscripten.h>
#include <emscripten/em_js.h>
#include <emscripten/val.h>

#include <memory>
#include <string>
#include <type_traits>
#include <variant>

// Calls fn(arg) if fn is a function, catching anything it throws so a buggy
// page handler can't unwind through the Wasm stack.
EM_JS(void, duplex_invoke, (emscripten::EM_VAL fn, emscripten::EM_VAL arg), {
  var f = Emval.toValue(fn);
  if (typeof f !== 'function') return;
  try {
    f(Emval.toValue(arg));
  } catch (e) {
    console.error('duplex: event handler threw', e);
  }
});

namespace duplex::wasm {
namespace {

using emscripten::val;

void invoke(const val& fn, const val& arg) { duplex_invoke(fn.as_handle(), arg.as_handle()); }

val to_js(const schema::server_message& m) {
  val o = val::object();
  std::visit(
      [&o](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, schema::message>) {
          o.set("type", "message");
          o.set("from", x.from);
          o.set("text", x.text);
          o.set("time", static_cast<double>(x.time));
        } else if constexpr (std::is_same_v<T, schema::presence>) {
          o.set("type", "presence");
          val users = val::array();
          for (const auto& u : x.users) users.call<void>("push", u);
          o.set("users", users);
        } else if constexpr (std::is_same_v<T, schema::joined>) {
          o.set("type", "joined");
          o.set("name", x.name);
        } else if constexpr (std::is_same_v<T, schema::left>) {
          o.set("type", "left");
          o.set("name", x.name);
        } else {
          static_assert(std::is_same_v<T, schema::error>);
          o.set("type", "error");
          o.set("code", x.code);
          o.set("message", x.message);
        }
      },
      m);
  return o;
}

// Handlers live in a shared block the chat_client's callbacks co-own, so a
// page calling client.delete() from inside a handler is safe.
struct js_handlers {
  val message = val::null();
  val error = val::null();
  val state = val::null();
  val close = val::null();
};

class js_client {
 public:
  js_client() : handlers_(std::make_shared<js_handlers>()) {
    auto h = handlers_;
    client_.on_message([h](const schema::server_message& m) { invoke(h->message, to_js(m)); });
    client_.on_decode_error([h](const schema::decode_error& e, std::string_view raw) {
      val o = val::object();
      o.set("kind", "decode");
      o.set("code", std::string(schema::to_string(e.code)));
      o.set("field", e.path);
      o.set("detail", e.detail);
      o.set("raw", std::string(raw));
      invoke(h->error, o);
    });
    client_.on_error([h](std::string_view what) {
      val o = val::object();
      o.set("kind", "transport");
      o.set("message", std::string(what));
      invoke(h->error, o);
    });
    client_.on_state([h](client_state s) { invoke(h->state, val(std::string(to_string(s)))); });
    client_.on_close([h](const close_info& c) {
      val o = val::object();
      o.set("code", c.code);
      o.set("reason", c.reason);
      o.set("wasClean", c.was_clean);
      invoke(h->close, o);
    });
  }

  // on(event, fn): event is "message", "error", "state" or "close"; fn null
  // or undefined removes the handler. Returns false for an unknown event.
  bool on(const std::string& event, val fn) {
    if (event == "message") handlers_->message = fn;
    else if (event == "error") handlers_->error = fn;
    else if (event == "state") handlers_->state = fn;
    else if (event == "close") handlers_->close = fn;
    else return false;
    return true;
  }

  bool connect(const std::string& url) { return client_.open(url); }
  bool join(const std::string& name) { return client_.join(name); }
  bool say(const std::string& text) { return client_.chat(text); }
  void close() { client_.close(); }
  void close_with(int code, const std::string& reason) {
    client_.close(static_cast<std::uint16_t>(code >= 0 && code <= 0xFFFF ? code : 1000), reason);
  }
  std::string state() const { return std::string(to_string(client_.state())); }

 private:
  std::shared_ptr<js_handlers> handlers_;
  chat_client client_;  // declared last: destroyed first, before handlers_
};

}  // namespace
}  // namespace duplex::wasm

EMSCRIPTEN_BINDINGS(duplex_client) {
  using duplex::wasm::js_client;
  emscripten::class_<js_client>("DuplexClient")
      .constructor<>()
      .function("on", &js_client::on)
      .function("connect", &js_client::connect)
      .function("join", &js_client::join)
      .function("say", &js_client::say)
      .function("close", emscripten::select_overload<void()>(&js_client::close))
      .function("close", &js_client::close_with)
      .function("state", &js_client::state);
  emscripten::constant("maxNameBytes", static_cast<int>(duplex::schema::max_name_bytes));
  emscripten::constant("maxTextBytes", static_cast<int>(duplex::schema::max_text_bytes));
}
