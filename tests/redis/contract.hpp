// For the contract suites (history, broker, presence manager): each runs the
// same typed cases on an in-process engine and on the Redis one, named
// "memory" and "redis" in gtest's output.
#pragma once

#include <string>
#include <type_traits>

namespace duplex::test {

template <class MemoryEngine>
struct engine_names {
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryEngine> ? "memory" : "redis";
  }
};

}  // namespace duplex::test
