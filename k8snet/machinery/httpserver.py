"""The HTTP server every k8snet server is built on.

``http.server.HTTPServer.server_bind`` calls ``socket.getfqdn(host)``: a
reverse DNS lookup of the address it binds. In a node's or a Pod's network
namespace no resolver answers, so that lookup waits for the resolver's
timeouts (10 s with glibc's defaults) before the server listens: it was the
largest single cost of a cluster's bring-up (apiserver, then every kubelet).
The name is only used for ``SERVER_NAME`` in CGI, so it is not looked up.
"""

from __future__ import annotations

import socketserver
from http.server import ThreadingHTTPServer


class HTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that binds without resolving its own name."""

    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port
