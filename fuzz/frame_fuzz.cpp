// libFuzzer target: the sans-I/O connection, both roles, arbitrary bytes in
// arbitrary chunks. Checks invariants the transport relies on: no crash, no
// event after CLOSED, messages within the size limit, text always UTF-8.
#include <duplex/protocol/connection.hpp>
#include <duplex/protocol/utf8.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  using namespace duplex::protocol;
  const role r = (data[0] & 1) ? role::client : role::server;
  const std::size_t chunk = 1 + (data[1] % 64);
  const std::size_t limit = 1024;
  connection c(r, limit);
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  bool closed = false;
  while (!in.empty()) {
    const std::size_t n = std::min(chunk, in.size());
    c.receive_data(in.substr(0, n));
    in.remove_prefix(n);
    while (auto ev = c.next_event()) {
      if (closed) std::abort();  // nothing after CLOSED
      switch (ev->type) {
        case event::kind::text:
          if (!is_valid_utf8(ev->data)) std::abort();
          [[fallthrough]];
        case event::kind::binary:
          if (ev->data.size() > limit) std::abort();
          c.send(ev->type == event::kind::text ? opcode::text : opcode::binary, ev->data);
          break;
        case event::kind::ping:
        case event::kind::pong:
          if (ev->data.size() > max_control_payload) std::abort();
          break;
        case event::kind::close:
        case event::kind::failed:
          closed = true;
          break;
      }
    }
    if (closed != (c.get_state() == state::closed)) std::abort();
  }
  return 0;
}
