#!/usr/bin/env bash
# Rebuild schemas/ (the offline catalog scripts/k8s-check.sh validates against) from its
# sources. NOT needed to run the check: schemas/ is committed. Run it when a manifest starts
# using a new kind or when an operator is upgraded; see README.md here for provenance.
#
#   k8s/validation/vendor-schemas.sh CRD_SRC_DIR [KUBERNETES_VALIDATE_WHEEL]
#
# CRD_SRC_DIR: the CRD YAMLs laid out as in crd-sources.sha256 (<operator>-<tag>/<file>);
#   each is checked against that list (fetch them from the URLs in README.md).
# KUBERNETES_VALIDATE_WHEEL: kubernetes_validate-1.37.0-py3-none-any.whl; downloaded with pip
#   (PyPI) when omitted; its sha256 is checked.
# Needs python3 with PyYAML (the converter's only dependency).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
crd_src="$(cd "${1:?usage: vendor-schemas.sh CRD_SRC_DIR [WHEEL]}" && pwd)"
wheel="${2:-}"
K8S_VERSION=1.33.0
WHEEL_SHA256=85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
# Built-in kinds the manifests use (file names of kubernetes-validate: <kind>[-<group>]-<version>.json).
K8S_KINDS="configmap-v1 secret-v1 namespace-v1 service-v1 serviceaccount-v1 deployment-apps-v1 job-batch-v1
  cronjob-batch-v1 poddisruptionbudget-policy-v1 networkpolicy-networking-v1"
# CRD versions the manifests use (<group>/<kind>_<version>.json); other versions are not kept.
CRDS="kafka.strimzi.io/kafka_v1 kafka.strimzi.io/kafkanodepool_v1 kafka.strimzi.io/kafkatopic_v1
  kafka.strimzi.io/kafkauser_v1 keda.sh/scaledobject_v1alpha1 keda.sh/triggerauthentication_v1alpha1
  clickhouse.altinity.com/clickhouseinstallation_v1 clickhouse-keeper.altinity.com/clickhousekeeperinstallation_v1
  opentelemetry.io/opentelemetrycollector_v1beta1 monitoring.coreos.com/podmonitor_v1
  monitoring.coreos.com/prometheusrule_v1 monitoring.coreos.com/servicemonitor_v1"

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
(cd "$crd_src" && sha256sum --quiet -c "$here/crd-sources.sha256")
if [ -z "$wheel" ]; then
  "$PY" -m pip download -q --no-deps -d "$tmp" kubernetes-validate==1.37.0
  wheel="$(ls "$tmp"/kubernetes_validate-1.37.0-*.whl)"
fi
echo "$WHEEL_SHA256  $wheel" | sha256sum --quiet -c

# Kubernetes: drop "$id" and make the "/api/_definitions.json#..." refs relative, so
# kubeconform's file loader resolves them beside the kind file (as shipped, kubeconform fails
# to compile them and reports every resource as "could not find schema").
out="$here/schemas/kubernetes/v$K8S_VERSION-standalone-strict"
rm -rf "$here/schemas" && mkdir -p "$out"
"$PY" - "$wheel" "$out" "$K8S_VERSION" $K8S_KINDS <<'PYEOF'
import json, sys, zipfile
wheel, out, version, kinds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
def fix(node):
    if isinstance(node, dict):
        node.pop("$id", None)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("/api/_definitions.json#"):
            node["$ref"] = ref[len("/api/"):]
        for v in node.values():
            fix(v)
    elif isinstance(node, list):
        for v in node:
            fix(v)
with zipfile.ZipFile(wheel) as z:
    for name in ["_definitions", *kinds]:
        doc = json.loads(z.read(prefix + name + ".json"))
        fix(doc)
        with open(f"{out}/{name}.json", "w") as f:
            json.dump(doc, f, separators=(",", ":"))
PYEOF

# CRDs: kubeconform's own converter, additionalProperties:false wherever properties are listed
# (root included): kubeconform -strict semantics for custom resources.
for crd in $(cut -d' ' -f3 "$here/crd-sources.sha256"); do
  group="$("$PY" -c 'import sys,yaml; print(next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d)["spec"]["group"])' "$crd_src/$crd")"
  mkdir -p "$tmp/crds/$group"
  (cd "$tmp/crds/$group" && DENY_ROOT_ADDITIONAL_PROPERTIES=1 FILENAME_FORMAT='{kind}_{version}' \
     "$PY" "$here/tools/openapi2jsonschema.py" "$crd_src/$crd" >/dev/null)
done
for keep in $CRDS; do
  mkdir -p "$here/schemas/crds/$(dirname "$keep")"
  cp "$tmp/crds/$keep.json" "$here/schemas/crds/$keep.json"
done
(cd "$here/schemas" && find . -name '*.json' | sort | xargs sha256sum) > "$here/schemas.sha256"
echo "schemas/: $(find "$here/schemas" -name '*.json' | wc -l) files, $(du -sh "$here/schemas" | cut -f1)"
