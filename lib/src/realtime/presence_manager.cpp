#include <duplex/realtime/presence_manager.hpp>

namespace duplex::realtime {

presence& presence_manager::state(std::string_view channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) it = channels_.emplace(std::string(channel), presence(config_)).first;
  return it->second;
}

const presence& presence_manager::open(std::string_view channel) { return state(channel); }

presence* presence_manager::find(std::string_view channel) {
  auto it = channels_.find(channel);
  return it == channels_.end() ? nullptr : &it->second;
}

const presence* presence_manager::find(std::string_view channel) const {
  auto it = channels_.find(channel);
  return it == channels_.end() ? nullptr : &it->second;
}

void presence_manager::close(std::string_view channel) {
  if (auto it = channels_.find(channel); it != channels_.end()) channels_.erase(it);
}

std::error_code presence_manager::join(std::string_view channel, const std::string& name, const std::string& token,
                                       clock::time_point now) {
  return state(channel).join(name, token, "", now);
}

bool presence_manager::disconnect(std::string_view channel, std::string_view name, std::string_view token,
                                  clock::time_point now) {
  presence* p = find(channel);
  return p && p->disconnect(name, token, now);
}

bool presence_manager::leave(std::string_view channel, const std::string& name, std::string_view token) {
  presence* p = find(channel);
  return p && p->leave(name, token);
}

presence_diff presence_manager::tick(std::string_view channel, clock::time_point now) {
  presence* p = find(channel);
  return p ? p->tick(now) : presence_diff{};
}

bool presence_manager::local_members(std::string_view channel) const {
  const presence* p = find(channel);
  return p && p->size() > 0;
}

void memory_presence::claim(std::string_view, std::string, std::string, claim_handler done) {
  if (done) done({});
}

}  // namespace duplex::realtime
