"""memql's benchmark: `python -m bench` seeds a real server, drives it over HTTP and prints
latency, throughput and database calls per request beside a plain Starlette route's."""
