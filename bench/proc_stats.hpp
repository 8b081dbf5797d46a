// What a benchmark reads about a process from /proc and getrusage: its
// resident memory and the CPU time it used (all threads), for figures per
// server CPU-second.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <cstdlib>
#include <string>

namespace bench {

inline long read_rss_kb(long pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

// utime + stime of a process, in seconds (includes all its threads).
inline double read_cpu_s(long pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

inline double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace bench

namespace bench {

// Kernel-wide socket memory, for memory per connection beyond the process's
// RSS: /proc/net/sockstat's TCP line (sockets in use, and "mem": pages the
// TCP stack has charged for socket buffers, system-wide) and /proc/meminfo's
// Slab (kernel objects: struct tcp_sock, inode, file, epoll entry, ...).
// Both are system-wide: a load generator on the same host adds its own ends
// of the connections (two sockets per connection), and anything else running
// on the host shows too.
struct kernel_mem {
  long tcp_inuse = -1;     // TCP sockets in use (both ends of loopback connections)
  long tcp_mem_pages = -1; // sockstat TCP "mem", in pages
  long slab_kb = -1;       // meminfo Slab
  long page_size = sysconf(_SC_PAGESIZE);
};

inline kernel_mem read_kernel_mem() {
  kernel_mem k;
  std::ifstream s("/proc/net/sockstat");
  std::string line;
  while (std::getline(s, line)) {
    if (line.rfind("TCP:", 0) != 0) continue;
    std::istringstream in(line.substr(4));
    std::string key;
    long v = 0;
    while (in >> key >> v) {
      if (key == "inuse") k.tcp_inuse = v;
      else if (key == "mem") k.tcp_mem_pages = v;
    }
  }
  std::ifstream m("/proc/meminfo");
  while (std::getline(m, line))
    if (line.rfind("Slab:", 0) == 0) k.slab_kb = std::strtol(line.c_str() + 5, nullptr, 10);
  return k;
}

// {"tcp_inuse":[before,after],"tcp_mem_pages":[..],"slab_kb":[..],
//  "sock_mem_per_conn_bytes":..,"slab_per_conn_bytes":..} for n connections
// (both their ends on this host: divide by 2 for one socket).
inline std::string kernel_mem_json(const kernel_mem& a, const kernel_mem& b, long n) {
  std::ostringstream j;
  j.setf(std::ios::fixed);
  j.precision(1);
  j << "{\"tcp_inuse\":[" << a.tcp_inuse << "," << b.tcp_inuse << "],\"tcp_mem_pages\":[" << a.tcp_mem_pages << ","
    << b.tcp_mem_pages << "],\"slab_kb\":[" << a.slab_kb << "," << b.slab_kb << "],\"page_size\":" << a.page_size;
  if (n > 0 && a.tcp_mem_pages >= 0 && b.tcp_mem_pages >= 0)
    j << ",\"sock_mem_per_conn_bytes\":"
      << static_cast<double>(b.tcp_mem_pages - a.tcp_mem_pages) * static_cast<double>(a.page_size) / static_cast<double>(n);
  if (n > 0 && a.slab_kb >= 0 && b.slab_kb >= 0)
    j << ",\"slab_per_conn_bytes\":" << static_cast<double>(b.slab_kb - a.slab_kb) * 1024.0 / static_cast<double>(n);
  j << "}";
  return j.str();
}

}  // namespace bench
