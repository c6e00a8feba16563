"""The apiserver's SIGTERM handler only records the request (k8snet.apiserver.main): a
second SIGTERM arriving while the main thread holds a lock cannot deadlock it."""

from __future__ import annotations

import os
import signal
import threading

from k8snet.apiserver.main import TermRequest, serve_until


class CountingServer:
    """Stands in for ApiHTTPServer: each handle_request is one poll."""

    def __init__(self, on_poll=None) -> None:
        self.polls = 0
        self.timeout = None
        self.on_poll = on_poll

    def handle_request(self) -> None:
        self.polls += 1
        if self.on_poll:
            self.on_poll(self.polls)


def test_serve_until_stops_after_the_request_and_polls_briefly():
    term = TermRequest()
    srv = CountingServer(lambda n: n == 3 and term(signal.SIGTERM, None))
    serve_until(srv, term)
    assert srv.polls == 3 and srv.timeout is not None and srv.timeout <= 0.5


def test_two_sigterms_while_the_main_thread_holds_an_events_lock():
    """The old handler called Event.set(): with the Event's lock held by the interrupted
    main thread (inside set() or wait()), the second SIGTERM's handler waited forever."""
    term = TermRequest()
    stop = threading.Event()
    old = signal.signal(signal.SIGTERM, term)
    try:
        srv = CountingServer()

        def poll(n: int) -> None:
            with stop._cond:  # as the main thread is inside stop.set() or stop.wait()
                os.kill(os.getpid(), signal.SIGTERM)
                os.kill(os.getpid(), signal.SIGTERM)
        srv.on_poll = poll
        done = threading.Event()
        timer = threading.Timer(10, lambda: done.is_set() or os._exit(3))  # deadlock: fail
        timer.start()
        serve_until(srv, term)
        done.set()
        timer.cancel()
    finally:
        signal.signal(signal.SIGTERM, old)
    assert term.requested and srv.polls == 1
