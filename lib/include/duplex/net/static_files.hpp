// Static files for the HTTP side of the server: maps a request target to a
// file under a root directory, never outside it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace duplex {

// Content-Type by extension (".wasm" -> "application/wasm", ...);
// "application/octet-stream" when unknown.
std::string_view mime_type(const std::filesystem::path& file) noexcept;

// Percent-decodes the path part of a request target (query and fragment
// dropped). nullopt for malformed escapes, NUL bytes or a relative target.
std::optional<std::string> decode_target_path(std::string_view target);

// The file a target names under `root` ("/" and directories -> index.html),
// or nullopt when it does not exist or would escape the root ("..",
// symlinks pointing outside, absolute paths).
std::optional<std::filesystem::path> resolve_static(const std::filesystem::path& root, std::string_view target);

}  // namespace duplex
