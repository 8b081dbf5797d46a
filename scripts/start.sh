#!/usr/bin/env bash
# The main job: install, build, and run the chat server on http://localhost:3000.
# Extra arguments go to duplex-chat (see `build/native/server/duplex-chat --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh --app   # the chat server and the site only; scripts/test.sh builds the rest
exec build/native/server/duplex-chat --host 127.0.0.1 --port 3000 --root build/site "$@"
