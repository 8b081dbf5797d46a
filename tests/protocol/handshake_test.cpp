#include <duplex/protocol/handshake.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace duplex::protocol;

namespace {

http_request parse(std::string_view text) {
  http_request req;
  auto r = parse_request(text, req);
  EXPECT_EQ(r.status, parse_status::complete) << r.error;
  return req;
}

const char* good =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://server.example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

std::string replace(std::string s, std::string_view from, std::string_view to) {
  auto at = s.find(from);
  EXPECT_NE(at, std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST(Handshake, AcceptKeyMatchesRfcExample) {
  // RFC 6455 §1.3.
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, AcceptsAValidUpgrade) {
  auto req = parse(good);
  EXPECT_TRUE(is_websocket_upgrade(req));
  auto check = check_upgrade_request(req);
  EXPECT_TRUE(check) << check.message;
  const std::string res = format_upgrade_response("dGhlIHNhbXBsZSBub25jZQ==", "chat");
  EXPECT_EQ(res.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u);
  EXPECT_NE(res.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_NE(res.find("Sec-WebSocket-Protocol: chat\r\n"), std::string::npos);
}

TEST(Handshake, RefusesOtherVersionsWith426) {
  auto check = check_upgrade_request(parse(replace(good, "Version: 13", "Version: 8")));
  EXPECT_EQ(check.status, 426);
  EXPECT_EQ(check.error, duplex::errc::bad_version);
  EXPECT_NE(format_refusal(check).find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_EQ(check_upgrade_request(parse(replace(good, "Sec-WebSocket-Version: 13\r\n", ""))).status, 426);
}

TEST(Handshake, RefusesMalformedUpgradesWith400) {
  EXPECT_EQ(check_upgrade_request(parse(replace(good, "dGhlIHNhbXBsZSBub25jZQ==", "short"))).status, 400);
  EXPECT_EQ(check_upgrade_request(parse(replace(good, "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZXh4eA=="))).status, 400);
  EXPECT_EQ(check_upgrade_request(parse(replace(good, "keep-alive, Upgrade", "keep-alive"))).status, 400);
  EXPECT_EQ(check_upgrade_request(parse(replace(good, "Host: server.example.com\r\n", ""))).status, 400);
  EXPECT_EQ(check_upgrade_request(parse(replace(good, "HTTP/1.1", "HTTP/1.0"))).status, 400);
  EXPECT_EQ(check_upgrade_request(parse(replace(good, "GET", "POST"))).status, 405);
}

TEST(Handshake, OriginPolicy) {
  auto req = parse(good);
  EXPECT_TRUE(origin_allowed(req, {}));  // same origin
  auto evil = parse(replace(good, "Origin: http://server.example.com", "Origin: http://evil.example"));
  EXPECT_FALSE(origin_allowed(evil, {}));
  std::vector<std::string> list{"http://evil.example"};
  EXPECT_TRUE(origin_allowed(evil, list));
  EXPECT_FALSE(origin_allowed(req, list));
  std::vector<std::string> any{"*"};
  EXPECT_TRUE(origin_allowed(evil, any));
  EXPECT_TRUE(origin_allowed(parse(replace(good, "Origin: http://server.example.com\r\n", "")), {}));
  // Same origin includes the scheme.
  EXPECT_FALSE(origin_allowed(req, {}, /*secure=*/true));
  EXPECT_TRUE(origin_allowed(parse(replace(good, "http://server", "https://server")), {}, true));
  EXPECT_FALSE(origin_allowed(parse(replace(good, "http://server", "https://server")), {}, false));
  EXPECT_FALSE(origin_allowed(parse(replace(good, "http://server.example.com", "http://server.example.com.evil")), {}));
}

TEST(Handshake, HostPolicyAgainstDnsRebinding) {
  std::vector<std::string> loopback{"localhost", "127.0.0.1", "[::1]"};
  auto host = [&](std::string h) { return parse(replace(good, "Host: server.example.com", "Host: " + h)); };
  EXPECT_TRUE(host_allowed(host("localhost:3000"), loopback));
  EXPECT_TRUE(host_allowed(host("127.0.0.1"), loopback));
  EXPECT_TRUE(host_allowed(host("[::1]:3000"), loopback));
  EXPECT_TRUE(host_allowed(host("LOCALHOST:3000"), loopback));
  EXPECT_FALSE(host_allowed(host("evil.example:3000"), loopback));
  EXPECT_FALSE(host_allowed(host("localhost.evil.example"), loopback));
  EXPECT_TRUE(host_allowed(host("evil.example"), {}));
}

TEST(Handshake, SubprotocolSelectionFollowsServerPreference) {
  auto req = parse(good);
  std::vector<std::string> s1{"superchat", "chat"};
  EXPECT_EQ(select_subprotocol(req, s1), "superchat");
  std::vector<std::string> s2{"other"};
  EXPECT_EQ(select_subprotocol(req, s2), "");
}

TEST(Handshake, ClientVerifiesTheServerAnswer) {
  const std::string key = make_client_key();
  EXPECT_EQ(key.size(), 24u);
  EXPECT_NE(key, make_client_key());
  std::vector<std::string> offered{"chat"};
  const std::string req_text = format_upgrade_request("h:1", "/x", key, offered);
  auto req = parse(req_text);
  EXPECT_TRUE(check_upgrade_request(req));

  http_response res;
  const std::string answer = format_upgrade_response(key, "chat");
  ASSERT_EQ(parse_response(answer, res).status, parse_status::complete);
  std::string chosen;
  EXPECT_FALSE(check_upgrade_response(res, key, offered, chosen));
  EXPECT_EQ(chosen, "chat");
  EXPECT_EQ(check_upgrade_response(res, make_client_key(), offered, chosen), duplex::errc::bad_accept);
  std::vector<std::string> none;
  EXPECT_EQ(check_upgrade_response(res, key, none, chosen), duplex::errc::bad_handshake);
}
