"""The fitness plot's y axis fits the data instead of a fixed 0-1."""

from __future__ import annotations

import pytest

from evoprompt.report.plot import fitted_limits


def test_axis_hugs_close_values_and_stays_inside_zero_one() -> None:
    low, high = fitted_limits([0.70, 0.72, 0.75])
    assert low == pytest.approx(0.68) and high == pytest.approx(0.77)  # margin at least 0.02
    assert fitted_limits([0.0, 1.0]) == (0.0, 1.0)  # never past the [0, 1] of accuracy
    low, high = fitted_limits([0.2, 0.6])
    assert (low, high) == pytest.approx((0.16, 0.64))
    assert fitted_limits([1.5, 2.5]) == pytest.approx((1.4, 2.6))  # other scales fit too
