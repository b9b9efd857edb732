# One image, one entrypoint per service: `python -m services.<name>`.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY schemas ./schemas
COPY services ./services
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e .
RUN useradd --system --uid 10001 invarium && mkdir -p /data && chown invarium /data
USER invarium
ENV INVARIUM_DATA_DIR=/data INVARIUM_HOST=0.0.0.0
