"""Scoring prompts on the dev set: verbalizer, scorers and the concurrent batch evaluator."""
