# syntax=docker/dockerfile:1
#
# One image for every ipss process (registry, complaints, inspections gRPC
# services, the Temporal worker and the `ipss` CLI used for migrations).
# Kubernetes picks the process with `command:`; see deploy/k8s/.
#
#   docker build -t ipss:latest .
#
# Everything (dependencies, generated protobuf code) is fetched/built here, at
# build time; the running container never downloads anything.

############################ build stage ######################################
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# `make` drives the install; a compiler is only needed if some pinned
# dependency has no wheel for this platform. Neither ends up in the final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . .

# Creates /app/.venv, installs the pinned dependencies from pyproject.toml and
# generates the protobuf/gRPC code.
RUN make install

# Pre-compile the sources: the root filesystem is read-only at run time, so
# Python could not write __pycache__ there.
RUN .venv/bin/python -m compileall -q -x '/\.venv/' /app

############################ runtime stage ####################################
FROM python:3.11-slim

# Fixed numeric UID/GID so Kubernetes can verify runAsNonRoot.
RUN groupadd --system --gid 10001 ipss \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /tmp --shell /usr/sbin/nologin ipss

ENV PATH=/app/.venv/bin:$PATH \
    VIRTUAL_ENV=/app/.venv \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /app
# Files stay owned by root: the application user can read but not modify them.
# The venv must live at the same path (/app/.venv) as in the build stage.
COPY --from=build /app /app

USER 10001:10001

EXPOSE 50051 50052 50053 8080

# Default process; each Kubernetes Deployment overrides it.
CMD ["python", "-m", "services.registry"]
