"""Seed-style UDP server: ThreadingUDPServer + request[1].sendto(request[0].upper(), addr)."""
import socketserver
import sys


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        print(self.request, flush=True)
        self.request[1].sendto(self.request[0].upper(), self.client_address)


if __name__ == "__main__":
    server = socketserver.ThreadingUDPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("PORT", server.server_address[1], flush=True)
    server.serve_forever()
