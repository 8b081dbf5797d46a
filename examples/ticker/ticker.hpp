// A live market ticker, defined once for the server and the browser: this
// header is the whole protocol. The codec, the browser client's JS face, the
// TypeScript declarations and the JSON Schema all come from it
// (examples/ticker/CMakeLists.txt shows the two CMake lines that build them).
#pragma once

#include <duplex/schema/describe.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace ticker {

using duplex::schema::field;
using duplex::schema::object;

inline constexpr duplex::schema::rules symbol{.min_bytes = 1, .max_bytes = 12};

enum class side { buy, sell };
constexpr auto describe(const side*) { return duplex::schema::enumeration<side>("buy", side::buy, "sell", side::sell); }

enum class market_state { open, closed, halted };
constexpr auto describe(const market_state*) {
  return duplex::schema::enumeration<market_state>("open", market_state::open, "closed", market_state::closed,
                                                    "halted", market_state::halted);
}

// ---- client -> server ----

// {"type":"subscribe","symbols":["ACME","INIT"]}
struct subscribe {
  std::vector<std::string> symbols;
  friend bool operator==(const subscribe&, const subscribe&) = default;
};
constexpr auto describe(const subscribe*) {
  auto each = symbol;
  each.max_items = 50;
  return object<subscribe>("subscribe", field("symbols", &subscribe::symbols, each));
}

// {"type":"unsubscribe","symbols":["ACME"]}
struct unsubscribe {
  std::vector<std::string> symbols;
  friend bool operator==(const unsubscribe&, const unsubscribe&) = default;
};
constexpr auto describe(const unsubscribe*) {
  auto each = symbol;
  each.max_items = 50;
  return object<unsubscribe>("unsubscribe", field("symbols", &unsubscribe::symbols, each));
}

// ---- server -> client ----

// One instrument's last trade (nested in quotes).
struct quote {
  std::string symbol;
  double price = 0;            // > 0
  std::int64_t volume = 0;     // shares traded today, >= 0
  std::optional<side> last;    // who took the last trade, when known
  bool halted = false;
  friend bool operator==(const quote&, const quote&) = default;
};
constexpr auto describe(const quote*) {
  return object<quote>("quote", field("symbol", &quote::symbol, symbol),
                       field("price", &quote::price, {.min_real = 0.0001, .max_real = 1e9}),
                       field("volume", &quote::volume, {.min = 0}), field("last", &quote::last),
                       field("halted", &quote::halted));
}

// {"type":"quotes","seq":7,"items":[{"symbol":"ACME","price":12.5,"volume":900,"last":"buy","halted":false}]}
struct quotes {
  std::int64_t seq = 0;
  std::vector<quote> items;
  friend bool operator==(const quotes&, const quotes&) = default;
};
constexpr auto describe(const quotes*) {
  return object<quotes>("quotes", field("seq", &quotes::seq, {.min = 0}),
                        field("items", &quotes::items, {.max_items = 500}));
}

// {"type":"status","state":"halted","note":"circuit breaker"}
struct status {
  market_state state = market_state::open;
  std::optional<std::string> note;
  friend bool operator==(const status&, const status&) = default;
};
constexpr auto describe(const status*) {
  return object<status>("status", field("state", &status::state), field("note", &status::note, {.max_bytes = 200}));
}

// {"type":"error","code":"bad_message","message":"symbols[0]: empty"}
struct error {
  std::string code;
  std::string message;
  friend bool operator==(const error&, const error&) = default;
};
constexpr auto describe(const error*) {
  return object<error>("error", field("code", &error::code, {.min_bytes = 1}), field("message", &error::message));
}

struct protocol {
  static constexpr std::string_view name = "ticker";
  static constexpr unsigned version = 1;
  using client_message = std::variant<subscribe, unsubscribe>;
  using server_message = std::variant<quotes, status, error>;
};

}  // namespace ticker
