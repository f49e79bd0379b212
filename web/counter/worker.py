"""gunicorn's thread worker (gthread), which stops listening as soon as it is told to stop.

gunicorn's own keeps its listening socket open while it finishes, up to 2 s for its kept-alive
connections: a connection made meanwhile is accepted by the kernel and then waits, unanswered,
until the worker ends. nginx waits its whole read timeout (1 s) on each such connection before it
tries another replica, and a request that meets two leaving replicas in a row gets a 504. Closed
at once, the socket refuses new connections (once the master and every worker of the replica
have closed theirs: a worker restarted alone leaves the others listening), and nginx passes the
request on at once."""

from gunicorn.workers import gthread


class ThreadWorker(gthread.ThreadWorker):
    def handle_exit(self, sig, frame):
        if self.alive:
            # Closed by the worker's loop, not here in the signal handler, where the loop may be
            # in the middle of the listener's events.
            self.method_queue.defer(self.stop_listening)
        super().handle_exit(sig, frame)

    def stop_listening(self):
        self.set_accept_enabled(False)
        for listener in self.sockets:
            listener.close()

    def accept(self, listener):
        if self._accepting:  # not for a listener closed earlier in the same round of events
            super().accept(listener)
