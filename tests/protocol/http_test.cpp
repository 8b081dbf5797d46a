#include <duplex/protocol/http.hpp>

#include <gtest/gtest.h>

#include <string>

using namespace duplex::protocol;

TEST(Http, ParsesARequestIncrementally) {
  const std::string text = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Many: a, b\r\n\r\nrest";
  http_request req;
  for (std::size_t n = 0; n < text.size() - 4; ++n)
    ASSERT_EQ(parse_request(std::string_view(text).substr(0, n), req).status, parse_status::incomplete) << n;
  auto r = parse_request(text, req);
  ASSERT_EQ(r.status, parse_status::complete);
  EXPECT_EQ(r.consumed, text.size() - 4);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/a?b=1");
  EXPECT_EQ(req.headers.get("host"), "x");
  EXPECT_TRUE(req.headers.has_token("x-many", "B"));
}

TEST(Http, RejectsMalformedRequests) {
  http_request req;
  EXPECT_EQ(parse_request("GET /\r\n\r\n", req).http_status, 400);
  EXPECT_EQ(parse_request("GET  / HTTP/1.1\r\n\r\n", req).http_status, 400);
  EXPECT_EQ(parse_request("GET / HTTP/2.0\r\n\r\n", req).http_status, 505);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nNo colon\r\n\r\n", req).http_status, 400);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", req).http_status, 400);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", req).http_status, 400);
  static constexpr char nul_in_value[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
  EXPECT_EQ(parse_request(std::string(nul_in_value, sizeof nul_in_value - 1), req).http_status, 400);
}

TEST(Http, LimitsTheHeadSize) {
  http_request req;
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a');
  auto r = parse_request(big, req);
  EXPECT_EQ(r.status, parse_status::error);
  EXPECT_EQ(r.http_status, 431);
}

TEST(Http, ParsesResponses) {
  http_response res;
  auto r = parse_response("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n", res);
  ASSERT_EQ(r.status, parse_status::complete);
  EXPECT_EQ(res.status, 426);
  EXPECT_EQ(res.reason, "Upgrade Required");
  EXPECT_EQ(parse_response("HTTP/1.1 99x\r\n\r\n", res).status, parse_status::error);
}

TEST(Http, FormatsResponses) {
  EXPECT_EQ(format_response(404, {{"A", "b"}}, "nf"), "HTTP/1.1 404 Not Found\r\nA: b\r\nContent-Length: 2\r\n\r\nnf");
  EXPECT_EQ(format_response(200, {}, "xyz", true), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
}
