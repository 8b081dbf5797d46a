// Compiled and linked with nothing but `pkg-config --cflags --libs duplex`:
// the sans-I/O core, whose accept_key() needs OpenSSL from the .pc file's Requires.
#include <duplex/protocol/handshake.hpp>

#include <iostream>

int main() {
  // RFC 6455 §1.3's example key.
  const bool ok = duplex::protocol::accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
  std::cout << (ok ? "pkg-config build ok" : "wrong accept key") << "\n";
  return ok ? 0 : 1;
}
