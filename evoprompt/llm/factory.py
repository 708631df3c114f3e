"""Pick and build the backend a config asks for, filling in what ``auto`` means."""

from __future__ import annotations

from evoprompt.config import Config, ConfigError
from evoprompt.llm.types import Backend

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
LOCAL_MODEL = "gemma-3-270m-q4_k_m"


def settle_backend(config: Config, api_key: str) -> str | None:
    """Replace ``auto`` backend/scorer/model with concrete choices; return a notice, if any.

    ``auto`` means the endpoint when a base URL or key is configured, else the embedded model,
    so a fresh clone with no credentials still runs a real experiment.
    """
    notice = None
    if config.backend == "auto":
        if config.base_url or api_key:
            config.backend = "openai"
        else:
            config.backend = "local"
            notice = (
                "No OPENAI_BASE_URL / OPENAI_API_KEY configured: using the embedded local "
                "model (Gemma 3 270M, offline). Pass --backend openai to use an endpoint."
            )
    if config.backend == "openai":
        config.base_url = config.base_url or OPENAI_DEFAULT_URL
        config.model = config.model or OPENAI_DEFAULT_MODEL
        if config.scorer == "auto":
            config.scorer = "generate"
    else:
        config.model = config.model or LOCAL_MODEL
        if config.scorer == "auto":
            config.scorer = "loglik"
        if config.scorer != "loglik":
            raise ConfigError("the local backend is a base model: it needs --scorer loglik")
    return notice


def make_backend(config: Config, api_key: str) -> Backend:
    if config.backend == "openai":
        from evoprompt.llm.openai_http import OpenAIBackend

        return OpenAIBackend(
            config.base_url, api_key, timeout=config.timeout, concurrency=config.concurrency
        )
    from evoprompt.llm.local import LocalBackend

    return LocalBackend()
