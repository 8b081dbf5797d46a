#include <duplex/protocol/output_buffer.hpp>

#include <algorithm>

namespace duplex::protocol {

void output_buffer::grow(std::size_t n) {
  const std::size_t capacity = std::max({size_ + n, capacity_ * 2, std::size_t{256}});
  auto fresh = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_) std::memcpy(fresh.get(), data_.get(), size_);
  data_ = std::move(fresh);
  capacity_ = capacity;
}

}  // namespace duplex::protocol
