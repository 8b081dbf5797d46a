// What app.cpp exports (EMSCRIPTEN_BINDINGS), for the page's type check.
export interface PollApp {
  /** Connects the C++ half to url; `onLine` gets a line per tally. */
  watch(url: string, onLine: (line: string) => void): void;
  /** '' when sent; else why not (a rule of poll.hpp, or not connected). */
  vote(voter: string, choice: string, weight: number): string;
}
declare function createPollApp(moduleOverrides?: object): Promise<PollApp>;
export default createPollApp;
