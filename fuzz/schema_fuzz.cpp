// libFuzzer target: the generic schema decoders, JSON and binary, through
// several protocols (the chat, the ticker example with enums, doubles,
// optionals and nested objects). Whatever decodes as JSON must re-encode and
// decode to the same value (the codec is lossless on its own output);
// whatever decodes as binary must re-encode to the very same bytes (one
// encoding per value); whatever fails must say why.
#include <chat_protocol.hpp>

#include <duplex/schema/binary.hpp>
#include <duplex/schema/codec.hpp>

#include <ticker.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

template <class Variant>
void round_trip(std::string_view in) {
  using namespace duplex::schema;
  auto r = decode<Variant>(in);
  if (!r) {
    if (r.error().detail.empty() || to_string(r.error().code) == "unknown") std::abort();
    return;
  }
  auto again = decode<Variant>(encode(*r));
  if (!again || !(*again == *r)) std::abort();
}

template <class Variant>
void binary_round_trip(std::string_view in) {
  using namespace duplex::schema;
  auto r = decode_binary<Variant>(in);
  if (!r) {
    if (r.error().detail.empty()) std::abort();
    return;
  }
  if (encode_binary(*r) != in) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  round_trip<duplex::chat::wire::chat_protocol::client_message>(in);
  round_trip<duplex::chat::wire::chat_protocol::server_message>(in);
  round_trip<ticker::protocol::client_message>(in);
  round_trip<ticker::protocol::server_message>(in);
  binary_round_trip<duplex::chat::wire::chat_protocol_v5::client_message>(in);
  binary_round_trip<duplex::chat::wire::chat_protocol_v5::server_message>(in);
  binary_round_trip<ticker::protocol::client_message>(in);
  binary_round_trip<ticker::protocol::server_message>(in);
  return 0;
}
