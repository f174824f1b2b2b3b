#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests (`make k8s-check`; also run by `make test`
# through tests/unit/test_k8s_check.py).
#
#   scripts/k8s-check.sh [K8S_DIR]        default K8S_DIR: k8s/ of this repository
#
# 1. renders K8S_DIR/base and every K8S_DIR/overlays/*/ with kustomize
#    (`kubectl kustomize` if kubectl is on PATH, else kustomize v5.8.2 built into var/);
# 2. validates every rendered resource with `kubeconform -strict` against the Kubernetes
#    1.33 schemas and the operators' CRD schemas vendored in k8s/validation/schemas
#    (Strimzi 1.2.0, KEDA 2.20.2, Altinity 0.25.6, OpenTelemetry operator 0.158.0,
#    Prometheus operator 0.93.0); a resource with no schema FAILS (no -ignore-missing-schemas);
# 3. evaluates every pod template against Pod Security Standards "restricted" (v1.33) with
#    k8s/validation/pss-check (the upstream k8s.io/pod-security-admission library).
# No network at check time. Tools are built once from the Go module proxy into
# var/k8s-tools/bin (override the directory with ZL_K8S_TOOLS).
# Output: var/k8s-check/ (rendered YAML per target, all.json for tests). Exit 0 only if all pass.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
k8s="$(cd "${1:-$repo/k8s}" && pwd)"
schemas="$repo/k8s/validation/schemas"
tools="${ZL_K8S_TOOLS:-$repo/var/k8s-tools/bin}"
out="${ZL_K8S_CHECK_OUT:-$repo/var/k8s-check}"
k8s_version=1.33.0
KUBECONFORM_VERSION=v0.7.0
KUSTOMIZE_VERSION=v5.8.2 # v5.8.3 (@latest) needs Go >= 1.27
mkdir -p "$tools"

need_go() {
  command -v go >/dev/null || { echo "k8s-check: $1 is not built and Go is not installed (https://go.dev/dl/): needed once to build it" >&2; exit 3; }
}

# kubeconform, pinned; rebuilt if the cached binary is another version (`go install`
# leaves the binary's own -v at "development", so the version is kept beside it).
kubeconform="$tools/kubeconform"
if ! { [ -x "$kubeconform" ] && [ "$(cat "$kubeconform.version" 2>/dev/null)" = "$KUBECONFORM_VERSION" ]; }; then
  need_go kubeconform
  echo "k8s-check: building kubeconform $KUBECONFORM_VERSION into $tools (once)"
  GOBIN="$tools" GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  echo "$KUBECONFORM_VERSION" > "$kubeconform.version"
fi

# pss-check, rebuilt when its source changes.
pss="$tools/pss-check"
pss_src="$repo/k8s/validation/pss-check"
pss_sum="$(cat "$pss_src/go.mod" "$pss_src/go.sum" "$pss_src/main.go" | sha256sum | cut -c1-16)"
if ! { [ -x "$pss" ] && [ "$(cat "$pss.sum" 2>/dev/null)" = "$pss_sum" ]; }; then
  need_go pss-check
  echo "k8s-check: building pss-check into $tools (once)"
  (cd "$pss_src" && go build -o "$pss" .)
  echo "$pss_sum" > "$pss.sum"
fi

# kustomize: kubectl's embedded one, else the standalone one, built once.
if command -v kubectl >/dev/null; then
  render() { kubectl kustomize "$1"; }
else
  if [ ! -x "$tools/kustomize" ]; then
    need_go kustomize
    echo "k8s-check: building kustomize $KUSTOMIZE_VERSION into $tools (once)"
    GOBIN="$tools" GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  fi
  render() { "$tools/kustomize" build "$1"; }
fi

rm -rf "$out" && mkdir -p "$out/rendered"
targets=0
for dir in "$k8s/base" "$k8s"/overlays/*/; do
  dir="${dir%/}"
  [ -f "$dir/kustomization.yaml" ] || continue
  name="$(basename "$dir")"; [ "$name" = base ] || name="overlay-$name"
  render "$dir" > "$out/rendered/$name.yaml"
  echo "rendered ${dir#"$k8s"/} -> $(grep -c '^kind:' "$out/rendered/$name.yaml") resources"
  targets=$((targets + 1))
done
[ "$targets" -gt 0 ] || { echo "k8s-check: no kustomization under $k8s" >&2; exit 2; }

rc=0
echo "== kubeconform -strict, Kubernetes $k8s_version, CRDs from k8s/validation/schemas/crds"
"$kubeconform" -strict -summary -output text -n 4 -kubernetes-version "$k8s_version" \
  -schema-location "$schemas/kubernetes/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  -schema-location "$schemas/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
  "$out/rendered" || rc=1

echo "== Pod Security Standards: restricted (v${k8s_version%.*})"
"$pss" -level restricted -version "v${k8s_version%.*}" -json "$out/all.json" "$out"/rendered/*.yaml || rc=1

if [ "$rc" = 0 ]; then echo "k8s-check: OK ($targets targets)"; else echo "k8s-check: FAILED" >&2; fi
exit "$rc"
