// libFuzzer target: duplex::sync's patch applier (replica::apply) on
// arbitrary bytes, as a page would receive them from a malicious server.
// Never a crash or an over-read (ASan), and:
// - a refused patch leaves the replica exactly as it was, with a reason;
// - an accepted one moves it to the patch's to_tick, every entity under its
//   own id.
// Two replicas: an empty one (the input as a snapshot) and one primed with a
// world's snapshot at tick 3 (the input as removes/enters/changes of held
// entities). The first byte may also split the input into two patches
// applied in turn.
#include <duplex/sync/sync.hpp>

#include "../tests/sync/entity.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
using namespace duplex;
using synctest::unit;
using replica_t = sync::replica<unit>;

const std::string& primed_snapshot() {
  static const std::string bytes = [] {
    sync::world<unit> w(&unit::id);
    for (std::uint32_t i = 1; i <= 6; ++i) {
      unit u;
      u.id = i * 2, u.x = static_cast<float>(i), u.name = "u" + std::to_string(i);
      if (i % 2) u.target = i;
      u.items.assign(i % 3, static_cast<std::uint16_t>(i));
      w.upsert(u);
    }
    w.tick();
    w.tick();
    w.tick();
    sync::view<unit> v;
    return v.make_patch(w).bytes;
  }();
  return bytes;
}

void apply_checked(replica_t& r, std::string_view in) {
  const auto before = r.entities();
  const auto tick = r.tick();
  auto c = r.apply(in);
  if (!c) {
    if (c.error().detail.empty() || r.tick() != tick || !(r.entities() == before)) std::abort();
    return;
  }
  if (r.tick() != c->to || c->from != tick) std::abort();
  for (const auto& [id, u] : r.entities())
    if (u.id != id) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  {
    replica_t r(&unit::id);
    apply_checked(r, in);
  }
  {
    replica_t r(&unit::id);
    if (!r.apply(primed_snapshot())) std::abort();
    apply_checked(r, in);
    if (size > 1 && data[0] < size - 1) {
      replica_t r2(&unit::id);
      if (!r2.apply(primed_snapshot())) std::abort();
      apply_checked(r2, in.substr(1, data[0]));
      apply_checked(r2, in.substr(1 + data[0]));
    }
  }
  return 0;
}
