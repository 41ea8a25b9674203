#!/usr/bin/env bash
# The whole model lifecycle against a local registry:2 (started here on a free port, stopped by its PID):
# keys → pack → push → sign → attest evaluation → two approvals → staging → production → a newer version
# through the same gates → rollback → history (and "what was in production at T?") → resolve.
#
#   examples/lifecycle.sh            # needs docker-registry (Debian: apt-get install docker-registry)
#   MODELCRATE=modelcrate examples/lifecycle.sh
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
MODELCRATE="${MODELCRATE:-$HERE/../.venv/bin/modelcrate}"
REGISTRY_BIN="${REGISTRY_BIN:-$(command -v docker-registry || command -v registry || true)}"
[ -n "$REGISTRY_BIN" ] || { echo "lifecycle.sh: docker-registry not found" >&2; exit 1; }

WORK="$(mktemp -d)"
REG_PID=""
cleanup() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat > "$WORK/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT}
YAML
"$REGISTRY_BIN" serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v2/" > /dev/null && break; sleep 0.1; done

export MODELCRATE_HOME="$WORK/store" MODELCRATE_KEY_PASSWORD="demo-only-password" DOCKER_CONFIG="$WORK/docker"
REPO="127.0.0.1:$PORT/team/tiny-classifier"
mc() { echo "+ modelcrate $*" >&2; "$MODELCRATE" "$@"; }

mkdir -p "$WORK/keys"
for who in release alice bob carol; do mc keygen --output-key-prefix "$WORK/keys/$who"; done
cp "$HERE/policy.yaml" "$WORK/policy.yaml"
POLICY="$WORK/policy.yaml"

version() {  # version VERSION ACCURACY: pack, push, sign, attest, two approvals
  local v="$1" acc="$2" dir="$WORK/model-$1"
  cp -r "$HERE/tiny-classifier" "$dir"
  sed -i -e "s/^version: .*/version: $v/" -e "s/name: accuracy, value: [0-9.]*/name: accuracy, value: $acc/" \
    "$dir/modelcrate.yaml"
  mc pack "$dir" -t "$REPO:$v"
  mc push "$REPO:$v"
  mc sign "$REPO:$v" --key "$WORK/keys/release.key"
  mc attest "$REPO:$v" --type evaluation --key "$WORK/keys/release.key"
  mc approve "$REPO:$v" --stage production --key "$WORK/keys/bob.key" --comment "reviewed"
  mc approve "$REPO:$v" --stage production --key "$WORK/keys/carol.key" --comment "risk sign-off"
}

version 1.0.0 0.95
mc policy check "$REPO:1.0.0" --stage production --policy "$POLICY" || true   # not in staging yet: refused
mc promote "$REPO:1.0.0" --to staging --key "$WORK/keys/carol.key" --policy "$POLICY" --reason "nightly eval passed"
mc promote "$REPO:1.0.0" --to production --key "$WORK/keys/alice.key" --policy "$POLICY" --reason "CAB-101"
BEFORE_V2="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
sleep 1

version 1.1.0 0.96
mc promote "$REPO:1.1.0" --to staging --key "$WORK/keys/carol.key" --policy "$POLICY"
mc promote "$REPO:1.1.0" --to production --key "$WORK/keys/alice.key" --policy "$POLICY" --reason "CAB-102"
mc rollback "$REPO" --stage production --key "$WORK/keys/bob.key" --policy "$POLICY" --reason "p95 latency regression"

mc history "$REPO" --policy "$POLICY"
mc history "$REPO" --stage production --at "$BEFORE_V2" --policy "$POLICY"
mc status "$REPO" --policy "$POLICY"
PINNED="$(mc resolve "$REPO:production" --policy "$POLICY")"
echo "production is $PINNED"
[ "$PINNED" = "$(mc resolve "$REPO:1.0.0")" ] || { echo "lifecycle.sh: rollback did not restore 1.0.0" >&2; exit 1; }
echo "lifecycle OK"
