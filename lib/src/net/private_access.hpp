// Internal: names a private member of an Asio 1.22 type (Debian fixes the
// version). An explicit instantiation may name private members
// ([temp.spec]); the friend function it defines hands the member pointer out:
//   struct tag { friend constexpr auto member(tag); };
//   template struct expose<tag, &asio::some_type::private_member_>;
//   obj.*member(tag{})
// Used by hinted_read.cpp and tls_buffers.cpp. The tags are declared in
// duplex::detail's unnamed namespace, where this is too: the friend a tag
// declares and the one expose<> defines must be the same function.
#pragma once

namespace duplex::detail {
namespace {

template <typename Tag, auto Member>
struct expose {
  friend constexpr auto member(Tag) { return Member; }
};

}  // namespace
}  // namespace duplex::detail
