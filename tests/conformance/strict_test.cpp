// Autobahn "strict" behaviour of the server (see strict_cases.hpp), for both
// read styles: read() one message at a time ("/") and read(message_batch&),
// which hands out everything one read brought ("/batch").
#include "server_suite.hpp"
#include "strict_cases.hpp"

namespace conformance {
namespace {

struct strict_param {
  strict_case c;
  const char* path;
};
void PrintTo(const strict_param& p, std::ostream* os) { *os << p.c.id; }

class Strict : public ::testing::TestWithParam<strict_param> {};

TEST_P(Strict, RepliesBeforeTheViolationThenClose) {
  const auto& [c, path] = GetParam();
  ws_client ws(path);
  ASSERT_TRUE(ws.send(c.bytes));
  for (std::size_t i = 0; i < c.echoes.size(); ++i)
    ASSERT_TRUE(next_is(ws, c.echoes[i].first, c.echoes[i].second)) << "reply " << i;
  EXPECT_TRUE(next_is_close(ws, c.code));  // and nothing else: no Pong for a Ping after the violation
}

std::vector<strict_param> params() {
  std::vector<strict_param> v;
  for (const char* path : {"/", "/batch"})
    for (auto& c : strict_cases(true, max_message)) v.push_back({c, path});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Conformance, Strict, ::testing::ValuesIn(params()), [](const auto& info) {
  return std::string(info.param.path[1] ? "Batch_" : "Single_") + info.param.c.id;
});

}  // namespace
}  // namespace conformance
