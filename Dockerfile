# syntax=docker/dockerfile:1
# The redisbackup operator image: `docker build -t redisbackup .` from the repository root.
#
# - builder: builds the wheel of this package and of every dependency (compilers live only here), then installs
#   them into a virtual environment under /opt/redisbackup;
# - final: the same Python base, that environment, redis-tools and valkey-tools (`redis-check-rdb` and
#   `valkey-check-rdb`, whose server binaries also load an RDB into the throwaway server of `spec.verify`), and tini
#   as PID 1 (it reaps those servers and forwards signals). No compiler, no pip cache, no source tree.
#
# The base is Debian trixie's: its redis-tools 8.0 reads RDB versions up to 12 (Redis 8) and valkey-tools 8.1 those
# of Valkey 8, so snapshots of every version users run can be verified (bookworm's redis-tools 7.0 stops at RDB 10).
#
# It runs as the numeric user 65532 (Kubernetes can check runAsNonRoot only for a numeric USER) and writes only to
# /tmp, so it works with readOnlyRootFilesystem and an emptyDir on /tmp, as the Helm chart runs it.
# Pin the base by digest in your own builds for reproducibility: --build-arg PYTHON_IMAGE=python:3.13.5-slim-trixie@sha256:…

ARG PYTHON_IMAGE=python:3.13.5-slim-trixie

FROM ${PYTHON_IMAGE} AS builder
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN python -m pip wheel --wheel-dir /wheels . \
 && python -m venv /opt/redisbackup \
 && /opt/redisbackup/bin/pip install --no-index --find-links /wheels redisbackup \
 && /opt/redisbackup/bin/redisbackup --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="redisbackup" \
      org.opencontainers.image.description="Kubernetes operator for ElastiCache-style manual backups of Redis" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/redisbackup/redisbackup"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-tools valkey-tools tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 redisbackup \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin redisbackup
COPY --from=builder /opt/redisbackup /opt/redisbackup
# Bytecode was compiled at install time; nothing is written next to the code at run time (read-only root).
ENV PATH=/opt/redisbackup/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp
USER 65532:65532
WORKDIR /tmp
# 9443 admission webhook (HTTPS), 8080 Prometheus metrics, 8081 liveness (/healthz).
EXPOSE 9443 8080 8081
# tini is PID 1: the operator's throwaway verification servers are reaped when they exit, and SIGTERM reaches the
# operator, which cancels its snapshots and aborts their uploads before the grace period ends.
ENTRYPOINT ["tini", "--", "redisbackup"]
CMD ["operator"]
