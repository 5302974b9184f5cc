"""Loss-based controller (draft-ietf-rmcat-gcc-02 section 6)."""

from __future__ import annotations

import pytest

from voipbed.models.gcc_loss import LossBasedControl, loss_fraction


@pytest.mark.parametrize(
    ("loss", "factor"),
    [
        (0.0, 1.05),
        (0.019, 1.05),
        (0.02, 1.0),
        (0.05, 1.0),
        (0.10, 1.0),
        (0.11, 1.0 - 0.5 * 0.11),
        (0.5, 0.75),
    ],
)
def test_loss_thresholds_at_2_and_10_percent(loss: float, factor: float) -> None:
    """Below 2 % the rate grows 5 %, above 10 % it falls by 0.5 p, between it holds."""
    control = LossBasedControl(400_000.0)
    assert control.update(loss) == pytest.approx(400_000.0 * factor)


def test_loss_based_estimate_stays_under_the_ceiling() -> None:
    """As_hat never passes the delay-based ceiling given with the report."""
    control = LossBasedControl(400_000.0)
    assert control.update(0.0, ceiling_bps=410_000.0) == 410_000.0


def test_loss_fraction_counts() -> None:
    """p is lost over expected, 0 for an empty report."""
    assert loss_fraction(50, 5) == pytest.approx(0.1)
    assert loss_fraction(0, 0) == 0.0
    with pytest.raises(ValueError, match="negative"):
        loss_fraction(-1, 0)


def test_loss_outside_unit_interval_raises() -> None:
    """A loss fraction above 1 is refused."""
    with pytest.raises(ValueError, match="loss fraction"):
        LossBasedControl(400_000.0).update(1.5)
