"""The help text of every config key: what ``--help`` prints for its flag.

Kept apart from the table of types, defaults and bounds (:mod:`evoprompt.config.table`): the
words change often, the table's rules rarely, and each reads better without the other.
"""

from __future__ import annotations

HELP: dict[str, str] = {
    "name": "config name; the experiment id defaults to NAME_YYYYMMDD_HHMMSS",
    "dataset": "built-in dataset (sentiment, code_vuln, arith, summarize; public: sst2, subj, "
    "agnews) or a .csv/.tsv/.jsonl file",
    "text_column": "column holding the input text",
    "label_column": "column holding the gold value: the label, or the reference answer",
    "labels": "allowed labels, space-separated (a TOML list in a config file); default: the "
    "labels found in the data",
    "dev_size": "dev samples each prompt is scored on",
    "seed_prompts": "initial prompts, space-separated, each quoted (a TOML list in a config "
    "file); topped up with LLM paraphrases",
    "seed_prompts_from": "read the seed prompts from 'manual' (a built-in public task's "
    "prompts: what sst2, subj and agnews start from unless seed_prompts is set) or a text "
    "file, one prompt per line",
    "metric": "how an output is scored: accuracy, exact_match, f1, contains, rouge_l or "
    "python:MODULE:FUNCTION",
    "answer_pattern": "regex whose group 1 (last match) is the answer the metric compares",
    "max_tokens": "completion cap of scoring calls (0 = the metric's: 16 for accuracy, 256 else)",
    "test_size": "held-out test rows: at most N rows not used for dev (0: no test phase)",
    "test_dataset": "test set file with the dataset's columns (default: held out of --dataset)",
    "test_top_k": "test the top K of the final population (besides the best and the seeds)",
    "test_seeds": "which seed prompts the test phase scores: all, or only the best by dev "
    "(the baseline the best prompt is judged against)",
    "algorithm": "evolution algorithm",
    "population_size": "prompts in the population",
    "max_generations": "generations after the initial population; raise it with "
    "--experiment-id ID to extend a finished run",
    "seed": "seed of the experiment's random generator and of the dev split",
    "templates": "operator templates: 'evoprompt' (built in; 'evoprompt-v1': without the task "
    "line) or a TOML file overriding any of ga/de/paraphrase",
    "evolve_temperature": "sampling temperature of evolution calls (scoring always uses 0); "
    "a backend may fix its own (the local base model uses 1.0)",
    "shots": "exemplars a prompt may carry besides its instruction (up to K, drawn from the "
    "train pool and evolved with it; 0 = instructions only)",
    "train_size": "train pool rows exemplars come from, disjoint from dev and test (0 = "
    "automatic: a quarter of the rows left after dev, at most 100; used only with --shots)",
    "worked_column": "column holding a train row's worked answer (its steps ending in the gold "
    "answer), shown by exemplars in place of the bare gold value where the data has it",
    "length_penalty": "select on score - L * tokens / mean tokens of the seed prompts "
    "(0 = no penalty)",
    "backend": "openai (any OpenAI-compatible endpoint), local (embedded Gemma) or auto",
    "scorer": "generate (parse the answer) or loglik (compare label log-probabilities)",
    "model": "model name sent to the endpoint (default gpt-4o-mini, or the local Gemma)",
    "base_url": "endpoint base URL, e.g. https://api.openai.com/v1",
    "fallback_model": "model used for a call whose retries on the primary ran out",
    "timeout": "seconds before one HTTP request is abandoned and retried",
    "http_client": "HTTP library of the openai backend: aiohttp (a quarter of httpx's CPU per "
    "request) or httpx",
    "concurrency": "maximum requests in flight",
    "rpm": "requests per minute limit (0 = none)",
    "tpm": "estimated tokens per minute limit (0 = none)",
    "max_retries": "attempts per call, the first included",
    "retry_delay": "base delay in seconds between attempts",
    "retry_strategy": "exponential (delay * 2**(attempt-1)) or linear (delay)",
    "max_retry_wait": "cap in seconds on any wait, Retry-After included",
    "max_outage": "seconds an endpoint that answered before may stay away (all calls paused, "
    "probed) before the run saves and exits 75 (0 = exit at once)",
    "max_calls": "stop after this many network calls (0 = unlimited)",
    "max_tokens_total": "stop after this many prompt+completion tokens (0 = unlimited)",
    "max_cost": "stop after this estimated cost in USD (0 = unlimited; needs prices)",
    "prices": 'USD per 1M tokens per model, e.g. \'{"gpt-4o-mini": {"prompt": 0.15, '
    '"completion": 0.6}}\' (a [prices.MODEL] table in a config file)',
    "batch_size": "dev samples per evaluated (and checkpointed) batch",
    "prune": "stop scoring a child once it provably cannot survive selection (same result, "
    "fewer calls; --no-prune scores every child in full)",
    "result_dir": "folder holding one sub-folder per experiment",
    "checkpoint": "write checkpoints and the journal (flag: --no-checkpoint)",
    "cleanup_every": "prune old history and batch files every N generations",
    "keep_last_n": "history and batch files kept by the pruning",
    "track": "also log the run to an experiment tracker: mlflow (pip install 'evoprompt[mlflow]'); "
    "never slows or stops the run",
    "track_uri": "tracking server or store (default: $MLFLOW_TRACKING_URI, else "
    "sqlite:///<result-dir>/mlflow.db)",
    "operator_backend": "backend of the operator (the model that writes prompts); default: the "
    "task's, or openai when an operator base URL or key is given",
    "operator_model": "model that writes prompts (GA/DE operators, paraphrases); default: the "
    "task's model",
    "operator_base_url": "endpoint of the operator; default: the task's",
    "operator_fallback_model": "the operator's fallback model (default: the task's)",
    "operator_timeout": "the operator's HTTP timeout in seconds (0 = the task's)",
    "operator_concurrency": "the operator's requests in flight (0 = the task's)",
    "operator_rpm": "the operator's requests per minute limit (0 = the task's)",
    "operator_tpm": "the operator's tokens per minute limit (0 = the task's)",
    "operator_max_retries": "the operator's attempts per call (0 = the task's)",
    "operator_prices": "prices of the operator's models, over the task's (same form as prices)",
    "operator_max_calls": "stop after the operator made this many calls (0 = no cap of its own)",
    "operator_max_tokens_total": "stop after the operator used this many tokens (0 = no cap "
    "of its own)",
    "operator_max_cost": "stop after the operator cost this much USD (0 = no cap of its own; "
    "needs prices)",
    "task_description": "one line describing the task, given to operator templates as {task} "
    "(default: derived from the labels or the metric)",
}
