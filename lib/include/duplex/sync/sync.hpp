// duplex::sync: state sync of described entities, server to clients.
// Header-only on top of duplex::schema (describe.hpp, binary.hpp); no game in
// it. Built natively and with em++ from the same headers.
//
//   struct ship { std::uint32_t id = 0; float x = 0, y = 0; std::int32_t hp = 0; };
//   constexpr auto describe(const ship*) { ... }           // schema::object<ship>(...)
//
//   // server                                             // client (e.g. WASM)
//   sync::world<ship> w(&ship::id);                        sync::replica<ship> rep(&ship::id);
//   w.use_grid(sync::grid<ship>(&ship::x, &ship::y, 64));  auto c = rep.apply(bytes);
//   w.upsert(s); w.remove(id); w.tick();                   if (!c) log(c.error().detail);
//   view.area(px, py, 300);  view.filter(pred);            for (auto id : c->added) ...
//   send(view.make_patch(w).bytes);                        // rep.find(id), rep.entities()
//
// Files, one job each:
//   patch.hpp    the wire format's pieces: ticks, errors, one field's encoding
//   world.hpp    world<T, Id> (the server's entities, closed tick by tick) and grid<T, Id>
//   view.hpp     view<T, Id>: what one client sees and has; make_patch
//   replica.hpp  replica<T, Id>: the client's copy; apply (strict, atomic)
//
// Model.
// - world<T, Id> holds entities of a described struct T keyed by an unsigned
//   id member (given as &T::id). upsert/update/remove write into the open
//   tick; the latest write wins. tick() closes it: each touched entity is
//   compared field by field (operator==) with its value at the previous
//   close; the fields that differ get the tick's number (per field), the
//   entity's version becomes the tick, and its change (id, mask, those
//   fields) is encoded once into a buffer every view copies from. New
//   entities record their creation tick; removed ones disappear. Views read
//   the closed state only.
// - view<T, Id> is one client: what it sees (everything, or within r of
//   (x, y) through the world's grid, and/or a filter on the value) and what
//   it has: one tick number and the sorted ids it holds (every patch brings
//   every visible entity to the patch's tick, so one tick stands for each
//   entity's "last received"). make_patch(world) computes the visible set
//   (a grid query: O(entities near the client), not O(world)), merges it
//   with the held ids and writes: removes (held, no longer visible or gone),
//   enters (visible, not held: the whole entity), changes (held, version
//   past the client's tick: the fields changed since then). A client that
//   holds the entity as of its previous change (the usual case: it took
//   every tick) gets a copy of the shared bytes; otherwise (it skipped
//   ticks) the change is encoded for that client, absolute.
//   An entity removed and created again under the same id since the
//   client's tick is a remove plus an enter.
// - A slow client (its socket backlogged: the application knows) is simply
//   not asked for a patch. When it can take one, make_patch gives one patch
//   from what it has to the newest tick: no backlog is ever queued. After a
//   reconnect, view.reset() and replica.reset(): the next patch is from tick
//   0, a snapshot.
// - replica<T, Id> applies patches in order. It checks everything before it
//   changes anything: from_tick must be the tick it has; ids of each section
//   strictly increasing; removes and changes name held ids, enters new ones
//   (or ones the same patch removes); masks non-empty, within the fields, not
//   the id; values under their description's rules (binary.hpp's decoder:
//   ranges, lengths, enums, UTF-8, depth); no trailing bytes. Errors are
//   sync::patch_error {patch_errc, detail}. It returns a changes<Id>
//   (removed, added, changed with field masks) for the page.
//
// Wire format of one patch (varint = LEB128, shortest form only):
//   varint ticks                (to_tick - from_tick) << 5 | (from_tick mod 16) << 1 | (from_tick == 0)
//                               the view knows the tick its client has; the
//                               low bits are a check, bit 0 a snapshot
//   varint head                 changes << 2 | (enters > 0) << 1 | (removes > 0)
//   [varint removes]            if head & 1
//   [varint enters]             if head & 2
//   removes × varint id         increasing
//   enters  × T                 every field in order (the id is one), absolute, by increasing id
//   changes × (varint id, varint mask, fields)   by increasing id; bit i of
//                               mask = the i-th described field; if T has a
//                               scaled field, mask << 1 | absolute
// A field: as binary.hpp writes it inside a struct, except an optional (a
// byte 0/1, then the value if 1) and a scaled float (rules::scale): the
// integer round(value × scale), zigzag varint, within the described range; in
// a change not marked absolute, the difference from the value the client
// holds. The world rounds scaled fields to that grid when a tick closes. A
// change is encoded once per tick with differences from the entity's value
// at its previous change (clients that took every tick copy it); a client
// that skipped ticks gets absolute values.
// An x/y change of one entity with a small id, x and y in hundredths, one
// tick on: ticks + head + id + mask + 2 × 2 bytes = 8 bytes.
//
// Threads: a world and its views belong to one thread (make_patch fills a
// lazily encoded cache in the world); a replica to one.
#pragma once

#include <duplex/sync/patch.hpp>
#include <duplex/sync/replica.hpp>
#include <duplex/sync/view.hpp>
#include <duplex/sync/world.hpp>
