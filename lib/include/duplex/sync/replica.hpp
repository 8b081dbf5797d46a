// duplex::sync's client side: the entities a client sees, kept by applying
// the server's patches in order. Strict: a patch that is malformed, breaks a
// field's rules, or does not start at the tick the replica has is refused
// with a typed error and changes nothing. Never reads past the patch; counts
// are checked against the bytes left before anything is allocated.
// See sync.hpp for the design and the wire format.
#pragma once

#include <duplex/sync/patch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace duplex::sync {

// What one patch did, by increasing id in each list. An entity removed and
// created again under the same id is in both removed and added.
template <class Id>
struct changes {
  tick_t from = 0, to = 0;
  std::vector<Id> removed;
  std::vector<Id> added;
  std::vector<std::pair<Id, std::uint64_t>> changed;  // id, mask of the fields the patch set
  bool empty() const noexcept { return removed.empty() && added.empty() && changed.empty(); }
};

template <schema::described_struct T, class Id = std::uint32_t>
class replica {
  static_assert(std::is_unsigned_v<Id>, "ids are unsigned integers");

 public:
  using entities_type = std::unordered_map<Id, T>;

  explicit replica(Id T::*id) : id_(id), id_index_(id_field_index<T>(id)) {}

  // Applies one patch. On success the replica is at the patch's to_tick;
  // on error it is as it was.
  result<changes<Id>> apply(std::string_view bytes) {
    schema::detail::decoder& d = schema::detail::binary_decoder();
    detail::reader r{reinterpret_cast<const unsigned char*>(bytes.data()),
                     reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size()};
    changes<Id> out;
    std::uint64_t word = 0, head = 0, n_removes = 0, n_enters = 0;
    if (!number(d, r, word, "the ticks")) return error_;
    const bool snapshot = word & 1;
    const std::uint64_t low = (word >> 1) & 15, span = word >> 5;
    if (snapshot && low != 0) return fail(patch_errc::bad_header, "a snapshot's from_tick bits are not 0");
    if (snapshot != (have_ == 0) || (!snapshot && low != (have_ & 15)))
      return fail(patch_errc::wrong_from_tick,
                  std::string("the patch starts at ") +
                      (snapshot ? std::string("tick 0") : "a tick = " + std::to_string(low) + " (mod 16)") +
                      "; the replica has " + std::to_string(have_));
    const std::uint64_t from = snapshot ? 0 : have_;
    if (span > (std::uint64_t{1} << 58) || from > (std::uint64_t{1} << 58))
      return fail(patch_errc::bad_header, "to_tick past 2^59");
    out.from = from;
    out.to = from + span;
    if (!number(d, r, head, "the section header")) return error_;
    const std::uint64_t n_changes = head >> 2;
    if ((head & 1) && (!number(d, r, n_removes, "the count of removes") || !count(n_removes, r, 1, "removes")))
      return error_;
    if ((head & 2) && (!number(d, r, n_enters, "the count of entities entering") ||
                       !count(n_enters, r, detail::entity_min_size<T>(), "entering entities")))
      return error_;
    if (!count(n_changes, r, 2, "changes")) return error_;

    // Removes: known ids, increasing.
    out.removed.reserve(static_cast<std::size_t>(n_removes));
    for (std::uint64_t i = 0; i < n_removes; ++i) {
      std::uint64_t raw = 0;
      if (!number(d, r, raw, "a removed id")) return error_;
      Id id{};
      if (!as_id(raw, id) || !increasing(out.removed, id, "removes")) return error_;
      if (!entities_.count(id)) return fail(patch_errc::unknown_id, "removes: no entity " + std::to_string(raw));
      out.removed.push_back(id);
    }
    // Entering entities, whole: new ids (or ids the patch removes), increasing.
    enters_.clear();
    enters_.reserve(static_cast<std::size_t>(n_enters));
    for (std::uint64_t i = 0; i < n_enters; ++i) {
      T v{};
      d.push(std::string_view("entering"));
      d.push(static_cast<std::size_t>(i));
      const bool ok = detail::get_fields(d, r, v, all_fields<T>);
      d.pop(), d.pop();
      if (!ok) return value_error(d);
      const Id id = v.*id_;
      if (!increasing(out.added, id, "entering entities")) return error_;
      if (entities_.count(id) && !std::binary_search(out.removed.begin(), out.removed.end(), id))
        return fail(patch_errc::already_known, "entering entities: entity " + std::to_string(id) + " is already here");
      out.added.push_back(id);
      enters_.push_back(std::move(v));
    }
    // Changes: ids held and kept, a mask of fields (not the id), those fields.
    staged_.clear();
    staged_.reserve(static_cast<std::size_t>(n_changes));
    out.changed.reserve(static_cast<std::size_t>(n_changes));
    for (std::uint64_t i = 0; i < n_changes; ++i) {
      std::uint64_t raw = 0, mask = 0;
      if (!number(d, r, raw, "a changed id")) return error_;
      Id id{};
      if (!as_id(raw, id)) return error_;
      if (!out.changed.empty() && !(out.changed.back().first < id))
        return fail(patch_errc::unordered_ids, "changes: id " + std::to_string(raw) + " after " +
                                                   std::to_string(out.changed.back().first));
      auto it = entities_.find(id);
      if (it == entities_.end() || std::binary_search(out.removed.begin(), out.removed.end(), id))
        return fail(patch_errc::unknown_id, "changes: no entity " + std::to_string(raw));
      if (!number(d, r, mask, "a change's field mask")) return error_;
      bool absolute = true;
      if constexpr (detail::has_scaled<T>()) {
        absolute = mask & 1;
        mask >>= 1;
      }
      if (mask == 0 || (mask & ~all_fields<T>) != 0 || (id_index_ < 64 && ((mask >> id_index_) & 1)))
        return fail(patch_errc::bad_mask, "changes: entity " + std::to_string(raw) + ": field mask " +
                                              std::to_string(mask) + " is empty, names no field or names the id");
      T v = it->second;
      // The path "entities[<id>]": two segments, made text only on an error
      // (an id past size_t, in WASM, as text of its own).
      int segments = 1;
      if (raw <= std::numeric_limits<std::size_t>::max()) {
        d.push(std::string_view("entities"));
        d.push(static_cast<std::size_t>(raw));
        segments = 2;
      } else {
        path_ = "entities[" + std::to_string(raw) + "]";
        d.push(std::string_view(path_));
      }
      const bool ok = detail::get_fields(d, r, v, mask, absolute);
      d.depth -= segments;
      if (!ok) return value_error(d);
      out.changed.emplace_back(id, mask);
      staged_.push_back(std::move(v));
    }
    if (r.left() != 0)
      return fail(patch_errc::trailing_bytes, std::to_string(r.left()) + " bytes after the last section");

    // All checked: apply.
    for (Id id : out.removed) entities_.erase(id);
    for (auto& v : enters_) {
      const Id id = v.*id_;
      entities_.insert_or_assign(id, std::move(v));
    }
    for (std::size_t i = 0; i < staged_.size(); ++i) entities_[out.changed[i].first] = std::move(staged_[i]);
    have_ = out.to;
    return out;
  }

  // Forgets everything (a reconnect): the next patch must be a snapshot.
  void reset() {
    have_ = 0;
    entities_.clear();
  }
  tick_t tick() const noexcept { return have_; }
  const T* find(Id id) const {
    auto it = entities_.find(id);
    return it == entities_.end() ? nullptr : &it->second;
  }
  const std::unordered_map<Id, T>& entities() const noexcept { return entities_; }
  std::size_t size() const noexcept { return entities_.size(); }

 private:
  result<changes<Id>> fail(patch_errc c, std::string detail) {
    error_ = patch_error{c, std::move(detail)};
    return error_;
  }
  result<changes<Id>> value_error(schema::detail::decoder& d) {
    const schema::decode_error& e = *d.error;
    error_ = patch_error{e.code == schema::decode_errc::truncated ? patch_errc::truncated : patch_errc::bad_value,
                         e.detail};
    return error_;
  }
  // A varint; on failure error_ is set from the schema decoder's verdict.
  bool number(schema::detail::decoder& d, detail::reader& r, std::uint64_t& v, const char* what) {
    if (schema::detail::get_varint(d, r, v)) return true;
    const bool cut = d.error && d.error->code == schema::decode_errc::truncated;
    error_ = patch_error{cut ? patch_errc::truncated : patch_errc::bad_number,
                         std::string(what) + ": " + (d.error ? d.error->detail : std::string("bad number"))};
    d.error.reset();
    return false;
  }
  bool count(std::uint64_t n, const detail::reader& r, std::size_t min_each, const char* what) {
    if (n <= r.left() / min_each) return true;
    error_ = patch_error{patch_errc::too_many, std::string(what) + ": " + std::to_string(n) + " cannot fit in the " +
                                                   std::to_string(r.left()) + " bytes left"};
    return false;
  }
  bool as_id(std::uint64_t raw, Id& id) {
    if (raw > static_cast<std::uint64_t>(std::numeric_limits<Id>::max())) {
      error_ = patch_error{patch_errc::bad_value, "id " + std::to_string(raw) + " is out of range"};
      return false;
    }
    id = static_cast<Id>(raw);
    return true;
  }
  bool increasing(const std::vector<Id>& ids, Id id, const char* what) {
    if (ids.empty() || ids.back() < id) return true;
    error_ = patch_error{patch_errc::unordered_ids,
                         std::string(what) + ": id " + std::to_string(id) + " after " + std::to_string(ids.back())};
    return false;
  }

  Id T::*id_;
  std::size_t id_index_;
  tick_t have_ = 0;
  std::unordered_map<Id, T> entities_;
  std::vector<T> enters_, staged_;
  patch_error error_;
  std::string path_;  // the decoder's path segment for a change to an id past size_t
};

}  // namespace duplex::sync
