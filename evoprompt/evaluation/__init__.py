"""Scoring prompts on the dev set: scorers (raw outputs) and the concurrent batch evaluator."""
