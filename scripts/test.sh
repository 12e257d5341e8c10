#!/usr/bin/env bash
# The project's test command (README): every unit, integration, property and
# end-to-end test of the workspace, in the dev profile (one profile for all
# tests). Tests that read the shared real recordings skip with a message
# when those are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd .. && pwd)/streetbump-target}"
exec cargo test --workspace --locked "$@"
