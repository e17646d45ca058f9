FROM python:3.11-slim

WORKDIR /srv/memql
COPY pyproject.toml README.md ./
COPY app ./app
COPY schema ./schema
RUN pip install --no-cache-dir . && useradd --system --no-create-home memql \
    && mkdir memql-data && chown memql memql-data

# The embedded store (no MEMQL_MONGODB_URL) keeps its data in /srv/memql/memql-data: mount a
# volume there to keep it when the container is replaced.
USER memql
EXPOSE 8000
CMD ["memql", "serve", "--host", "0.0.0.0", "--port", "8000"]
