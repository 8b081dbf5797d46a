// A real duplex-chat process for a test: started with the given flags on a
// free port, its stdout and stderr collected, killed at the end if still
// running.
#pragma once

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace duplex::test {

class chat_process {
 public:
  // until_listening = false: returns at once (for a start that should
  // fail: see wait_exit and output).
  explicit chat_process(std::vector<std::string> flags, bool until_listening = true) {
    std::vector<std::string> args = {DUPLEX_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0",
                                     "--root", DUPLEX_TEST_ROOT};
    // No ./duplex-data left behind (--redis refuses --memory: it keeps no files).
    if (std::find(flags.begin(), flags.end(), "--redis") == flags.end()) args.push_back("--memory");
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
    out_fd_ = fds[0];
    reader_ = std::thread([this] {
      char buf[4096];
      for (;;) {
        const ssize_t n = ::read(out_fd_, buf, sizeof buf);
        if (n <= 0) break;
        std::lock_guard lock(m_);
        out_.append(buf, static_cast<std::size_t>(n));
      }
    });
    if (!until_listening) return;
    // "listening on http://localhost:PORT/ ..." (or the same in a JSON line)
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until && !wait_exit(std::chrono::milliseconds(0))) {
      const std::string o = output();
      if (auto at = o.find("http://localhost:"); at != std::string::npos) {
        port_ = static_cast<std::uint16_t>(std::stoi(o.substr(at + 17)));
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("duplex-chat did not start: " + output());
  }
  ~chat_process() { stop(); }
  void stop() {
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
      exited_ = true;
    }
    if (reader_.joinable()) reader_.join();
    if (out_fd_ >= 0) ::close(out_fd_);
    out_fd_ = -1;
  }
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string ws_url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/ws/chat"; }
  void signal(int sig) { ::kill(pid_, sig); }
  std::string output() {
    std::lock_guard lock(m_);
    return out_;
  }
  // The exit status (waitpid's) once it exits within `limit`; nullopt if it hasn't.
  std::optional<int> wait_exit(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    do {
      if (exited_) return status_;
      if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
        exited_ = true;
        if (reader_.joinable()) reader_.join();  // all it wrote is in output()
        return status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } while (std::chrono::steady_clock::now() < until);
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::uint16_t port_ = 0;
  bool exited_ = false;
  int status_ = 0;
  std::thread reader_;
  std::mutex m_;
  std::string out_;
};

}  // namespace duplex::test
