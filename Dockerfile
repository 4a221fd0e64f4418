# paperbot: `docker build -t paperbot .` then see compose.yaml (or README "Deploy").
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PAPERBOT_DATA_DIR=/data

WORKDIR /src
# every wheel paperbot needs (pypdfium2, lxml, …) is a manylinux wheel: no compiler in the image
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY config ./config
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin paperbot \
    && mkdir -p /data \
    && chown paperbot:paperbot /data

# the store (paperbot.db), PDFs and figure PNGs: keep this volume, back it up with `paperbot backup`
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001

# The figure server and its helper each cap their own address space at FIGURE_MEMORY_MB (1536 by
# default); give the container at least 2 x FIGURE_MEMORY_MB + 512 MB (compose.yaml sets 4 GiB),
# so a hostile PDF hits its worker's cap, never the container's OOM killer.
ENV FIGURE_MEMORY_MB=1536

# unhealthy when a platform has been down for PAPERBOT_HEALTH_DOWN_MINUTES, the bot stopped
# reporting, or the last harvest failed
HEALTHCHECK --interval=60s --timeout=30s --start-period=120s --retries=3 \
    CMD ["paperbot", "status", "--json"]

ENTRYPOINT ["paperbot"]
CMD ["run"]
