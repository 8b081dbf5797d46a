// The arena page's C++ (em++, from the same arena.hpp as the server): one
// connection (duplex::wasm::websocket, subprotocol duplex.arena.v1.bin), a
// duplex::sync::replica of what this player sees, patched every tick, and
// the keys sent as typed input messages. Reconnects by itself (the replica
// is reset; join carries the welcome's token, the server answers with a
// snapshot). The page (web/app.js) calls what EMSCRIPTEN_BINDINGS exports:
//   const app = await createArenaApp();
//   app.start('ws://host/ws/arena', 'ada', () => draw());  // called after each patch
//   app.setKeys(up, down, left, right);
//   app.entities();  // [{id, kind, x, y, name, away}], read from the replica
#include "arena.hpp"

#include <duplex/schema/binary.hpp>
#include <duplex/schema/version.hpp>
#include <duplex/sync/replica.hpp>
#include <duplex/wasm/websocket.hpp>

#include <emscripten/bind.h>
#include <emscripten/eventloop.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using duplex::wasm::socket_state;

struct state {
  duplex::sync::replica<arena::entity> replica{&arena::entity::id};
  std::shared_ptr<duplex::wasm::websocket> ws;
  std::string url, name, token, status = "idle";
  std::uint32_t me = 0;
  arena::input keys;
  std::vector<std::uint32_t> snapshot_ids;  // what the last snapshot held
  double tick = 0, snapshots = 0, patches = 0, bytes = 0, refused = 0, connections = 0;
  emscripten::val on_update = emscripten::val::null();
};
state* s = nullptr;

void connect();

void notify() {
  if (!s->on_update.isNull()) s->on_update();
}

void send(const arena::protocol::client_message& m) {
  if (s->ws && s->ws->state() == socket_state::open)
    s->ws->post(duplex::schema::encode_binary<arena::protocol::client_message>(m), true);
}

void on_frame(const duplex::message& m) {
  s->bytes += static_cast<double>(m.data.size());
  if (!m.binary || m.data.empty()) return;
  const std::string_view body = std::string_view(m.data).substr(1);
  if (static_cast<unsigned char>(m.data[0]) == arena::frame_patch) {
    auto c = s->replica.apply(body);
    if (!c) {  // out of step with the server: start again from a snapshot
      ++s->refused;
      s->status = "out of sync: " + c.error().detail;
      s->ws->close(4000, "out of sync");
      return;
    }
    if (c->from == 0) {
      ++s->snapshots;
      s->snapshot_ids = c->added;
    }
    ++s->patches;
    s->tick = static_cast<double>(c->to);
    if (s->me && s->status != "playing") s->status = "playing";
    notify();
  } else if (static_cast<unsigned char>(m.data[0]) == arena::frame_message) {
    auto msg = duplex::schema::decode_binary<arena::protocol::server_message>(body);
    if (!msg) return;
    if (const auto* w = std::get_if<arena::welcome>(&*msg)) {
      // The server starts this connection's patches again: a snapshot next.
      s->replica.reset();
      s->me = w->id;
      s->token = w->token;
    }
  }
}

duplex::wasm::task run(std::shared_ptr<duplex::wasm::websocket> ws) {
  while (auto m = co_await ws->read()) on_frame(*m);
  if (ws != s->ws) co_return;  // replaced already
  s->status = "reconnecting";
  notify();
  emscripten_set_timeout([](void*) { connect(); }, 500, nullptr);
}

void connect() {
  s->replica.reset();
  s->tick = 0;
  ++s->connections;
  s->ws = duplex::wasm::websocket::open(s->url, {duplex::schema::binary_subprotocol_name<arena::protocol>()});
  s->status = "connecting";
  s->ws->on_state = [](socket_state st) {
    if (st != socket_state::open) return;
    arena::join j{s->name, std::nullopt};
    if (!s->token.empty()) j.resume = s->token;
    send(j);
    send(s->keys);
  };
  run(s->ws);
}

void start(const std::string& url, const std::string& name, emscripten::val on_update) {
  if (!s) s = new state;
  s->url = url;
  s->name = name.empty() ? "player" : name.substr(0, 16);
  s->on_update = std::move(on_update);
  connect();
}

void set_keys(bool up, bool down, bool left, bool right) {
  if (!s) return;
  const arena::input k{up, down, left, right};
  if (k == s->keys) return;
  s->keys = k;
  send(k);
}

// Closes the socket from the page (as a network cut would): it reconnects.
void cut() {
  if (s && s->ws) s->ws->close(4000, "cut");
}

emscripten::val entities() {
  emscripten::val out = emscripten::val::array();
  if (!s) return out;
  int i = 0;
  for (const auto& [id, e] : s->replica.entities()) {
    emscripten::val o = emscripten::val::object();
    o.set("id", id);
    o.set("kind", e.what == arena::kind::bot ? "bot" : "player");
    o.set("x", e.x);
    o.set("y", e.y);
    o.set("name", e.name);
    o.set("away", e.away);
    out.set(i++, o);
  }
  return out;
}

emscripten::val stats() {
  emscripten::val o = emscripten::val::object();
  if (!s) return o;
  o.set("me", s->me);
  o.set("status", s->status);
  o.set("tick", s->tick);
  o.set("snapshots", s->snapshots);
  o.set("patches", s->patches);
  o.set("bytes", s->bytes);
  o.set("refused", s->refused);
  o.set("connections", s->connections);
  o.set("count", static_cast<double>(s->replica.size()));
  emscripten::val ids = emscripten::val::array();
  for (std::size_t i = 0; i < s->snapshot_ids.size(); ++i) ids.set(i, s->snapshot_ids[i]);
  o.set("snapshot", ids);
  return o;
}

}  // namespace

EMSCRIPTEN_BINDINGS(arena_app) {
  emscripten::function("start", &start);
  emscripten::function("setKeys", &set_keys);
  emscripten::function("cut", &cut);
  emscripten::function("entities", &entities);
  emscripten::function("stats", &stats);
}
