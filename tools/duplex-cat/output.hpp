// What duplex-cat prints: messages on stdout (text as is, binary as hex or
// into a file), status lines on stderr, or with --json one JSON object per
// event on stdout. And the exit status a finished connection maps to.
#pragma once

#include <duplex/net/websocket.hpp>

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

namespace duplex_cat {

// The exit status for a connection that has ended (docs/duplex-cat.md):
// 0 clean close with 1000, 1001 or no code; 1 the peer closed with another
// code; 4 failed (protocol error, timeout) or dropped without a Close.
int exit_status(const duplex::websocket& ws);

struct output_options {
  bool json = false;
  bool quiet = false;         // no status lines on stderr
  std::string binary_file;    // raw binary messages go here when set
};

class output {
 public:
  explicit output(output_options o);

  void listening(std::string_view host, std::uint16_t port);
  // peer: 0 for the client's one connection, else the server's number for it.
  void opened(const duplex::websocket& ws, std::string_view target, std::uint64_t peer);
  void message(const duplex::message& m, std::uint64_t peer);
  void closed(const duplex::websocket& ws, int status, std::uint64_t peer);
  void failed(std::string_view why);  // could not connect or listen
  void flush();

 private:
  output_options opts_;
  std::ofstream binary_;
};

}  // namespace duplex_cat
