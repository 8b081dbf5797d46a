// Internal: parsing numbers in URLs and replies; turning replies the broker
// scripts did not expect into errors.
#pragma once

#include <duplex/redis/error.hpp>
#include <duplex/redis/reply.hpp>

#include <asio/awaitable.hpp>

#include <charconv>
#include <string_view>
#include <system_error>

namespace duplex::redis::detail {

// The whole of `s` as a decimal number.
template <class T>
bool parse_number(std::string_view s, T& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
}

// errc::server_error with Redis' message for an error reply, else
// errc::protocol_error naming what was expected.
[[noreturn]] inline void unexpected(const reply& r, const char* what) {
  if (r.is_error()) throw std::system_error(make_error_code(errc::server_error), r.str);
  throw std::system_error(make_error_code(errc::protocol_error), what);
}

inline asio::awaitable<void> expect_no_error(asio::awaitable<reply> call) {
  reply r = co_await std::move(call);
  if (r.is_error()) unexpected(r, "");
}

}  // namespace duplex::redis::detail
