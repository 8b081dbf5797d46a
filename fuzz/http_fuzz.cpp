// libFuzzer target: HTTP request/response heads and the upgrade checks.
#include <duplex/protocol/handshake.hpp>
#include <duplex/protocol/http.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace duplex::protocol;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  http_request req;
  const auto r = parse_request(in, req, 4096);
  if (r.status == parse_status::complete) {
    if (r.consumed > in.size()) std::abort();
    const auto check = check_upgrade_request(req);
    if (check) {
      // A request we accept must carry a key we can answer.
      const auto key = req.headers.get("Sec-WebSocket-Key");
      if (!key || accept_key(*key).size() != 28) std::abort();
    } else if (check.status < 400 || check.status > 499) {
      std::abort();
    }
    const std::vector<std::string> allowed{"http://a.example"};
    (void)origin_allowed(req, allowed);
    const std::vector<std::string> protocols{"chat", "superchat"};
    (void)select_subprotocol(req, protocols);
  } else if (r.status == parse_status::error && (r.http_status < 400 || r.http_status > 505)) {
    std::abort();
  }
  http_response res;
  if (parse_response(in, res, 4096).status == parse_status::complete) {
    std::string chosen;
    const std::vector<std::string> offered{"chat"};
    (void)check_upgrade_response(res, "dGhlIHNhbXBsZSBub25jZQ==", offered, chosen);
  }
  return 0;
}
