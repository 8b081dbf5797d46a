// alloc_probe.so: LD_PRELOAD'ed into an unmodified server, it counts the
// heap the process holds (every malloc-family call, so Asio's aligned_alloc
// and OpenSSL's and zlib's allocations too, not only operator new) and, on
// request, which code made the blocks still alive.
//
// Control without signals or sockets (the server is not ours to change):
// write a command into $DUPLEX_ALLOC_PROBE/cmd; a probe thread polls it.
//   mark   forget earlier records; from now on record a backtrace of
//          every allocation (so the blocks an idle connection keeps can
//          be told apart from the process's own)
//   dump   write $DUPLEX_ALLOC_PROBE/dump-<n>: live bytes and blocks, then
//          the recorded blocks still alive, one per line:
//          "<usable size> <frame> <frame> ..." (addresses), and a copy of
//          /proc/self/maps to symbolize them; <n> counts dumps from 1, and
//          dump-<n>.done appears when the file is complete
// Nothing here allocates through malloc: the record table is mmap'ed, and
// the probe's own I/O uses plain syscalls and stack buffers.
#include <execinfo.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {

constexpr int depth = 14;
constexpr std::size_t capacity = std::size_t{1} << 21;  // records: 2 M blocks

struct record {
  void* p;  // nullptr: empty; tomb: deleted
  std::size_t size;
  void* frames[depth];
};
void* const tomb = reinterpret_cast<void*>(1);

std::atomic<long long> live_bytes{0};
std::atomic<long long> live_blocks{0};
std::atomic<bool> tracking{false};
std::atomic_flag table_lock = ATOMIC_FLAG_INIT;
record* table = nullptr;
__attribute__((tls_model("initial-exec"))) thread_local bool inside = false;

std::size_t slot(void* p) { return (reinterpret_cast<std::uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull >> 43; }

struct guard {
  guard() {
    while (table_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~guard() { table_lock.clear(std::memory_order_release); }
};

void remember(void* p, std::size_t size) {
  if (!tracking.load(std::memory_order_relaxed) || inside || !table) return;
  inside = true;
  record r{};
  r.p = p;
  r.size = size;
  const int n = backtrace(r.frames, depth);
  for (int i = n; i < depth; ++i) r.frames[i] = nullptr;
  {
    guard g;
    for (std::size_t i = slot(p) % capacity, k = 0; k < capacity; i = (i + 1) % capacity, ++k) {
      if (table[i].p == nullptr || table[i].p == tomb) {
        table[i] = r;
        break;
      }
    }
  }
  inside = false;
}

void forget(void* p) {
  if (!table || !tracking.load(std::memory_order_relaxed)) return;
  guard g;
  for (std::size_t i = slot(p) % capacity, k = 0; k < capacity; i = (i + 1) % capacity, ++k) {
    if (table[i].p == nullptr) return;
    if (table[i].p == p) {
      table[i].p = tomb;
      return;
    }
  }
}

void* counted(void* p) {
  if (p) {
    const std::size_t n = malloc_usable_size(p);
    live_bytes.fetch_add(static_cast<long long>(n), std::memory_order_relaxed);
    live_blocks.fetch_add(1, std::memory_order_relaxed);
    remember(p, n);
  }
  return p;
}

void uncount(void* p) {
  if (!p) return;
  live_bytes.fetch_sub(static_cast<long long>(malloc_usable_size(p)), std::memory_order_relaxed);
  live_blocks.fetch_sub(1, std::memory_order_relaxed);
  forget(p);
}

// ---- control thread -------------------------------------------------------

char dir[512];

void put(int fd, const char* s) {
  std::size_t n = std::strlen(s);
  while (n > 0) {
    const ssize_t w = ::write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void dump(int number) {
  char path[600];
  std::snprintf(path, sizeof path, "%s/dump-%d", dir, number);
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  char line[64 + depth * 20];
  std::snprintf(line, sizeof line, "live_bytes %lld\nlive_blocks %lld\nrecords\n", live_bytes.load(),
                live_blocks.load());
  put(fd, line);
  {
    guard g;
    for (std::size_t i = 0; i < capacity; ++i) {
      const record& r = table[i];
      if (r.p == nullptr || r.p == tomb) continue;
      int at = std::snprintf(line, sizeof line, "%zu", r.size);
      for (int f = 0; f < depth && r.frames[f]; ++f)
        at += std::snprintf(line + at, sizeof line - static_cast<std::size_t>(at), " %p", r.frames[f]);
      line[at++] = '\n';
      line[at] = 0;
      put(fd, line);
    }
  }
  put(fd, "maps\n");
  const int maps = ::open("/proc/self/maps", O_RDONLY);
  char buf[4096];
  for (ssize_t n; maps >= 0 && (n = ::read(maps, buf, sizeof buf)) > 0;) ::write(fd, buf, static_cast<std::size_t>(n));
  if (maps >= 0) ::close(maps);
  ::close(fd);
  std::snprintf(path, sizeof path, "%s/dump-%d.done", dir, number);
  const int done = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (done >= 0) ::close(done);
}

void* control(void*) {
  inside = true;  // nothing this thread allocates is a connection's
  char path[600];
  std::snprintf(path, sizeof path, "%s/cmd", dir);
  int dumps = 0;
  for (;;) {
    ::usleep(20'000);
    const int fd = ::open(path, O_RDONLY);
    if (fd < 0) continue;
    char cmd[32] = {};
    const ssize_t n = ::read(fd, cmd, sizeof cmd - 1);
    ::close(fd);
    ::unlink(path);
    if (n <= 0) continue;
    if (std::strncmp(cmd, "mark", 4) == 0) {
      tracking.store(false);
      {
        guard g;  // fresh zero pages: no RSS for the untouched part of the table
        madvise(table, capacity * sizeof(record), MADV_DONTNEED);
      }
      tracking.store(true);
    } else if (std::strncmp(cmd, "dump", 4) == 0) {
      dump(++dumps);
    }
  }
  return nullptr;
}

__attribute__((constructor)) void start() {
  const char* d = std::getenv("DUPLEX_ALLOC_PROBE");
  if (!d || std::strlen(d) >= sizeof dir) return;
  std::strcpy(dir, d);
  void* mem = mmap(nullptr, capacity * sizeof(record), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  table = static_cast<record*>(mem);
  inside = true;
  void* warm[2];
  backtrace(warm, 2);  // loads libgcc_s now, not inside a recorded malloc
  inside = false;
  pthread_t t;
  pthread_create(&t, nullptr, control, nullptr);
  pthread_detach(t);
}

}  // namespace

extern "C" {
void* malloc(size_t n) { return counted(__libc_malloc(n)); }
void free(void* p) {
  uncount(p);
  __libc_free(p);
}
void* calloc(size_t n, size_t size) { return counted(__libc_calloc(n, size)); }
void* realloc(void* p, size_t n) {
  uncount(p);
  return counted(__libc_realloc(p, n));
}
void* memalign(size_t align, size_t n) { return counted(__libc_memalign(align, n)); }
void* aligned_alloc(size_t align, size_t n) { return counted(__libc_memalign(align, n)); }
int posix_memalign(void** out, size_t align, size_t n) {
  void* p = __libc_memalign(align, n);
  if (!p) return ENOMEM;
  *out = counted(p);
  return 0;
}
void* valloc(size_t n) { return counted(__libc_memalign(static_cast<size_t>(sysconf(_SC_PAGESIZE)), n)); }
}
