"""One shutdown path: stop signals become StopRequested, a held signal waits for its section, handlers come back."""

import os
import signal

import pytest

from gps_core.shutdown import Shutdown, StopRequested, shielded, stop_requested


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_signal_raises_stop_requested_naming_it(name):
    signum = getattr(signal, name)
    before = signal.getsignal(signum)
    with pytest.raises(StopRequested) as caught:
        with Shutdown():
            os.kill(os.getpid(), signum)
            for _ in range(1000):  # the handler runs at the next bytecode boundary
                pass
    assert caught.value.signal_name == name and caught.value.exit_code == 128 + signum
    assert isinstance(caught.value, KeyboardInterrupt)
    assert signal.getsignal(signum) is before and not stop_requested()


def test_a_signal_inside_a_shielded_section_is_raised_when_it_ends():
    finished = []
    with pytest.raises(StopRequested):
        with Shutdown():
            with shielded():
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):
                    pass
                assert stop_requested()
                finished.append("section")
            finished.append("after")  # never reached: raised as the section ended
    assert finished == ["section"]


def test_shielded_without_shutdown_does_nothing():
    with shielded():
        assert not stop_requested()
