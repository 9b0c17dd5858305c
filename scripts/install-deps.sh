#!/usr/bin/env bash
# Installs the Debian packages Ledgersync needs, only those missing:
# the PostgreSQL server and client library, libcurl and OpenSSL headers, python3, and the
# curl and openssl commands the docs' examples use.
# With --browser, also Debian's Chromium, for the dashboard's browser check
# (scripts/dashboard-check.py, run by a full scripts/test.sh).
# With --bench, also gnuplot (no X), which draws `ledgersync bench monthend`'s PNG
# (scripts/bench.sh); no test needs it.
set -euo pipefail
packages=(postgresql libpq-dev libcurl4-openssl-dev libssl-dev)
# Test time: curl and openssl, which docs/api.md's and docs/linking.md's examples use as a
# reader would (scripts/docs-check.py runs them).
packages+=(curl openssl)
# Test time: PyJWT and cryptography, which check the Swift JWT assertions from outside Swift
# (Tests/NetSuiteTests/Fixtures/jwt, issue 13).
packages+=(python3-jwt python3-cryptography)
for arg in "$@"; do
    case "$arg" in
    --browser) packages+=(chromium) ;;
    --bench) packages+=(gnuplot-nox) ;;
    esac
done
need=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
# scripts/embed-sql.py and scripts/pg.sh need a python3, from Debian or elsewhere.
command -v python3 >/dev/null 2>&1 || need+=(python3)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing: ${need[*]}" >&2
SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's package starts a cluster of its own; ours are private, so leave it stopped.
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | while read -r version name _; do
        "${SUDO[@]}" pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
    done
fi
