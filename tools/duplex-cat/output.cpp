#include "output.hpp"

#include <duplex/error.hpp>
#include <duplex/schema/codec.hpp>

#include <cstdio>
#include <iostream>

namespace duplex_cat {
namespace {

// Text messages and close reasons are valid UTF-8 (the protocol checks), so
// the schema's JSON string writer applies.
void json_string(std::string& out, std::string_view s) { duplex::schema::append_json_string(out, s); }

std::string hex(std::string_view data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string h;
  h.reserve(data.size() * 2);
  for (const unsigned char c : data) {
    h += digits[c >> 4];
    h += digits[c & 15];
  }
  return h;
}

// Starts {"event":"<name>"[,"peer":N] ; the caller adds fields and the brace.
std::string json_event(std::string_view name, std::uint64_t peer) {
  std::string j = "{\"event\":\"" + std::string(name) + "\"";
  if (peer) j += ",\"peer\":" + std::to_string(peer);
  return j;
}

void field(std::string& j, std::string_view name, std::string_view value) {
  j += ",\"" + std::string(name) + "\":";
  json_string(j, value);
}

void field(std::string& j, std::string_view name, std::uint64_t value) {
  j += ",\"" + std::string(name) + "\":" + std::to_string(value);
}

}  // namespace

int exit_status(const duplex::websocket& ws) {
  const auto code = ws.close_code();
  const auto ec = ws.error();
  if (code == duplex::protocol::close_code::abnormal || (ec && ec != duplex::errc::closed)) return 4;
  if (code == duplex::protocol::close_code::normal || code == duplex::protocol::close_code::going_away ||
      code == 1005 /* no status code */)
    return 0;
  return 1;
}

output::output(output_options o) : opts_(std::move(o)) {
  if (!opts_.binary_file.empty()) {
    binary_.open(opts_.binary_file, std::ios::binary | std::ios::app);
    if (!binary_) {
      std::cerr << "duplex-cat: cannot open " << opts_.binary_file << "\n";
      std::exit(2);
    }
  }
}

void output::listening(std::string_view host, std::uint16_t port) {
  if (opts_.json) {
    std::string j = json_event("listening", 0);
    field(j, "host", host);
    field(j, "port", port);
    std::cout << j << "}" << std::endl;
  }
  // Also with --json, so that scripts and tests that passed port 0 learn it.
  if (!opts_.quiet || !opts_.json) std::cerr << "duplex-cat: listening on ws://" << host << ":" << port << "/" << std::endl;
}

void output::opened(const duplex::websocket& ws, std::string_view target, std::uint64_t peer) {
  if (opts_.json) {
    std::string j = json_event("open", peer);
    field(j, peer ? "path" : "url", target);
    if (peer) field(j, "remote", ws.remote_address());
    field(j, "subprotocol", ws.subprotocol());
    field(j, "extensions", ws.extensions());
    std::cout << j << "}" << std::endl;
  } else if (!opts_.quiet) {
    std::cerr << "duplex-cat: ";
    if (peer)
      std::cerr << "#" << peer << " connected from " << ws.remote_address() << " to " << target;
    else
      std::cerr << "connected to " << target;
    if (!ws.subprotocol().empty()) std::cerr << " (subprotocol " << ws.subprotocol() << ")";
    std::cerr << std::endl;
  }
}

void output::message(const duplex::message& m, std::uint64_t peer) {
  if (m.binary && binary_.is_open()) {
    binary_.write(m.data.data(), static_cast<std::streamsize>(m.data.size()));
    binary_.flush();
    if (opts_.json) {
      std::string j = json_event("message", peer);
      field(j, "type", "binary");
      field(j, "size", m.data.size());
      field(j, "file", opts_.binary_file);
      std::cout << j << "}" << std::endl;
    }
    return;
  }
  if (opts_.json) {
    std::string j = json_event("message", peer);
    field(j, "type", m.binary ? "binary" : "text");
    if (m.binary)
      field(j, "hex", hex(m.data));
    else
      field(j, "data", m.data);
    std::cout << j << "}" << std::endl;
  } else {
    // Flushed per message: a terminal user or a pipe reader sees it at once.
    std::cout << (m.binary ? hex(m.data) : m.data) << std::endl;
  }
}

void output::closed(const duplex::websocket& ws, int status, std::uint64_t peer) {
  const auto ec = ws.error();
  const std::string error = ec && ec != duplex::errc::closed ? ec.message() : "";
  if (opts_.json) {
    std::string j = json_event("close", peer);
    field(j, "code", ws.close_code());
    field(j, "reason", ws.close_reason());
    field(j, "error", error);
    field(j, "status", static_cast<std::uint64_t>(status));
    std::cout << j << "}" << std::endl;
  } else if (!opts_.quiet) {
    std::cerr << "duplex-cat: ";
    if (peer) std::cerr << "#" << peer << " ";
    std::cerr << "closed " << ws.close_code();
    if (!ws.close_reason().empty()) std::cerr << " " << ws.close_reason();
    if (!error.empty()) std::cerr << " (" << error << ")";
    std::cerr << std::endl;
  }
}

void output::failed(std::string_view why) {
  if (opts_.json) {
    std::string j = json_event("error", 0);
    field(j, "message", why);
    std::cout << j << "}" << std::endl;
  }
  std::cerr << "duplex-cat: " << why << std::endl;
}

void output::flush() {
  std::cout.flush();
  std::cerr.flush();
}

}  // namespace duplex_cat
