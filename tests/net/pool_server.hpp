// A real duplex::server on N threads (duplex::io_pool) with a duplex::hub
// over them, on 127.0.0.1 and a free port, for the length of a test.
#pragma once

#include <duplex/net/hub.hpp>
#include <duplex/net/io_pool.hpp>
#include <duplex/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <functional>
#include <memory>
#include <string>

namespace duplex::test {

class pool_server {
 public:
  using setup_fn = std::function<void(server&, hub&)>;
  pool_server(std::size_t threads, server_options opts, setup_fn setup)
      : pool_(threads), hub_(pool_.contexts()) {
    opts.host = "127.0.0.1";
    opts.port = 0;
    srv_ = std::make_unique<server>(pool_.contexts(), std::move(opts));
    setup(*srv_, hub_);
    asio::co_spawn(pool_[0], srv_->run(), asio::detached);
    pool_.start();
  }
  // The threads stop before the hub and the server go (see hub.hpp).
  ~pool_server() {
    pool_.stop();
    pool_.join();
  }
  server& srv() { return *srv_; }
  hub& topics() { return hub_; }
  io_pool& pool() { return pool_; }
  std::uint16_t port() const { return srv_->port(); }
  std::string ws_url(std::string_view path) const {
    return "ws://127.0.0.1:" + std::to_string(port()) + std::string(path);
  }
  // Which of the pool's threads runs `ex` (-1: none).
  int thread_of(const asio::any_io_executor& ex) {
    auto* io = ex.target<asio::io_context::executor_type>();
    for (std::size_t i = 0; i < pool_.size(); ++i)
      if (io && &io->context() == &pool_[i]) return static_cast<int>(i);
    return -1;
  }

 private:
  io_pool pool_;
  hub hub_;
  std::unique_ptr<server> srv_;
};

}  // namespace duplex::test
