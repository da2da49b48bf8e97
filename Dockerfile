# syntax=docker/dockerfile:1
# newswatch: slim, multi-stage, non-root; dependencies from the lock file.
#   docker build -t newswatch .
#   docker run -p 4200:4200 -v newswatch-data:/data newswatch   # newswatch serve (scheduled runs, Prefect UI)
#   docker run -v newswatch-data:/data newswatch newswatch demo  # the demo
#   docker run --stop-timeout 330 -e PREFECT_API_URL=… -e NEWSWATCH_DB=ducklake:… newswatch \
#       newswatch worker --pool newswatch        # a fleet's worker (docs/scaleout.md); it drains
#                                                # on `docker stop` (up to --grace-seconds 300),
#                                                # /health on port 8080
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
# dependencies first (cached layer), then the project itself
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
COPY flows ./flows
COPY config ./config
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 newswatch && mkdir -p /data && chown newswatch /data
COPY --from=build --chown=newswatch /app/.venv /app/.venv
COPY --from=build --chown=newswatch /app/config /app/config
ENV PATH="/app/.venv/bin:$PATH" \
    NEWSWATCH_CONFIG=/app/config \
    NEWSWATCH_DB=/data/newswatch.duckdb \
    PREFECT_HOME=/data/prefect \
    DO_NOT_TRACK=1 \
    NEWSWATCH_SERVE_PORT=4200 \
    # the container's own Prefect server must listen beyond its loopback for -p 4200:4200
    NEWSWATCH_SERVE_HOST=0.0.0.0
USER newswatch
WORKDIR /data
VOLUME ["/data"]
EXPOSE 4200 8080
STOPSIGNAL SIGTERM
CMD ["newswatch", "serve"]
