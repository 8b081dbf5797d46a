#include <duplex/net/static_files.hpp>
#include <duplex/protocol/http.hpp>

#include <algorithm>
#include <array>
#include <utility>

namespace duplex {
namespace fs = std::filesystem;

std::string_view mime_type(const fs::path& file) noexcept {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 16> types{{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".wasm", "application/wasm"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
      {".webp", "image/webp"},
  }};
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [e, type] : types)
    if (e == ext) return type;
  return "application/octet-stream";
}

std::optional<std::string> decode_target_path(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty() || target.front() != '/') return std::nullopt;
  auto out = protocol::percent_decode(target);
  if (!out || out->find('\\') != std::string::npos) return std::nullopt;
  return out;
}

std::optional<fs::path> resolve_static(const fs::path& root, std::string_view target) {
  auto decoded = decode_target_path(target);
  if (!decoded) return std::nullopt;
  // Refuse any ".." segment outright rather than normalising it away.
  fs::path rel;
  std::string_view rest = *decoded;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") return std::nullopt;
    rel /= fs::path(std::string(seg));
  }
  std::error_code ec;
  const fs::path base = fs::canonical(root, ec);
  if (ec) return std::nullopt;
  fs::path file = base / rel;
  if (fs::is_directory(file, ec)) file /= "index.html";
  // Symlinks may point anywhere: the real path must still lie under the root.
  const fs::path real = fs::canonical(file, ec);
  if (ec || !fs::is_regular_file(real, ec)) return std::nullopt;
  auto [r, b] = std::mismatch(real.begin(), real.end(), base.begin(), base.end());
  if (b != base.end()) return std::nullopt;
  return real;
}

}  // namespace duplex
