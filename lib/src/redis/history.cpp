#include <duplex/redis/history.hpp>

#include <asio/co_spawn.hpp>

#include <exception>
#include <memory>
#include <utility>

namespace duplex::redis {
namespace {

std::error_code code_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& se) {
    return se.code();
  } catch (...) {
    return make_error_code(errc::protocol_error);
  }
}

// Runs `op` (an awaitable of T) on the client's executor and hands its
// result, or the error it threw, to `done`.
template <class T, class Done>
void run(client& c, asio::awaitable<T> op, Done done) {
  asio::co_spawn(c.get_executor(), std::move(op), [done = std::move(done)](std::exception_ptr e, T value) {
    if (e) done(code_of(e), T{});
    else done({}, std::move(value));
  });
}

}  // namespace

std::error_code check_since(const realtime::stream_position& after, std::size_t limit,
                            const realtime::history_page& page) {
  using realtime::errc;
  const auto top = page.top.offset;
  if (after.epoch != page.top.epoch) return errc::epoch_mismatch;
  if (after.offset > top) return errc::position_from_future;
  if (after.offset == top) return {};
  const auto missed = top - after.offset;
  auto& pubs = page.publications;
  // Trimmed by MAXLEN (or a stream lost while the meta survived): the
  // first missed offset is gone. Checked before the limit, as the embedded
  // engines do, so every engine answers alike. (The page holds at most
  // `limit` entries, so only its first tells about a gap then.)
  if (pubs.empty() || pubs.front().offset != after.offset + 1) return errc::gap_beyond_retention;
  if (limit != 0 && missed > limit) return errc::recovery_limit;
  if (pubs.size() != missed || pubs.back().offset != top) return errc::gap_beyond_retention;
  return {};
}

redis_history::redis_history(client& c, stream_config config) : client_(c), streams_(c, std::move(config)) {}

void redis_history::publish(std::string_view channel, std::string payload, publish_handler done) {
  // streams::publish formats its request before returning: payload may go.
  run(client_, streams_.publish(channel, payload), std::move(done));
}

void redis_history::recent(std::string_view channel, std::size_t n, read_handler done) {
  run(client_, streams_.recent(channel, n), std::move(done));
}

void redis_history::since(std::string_view channel, realtime::stream_position after, std::size_t limit,
                          read_handler done) {
  run(client_, streams_.since(channel, after.offset, limit),
      [after = std::move(after), limit, done = std::move(done)](std::error_code ec, realtime::history_page page) {
        if (!ec) ec = check_since(after, limit, page);
        if (ec) page.publications.clear();
        done(ec, std::move(page));
      });
}

void redis_history::reset(std::string_view channel, publish_handler done) {
  // After DEL the next read creates the new epoch: read it to answer.
  auto op = [](redis::streams& s, std::string channel) -> asio::awaitable<realtime::stream_position> {
    co_await s.reset(channel);
    auto page = co_await s.recent(channel, 0);
    co_return page.top;
  };
  run(client_, op(streams_, std::string(channel)), std::move(done));
}

}  // namespace duplex::redis
