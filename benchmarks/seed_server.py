"""The seed tutorial's TCP server script, statement for statement, for echo_bench.py.

``ThreadingTCPServer`` and a handler that ``print()``-s the connection, the
address and every message (no ``flush``: the seed's ``print`` buffers when its
output is not a terminal).  The port comes from ``argv`` (0: any free port)
instead of the seed's constants module; the benchmark finds the port the
system picked from the process's listening socket, since the seed prints none.
"""

import socketserver
import sys


class MyServer(socketserver.BaseRequestHandler):
    def handle(self):
        print('conn', self.request)
        print('address', self.client_address)
        while True:
            try:
                data = self.request.recv(1024)
                if not data:
                    break
                print('received from client', data)
                self.request.sendall(data.upper())
            except Exception as ex:
                print(ex)
                break


if __name__ == "__main__":
    server = socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), MyServer)
    server.serve_forever()
