# syntax=docker/dockerfile:1
# One image for all three services; the command picks one:
#   python -m services.ingest | services.dispatcher | services.verifier | shared.migrate
# Build: docker build -t hookline:dev .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: resolve and install Hookline and its dependencies into a venv -------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/hookline
WORKDIR /src
# Dependencies first, so a code-only change reuses this layer.
COPY pyproject.toml ./
RUN mkdir -p shared services \
    && touch shared/__init__.py services/__init__.py \
    && /opt/hookline/bin/pip install . \
    && /opt/hookline/bin/pip uninstall --yes hookline
COPY shared ./shared
COPY services ./services
# Not editable: the runtime image carries no source tree, only site-packages.
RUN /opt/hookline/bin/pip install --no-deps . \
    && /opt/hookline/bin/python -m compileall -q /opt/hookline/lib

# --- runtime: the venv, a non-root user, nothing else -------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG HOOKLINE_UID=10001
RUN groupadd --system --gid ${HOOKLINE_UID} hookline \
    && useradd --system --uid ${HOOKLINE_UID} --gid hookline --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin hookline
COPY --from=build /opt/hookline /opt/hookline
ENV PATH=/opt/hookline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOOKLINE_ENV=prod \
    HOOKLINE_LOG_FORMAT=json
# The root filesystem can be read-only: bytecode is compiled above, and anything that
# needs scratch space (Prometheus multiprocess files) gets /tmp from an emptyDir.
WORKDIR /tmp
# Numeric, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER ${HOOKLINE_UID}:${HOOKLINE_UID}
EXPOSE 8000 8001 8002
CMD ["python", "-m", "services.ingest"]
