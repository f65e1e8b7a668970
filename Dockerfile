# Screen: one image for web, worker and migrations.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY screen ./screen
COPY reviewers ./reviewers
COPY templates ./templates
COPY prompts ./prompts
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 screen
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER screen
WORKDIR /home/screen
EXPOSE 8000
CMD ["screen", "serve", "--host", "0.0.0.0", "--port", "8000"]
