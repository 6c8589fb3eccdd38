#!/usr/bin/env bash
# Idempotently install the pinned OpenCode, Gemini CLI and Copilot CLI used by harnex's
# end-to-end tests of those adapters.
# Usage: install-more-agents.sh   (DIR from $HARNEX_MORE_AGENT_DIR or the default cache dir)
# Prints the bin dir (DIR/node_modules/.bin) as the last line of stdout.
set -euo pipefail

OPENCODE_VERSION="1.18.33"
GEMINI_VERSION="0.61.0"
COPILOT_VERSION="1.0.102"
DIR="${HARNEX_MORE_AGENT_DIR:-$HOME/.cache/harnex-agents/opencode-${OPENCODE_VERSION}-gemini-${GEMINI_VERSION}-copilot-${COPILOT_VERSION}}"
BIN="$DIR/node_modules/.bin"

version_of() {
    node -p "require('$DIR/node_modules/$1/package.json').version" 2>/dev/null || true
}

installed() {
    [[ "$(version_of opencode-ai)" == "$OPENCODE_VERSION" \
        && "$(version_of @google/gemini-cli)" == "$GEMINI_VERSION" \
        && "$(version_of @github/copilot)" == "$COPILOT_VERSION" \
        && -x "$BIN/opencode" && -x "$BIN/gemini" && -x "$BIN/copilot" ]]
}

if installed; then
    echo "more agents already installed in $DIR" >&2
else
    command -v npm >/dev/null 2>&1 || { echo "install-more-agents.sh: npm not found" >&2; exit 1; }
    mkdir -p "$DIR"
    echo "installing opencode-ai@$OPENCODE_VERSION @google/gemini-cli@$GEMINI_VERSION @github/copilot@$COPILOT_VERSION into $DIR" >&2
    npm install --prefix "$DIR" --no-audit --no-fund \
        "opencode-ai@$OPENCODE_VERSION" "@google/gemini-cli@$GEMINI_VERSION" "@github/copilot@$COPILOT_VERSION" >&2
    if ! installed; then
        echo "install-more-agents.sh: the installed CLIs do not report the pinned versions" >&2
        exit 1
    fi
fi
echo "$BIN"
