// duplex::redis::client: one pipelined connection to Redis, driven by Asio
// C++20 coroutines. hiredis only formats commands and parses replies; the
// socket, the pipeline and reconnection are ours.
//
//   auto redis = co_await duplex::redis::client::connect(duplex::redis::options_from_url(url));
//   co_await redis.command("SET", "k", "v");
//   auto r = co_await redis.command("GET", "k");   // r.str == "v"
//
// Any number of coroutines may await commands at once: requests are written
// back to back (batched into one write while a write is in flight) and the
// replies matched in order. When the connection is lost, every request in
// flight completes with errc::connection_lost, requests made while it is
// down fail at once with errc::not_connected, and the client reconnects in
// the background with exponential backoff and jitter (options::on_state says
// when). Commands may be awaited from any thread or executor: a call from
// another executor hops to the client's executor and back.
#pragma once

#include <duplex/redis/error.hpp>
#include <duplex/redis/options.hpp>
#include <duplex/redis/reply.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace duplex::redis {

// A Lua script run with EVALSHA; sent again as EVAL (which caches it) when
// the server answers NOSCRIPT (first use, or after Redis restarted or
// flushed scripts).
struct script {
  explicit script(std::string source);
  std::string source;
  std::string sha1;  // lowercase hex of SHA-1(source)
};

class client {
 public:
  // Connects (TCP, AUTH, SELECT) on the calling coroutine's executor and
  // returns once the connection is ready. Throws std::system_error when it
  // cannot: the network error (e.g. connection refused), connect_timeout or
  // handshake_failed, with the endpoint in what().
  static asio::awaitable<client> connect(options opts);
  // Returns at once and connects in the background, retrying with backoff:
  // for starting "degraded" while Redis is unreachable. Commands fail with
  // not_connected until options::on_state reports up.
  static client start(asio::any_io_executor ex, options opts);

  // Empty (like a moved-from one): only assign to it. Exists because
  // asio::co_spawn needs default-constructible results.
  client() noexcept = default;
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  ~client();  // close()

  // One command; completes with its reply. An error reply (-ERR ...) is a
  // value (reply::is_error()), not an error: ec is for transport failures
  // (not_connected, connection_lost, timeout, closed).
  //   co_await redis.command("SET", key, value);   // throws std::system_error
  //   co_await redis.command(ec, "GET", key);      // sets ec instead
  // Arguments are anything convertible to std::string_view and are copied
  // (formatted) before the call returns. Variadic rather than a braced
  // list: GCC 12 rejects braced lists inside coroutines ("array used as
  // initializer"), so `command({"GET", k})` would not compile in one.
  template <class... A>
    requires(std::is_convertible_v<const A&, std::string_view> && ...)
  asio::awaitable<reply> command(const A&... args) {
    return command(std::vector<std::string_view>{std::string_view(args)...});
  }
  template <class... A>
    requires(std::is_convertible_v<const A&, std::string_view> && ...)
  asio::awaitable<reply> command(std::error_code& ec, const A&... args) {
    return command(std::vector<std::string_view>{std::string_view(args)...}, ec);
  }
  // The same with a list built at run time.
  asio::awaitable<reply> command(const std::vector<std::string_view>& args, std::error_code& ec);
  asio::awaitable<reply> command(const std::vector<std::string_view>& args);

  // EVALSHA sha numkeys keys... args..., retried once as EVAL with the
  // source on NOSCRIPT, so calls made in order run in order. `s` must stay
  // alive until the call completes.
  //   co_await redis.eval(publish_script, 2, stream_key, meta_key, payload);
  template <class... A>
    requires(std::is_convertible_v<const A&, std::string_view> && ...)
  asio::awaitable<reply> eval(const script& s, std::size_t numkeys, const A&... keys_then_args) {
    return eval_argv(s, numkeys, std::vector<std::string_view>{std::string_view(keys_then_args)...}, nullptr);
  }
  template <class... A>
    requires(std::is_convertible_v<const A&, std::string_view> && ...)
  asio::awaitable<reply> eval(std::error_code& ec, const script& s, std::size_t numkeys, const A&... keys_then_args) {
    return eval_argv(s, numkeys, std::vector<std::string_view>{std::string_view(keys_then_args)...}, &ec);
  }
  asio::awaitable<reply> eval(const script& s, const std::vector<std::string_view>& keys,
                              const std::vector<std::string_view>& args, std::error_code& ec);
  asio::awaitable<reply> eval(const script& s, const std::vector<std::string_view>& keys,
                              const std::vector<std::string_view>& args);

  // A command already in RESP (format_command), e.g. to pipeline a prepared packet.
  asio::awaitable<reply> raw(std::string packet, std::error_code& ec);

  // Connected. Safe from any thread. (After a reconnect, a subscriber's
  // on_state reports up only once its channels are subscribed again.)
  bool is_up() const noexcept;
  asio::any_io_executor get_executor() const noexcept;
  // Closes the connection and stops reconnecting; requests in flight
  // complete with errc::closed. Safe to call more than once.
  // Like the destructor: on the object's executor, or while it is not running.
  void close() noexcept;

  struct impl;

 private:
  explicit client(std::shared_ptr<impl> p) noexcept;
  // keys_then_args: numkeys keys, then the arguments. ec == nullptr: throw.
  asio::awaitable<reply> eval_argv(const script& s, std::size_t numkeys, const std::vector<std::string_view>& keys_then_args,
                                   std::error_code* ec);
  std::shared_ptr<impl> impl_;
};

}  // namespace duplex::redis
