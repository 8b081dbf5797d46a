#include "flags.hpp"

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace duplex::chat {

namespace {

// Where the help texts start (the options' names are padded to it).
constexpr std::size_t help_column = 23;

std::string range(std::uint64_t lo, std::uint64_t hi) {
  if (hi == flags::unbounded) return "at least " + std::to_string(lo);
  return std::to_string(lo) + ".." + std::to_string(hi);
}

std::string range(double lo, double hi) {
  std::ostringstream out;
  out << lo << ".." << hi;
  return out.str();
}

// The value of --name as a number in lo..hi, or fail() with `allowed`.
template <class T>
T in_range(const std::string& name, const std::string& v, T lo, T hi, const std::string& allowed) {
  T n{};
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || !(n >= lo && n <= hi))
    flags::fail("bad " + name + " " + v + " (" + allowed + ")");
  return n;
}

}  // namespace

void flags::fail(std::string_view why) {
  std::cerr << "duplex-chat: " << why << "\n(try --help)\n";
  std::exit(2);
}

void flags::add(std::string name, std::string value, std::string help, std::function<void(const std::string&)> apply) {
  options_.push_back({std::move(name), std::move(value), std::move(help), std::move(apply)});
}

void flags::on(std::string name, std::function<void()> set, std::string help) {
  add(std::move(name), {}, std::move(help), [set = std::move(set)](const std::string&) { set(); });
}

void flags::text(std::string name, std::string value, std::function<void(std::string)> set, std::string help) {
  add(std::move(name), std::move(value), std::move(help), [set = std::move(set)](const std::string& v) { set(v); });
}

void flags::checked(std::string name, std::string value, std::string allowed,
                    std::function<bool(const std::string&)> accept, std::string help) {
  auto apply = [name, allowed = std::move(allowed), accept = std::move(accept)](const std::string& v) {
    if (!accept(v)) fail("bad " + name + " " + v + " (" + allowed + ")");
  };
  add(std::move(name), std::move(value), std::move(help), std::move(apply));
}

void flags::whole(std::string name, std::string value, std::uint64_t lo, std::uint64_t hi,
                  std::function<void(std::uint64_t)> set, std::string help) {
  add(name, std::move(value), std::move(help), [name, lo, hi, set = std::move(set)](const std::string& v) {
    set(in_range(name, v, lo, hi, range(lo, hi)));
  });
}

void flags::decimal(std::string name, std::string value, double lo, double hi, std::function<void(double)> set,
                    std::string help) {
  add(name, std::move(value), std::move(help), [name, lo, hi, set = std::move(set)](const std::string& v) {
    set(in_range(name, v, lo, hi, range(lo, hi)));
  });
}

void flags::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage();
      std::exit(0);
    }
    const option* o = nullptr;
    for (const auto& candidate : options_)
      if (candidate.name == arg) o = &candidate;
    if (!o) fail("unknown option " + std::string(arg));
    std::string value;
    if (!o->value.empty()) {
      if (i + 1 >= argc) fail(std::string(arg) + " needs a value");
      value = argv[++i];
    }
    given_.insert(o->name);
    o->apply(value);
  }
}

std::string flags::usage() const {
  std::string out = intro_;
  auto line = [&](std::string head, std::string_view help) {
    head.insert(0, "  ");
    if (head.size() + 1 > help_column) {
      out += head + "\n";
      head.clear();
    }
    head.resize(help_column, ' ');
    // The help's later lines line up under its first.
    for (std::size_t start = 0;;) {
      const auto nl = help.find('\n', start);
      out += head;
      out += help.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
      out += "\n";
      if (nl == std::string_view::npos) break;
      start = nl + 1;
      head.assign(help_column, ' ');
    }
  };
  for (const auto& o : options_) line(o.value.empty() ? o.name : o.name + " " + o.value, o.help);
  line("--help", "this text");
  return out + outro_;
}

}  // namespace duplex::chat
