FROM python:3.11-slim

WORKDIR /srv/memql
# constraints.txt pins every distribution memql brings in, at the versions its tests passed on
# (scripts/lock_constraints.py writes it): a rebuild installs exactly those.
COPY constraints.txt pyproject.toml README.md ./
COPY app ./app
COPY schema ./schema
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system --no-create-home memql \
    && mkdir memql-data && chown memql memql-data

# The embedded store (no MEMQL_MONGODB_URL) keeps its data in /srv/memql/memql-data: mount a
# volume there to keep it when the container is replaced.
USER memql
EXPOSE 8000
CMD ["memql", "serve", "--host", "0.0.0.0", "--port", "8000"]
