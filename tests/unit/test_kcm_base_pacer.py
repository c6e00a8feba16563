"""The controller loops' pacing of full syncs (k8snet.kcm.base.Pacer)."""

import pytest

from k8snet.kcm.base import Pacer


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_slow_sync_holds_the_next_one_back_by_its_duration():
    clock = Clock()
    pacer = Pacer(clock, pace=1.0)
    ran = []

    def sync():
        ran.append(clock.now)
        clock.now += 0.4          # the sync takes 0.4 s

    assert pacer.run(sync) is None and ran == [100.0]
    clock.now += 0.1              # a change 0.1 s after it ended
    assert pacer.run(sync) == pytest.approx(0.3)
    assert ran == [100.0]         # not run: the caller queues it again after 0.3 s
    clock.now += 0.3
    assert pacer.run(sync) is None and len(ran) == 2


def test_a_quick_sync_does_not_delay_the_next():
    clock = Clock()
    pacer = Pacer(clock, pace=1.0)
    assert pacer.run(lambda: None) is None
    assert pacer.wait() == 0.0 and pacer.run(lambda: None) is None


def test_a_failed_sync_is_paced_too_and_its_error_goes_to_the_caller():
    clock = Clock()
    pacer = Pacer(clock, pace=2.0)

    def boom():
        clock.now += 1.0
        raise RuntimeError("apiserver gone")

    with pytest.raises(RuntimeError):
        pacer.run(boom)
    assert pacer.wait() == pytest.approx(2.0)
