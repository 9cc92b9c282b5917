# One image for the API, the worker and the migration job; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Explicit paths rather than `COPY . .`: a developer's .venv and .sojourn data dir stay out.
COPY pyproject.toml README.md ./
COPY sojourn ./sojourn
COPY api ./api
COPY worker ./worker
COPY workflows ./workflows
COPY activities ./activities
RUN pip install . \
    && useradd --system --no-create-home --uid 10001 sojourn

USER sojourn
EXPOSE 8000
CMD ["sojourn", "api"]
