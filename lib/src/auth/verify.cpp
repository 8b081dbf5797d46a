// verify(): split, decode, parse, pick the key, check the signature, then
// the claims. Every refusal is a jwt_errc; nothing here throws on input.
#include "internal.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include <algorithm>
#include <cmath>

namespace duplex::auth {

std::string_view to_string(algorithm a) noexcept {
  switch (a) {
    case algorithm::hs256: return "HS256";
    case algorithm::hs384: return "HS384";
    case algorithm::hs512: return "HS512";
    case algorithm::rs256: return "RS256";
    case algorithm::es256: return "ES256";
    case algorithm::eddsa: return "EdDSA";
  }
  return "";
}

std::optional<algorithm> parse_algorithm(std::string_view name) noexcept {
  for (auto a : {algorithm::hs256, algorithm::hs384, algorithm::hs512, algorithm::rs256, algorithm::es256,
                 algorithm::eddsa}) {
    if (name == to_string(a)) return a;
  }
  return std::nullopt;
}

namespace {

namespace od = json::od;
using std::chrono::sys_seconds;

constexpr jwt_errc ok{};

struct header {
  std::string alg;
  std::optional<std::string> kid;
};

bool has(const std::vector<std::string>& names, std::string_view key) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

jwt_errc parse_header(std::string_view text, header& h) {
  auto& r = json::thread_reader();
  od::object obj;
  if (r.open(text, obj)) return jwt_errc::bad_json;
  std::vector<std::string> names;
  bool have_alg = false;
  for (auto member : obj) {
    std::string_view key;
    od::value v;
    if (member.unescaped_key().get(key) || member.value().get(v)) return jwt_errc::bad_json;
    // Parsers disagree on which of two "alg"s counts; refuse the question.
    if (has(names, key)) return jwt_errc::bad_json;
    names.emplace_back(key);
    if (key == "alg") {
      if (json::get_string(v, h.alg)) return jwt_errc::malformed;
      have_alg = true;
    } else if (key == "kid") {
      std::string kid;
      if (json::get_string(v, kid)) return jwt_errc::malformed;
      h.kid = std::move(kid);
    } else if (key == "crit") {
      // RFC 7515 4.1.11: extensions listed in crit must be understood; we
      // implement none (b64=false and the like change what is signed).
      return jwt_errc::unsupported;
    } else if (json::check_value(v, 2)) {
      // jku, x5u, jwk, typ, ...: validated, never used (keys come from
      // the key_set only).
      return jwt_errc::bad_json;
    }
  }
  if (r.finish()) return jwt_errc::bad_json;
  return have_alg ? ok : jwt_errc::malformed;
}

// RFC 7519 NumericDate; JSON allows fractions and exponents. Rounded towards
// refusal: `up` for nbf and iat, down for exp.
jwt_errc read_date(od::value& v, bool up, std::optional<sys_seconds>& out) {
  od::json_type t{};
  if (v.type().get(t)) return jwt_errc::bad_json;
  if (t != od::json_type::number) return jwt_errc::bad_claim;
  if (!json::is_json_number(json::trim_ws(v.raw_json_token()))) return jwt_errc::bad_json;
  double d = 0;
  // Out of double range (1e400) is a number JSON allows and no date.
  if (v.get_double().get(d)) return jwt_errc::bad_claim;
  // 9999-12-31T23:59:59Z; a double holds every integer up to it exactly.
  constexpr double max_date = 253402300799.0;
  if (!(d >= 0 && d <= max_date)) return jwt_errc::bad_claim;
  out = sys_seconds{std::chrono::seconds{static_cast<long long>(up ? std::ceil(d) : std::floor(d))}};
  return ok;
}

jwt_errc read_string_claim(od::value& v, std::optional<std::string>& out) {
  od::json_type t{};
  if (v.type().get(t)) return jwt_errc::bad_json;
  if (t != od::json_type::string) return jwt_errc::bad_claim;
  std::string s;
  if (json::get_string(v, s)) return jwt_errc::bad_json;
  out = std::move(s);
  return ok;
}

jwt_errc read_audience(od::value& v, std::vector<std::string>& out) {
  od::json_type t{};
  if (v.type().get(t)) return jwt_errc::bad_json;
  if (t == od::json_type::string) {
    out.emplace_back();
    return json::get_string(v, out.back()) ? jwt_errc::bad_json : ok;
  }
  if (t != od::json_type::array) return jwt_errc::bad_claim;
  od::array arr;
  if (v.get_array().get(arr)) return jwt_errc::bad_json;
  for (auto element : arr) {
    od::value item;
    if (std::move(element).get(item) || item.type().get(t)) return jwt_errc::bad_json;
    if (t != od::json_type::string) return jwt_errc::bad_claim;
    out.emplace_back();
    if (json::get_string(item, out.back())) return jwt_errc::bad_json;
  }
  return ok;
}

jwt_errc parse_payload(std::string_view text, claims& c, bool& aud_present) {
  auto& r = json::thread_reader();
  od::object obj;
  if (r.open(text, obj)) return jwt_errc::bad_json;
  // Pass 1: validate everything and read the registered claims.
  std::vector<std::string> names;
  for (auto member : obj) {
    std::string_view key;
    od::value v;
    if (member.unescaped_key().get(key) || member.value().get(v)) return jwt_errc::bad_json;
    // Two "sub"s would let the signer's parser and ours read different users.
    if (has(names, key)) return jwt_errc::bad_json;
    names.emplace_back(key);
    jwt_errc e = ok;
    if (key == "iss") e = read_string_claim(v, c.iss);
    else if (key == "sub") e = read_string_claim(v, c.sub);
    else if (key == "name") e = read_string_claim(v, c.name);
    else if (key == "aud") {
      aud_present = true;
      e = read_audience(v, c.aud);
    } else if (key == "exp") e = read_date(v, false, c.exp);
    else if (key == "nbf") e = read_date(v, true, c.nbf);
    else if (key == "iat") e = read_date(v, true, c.iat);
    else if (json::check_value(v, 2)) e = jwt_errc::bad_json;
    if (e != ok) return e;
  }
  if (r.finish()) return jwt_errc::bad_json;
  // Pass 2: every member's JSON text, now known to be valid.
  r.doc.rewind();
  if (r.doc.get_object().get(obj)) return jwt_errc::bad_json;
  c.members.reserve(names.size());
  for (auto member : obj) {
    std::string_view key, raw;
    if (member.unescaped_key().get(key) || member.value().raw_json().get(raw)) return jwt_errc::bad_json;
    c.members.emplace_back(std::string(key), std::string(json::trim_ws(raw)));
  }
  return ok;
}

// Key choice from the kid header only. Keys may share a kid across issuers
// (key lookup is by (issuer, kid)): then the token's iss, still unverified,
// rules out the keys bound to other issuers. That is safe because iss is
// covered by the signature the chosen key must then verify, and a key bound
// to issuer A never verifies a token whose iss is B.
jwt_errc select_key(const key_set::impl& set, const header& h, const claims& c, const key_entry*& out) {
  const auto bound_ok = [&](const key_entry& k) -> jwt_errc {
    if (!k.issuer) return ok;
    if (!c.iss) return jwt_errc::missing_claim;
    return *c.iss == *k.issuer ? ok : jwt_errc::wrong_issuer;
  };
  if (!h.kid) {
    if (set.keys.empty()) return jwt_errc::unknown_key;
    if (set.keys.size() > 1) return jwt_errc::ambiguous_key;
    out = &set.keys.front();
    return bound_ok(*out);
  }
  const key_entry* bound = nullptr;
  const key_entry* unbound = nullptr;
  jwt_errc refused = jwt_errc::unknown_key;
  for (const auto& k : set.keys) {
    if (k.kid != h.kid) continue;
    if (!k.issuer) {
      unbound = &k;
    } else if (const auto e = bound_ok(k); e == ok) {
      bound = &k;
    } else {
      refused = e;
    }
  }
  out = bound ? bound : unbound;
  return out ? ok : refused;
}

struct mac_ctx_free {
  void operator()(EVP_MAC_CTX* p) const noexcept { EVP_MAC_CTX_free(p); }
};
struct md_ctx_free {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};

bool verify_hmac(const key_entry& k, std::string_view input, std::string_view sig) {
  // Fetched once; never freed, since OpenSSL's own atexit cleanup may run
  // before a static destructor would.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) return false;
  const char* digest = k.alg == algorithm::hs256 ? "SHA256" : k.alg == algorithm::hs384 ? "SHA384" : "SHA512";
  const std::size_t size = k.alg == algorithm::hs256 ? 32 : k.alg == algorithm::hs384 ? 48 : 64;
  if (sig.size() != size) return false;
  std::unique_ptr<EVP_MAC_CTX, mac_ctx_free> ctx{EVP_MAC_CTX_new(mac)};
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_end(),
  };
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t out_len = 0;
  if (!ctx ||
      EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(k.secret.data()), k.secret.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out, &out_len, sizeof out) != 1 || out_len != size)
    return false;
  // Constant time: a byte-by-byte early exit would time-leak the MAC prefix.
  const bool equal = CRYPTO_memcmp(out, sig.data(), size) == 0;
  OPENSSL_cleanse(out, sizeof out);
  return equal;
}

// JWS ES256 is r || s, 32 bytes each (RFC 7518 3.4); OpenSSL verifies the
// DER ECDSA-Sig-Value.
bool es256_to_der(std::string_view raw, std::string& der) {
  if (raw.size() != 64) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(p, 32, nullptr);
  BIGNUM* s = BN_bin2bn(p + 32, 32, nullptr);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (!r || !s || !sig || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* out = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &out);  // sig owns r and s now
  ECDSA_SIG_free(sig);
  if (len <= 0) return false;
  der.assign(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
  OPENSSL_free(out);
  return true;
}

bool verify_pkey(const key_entry& k, std::string_view input, std::string_view sig) {
  std::string der;
  switch (k.alg) {
    case algorithm::rs256:
      if (sig.size() != static_cast<std::size_t>(EVP_PKEY_get_size(k.pkey.get()))) return false;
      break;
    case algorithm::es256:
      if (!es256_to_der(sig, der)) return false;
      sig = der;
      break;
    case algorithm::eddsa:
      if (sig.size() != 64) return false;
      break;
    default: return false;
  }
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx{EVP_MD_CTX_new()};
  // Ed25519 hashes internally (PureEdDSA): no digest, one-shot only.
  const char* md = k.alg == algorithm::eddsa ? nullptr : "SHA256";
  return ctx && EVP_DigestVerifyInit_ex(ctx.get(), nullptr, md, nullptr, nullptr, k.pkey.get(), nullptr) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

bool is_none(std::string_view alg) {
  if (alg.size() != 4) return false;
  for (std::size_t i = 0; i < 4; ++i) {
    const char c = alg[i] >= 'A' && alg[i] <= 'Z' ? static_cast<char>(alg[i] - 'A' + 'a') : alg[i];
    if (c != "none"[i]) return false;
  }
  return true;
}

}  // namespace

verify_result verify(std::string_view token, const key_set& keys, const verify_options& opts) {
  if (token.size() > max_token_bytes) return jwt_errc::token_too_long;
  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return jwt_errc::malformed;
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return jwt_errc::malformed;
  const auto header_b64 = token.substr(0, dot1);
  const auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const auto signature_b64 = token.substr(dot2 + 1);
  if (header_b64.empty() || payload_b64.empty()) return jwt_errc::malformed;

  const auto header_json = base64url_decode(header_b64);
  if (!header_json) return jwt_errc::bad_base64;
  // Only reachable if max_token_bytes is ever raised above max_part_bytes.
  if (header_json->size() > max_part_bytes) return jwt_errc::token_too_long;
  header h;
  if (const auto e = parse_header(*header_json, h); e != ok) return e;
  if (is_none(h.alg)) return jwt_errc::alg_none;

  const auto payload_json = base64url_decode(payload_b64);
  if (!payload_json) return jwt_errc::bad_base64;
  if (payload_json->size() > max_part_bytes) return jwt_errc::token_too_long;
  claims c;
  bool aud_present = false;
  if (const auto e = parse_payload(*payload_json, c, aud_present); e != ok) return e;

  const key_entry* key = nullptr;
  if (const auto e = select_key(key_set_impl(keys), h, c, key); e != ok) return e;
  // The pin: the token does not choose the algorithm, the key does.
  const auto alg = parse_algorithm(h.alg);
  if (!alg || *alg != key->alg) return jwt_errc::alg_mismatch;

  const auto signature = base64url_decode(signature_b64);
  if (!signature) return jwt_errc::bad_base64;
  const auto signing_input = token.substr(0, dot2);
  // A failed verification leaves reasons on this thread's OpenSSL error
  // queue, where a TLS connection on the same thread would find them; the
  // mark drops ours and keeps whatever the caller had queued.
  ERR_set_mark();
  const bool good = key->pkey ? verify_pkey(*key, signing_input, *signature)
                              : verify_hmac(*key, signing_input, *signature);
  ERR_pop_to_mark();
  if (!good) return jwt_errc::bad_signature;

  // In seconds: system_clock counts nanoseconds, which overflow before the
  // year 9999 that dates may reach. Flooring changes no outcome, as dates
  // are whole seconds.
  const auto now = std::chrono::floor<std::chrono::seconds>(opts.now ? opts.now() : std::chrono::system_clock::now());
  const auto leeway = std::max(opts.leeway, std::chrono::seconds{0});
  if (!c.exp) {
    if (opts.require_exp) return jwt_errc::missing_claim;
  } else if (now >= *c.exp + leeway) {
    return jwt_errc::expired;
  }
  if (c.nbf && now + leeway < *c.nbf) return jwt_errc::not_yet_valid;
  if (c.iat && now + leeway < *c.iat) return jwt_errc::issued_in_future;
  if (opts.issuer) {
    if (!c.iss) return jwt_errc::missing_claim;
    if (*c.iss != *opts.issuer) return jwt_errc::wrong_issuer;
  }
  if (opts.audience) {
    if (!aud_present) return jwt_errc::missing_claim;
    if (std::find(c.aud.begin(), c.aud.end(), *opts.audience) == c.aud.end()) return jwt_errc::wrong_audience;
  } else if (aud_present) {
    return jwt_errc::wrong_audience;
  }
  return c;
}

std::optional<std::string> claims::raw(std::string_view member) const {
  for (const auto& [key, text] : members)
    if (key == member) return text;
  return std::nullopt;
}

std::optional<std::vector<std::string>> claims::string_list(std::string_view member) const {
  const auto text = raw(member);
  if (!text || text->empty() || text->front() != '[') return std::nullopt;
  thread_local od::parser parser;
  const simdjson::padded_string padded(*text);
  od::document doc;
  od::array arr;
  if (parser.iterate(padded).get(doc) || doc.get_array().get(arr)) return std::nullopt;
  std::vector<std::string> out;
  for (auto element : arr) {
    std::string_view s;
    if (element.get_string().get(s)) return std::nullopt;
    out.emplace_back(s);
  }
  return out;
}

}  // namespace duplex::auth
