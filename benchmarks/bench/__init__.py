"""The performance benchmark's parts; ``benchmarks/run.py`` is the entry point.

No module here imports ``evoprompt`` at import time: ``run.py --instrumented --tree DIR`` puts
another copy of the project first on ``sys.path`` before the runner is imported.
"""
