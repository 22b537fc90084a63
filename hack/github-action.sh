#!/usr/bin/env bash
# The pin step of the tagpin GitHub Action (action.yml at the repository
# root): runs tagpin pin in check or update mode, writes the job summary
# and annotations, and sets the step's outputs. Its environment:
#   TAGPIN          the tagpin binary
#   TAGPIN_MODE     check or update
#   TAGPIN_PATHS    paths, separated by spaces or new lines
#   TAGPIN_ARGS     more arguments of tagpin pin, separated by spaces
#   TAGPIN_EXCLUDE  --exclude patterns, one per line
#   TAGPIN_REPORT   where the JSON report is written
# and GitHub's GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files.
set -euo pipefail

mode=${TAGPIN_MODE:-check}
case $mode in
check) mode_args=(--check) ;;
update) mode_args=(--update) ;;
*)
	echo "::error title=tagpin::mode must be check or update, not \"$mode\""
	exit 1
	;;
esac
read -r -d '' -a paths <<<"${TAGPIN_PATHS:-.}" || true
[ ${#paths[@]} -gt 0 ] || paths=(.)
read -r -d '' -a extra <<<"${TAGPIN_ARGS:-}" || true
while IFS= read -r pattern; do
	[ -z "$pattern" ] || extra+=(--exclude "$pattern")
done <<<"${TAGPIN_EXCLUDE:-}"
report=${TAGPIN_REPORT:?TAGPIN_REPORT is not set}
mkdir -p "$(dirname "$report")"

# Exit status: 0 all well, 1 something failed, 2 --check found drift.
status=0
"$TAGPIN" pin "${mode_args[@]}" -o json "${extra[@]}" -- "${paths[@]}" >"$report" || status=$?
if ! [ -s "$report" ] || ! jq -e '.items' "$report" >/dev/null 2>&1; then
	# No report: bad arguments or a crash; tagpin's stderr says why.
	echo "::error title=tagpin::tagpin pin exited with status $status and no report"
	exit "$status"
fi

count() { jq "[.items[] | select(.action == \"$1\")] | length" "$report"; }
stale=$(count stale)
unpinned=$(count unpinned)
if [ "$mode" = update ]; then
	stale=$(count refreshed)
	unpinned=$(count pinned)
fi
failed=$(count failed)
changed=false
if [ "$mode" = update ] && [ $((stale + unpinned)) -gt 0 ]; then
	changed=true
fi
{
	echo "changed=$changed"
	echo "stale-count=$stale"
	echo "unpinned-count=$unpinned"
	echo "failed-count=$failed"
	echo "report=$report"
} >>"${GITHUB_OUTPUT:-/dev/null}"

# Annotations on the lines of the files (check mode: what to fix). Their
# paths are relative to the workspace, tagpin's to the working directory.
prefix=
if [ -n "${GITHUB_WORKSPACE:-}" ]; then
	prefix=$(realpath --relative-to="$GITHUB_WORKSPACE" .)/
	[ "$prefix" != ./ ] || prefix=
fi
jq -r --arg prefix "$prefix" '.items[]
	| select(.action == "stale" or .action == "unpinned" or .action == "failed")
	| (if .action == "failed" then "error" else "warning" end) as $level
	| "::\($level) file=\($prefix)\(.file)\(if .line then ",line=\(.line)" else "" end),title=tagpin \(.action)::\(.ref // .file): \(.message // .action)"' "$report"

# The job summary: one row per reference that changed or should change.
{
	echo "### tagpin ($mode)"
	echo
	jq -r '"\(.files) files: \(.pinned) pinned, \(.refreshed) refreshed, \(.alreadyPinned) up to date, \(.stale) stale, \(.skipped) skipped, \(.failed) failed"' "$report"
	rows=$(jq -r '.items[]
		| select(.action == "pinned" or .action == "refreshed" or .action == "stale" or .action == "unpinned")
		| (.ref | split("@")) as $parts
		| "| `\(.file)\(if .line then ":\(.line)" else "" end)` | `\($parts[0])` | \(if ($parts | length) > 1 then "`\($parts[1])`" else "none" end) | \(if .digest then "`\(.digest)`" else "not resolved" end) | \(.action) |"' "$report")
	if [ -n "$rows" ]; then
		echo
		echo "| File | Reference | Old digest | New digest | |"
		echo "|---|---|---|---|---|"
		echo "$rows"
	fi
	fails=$(jq -r '.items[] | select(.action == "failed") | "- `\(.file)\(if .line then ":\(.line)" else "" end)` \(.ref // ""): \(.message // "")"' "$report")
	if [ -n "$fails" ]; then
		echo
		echo "Failed:"
		echo "$fails"
	fi
} >>"${GITHUB_STEP_SUMMARY:-/dev/null}"

case $status in
0) ;;
2) echo "::error title=tagpin::$unpinned unpinned and $stale stale image references; run tagpin pin --update (or this action with mode: update)" ;;
*) echo "::error title=tagpin::tagpin pin failed for $failed references or files; see the summary" ;;
esac
exit "$status"
