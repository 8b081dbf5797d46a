#include <duplex/protocol/connection.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace duplex::protocol;
using kind = event::kind;

namespace {

// A frame as a client would send it (masked) or a server (unmasked).
std::string frame(unsigned first_byte, std::string_view payload, bool masked = true, int length_form = 0) {
  std::string out;
  out.push_back(static_cast<char>(first_byte));
  const unsigned char m = masked ? 0x80 : 0;
  std::uint64_t n = payload.size();
  if (length_form == 0) length_form = n < 126 ? 7 : n <= 0xFFFF ? 16 : 64;
  if (length_form == 7) {
    out.push_back(static_cast<char>(m | n));
  } else if (length_form == 16) {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(m | 127));
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>(n >> s));
  }
  std::string body(payload);
  if (masked) {
    const mask_key key{0x37, 0xfa, 0x21, 0x3d};
    out.append(reinterpret_cast<const char*>(key.data()), 4);
    apply_mask(reinterpret_cast<unsigned char*>(body.data()), body.size(), key, 0);
  }
  return out + body;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return p.append(reason);
}

struct collected {
  std::vector<kind> kinds;
  std::vector<std::string> data;
  std::vector<std::uint16_t> codes;
};

collected drain(connection& c) {
  collected out;
  while (auto e = c.next_event()) {
    out.kinds.push_back(e->type);
    out.data.emplace_back(e->data);
    out.codes.push_back(e->code);
  }
  return out;
}

// The close code in the last Close frame of a server's (unmasked) output.
int sent_close_code(const connection& c) {
  const std::string_view o = c.output();
  for (std::size_t i = 0; i + 1 < o.size();) {
    const unsigned op = static_cast<unsigned char>(o[i]) & 0x0F;
    const std::size_t len = static_cast<unsigned char>(o[i + 1]) & 0x7F;
    if (op == 0x8) return len >= 2 ? (static_cast<unsigned char>(o[i + 2]) << 8) | static_cast<unsigned char>(o[i + 3]) : 1005;
    i += 2 + len;
  }
  return -1;
}

void expect_failure(std::string bytes, std::uint16_t code, role r = role::server) {
  connection c(r, 1 << 20);
  c.receive_data(bytes);
  auto ev = drain(c);
  ASSERT_FALSE(ev.kinds.empty());
  EXPECT_EQ(ev.kinds.back(), kind::failed);
  EXPECT_EQ(ev.codes.back(), code);
  EXPECT_EQ(c.get_state(), state::closed);
  if (r == role::server) EXPECT_EQ(sent_close_code(c), code);  // a client's Close is masked
  else EXPECT_TRUE(c.has_output());
}

}  // namespace

TEST(Connection, UnmasksATextMessage) {
  connection c(role::server);
  c.receive_data(frame(0x81, "Hello"));
  auto ev = drain(c);
  ASSERT_EQ(ev.kinds.size(), 1u);
  EXPECT_EQ(ev.kinds[0], kind::text);
  EXPECT_EQ(ev.data[0], "Hello");
}

// Whole messages are handed out as views into the input buffer that stay
// valid across next_event() until the next prepare(): a transport can give
// out all messages of one read without copying. A reassembled message lives
// in the connection's own buffer and is marked as not in_input.
TEST(Connection, WholeMessagesStayInTheInputUntilTheNextPrepare) {
  connection c(role::server);
  c.receive_data(frame(0x81, "first") + frame(0x82, "second") + frame(0x01, "frag") + frame(0x80, "mented") +
                 frame(0x81, "third"));
  std::vector<event> events;
  while (auto e = c.next_event()) {
    if (!e->in_input) EXPECT_EQ(e->data, "fragmented");  // valid until the next next_event() only
    events.push_back(*e);
  }
  ASSERT_EQ(events.size(), 4u);
  EXPECT_TRUE(events[0].in_input);
  EXPECT_TRUE(events[1].in_input);
  EXPECT_FALSE(events[2].in_input);
  EXPECT_TRUE(events[3].in_input);
  // Still intact after the later events were parsed.
  EXPECT_EQ(events[0].data, "first");
  EXPECT_EQ(events[1].data, "second");
  EXPECT_EQ(events[3].data, "third");
}

// take_message() hands a reassembled message's buffer over without a copy;
// for a whole frame's payload (a view into the input) it does nothing.
TEST(Connection, TakeMessageSwapsOnlyTheMessageBuffer) {
  connection c(role::server);
  c.receive_data(frame(0x81, "whole") + frame(0x02, "frag") + frame(0x80, "mented"));
  std::string into = "old contents";
  auto whole = c.next_event();
  ASSERT_TRUE(whole && whole->in_input);
  EXPECT_FALSE(c.take_message(*whole, into));
  EXPECT_EQ(into, "old contents");
  auto reassembled = c.next_event();
  ASSERT_TRUE(reassembled && !reassembled->in_input);
  EXPECT_EQ(reassembled->type, kind::binary);
  EXPECT_TRUE(c.take_message(*reassembled, into));
  EXPECT_EQ(into, "fragmented");
  // The next reassembled message starts from an empty buffer.
  c.receive_data(frame(0x01, "ab") + frame(0x80, "c"));
  auto next = c.next_event();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->data, "abc");
}

TEST(Connection, ParsesEveryLengthFormByteByByte) {
  for (std::size_t n : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 200000u}) {
    std::string payload(n, 'x');
    for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 7);
    const std::string bytes = frame(0x82, payload);
    connection c(role::server);
    std::vector<std::string> got;
    const std::size_t step = n > 1000 ? 997 : 1;
    for (std::size_t i = 0; i < bytes.size(); i += step) {
      c.receive_data(std::string_view(bytes).substr(i, step));
      while (auto e = c.next_event()) {
        EXPECT_EQ(e->type, kind::binary);
        got.emplace_back(e->data);
      }
    }
    ASSERT_EQ(got.size(), 1u) << n;
    EXPECT_EQ(got[0], payload) << n;
  }
}

TEST(Connection, ReassemblesFragmentsAndAnswersPingsBetweenThem) {
  connection c(role::server);
  c.receive_data(frame(0x01, "Hel") + frame(0x89, "are you there") + frame(0x00, "lo ") + frame(0x80, "world"));
  auto ev = drain(c);
  ASSERT_EQ(ev.kinds.size(), 2u);
  EXPECT_EQ(ev.kinds[0], kind::ping);
  EXPECT_EQ(ev.kinds[1], kind::text);
  EXPECT_EQ(ev.data[1], "Hello world");
  // The pong was queued at once, unmasked, with the ping's payload.
  EXPECT_EQ(c.output(), frame(0x8A, "are you there", false));
}

TEST(Connection, ClientMasksAndServerUnmasks) {
  connection client(role::client), server(role::server);
  ASSERT_TRUE(client.send(opcode::text, "from client"));
  ASSERT_TRUE(client.send(opcode::text, "from client"));
  const std::string wire(client.output());
  EXPECT_TRUE(static_cast<unsigned char>(wire[1]) & 0x80);
  // Fresh key per frame: the two identical messages differ on the wire.
  EXPECT_NE(wire.substr(0, wire.size() / 2), wire.substr(wire.size() / 2));
  server.receive_data(wire);
  auto ev = drain(server);
  ASSERT_EQ(ev.data.size(), 2u);
  EXPECT_EQ(ev.data[1], "from client");

  ASSERT_TRUE(server.send(opcode::binary, std::string(70000, 'b')));
  output_buffer back;
  server.swap_output(back);
  client.receive_data(back);
  auto ev2 = drain(client);
  ASSERT_EQ(ev2.kinds.size(), 1u);
  EXPECT_EQ(ev2.kinds[0], kind::binary);
  EXPECT_EQ(ev2.data[0].size(), 70000u);
}

TEST(Connection, SendsFragmentedMessages) {
  connection client(role::client), server(role::server);
  EXPECT_FALSE(client.send_frame(opcode::continuation, "x", true));
  EXPECT_TRUE(client.send_frame(opcode::text, "a", false));
  EXPECT_FALSE(client.send(opcode::text, "interleaved"));
  EXPECT_TRUE(client.send_frame(opcode::continuation, "b", false));
  EXPECT_TRUE(client.send_frame(opcode::continuation, "c", true));
  server.receive_data(client.output());
  auto ev = drain(server);
  ASSERT_EQ(ev.data.size(), 1u);
  EXPECT_EQ(ev.data[0], "abc");
}

TEST(Connection, FramingViolationsFailWith1002) {
  expect_failure(frame(0xC1, "rsv1"), 1002);
  expect_failure(frame(0xA1, "rsv2"), 1002);
  expect_failure(frame(0x91, "rsv3"), 1002);
  for (unsigned op : {3u, 4u, 5u, 6u, 7u, 0xBu, 0xCu, 0xDu, 0xEu, 0xFu}) expect_failure(frame(0x80 | op, ""), 1002);
  expect_failure(frame(0x09, "fragmented ping"), 1002);
  expect_failure(frame(0x89, std::string(126, 'p')), 1002);
  expect_failure(frame(0x80, "continuation without start"), 1002);
  expect_failure(frame(0x01, "a") + frame(0x81, "b"), 1002);
  expect_failure(frame(0x81, "unmasked", false), 1002);
  expect_failure(frame(0x81, "masked from server", true), 1002, role::client);
  expect_failure(frame(0x81, "short", true, 16), 1002);              // 16-bit form for 5 bytes
  expect_failure(frame(0x82, std::string(200, 'x'), true, 64), 1002);  // 64-bit form for 200 bytes
  const std::string top_bit("\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x01\0\0\0\0", 14);
  expect_failure(top_bit, 1002);
}

TEST(Connection, InvalidUtf8FailsWith1007AtTheFirstBadFragment) {
  expect_failure(frame(0x81, "\xC3\x28"), 1007);
  expect_failure(frame(0x81, "ok \xCE"), 1007);  // truncated at the end
  // Fail fast: the bad first fragment fails before the message is complete.
  expect_failure(frame(0x01, "\xED\xA0\x80"), 1007);
  // Sequences split across fragments are fine.
  connection c(role::server);
  c.receive_data(frame(0x01, "\xF0\x9F") + frame(0x80, "\x98\x80"));
  auto ev = drain(c);
  ASSERT_EQ(ev.kinds.size(), 1u);
  EXPECT_EQ(ev.data[0], "\xF0\x9F\x98\x80");
}

TEST(Connection, OversizeMessagesFailWith1009) {
  connection c(role::server, 100);
  c.receive_data(frame(0x82, std::string(101, 'x')).substr(0, 8));  // the header alone decides
  auto ev = drain(c);
  ASSERT_EQ(ev.kinds.size(), 1u);
  EXPECT_EQ(ev.codes[0], 1009);
  connection f(role::server, 100);
  f.receive_data(frame(0x02, std::string(60, 'x')) + frame(0x80, std::string(41, 'x')));
  auto ev2 = drain(f);
  ASSERT_EQ(ev2.kinds.size(), 1u);
  EXPECT_EQ(ev2.codes[0], 1009);
  // A whole small frame (the fast path's kind) over a small limit.
  connection g(role::server, 10);
  g.receive_data(frame(0x81, std::string(11, 'x')));
  auto ev3 = drain(g);
  ASSERT_EQ(ev3.kinds.size(), 1u);
  EXPECT_EQ(ev3.codes[0], 1009);
}

TEST(Connection, EchoesValidCloseCodes) {
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999}) {
    connection c(role::server);
    c.receive_data(frame(0x88, close_payload(code, "bye")));
    auto ev = drain(c);
    ASSERT_EQ(ev.kinds.size(), 1u);
    EXPECT_EQ(ev.kinds[0], kind::close);
    EXPECT_EQ(ev.codes[0], code);
    EXPECT_EQ(ev.data[0], "bye");
    EXPECT_EQ(sent_close_code(c), code);
    EXPECT_EQ(c.get_state(), state::closed);
    EXPECT_FALSE(c.send(opcode::text, "too late"));
  }
}

TEST(Connection, RefusesInvalidClosePayloads) {
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535})
    expect_failure(frame(0x88, close_payload(code)), 1002);
  expect_failure(frame(0x88, "\x03"), 1002);  // one-byte payload
  expect_failure(frame(0x88, close_payload(1000, "\xC3\x28")), 1007);
}

TEST(Connection, EmptyCloseIsAnsweredEmpty) {
  connection c(role::server);
  c.receive_data(frame(0x88, ""));
  auto ev = drain(c);
  ASSERT_EQ(ev.kinds.size(), 1u);
  EXPECT_EQ(ev.codes[0], 1005);
  EXPECT_EQ(c.output(), frame(0x88, "", false));
}

TEST(Connection, ClosingHandshakeInitiatedLocally) {
  connection c(role::server);
  ASSERT_TRUE(c.close(1001, "going"));
  EXPECT_EQ(c.get_state(), state::closing);
  EXPECT_FALSE(c.close());
  output_buffer sent;
  c.swap_output(sent);
  EXPECT_EQ(sent.view(), frame(0x88, close_payload(1001, "going"), false));
  // Data that crossed our Close is still delivered; then the peer's Close ends it.
  c.receive_data(frame(0x81, "late") + frame(0x88, close_payload(1001)) + frame(0x81, "ignored"));
  auto ev = drain(c);
  ASSERT_EQ(ev.kinds.size(), 2u);
  EXPECT_EQ(ev.kinds[0], kind::text);
  EXPECT_EQ(ev.kinds[1], kind::close);
  EXPECT_EQ(c.get_state(), state::closed);
  EXPECT_TRUE(c.output().empty());  // no second Close
}

TEST(Connection, LongCloseReasonIsCutAtACharacterBoundary) {
  connection c(role::server);
  std::string reason;
  for (int i = 0; i < 100; ++i) reason += "\xC3\xA9";  // é, 200 bytes
  ASSERT_TRUE(c.close(1000, reason));
  EXPECT_LE(c.output().size(), 2u + 125u);
  connection peer(role::client);
  peer.receive_data(c.output());
  auto ev = drain(peer);
  ASSERT_EQ(ev.kinds.size(), 1u);
  EXPECT_EQ(ev.kinds[0], kind::close);  // still valid UTF-8
}

// defer_failures: a violation behind valid messages stops the events there
// with the connection still OPEN, so replies to those messages can be sent;
// the next call fails it, and the Close follows the replies. Nothing after
// the violation is acted on (no Pong).
TEST(Connection, DeferredFailureLetsEarlierMessagesBeAnswered) {
  struct violation {
    std::string frame;
    std::uint16_t code;
  };
  const std::vector<violation> cases{
      {frame(0xA1, "rsv2"), 1002},                     // RSV2
      {frame(0x85, ""), 1002},                         // reserved opcode
      {frame(0x80, "stray"), 1002},                    // continuation without a message
      {frame(0x09, "p"), 1002},                        // fragmented Ping
      {frame(0x81, "\xed\xa0\x80"), 1007},             // invalid UTF-8 (fast path)
      {frame(0x01, "\xff") + frame(0x80, "x"), 1007},  // invalid UTF-8 in a fragment
      {frame(0x88, close_payload(999)), 1002},         // bad close code
  };
  for (const auto& v : cases) {
    connection c(role::server, 1 << 20);
    c.defer_failures(true);
    c.receive_data(frame(0x81, "one") + frame(0x82, std::string(200, 'b')) + v.frame + frame(0x89, "late ping"));
    auto e1 = c.next_event();
    ASSERT_TRUE(e1);
    EXPECT_EQ(e1->data, "one");
    auto e2 = c.next_event();
    ASSERT_TRUE(e2);
    EXPECT_EQ(e2->type, kind::binary);
    EXPECT_FALSE(c.next_event());
    EXPECT_TRUE(c.failure_pending());
    EXPECT_EQ(c.get_state(), state::open);
    ASSERT_TRUE(c.send(opcode::text, "one"));  // the reply still goes
    auto f = c.next_event();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->type, kind::failed);
    EXPECT_EQ(f->code, v.code);
    EXPECT_FALSE(c.failure_pending());
    EXPECT_EQ(c.get_state(), state::closed);
    EXPECT_EQ(c.output().substr(0, 5), std::string("\x81\x03one", 5));  // the reply, then the Close (no Pong)
    EXPECT_EQ(sent_close_code(c), v.code);
    EXPECT_EQ(c.output().size(), 5u + 2 + 2 + (f->data.size() > 123 ? 123 : f->data.size()));
    EXPECT_FALSE(c.next_event());
  }
}

// The transport's read loop relies on this: failure_pending() means the next
// next_event() returns the failed event. A transport that lost the socket
// while a failure was deferred (a reply's write failed) marks the
// connection closed, and nothing is pending any more (duplex-echo spun on a
// pending failure that next_event() would never raise).
TEST(Connection, MarkClosedDropsADeferredFailure) {
  connection c(role::server);
  c.defer_failures(true);
  c.receive_data(frame(0x81, "one") + frame(0xA1, "rsv2"));
  ASSERT_TRUE(c.next_event());
  EXPECT_FALSE(c.next_event());
  ASSERT_TRUE(c.failure_pending());
  c.mark_closed();
  EXPECT_FALSE(c.failure_pending());
  EXPECT_FALSE(c.next_event());
  EXPECT_EQ(c.get_state(), state::closed);
}

// With deferral the peer's Close waits like a violation: messages that came
// before it in the same read are answered before our Close echo (an echo
// server got "hello world" + Close in one write and answered only the Close).
TEST(Connection, DeferredCloseLetsEarlierMessagesBeAnswered) {
  connection c(role::server);
  c.defer_failures(true);
  c.receive_data(frame(0x81, "hello") + frame(0x88, close_payload(1000) + "bye") + frame(0x81, "after"));
  auto m = c.next_event();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->data, "hello");
  EXPECT_FALSE(c.next_event());
  EXPECT_TRUE(c.failure_pending());
  EXPECT_EQ(c.get_state(), state::open);
  ASSERT_TRUE(c.send(opcode::text, "hello"));
  auto e = c.next_event();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, kind::close);
  EXPECT_EQ(e->code, 1000);
  EXPECT_EQ(e->data, "bye");
  EXPECT_EQ(c.get_state(), state::closed);
  EXPECT_FALSE(c.failure_pending());
  EXPECT_EQ(c.output().substr(0, 7), std::string("\x81\x05hello", 7));  // the reply, then the echo
  EXPECT_EQ(sent_close_code(c), 1000);
  EXPECT_FALSE(c.next_event());  // nothing after the Close is parsed
}
