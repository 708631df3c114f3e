"""The train pool: rows used neither for dev nor for test, the only rows exemplars come from.

It is taken from the far end of the dev split's permutation (the test rows come from the near
end, right after the dev rows), so the test set of a run with exemplars is the one a run
without them gets whenever both fit in the data, and changing ``--train-size`` moves no dev
row. A row whose text is also a dev text is skipped, and the test split skips every train
row and text (``held_out_split``'s ``exclude``): no exemplar is ever an input a prompt is
scored or judged on.
"""

from __future__ import annotations

from evoprompt.data.loader import Dataset, DatasetError, dev_order, rows_of

AUTO_SHARE, AUTO_MAX = 4, 100  # the automatic size: a quarter of what dev leaves, at most 100


def auto_size(data: Dataset, dev_size: int) -> int:
    return min(AUTO_MAX, (len(data) - dev_size) // AUTO_SHARE)


def train_split(data: Dataset, dev_size: int, size: int, seed: int) -> Dataset:
    """At most ``size`` rows (0: :func:`auto_size`) disjoint from the dev split by row and
    by text; raises DatasetError when none is left."""
    order = dev_order(data, seed)
    dev_texts = {data.texts[i] for i in order[:dev_size]}
    want = size or auto_size(data, dev_size)
    kept = [i for i in reversed(order[dev_size:]) if data.texts[i] not in dev_texts][:want]
    if not kept:
        raise DatasetError(
            f"--shots needs train rows, and dataset {data.source} has none left after "
            f"{dev_size} dev rows: lower --dev-size or give a larger dataset"
        )
    return rows_of(data, kept)
