// poll-server: the poll's native side on duplex::channel. Serves the page
// (web/ next to this program, or --web DIR) and ws://HOST:PORT/ws/poll:
// every page gets the tally at once and again after each vote; a voter
// counts once.
//   poll-server [--port 8080] [--host 127.0.0.1] [--web DIR]
#include "poll.hpp"

#include <duplex/net/channel.hpp>
#include <duplex/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/signal_set.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <list>
#include <set>
#include <string>
#include <string_view>

namespace {

using channel = duplex::channel<live_poll::protocol>;

struct poll_state {
  live_poll::tally tally{"Lunch at the new place?",
                         {{live_poll::mood::yes, 0}, {live_poll::mood::no, 0}, {live_poll::mood::maybe, 0}}};
  std::set<std::string> voters;
  std::list<channel*> pages;

  void count(const live_poll::vote& v) {
    for (auto& c : tally.counts)
      if (c.choice == v.choice) c.votes += v.weight;
    const auto update = channel::prepare(tally);  // encoded once for every page
    for (channel* page : pages) page->post(update);
  }
};

asio::awaitable<void> serve(poll_state& state, duplex::websocket ws) {
  auto ch = co_await channel::accept(std::move(ws));
  if (!ch) co_return;  // the page speaks another version: closed with 4406
  std::cout << "page connected (" << (ch->binary() ? "binary" : "JSON") << ")" << std::endl;
  const auto me = state.pages.insert(state.pages.end(), &*ch);
  ch->post(state.tally);
  while (auto in = co_await ch->read()) {
    if (!*in) {  // breaks the protocol's rules: say which, keep the connection
      ch->post(live_poll::refusal{"bad_message", in->error().detail});
      continue;
    }
    const auto& v = std::get<live_poll::vote>(**in);
    if (!state.voters.insert(v.voter).second) {
      ch->post(live_poll::refusal{"already_voted", v.voter + " has voted already"});
      continue;
    }
    state.count(v);
  }
  state.pages.erase(me);
}

}  // namespace

int main(int argc, char** argv) {
  duplex::server_options opts;
  opts.port = 8080;
  opts.root = std::filesystem::path(argv[0]).parent_path() / "web";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--port") opts.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    else if (flag == "--host") opts.host = argv[i + 1];
    else if (flag == "--web") opts.root = argv[i + 1];
    else {
      std::cerr << "usage: poll-server [--port 8080] [--host 127.0.0.1] [--web DIR]\n";
      return 2;
    }
  }
  asio::io_context io(1);
  duplex::server srv(io, opts);
  poll_state state;
  srv.websocket("/ws/poll", [&state](duplex::websocket ws) { return serve(state, std::move(ws)); },
                duplex::protocol_endpoint<live_poll::protocol>());  // subprotocol duplex.poll.v1
  asio::co_spawn(io, srv.run(), asio::detached);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });
  std::cout << "poll-server on http://" << opts.host << ":" << srv.port() << "/ (page from " << opts.root.string()
            << ")" << std::endl;
  io.run();
}
