// duplex-chat's command line: one table of options, each with its type,
// range and help text. The table parses the command line, checks each value
// (one error style: "bad --flag VALUE (allowed)", exit status 2) and writes
// the --help text.
//
//   duplex::chat::flags f("usage: tool [options]\n\n", "");
//   f.number("--threads", "N", 1, 1024, threads, "threads serving connections");
//   f.on("--memory", memory, "keep history in memory only");
//   f.parse(argc, argv);  // exits 0 after --help, 2 on a bad command line
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duplex::chat {

class flags {
 public:
  // --help prints `intro`, the options, then `outro`.
  flags(std::string intro, std::string outro) : intro_(std::move(intro)), outro_(std::move(outro)) {}

  // One row per option, in the order --help lists them: the flag, its
  // value's name (and range), where the value goes, and the help text
  // (lines after the first, split by "\n", are indented under it).

  // --name: no value.
  void on(std::string name, std::function<void()> set, std::string help);
  void on(std::string name, bool& target, std::string help) {
    on(std::move(name), [&target] { target = true; }, std::move(help));
  }
  // --name VALUE: any text. Repeatable when `set` keeps every value.
  void text(std::string name, std::string value, std::function<void(std::string)> set, std::string help);
  template <class T>
  void text(std::string name, std::string value, T& target, std::string help) {
    text(std::move(name), std::move(value), [&target](std::string v) { target = std::move(v); }, std::move(help));
  }
  // --name VALUE that `accept` takes (false: "bad --name VALUE (allowed)").
  void checked(std::string name, std::string value, std::string allowed,
               std::function<bool(const std::string&)> accept, std::string help);
  // --name N: a whole number in lo..hi (hi = unbounded: no upper limit).
  void whole(std::string name, std::string value, std::uint64_t lo, std::uint64_t hi,
             std::function<void(std::uint64_t)> set, std::string help);
  template <class T>
  void number(std::string name, std::string value, std::uint64_t lo, std::uint64_t hi, T& target, std::string help) {
    whole(std::move(name), std::move(value), lo, hi, [&target](std::uint64_t n) { target = static_cast<T>(n); },
          std::move(help));
  }
  // --name SEC: whole seconds in lo..hi, into any duration.
  template <class Rep, class Period>
  void seconds(std::string name, std::uint64_t lo, std::uint64_t hi, std::chrono::duration<Rep, Period>& target,
               std::string help) {
    whole(std::move(name), "SEC", lo, hi, [&target](std::uint64_t n) {
      target = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(std::chrono::seconds(n));
    }, std::move(help));
  }
  // --name N: a decimal number in lo..hi (fractions allowed).
  void decimal(std::string name, std::string value, double lo, double hi, std::function<void(double)> set,
               std::string help);

  // Applies the command line to the targets, in order. --help (or -h)
  // prints usage() and exits 0; an unknown option, a missing value or a bad
  // one exits 2 through fail().
  void parse(int argc, char** argv);
  // Whether the command line had --name.
  bool given(std::string_view name) const { return given_.find(name) != given_.end(); }
  std::string usage() const;

  // "duplex-chat: <why>" and "(try --help)" on stderr; exits 2.
  [[noreturn]] static void fail(std::string_view why);

  static constexpr std::uint64_t unbounded = std::numeric_limits<std::uint64_t>::max();

 private:
  struct option {
    std::string name, value, help;  // value empty: takes none
    std::function<void(const std::string&)> apply;
  };
  void add(std::string name, std::string value, std::string help, std::function<void(const std::string&)> apply);

  std::string intro_, outro_;
  std::vector<option> options_;
  std::set<std::string, std::less<>> given_;
};

}  // namespace duplex::chat
