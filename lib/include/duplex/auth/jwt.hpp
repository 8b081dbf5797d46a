// duplex::auth: JWT (RFC 7519) verification on OpenSSL.
//
// Compact JWS only (header.payload.signature), algorithms HS256/HS384/HS512,
// RS256, ES256 and EdDSA (Ed25519). Every key in a key_set is pinned to ONE
// algorithm, decided when the key is loaded; a token's "alg" header must name
// exactly that algorithm, so "none" and the HS256-with-an-RSA-public-key trick
// are refused before any signature is computed.
//
// Key selection uses only the token's "kid" header (and, among keys sharing a
// kid, the issuer each key is bound to): never jku/x5u/jwk headers, never a
// network fetch. Token failures are returned as std::error_code values of
// jwt_errc, never thrown. See docs/auth.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace duplex::auth {

enum class jwt_errc {
  // Token shape and encoding.
  malformed = 1,    // not three non-empty dot-separated parts, or a header without "alg"
  bad_base64,       // a part is not canonical unpadded base64url
  bad_json,         // header or payload is not one JSON object (or repeats a member)
  unsupported,      // the header asks for something not implemented ("crit")
  token_too_long,   // longer than max_token_bytes
  // Algorithm and key.
  alg_none,         // "alg": "none" (unsigned tokens are never accepted)
  alg_mismatch,     // "alg" is not the algorithm the selected key is pinned to
  unknown_key,      // no key has the token's kid (or the set is empty)
  ambiguous_key,    // the token has no kid and the set holds several keys
  bad_signature,    // the signature does not verify (or has the wrong length)
  // Claims.
  expired,           // now >= exp + leeway
  not_yet_valid,     // now + leeway < nbf
  issued_in_future,  // iat > now + leeway
  wrong_issuer,      // iss differs from verify_options::issuer or from the key's bound issuer
  wrong_audience,    // aud does not contain verify_options::audience (or aud is present and none is configured)
  missing_claim,     // exp (require_exp), iss or aud needed by the options (or a bound key) is absent
  bad_claim,         // a registered claim has the wrong JSON type or a date out of range
  // Loading keys.
  key_error,      // a key file or JWK is unreadable as a key, or a key type/curve/alg is unsupported
  weak_key,       // HMAC secret shorter than its hash (HS256: 32 bytes), RSA under 2048 bits
  duplicate_key,  // the (issuer, kid) pair is taken, or a key without kid would not be the only key
};

const std::error_category& jwt_category() noexcept;

inline std::error_code make_error_code(jwt_errc e) noexcept {
  return {static_cast<int>(e), jwt_category()};
}

enum class algorithm { hs256, hs384, hs512, rs256, es256, eddsa };

// The JOSE name: "HS256", ..., "EdDSA".
std::string_view to_string(algorithm a) noexcept;
// Exact (case-sensitive) JOSE name; nullopt for anything else, "none" included.
std::optional<algorithm> parse_algorithm(std::string_view name) noexcept;

// A whole token above this is refused unread (jwt_errc::token_too_long).
inline constexpr std::size_t max_token_bytes = 8 * 1024;
// Decoded header and payload, each (token_too_long).
inline constexpr std::size_t max_part_bytes = 8 * 1024;
// Largest PEM, secret or JWKS input a key_set loads (key_error).
inline constexpr std::size_t max_jwks_bytes = 1024 * 1024;

struct key_options {
  // PEM and secret keys: the kid tokens name this key by. (A JWKS key takes
  // its own "kid"; setting this for load_jwks is std::errc::invalid_argument.)
  std::optional<std::string> kid;
  // Bind every key of this call to one issuer: it then never verifies a
  // token whose "iss" is anything else.
  std::optional<std::string> issuer;
  // Secrets: HS256 (default), HS384 or HS512. PEM: if set, must be the one
  // the key type implies. JWKS: std::errc::invalid_argument (each JWK's own
  // "alg" governs).
  std::optional<algorithm> alg;
};

struct key_info {
  std::optional<std::string> kid;
  std::optional<std::string> issuer;
  algorithm alg{};
};

// Verification keys. Loading is all-or-nothing per call: on an error the set
// is unchanged. Not synchronised for loading; once loaded, any number of
// threads may verify() against the same const key_set. Neither loading nor
// verifying leaves anything on the thread's OpenSSL error queue.
class key_set {
 public:
  key_set();
  key_set(key_set&&) noexcept;
  key_set& operator=(key_set&&) noexcept;
  ~key_set();

  // A PEM file holding a SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") or a
  // certificate ("BEGIN CERTIFICATE"; its key is used, its validity dates
  // and chain are not checked): RSA -> RS256, EC P-256 -> ES256,
  // Ed25519 -> EdDSA. The first such block in the file is used.
  std::error_code load_pem(const std::filesystem::path& file, const key_options& opts = {});
  // An HMAC secret: the file's bytes, minus one trailing "\n" (or "\r\n").
  std::error_code load_secret(const std::filesystem::path& file, const key_options& opts = {});
  // A JWK Set: {"keys": [...]} with kty RSA (n, e), EC (crv P-256, x, y),
  // OKP (crv Ed25519, x) or oct (k). Keys with "use" other than "sig" are
  // skipped; anything else unsupported fails the whole file.
  std::error_code load_jwks(const std::filesystem::path& file, const key_options& opts = {});

  // The same from memory (the secret's bytes are used as given).
  std::error_code add_pem(std::string_view pem, const key_options& opts = {});
  std::error_code add_secret(std::string_view secret, const key_options& opts = {});
  std::error_code add_jwks(std::string_view json, const key_options& opts = {});

  std::size_t size() const noexcept;
  bool empty() const noexcept { return size() == 0; }
  std::vector<key_info> keys() const;

  struct impl;

 private:
  friend const impl& key_set_impl(const key_set&) noexcept;
  std::unique_ptr<impl> impl_;
};

struct verify_options {
  // Required "iss" (exact match) when set.
  std::optional<std::string> issuer;
  // This service's name: "aud" (a string or an array of strings) must
  // contain it. When unset, a token carrying "aud" is refused (RFC 7519
  // 4.1.3: a recipient that is not named in a present aud must reject).
  std::optional<std::string> audience;
  // Clock skew allowed on exp, nbf and iat (negative counts as zero).
  std::chrono::seconds leeway{30};
  bool require_exp = true;
  // The current time; empty means std::chrono::system_clock::now.
  std::function<std::chrono::system_clock::time_point()> now;
};

// The payload of a verified token.
struct claims {
  std::optional<std::string> sub;
  std::optional<std::string> iss;
  std::vector<std::string> aud;  // a string aud becomes one element
  // Fractional dates are rounded towards refusal: exp down, nbf and iat up.
  std::optional<std::chrono::sys_seconds> exp, nbf, iat;
  std::optional<std::string> name;
  // Every top-level member, registered or not, in token order: (name, the
  // value's JSON text). Names are unescaped; values are valid JSON.
  std::vector<std::pair<std::string, std::string>> members;

  // The JSON text of a member, e.g. raw("rooms") -> R"(["a","b"])".
  std::optional<std::string> raw(std::string_view member) const;
  // A member that is an array of strings; nullopt when absent or any other
  // shape.
  std::optional<std::vector<std::string>> string_list(std::string_view member) const;
};

// claims or a jwt_errc (std::expected is C++23).
class verify_result {
 public:
  verify_result(claims c) : v_(std::in_place_index<0>, std::move(c)) {}
  verify_result(std::error_code e) : v_(std::in_place_index<1>, e) {}
  verify_result(jwt_errc e) : v_(std::in_place_index<1>, make_error_code(e)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  claims& value() & { return std::get<0>(v_); }
  const claims& value() const& { return std::get<0>(v_); }
  claims&& value() && { return std::get<0>(std::move(v_)); }
  claims& operator*() & { return value(); }
  const claims& operator*() const& { return value(); }
  claims* operator->() { return &value(); }
  const claims* operator->() const { return &value(); }
  // Empty when ok().
  std::error_code error() const noexcept { return ok() ? std::error_code{} : std::get<1>(v_); }

 private:
  std::variant<claims, std::error_code> v_;
};

verify_result verify(std::string_view token, const key_set& keys, const verify_options& opts = {});

}  // namespace duplex::auth

template <>
struct std::is_error_code_enum<duplex::auth::jwt_errc> : std::true_type {};
