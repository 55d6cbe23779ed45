#!/usr/bin/env bash
# Make sure the Chromium the dashboard's browser tests drive is installed.
#
# The tests launch Debian's /usr/bin/chromium through Playwright (`playwright install`
# downloads its own browser build, which this project does not rely on).
#   present            -> print its version and exit at once
#   missing, Debian    -> as root: apt-get install chromium (apt-get update first if needed)
#   missing, elsewhere -> say what to install and exit non-zero
# HOOKLINE_CHROMIUM overrides the path (the tests read the same variable).
set -euo pipefail

CHROMIUM=${HOOKLINE_CHROMIUM:-/usr/bin/chromium}

say() { printf '%-10s %s\n' chromium "$1"; }

if [[ -x $CHROMIUM ]]; then
	say "$CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n1 || echo 'version unknown'))"
	exit 0
fi

if [[ $CHROMIUM != /usr/bin/chromium ]]; then
	say "HOOKLINE_CHROMIUM=$CHROMIUM is not an executable file" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	say "missing: install Chromium (Debian/Ubuntu package 'chromium') or set HOOKLINE_CHROMIUM" >&2
	exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
	say "missing: run 'sudo apt-get install chromium' (or set HOOKLINE_CHROMIUM)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh them only when the first try fails.
if ! apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; then
	say "installing: refreshing package lists"
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends chromium >/dev/null
fi

if [[ ! -x $CHROMIUM ]]; then
	say "apt-get installed 'chromium' but $CHROMIUM is still missing" >&2
	exit 1
fi
say "installed $("$CHROMIUM" --version 2>/dev/null | head -n1)"
