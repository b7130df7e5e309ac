"""Seed-style UDP client: input() a line, sendto, recvfrom(1024), print (a timeout added for tests)."""
import socket
import sys

address = ("127.0.0.1", int(sys.argv[1]))
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.settimeout(5)
while True:
    try:
        value = input("input: ")
    except EOFError:
        break
    client.sendto(value.encode("utf-8"), address)
    data, addr = client.recvfrom(1024)
    print("reply", data.decode("utf-8"), flush=True)
