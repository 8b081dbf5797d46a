// duplex::auth verification throughput on one thread: tokens minted here
// with OpenSSL (fresh keys each run), each verified in a loop for a fixed
// time, with every result checked so a failing verify cannot pass as fast.
//
//   jwt_bench [seconds_per_algorithm=1]
#include <duplex/auth/jwt.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "jwt_mint.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace auth = duplex::auth;
using hclock = std::chrono::steady_clock;
using namespace duplex::test::jwt;  // minting: b64url, public_pem, sign_digest, der_to_raw

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "jwt_bench: %s\n", what);
  std::exit(1);
}

// A realistic chat token: subject, issuer, audience, dates, a room list.
std::string signing_input(const char* alg) {
  const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string header = std::string(R"({"alg":")") + alg + R"(","typ":"JWT","kid":"k1"})";
  const std::string payload = R"({"sub":"user-1234","iss":"https://id.example.com","aud":"chat","iat":)" +
                              std::to_string(now) + R"(,"exp":)" + std::to_string(now + 3600) +
                              R"(,"name":"Alice","rooms":["lobby","dev","random"]})";
  return b64url(header) + "." + b64url(payload);
}

void run(const char* alg, const std::string& token, const auth::key_set& keys, double seconds) {
  auth::verify_options opts;
  opts.issuer = "https://id.example.com";
  opts.audience = "chat";
  if (auto r = auth::verify(token, keys, opts); !r) die(r.error().message().c_str());
  long long n = 0;
  const auto start = hclock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 64; ++i, ++n)
      if (!auth::verify(token, keys, opts)) die("verification failed inside the loop");
    elapsed = std::chrono::duration<double>(hclock::now() - start).count();
  }
  std::printf("%-6s %6zu-byte token  %10.0f verifications/s  %7.2f us each\n", alg, token.size(), n / elapsed,
              1e6 * elapsed / static_cast<double>(n));
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;

  std::string secret(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), 32) != 1) die("RAND_bytes");
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
  EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!ec || !rsa || !ed) die("keygen");

  struct alg_case {
    const char* alg;
    std::string token;
    auth::key_set keys;
  } cases[4];
  const auto with_kid = [] {
    auth::key_options o;
    o.kid = "k1";
    return o;
  };

  cases[0].alg = "HS256";
  {
    const auto in = signing_input("HS256");
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), 32, reinterpret_cast<const unsigned char*>(in.data()), in.size(), mac, &len);
    cases[0].token = in + "." + b64url({reinterpret_cast<const char*>(mac), len});
    if (cases[0].keys.add_secret(secret, with_kid())) die("add_secret");
  }
  cases[1].alg = "ES256";
  cases[1].token = signing_input("ES256");
  cases[1].token += "." + b64url(der_to_raw(sign_digest(ec, "SHA256", cases[1].token)));
  if (cases[1].keys.add_pem(public_pem(ec), with_kid())) die("add_pem ec");
  cases[2].alg = "RS256";
  cases[2].token = signing_input("RS256");
  cases[2].token += "." + b64url(sign_digest(rsa, "SHA256", cases[2].token));
  if (cases[2].keys.add_pem(public_pem(rsa), with_kid())) die("add_pem rsa");
  cases[3].alg = "EdDSA";
  cases[3].token = signing_input("EdDSA");
  cases[3].token += "." + b64url(sign_digest(ed, nullptr, cases[3].token));
  if (cases[3].keys.add_pem(public_pem(ed), with_kid())) die("add_pem ed");

  std::printf("duplex::auth verify(), one thread, %.1f s per algorithm (%s)\n", seconds, OpenSSL_version(OPENSSL_VERSION));
  for (auto& c : cases) run(c.alg, c.token, c.keys, seconds);
  EVP_PKEY_free(ec);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ed);
}
