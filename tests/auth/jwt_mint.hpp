// Minting real JWTs with OpenSSL directly (independently of duplex::auth's
// verification code): base64url, PEM, digest signatures, HMAC, and HS256 /
// ES256 tokens. Shared by tests/auth, tests/server (a server run with
// --auth-jwt) and bench/jwt_bench; link OpenSSL::Crypto.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace duplex::test::jwt {

inline std::string b64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// n random bytes as 2n lowercase hex digits (a secret file's text, like
// `openssl rand -hex 32`).
inline std::string random_hex(std::size_t n) {
  std::string raw(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(n)) != 1) std::abort();
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

inline pkey_ptr ec_p256_key() { return pkey_ptr{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")}; }

// The public half as "-----BEGIN PUBLIC KEY-----" PEM.
inline std::string public_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return s;
}

inline std::string hmac(const EVP_MD* md, std::string_view key, std::string_view input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), out, &len);
  return {reinterpret_cast<const char*>(out), len};
}

// A signature with `k` over `input` (digest `md`, e.g. "SHA256"; nullptr for
// EdDSA); empty if OpenSSL refused.
inline std::string sign_digest(EVP_PKEY* k, const char* md, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  std::string sig;
  if (EVP_DigestSignInit_ex(ctx, nullptr, md, nullptr, nullptr, k, nullptr) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1) {
    sig.resize(len);
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  return sig;
}

// DER ECDSA-Sig-Value -> JWS r || s (32 bytes each).
inline std::string der_to_raw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string out(64, '\0');
  BN_bn2binpad(r, reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_bn2binpad(s, reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return out;
}

inline std::string hs256(std::string_view secret, std::string_view payload_json) {
  const std::string input = b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(payload_json);
  return input + "." + b64url(hmac(EVP_sha256(), secret, input));
}

inline std::string es256(EVP_PKEY* k, std::string_view payload_json) {
  const std::string input = b64url(R"({"alg":"ES256","typ":"JWT"})") + "." + b64url(payload_json);
  return input + "." + b64url(der_to_raw(sign_digest(k, "SHA256", input)));
}

// Seconds since the epoch, now.
inline long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace duplex::test::jwt
