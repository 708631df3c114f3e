"""One typed schema for every document an experiment folder holds.

Each record converts to the plain JSON users read (spec section 4, unchanged) with
``to_json`` and back with ``from_json``, which validates and raises :class:`SchemaError`
naming the first bad field. Writers (engine, store, results, the programmatic API) and
readers (resume, inspect, verify, report) all go through these records, so a field is spelled
once and a stage means the same thing everywhere. (:class:`RowTally` is only ever pickled in
state.pkl: it has no JSON form.)
"""

from evoprompt.checkpoint.schema.branching import (
    LINEAGE_KEYS,
    Lineage,
    RollbackRecord,
    config_fields,
)
from evoprompt.checkpoint.schema.checkpoints import (
    MANAGER_FORMAT,
    BatchRecord,
    Descriptor,
    PromptResult,
    is_manager_payload,
)
from evoprompt.checkpoint.schema.endpoint import EndpointRecord
from evoprompt.checkpoint.schema.fields import JsonDict, SchemaError
from evoprompt.checkpoint.schema.heldout import Comparison, TestReport, TestResult
from evoprompt.checkpoint.schema.results import (
    GenerationRow,
    PopulationRow,
    RecoveryEntry,
    Summary,
)
from evoprompt.checkpoint.schema.stage import (
    BUDGET_EXHAUSTED,
    ERROR,
    FINISHED,
    INTERRUPTED,
    Stage,
)
from evoprompt.checkpoint.schema.tally import RowTally

__all__ = [
    "BUDGET_EXHAUSTED",
    "ERROR",
    "FINISHED",
    "INTERRUPTED",
    "LINEAGE_KEYS",
    "MANAGER_FORMAT",
    "BatchRecord",
    "Comparison",
    "Descriptor",
    "EndpointRecord",
    "GenerationRow",
    "JsonDict",
    "Lineage",
    "PopulationRow",
    "PromptResult",
    "RecoveryEntry",
    "RollbackRecord",
    "RowTally",
    "SchemaError",
    "Stage",
    "Summary",
    "TestReport",
    "TestResult",
    "config_fields",
    "is_manager_payload",
]
