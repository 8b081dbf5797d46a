// duplex-chat --auth-jwt as a real process, with real tokens minted here
// with OpenSSL (tests/auth/jwt_mint.hpp): HS256 from a secret file and ES256
// from a PEM public key. Refusals are 401 before any upgrade; a signed-in
// member joins only under its token's name, private-... rooms need the
// token's "rooms" claim, and an expiring token closes the member with 4001.
#include <chat_protocol.hpp>

#include <duplex/net/client.hpp>
#include <duplex/net/channel.hpp>

#include "chat_process.hpp"
#include "jwt_mint.hpp"
#include "test_server.hpp"

#include <gtest/gtest.h>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <utility>
#include <vector>

using duplex::test::chat_process;
using duplex::test::http_exchange;
using duplex::test::run_client;
namespace jwt = duplex::test::jwt;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string claims(std::string_view name, long long exp_in, std::string_view extra = "") {
  std::string p = R"({"sub":"user-)" + std::string(name) + R"(","name":")" + std::string(name) +
                  R"(","aud":"chat","exp":)" + std::to_string(jwt::unix_now() + exp_in);
  if (!extra.empty()) p += "," + std::string(extra);
  return p + "}";
}

// The raw upgrade request with `extra` header lines; the whole answer.
std::string upgrade(std::uint16_t port, const std::string& extra) {
  return http_exchange(port,
                       "GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Protocol: duplex.chat.v2\r\n" +
                           extra + "\r\n",
                       true);
}

std::string get(std::uint16_t port, const std::string& path) {
  return http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", true);
}

// The sum of a family's samples in /metrics (over every label value), or
// -1 when the server renders no such family.
double metric(std::uint16_t port, const std::string& name) {
  const std::string text = get(port, "/metrics");
  if (text.find("\n# TYPE " + name + " ") == std::string::npos) return -1;
  double sum = 0;
  const std::regex sample("\n" + name + "(\\{[^}]*\\})? ([0-9.e+-]+)(?=\n)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), sample); it != std::sregex_iterator(); ++it)
    sum += std::stod((*it)[2]);
  return sum;
}

// One labelled sample, name{label="value"}, as rendered; -1 when absent.
double labelled(const std::string& metrics_text, const std::string& name, const std::string& label,
                const std::string& value) {
  const std::string key = "\n" + name + "{" + label + "=\"" + value + "\"} ";
  const auto at = metrics_text.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(metrics_text.substr(at + key.size()));
}

enum class via { cookie, bearer };

asio::awaitable<duplex::websocket> connect_with(std::string url, std::string token, via how = via::cookie,
                                                 unsigned version = 2) {
  duplex::connect_options o;
  o.subprotocols = {"duplex.chat.v" + std::to_string(version)};
  if (how == via::cookie) o.headers.emplace_back("Cookie", "theme=dark; duplex_token=" + token);
  else o.headers.emplace_back("Authorization", "Bearer " + token);
  co_return co_await duplex::connect(url, o);
}

// Reads until a frame containing `needle`; every frame read is appended to
// `seen` when given. "" if the connection ends first.
asio::awaitable<std::string> read_until(duplex::websocket& ws, std::string needle, std::string* seen = nullptr) {
  while (auto m = co_await ws.read()) {
    if (seen) *seen += m->data + "\n";
    if (m->data.find(needle) != std::string::npos) co_return m->data;
  }
  co_return "";
}

class ChatAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("duplex-chat-auth-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    secret_ = jwt::random_hex(32);
    write(secret_file(), secret_);
    ec_ = jwt::ec_p256_key();
    write(pem_file(), jwt::public_pem(ec_.get()));
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static void write(const fs::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary);
    f << text;
  }
  fs::path secret_file() const { return dir_ / "chat.secret"; }
  fs::path pem_file() const { return dir_ / "chat-es256.pem"; }
  std::string hs(std::string_view payload) const { return jwt::hs256(secret_, payload); }

  fs::path dir_;
  std::string secret_;
  jwt::pkey_ptr ec_;
};

TEST_F(ChatAuth, RefusalsAre401WithoutUpgradeAndNeverEchoTheToken) {
  chat_process chat({"--auth-jwt", secret_file().string(), "--auth-audience", "chat"});
  const auto port = chat.port();

  const std::string none = upgrade(port, "");
  EXPECT_EQ(none.rfind("HTTP/1.1 401", 0), 0u) << none;
  EXPECT_NE(none.find("WWW-Authenticate: Bearer\r\n"), std::string::npos) << none;
  EXPECT_EQ(none.find("101"), std::string::npos);

  struct bad_case {
    std::string token, error;
  };
  const std::vector<bad_case> cases = {
      {hs(claims("ada", -120)), "expired"},
      {hs(claims("ada", -1)), "expired"},  // past exp, within the library's leeway: still refused
      {jwt::hs256(jwt::random_hex(32), claims("ada", 600)), "bad_signature"},
      {hs(R"({"sub":"ada","aud":"other","exp":)" + std::to_string(jwt::unix_now() + 600) + "}"), "wrong_audience"},
      {jwt::es256(ec_.get(), claims("ada", 600)), "alg_mismatch"},  // an ES256 token against the HMAC key
      {"abc", "malformed"},
  };
  for (const auto& c : cases) {
    for (const std::string header : {"Cookie: duplex_token=" + c.token + "\r\n", "Authorization: Bearer " + c.token + "\r\n"}) {
      const std::string r = upgrade(port, header);
      EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << c.error << ": " << r;
      EXPECT_NE(r.find("WWW-Authenticate: Bearer error=\"invalid_token\""), std::string::npos) << r;
      EXPECT_NE(r.find("invalid token: " + c.error), std::string::npos) << r;
      EXPECT_EQ(r.find(c.token), std::string::npos) << "the token is echoed: " << r;
      EXPECT_EQ(r.find("Upgrade: websocket"), std::string::npos) << r;
    }
  }
  EXPECT_EQ(metric(port, "duplex_chat_auth_refused_total"), 1 + 2 * cases.size());
  // By reason: the typed token error, as the 401 names it.
  const std::string text = get(port, "/metrics");
  EXPECT_NE(text.find("# TYPE duplex_chat_auth_refused_total counter\n"), std::string::npos) << text;
  const std::string family = "duplex_chat_auth_refused_total";
  EXPECT_EQ(labelled(text, family, "reason", "missing_token"), 1) << text;
  EXPECT_EQ(labelled(text, family, "reason", "expired"), 4) << text;
  EXPECT_EQ(labelled(text, family, "reason", "bad_signature"), 2) << text;
  EXPECT_EQ(labelled(text, family, "reason", "wrong_audience"), 2) << text;
  EXPECT_EQ(labelled(text, family, "reason", "alg_mismatch"), 2) << text;
  EXPECT_EQ(labelled(text, family, "reason", "malformed"), 2) << text;
  EXPECT_EQ(labelled(text, family, "reason", "banned"), -1) << text;  // none yet: no sample
  // The log names the peer and the reason, never the token.
  for (const auto& c : cases) EXPECT_EQ(chat.output().find(c.token), std::string::npos);
  EXPECT_NE(chat.output().find("auth-refused"), std::string::npos) << chat.output();

  // The page's other routes stay open.
  EXPECT_EQ(get(port, "/healthz").rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(ChatAuth, ValidTokensByCookieOrBearerJoinOnlyUnderTheirName) {
  chat_process chat({"--auth-jwt", secret_file().string(), "--auth-audience", "chat"});
  run_client(
      [&]() -> asio::awaitable<void> {
        auto ada = co_await connect_with(chat.ws_url(), hs(claims("ada", 600)), via::cookie);
        auto bob = co_await connect_with(chat.ws_url(), hs(claims("bob", 600)), via::bearer);
        // bob may not take ada's name (nor anyone else's): the refusal reaches only him.
        co_await bob.send(R"({"type":"join","name":"ada","room":"lobby"})");
        EXPECT_NE((co_await read_until(bob, R"("type":"error")")).find("name_not_yours"), std::string::npos);
        co_await ada.send(R"({"type":"join","name":"ada","room":"lobby"})");
        EXPECT_NE((co_await read_until(ada, R"("type":"joined")")).find(R"("name":"ada")"), std::string::npos);
        co_await bob.send(R"({"type":"join","name":"bob","room":"lobby"})");
        EXPECT_NE((co_await read_until(bob, R"("type":"joined")")).find(R"("name":"bob")"), std::string::npos);
        co_await bob.send(R"({"type":"chat","text":"hi from bob"})");
        EXPECT_NE((co_await read_until(ada, "hi from bob")).find(R"("from":"bob")"), std::string::npos);
        co_await ada.close();
        co_await bob.close();
      },
      30s);
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_refused_total"), 0);

  // An exp as far as JWT dates go (year 9999) is not "already past" through an overflow.
  run_client(
      [&]() -> asio::awaitable<void> {
        auto dee = co_await connect_with(chat.ws_url(), hs(R"({"name":"dee","aud":"chat","exp":253402300799})"));
        co_await dee.send(R"({"type":"join","name":"dee","room":"lobby"})");
        EXPECT_NE((co_await read_until(dee, R"("type":"joined")")).find("dee"), std::string::npos);
        co_await dee.send(R"({"type":"chat","text":"still here"})");
        EXPECT_NE((co_await read_until(dee, "still here")).find(R"("from":"dee")"), std::string::npos);
        EXPECT_TRUE(dee.is_open());
        co_await dee.close();
      },
      30s);

  // Version 1 (no subprotocol) is held to the name too.
  run_client(
      [&]() -> asio::awaitable<void> {
        duplex::connect_options o;
        o.headers.emplace_back("Authorization", "Bearer " + hs(claims("cy", 600)));
        auto cy = co_await duplex::connect(chat.ws_url(), o);
        co_await cy.send(R"({"type":"join","name":"ada"})");
        EXPECT_NE((co_await read_until(cy, R"("type":"error")")).find("name_not_yours"), std::string::npos);
        co_await cy.close();
      },
      30s);
}

TEST_F(ChatAuth, Es256PemKeyWithIssuer) {
  chat_process chat({"--auth-jwt", pem_file().string(), "--auth-issuer", "https://id.test", "--auth-audience", "chat"});
  EXPECT_NE(chat.output().find("PEM public key"), std::string::npos) << chat.output();
  const std::string good = jwt::es256(ec_.get(), claims("ada", 600, R"("iss":"https://id.test")"));
  const std::string other_iss = jwt::es256(ec_.get(), claims("ada", 600, R"("iss":"https://evil.test")"));
  const std::string expired = jwt::es256(ec_.get(), claims("ada", -60, R"("iss":"https://id.test")"));
  auto other_key = jwt::ec_p256_key();
  const std::string forged = jwt::es256(other_key.get(), claims("ada", 600, R"("iss":"https://id.test")"));
  EXPECT_NE(upgrade(chat.port(), "Cookie: duplex_token=" + other_iss + "\r\n").find("wrong_issuer"), std::string::npos);
  EXPECT_NE(upgrade(chat.port(), "Cookie: duplex_token=" + expired + "\r\n").find("invalid token: expired"),
            std::string::npos);
  EXPECT_NE(upgrade(chat.port(), "Cookie: duplex_token=" + forged + "\r\n").find("invalid token: bad_signature"),
            std::string::npos);
  EXPECT_NE(upgrade(chat.port(), "Authorization: Bearer " + hs(claims("ada", 600)) + "\r\n").find("401"),
            std::string::npos);
  run_client(
      [&]() -> asio::awaitable<void> {
        for (via how : {via::cookie, via::bearer}) {
          auto ws = co_await connect_with(chat.ws_url(), good, how);
          co_await ws.send(R"({"type":"join","name":"ada","room":"lobby"})");
          EXPECT_NE((co_await read_until(ws, R"("type":"joined")")).find("ada"), std::string::npos);
          co_await ws.send(R"({"type":"leave"})");
          co_await ws.close();
        }
      },
      30s);
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_refused_total"), 4);
}

TEST_F(ChatAuth, PrivateRoomsNeedTheRoomsClaimAndOutsidersSeeNothing) {
  chat_process chat({"--auth-jwt", secret_file().string(), "--auth-audience", "chat"});
  run_client(
      [&]() -> asio::awaitable<void> {
        auto ada = co_await connect_with(chat.ws_url(), hs(claims("ada", 600, R"("rooms":["private-ops","dev"])")));
        auto bob = co_await connect_with(chat.ws_url(), hs(claims("bob", 600, R"("rooms":["private-team-*"])")));
        auto eve = co_await connect_with(chat.ws_url(), hs(claims("eve", 600)));
        std::string eve_saw;

        // Exact entry.
        co_await ada.send(R"({"type":"join","name":"ada","room":"private-ops"})");
        EXPECT_NE((co_await read_until(ada, R"("type":"joined")")).find("private-ops"), std::string::npos);
        co_await ada.send(R"({"type":"chat","text":"the-secret-line"})");
        const std::string line = co_await read_until(ada, "the-secret-line");
        EXPECT_NE(line.find(R"("seq":1)"), std::string::npos) << line;

        // Without the claim: refused, whichever way in, and nothing of the room.
        for (const char* m : {R"({"type":"watch","room":"private-ops"})",
                              R"({"type":"resume","room":"private-ops","epoch":"x","seq":0})",
                              R"({"type":"join","name":"eve","room":"private-ops"})"}) {
          co_await eve.send(m);
          EXPECT_NE((co_await read_until(eve, R"("type":"error")", &eve_saw)).find("forbidden_room"), std::string::npos)
              << m;
        }
        // A prefix entry covers the rooms under it only.
        co_await bob.send(R"({"type":"watch","room":"private-ops"})");
        EXPECT_NE((co_await read_until(bob, R"("type":"error")")).find("forbidden_room"), std::string::npos);
        co_await bob.send(R"({"type":"join","name":"bob","room":"private-team-blue"})");
        EXPECT_NE((co_await read_until(bob, R"("type":"joined")")).find("private-team-blue"), std::string::npos);
        co_await bob.send(R"({"type":"leave"})");
        co_await bob.send(R"({"type":"watch","room":"private-team"})");  // "private-team-*" does not cover it
        EXPECT_NE((co_await read_until(bob, R"("type":"error")")).find("forbidden_room"), std::string::npos);

        // Another line while eve is still connected; then eve watches the
        // lobby (public as before): everything she was sent before its
        // snapshot is in eve_saw.
        co_await ada.send(R"({"type":"chat","text":"the-second-secret"})");
        co_await read_until(ada, "the-second-secret");
        co_await eve.send(R"({"type":"watch","room":"lobby"})");
        co_await read_until(eve, R"("type":"presence")", &eve_saw);
        EXPECT_EQ(eve_saw.find("secret"), std::string::npos) << eve_saw;
        EXPECT_EQ(eve_saw.find(R"("room":"private-ops")"), std::string::npos) << eve_saw;
        EXPECT_EQ(eve_saw.find(R"("ada")"), std::string::npos) << eve_saw;
        co_await ada.close();
        co_await bob.close();
        co_await eve.close();
      },
      30s);
}

TEST_F(ChatAuth, AnExpiringTokenIsClosedWith4001) {
  chat_process chat({"--auth-jwt", secret_file().string(), "--auth-audience", "chat"});
  run_client(
      [&]() -> asio::awaitable<void> {
        auto ws = co_await connect_with(chat.ws_url(), hs(claims("ada", 2)));
        const auto start = std::chrono::steady_clock::now();
        co_await ws.send(R"({"type":"join","name":"ada","room":"lobby"})");
        EXPECT_NE((co_await read_until(ws, R"("type":"joined")")).find("ada"), std::string::npos);
        while (co_await ws.read()) {
        }
        const auto took = std::chrono::steady_clock::now() - start;
        EXPECT_EQ(ws.close_code(), 4001);
        EXPECT_EQ(ws.close_reason(), "token expired");
        EXPECT_LT(took, 4s);
        EXPECT_GT(took, 500ms);
      },
      20s);
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_expired_closes_total"), 1);
}

// Version 3: a fresh token on the open connection moves its end to the new
// exp; a bad one, another user's, or a refresh from version 2 is refused
// with a typed error and changes nothing.
TEST_F(ChatAuth, ARefreshedTokenKeepsTheConnectionPastTheOldExp) {
  chat_process chat({"--auth-jwt", secret_file().string(), "--auth-audience", "chat"});
  run_client(
      [&]() -> asio::awaitable<void> {
        auto ws = co_await connect_with(chat.ws_url(), hs(claims("ada", 2)), via::cookie, 3);
        EXPECT_EQ(ws.subprotocol(), "duplex.chat.v3");
        const auto start = std::chrono::steady_clock::now();
        co_await ws.send(R"({"type":"join","name":"ada","room":"lobby"})");
        EXPECT_NE((co_await read_until(ws, R"("type":"joined")")).find("ada"), std::string::npos);

        // Refused, each with its own code; none of them moves the expiry.
        std::string forged = hs(claims("ada", 600));  // the signature changed, the claims not
        forged[forged.size() - 10] = forged[forged.size() - 10] == 'A' ? 'B' : 'A';
        std::string msg = R"({"type":"refresh","token":")" + forged + R"("})";
        co_await ws.send(msg);
        const std::string bad = co_await read_until(ws, R"("type":"error")");
        EXPECT_NE(bad.find(R"("code":"bad_token")"), std::string::npos) << bad;
        msg = R"({"type":"refresh","token":")" + hs(claims("ada", -10)) + R"("})";
        co_await ws.send(msg);
        const std::string old = co_await read_until(ws, R"("type":"error")");
        EXPECT_NE(old.find(R"("code":"bad_token")"), std::string::npos) << old;
        EXPECT_NE(old.find("expired"), std::string::npos) << old;
        msg = R"({"type":"refresh","token":")" + hs(claims("bob", 600)) + R"("})";
        co_await ws.send(msg);
        const std::string other = co_await read_until(ws, R"("type":"error")");
        EXPECT_NE(other.find(R"("code":"token_not_yours")"), std::string::npos) << other;

        // The real refresh: refreshed with the new exp, and no 4001 at the old one.
        const long long exp = jwt::unix_now() + 600;
        msg = R"({"type":"refresh","token":")" + hs(claims("ada", 600)) + R"("})";
        co_await ws.send(msg);
        const std::string ok = co_await read_until(ws, R"("type":"refreshed")");
        EXPECT_NE(ok.find(R"("exp":)"), std::string::npos) << ok;
        const auto at = ok.find(R"("exp":)");
        if (at != std::string::npos) EXPECT_NEAR(std::stoll(ok.substr(at + 6)), exp, 2) << ok;
        asio::steady_timer wait(co_await asio::this_coro::executor);
        wait.expires_at(start + 3500ms);
        co_await wait.async_wait(asio::use_awaitable);
        EXPECT_TRUE(ws.is_open()) << "closed with " << ws.close_code() << " at the old exp";
        co_await ws.send(R"({"type":"chat","text":"still here"})");
        EXPECT_NE((co_await read_until(ws, "still here")).find(R"("from":"ada")"), std::string::npos);
        co_await ws.close();
      },
      20s);
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_expired_closes_total"), 0);
}

TEST_F(ChatAuth, RefreshIsVersion3AndNeedsSignIn) {
  chat_process signed_in({"--auth-jwt", secret_file().string(), "--auth-audience", "chat"});
  chat_process open({});
  run_client(
      [&]() -> asio::awaitable<void> {
        // Version 2 has no refresh: an unknown type, the connection stays.
        auto v2 = co_await connect_with(signed_in.ws_url(), hs(claims("ada", 600)), via::cookie, 2);
        std::string msg = R"({"type":"refresh","token":")" + hs(claims("ada", 900)) + R"("})";
        co_await v2.send(msg);
        const std::string unknown = co_await read_until(v2, R"("type":"error")");
        EXPECT_NE(unknown.find(R"("code":"bad_message")"), std::string::npos) << unknown;
        EXPECT_TRUE(v2.is_open());
        co_await v2.close();
        // A server without --auth-jwt: nothing to refresh.
        duplex::connect_options o;
        o.subprotocols = {"duplex.chat.v3"};
        auto v3 = co_await duplex::connect(open.ws_url(), o);
        co_await v3.send(msg);
        const std::string none = co_await read_until(v3, R"("type":"error")");
        EXPECT_NE(none.find(R"("code":"not_signed_in")"), std::string::npos) << none;
        co_await v3.close();
      },
      20s);
}

// A JSON integer field of a frame ("exp", "seconds"), or -1.
long long json_int(const std::string& frame, const std::string& field) {
  const std::string key = "\"" + field + "\":";
  const auto at = frame.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(frame.substr(at + key.size()));
}

// Version 4: the server tells a member before its token's exp
// (token_expiring: the exp and the seconds left); the member refreshes on
// that notice and lives on past the old exp, on the same connection.
TEST_F(ChatAuth, Version4IsToldBeforeExpRefreshesOnTheNoticeAndStays) {
  // The default notice (60 s) is longer than this token lives: it comes halfway.
  chat_process chat({"--auth-jwt", secret_file().string(), "--auth-audience", "chat"});
  run_client(
      [&]() -> asio::awaitable<void> {
        const long long exp = jwt::unix_now() + 4;
        auto ws = co_await connect_with(chat.ws_url(), hs(claims("ada", 4)), via::cookie, 4);
        EXPECT_EQ(ws.subprotocol(), "duplex.chat.v4");
        const auto start = std::chrono::steady_clock::now();
        co_await ws.send(R"({"type":"join","name":"ada","room":"lobby"})");
        EXPECT_NE((co_await read_until(ws, R"("type":"joined")")).find("ada"), std::string::npos);

        const std::string notice = co_await read_until(ws, R"("type":"token_expiring")");
        const long long told_at = jwt::unix_now();
        EXPECT_FALSE(notice.empty()) << "closed (" << ws.close_code() << ") without a notice";
        if (notice.empty()) co_return;
        const long long notice_exp = json_int(notice, "exp"), seconds = json_int(notice, "seconds");
        EXPECT_NEAR(notice_exp, exp, 1) << notice;
        EXPECT_LT(told_at, notice_exp) << "the notice came at or after exp: " << notice;
        EXPECT_GE(seconds, 1) << notice;  // about half of the 3-4 s the token had
        EXPECT_LE(seconds, 3) << notice;
        EXPECT_TRUE(ws.is_open());

        // The page's answer to the notice: a fresh token on the same connection.
        const std::string msg = R"({"type":"refresh","token":")" + hs(claims("ada", 600)) + R"("})";
        co_await ws.send(msg);
        const std::string ok = co_await read_until(ws, R"("type":"refreshed")");
        EXPECT_NEAR(json_int(ok, "exp"), jwt::unix_now() + 600, 2) << ok;
        asio::steady_timer wait(co_await asio::this_coro::executor);
        wait.expires_at(start + 5500ms);  // past the first token's exp
        co_await wait.async_wait(asio::use_awaitable);
        EXPECT_TRUE(ws.is_open()) << "closed with " << ws.close_code() << " at the old exp";
        co_await ws.send(R"({"type":"chat","text":"still here"})");
        std::string after;
        EXPECT_NE((co_await read_until(ws, "still here", &after)).find(R"("from":"ada")"), std::string::npos);
        EXPECT_EQ(after.find("token_expiring"), std::string::npos) << "a second notice for the new token: " << after;
        co_await ws.close();
      },
      20s);
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_expiry_notices_total"), 1);
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_refreshed_total"), 1);
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_expired_closes_total"), 0);
}

// Without a refresh the notice changes nothing: 4001 at exp, as before.
// --auth-refresh-notice sets the lead; a version-3 member gets no notice
// (its protocol has no such message) and the same 4001.
TEST_F(ChatAuth, Version4WithoutARefreshIsClosedWith4001AtExp) {
  chat_process chat({"--auth-jwt", secret_file().string(), "--auth-audience", "chat", "--auth-refresh-notice", "1"});
  run_client(
      [&]() -> asio::awaitable<void> {
        auto v4 = co_await connect_with(chat.ws_url(), hs(claims("ada", 4)), via::cookie, 4);
        auto v3 = co_await connect_with(chat.ws_url(), hs(claims("bob", 4)), via::cookie, 3);
        EXPECT_EQ(v3.subprotocol(), "duplex.chat.v3");
        co_await v4.send(R"({"type":"join","name":"ada","room":"lobby"})");
        co_await v3.send(R"({"type":"join","name":"bob","room":"lobby"})");
        const std::string notice = co_await read_until(v4, R"("type":"token_expiring")");
        const auto told = std::chrono::steady_clock::now();
        EXPECT_EQ(json_int(notice, "seconds"), 1) << notice;
        while (co_await v4.read()) {
        }
        const auto after_notice = std::chrono::steady_clock::now() - told;
        EXPECT_EQ(v4.close_code(), 4001);
        EXPECT_EQ(v4.close_reason(), "token expired");
        EXPECT_GT(after_notice, 300ms);  // the notice came a second before exp
        EXPECT_LT(after_notice, 2500ms);
        std::string v3_saw;
        while (auto m = co_await v3.read()) v3_saw += m->data + "\n";
        EXPECT_EQ(v3.close_code(), 4001);
        EXPECT_EQ(v3_saw.find("token_expiring"), std::string::npos) << v3_saw;
      },
      20s);
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_expiry_notices_total"), 1);
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_expired_closes_total"), 2);

  // The flag is sign-in's: without --auth-jwt the start stops with 2.
  chat_process orphan({"--auth-refresh-notice", "5"}, false);
  const auto st = orphan.wait_exit(20s);
  EXPECT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 2) << orphan.output();
}

// /metrics counts what the chat refuses in band by the error's code
// (flood control's rate_limited, a refresh's bad_token / token_not_yours,
// forbidden_room), and the library's per-IP 429s by reason.
TEST_F(ChatAuth, MetricsCountRefusalsByReason) {
  chat_process chat({"--auth-jwt", secret_file().string(), "--auth-audience", "chat", "--line-rate", "1",
                     "--line-burst", "2"});
  int passed = 0, refused = 0;
  run_client(
      [&]() -> asio::awaitable<void> {
        auto ws = co_await connect_with(chat.ws_url(), hs(claims("ada", 600)), via::bearer, 4);
        co_await ws.send(R"({"type":"join","name":"ada","room":"lobby"})");
        co_await read_until(ws, R"("type":"joined")");
        for (int i = 0; i < 6; ++i) co_await ws.send(R"({"type":"chat","text":"line"})");
        while (passed + refused < 6) {
          auto m = co_await ws.read();
          if (!m) break;
          if (m->data.find(R"("type":"message")") != std::string::npos) ++passed;
          if (m->data.find(R"("code":"rate_limited")") != std::string::npos) ++refused;
        }
        std::string msg = R"({"type":"refresh","token":")" + hs(claims("bob", 600)) + R"("})";
        co_await ws.send(msg);
        co_await read_until(ws, "token_not_yours");
        msg = R"({"type":"refresh","token":")" + hs(claims("ada", -30)) + R"("})";
        co_await ws.send(msg);
        co_await read_until(ws, "bad_token");
        co_await ws.send(R"({"type":"leave"})");
        co_await ws.send(R"({"type":"watch","room":"private-ops"})");
        co_await read_until(ws, "forbidden_room");
        co_await ws.close();
      },
      20s);
  EXPECT_EQ(passed + refused, 6);
  EXPECT_GE(refused, 3);  // a burst of 2, and about nothing refilled meanwhile
  const std::string text = get(chat.port(), "/metrics");
  EXPECT_NE(text.find("# TYPE duplex_chat_refused_total counter\n"), std::string::npos) << text;
  EXPECT_EQ(labelled(text, "duplex_chat_refused_total", "reason", "rate_limited"), refused) << text;
  EXPECT_EQ(labelled(text, "duplex_chat_refused_total", "reason", "token_not_yours"), 1) << text;
  EXPECT_EQ(labelled(text, "duplex_chat_refused_total", "reason", "bad_token"), 1) << text;
  EXPECT_EQ(labelled(text, "duplex_chat_refused_total", "reason", "forbidden_room"), 1) << text;
  EXPECT_EQ(labelled(text, "duplex_chat_refused_total", "reason", "name_taken"), -1) << text;
  EXPECT_EQ(metric(chat.port(), "duplex_chat_rate_limited_total"), refused);
  // The per-IP family is always there (loopback is exempt by default: zeros).
  EXPECT_EQ(labelled(text, "duplex_http_refused_total", "reason", "per_ip_connections"), 0) << text;
  EXPECT_EQ(labelled(text, "duplex_http_refused_total", "reason", "per_ip_handshake_rate"), 0) << text;
}

TEST_F(ChatAuth, WithoutAuthJwtPrivateRoomsAreOpenAsBefore) {
  chat_process chat({});
  EXPECT_EQ(metric(chat.port(), "duplex_chat_auth_refused_total"), -1);  // not registered
  run_client(
      [&]() -> asio::awaitable<void> {
        duplex::connect_options o;
        o.subprotocols = duplex::offered_subprotocols<duplex::chat::wire::chat_protocol_v2>();
        auto ws = co_await duplex::connect(chat.ws_url(), o);
        co_await ws.send(R"({"type":"join","name":"anyone","room":"private-ops"})");
        EXPECT_NE((co_await read_until(ws, R"("type":"joined")")).find("anyone"), std::string::npos);
        co_await ws.close();
      },
      20s);
}

TEST_F(ChatAuth, AnUnusableKeyFileStopsTheStartWithStatus2) {
  write(dir_ / "short.secret", "too-short");
  write(dir_ / "bad.pem", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n");
  write(dir_ / "bad.jwks", R"({"keys":[{"kty":"nope"}]})");
  for (const auto& [file, expect] : std::vector<std::pair<fs::path, std::string>>{
           {dir_ / "missing.secret", "No such file"},
           {dir_ / "short.secret", "HMAC secret"},
           {dir_ / "bad.pem", "PEM public key"},
           {dir_ / "bad.jwks", "JWK Set"}}) {
    chat_process chat({"--auth-jwt", file.string()}, false);
    const auto st = chat.wait_exit(20s);
    ASSERT_TRUE(st) << file;
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 2) << file << ": " << chat.output();
    EXPECT_NE(chat.output().find("cannot use --auth-jwt"), std::string::npos) << chat.output();
    EXPECT_NE(chat.output().find(expect), std::string::npos) << chat.output();
  }
  chat_process orphan({"--auth-audience", "chat"}, false);
  const auto st = orphan.wait_exit(20s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 2) << orphan.output();
}

}  // namespace
