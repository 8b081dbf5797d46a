// The engines' operations (history_engine, broker, presence_manager) as
// Asio asynchronous operations, for any completion token
// (asio::use_awaitable, a callback, ...):
//
//   std::error_code ec;
//   auto page = co_await async_since(engine, "lobby", pos, 300,
//                                    asio::redirect_error(asio::use_awaitable, ec));
//
// Contract: the completion always runs through the handler's associated
// executor (asio::post), never inside the initiating call, whichever engine
// answers (embedded engines answer inline, a broker engine later). The
// engine itself must only be used from one thread or strand, as history.hpp
// says; the channel name is copied. Header-only; needs standalone Asio.
#pragma once

#include <duplex/realtime/broker.hpp>
#include <duplex/realtime/history.hpp>
#include <duplex/realtime/presence_manager.hpp>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>

#include <memory>
#include <string>
#include <utility>

namespace duplex::realtime {
namespace detail {

// history_engine takes std::function (copyable); Asio handlers are move-only.
template <class Handler, class... Args>
auto posting_callback(Handler&& handler) {
  auto shared = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
  return [shared](std::error_code ec, auto result) {
    auto ex = asio::get_associated_executor(*shared);
    asio::post(ex, [shared, ec, result = std::move(result)]() mutable { std::move (*shared)(ec, std::move(result)); });
  };
}

// The same for handlers that take only the code.
template <class Handler>
auto posting_code_callback(Handler&& handler) {
  auto shared = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
  return [shared](std::error_code ec) {
    auto ex = asio::get_associated_executor(*shared);
    asio::post(ex, [shared, ec]() mutable { std::move (*shared)(ec); });
  };
}

}  // namespace detail

template <class CompletionToken>
auto async_publish(history_engine& h, std::string_view channel, std::string payload, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, stream_position)>(
      [&h](auto handler, std::string channel, std::string payload) {
        h.publish(channel, std::move(payload), detail::posting_callback(std::move(handler)));
      },
      token, std::string(channel), std::move(payload));
}

template <class CompletionToken>
auto async_recent(history_engine& h, std::string_view channel, std::size_t n, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, history_page)>(
      [&h, n](auto handler, std::string channel) {
        h.recent(channel, n, detail::posting_callback(std::move(handler)));
      },
      token, std::string(channel));
}

template <class CompletionToken>
auto async_since(history_engine& h, std::string_view channel, stream_position after, std::size_t limit,
                 CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, history_page)>(
      [&h, limit](auto handler, std::string channel, stream_position after) {
        h.since(channel, std::move(after), limit, detail::posting_callback(std::move(handler)));
      },
      token, std::string(channel), std::move(after));
}

// broker::publish: completes with the publication's position (or the
// backend's error: delivered here, queued, not stored yet).
template <class CompletionToken>
auto async_publish(broker& b, std::string_view channel, std::string payload, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, stream_position)>(
      [&b](auto handler, std::string channel, std::string payload) {
        b.publish(channel, std::move(payload), detail::posting_callback(std::move(handler)));
      },
      token, std::string(channel), std::move(payload));
}

// broker::subscribe: completes with the channel's top once a history read
// can no longer miss a live publication.
template <class CompletionToken>
auto async_subscribe(broker& b, std::string_view channel, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, stream_position)>(
      [&b](auto handler, std::string channel) { b.subscribe(channel, detail::posting_callback(std::move(handler))); },
      token, std::string(channel));
}

// presence_manager::claim: errc::name_taken when another member holds the name.
template <class CompletionToken>
auto async_claim(presence_manager& p, std::string_view channel, std::string name, std::string token_of_member,
                 CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code)>(
      [&p](auto handler, std::string channel, std::string name, std::string key) {
        p.claim(channel, std::move(name), std::move(key), detail::posting_code_callback(std::move(handler)));
      },
      token, std::string(channel), std::move(name), std::move(token_of_member));
}

}  // namespace duplex::realtime
