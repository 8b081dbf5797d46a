// duplex::auth against real keys: RSA 2048, EC P-256, Ed25519 and random
// HMAC secrets generated with OpenSSL when the suite starts, written to PEM,
// JWKS and secret files, and tokens minted here with EVP_DigestSign / HMAC
// (independently of the library's verification code), plus one signature
// made by the `openssl` command line.
#include <duplex/auth/jwt.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "jwt_mint.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

namespace auth = duplex::auth;
namespace fs = std::filesystem;
using auth::jwt_errc;
using namespace std::chrono_literals;
using namespace duplex::test::jwt;  // b64url, public_pem, sign_digest, der_to_raw, hmac

namespace {

// The fixed "now" of every check: 2023-11-14T22:13:20Z.
constexpr long long T = 1'700'000'000;
const std::chrono::system_clock::time_point now_tp{std::chrono::seconds{T}};

std::string b64url_decode(std::string_view in) {
  std::string std64(in);
  for (char& c : std64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (std64.size() % 4) std64 += '=';
  std::string out(std64.size() / 4 * 3, '\0');
  EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(std64.data()),
                  static_cast<int>(std64.size()));
  out.resize(in.size() * 3 / 4);
  return out;
}

pkey_ptr rsa_key(std::size_t bits = 2048) { return pkey_ptr{EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits)}; }
pkey_ptr ec_key(const char* curve = "P-256") { return pkey_ptr{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)}; }
pkey_ptr ed_key() { return pkey_ptr{EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")}; }

std::string random_bytes(std::size_t n) {
  std::string s(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n)) != 1) std::abort();
  return s;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return {data, static_cast<std::size_t>(n)};
}

std::string private_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
  auto s = bio_text(bio);
  BIO_free(bio);
  return s;
}

// A self-signed certificate for `k`, as an identity provider publishes.
std::string certificate_pem(EVP_PKEY* k) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, k);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("issuer.test"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, k, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  auto s = bio_text(bio);
  BIO_free(bio);
  X509_free(x);
  return s;
}

std::string bn_param(EVP_PKEY* k, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  std::string out(pad ? static_cast<std::size_t>(pad) : static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  if (pad) BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad);
  else BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

std::string jwk_rsa(EVP_PKEY* k, std::string_view kid) {
  return R"({"kty":"RSA","kid":")" + std::string(kid) + R"(","use":"sig","n":")" +
         b64url(bn_param(k, OSSL_PKEY_PARAM_RSA_N)) + R"(","e":")" + b64url(bn_param(k, OSSL_PKEY_PARAM_RSA_E)) +
         R"("})";
}

std::string jwk_ec(EVP_PKEY* k, std::string_view kid, std::string_view extra = "") {
  return R"({"kty":"EC","crv":"P-256","kid":")" + std::string(kid) + R"(","x":")" +
         b64url(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, 32)) + R"(","y":")" +
         b64url(bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + "\"" + std::string(extra) + "}";
}

std::string jwk_ed(EVP_PKEY* k, std::string_view kid) {
  unsigned char raw[32];
  std::size_t len = sizeof raw;
  EVP_PKEY_get_raw_public_key(k, raw, &len);
  return R"({"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":")" + std::string(kid) + R"(","x":")" +
         b64url({reinterpret_cast<const char*>(raw), len}) + R"("})";
}

std::string jwk_oct(std::string_view secret, std::string_view kid, std::string_view alg) {
  return R"({"kty":"oct","kid":")" + std::string(kid) + R"(","alg":")" + std::string(alg) + R"(","k":")" +
         b64url(secret) + R"("})";
}

// What signs: an asymmetric private key or an HMAC secret.
struct signer {
  EVP_PKEY* pkey = nullptr;
  std::string secret;
};

// The signature bytes `alg` produces over `input`; "none" gives none.
std::string sign(std::string_view alg, const signer& s, std::string_view input) {
  if (alg == "HS256") return hmac(EVP_sha256(), s.secret, input);
  if (alg == "HS384") return hmac(EVP_sha384(), s.secret, input);
  if (alg == "HS512") return hmac(EVP_sha512(), s.secret, input);
  if (alg == "RS256") return sign_digest(s.pkey, "SHA256", input);
  if (alg == "ES256") return der_to_raw(sign_digest(s.pkey, "SHA256", input));
  if (alg == "EdDSA") return sign_digest(s.pkey, nullptr, input);
  return "";
}

std::string header_json(std::string_view alg, const std::optional<std::string>& kid) {
  std::string h = R"({"alg":")" + std::string(alg) + R"(","typ":"JWT")";
  if (kid) h += R"(,"kid":")" + *kid + "\"";
  return h + "}";
}

// A token over exactly these header and payload bytes.
std::string mint_raw(std::string_view header, std::string_view payload, std::string_view alg, const signer& s) {
  const std::string input = b64url(header) + "." + b64url(payload);
  return input + "." + b64url(sign(alg, s, input));
}

std::string mint(std::string_view alg, const signer& s, std::string_view payload,
                 const std::optional<std::string>& kid = std::nullopt) {
  return mint_raw(header_json(alg, kid), payload, alg, s);
}

// A valid payload at T; `extra` members are appended.
std::string payload(std::string_view extra = "") {
  std::string p = R"({"sub":"alice","iss":"https://issuer.test","iat":)" + std::to_string(T) +
                  R"(,"exp":)" + std::to_string(T + 600);
  if (!extra.empty()) p += "," + std::string(extra);
  return p + "}";
}

std::string dates(long long exp_offset, std::string_view more = "") {
  std::string p = R"({"sub":"alice","exp":)" + std::to_string(T + exp_offset);
  if (!more.empty()) p += "," + std::string(more);
  return p + "}";
}

auth::verify_options at_t() {
  auth::verify_options o;
  o.now = [] { return now_tp; };
  return o;
}

std::error_code check(std::string_view token, const auth::key_set& keys, const auth::verify_options& o = at_t()) {
  return auth::verify(token, keys, o).error();
}

void write_file(const fs::path& p, std::string_view text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Replaces one base64url part of a token (0 header, 1 payload, 2 signature).
std::string with_part(const std::string& token, int part, const std::string& value) {
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  std::string parts[3] = {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1)};
  parts[part] = value;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

std::string part(const std::string& token, int i) {
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  return i == 0 ? token.substr(0, d1) : i == 1 ? token.substr(d1 + 1, d2 - d1 - 1) : token.substr(d2 + 1);
}

class Jwt : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("duplex-auth-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    rsa_ = rsa_key().release();
    rsa2_ = rsa_key().release();
    ec_ = ec_key().release();
    ec2_ = ec_key().release();
    ed_ = ed_key().release();
    ed2_ = ed_key().release();
    secret_ = new std::string(random_bytes(32));
    // load_secret drops a final "\n" or "\r\n": a secret ending in '\r'
    // (1 run in 256) would lose a byte of key material to that rule.
    if (secret_->back() == '\r') secret_->back() = 'r';
    ASSERT_TRUE(rsa_ && rsa2_ && ec_ && ec2_ && ed_ && ed2_);
    write_file(*dir_ / "rsa.pem", public_pem(rsa_));
    write_file(*dir_ / "rsa-cert.pem", certificate_pem(rsa_));
    write_file(*dir_ / "ec.pem", public_pem(ec_));
    write_file(*dir_ / "ed.pem", public_pem(ed_));
    // As `echo`/an editor leaves it: the newline is not key material.
    write_file(*dir_ / "secret", *secret_ + "\n");
  }
  static void TearDownTestSuite() {
    for (EVP_PKEY* k : {rsa_, rsa2_, ec_, ec2_, ed_, ed2_}) EVP_PKEY_free(k);
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
    delete secret_;
  }

  static fs::path path(const char* name) { return *dir_ / name; }
  static auth::key_set pem_set(const char* file, auth::key_options o = {}) {
    auth::key_set s;
    EXPECT_FALSE(s.load_pem(path(file), o));
    return s;
  }
  static auth::key_set secret_set(std::string_view secret, auth::key_options o = {}) {
    auth::key_set s;
    EXPECT_FALSE(s.add_secret(secret, o));
    return s;
  }

  static inline fs::path* dir_ = nullptr;
  static inline EVP_PKEY* rsa_ = nullptr;
  static inline EVP_PKEY* rsa2_ = nullptr;
  static inline EVP_PKEY* ec_ = nullptr;
  static inline EVP_PKEY* ec2_ = nullptr;
  static inline EVP_PKEY* ed_ = nullptr;
  static inline EVP_PKEY* ed2_ = nullptr;
  static inline std::string* secret_ = nullptr;
};

// ---- every algorithm verifies -------------------------------------------------

TEST_F(Jwt, Hs256FromSecretFileVerifies) {
  auth::key_set keys;
  ASSERT_FALSE(keys.load_secret(path("secret")));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys.keys()[0].alg, auth::algorithm::hs256);
  const auto r = auth::verify(mint("HS256", {.secret = *secret_}, payload()), keys, at_t());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->sub, "alice");
  // Signed with the newline included, it is another key.
  EXPECT_EQ(check(mint("HS256", {.secret = *secret_ + "\n"}, payload()), keys), jwt_errc::bad_signature);
}

TEST_F(Jwt, Hs384AndHs512FromSecretFilesVerify) {
  const std::string s384 = random_bytes(48), s512 = random_bytes(64);
  write_file(path("s384"), s384);
  write_file(path("s512"), s512 + "\r\n");
  auth::key_set k384, k512;
  ASSERT_FALSE(k384.load_secret(path("s384"), {.alg = auth::algorithm::hs384}));
  ASSERT_FALSE(k512.load_secret(path("s512"), {.alg = auth::algorithm::hs512}));
  EXPECT_FALSE(check(mint("HS384", {.secret = s384}, payload()), k384));
  EXPECT_FALSE(check(mint("HS512", {.secret = s512}, payload()), k512));
  // Each key verifies its own algorithm only.
  EXPECT_EQ(check(mint("HS256", {.secret = s512}, payload()), k512), jwt_errc::alg_mismatch);
}

TEST_F(Jwt, Rs256FromPublicKeyPemVerifies) {
  const auto keys = pem_set("rsa.pem");
  EXPECT_EQ(keys.keys()[0].alg, auth::algorithm::rs256);
  const auto r = auth::verify(mint("RS256", {.pkey = rsa_}, payload()), keys, at_t());
  EXPECT_TRUE(r) << r.error().message();
}

TEST_F(Jwt, Rs256FromCertificatePemVerifies) {
  const auto keys = pem_set("rsa-cert.pem");
  EXPECT_FALSE(check(mint("RS256", {.pkey = rsa_}, payload()), keys));
  EXPECT_EQ(check(mint("RS256", {.pkey = rsa2_}, payload()), keys), jwt_errc::bad_signature);
}

TEST_F(Jwt, Es256FromPemVerifies) {
  const auto keys = pem_set("ec.pem");
  EXPECT_EQ(keys.keys()[0].alg, auth::algorithm::es256);
  EXPECT_FALSE(check(mint("ES256", {.pkey = ec_}, payload()), keys));
}

TEST_F(Jwt, EdDsaFromPemVerifies) {
  const auto keys = pem_set("ed.pem");
  EXPECT_EQ(keys.keys()[0].alg, auth::algorithm::eddsa);
  EXPECT_FALSE(check(mint("EdDSA", {.pkey = ed_}, payload()), keys));
}

TEST_F(Jwt, JwksKeysVerifyEveryAlgorithmByKid) {
  const std::string s256 = random_bytes(32), s512 = random_bytes(64);
  write_file(path("keys.jwks"), R"({"keys":[)" + jwk_rsa(rsa_, "r1") + "," + jwk_ec(ec_, "e1") + "," +
                                    jwk_ed(ed_, "d1") + "," + jwk_oct(s256, "h1", "HS256") + "," +
                                    jwk_oct(s512, "h5", "HS512") + R"(],"extra":{"ignored":[1,2]}})");
  auth::key_set keys;
  ASSERT_FALSE(keys.load_jwks(path("keys.jwks")));
  ASSERT_EQ(keys.size(), 5u);
  std::vector<std::string> algs;
  for (const auto& k : keys.keys()) algs.emplace_back(auth::to_string(k.alg));
  EXPECT_EQ(algs, (std::vector<std::string>{"RS256", "ES256", "EdDSA", "HS256", "HS512"}));

  EXPECT_FALSE(check(mint("RS256", {.pkey = rsa_}, payload(), "r1"), keys));
  EXPECT_FALSE(check(mint("ES256", {.pkey = ec_}, payload(), "e1"), keys));
  EXPECT_FALSE(check(mint("EdDSA", {.pkey = ed_}, payload(), "d1"), keys));
  EXPECT_FALSE(check(mint("HS256", {.secret = s256}, payload(), "h1"), keys));
  EXPECT_FALSE(check(mint("HS512", {.secret = s512}, payload(), "h5"), keys));
  // The kid picks the key; another key's signature under it fails.
  EXPECT_EQ(check(mint("ES256", {.pkey = ec2_}, payload(), "e1"), keys), jwt_errc::bad_signature);
  // And the kid's key pins the algorithm.
  EXPECT_EQ(check(mint("HS256", {.secret = s256}, payload(), "h5"), keys), jwt_errc::alg_mismatch);
}

TEST_F(Jwt, ClaimsAreReturned) {
  const auto keys = pem_set("ed.pem");
  const std::string body = R"({"sub":"al\u0069ce","iss":"https://issuer.test","aud":["chat","admin"],)"
                           R"("exp":)" + std::to_string(T + 60) + R"(,"nbf":)" + std::to_string(T - 5) +
                           R"(,"iat":)" + std::to_string(T - 10) +
                           R"(,"name":"Alice \"A\"","rooms":["lobby", "dev"],"level":3,"meta":{"a":[true,null]}})";
  auto o = at_t();
  o.audience = "chat";
  const auto r = auth::verify(mint("EdDSA", {.pkey = ed_}, body), keys, o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->sub, "alice");
  EXPECT_EQ(r->iss, "https://issuer.test");
  EXPECT_EQ(r->aud, (std::vector<std::string>{"chat", "admin"}));
  EXPECT_EQ(r->exp, std::chrono::sys_seconds{std::chrono::seconds{T + 60}});
  EXPECT_EQ(r->nbf, std::chrono::sys_seconds{std::chrono::seconds{T - 5}});
  EXPECT_EQ(r->iat, std::chrono::sys_seconds{std::chrono::seconds{T - 10}});
  EXPECT_EQ(r->name, "Alice \"A\"");
  EXPECT_EQ(r->raw("rooms"), R"(["lobby", "dev"])");
  EXPECT_EQ(r->raw("level"), "3");
  EXPECT_EQ(r->raw("meta"), R"({"a":[true,null]})");
  EXPECT_EQ(r->raw("sub"), R"("al\u0069ce")");
  EXPECT_EQ(r->raw("missing"), std::nullopt);
  EXPECT_EQ(r->string_list("rooms"), (std::vector<std::string>{"lobby", "dev"}));
  EXPECT_EQ(r->string_list("aud"), (std::vector<std::string>{"chat", "admin"}));
  EXPECT_EQ(r->string_list("level"), std::nullopt);
  EXPECT_EQ(r->string_list("meta"), std::nullopt);
  EXPECT_EQ(r->string_list("missing"), std::nullopt);
  ASSERT_EQ(r->members.size(), 10u);
  EXPECT_EQ(r->members[0].first, "sub");
}

TEST_F(Jwt, ArrayWithANonStringIsNoStringList) {
  const auto keys = pem_set("ed.pem");
  const auto r = auth::verify(mint("EdDSA", {.pkey = ed_}, payload(R"("rooms":["a",1])")), keys, at_t());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->string_list("rooms"), std::nullopt);
  EXPECT_EQ(r->raw("rooms"), R"(["a",1])");
}

// ---- signatures ---------------------------------------------------------------

TEST_F(Jwt, FlippedSignatureByteIsBadSignature) {
  struct cse {
    const char* alg;
    signer s;
    auth::key_set keys;
  };
  cse cases[] = {
      {"HS256", {.secret = *secret_}, secret_set(*secret_)},
      {"RS256", {.pkey = rsa_}, pem_set("rsa.pem")},
      {"ES256", {.pkey = ec_}, pem_set("ec.pem")},
      {"EdDSA", {.pkey = ed_}, pem_set("ed.pem")},
  };
  for (auto& c : cases) {
    const std::string token = mint(c.alg, c.s, payload());
    ASSERT_FALSE(check(token, c.keys)) << c.alg;
    auto sig = b64url_decode(part(token, 2));
    for (std::size_t at : {std::size_t{0}, sig.size() / 2, sig.size() - 1}) {
      auto bad = sig;
      bad[at] = static_cast<char>(bad[at] ^ 0x01);
      EXPECT_EQ(check(with_part(token, 2, b64url(bad)), c.keys), jwt_errc::bad_signature) << c.alg << " byte " << at;
    }
  }
}

TEST_F(Jwt, ChangedPayloadIsBadSignature) {
  const auto keys = pem_set("rsa.pem");
  const std::string token = mint("RS256", {.pkey = rsa_}, payload());
  const std::string forged = with_part(token, 1, b64url(R"({"sub":"admin","exp":)" + std::to_string(T + 600) + "}"));
  EXPECT_EQ(check(forged, keys), jwt_errc::bad_signature);
}

TEST_F(Jwt, AnotherKeyOfTheSameTypeIsBadSignature) {
  EXPECT_EQ(check(mint("RS256", {.pkey = rsa2_}, payload()), pem_set("rsa.pem")), jwt_errc::bad_signature);
  EXPECT_EQ(check(mint("ES256", {.pkey = ec2_}, payload()), pem_set("ec.pem")), jwt_errc::bad_signature);
  EXPECT_EQ(check(mint("EdDSA", {.pkey = ed2_}, payload()), pem_set("ed.pem")), jwt_errc::bad_signature);
  EXPECT_EQ(check(mint("HS256", {.secret = random_bytes(32)}, payload()), secret_set(*secret_)),
            jwt_errc::bad_signature);
}

TEST_F(Jwt, Es256SignatureMustBeRawAndSixtyFourBytes) {
  const auto keys = pem_set("ec.pem");
  const std::string input = b64url(header_json("ES256", std::nullopt)) + "." + b64url(payload());
  const std::string der = sign_digest(ec_, "SHA256", input);
  const std::string raw = der_to_raw(der);
  ASSERT_FALSE(check(input + "." + b64url(raw), keys));
  // A DER signature (what OpenSSL produces) is not a JWS signature, even
  // though it is valid over the same bytes.
  EXPECT_EQ(check(input + "." + b64url(der), keys), jwt_errc::bad_signature);
  EXPECT_EQ(check(input + "." + b64url(raw.substr(0, 63)), keys), jwt_errc::bad_signature);
  EXPECT_EQ(check(input + "." + b64url(raw + '\0'), keys), jwt_errc::bad_signature);
  EXPECT_EQ(check(input + ".", keys), jwt_errc::bad_signature);
}

TEST_F(Jwt, TruncatedSignaturesAreBadSignature) {
  const auto rsa = pem_set("rsa.pem");
  const std::string rs = mint("RS256", {.pkey = rsa_}, payload());
  const auto rs_sig = b64url_decode(part(rs, 2));
  EXPECT_EQ(check(with_part(rs, 2, b64url(rs_sig.substr(1))), rsa), jwt_errc::bad_signature);
  const auto hs = secret_set(*secret_);
  const std::string h = mint("HS256", {.secret = *secret_}, payload());
  EXPECT_EQ(check(with_part(h, 2, b64url(b64url_decode(part(h, 2)).substr(0, 16))), hs), jwt_errc::bad_signature);
  EXPECT_EQ(check(with_part(h, 2, ""), hs), jwt_errc::bad_signature);
}

// The calling thread's OpenSSL error queue after `f`: a TLS connection
// served on the same thread reads it, so it must hold exactly what the
// caller had queued before (here one marker error), nothing of ours.
template <class F>
bool error_queue_untouched(F&& f) {
  ERR_clear_error();
  ERR_raise(ERR_LIB_USER, 42);
  const unsigned long marker = ERR_peek_last_error();
  f();
  const bool same = ERR_get_error() == marker && ERR_get_error() == 0;
  ERR_clear_error();
  return same;
}

TEST_F(Jwt, OpenSslErrorQueueIsLeftAsFound) {
  const auto rsa = pem_set("rsa.pem");
  const auto ec = pem_set("ec.pem");
  const std::string rs = mint("RS256", {.pkey = rsa2_}, payload());
  const std::string es = mint("ES256", {.pkey = ec2_}, payload());
  EXPECT_TRUE(error_queue_untouched([&] { EXPECT_EQ(check(rs, rsa), jwt_errc::bad_signature); }));
  EXPECT_TRUE(error_queue_untouched([&] { EXPECT_EQ(check(es, ec), jwt_errc::bad_signature); }));
  EXPECT_TRUE(error_queue_untouched([&] { EXPECT_FALSE(check(mint("ES256", {.pkey = ec_}, payload()), ec)); }));
  auth::key_set bad;
  EXPECT_TRUE(error_queue_untouched([&] {
    EXPECT_EQ(bad.add_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), jwt_errc::key_error);
  }));
  EXPECT_TRUE(error_queue_untouched([&] {
    EXPECT_EQ(bad.add_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + b64url(std::string(32, '\1')) +
                           R"(","y":")" + b64url(std::string(32, '\1')) + R"("}]})"),
              jwt_errc::key_error);
  }));
  // A certificate file: the public-key read fails first, then the certificate is read.
  EXPECT_TRUE(error_queue_untouched([&] { EXPECT_FALSE(bad.load_pem(path("rsa-cert.pem"))); }));
}

TEST_F(Jwt, OpensslCommandLineSignatureVerifies) {
  write_file(path("rsa-private.pem"), private_pem(rsa_));
  const std::string input = b64url(header_json("RS256", "cli")) + "." + b64url(payload());
  write_file(path("input"), input);
  const std::string cmd = "openssl dgst -sha256 -sign '" + path("rsa-private.pem").string() + "' -out '" +
                          path("cli.sig").string() + "' '" + path("input").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string sig = read_file(path("cli.sig"));
  ASSERT_EQ(sig.size(), 256u);
  // PKCS #1 v1.5 is deterministic: the CLI and EVP_DigestSign agree byte for byte.
  EXPECT_EQ(sig, sign_digest(rsa_, "SHA256", input));
  const auto keys = pem_set("rsa.pem", {.kid = "cli"});
  const auto r = auth::verify(input + "." + b64url(sig), keys, at_t());
  EXPECT_TRUE(r) << r.error().message();
}

// ---- algorithm pinning ----------------------------------------------------------

TEST_F(Jwt, AlgNoneIsRefused) {
  const auto keys = secret_set(*secret_);
  EXPECT_EQ(check(mint("none", {}, payload()), keys), jwt_errc::alg_none);
  EXPECT_EQ(check(mint_raw(R"({"alg":"NONE"})", payload(), "none", {}), keys), jwt_errc::alg_none);
  // With a signature attached it is still unsigned as far as alg says.
  const std::string signed_none = mint_raw(R"({"alg":"none"})", payload(), "HS256", {.secret = *secret_});
  EXPECT_EQ(check(signed_none, keys), jwt_errc::alg_none);
}

TEST_F(Jwt, Hs256SignedWithTheRsaPublicKeyPemIsAlgMismatch) {
  // The classic confusion: a verifier that lets the token choose HMAC would
  // use the RSA key's public PEM bytes as the secret, which anyone has.
  const auto keys = pem_set("rsa.pem");
  const std::string pem_bytes = read_file(path("rsa.pem"));
  EXPECT_EQ(check(mint("HS256", {.secret = pem_bytes}, payload()), keys), jwt_errc::alg_mismatch);
  const auto with_kid = pem_set("rsa.pem", {.kid = "r"});
  EXPECT_EQ(check(mint("HS256", {.secret = pem_bytes}, payload(), "r"), with_kid), jwt_errc::alg_mismatch);
}

TEST_F(Jwt, OtherAlgorithmsThanTheKeysAreAlgMismatch) {
  EXPECT_EQ(check(mint("RS256", {.pkey = rsa_}, payload()), pem_set("ec.pem")), jwt_errc::alg_mismatch);
  EXPECT_EQ(check(mint("ES256", {.pkey = ec_}, payload()), pem_set("rsa.pem")), jwt_errc::alg_mismatch);
  EXPECT_EQ(check(mint("RS256", {.pkey = rsa_}, payload()), secret_set(*secret_)), jwt_errc::alg_mismatch);
  const std::string body = payload();
  EXPECT_EQ(check(mint_raw(R"({"alg":"RS512"})", body, "RS256", {.pkey = rsa_}), pem_set("rsa.pem")),
            jwt_errc::alg_mismatch);
  EXPECT_EQ(check(mint_raw(R"({"alg":"rs256"})", body, "RS256", {.pkey = rsa_}), pem_set("rsa.pem")),
            jwt_errc::alg_mismatch);
}

// ---- key selection --------------------------------------------------------------

TEST_F(Jwt, UnknownKidIsUnknownKeyWithoutFallback) {
  auth::key_set keys;
  ASSERT_FALSE(keys.load_pem(path("ec.pem"), {.kid = "k1"}));
  EXPECT_FALSE(check(mint("ES256", {.pkey = ec_}, payload(), "k1"), keys));
  EXPECT_EQ(check(mint("ES256", {.pkey = ec_}, payload(), "k2"), keys), jwt_errc::unknown_key);
  // A kid never falls back to the only key when that key has no kid.
  EXPECT_EQ(check(mint("ES256", {.pkey = ec_}, payload(), "k1"), pem_set("ec.pem")), jwt_errc::unknown_key);
  EXPECT_EQ(check(mint("ES256", {.pkey = ec_}, payload()), auth::key_set{}), jwt_errc::unknown_key);
}

TEST_F(Jwt, NoKidWithSeveralKeysIsAmbiguous) {
  auth::key_set keys;
  ASSERT_FALSE(keys.load_pem(path("ec.pem"), {.kid = "a"}));
  ASSERT_FALSE(keys.load_pem(path("ed.pem"), {.kid = "b"}));
  EXPECT_EQ(check(mint("ES256", {.pkey = ec_}, payload()), keys), jwt_errc::ambiguous_key);
  EXPECT_FALSE(check(mint("ES256", {.pkey = ec_}, payload(), "a"), keys));
  // One key, even with a kid, serves a token without one.
  EXPECT_FALSE(check(mint("ES256", {.pkey = ec_}, payload()), pem_set("ec.pem", {.kid = "a"})));
}

TEST_F(Jwt, IssuerBoundKeyRefusesAnotherIssuersToken) {
  auth::key_set keys;
  ASSERT_FALSE(keys.load_pem(path("ec.pem"), {.kid = "k", .issuer = "https://a.test"}));
  const auto a = mint("ES256", {.pkey = ec_}, R"({"iss":"https://a.test","exp":)" + std::to_string(T + 60) + "}", "k");
  const auto b = mint("ES256", {.pkey = ec_}, R"({"iss":"https://b.test","exp":)" + std::to_string(T + 60) + "}", "k");
  const auto none = mint("ES256", {.pkey = ec_}, R"({"exp":)" + std::to_string(T + 60) + "}", "k");
  EXPECT_FALSE(check(a, keys));
  // Validly signed by the key, but the key only speaks for issuer A.
  EXPECT_EQ(check(b, keys), jwt_errc::wrong_issuer);
  EXPECT_EQ(check(none, keys), jwt_errc::missing_claim);
}

TEST_F(Jwt, KeysAreLookedUpByIssuerAndKid) {
  // Two issuers both publish kid "1" (a cache keyed by kid alone would let
  // one issuer's key answer for the other).
  auth::key_set keys;
  ASSERT_FALSE(keys.add_jwks(R"({"keys":[)" + jwk_ec(ec_, "1") + "]}", {.issuer = "https://a.test"}));
  ASSERT_FALSE(keys.add_jwks(R"({"keys":[)" + jwk_ec(ec2_, "1") + "]}", {.issuer = "https://b.test"}));
  ASSERT_EQ(keys.size(), 2u);
  const auto body = [](const char* iss) {
    return R"({"iss":")" + std::string(iss) + R"(","exp":)" + std::to_string(T + 60) + "}";
  };
  EXPECT_FALSE(check(mint("ES256", {.pkey = ec_}, body("https://a.test"), "1"), keys));
  EXPECT_FALSE(check(mint("ES256", {.pkey = ec2_}, body("https://b.test"), "1"), keys));
  // A's key signing a token that claims to be B's: checked with B's key.
  EXPECT_EQ(check(mint("ES256", {.pkey = ec_}, body("https://b.test"), "1"), keys), jwt_errc::bad_signature);
  EXPECT_EQ(check(mint("ES256", {.pkey = ec_}, body("https://c.test"), "1"), keys), jwt_errc::wrong_issuer);
}

// ---- time claims ----------------------------------------------------------------

TEST_F(Jwt, ExpiryHonoursLeewayAtTheBoundary) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  EXPECT_FALSE(check(mint("HS256", s, dates(-29)), keys));
  EXPECT_EQ(check(mint("HS256", s, dates(-30)), keys), jwt_errc::expired);
  EXPECT_EQ(check(mint("HS256", s, dates(-3600)), keys), jwt_errc::expired);
  auto strict = at_t();
  strict.leeway = 0s;
  EXPECT_FALSE(check(mint("HS256", s, dates(1)), keys, strict));
  EXPECT_EQ(check(mint("HS256", s, dates(0)), keys, strict), jwt_errc::expired);
  auto wide = at_t();
  wide.leeway = 120s;
  EXPECT_FALSE(check(mint("HS256", s, dates(-119)), keys, wide));
  EXPECT_EQ(check(mint("HS256", s, dates(-120)), keys, wide), jwt_errc::expired);
}

TEST_F(Jwt, NotBeforeHonoursLeewayAtTheBoundary) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  EXPECT_FALSE(check(mint("HS256", s, dates(600, R"("nbf":)" + std::to_string(T + 30))), keys));
  EXPECT_EQ(check(mint("HS256", s, dates(600, R"("nbf":)" + std::to_string(T + 31))), keys), jwt_errc::not_yet_valid);
  EXPECT_EQ(check(mint("HS256", s, dates(600, R"("nbf":)" + std::to_string(T + 3600))), keys),
            jwt_errc::not_yet_valid);
}

TEST_F(Jwt, IssuedInTheFutureHonoursLeewayAtTheBoundary) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  EXPECT_FALSE(check(mint("HS256", s, dates(600, R"("iat":)" + std::to_string(T + 30))), keys));
  EXPECT_EQ(check(mint("HS256", s, dates(600, R"("iat":)" + std::to_string(T + 31))), keys),
            jwt_errc::issued_in_future);
}

TEST_F(Jwt, FractionalDatesRoundTowardsRefusal) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  // exp T-29.5 rounds down to T-30: expired at the 30 s leeway.
  EXPECT_EQ(check(mint("HS256", s, R"({"exp":)" + std::to_string(T - 30) + ".5}"), keys), jwt_errc::expired);
  EXPECT_FALSE(check(mint("HS256", s, R"({"exp":)" + std::to_string(T - 29) + ".5}"), keys));
  // nbf T+30.25 rounds up to T+31: not yet.
  EXPECT_EQ(check(mint("HS256", s, dates(600, R"("nbf":)" + std::to_string(T + 30) + ".25")), keys),
            jwt_errc::not_yet_valid);
  // Far-future dates (beyond system_clock's nanosecond range, year 2262).
  EXPECT_FALSE(check(mint("HS256", s, R"({"exp":1.7e10})"), keys));
  EXPECT_FALSE(check(mint("HS256", s, R"({"exp":253402300799})"), keys));
  EXPECT_EQ(check(mint("HS256", s, R"({"exp":253402300800})"), keys), jwt_errc::bad_claim);
}

TEST_F(Jwt, MissingExpIsRefusedUnlessNotRequired) {
  const auto keys = secret_set(*secret_);
  const std::string token = mint("HS256", {.secret = *secret_}, R"({"sub":"alice"})");
  EXPECT_EQ(check(token, keys), jwt_errc::missing_claim);
  auto o = at_t();
  o.require_exp = false;
  EXPECT_FALSE(check(token, keys, o));
}

TEST_F(Jwt, DefaultClockIsTheSystemClock) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_FALSE(auth::verify(mint("HS256", s, R"({"exp":)" + std::to_string(now + 300) + "}"), keys).error());
  // T is in 2023: long expired for the real clock.
  EXPECT_EQ(auth::verify(mint("HS256", s, dates(600)), keys).error(), jwt_errc::expired);
}

// ---- issuer and audience --------------------------------------------------------

TEST_F(Jwt, IssuerMustMatchExactly) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  auto o = at_t();
  o.issuer = "https://issuer.test";
  EXPECT_FALSE(check(mint("HS256", s, payload()), keys, o));
  EXPECT_EQ(check(mint("HS256", s, dates(600, R"("iss":"https://issuer.test/")")), keys, o), jwt_errc::wrong_issuer);
  EXPECT_EQ(check(mint("HS256", s, dates(600, R"("iss":"https://evil.test")")), keys, o), jwt_errc::wrong_issuer);
  EXPECT_EQ(check(mint("HS256", s, dates(600)), keys, o), jwt_errc::missing_claim);
}

TEST_F(Jwt, AudienceStringOrArray) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  auto o = at_t();
  o.audience = "chat";
  EXPECT_FALSE(check(mint("HS256", s, payload(R"("aud":"chat")")), keys, o));
  EXPECT_FALSE(check(mint("HS256", s, payload(R"("aud":["billing","chat"])")), keys, o));
  EXPECT_EQ(check(mint("HS256", s, payload(R"("aud":"billing")")), keys, o), jwt_errc::wrong_audience);
  EXPECT_EQ(check(mint("HS256", s, payload(R"("aud":["billing","Chat"])")), keys, o), jwt_errc::wrong_audience);
  EXPECT_EQ(check(mint("HS256", s, payload(R"("aud":[])")), keys, o), jwt_errc::wrong_audience);
  EXPECT_EQ(check(mint("HS256", s, payload()), keys, o), jwt_errc::missing_claim);
  // Meant for someone, and this verifier has not said it is that someone.
  EXPECT_EQ(check(mint("HS256", s, payload(R"("aud":"chat")")), keys), jwt_errc::wrong_audience);
}

// ---- shape and encoding ---------------------------------------------------------

TEST_F(Jwt, MalformedTokens) {
  const auto keys = secret_set(*secret_);
  const std::string token = mint("HS256", {.secret = *secret_}, payload());
  const std::string h = part(token, 0), p = part(token, 1), sig = part(token, 2);
  ASSERT_FALSE(check(token, keys));
  EXPECT_EQ(check("", keys), jwt_errc::malformed);
  EXPECT_EQ(check(h + "." + p, keys), jwt_errc::malformed);
  EXPECT_EQ(check(token + "." + sig, keys), jwt_errc::malformed);
  EXPECT_EQ(check(h, keys), jwt_errc::malformed);
  EXPECT_EQ(check("." + p + "." + sig, keys), jwt_errc::malformed);
  EXPECT_EQ(check(h + ".." + sig, keys), jwt_errc::malformed);
  EXPECT_EQ(check("..", keys), jwt_errc::malformed);
  // A header without alg.
  EXPECT_EQ(check(mint_raw(R"({"typ":"JWT"})", payload(), "HS256", {.secret = *secret_}), keys), jwt_errc::malformed);
  EXPECT_EQ(check(mint_raw(R"({"alg":256})", payload(), "HS256", {.secret = *secret_}), keys), jwt_errc::malformed);
}

TEST_F(Jwt, NonCanonicalBase64IsRefused) {
  const auto keys = secret_set(*secret_);
  const std::string token = mint("HS256", {.secret = *secret_}, payload());
  const std::string p = part(token, 1);
  // Standard-alphabet characters, padding, junk, 4n+1 length.
  EXPECT_EQ(check(with_part(token, 1, p + "+"), keys), jwt_errc::bad_base64);
  EXPECT_EQ(check(with_part(token, 1, "e30="), keys), jwt_errc::bad_base64);
  EXPECT_EQ(check(with_part(token, 1, "e3/9"), keys), jwt_errc::bad_base64);
  EXPECT_EQ(check(with_part(token, 1, "e30 "), keys), jwt_errc::bad_base64);
  EXPECT_EQ(check(with_part(token, 1, "e30!"), keys), jwt_errc::bad_base64);
  EXPECT_EQ(check(with_part(token, 1, "e30xx"), keys), jwt_errc::bad_base64);
  // "{}" is e30; e31 has the same bytes with nonzero unused bits.
  EXPECT_EQ(check(with_part(token, 1, "e31"), keys), jwt_errc::bad_base64);
  EXPECT_EQ(check(with_part(token, 2, part(token, 2) + "="), keys), jwt_errc::bad_base64);
  EXPECT_EQ(check(with_part(token, 0, "eyJhbGciOiJIUzI1NiJ9\n"), keys), jwt_errc::bad_base64);
  // The decoder itself is exact: "{}" (e30) reaches the claim checks.
  EXPECT_EQ(check(mint("HS256", {.secret = *secret_}, "{}"), keys), jwt_errc::missing_claim);
}

TEST_F(Jwt, BadJsonIsRefused) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  const std::string good_header = header_json("HS256", std::nullopt);
  const std::string exp = std::to_string(T + 60);
  for (const std::string& body : {
           std::string("[1]"),
           std::string(R"("alice")"),
           std::string("{"),
           R"({"exp":)" + exp + "} x",
           R"({"exp":)" + exp + R"(,"sub":"a","sub":"b"})",
           R"({"exp":)" + exp + R"(,"rooms":[tru]})",
           R"({"exp":)" + exp + R"(,"n":01})",
           R"({"exp":)" + exp + R"(,"deep":)" + std::string(40, '[') + std::string(40, ']') + "}",
           R"({"exp":)" + exp + ",\"bad\":\"\xff\"}",
       }) {
    EXPECT_EQ(check(mint_raw(good_header, body, "HS256", s), keys), jwt_errc::bad_json) << body;
  }
  EXPECT_EQ(check(mint_raw("not json", payload(), "HS256", s), keys), jwt_errc::bad_json);
  EXPECT_EQ(check(mint_raw(R"({"alg":"HS256","alg":"none"})", payload(), "HS256", s), keys), jwt_errc::bad_json);
  EXPECT_EQ(check(mint_raw(R"({"alg":"HS256","x5c":[nul]})", payload(), "HS256", s), keys), jwt_errc::bad_json);
}

TEST_F(Jwt, RegisteredClaimsOfTheWrongTypeAreBadClaim) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  const std::string exp = R"("exp":)" + std::to_string(T + 60);
  for (const std::string& body : {
           std::string(R"({"exp":")") + std::to_string(T + 60) + "\"}",
           std::string(R"({"exp":1e20})"),
           std::string(R"({"exp":-1})"),
           std::string(R"({"exp":1e400})"),
           "{" + exp + R"(,"nbf":true})",
           "{" + exp + R"(,"sub":42})",
           "{" + exp + R"(,"iss":null})",
           "{" + exp + R"(,"aud":["chat",1]})",
           "{" + exp + R"(,"aud":{"x":"chat"}})",
       }) {
    EXPECT_EQ(check(mint("HS256", s, body), keys), jwt_errc::bad_claim) << body;
  }
}

TEST_F(Jwt, CritHeaderIsUnsupported) {
  const auto keys = secret_set(*secret_);
  EXPECT_EQ(check(mint_raw(R"({"alg":"HS256","b64":false,"crit":["b64"]})", payload(), "HS256", {.secret = *secret_}),
                  keys),
            jwt_errc::unsupported);
}

TEST_F(Jwt, TokenLengthLimitIsEightKibibytes) {
  const auto keys = secret_set(*secret_);
  const signer s{.secret = *secret_};
  // Base64 grows in steps of one or two characters, so two padded members
  // (one in the header, one in the payload) are needed to land on the limit.
  const auto sized = [&](std::size_t hpad, std::size_t ppad) {
    return mint_raw(R"({"alg":"HS256","p":")" + std::string(hpad, 'y') + "\"}",
                    payload(R"("pad":")" + std::string(ppad, 'x') + "\""), "HS256", s);
  };
  std::optional<std::pair<std::size_t, std::size_t>> at_limit;
  for (std::size_t h = 0; h < 4 && !at_limit; ++h) {
    std::size_t p = (auth::max_token_bytes - sized(h, 0).size()) * 3 / 4 - 8;
    while (sized(h, p + 1).size() <= auth::max_token_bytes) ++p;
    if (sized(h, p).size() == auth::max_token_bytes) at_limit.emplace(h, p);
  }
  ASSERT_TRUE(at_limit);
  EXPECT_FALSE(check(sized(at_limit->first, at_limit->second), keys));
  const std::string over = sized(at_limit->first, at_limit->second + 1);
  ASSERT_GT(over.size(), auth::max_token_bytes);
  EXPECT_EQ(check(over, keys), jwt_errc::token_too_long);
  EXPECT_EQ(check(std::string(1 << 20, 'a'), keys), jwt_errc::token_too_long);
}

// ---- loading keys -----------------------------------------------------------------

TEST_F(Jwt, ShortSecretsAreWeakKeys) {
  auth::key_set keys;
  EXPECT_EQ(keys.add_secret(random_bytes(31)), jwt_errc::weak_key);
  EXPECT_EQ(keys.add_secret(random_bytes(47), {.alg = auth::algorithm::hs384}), jwt_errc::weak_key);
  EXPECT_EQ(keys.add_secret(random_bytes(63), {.alg = auth::algorithm::hs512}), jwt_errc::weak_key);
  // 31 bytes plus the newline that load_secret strips.
  write_file(path("short"), random_bytes(31) + "\n");
  EXPECT_EQ(keys.load_secret(path("short")), jwt_errc::weak_key);
  write_file(path("empty"), "");
  EXPECT_EQ(keys.load_secret(path("empty")), jwt_errc::weak_key);
  EXPECT_EQ(keys.add_jwks(R"({"keys":[)" + jwk_oct(random_bytes(16), "h", "HS256") + "]}"), jwt_errc::weak_key);
  EXPECT_EQ(keys.size(), 0u);
  EXPECT_FALSE(keys.add_secret(random_bytes(32)));
}

TEST_F(Jwt, UnusablePemFilesAreKeyErrors) {
  auth::key_set keys;
  EXPECT_EQ(keys.add_pem("not a pem"), jwt_errc::key_error);
  // A private key: verifiers get public keys only.
  EXPECT_EQ(keys.add_pem(private_pem(ec_)), jwt_errc::key_error);
  const auto p384 = ec_key("P-384");
  EXPECT_EQ(keys.add_pem(public_pem(p384.get())), jwt_errc::key_error);
  const auto ed448 = pkey_ptr{EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448")};
  EXPECT_EQ(keys.add_pem(public_pem(ed448.get())), jwt_errc::key_error);
  const auto small = rsa_key(1024);
  EXPECT_EQ(keys.add_pem(public_pem(small.get())), jwt_errc::weak_key);
  // The configured algorithm must be the key's.
  EXPECT_EQ(keys.load_pem(path("rsa.pem"), {.alg = auth::algorithm::es256}), jwt_errc::key_error);
  EXPECT_EQ(keys.add_secret(*secret_, {.alg = auth::algorithm::rs256}), jwt_errc::key_error);
  EXPECT_EQ(keys.load_pem(path("no-such-file.pem")), std::errc::no_such_file_or_directory);
  EXPECT_EQ(keys.size(), 0u);
  EXPECT_FALSE(keys.load_pem(path("rsa.pem"), {.alg = auth::algorithm::rs256}));
}

TEST_F(Jwt, UnusableJwksAreKeyErrors) {
  auth::key_set keys;
  const std::string ec = jwk_ec(ec_, "e");
  auto x_of = [&](std::size_t n) {
    return R"({"kty":"EC","crv":"P-256","x":")" + b64url(std::string(n, '\1')) + R"(","y":")" +
           b64url(std::string(32, '\1')) + R"("})";
  };
  for (const std::string& jwks : {
           std::string("not json"),
           std::string("[]"),
           std::string(R"({"keys":[]})"),
           std::string(R"({"other":[]})"),
           std::string(R"({"keys":{}})"),
           R"({"keys":[)" + ec + R"(],"keys":[]})",
           std::string(R"({"keys":[{"kty":"XYZ","k":"AAAA"}]})"),
           std::string(R"({"keys":[{"k":"AAAA"}]})"),
           R"({"keys":[)" + jwk_ec(ec_, "e", R"(,"alg":"RS256")") + "]}",
           R"({"keys":[)" + jwk_ec(ec_, "e", R"(,"crv":"P-256")") + "]}",
           R"({"keys":[)" + x_of(31) + "]}",
           // 32-byte coordinates that are not a point on the curve.
           R"({"keys":[)" + x_of(32) + "]}",
           std::string(R"({"keys":[{"kty":"EC","crv":"P-384","x":"AAAA","y":"AAAA"}]})"),
           std::string(R"({"keys":[{"kty":"OKP","crv":"Ed448","x":"AAAA"}]})"),
           std::string(R"({"keys":[{"kty":"RSA","n":"AQAB"}]})"),
           std::string(R"({"keys":[{"kty":"oct","k":"A+B/"}]})"),
           std::string(R"({"keys":[{"kty":"oct","alg":"RS256","k":")") + b64url(random_bytes(32)) + "\"}]}",
       }) {
    EXPECT_EQ(keys.add_jwks(jwks), jwt_errc::key_error) << jwks;
  }
  // An even modulus is no RSA key (EVP_PKEY_public_check; fromdata alone takes it).
  std::string n = bn_param(rsa_, OSSL_PKEY_PARAM_RSA_N);
  n.back() = static_cast<char>(n.back() & ~1);
  EXPECT_EQ(keys.add_jwks(R"({"keys":[{"kty":"RSA","n":")" + b64url(n) + R"(","e":"AQAB"}]})"), jwt_errc::key_error);
  // A kid/alg option makes no sense for a JWKS (each JWK has its own).
  EXPECT_EQ(keys.add_jwks(R"({"keys":[)" + ec + "]}", {.kid = "x"}), std::errc::invalid_argument);
  EXPECT_EQ(keys.size(), 0u);
}

TEST_F(Jwt, JwksEncryptionKeysAreSkipped) {
  auth::key_set keys;
  const std::string enc = R"({"kty":"RSA","use":"enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"})";
  EXPECT_EQ(keys.add_jwks(R"({"keys":[)" + enc + "]}"), jwt_errc::key_error);  // nothing usable
  ASSERT_FALSE(keys.add_jwks(R"({"keys":[)" + enc + "," + jwk_ec(ec_, "e") + "]}"));
  EXPECT_EQ(keys.size(), 1u);
  EXPECT_FALSE(check(mint("ES256", {.pkey = ec_}, payload(), "e"), keys));
}

TEST_F(Jwt, ConflictingKeysAreRefusedAndLoadingIsAllOrNothing) {
  auth::key_set keys;
  ASSERT_FALSE(keys.load_pem(path("ec.pem"), {.kid = "a"}));
  EXPECT_EQ(keys.load_pem(path("ed.pem"), {.kid = "a"}), jwt_errc::duplicate_key);
  // The same kid under another issuer is another key.
  EXPECT_FALSE(keys.load_pem(path("ed.pem"), {.kid = "a", .issuer = "https://b.test"}));
  EXPECT_EQ(keys.load_pem(path("ed.pem"), {.kid = "a", .issuer = "https://b.test"}), jwt_errc::duplicate_key);
  // A key without kid could only ever serve as the one key of a set.
  EXPECT_EQ(keys.load_pem(path("rsa.pem")), jwt_errc::duplicate_key);
  // One bad JWK fails the file; the good one before it is not added.
  EXPECT_EQ(keys.add_jwks(R"({"keys":[)" + jwk_rsa(rsa_, "r") + R"(,{"kty":"EC","crv":"P-521"}]})"),
            jwt_errc::key_error);
  EXPECT_EQ(keys.add_jwks(R"({"keys":[)" + jwk_rsa(rsa_, "r") + "," + jwk_ed(ed_, "r") + "]}"),
            jwt_errc::duplicate_key);
  EXPECT_EQ(keys.size(), 2u);
  auth::key_set single;
  ASSERT_FALSE(single.load_pem(path("rsa.pem")));
  EXPECT_EQ(single.load_pem(path("ec.pem"), {.kid = "b"}), jwt_errc::duplicate_key);
}

TEST_F(Jwt, ErrorCodesAreDistinctAndNamed) {
  EXPECT_STREQ(auth::jwt_category().name(), "duplex.auth");
  std::vector<std::string> messages;
  for (int v = static_cast<int>(jwt_errc::malformed); v <= static_cast<int>(jwt_errc::duplicate_key); ++v) {
    const std::error_code ec = static_cast<jwt_errc>(v);
    EXPECT_NE(ec.message(), "unknown duplex.auth error") << v;
    for (const auto& m : messages) EXPECT_NE(m, ec.message()) << v;
    messages.push_back(ec.message());
  }
  EXPECT_EQ(messages.size(), 20u);
  const auth::verify_result r = jwt_errc::expired;
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error(), jwt_errc::expired);
  EXPECT_NE(r.error(), std::errc::invalid_argument);
}

TEST_F(Jwt, OneKeySetServesManyThreads) {
  auth::key_set keys;
  ASSERT_FALSE(keys.load_pem(path("ec.pem"), {.kid = "e"}));
  ASSERT_FALSE(keys.add_secret(*secret_, {.kid = "h"}));
  const std::string es = mint("ES256", {.pkey = ec_}, payload(), "e");
  const std::string hs = mint("HS256", {.secret = *secret_}, payload(), "h");
  const std::string bad = mint("HS256", {.secret = random_bytes(32)}, payload(), "h");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (check(es, keys) || check(hs, keys) || check(bad, keys) != jwt_errc::bad_signature) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
