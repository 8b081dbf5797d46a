#include <duplex/realtime/rooms.hpp>

#include <gtest/gtest.h>

namespace rt = duplex::realtime;

TEST(RoomName, Rules) {
  EXPECT_FALSE(rt::validate_room_name("lobby"));
  EXPECT_FALSE(rt::validate_room_name("A-z_0.9"));
  EXPECT_FALSE(rt::validate_room_name(std::string(64, 'x')));
  EXPECT_EQ(rt::validate_room_name(""), rt::errc::invalid_room_name);
  EXPECT_EQ(rt::validate_room_name(std::string(65, 'x')), rt::errc::invalid_room_name);
  EXPECT_EQ(rt::validate_room_name("with space"), rt::errc::invalid_room_name);
  EXPECT_EQ(rt::validate_room_name("caf\xc3\xa9"), rt::errc::invalid_room_name);
  EXPECT_EQ(rt::validate_room_name(std::string_view("a\0b", 3)), rt::errc::invalid_room_name);
  EXPECT_EQ(rt::validate_room_name("a/b"), rt::errc::invalid_room_name);
}

TEST(RoomRegistry, CreatesUpToTheLimit) {
  struct room {
    std::string name;
    int members = 0;
  };
  rt::room_registry<room> rooms(2);
  std::error_code ec;
  auto make = [](std::string_view n) { return room{std::string(n)}; };
  auto* a = rooms.open("a", make, ec);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "a");
  a->members = 3;
  EXPECT_EQ(rooms.open("a", make, ec), a);  // same room
  EXPECT_EQ(rooms.open("a", ec)->members, 3);
  ASSERT_TRUE(rooms.open("b", make, ec));
  EXPECT_EQ(rooms.open("c", make, ec), nullptr);
  EXPECT_EQ(ec, rt::errc::too_many_rooms);
  EXPECT_TRUE(rooms.open("b", ec));  // existing rooms still open at the limit
  EXPECT_FALSE(ec);
  EXPECT_EQ(rooms.open("bad name", ec), nullptr);
  EXPECT_EQ(ec, rt::errc::invalid_room_name);
  EXPECT_TRUE(rooms.erase("a"));
  EXPECT_TRUE(rooms.open("c", make, ec));
  EXPECT_EQ(rooms.size(), 2u);
  EXPECT_EQ(rooms.find("a"), nullptr);
}
