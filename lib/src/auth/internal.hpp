// Shared by the duplex::auth sources: OpenSSL handles, the key set's
// representation, base64url and the JSON walk. Not installed.
#pragma once

#include <duplex/auth/jwt.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <simdjson.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <duplex/schema/codec.hpp>

namespace duplex::auth {

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

struct key_entry {
  std::optional<std::string> kid;
  std::optional<std::string> issuer;
  algorithm alg{};
  // Exactly one of these is set: pkey for RS256/ES256/EdDSA, secret for HS*.
  pkey_ptr pkey;
  std::string secret;

  key_entry() = default;
  key_entry(key_entry&&) = default;
  key_entry& operator=(key_entry&&) = default;
  // A secret should not outlive its key in freed heap memory.
  ~key_entry() { OPENSSL_cleanse(secret.data(), secret.size()); }
};

struct key_set::impl {
  std::vector<key_entry> keys;
};

const key_set::impl& key_set_impl(const key_set& s) noexcept;

// Canonical unpadded base64url (RFC 7515 section 2) to bytes: nullopt for
// any character outside A-Z a-z 0-9 - _ (padding included), a length of
// 4n+1, or nonzero unused bits in the last character (which would give one
// value several spellings).
std::optional<std::string> base64url_decode(std::string_view in);

namespace json {

namespace od = simdjson::ondemand;

// Nesting limit of header, payload and JWKS (the top-level object is 1).
inline constexpr int max_depth = 32;

// A per-thread parser and a padded copy of the input.
struct reader {
  od::parser parser;
  std::string buffer;
  od::document doc;
  // Parses `text` (copied into buffer); the top level must be an object.
  simdjson::error_code open(std::string_view text, od::object& out);
  // After the walk: the object must be the whole document.
  simdjson::error_code finish();
};
reader& thread_reader();

// The schema codec's strict walk: check_value() validates a value nobody
// reads (on-demand parsing otherwise skips it by its brackets), and
// is_json_number() holds a token to RFC 8259's grammar (simdjson's number
// readers accept a few tokens outside it, such as a leading zero).
using schema::detail::check_value;
using schema::detail::is_json_number;
using schema::detail::trim_ws;

// Reads a string value; INCORRECT_TYPE for any other type.
simdjson::error_code get_string(od::value& v, std::string& out);

}  // namespace json

}  // namespace duplex::auth
