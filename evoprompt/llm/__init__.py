"""LLM access: request/response types, backends (HTTP, local), retries, limits, the client."""
