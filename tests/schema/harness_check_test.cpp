// Fails on purpose, but only when asked for by name (it is DISABLED_): CTest
// runs it as "<build>.schema_exit_code" and expects the run to fail. That
// proves a failing test really fails ctest — under Node that takes
// -sEXIT_RUNTIME=1, without which every WASM run would "pass".
#include <gtest/gtest.h>

TEST(HarnessCheck, DISABLED_FailsOnPurpose) { FAIL() << "deliberate failure (harness check)"; }
