// Types for duplex_client.mjs (the ES-module build of wasm/bindings.cpp).
//
// HAND-WRITTEN for today's embind API. Interim: issue 10 generates the
// .d.ts from the protocol description; that generated file replaces this one
// (point TYPES in wasm/CMakeLists.txt at it and delete this file).
//
//   import createDuplexClient from './duplex_client.mjs';
//   const Module = await createDuplexClient();
//   const client = new Module.DuplexClient();
//   client.on('message', (m) => { if (m.type === 'message') console.log(m.from, m.text); });
//   client.connect(`ws://${location.host}/ws/chat`);

export type ClientState = 'connecting' | 'open' | 'closing' | 'closed';

export type ServerMessage =
  | { type: 'message'; from: string; text: string; time: number }
  | { type: 'presence'; users: string[] }
  | { type: 'joined'; name: string }
  | { type: 'left'; name: string }
  | { type: 'error'; code: string; message: string };

export type ClientError =
  | { kind: 'decode'; code: string; field: string; detail: string; raw: string }
  | { kind: 'transport'; message: string };

export interface CloseEvent {
  code: number;
  reason: string;
  wasClean: boolean;
}

export interface DuplexClientEvents {
  message: (message: ServerMessage) => void;
  error: (error: ClientError) => void;
  state: (state: ClientState) => void;
  close: (event: CloseEvent) => void;
}

export declare class DuplexClient {
  constructor();
  /** Sets (or with null/undefined removes) the handler; false for an unknown event. */
  on<E extends keyof DuplexClientEvents>(event: E, handler: DuplexClientEvents[E] | null | undefined): boolean;
  /** Opens the WebSocket; false if the URL is refused. */
  connect(url: string): boolean;
  /** False unless the socket is open. */
  join(name: string): boolean;
  say(text: string): boolean;
  close(): void;
  close(code: number, reason: string): void;
  state(): ClientState;
  /** Frees the C++ object (embind) and closes its socket. */
  delete(): void;
}

export interface DuplexClientModule {
  DuplexClient: typeof DuplexClient;
  readonly maxNameBytes: number;
  readonly maxTextBytes: number;
}

export default function createDuplexClient(moduleOverrides?: object): Promise<DuplexClientModule>;
