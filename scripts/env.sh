# Sourced by the scripts: shared build settings.
# Reuse a target directory outside the clone when one exists (CI on a warm machine); a fresh
# machine builds into ./target, only slower.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d "${SHOPSENSE_TARGET_CACHE:-/root/.cache/shopsense-target}" ]; then
  export CARGO_TARGET_DIR="${SHOPSENSE_TARGET_CACHE:-/root/.cache/shopsense-target}"
fi
# Tools installed by scripts/setup.sh (a recent cmake for LightGBM) come first on PATH.
SHOPSENSE_TOOLS="${SHOPSENSE_TOOLS:-$HOME/.cache/shopsense-tools}"
export SHOPSENSE_TOOLS
export PATH="$SHOPSENSE_TOOLS/venv/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
