// The TypeScript declarations of a protocol's WASM client module: the JS face
// that duplex/wasm/client.hpp defines (DUPLEX_WASM_CLIENT(P): DuplexClient,
// its events and errors, Module.protocol), around the declarations of the
// protocol's messages (duplex/schema/generate.hpp). Written into <name>.d.ts
// by the generator tool of duplex_protocol() (cmake/duplex_protocol.cmake):
//
//   duplex::schema::generate::run<P>(argc, argv, duplex::wasm::typescript<P>)
//
// No Emscripten headers: the tool is also a native program, so this header is
// installed with the native package too (target duplex::wasm_interface).
// A change to client.hpp's JS face is a change here.
#pragma once

#include <duplex/schema/describe.hpp>
#include <duplex/schema/generate.hpp>
#include <duplex/schema/version.hpp>

#include <string>
#include <string_view>

namespace duplex::wasm {

// The codec's error codes (schema::to_string(decode_errc)), as client.hpp
// reports them in DecodeError.code.
inline constexpr std::string_view decode_error_codes[] = {
    "invalid_json", "not_object",   "unknown_type", "missing_field", "wrong_type",
    "invalid_utf8", "too_long",     "empty_value",  "document_too_long", "too_deep",
    "duplicate_key", "out_of_range", "bad_enum",    "too_short",     "bad_character",
    "truncated",     "trailing_bytes"};

// Declarations for the page's JavaScript: the protocol's messages, and the
// WASM client module whose factory is `factory` (a global function, as
// Emscripten's MODULARIZE output defines it), in namespace Duplex<Name>.
template <schema::protocol P>
std::string typescript(std::string_view factory) {
  const std::string ns = "Duplex" + schema::generate::pascal(P::name);
  const std::string fp = schema::fingerprint_hex(schema::fingerprint<P>());
  std::string out = schema::generate::ts_header<P>() + "\ndeclare namespace " + ns + " {\n";
  out += schema::generate::ts_messages<P>();
  out += "  type DecodeErrorCode =";
  for (auto c : decode_error_codes) out += "\n    | \"" + std::string(c) + "\"";
  out += ";\n";
  out += R"(  /** A message that did not decode (received) or does not satisfy the rules (sent). */
  interface DecodeError {
    kind: "decode";
    code: DecodeErrorCode;
    /** JSON path of the offending value, e.g. "users[3]"; "" for the whole message. */
    path: string;
    expected: string;
    detail: string;
    /** The frame as received (received messages only). */
    raw?: string;
  }
  interface TransportError {
    kind: "transport";
    message: string;
  }
  interface CloseInfo {
    code: number;
    reason: string;
    wasClean: boolean;
  }
  type State = "connecting" | "open" | "closing" | "closed";
  interface Client {
    on(event: "message", fn: ((m: ServerMessage) => void) | null): boolean;
    on(event: "error", fn: ((e: DecodeError | TransportError) => void) | null): boolean;
    on(event: "state", fn: ((s: State) => void) | null): boolean;
    on(event: "close", fn: ((c: CloseInfo) => void) | null): boolean;
    /** Opens ws:// or wss:// offering this protocol's subprotocol; false if the URL is refused. */
    connect(url: string): boolean;
    /** The same, offering the binary encoding (subprotocol ...v<version>.bin, binary frames) when options.binary. */
    connect(url: string, options: { binary?: boolean }): boolean;
    /** Checks m against the protocol's rules, encodes and sends it; null when sent. */
    send(m: ClientMessage): DecodeError | TransportError | null;
    close(): void;
    close(code: number, reason: string): void;
    state(): State;
    /** Frees the client (closes the socket). */
    delete(): void;
  }
  interface Module {
    DuplexClient: new () => Client;
    protocol: {
      name: ")" + std::string(P::name) + R"(";
      version: )" + std::to_string(P::version) + R"(;
      subprotocol: ")" + schema::subprotocol_name<P>() + R"(";
      fingerprint: ")" + fp + R"(";
    };
    /** Close code of a server that speaks no version this page does: reload. */
    versionMismatchCode: )" + std::to_string(schema::close_version_mismatch) + R"(;
  }
}

declare function )" + std::string(factory) + "(moduleOverrides?: object): Promise<" + ns + ".Module>;\n";
  return out;
}

}  // namespace duplex::wasm
