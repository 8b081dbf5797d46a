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

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace auth = duplex::auth;
using hclock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "jwt_bench: %s\n", what);
  std::exit(1);
}

std::string b64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::string public_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return s;
}

std::string sign_digest(EVP_PKEY* k, const char* md, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  std::string sig;
  if (EVP_DigestSignInit_ex(ctx, nullptr, md, nullptr, nullptr, k, nullptr) != 1 ||
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    die("sign");
  sig.resize(len);
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

std::string der_to_raw(const std::string& der) {
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
