// duplex::sync's server-side state: a world of described entities keyed by
// id, closed tick by tick, and the spatial grid views query. See sync.hpp.
#pragma once

#include <duplex/sync/patch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace duplex::sync {

// A uniform grid over two coordinates of T (member pointers), for "what is
// within r of (x, y)". Holds ids only; the world keeps it in step with the
// closed state (world::use_grid).
template <schema::described_struct T, class Id = std::uint32_t>
class grid {
 public:
  template <class C>
  grid(C T::*x, C T::*y, double cell_size)
      : x_([x](const T& v) { return static_cast<double>(v.*x); }),
        y_([y](const T& v) { return static_cast<double>(v.*y); }),
        cell_(cell_size > 0 ? cell_size : 1.0) {}

  double x(const T& v) const { return x_(v); }
  double y(const T& v) const { return y_(v); }
  double cell_size() const noexcept { return cell_; }

  // Puts or moves an entity to its cell.
  void place(Id id, const T& v) {
    const std::uint64_t c = key(cell_of(x_(v)), cell_of(y_(v)));
    auto [it, fresh] = where_.try_emplace(id, c);
    if (!fresh) {
      if (it->second == c) return;
      unlink(id, it->second);
      it->second = c;
    }
    cells_[c].push_back(id);
  }
  void erase(Id id) {
    auto it = where_.find(id);
    if (it == where_.end()) return;
    unlink(id, it->second);
    where_.erase(it);
  }
  // Calls f(id) for every entity in the cells the square around (x, y) of
  // half-side r touches: a superset of those within r (check with within()).
  template <class F>
  void query(double x, double y, double r, F&& f) const {
    if (!(r >= 0)) return;
    const std::int32_t x0 = cell_of(x - r), x1 = cell_of(x + r), y0 = cell_of(y - r), y1 = cell_of(y + r);
    for (std::int64_t cx = x0; cx <= x1; ++cx)
      for (std::int64_t cy = y0; cy <= y1; ++cy) {
        auto it = cells_.find(key(static_cast<std::int32_t>(cx), static_cast<std::int32_t>(cy)));
        if (it == cells_.end()) continue;
        for (Id id : it->second) f(id);
      }
  }
  bool within(const T& v, double x, double y, double r) const {
    const double dx = x_(v) - x, dy = y_(v) - y;
    return dx * dx + dy * dy <= r * r;
  }
  std::size_t size() const noexcept { return where_.size(); }

 private:
  std::int32_t cell_of(double c) const {
    const double q = std::floor(c / cell_);
    if (!(q > -1e9)) return -1000000000;  // NaN and far away: the edge cells
    if (q > 1e9) return 1000000000;
    return static_cast<std::int32_t>(q);
  }
  static std::uint64_t key(std::int32_t cx, std::int32_t cy) {
    return (std::uint64_t{static_cast<std::uint32_t>(cx)} << 32) | static_cast<std::uint32_t>(cy);
  }
  void unlink(Id id, std::uint64_t c) {
    auto it = cells_.find(c);
    if (it == cells_.end()) return;
    auto& ids = it->second;
    auto at = std::find(ids.begin(), ids.end(), id);
    if (at != ids.end()) {
      *at = ids.back();
      ids.pop_back();
    }
    if (ids.empty()) cells_.erase(it);
  }

  std::function<double(const T&)> x_, y_;
  double cell_;
  std::unordered_map<std::uint64_t, std::vector<Id>> cells_;
  std::unordered_map<Id, std::uint64_t> where_;
};

// The server's state. Changes (upsert, remove) go into the open tick; tick()
// closes it: each touched entity is compared field by field with its value
// at the previous close, and what differs gets this tick's number. Views read
// only the closed state, so a patch never carries half a tick.
template <schema::described_struct T, class Id = std::uint32_t>
class world {
 public:
  static constexpr std::size_t fields = field_count<T>;

  // One entity, as views see it.
  struct entity {
    T value;                 // the open tick's value (what upsert wrote last)
    T base;                  // the value at the last close: what clients get
    bool alive = true;       // false: removed in the open tick
    bool closed = false;     // base is valid (the entity existed at the last close)
    bool dirty = false;      // touched in the open tick
    tick_t created = 0;      // the tick it appeared in (since its last removal)
    tick_t version = 0;      // the last tick that changed it
    tick_t previous = 0;     // the change before that one (or the creation)
    std::uint64_t mask = 0;  // the fields changed in tick `version`
    std::array<tick_t, fields> field_tick{};  // per field, the last tick that changed it
    // Encoded once per change, shared by every view that has the entity as
    // of `previous` (or later, before `version`): id, mask, those fields
    // (scaled floats as differences from their value at `previous`).
    std::string delta;
    // The whole entity, for clients it enters; encoded when first needed.
    mutable std::string full;
    mutable tick_t full_at = 0;

    const std::string& full_bytes() const {
      if (full_at != version) {
        full.clear();
        detail::put_entity(full, base);
        full_at = version;
      }
      return full;
    }
  };

  explicit world(Id T::*id) : id_(id), id_index_(id_field_index<T>(id)) {}

  Id T::*id_member() const noexcept { return id_; }
  std::size_t id_index() const noexcept { return id_index_; }

  // Keeps a grid over the closed state (for view::area).
  void use_grid(grid<T, Id> g) {
    grid_.emplace(std::move(g));
    for (auto& [id, e] : entities_)
      if (e.closed) grid_->place(id, e.base);
  }
  const grid<T, Id>* spatial() const noexcept { return grid_ ? &*grid_ : nullptr; }

  // Creates or replaces the entity with v's id (latest value in a tick wins).
  void upsert(const T& v) {
    entity& e = touch(v.*id_);
    e.value = v;
    e.alive = true;
  }
  // Edits an entity in place: f(T&). False (and f not called) if there is none.
  template <class F>
  bool update(Id id, F&& f) {
    auto it = entities_.find(id);
    if (it == entities_.end() || !it->second.alive) return false;
    entity& e = touch(id);
    f(e.value);
    e.value.*id_ = id;
    return true;
  }
  // Removes an entity at the end of the open tick. False if there is none.
  bool remove(Id id) {
    auto it = entities_.find(id);
    if (it == entities_.end() || !it->second.alive) return false;
    touch(id).alive = false;
    return true;
  }

  // Closes the open tick and returns its number.
  tick_t tick() {
    ++now_;
    for (Id id : dirty_) {
      auto it = entities_.find(id);
      entity& e = it->second;
      e.dirty = false;
      if (!e.alive) {
        if (grid_) grid_->erase(id);
        entities_.erase(it);
        continue;
      }
      detail::snap_fields(e.value);  // scaled floats onto their grid: what clients will hold
      if (!e.closed) {
        e.base = e.value;
        e.closed = true;
        e.created = e.version = e.previous = now_;
        e.mask = all_fields<T>;
        e.field_tick.fill(now_);
        e.delta.clear();
        if (grid_) grid_->place(id, e.base);
        ++changed_;
        continue;
      }
      const std::uint64_t mask = detail::diff_fields(e.value, e.base);
      if (mask == 0) continue;
      e.delta.clear();
      detail::put_varint(e.delta, static_cast<std::uint64_t>(id));
      detail::put_varint(e.delta, detail::mask_word<T>(mask, false));
      detail::put_fields(e.delta, e.value, mask, &e.base);
      detail::copy_fields(e.base, e.value, mask);
      e.previous = e.version;
      e.version = now_;
      e.mask = mask;
      for (std::size_t i = 0; i < fields; ++i)
        if ((mask >> i) & 1) e.field_tick[i] = now_;
      if (grid_) grid_->place(id, e.base);
      ++changed_;
    }
    dirty_.clear();
    return now_;
  }

  // The last closed tick (0 before the first).
  tick_t now() const noexcept { return now_; }

  // The closed entity with this id, or null.
  const entity* find(Id id) const {
    auto it = entities_.find(id);
    return it == entities_.end() || !it->second.closed ? nullptr : &it->second;
  }
  // The open tick's value, or null (none, or removed in the open tick).
  const T* pending(Id id) const {
    auto it = entities_.find(id);
    return it == entities_.end() || !it->second.alive ? nullptr : &it->second.value;
  }
  // f(id, const entity&) for every closed entity, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [id, e] : entities_)
      if (e.closed) f(id, e);
  }
  std::size_t size() const noexcept { return entities_.size(); }
  // Entities changed or created by tick() so far (a counter for metrics).
  std::uint64_t changes_closed() const noexcept { return changed_; }

 private:
  entity& touch(Id id) {
    auto [it, fresh] = entities_.try_emplace(id);
    entity& e = it->second;
    if (fresh) e.alive = true;
    if (!e.dirty) {
      e.dirty = true;
      dirty_.push_back(id);
    }
    return e;
  }

  Id T::*id_;
  std::size_t id_index_;
  tick_t now_ = 0;
  std::uint64_t changed_ = 0;
  std::unordered_map<Id, entity> entities_;
  std::vector<Id> dirty_;
  std::optional<grid<T, Id>> grid_;
};

}  // namespace duplex::sync
