# Shared by .ci/run and .ci/comfyui (sourced): stage timing and the closing table.
# Each stage appends "seconds<TAB>status<TAB>name<TAB>result" to $SHOTCROP_CI_TIMES; whichever
# script set that variable (the outermost) prints the table when it exits, whatever the exit status.

if [ -z "${SHOTCROP_CI_TIMES:-}" ]; then
    SHOTCROP_CI_TIMES="${TMPDIR:-/tmp}/ci-stage-times.$$"  # written at the first stage's end
    rm -f "$SHOTCROP_CI_TIMES"
    export SHOTCROP_CI_TIMES
    _ci_owns_times=1
    _ci_t0=$SECONDS
else
    _ci_owns_times=0
fi
_ci_stage=""
_ci_stage_t0=0

# stage NAME: ends the running stage (as passed) and starts NAME.
stage() {
    stage_end pass ""
    _ci_stage=$1
    _ci_stage_t0=$SECONDS
    printf '\n==== %s ====\n' "$1"
}

# stage_end STATUS RESULT: records the running stage (if any) with its result line.
stage_end() {
    if [ -n "$_ci_stage" ]; then
        printf '%s\t%s\t%s\t%s\n' "$((SECONDS - _ci_stage_t0))" "$1" "$_ci_stage" "$2" \
            >>"$SHOTCROP_CI_TIMES"
        _ci_stage=""
    fi
}

# The last pytest summary line of a log ("12 passed, 1 skipped in 3.02s").
pytest_result() {
    local counts='[0-9]+ (passed|failed|skipped|errors?|deselected|xfailed|xpassed)'
    grep -E "^=* *($counts|no tests ran)" "$1" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true
}

# _ci_report [RC]: the EXIT trap's body (RC defaults to the exit status it was called with).
_ci_report() {
    local rc=${1:-$?}
    stage_end "$([ "$rc" = 0 ] && echo pass || echo "FAIL (exit $rc)")" ""
    if [ "$_ci_owns_times" = 1 ]; then
        printf '\n==== CI stages (seconds, status, stage, tests) ====\n'
        while IFS=$'\t' read -r secs status name result; do
            printf '%6s s  %-14s %-56s %s\n' "$secs" "$status" "$name" "$result"
        done < <(cat "$SHOTCROP_CI_TIMES" 2>/dev/null)
        printf '%6s s  total, exit %s\n' "$((SECONDS - _ci_t0))" "$rc"
        rm -f "$SHOTCROP_CI_TIMES"
    fi
    return "$rc"
}
