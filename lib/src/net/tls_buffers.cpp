// Smaller TLS buffers per connection (see session.hpp, shrink_tls_buffers()).
// Asio 1.22 sizes them at construction and keeps them private
// (private_access.hpp names them).
#include "private_access.hpp"
#include "session.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>

namespace duplex::detail {

namespace {

using tls_stream = asio::ssl::stream<asio::ip::tcp::socket&>;
struct stream_core_of {
  friend constexpr auto member(stream_core_of);
};
template struct expose<stream_core_of, &tls_stream::core_>;
struct engine_ext_bio {
  friend constexpr auto member(engine_ext_bio);
};
template struct expose<engine_ext_bio, &asio::ssl::detail::engine::ext_bio_>;

}  // namespace

bool shrink_tls_buffers(asio::ssl::stream<asio::ip::tcp::socket&>& s, std::size_t size) noexcept {
  auto& core = s.*member(stream_core_of{});
  // The BIO pair between OpenSSL and the socket's buffers: a new pair of
  // `size` bytes each way replaces Asio's (17 KiB each). SSL_set_bio frees
  // the old internal half; the old external half is freed here.
  BIO* int_bio = nullptr;
  BIO* ext_bio = nullptr;
  if (BIO_new_bio_pair(&int_bio, size, &ext_bio, size) != 1) return false;
  SSL_set_bio(s.native_handle(), int_bio, int_bio);
  BIO*& owned = core.engine_.*member(engine_ext_bio{});
  BIO_free(owned);
  owned = ext_bio;
  // The buffers Asio reads the socket into and writes it from.
  try {
    std::vector<unsigned char>(size).swap(core.output_buffer_space_);
    std::vector<unsigned char>(size).swap(core.input_buffer_space_);
  } catch (...) {
    return false;  // (the old buffers stay, still consistent with their views)
  }
  core.output_buffer_ = asio::buffer(core.output_buffer_space_);
  core.input_buffer_ = asio::buffer(core.input_buffer_space_);
  return true;
}

}  // namespace duplex::detail
