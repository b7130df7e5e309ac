"""Seed-style TCP client: input() a line, sendall, one recv(1024), print."""
import socket
import sys

client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("127.0.0.1", int(sys.argv[1])))
while True:
    try:
        line = input("input: ")
        client.sendall(line.encode("utf-8"))
        reply = client.recv(1024)
        print("reply", reply.decode("utf-8"), flush=True)
    except Exception as ex:
        print(type(ex).__name__, flush=True)
        break
client.close()
