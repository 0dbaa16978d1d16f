# Doable as a container: Hugging Face Docker Spaces, docker compose, or any container host.
FROM python:3.11-slim

# uv comes from PyPI through pip; nothing is fetched with curl.
RUN pip install --no-cache-dir uv

# Use the image's Python, install into /app/.venv, copy files instead of hard-linking from the cache.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project --no-cache

COPY README.md ./
COPY src/ ./src/
RUN uv sync --frozen --no-dev --no-editable --no-cache

# Hugging Face Spaces run containers as uid 1000. /data is deliberately not created here: when no
# persistent storage is mounted there, Doable falls back to DOABLE_DATA_DIR_FALLBACK and says so.
RUN useradd -m -u 1000 user
USER user

ENV HOME=/home/user \
    PATH=/app/.venv/bin:$PATH \
    DOABLE_DATA_DIR=/data \
    DOABLE_DATA_DIR_FALLBACK=/home/user/data \
    PORT=7860 \
    HOST=0.0.0.0 \
    FORWARDED_ALLOW_IPS="*" \
    PYTHONUNBUFFERED=1

# FORWARDED_ALLOW_IPS="*": a Space is only reachable through its proxy, whose address is not
# known, so any peer counts as that proxy, for one hop: the client is the rightmost
# X-Forwarded-For entry, the one the proxy appended; what the client sent itself is ignored.
# Without a proxy in front (compose publishes the port), override it: compose.yaml sets "".
WORKDIR /home/user

EXPOSE 7860

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PORT:-7860}/healthz', timeout=4)" || exit 1

CMD ["sh", "-c", "exec doable serve --host 0.0.0.0 --port ${PORT:-7860}"]
