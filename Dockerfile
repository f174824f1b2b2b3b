# syntax=docker/dockerfile:1.7
# Zettaledger image: the `zl` CLI (worker, migrate, rollups check, dead-letters, ...) for
# Kubernetes (k8s/). Installs the wheel WITHOUT the `embedded` extra: no chDB engine, which
# Kubernetes never uses (the workers are many pods; ClickHouse is a server). Runs as UID/GID
# 10001 with a read-only root filesystem: HOME and ZL_VAR_DIR point under /tmp, the one
# writable mount (an emptyDir in k8s/base). What this image contains is proven without a
# registry by tests/integration/test_wheel.py (same wheel, same constraints, fresh venv).
#
# Build:  docker build -t registry.example.org/zettaledger:0.1.0 .
#
# The base is pinned by digest (the multi-arch index of python:3.11-slim), so a rebuild is
# reproducible and a tag move cannot change it silently. Refresh it (monthly, or for a CVE):
#   crane digest python:3.11-slim
#   # or: docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
#   # or: skopeo inspect --format '{{.Digest}}' docker://python:3.11-slim
# then replace the sha256 below, rebuild, and run `make test`.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# ---- build: the wheel, then a virtualenv with it and its locked dependencies ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md requirements-lock.txt ./
COPY zettaledger/ zettaledger/
COPY schemas/ schemas/
COPY streams/ streams/
COPY sinks/ sinks/
COPY producers/ producers/
# --only-binary: every dependency must come as a wheel (no compiler in this stage, and a
# source build would make the image depend on whatever toolchain happened to be here).
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/zettaledger \
 && /opt/zettaledger/bin/pip install --only-binary=:all: -c requirements-lock.txt /wheels/zettaledger-*.whl \
 && /opt/zettaledger/bin/pip uninstall -y pip \
 && /opt/zettaledger/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('chdb') is not None)" \
 && /opt/zettaledger/bin/zl --help >/dev/null

# ---- runtime: the virtualenv only, non-root ---------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="zettaledger" \
      org.opencontainers.image.description="Kafka -> Faust -> ClickHouse data-accounting stream processor (zl CLI)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 zettaledger \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin zettaledger
COPY --from=build /opt/zettaledger /opt/zettaledger
# Bytecode was compiled at install time; never write .pyc on a read-only root.
ENV PATH=/opt/zettaledger/bin:$PATH \
    HOME=/tmp \
    ZL_VAR_DIR=/tmp/zettaledger \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /tmp
EXPOSE 6066
ENTRYPOINT ["zl"]
CMD ["--help"]
