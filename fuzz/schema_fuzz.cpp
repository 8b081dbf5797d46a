// libFuzzer target: the chat schema decoder. Whatever decodes must re-encode
// and decode to the same value (the codec is lossless on its own output).
#include <duplex/schema/chat.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace duplex::schema;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto c = decode_client(in)) {
    auto again = decode_client(encode(*c));
    if (!again || *again != *c) std::abort();
  }
  if (auto s = decode_server(in)) {
    auto again = decode_server(encode(*s));
    if (!again || *again != *s) std::abort();
  }
  return 0;
}
