// Coroutines in the browser build. Emscripten 3.1.6 ships libc++ 13, which
// has only <experimental/coroutine> (clang accepts it in C++20 mode); the
// native build of these headers (for tests) uses <coroutine>.
#pragma once

#if __has_include(<coroutine>)
#include <coroutine>
namespace duplex::wasm::co {
using std::coroutine_handle;
using std::suspend_always;
using std::suspend_never;
}  // namespace duplex::wasm::co
#else
#include <experimental/coroutine>
namespace duplex::wasm::co {
using std::experimental::coroutine_handle;
using std::experimental::suspend_always;
using std::experimental::suspend_never;
}  // namespace duplex::wasm::co
#endif

#include <exception>

namespace duplex::wasm {

// A detached coroutine: starts at once, runs on the browser's event loop
// (resumed from socket events) and frees itself when it returns. For the
// top of a coroutine chain, like asio::co_spawn(..., detached).
struct task {
  struct promise_type {
    task get_return_object() noexcept { return {}; }
    co::suspend_never initial_suspend() noexcept { return {}; }
    co::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    // Built without exception support, a throw aborts anyway.
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

}  // namespace duplex::wasm
