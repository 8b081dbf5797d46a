#include <duplex/net/static_files.hpp>

#include "test_server.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using duplex::test::http_exchange;
using duplex::test::test_server;

namespace {

// A site root with a file outside it, and a symlink pointing outside.
struct site {
  fs::path dir = fs::temp_directory_path() / ("duplex-static-" + std::to_string(::getpid()) + "-" +
                                              std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  fs::path root = dir / "root";
  site() {
    fs::create_directories(root / "sub");
    write(root / "index.html", "<h1>home</h1>");
    write(root / "app.wasm", std::string("\0asm\1\0\0\0", 8));
    write(root / "app.js", "console.log(1)");
    write(root / "style.css", "body{}");
    write(root / "sub" / "index.html", "sub home");
    write(root / "a b.txt", "spaced");
    write(dir / "secret.txt", "top secret");
    fs::create_symlink(dir / "secret.txt", root / "link.txt");
  }
  ~site() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
};

std::string get(std::uint16_t port, const std::string& target, const std::string& method = "GET") {
  return http_exchange(port, method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

}  // namespace

TEST(StaticFiles, MimeTypes) {
  EXPECT_EQ(duplex::mime_type("a.wasm"), "application/wasm");
  EXPECT_EQ(duplex::mime_type("a.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(duplex::mime_type("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(duplex::mime_type("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(duplex::mime_type("noext"), "application/octet-stream");
}

TEST(StaticFiles, ResolvesOnlyInsideTheRoot) {
  site s;
  EXPECT_EQ(duplex::resolve_static(s.root, "/"), fs::canonical(s.root / "index.html"));
  EXPECT_EQ(duplex::resolve_static(s.root, "/sub/"), fs::canonical(s.root / "sub" / "index.html"));
  EXPECT_EQ(duplex::resolve_static(s.root, "/a%20b.txt?x=1#y"), fs::canonical(s.root / "a b.txt"));
  for (const char* bad : {"/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
                          "/link.txt", "/missing", "relative", "/%00", "/%zz", "/%", "/..%5csecret.txt"})
    EXPECT_FALSE(duplex::resolve_static(s.root, bad)) << bad;
}

TEST(StaticFiles, ServesFilesOverHttpWithTheirTypes) {
  site s;
  duplex::server_options o;
  o.root = s.root;
  test_server srv(o);
  const auto home = get(srv.port(), "/");
  EXPECT_EQ(home.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << home;
  EXPECT_NE(home.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(home.find("\r\n\r\n<h1>home</h1>"), std::string::npos);
  const auto wasm = get(srv.port(), "/app.wasm");
  EXPECT_NE(wasm.find("Content-Type: application/wasm\r\n"), std::string::npos);
  EXPECT_NE(wasm.find("Content-Length: 8\r\n"), std::string::npos);
  EXPECT_NE(get(srv.port(), "/app.js").find("Content-Type: text/javascript"), std::string::npos);
  const auto head = get(srv.port(), "/style.css", "HEAD");
  EXPECT_NE(head.find("Content-Length: 6\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");  // no body
}

TEST(StaticFiles, RefusesEscapesAndOtherMethods) {
  site s;
  duplex::server_options o;
  o.root = s.root;
  test_server srv(o);
  for (const char* bad : {"/../secret.txt", "/%2e%2e/secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt", "/link.txt"}) {
    const auto r = get(srv.port(), bad);
    EXPECT_EQ(r.rfind("HTTP/1.1 404", 0), 0u) << bad << "\n" << r;
    EXPECT_EQ(r.find("top secret"), std::string::npos);
  }
  EXPECT_EQ(get(srv.port(), "/%zz").rfind("HTTP/1.1 400", 0), 0u);
  const auto post = get(srv.port(), "/", "POST");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(http_exchange(srv.port(), "garbage\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
}

TEST(StaticFiles, KeepAliveServesSeveralRequestsOnOneConnection) {
  site s;
  duplex::server_options o;
  o.root = s.root;
  test_server srv(o);
  const auto both = http_exchange(srv.port(),
                                  "GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                  /*until_eof=*/true);
  const auto second = both.find("HTTP/1.1 200 OK", 1);
  ASSERT_NE(second, std::string::npos) << both;
  EXPECT_NE(both.find("console.log(1)"), std::string::npos);
  EXPECT_NE(both.find("body{}", second), std::string::npos);
}
