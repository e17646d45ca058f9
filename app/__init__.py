"""memql: a GraphQL memory store for LLM chat applications."""

__version__ = "0.1.0"
