#!/usr/bin/env bash
# The worked example on the embedded default (SQLite, built-in offline model): no API key needed.
# Usage: scripts/quickstart.sh [FOLDER]   (default: a fresh temporary folder)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work" && cd "$work"
export PROMPTVER_DB=""  # use the embedded registry in this folder
run() { printf '\n$ %s\n' "$*"; "$@"; }
shown() { printf '\n$ %s\n' "$*" >&2; "$@"; }  # a command whose output a variable keeps: shown all the same

run promptver init --no-examples
cp -r "$here/prompts" "$here/models" "$here/evals" .
run promptver sync -m "import the worked example"
pairing=$(shown promptver pair support-reply/1 support-llm/1 -m "first release")
run promptver label set support-reply production "$pairing" --reason "launch"
run promptver get support-reply@production
run promptver render support-reply@production --var company=Acme --var "question=Where is my order?"

# A new prompt version and a new model version, released to staging
sed -i 's/friendly support agent/friendly, concise support agent/' prompts/support-reply.yaml
run promptver sync -m "more concise"
run promptver model add support-llm --model promptver/echo --param temperature=0.3 --param max_tokens=300 --param seed=7 -m "warmer"
pairing2=$(shown promptver pair support-reply/2 support-llm/2)
run promptver label set support-reply staging "$pairing2" --reason "try v2 on v2"
run promptver prompt log support-reply
run promptver prompt diff support-reply/1 support-reply/2
run promptver model diff support-llm/1 support-llm/2
run promptver label history support-reply
run promptver eval evals/support-reply.yaml       # replay the test set on the offline model
run promptver attribute "$pairing" "$pairing2" --suite evals/support-reply.yaml   # prompt or model?
run promptver verify
printf '\nThe registry is in %s/.promptver/registry.db. Try: cd %s && promptver tui\n' "$work" "$work"
