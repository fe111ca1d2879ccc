from http.server import ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    """A threaded test server whose listen backlog takes a whole burst of concurrent clients.

    http.server's default backlog of 5 makes the sixth simultaneous connect wait for a SYN retry
    (about a second) on a busy machine, which a client's short connect timeout reports as a provider timeout.
    """

    request_queue_size = 128
    daemon_threads = True
