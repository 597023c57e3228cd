# One image for every Event Triggers process: `event-triggers api` (default), `worker`, `setup`, `clients`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    EVENT_TRIGGERS_DATA_DIR=/var/lib/event-triggers \
    EVENT_TRIGGERS_API_HOST=0.0.0.0

WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
COPY event_triggers ./event_triggers
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app event-triggers \
    && mkdir -p /var/lib/event-triggers \
    && chown event-triggers /var/lib/event-triggers

USER event-triggers
EXPOSE 8000
ENTRYPOINT ["event-triggers"]
CMD ["api"]
