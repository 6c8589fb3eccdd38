#!/usr/bin/env bash
# Idempotently install the pinned Codex and Claude Code CLIs used by harnex's end-to-end tests.
# Usage: install-agents.sh            (DIR from $HARNEX_AGENT_DIR or the default cache dir)
# Prints the bin dir (DIR/node_modules/.bin) as the last line of stdout.
set -euo pipefail

CODEX_VERSION="0.169.0"
CLAUDE_VERSION="2.1.328"
DIR="${HARNEX_AGENT_DIR:-$HOME/.cache/harnex-agents/codex-${CODEX_VERSION}-claude-${CLAUDE_VERSION}}"
BIN="$DIR/node_modules/.bin"

installed() {
    local codex claude
    codex="$("$BIN/codex" --version 2>/dev/null || true)"
    claude="$("$BIN/claude" --version 2>/dev/null || true)"
    [[ "$codex" == "codex-cli $CODEX_VERSION" && "$claude" == "$CLAUDE_VERSION (Claude Code)" ]]
}

if installed; then
    echo "agents already installed in $DIR" >&2
else
    command -v npm >/dev/null 2>&1 || { echo "install-agents.sh: npm not found" >&2; exit 1; }
    mkdir -p "$DIR"
    echo "installing @openai/codex@$CODEX_VERSION @anthropic-ai/claude-code@$CLAUDE_VERSION into $DIR" >&2
    npm install --prefix "$DIR" --no-audit --no-fund \
        "@openai/codex@$CODEX_VERSION" "@anthropic-ai/claude-code@$CLAUDE_VERSION" >&2
    if ! installed; then
        echo "install-agents.sh: installed CLIs do not report the pinned versions:" >&2
        "$BIN/codex" --version >&2 || true
        "$BIN/claude" --version >&2 || true
        exit 1
    fi
fi
echo "$BIN"
