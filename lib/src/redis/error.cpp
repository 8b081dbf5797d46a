#include <duplex/redis/error.hpp>

#include <string>

namespace duplex::redis {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "duplex.redis"; }
  std::string message(int v) const override {
    switch (static_cast<errc>(v)) {
      case errc::not_connected: return "not connected to Redis";
      case errc::connection_lost: return "connection to Redis lost before the reply";
      case errc::timeout: return "Redis command timed out";
      case errc::connect_timeout: return "connecting to Redis timed out";
      case errc::handshake_failed: return "Redis refused AUTH or SELECT";
      case errc::server_error: return "Redis replied with an error";
      case errc::protocol_error: return "malformed or unexpected Redis reply";
      case errc::closed: return "Redis client closed";
      case errc::bad_url: return "invalid Redis URL (expected redis[s]://[[user]:password@]host[:port][/db])";
    }
    return "unknown Redis error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace duplex::redis
