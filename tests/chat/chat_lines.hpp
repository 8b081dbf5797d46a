// A chat client's view of a room's lines from what it received: live lines
// and history frames in arrival order, a replacing frame starting it over.
#pragma once

#include <chat_protocol.hpp>

#include <variant>
#include <vector>

namespace duplex::test {

// Any version's server messages (2 and later share message and history).
template <class ServerMessage>
std::vector<chat::wire::v2::message> chat_lines(const std::vector<ServerMessage>& seen) {
  std::vector<chat::wire::v2::message> out;
  for (auto& m : seen) {
    if (auto* l = std::get_if<chat::wire::v2::message>(&m)) out.push_back(*l);
    if (auto* h = std::get_if<chat::wire::v2::history>(&m)) {
      if (h->replace) out.clear();
      out.insert(out.end(), h->messages.begin(), h->messages.end());
    }
  }
  return out;
}

}  // namespace duplex::test
