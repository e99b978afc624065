"""The one retry rule every delivery, request and sync follows."""

from core.backoff import Backoff


def test_waits_double_after_each_failure_up_to_the_ceiling():
    rule = Backoff(first=15, longest=100)
    assert [rule.after(n) for n in range(6)] == [0.0, 15, 30, 60, 100, 100]


def test_without_a_ceiling_waits_keep_doubling():
    assert Backoff(first=0.5).after(11) == 512
