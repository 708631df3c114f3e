"""Test support shipped with the package: a fault-injecting OpenAI-compatible endpoint."""
