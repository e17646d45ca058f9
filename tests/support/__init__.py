"""What the tests share besides fixtures (those are in tests/conftest.py): settings and the
store they run on, a running app and its GraphQL client, and helpers for test data."""
