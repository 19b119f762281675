#!/usr/bin/env bash
# Run independent CI steps side by side; print each one's output whole, in the order given, with its wall time.
# Fails, naming the failed steps, if any step fails. Usage: .ci/parallel.sh "COMMAND" "COMMAND" ...
set -uo pipefail
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
i=0
for command in "$@"; do
    (
        start=$SECONDS
        bash -c "$command" >"$logs/$i.log" 2>&1
        status=$?
        echo "$status $((SECONDS - start))" >"$logs/$i.status"
        exit "$status"
    ) &
    pids+=($!)
    i=$((i + 1))
done
failed=()
i=0
for command in "$@"; do
    wait "${pids[$i]}"
    read -r status seconds <"$logs/$i.status"
    echo "=== $command (exit $status, ${seconds}s)"
    cat "$logs/$i.log"
    [ "$status" -eq 0 ] || failed+=("$command")
    i=$((i + 1))
done
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}" >&2
    exit 1
fi
