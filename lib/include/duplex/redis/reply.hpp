// A Redis reply (RESP2) as a plain value, copied out of hiredis' redisReply
// so it can outlive the parser and move between coroutines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::redis {

struct reply {
  enum class kind { nil, status, error, integer, string, array };

  kind type = kind::nil;
  std::string str;              // status, error and string replies
  long long integer = 0;        // integer replies
  std::vector<reply> elements;  // array replies

  bool is_nil() const noexcept { return type == kind::nil; }
  bool is_error() const noexcept { return type == kind::error; }
  bool is_string() const noexcept { return type == kind::string; }
  bool is_integer() const noexcept { return type == kind::integer; }
  bool is_array() const noexcept { return type == kind::array; }
  // "+OK" and the like.
  bool is_status(std::string_view s) const noexcept { return type == kind::status && str == s; }
  // An integer reply, or a string reply holding a decimal integer (Lua and
  // stream ids often return numbers as strings).
  std::optional<long long> as_integer() const noexcept;
};

// Formats one command as RESP (hiredis' redisFormatCommandArgv): binary-safe
// arguments, ready to be appended to a pipeline.
std::string format_command(const std::vector<std::string_view>& args);

}  // namespace duplex::redis
