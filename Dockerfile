# The orchestrator, the demo services and the demo runner in one image (docker-compose.yml's
# `demo` profile). An editable install, because schemas/ and topics/ are read from the checkout.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
COPY schemas ./schemas
COPY topics ./topics
COPY examples ./examples
RUN pip install --no-cache-dir -e .
ENTRYPOINT ["orchestrator"]
CMD ["--help"]
