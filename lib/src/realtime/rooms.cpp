#include <duplex/realtime/rooms.hpp>

namespace duplex::realtime {

std::error_code validate_room_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_room_name) return errc::invalid_room_name;
  for (unsigned char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-';
    if (!ok) return errc::invalid_room_name;
  }
  return {};
}

}  // namespace duplex::realtime
