// duplex::sync's per-client side on the server: what one client sees
// (everything, or an area of the world's grid, and a filter) and what it
// has (a tick and the ids it holds), and the patch between the two.
// See sync.hpp for the design and the wire format.
#pragma once

#include <duplex/sync/world.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace duplex::sync {

// A patch and what is in it.
struct patch {
  std::string bytes;
  tick_t from = 0, to = 0;
  std::size_t removed = 0, entered = 0, changed = 0;
  // Changes copied from the tick's shared encoding, and those encoded for
  // this client alone (it had skipped ticks).
  std::size_t shared = 0, own = 0;
  bool empty() const noexcept { return removed + entered + changed == 0; }
};

template <schema::described_struct T, class Id = std::uint32_t>
class view {
 public:
  using world_type = world<T, Id>;
  using entity = typename world_type::entity;

  // Everything the filter accepts (all entities without one).
  void everything() { area_ = false; }
  // Entities within r of (x, y), found through the world's grid
  // (world::use_grid); without a grid, every entity is tested.
  void area(double x, double y, double r) {
    area_ = true;
    x_ = x, y_ = y, r_ = r;
  }
  // Only entities for which f(value) is true (with the area, both).
  void filter(std::function<bool(const T&)> f) { filter_ = std::move(f); }

  // The client lost its state (a reconnect): the next patch is a snapshot.
  void reset() {
    have_ = 0;
    known_.clear();
  }
  // The tick the client has, and the ids it holds (increasing).
  tick_t has() const noexcept { return have_; }
  const std::vector<Id>& known() const noexcept { return known_; }

  // Whether an entity is in this view (the closed state).
  bool sees(const world_type& w, const T& v) const {
    if (area_) {
      const grid<T, Id>* g = w.spatial();
      if (g && !g->within(v, x_, y_, r_)) return false;
    }
    return !filter_ || filter_(v);
  }

  // The patch from what the client has to the world's newest closed tick;
  // from then on the view counts it as delivered. A slow client is simply
  // not asked until its socket drains: it then gets one patch, however many
  // ticks it missed.
  patch make_patch(const world_type& w) {
    patch p;
    make_patch(w, p);
    return p;
  }
  void make_patch(const world_type& w, patch& p) {
    p.bytes.clear();
    p.from = have_;
    p.to = w.now();
    p.removed = p.entered = p.changed = p.shared = p.own = 0;

    // What it sees now, by id.
    visible_.clear();
    const grid<T, Id>* g = w.spatial();
    if (area_ && g) {
      g->query(x_, y_, r_, [&](Id id) {
        const entity* e = w.find(id);
        if (e && g->within(e->base, x_, y_, r_) && (!filter_ || filter_(e->base))) visible_.emplace_back(id, e);
      });
    } else {
      w.for_each([&](Id id, const entity& e) {
        if (sees(w, e.base)) visible_.emplace_back(id, &e);
      });
    }
    std::sort(visible_.begin(), visible_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

    // Merged with what it has: removes, enters and changes, each by increasing id.
    removes_.clear(), enters_.clear(), changes_.clear();
    next_known_.clear();
    std::size_t k = 0;
    const auto remove = [&](Id id) {
      detail::put_varint(removes_, static_cast<std::uint64_t>(id));
      ++p.removed;
    };
    const auto enter = [&](Id id, const entity& e) {
      enters_.append(e.full_bytes());
      ++p.entered;
      next_known_.push_back(id);
    };
    for (const auto& [id, e] : visible_) {
      while (k < known_.size() && known_[k] < id) remove(known_[k++]);
      if (k < known_.size() && known_[k] == id) {
        ++k;
        if (e->created > have_) {  // removed and created again since: a new entity
          remove(id);
          enter(id, *e);
          continue;
        }
        next_known_.push_back(id);
        if (e->version <= have_) continue;
        if (e->previous <= have_) {
          // It has the entity as it was before its last change: the change's shared bytes.
          changes_.append(e->delta);
          ++p.shared;
        } else {
          // It skipped ticks: the fields changed since its tick, absolute.
          std::uint64_t since = 0;
          for (std::size_t i = 0; i < world_type::fields; ++i)
            if (e->field_tick[i] > have_) since |= std::uint64_t{1} << i;
          detail::put_varint(changes_, static_cast<std::uint64_t>(id));
          detail::put_varint(changes_, detail::mask_word<T>(since, true));
          detail::put_fields(changes_, e->base, since);
          ++p.own;
        }
        ++p.changed;
      } else {
        enter(id, *e);
      }
    }
    while (k < known_.size()) remove(known_[k++]);

    // The ticks ((to - from) << 5 | (from mod 16) << 1 | snapshot), then
    // (changes << 2 | enters? << 1 | removes?), the counts of the sections
    // present, the sections.
    detail::put_varint(p.bytes, detail::tick_word(p.from, p.to));
    detail::put_varint(p.bytes, (std::uint64_t{p.changed} << 2) | (p.entered ? 2u : 0u) | (p.removed ? 1u : 0u));
    if (p.removed) detail::put_varint(p.bytes, p.removed);
    if (p.entered) detail::put_varint(p.bytes, p.entered);
    p.bytes.append(removes_).append(enters_).append(changes_);

    known_.swap(next_known_);
    have_ = p.to;
  }

 private:
  bool area_ = false;
  double x_ = 0, y_ = 0, r_ = 0;
  std::function<bool(const T&)> filter_;
  tick_t have_ = 0;
  std::vector<Id> known_, next_known_;
  std::vector<std::pair<Id, const entity*>> visible_;
  std::string removes_, enters_, changes_;
};

}  // namespace duplex::sync
