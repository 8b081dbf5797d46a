// Loading verification keys: PEM (public key or certificate), HMAC secrets
// and JWK Sets. Each key gets its one algorithm here; verify() only compares.
#include "internal.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <utility>

namespace duplex::auth {

namespace {

std::error_code err(jwt_errc e) { return make_error_code(e); }

// OpenSSL reports failures on a per-thread error queue. A caller serving TLS
// on the same thread reads that queue after its own calls (SSL_get_error),
// so the queue is left as it was found: none of our errors, all of theirs.
struct openssl_error_mark {
  openssl_error_mark() { ERR_set_mark(); }
  openssl_error_mark(const openssl_error_mark&) = delete;
  openssl_error_mark& operator=(const openssl_error_mark&) = delete;
  ~openssl_error_mark() { ERR_pop_to_mark(); }
};

struct bio_free {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct x509_free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct bld_free {
  void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
};
struct param_free {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;
using bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, bld_free>;

std::size_t min_secret_bytes(algorithm a) {
  // RFC 7518 3.2: a key at least as long as the hash output.
  switch (a) {
    case algorithm::hs384: return 48;
    case algorithm::hs512: return 64;
    default: return 32;
  }
}

bool is_hmac(algorithm a) { return a == algorithm::hs256 || a == algorithm::hs384 || a == algorithm::hs512; }

// The algorithm a public key is for, after checking it is one we can use.
std::error_code pkey_algorithm(EVP_PKEY* k, algorithm& out) {
  if (EVP_PKEY_is_a(k, "RSA")) {
    if (EVP_PKEY_get_bits(k) < 2048) return err(jwt_errc::weak_key);
    out = algorithm::rs256;
  } else if (EVP_PKEY_is_a(k, "EC")) {
    char group[80];
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(k, group, sizeof group, &len) != 1) return err(jwt_errc::key_error);
    int nid = OBJ_sn2nid(group);
    if (nid == NID_undef) nid = EC_curve_nist2nid(group);
    if (nid != NID_X9_62_prime256v1) return err(jwt_errc::key_error);  // ES384/ES512 are not supported
    out = algorithm::es256;
  } else if (EVP_PKEY_is_a(k, "ED25519")) {
    out = algorithm::eddsa;
  } else {
    return err(jwt_errc::key_error);  // RSA-PSS, Ed448, DSA, ...
  }
  // A JWK's numbers arrive unchecked (an EC point off the curve, an even RSA
  // modulus); PEM keys get the same check for one code path.
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx{EVP_PKEY_CTX_new_from_pkey(nullptr, k, nullptr)};
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) return err(jwt_errc::key_error);
  return {};
}

std::error_code read_file(const std::filesystem::path& path, std::size_t limit, std::string& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return {errno, std::generic_category()};
  out.clear();
  char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
    out.append(chunk, n);
    if (out.size() > limit) {
      std::fclose(f);
      return err(jwt_errc::key_error);
    }
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return std::make_error_code(std::errc::io_error);
  return {};
}

// A key set's invariants, checked before anything is added: (issuer, kid)
// is unique, and a key without kid is the only key (a token without kid
// needs exactly one candidate; with other keys around it could never be used).
std::error_code check_conflicts(const std::vector<key_entry>& have, const std::vector<key_entry>& adding) {
  const std::size_t total = have.size() + adding.size();
  auto at = [&](std::size_t i) -> const key_entry& { return i < have.size() ? have[i] : adding[i - have.size()]; };
  for (std::size_t i = 0; i < total; ++i) {
    if (!at(i).kid) {
      if (total > 1) return err(jwt_errc::duplicate_key);
      continue;
    }
    for (std::size_t j = std::max(i + 1, have.size()); j < total; ++j) {
      if (at(j).kid == at(i).kid && at(j).issuer == at(i).issuer) return err(jwt_errc::duplicate_key);
    }
  }
  return {};
}

// Password callback for PEM reads: a library must never prompt on a
// terminal, which OpenSSL's default callback does for an encrypted block.
int no_password(char*, int, int, void*) { return -1; }

pkey_ptr pkey_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, param_free> params{OSSL_PARAM_BLD_to_param(bld)};
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx{EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr)};
  EVP_PKEY* k = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return nullptr;
  return pkey_ptr{k};
}

bn_ptr bn_from_b64(const std::optional<std::string>& b64) {
  if (!b64) return nullptr;
  const auto bytes = base64url_decode(*b64);
  if (!bytes || bytes->empty()) return nullptr;
  return bn_ptr{BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes->data()), static_cast<int>(bytes->size()), nullptr)};
}

// The members of one JWK that matter here; every member is still validated.
struct jwk {
  std::optional<std::string> kty, kid, alg, use, n, e, crv, x, y, k;
};

std::error_code read_jwk(json::od::object& obj, jwk& out) {
  using json::od::value;
  std::vector<std::string> names;
  for (auto member : obj) {
    std::string_view key;
    value v;
    if (member.unescaped_key().get(key) || member.value().get(v)) return err(jwt_errc::key_error);
    for (const auto& seen : names)
      if (seen == key) return err(jwt_errc::key_error);  // which of two "n"s would be the key?
    names.emplace_back(key);
    std::optional<std::string>* slot = key == "kty"   ? &out.kty
                                       : key == "kid" ? &out.kid
                                       : key == "alg" ? &out.alg
                                       : key == "use" ? &out.use
                                       : key == "n"   ? &out.n
                                       : key == "e"   ? &out.e
                                       : key == "crv" ? &out.crv
                                       : key == "x"   ? &out.x
                                       : key == "y"   ? &out.y
                                       : key == "k"   ? &out.k
                                                      : nullptr;
    if (slot) {
      std::string s;
      if (json::get_string(v, s)) return err(jwt_errc::key_error);
      *slot = std::move(s);
    } else if (json::check_value(v, 4)) {
      return err(jwt_errc::key_error);
    }
  }
  return {};
}

// The JWK's "alg" (if any) must be the one its key type implies.
std::error_code jwk_alg(const jwk& j, algorithm implied, algorithm& out) {
  out = implied;
  if (!j.alg) return {};
  const auto named = parse_algorithm(*j.alg);
  if (!named || *named != implied) return err(jwt_errc::key_error);
  return {};
}

std::error_code build_jwk(const jwk& j, key_entry& out) {
  if (!j.kty) return err(jwt_errc::key_error);
  const std::string& kty = *j.kty;
  out.kid = j.kid;
  if (kty == "oct") {
    algorithm a = algorithm::hs256;
    if (j.alg) {
      const auto named = parse_algorithm(*j.alg);
      if (!named || !is_hmac(*named)) return err(jwt_errc::key_error);
      a = *named;
    }
    auto secret = j.k ? base64url_decode(*j.k) : std::nullopt;
    if (!secret) return err(jwt_errc::key_error);
    if (secret->size() < min_secret_bytes(a)) {
      OPENSSL_cleanse(secret->data(), secret->size());
      return err(jwt_errc::weak_key);
    }
    out.alg = a;
    out.secret = std::move(*secret);
    return {};
  }

  bld_ptr bld{OSSL_PARAM_BLD_new()};
  if (!bld) return err(jwt_errc::key_error);
  const char* type = nullptr;
  algorithm implied{};
  // Keep decoded octets alive until the parameters are built.
  std::string point;
  bn_ptr n, e;
  if (kty == "RSA") {
    n = bn_from_b64(j.n);
    e = bn_from_b64(j.e);
    if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()))
      return err(jwt_errc::key_error);
    type = "RSA";
    implied = algorithm::rs256;
  } else if (kty == "EC") {
    if (j.crv != "P-256" || !j.x || !j.y) return err(jwt_errc::key_error);
    const auto x = base64url_decode(*j.x);
    const auto y = base64url_decode(*j.y);
    // RFC 7518 6.2.1.2: coordinates are full-length (32 bytes for P-256).
    if (!x || !y || x->size() != 32 || y->size() != 32) return err(jwt_errc::key_error);
    point = "\x04" + *x + *y;  // SEC 1 uncompressed point
    if (!OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()))
      return err(jwt_errc::key_error);
    type = "EC";
    implied = algorithm::es256;
  } else if (kty == "OKP") {
    if (j.crv != "Ed25519" || !j.x) return err(jwt_errc::key_error);
    const auto x = base64url_decode(*j.x);
    if (!x || x->size() != 32) return err(jwt_errc::key_error);
    point = *x;
    if (!OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()))
      return err(jwt_errc::key_error);
    type = "ED25519";
    implied = algorithm::eddsa;
  } else {
    return err(jwt_errc::key_error);
  }
  if (auto ec = jwk_alg(j, implied, out.alg)) return ec;
  out.pkey = pkey_from_params(type, bld.get());
  if (!out.pkey) return err(jwt_errc::key_error);
  algorithm actual{};
  if (auto ec = pkey_algorithm(out.pkey.get(), actual)) return ec;
  if (actual != out.alg) return err(jwt_errc::key_error);
  return {};
}

}  // namespace

const key_set::impl& key_set_impl(const key_set& s) noexcept {
  // A moved-from set has no impl: it behaves as empty.
  static const key_set::impl empty;
  return s.impl_ ? *s.impl_ : empty;
}

key_set::key_set() : impl_(std::make_unique<impl>()) {}
key_set::key_set(key_set&&) noexcept = default;
key_set& key_set::operator=(key_set&&) noexcept = default;
key_set::~key_set() = default;

std::size_t key_set::size() const noexcept { return key_set_impl(*this).keys.size(); }

std::vector<key_info> key_set::keys() const {
  std::vector<key_info> out;
  for (const auto& k : key_set_impl(*this).keys) out.push_back({k.kid, k.issuer, k.alg});
  return out;
}

namespace {

std::error_code commit(std::unique_ptr<key_set::impl>& impl, std::vector<key_entry>&& adding) {
  if (!impl) impl = std::make_unique<key_set::impl>();
  if (auto ec = check_conflicts(impl->keys, adding)) return ec;
  for (auto& k : adding) impl->keys.push_back(std::move(k));
  return {};
}

}  // namespace

std::error_code key_set::add_pem(std::string_view pem, const key_options& opts) {
  openssl_error_mark guard;
  if (pem.size() > max_jwks_bytes) return err(jwt_errc::key_error);
  std::unique_ptr<BIO, bio_free> bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio) return err(jwt_errc::key_error);
  pkey_ptr k{PEM_read_bio_PUBKEY(bio.get(), nullptr, no_password, nullptr)};
  if (!k) {
    // No "PUBLIC KEY" block: read the buffer again for a certificate.
    if (BIO_reset(bio.get()) != 1) return err(jwt_errc::key_error);
    std::unique_ptr<X509, x509_free> cert{PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr)};
    if (cert) k.reset(X509_get_pubkey(cert.get()));
  }
  if (!k) return err(jwt_errc::key_error);
  key_entry entry;
  if (auto ec = pkey_algorithm(k.get(), entry.alg)) return ec;
  if (opts.alg && *opts.alg != entry.alg) return err(jwt_errc::key_error);
  entry.kid = opts.kid;
  entry.issuer = opts.issuer;
  entry.pkey = std::move(k);
  std::vector<key_entry> adding;
  adding.push_back(std::move(entry));
  return commit(impl_, std::move(adding));
}

std::error_code key_set::add_secret(std::string_view secret, const key_options& opts) {
  const algorithm a = opts.alg.value_or(algorithm::hs256);
  if (!is_hmac(a)) return err(jwt_errc::key_error);
  if (secret.size() < min_secret_bytes(a)) return err(jwt_errc::weak_key);
  key_entry entry;
  entry.kid = opts.kid;
  entry.issuer = opts.issuer;
  entry.alg = a;
  entry.secret.assign(secret);
  std::vector<key_entry> adding;
  adding.push_back(std::move(entry));
  return commit(impl_, std::move(adding));
}

std::error_code key_set::add_jwks(std::string_view text, const key_options& opts) {
  if (opts.kid || opts.alg) return std::make_error_code(std::errc::invalid_argument);
  if (text.size() > max_jwks_bytes) return err(jwt_errc::key_error);
  openssl_error_mark guard;
  // Not the per-thread reader: a JWKS is large and rare, and its buffers
  // would stay with the thread.
  json::reader r;
  json::od::object top;
  if (r.open(text, top)) return err(jwt_errc::key_error);
  std::vector<key_entry> adding;
  bool have_keys = false;
  for (auto member : top) {
    std::string_view name;
    json::od::value v;
    if (member.unescaped_key().get(name) || member.value().get(v)) return err(jwt_errc::key_error);
    if (name != "keys") {
      if (json::check_value(v, 2)) return err(jwt_errc::key_error);
      continue;
    }
    if (have_keys) return err(jwt_errc::key_error);
    have_keys = true;
    json::od::array arr;
    if (v.get_array().get(arr)) return err(jwt_errc::key_error);
    for (auto element : arr) {
      json::od::object obj;
      if (element.get_object().get(obj)) return err(jwt_errc::key_error);
      jwk j;
      if (auto ec = read_jwk(obj, j)) return ec;
      // Encryption keys share JWKS documents with signing keys (Keycloak
      // publishes both); they are not ours to use.
      if (j.use && *j.use != "sig") continue;
      key_entry entry;
      if (auto ec = build_jwk(j, entry)) return ec;
      entry.issuer = opts.issuer;
      adding.push_back(std::move(entry));
    }
  }
  if (r.finish() || !have_keys || adding.empty()) return err(jwt_errc::key_error);
  return commit(impl_, std::move(adding));
}

std::error_code key_set::load_pem(const std::filesystem::path& file, const key_options& opts) {
  std::string text;
  if (auto ec = read_file(file, max_jwks_bytes, text)) return ec;
  return add_pem(text, opts);
}

std::error_code key_set::load_secret(const std::filesystem::path& file, const key_options& opts) {
  std::string secret;
  if (auto ec = read_file(file, max_jwks_bytes, secret)) return ec;
  // `echo secret > file` and editors add a newline nobody means as key material.
  if (!secret.empty() && secret.back() == '\n') {
    secret.pop_back();
    if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  }
  const auto ec = add_secret(secret, opts);
  OPENSSL_cleanse(secret.data(), secret.size());
  return ec;
}

std::error_code key_set::load_jwks(const std::filesystem::path& file, const key_options& opts) {
  if (opts.kid || opts.alg) return std::make_error_code(std::errc::invalid_argument);
  std::string text;
  if (auto ec = read_file(file, max_jwks_bytes, text)) return ec;
  return add_jwks(text, opts);
}

}  // namespace duplex::auth
