// duplex-ticker: the ticker protocol's server side, on duplex::channel.
// Clients subscribe to symbols; every 500 ms each subscriber gets the quotes
// it asked for, and a made-up market moves. ws://127.0.0.1:9100/ws/ticker
//   duplex-ticker [port]
#include "ticker.hpp"

#include <duplex/net/channel.hpp>
#include <duplex/net/server.hpp>
#include <duplex/schema/codec.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <list>
#include <map>
#include <set>
#include <string>

namespace {

using channel = duplex::channel<ticker::protocol>;

struct subscriber {
  channel* ch;
  std::set<std::string> symbols;
};

struct market {
  std::map<std::string, ticker::quote> book{{"ACME", {"ACME", 12.5, 0, {}, false}},
                                            {"INIT", {"INIT", 99.0, 0, {}, false}}};
  std::list<subscriber> subscribers;
  std::int64_t seq = 0;

  void tick() {
    for (auto& [_, q] : book) {
      const bool up = (seq + q.symbol.size()) % 3 != 0;
      q.price = up ? q.price * 1.01 : q.price * 0.99;
      q.volume += 100;
      q.last = up ? ticker::side::buy : ticker::side::sell;
    }
    ++seq;
    for (auto& s : subscribers) {
      ticker::quotes out{seq, {}};
      for (const auto& sym : s.symbols)
        if (auto it = book.find(sym); it != book.end()) out.items.push_back(it->second);
      if (!out.items.empty()) s.ch->post(out);
    }
  }
};

asio::awaitable<void> serve(market& m, duplex::websocket ws) {
  auto ch = co_await channel::accept(std::move(ws));
  if (!ch) co_return;
  auto me = m.subscribers.insert(m.subscribers.end(), subscriber{&*ch, {}});
  ch->post(ticker::status{ticker::market_state::open, "welcome"});
  while (auto in = co_await ch->read()) {
    if (!*in) {
      ch->post(ticker::error{"bad_message", in->error().detail});
      continue;
    }
    if (auto* s = std::get_if<ticker::subscribe>(&**in)) me->symbols.insert(s->symbols.begin(), s->symbols.end());
    if (auto* u = std::get_if<ticker::unsubscribe>(&**in))
      for (const auto& sym : u->symbols) me->symbols.erase(sym);
  }
  m.subscribers.erase(me);
}

asio::awaitable<void> clock(market& m) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (;;) {
    t.expires_after(std::chrono::milliseconds(500));
    co_await t.async_wait(asio::use_awaitable);
    m.tick();
  }
}

}  // namespace

int main(int argc, char** argv) {
  asio::io_context io(1);
  duplex::server_options opts;
  opts.host = "127.0.0.1";
  opts.port = argc > 1 ? static_cast<std::uint16_t>(std::atoi(argv[1])) : 9100;
  duplex::server srv(io, opts);
  market m;
  srv.websocket("/ws/ticker", [&m](duplex::websocket ws) { return serve(m, std::move(ws)); },
                duplex::protocol_endpoint<ticker::protocol>());
  asio::co_spawn(io, srv.run(), asio::detached);
  asio::co_spawn(io, clock(m), asio::detached);
  std::cout << "duplex-ticker on ws://127.0.0.1:" << srv.port() << "/ws/ticker" << std::endl;
  io.run();
}
