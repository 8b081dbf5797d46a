// The page's C++ half, compiled with em++ from the same poll.hpp as the
// server: its own connection (duplex::wasm::channel<live_poll::protocol>) reading
// typed tallies and sending typed votes. The page calls what
// EMSCRIPTEN_BINDINGS exports below:
//   const app = await createPollApp();
//   app.watch('ws://host/ws/poll', (text) => ...);  // a line per tally
//   app.vote('ada', 'maybe', 2);                     // '' when sent, else why not
#include "poll.hpp"

#include <duplex/schema/codec.hpp>
#include <duplex/wasm/channel.hpp>

#include <emscripten/bind.h>

#include <optional>
#include <string>
#include <string_view>

namespace {

using channel = duplex::wasm::channel<live_poll::protocol>;

std::optional<channel> connection;
emscripten::val on_line = emscripten::val::null();

void say(const std::string& line) {
  if (!on_line.isNull()) on_line(line);
}

std::string_view name_of(live_poll::mood m) {
  for (const auto& [name, value] : duplex::schema::description<live_poll::mood>.values)
    if (value == m) return name;
  return "?";
}

std::string summary(const live_poll::tally& t) {
  std::string out;
  const live_poll::option_count* lead = nullptr;
  std::int64_t total = 0;
  for (const auto& c : t.counts) {
    total += c.votes;
    if (!lead || c.votes > lead->votes) lead = &c;
  }
  out = std::to_string(total) + " votes";
  if (lead && lead->votes > 0) out += ", " + std::string(name_of(lead->choice)) + " leads";
  return out;
}

duplex::wasm::task read_tallies() {
  while (auto in = co_await connection->read()) {
    if (!*in) {
      say("unreadable message: " + in->error().detail);
      continue;
    }
    if (const auto* t = std::get_if<live_poll::tally>(&**in)) say(summary(*t));
    if (const auto* r = std::get_if<live_poll::refusal>(&**in)) say("refused: " + r->code);
  }
  say(connection->version_refused() ? "this page is out of date: reload" : "disconnected");
}

void watch(const std::string& url, emscripten::val callback) {
  on_line = std::move(callback);
  connection.emplace(channel::connect(url));
  read_tallies();
}

// Built in C++, checked against the protocol's rules the way the server's
// decoder will check it, sent only if it passes.
std::string vote(const std::string& voter, const std::string& choice, int weight) {
  if (!connection || connection->socket().state() != duplex::wasm::socket_state::open) return "not connected";
  live_poll::vote v{voter, live_poll::mood::yes, weight, std::nullopt};
  bool known = false;
  for (const auto& [name, value] : duplex::schema::description<live_poll::mood>.values)
    if (name == choice) v.choice = value, known = true;
  if (!known) return "choice: no such option";
  const live_poll::protocol::client_message m = v;
  if (auto checked = duplex::schema::decode<live_poll::protocol::client_message>(duplex::schema::encode(m)); !checked)
    return checked.error().detail;  // names the field: "weight: 9 is out of range ..."
  return connection->post(m) ? "the browser refused to send" : "";
}

}  // namespace

EMSCRIPTEN_BINDINGS(poll_app) {
  emscripten::function("watch", &watch);
  emscripten::function("vote", &vote);
}
