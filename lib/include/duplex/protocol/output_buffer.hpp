// Bytes queued for the socket.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

namespace duplex::protocol {

// A growable byte array with the appends inline: the common reply is a
// two-byte header and a few bytes, for which std::string's out-of-line
// append cost more than the rest of the reply. Swapped whole (three words)
// between a connection, its transport's in-flight buffer and the buffer a
// transport shares between connections.
class output_buffer {
 public:
  output_buffer() = default;
  output_buffer(output_buffer&& o) noexcept
      : data_(std::move(o.data_)), size_(std::exchange(o.size_, 0)), capacity_(std::exchange(o.capacity_, 0)) {}
  output_buffer& operator=(output_buffer&& o) noexcept {
    output_buffer(std::move(o)).swap(*this);
    return *this;
  }

  const char* data() const noexcept { return data_.get(); }
  char* data() noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view view() const noexcept { return {data_.get(), size_}; }
  operator std::string_view() const noexcept { return view(); }

  // `n` more bytes at the end, uninitialised; the caller fills them.
  char* extend(std::size_t n) {
    if (capacity_ - size_ < n) [[unlikely]]
      grow(n);
    char* at = data_.get() + size_;
    size_ += n;
    return at;
  }
  void append(const char* p, std::size_t n) {
    if (n) std::memcpy(extend(n), p, n);  // an empty view's data may be null
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  void push_back(char c) { *extend(1) = c; }
  void clear() noexcept { size_ = 0; }
  // Frees the storage.
  void release() noexcept {
    data_.reset();
    size_ = capacity_ = 0;
  }
  void swap(output_buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
  }

 private:
  void grow(std::size_t n);  // out of line: rare
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0, capacity_ = 0;
};

}  // namespace duplex::protocol
