"""The bill before paying it (``--dry-run``): calls, tokens and cost of a run, a fork or a test
phase, estimated without a call, or measured by a few real ones (``--pilot N``)."""
