#!/usr/bin/env bash
# The README's curl walk-through, runnable against a running server:
#
#   cargo run --release -- serve          # in another terminal
#   examples/walkthrough.sh               # BASE=http://127.0.0.1:8000 by default
#
# Creates a task `echo hello {who}`, executes it with a parameter, follows the job's SSE stream until the
# server closes it, reads the job and its stored output, and lists orphaned tasks.
# Needs curl; uses jq when present, sed/grep otherwise. Sends X-API-Key when TASKYARD_API_KEY is set.
# The task name gets a suffix so the script can run again on the same database (names are unique).
set -euo pipefail

BASE="${BASE:-http://127.0.0.1:8000}"
NAME="${NAME:-hello-$(date +%s)}"

auth=()
if [[ -n "${TASKYARD_API_KEY:-}" ]]; then
  auth=(-H "X-API-Key: ${TASKYARD_API_KEY}")
fi

step() { printf '\n== %s\n' "$*"; }

# show ARGS...: prints a command the way you would type it.
show() {
  local arg line='$'
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=@%+-]+$ ]]; then
      line+=" $arg"
    else
      line+=" '${arg//\'/\'\\\'\'}'"
    fi
  done
  printf '%s\n' "$line"
}

# field JSON KEY: the value of a top-level string or number field.
field() {
  if command -v jq >/dev/null 2>&1; then
    jq -r --arg k "$2" '.[$k] // empty' <<<"$1"
  else
    grep -o "\"$2\"[[:space:]]*:[[:space:]]*\(\"[^\"]*\"\|[-0-9.a-z]*\)" <<<"$1" | head -n 1 |
      sed -e 's/^"[^"]*"[[:space:]]*:[[:space:]]*//' -e 's/^"//' -e 's/"$//'
  fi
}

# pretty JSON: indent with jq when present.
pretty() {
  if command -v jq >/dev/null 2>&1; then jq . <<<"$1"; else printf '%s\n' "$1"; fi
}

# call EXPECTED_STATUS CURL_ARGS...: runs curl, prints the body, fails on any other status.
call() {
  local want=$1 out status body
  shift
  show curl "$@"
  out=$(curl -sS "${auth[@]}" -w '\n%{http_code}' "$@") || {
    echo "cannot reach $BASE: is the server running? (cargo run --release -- serve)" >&2
    exit 1
  }
  status=${out##*$'\n'}
  body=${out%$'\n'*}
  pretty "$body"
  if [[ "$status" != "$want" ]]; then
    echo "expected HTTP $want, got $status" >&2
    exit 1
  fi
  REPLY_BODY=$body
}

step "0. is the server up?"
call 200 "$BASE/health"

step "1. create a task: \`echo hello {who}\`, with a default value for {who}"
call 201 -X POST "$BASE/api/v1/tasks" \
  -H 'Content-Type: application/json' \
  -d "{\"name\": \"$NAME\", \"command\": \"echo hello {who}\", \"params\": {\"who\": \"world\"}}"
TASK_ID=$(field "$REPLY_BODY" id)

step "2. execute it; params given here override the task's"
call 202 -X POST "$BASE/api/v1/tasks/$TASK_ID/\$execute" \
  -H 'Content-Type: application/json' \
  -d '{"params": {"who": "taskyard"}}'
JOB_ID=$(field "$REPLY_BODY" job_id)

step "3. follow the job's event stream; the server ends it after the final job record"
show curl -N "$BASE/api/v1/jobs/$JOB_ID/\$stream"
curl -sS -N --max-time 60 "${auth[@]}" "$BASE/api/v1/jobs/$JOB_ID/\$stream"

step "4. read the job"
call 200 "$BASE/api/v1/jobs/$JOB_ID"
STATUS=$(field "$REPLY_BODY" status)

step "5. read its stored output"
call 200 "$BASE/api/v1/jobs/$JOB_ID/output"

step "6. list orphaned tasks"
call 200 "$BASE/api/v1/tasks/\$orphaned"

printf '\ntask %s ran as job %s: %s\n' "$TASK_ID" "$JOB_ID" "$STATUS"
[[ "$STATUS" == completed ]]
