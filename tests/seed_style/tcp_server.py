"""Seed-style TCP server: ThreadingTCPServer + a handler that prints and echoes upper-case."""
import socketserver
import sys


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        print("conn", self.request, flush=True)
        print("address", self.client_address, flush=True)
        while True:
            try:
                data = self.request.recv(1024)
                if not data:
                    break
                print("received", data, flush=True)
                self.request.sendall(data.upper())
            except Exception as ex:
                print(ex, flush=True)
                break


if __name__ == "__main__":
    server = socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("PORT", server.server_address[1], flush=True)
    server.serve_forever()
