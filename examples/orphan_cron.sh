#!/usr/bin/env bash
# Report taskyard's orphaned tasks, for cron.
#
#   # m  h dom mon dow  command
#   */15 *  *   *   *   TASKYARD_URL=http://127.0.0.1:8000 /opt/taskyard/examples/orphan_cron.sh
#
# cron mails whatever a job prints, so this script prints nothing when all is well.
#
# Environment:
#   TASKYARD_URL      server base URL (default http://127.0.0.1:8000)
#   TASKYARD_API_KEY  sent as X-API-Key when set
#   ORPHAN_REASON     only this reason: never_run | not_runnable | lost (default: all)
#   VERBOSE=1         also say so when there is nothing to report
#
# Exit status: 0 no orphaned task, 1 some (listed on stdout),
#              2 the server cannot be reached or answered with an error (on stderr).
# Uses jq when present, grep/sed otherwise.
set -euo pipefail

url="${TASKYARD_URL:-http://127.0.0.1:8000}"
url="${url%/}/api/v1/tasks/\$orphaned"
if [[ -n "${ORPHAN_REASON:-}" ]]; then
  url+="?reason=${ORPHAN_REASON}"
fi

auth=()
if [[ -n "${TASKYARD_API_KEY:-}" ]]; then
  auth=(-H "X-API-Key: ${TASKYARD_API_KEY}")
fi

body_file=$(mktemp)
headers_file=$(mktemp)
trap 'rm -f "$body_file" "$headers_file"' EXIT

# One answer covers a slice of the tasks; its `Link: <...>; rel="next"` header names the next slice.
base="${url%%/api/*}"
count=0
rows=""
while [[ -n "$url" ]]; do
  if ! status=$(curl -sS --max-time 20 "${auth[@]}" -H 'Accept: application/json' \
    -D "$headers_file" -o "$body_file" -w '%{http_code}' "$url"); then
    echo "taskyard orphan check: cannot reach $url" >&2
    exit 2
  fi
  body=$(cat "$body_file")
  if [[ "$status" != 200 ]]; then
    echo "taskyard orphan check: $url answered HTTP $status" >&2
    [[ -n "$body" ]] && printf '%s\n' "$body" >&2
    exit 2
  fi

  # One line per orphaned task: reason <TAB> id <TAB> name <TAB> command
  if command -v jq >/dev/null 2>&1; then
    if ! n=$(jq -er '.count' <<<"$body"); then
      echo "taskyard orphan check: unexpected answer from $url: $body" >&2
      exit 2
    fi
    slice=$(jq -r '.orphaned_tasks[] | [.reason, .id, (.name // "-"), .command] | join("\t")' <<<"$body")
  else
    # Without jq: read each field's values in order (ids are ULIDs). Good enough for the server's compact JSON; a
    # param or env variable named "name", "reason" or "command" would confuse it, so prefer jq.
    n=$(grep -o '"count"[[:space:]]*:[[:space:]]*[0-9]*' <<<"$body" | tail -n 1 | grep -o '[0-9]*$' || true)
    if [[ -z "$n" ]]; then
      echo "taskyard orphan check: unexpected answer from $url: $body" >&2
      exit 2
    fi
    values() { # values KEY [VALUE_RE]: each string (or null) value of KEY, one a line, quotes and escapes removed
      grep -oE "\"$1\"[[:space:]]*:[[:space:]]*(null|\"${2:-([^\"\\\\]|\\\\.)*}\")" <<<"$body" |
        sed -E -e 's/^"[^"]*"[[:space:]]*:[[:space:]]*//' -e 's/^null$/-/' -e 's/^"(.*)"$/\1/' -e 's/\\(.)/\1/g' || true
    }
    slice=$(paste <(values reason) <(values id '[0-9A-HJKMNP-TV-Z]{26}') <(values name) <(values command))
  fi
  if [[ "$n" != 0 ]]; then
    count=$((count + n))
    rows+="${rows:+$'\n'}$slice"
  fi
  next=$(tr -d '\r' <"$headers_file" | sed -n -E 's/^[Ll]ink:[[:space:]]*<([^>]*)>;[[:space:]]*rel="next".*/\1/p')
  url="${next:+$base$next}"
done

if [[ "$count" == 0 ]]; then
  [[ "${VERBOSE:-0}" == 1 ]] && echo "no orphaned tasks at ${TASKYARD_URL:-http://127.0.0.1:8000}"
  exit 0
fi

echo "taskyard at ${TASKYARD_URL:-http://127.0.0.1:8000}: $count orphaned task(s)"
echo
{
  printf 'REASON\tTASK ID\tNAME\tCOMMAND\n'
  printf '%s\n' "$rows"
} | column -t -s $'\t' 2>/dev/null || printf '%s\n' "$rows"
cat <<'EOF'

never_run     enabled, and no job was ever started from it
not_runnable  enabled, but its program is not on the allow-list or not found on PATH
lost          its latest job was failed as "lost" (the runner died while it ran)
EOF
exit 1
