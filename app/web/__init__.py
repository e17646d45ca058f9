"""The web layer: the entry points (GraphQL over HTTP, the playground, the command line)."""
