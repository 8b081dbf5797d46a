#include <duplex/auth/jwt.hpp>

#include <string>

namespace duplex::auth {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "duplex.auth"; }
  std::string message(int v) const override {
    switch (static_cast<jwt_errc>(v)) {
      case jwt_errc::malformed: return "malformed token: not header.payload.signature";
      case jwt_errc::bad_base64: return "token part is not canonical base64url";
      case jwt_errc::bad_json: return "token header or payload is not a JSON object";
      case jwt_errc::unsupported: return "token header requires an unsupported extension";
      case jwt_errc::token_too_long: return "token too long";
      case jwt_errc::alg_none: return "unsigned token (alg none) refused";
      case jwt_errc::alg_mismatch: return "token algorithm does not match the key's algorithm";
      case jwt_errc::unknown_key: return "no key for the token's kid";
      case jwt_errc::ambiguous_key: return "token has no kid and several keys are configured";
      case jwt_errc::bad_signature: return "token signature does not verify";
      case jwt_errc::expired: return "token expired";
      case jwt_errc::not_yet_valid: return "token not valid yet (nbf)";
      case jwt_errc::issued_in_future: return "token issued in the future (iat)";
      case jwt_errc::wrong_issuer: return "token issuer not accepted";
      case jwt_errc::wrong_audience: return "token audience not accepted";
      case jwt_errc::missing_claim: return "token lacks a required claim";
      case jwt_errc::bad_claim: return "token claim has the wrong type or range";
      case jwt_errc::key_error: return "key unreadable or unsupported";
      case jwt_errc::weak_key: return "key too short";
      case jwt_errc::duplicate_key: return "key conflicts with a configured key";
    }
    return "unknown duplex.auth error";
  }
};

}  // namespace

const std::error_category& jwt_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace duplex::auth
