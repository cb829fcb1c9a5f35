#!/usr/bin/env bash
# The main job on the bundled real samples: builds shopsense (release) and runs `shopsense demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh
cargo build --release --quiet -p shopsense
"${CARGO_TARGET_DIR:-target}/release/shopsense" demo "$@"
