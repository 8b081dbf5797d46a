// chat_resume: how long a chat server takes to catch up a client that
// missed N messages (issue 11: 1,000 missed in under 100 ms of server time).
//
// A writer joins a room; a watcher notes the room's (epoch, seq) and goes
// away; the writer says N lines (and waits for the last to come back); then
// a client resumes from the noted position. Measured from sending the resume
// to receiving `resumed` (the client's view, loopback included), checked:
// exactly N lines replayed, seqs contiguous. --rounds R repeats the
// resume R times from the same position. Prints one JSON line. The
// server's own time is in its log ("resume <room> from ...: N replayed in X ms").
#include <chat_protocol.hpp>

#include <duplex/net/client.hpp>
#include <duplex/schema/codec.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace v2 = duplex::chat::wire::v2;
using clock_type = std::chrono::steady_clock;

struct config {
  std::string url = "ws://127.0.0.1:3000/ws/chat";
  std::string room = "bench-resume";
  int missed = 1000;
  int rounds = 5;
};

asio::awaitable<duplex::websocket> open(const config& c) {
  duplex::connect_options o;
  o.subprotocols = {duplex::schema::subprotocol_name<duplex::chat::wire::chat_protocol_v2>()};
  o.websocket.max_message_size = 64 << 20;
  const std::string url = c.url;
  co_return co_await duplex::connect(url, o);
}

// Reads until a message of type M; calls each(m) for every decoded message.
template <class M, class Each>
asio::awaitable<M> read_until(duplex::websocket& ws, Each each) {
  duplex::message in;
  while (co_await ws.read(in)) {
    auto d = duplex::schema::decode<v2::server_message>(in.data);
    if (!d) throw std::runtime_error("undecodable: " + d.error().detail);
    each(*d);
    if (auto* m = std::get_if<M>(&*d)) co_return *m;
  }
  throw std::runtime_error("closed by the server");
}

asio::awaitable<void> run(config c) {
  auto noop = [](const v2::server_message&) {};
  auto writer = co_await open(c);
  const std::string name = "writer" + std::to_string(std::rand() % 100000);
  writer.post(duplex::schema::encode(v2::join{name, c.room, {}}));
  co_await read_until<v2::joined>(writer, noop);

  auto watcher = co_await open(c);
  watcher.post(duplex::schema::encode(v2::watch{c.room}));
  const auto h = co_await read_until<v2::history>(watcher, noop);
  const v2::resume from{c.room, h.epoch, h.seq};
  co_await watcher.close();

  const std::string last = "missed-" + std::to_string(c.missed);
  for (int i = 1; i <= c.missed; ++i)
    writer.post(duplex::schema::encode(duplex::chat::wire::chat{"missed-" + std::to_string(i)}));
  for (;;) {
    const auto m = co_await read_until<v2::message>(writer, noop);
    if (m.text == last) break;
  }

  std::vector<double> ms;
  std::uint64_t replayed = 0;
  bool exact = true;
  for (int r = 0; r < c.rounds; ++r) {
    auto client = co_await open(c);
    std::uint64_t got = 0, next = from.seq + 1;
    const auto t0 = clock_type::now();
    client.post(duplex::schema::encode(from));
    const auto done = co_await read_until<v2::resumed>(client, [&](const v2::server_message& m) {
      if (auto* hh = std::get_if<v2::history>(&m))
        for (auto& l : hh->messages) {
          exact = exact && l.seq == next && !hh->replace;
          ++next, ++got;
        }
    });
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    exact = exact && done.missed == got && got == static_cast<std::uint64_t>(c.missed);
    replayed = got;
    co_await client.close();
  }
  std::sort(ms.begin(), ms.end());
  std::printf("{\"missed\":%d,\"replayed\":%llu,\"exact\":%s,\"rounds\":%d,\"client_ms_min\":%.2f,\"client_ms_median\":%.2f,"
              "\"client_ms_max\":%.2f}\n",
              c.missed, static_cast<unsigned long long>(replayed), exact ? "true" : "false", c.rounds, ms.front(),
              ms[ms.size() / 2], ms.back());
  co_await writer.close();
}

}  // namespace

int main(int argc, char** argv) {
  config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "chat_resume: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--url") c.url = next();
    else if (a == "--room") c.room = next();
    else if (a == "--missed") c.missed = std::atoi(next().c_str());
    else if (a == "--rounds") c.rounds = std::max(1, std::atoi(next().c_str()));
    else {
      std::cerr << "usage: chat_resume [--url U] [--room R] [--missed N] [--rounds R]\n";
      return 2;
    }
  }
  asio::io_context io(1);
  int rc = 0;
  asio::co_spawn(io, run(c), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::cerr << "chat_resume: " << ex.what() << "\n";
      rc = 1;
    }
  });
  io.run();
  return rc;
}
