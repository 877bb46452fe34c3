#!/usr/bin/env bash
# Checks the Prometheus rules, their unit tests, the scrape config and the
# PromQL of the Grafana dashboard (issue 8). Exits non-zero on any failure.
#
#   deploy/prometheus/check.sh            # from anywhere in the repository
#   PROMTOOL=/path/to/promtool deploy/prometheus/check.sh
#
# promtool comes from the Debian package `prometheus` (2.42 on Debian 12),
# installed here when missing (as root, or with passwordless sudo). The
# package ships a service; it is installed with service starts denied
# (policy-rc.d), any server the installation started anyway is stopped, and
# the service is disabled, so no Prometheus is left running.
# Every step is bounded by a timeout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

APT_TIMEOUT="${APT_TIMEOUT:-600}"
STEP_TIMEOUT="${STEP_TIMEOUT:-120}"

log() { printf 'check.sh: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        log "promtool is missing and installing it needs root: apt-get install -y prometheus"
        return 1
    fi
}

prometheus_pids() { pgrep -x prometheus 2>/dev/null | sort || true; }

install_promtool() {
    log "promtool not found; installing the Debian package prometheus"
    local created_policy=0 before after pid
    before="$(prometheus_pids)"
    # Deny service starts during the installation (honoured by invoke-rc.d
    # and deb-systemd-invoke) unless the system already has a policy.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        created_policy=1
    fi
    local rc=0
    as_root env DEBIAN_FRONTEND=noninteractive timeout "$APT_TIMEOUT" \
        apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef prometheus || rc=$?
    if [ "$rc" -ne 0 ]; then
        log "apt-get install failed ($rc); refreshing package lists once"
        as_root timeout "$APT_TIMEOUT" apt-get update -qq || true
        rc=0
        as_root env DEBIAN_FRONTEND=noninteractive timeout "$APT_TIMEOUT" \
            apt-get install -y --no-install-recommends prometheus || rc=$?
    fi
    if [ "$created_policy" -eq 1 ]; then
        as_root rm -f /usr/sbin/policy-rc.d
    fi
    # Stop any server this installation started (only new pids), and keep
    # the service from starting at boot.
    after="$(prometheus_pids)"
    for pid in $(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after")); do
        log "stopping the prometheus server (pid $pid) started by the package"
        as_root kill "$pid" || true
    done
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        as_root systemctl disable prometheus >/dev/null 2>&1 || true
    elif command -v update-rc.d >/dev/null && [ -e /etc/init.d/prometheus ]; then
        as_root update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
    return "$rc"
}

PROMTOOL="${PROMTOOL:-$(command -v promtool || true)}"
if [ -z "$PROMTOOL" ]; then
    install_promtool
    PROMTOOL="$(command -v promtool)"
fi
log "$("$PROMTOOL" --version 2>&1 | head -n1)"

pt() { timeout "$STEP_TIMEOUT" "$PROMTOOL" "$@"; }

started=$(date +%s)
fail=0
step() {
    log "$*"
    if ! "$@"; then
        log "FAILED: $*"
        fail=1
    fi
}

step pt check rules --lint-fatal deploy/prometheus/alerts.yml
step pt test rules deploy/prometheus/alerts_test.yml
step pt check config deploy/prometheus/prometheus.yml

# The dashboard: valid JSON, and every panel query parses as PromQL (the
# Grafana variables replaced by plausible values, each query checked as a
# recording rule).
dash=deploy/grafana/leadex.json
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if timeout "$STEP_TIMEOUT" python3 -m json.tool "$dash" >/dev/null; then
    log "dashboard $dash is valid JSON"
    if timeout "$STEP_TIMEOUT" python3 - "$dash" "$tmp/dashboard_rules.yml" <<'PY'
import json, sys

dash = json.load(open(sys.argv[1]))
subst = {
    "$__rate_interval": "5m", "${__rate_interval}": "5m",
    "$__interval": "1m", "$__range": "1h",
    "$vertical": ".*", "${vertical}": ".*",
    "$route": ".*", "${route}": ".*",
    "$kind": ".*", "${kind}": ".*",
    "$instance": ".*", "${instance}": ".*",
}

def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))

exprs = []
for p in panels(dash.get("panels", [])):
    for t in p.get("targets", []):
        e = t.get("expr")
        if e:
            for k in sorted(subst, key=len, reverse=True):
                e = e.replace(k, subst[k])
            exprs.append((p.get("title", "?"), e))
if not exprs:
    sys.exit("no panel queries found")
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (title, e) in enumerate(exprs):
        f.write(f"      - record: dashboard:q{i}\n        expr: {json.dumps(e)}\n")
print(f"{len(exprs)} panel queries", file=sys.stderr)
PY
    then
        step pt check rules "$tmp/dashboard_rules.yml"
    else
        log "FAILED: extracting the dashboard queries"
        fail=1
    fi
else
    log "FAILED: $dash is not valid JSON"
    fail=1
fi

log "done in $(( $(date +%s) - started )) s (excluding installation)"
if [ "$fail" -ne 0 ]; then
    log "FAILED"
    exit 1
fi
log "OK"
