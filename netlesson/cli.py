"""``python -m netlesson``: the seed's four scripts, plus the diagram writer.

Two terminals, as in the seed::

    python -m netlesson tcp-server            # terminal 1 (Ctrl-C stops it)
    python -m netlesson tcp-client            # terminal 2: type lines, Ctrl-D ends

Every server and client command takes ``--host`` and ``--port`` (default:
``constants.ip_port``).  Servers print each connection and message; clients
print each reply.  ``diagrams --out DIR`` redraws pics/; ``release`` and
``grade`` are the instructors' nbgrader workflow (see README).
"""

from __future__ import annotations

import argparse
import sys

from . import constants
from .errors import PortInUseError

__all__ = ["main", "build_parser"]

_CLI_PORT_HINT = ("stop the other server (Ctrl-C in its terminal) or pass --port 0 to let "
                  "the system pick a free port")


def _port(text: str, lowest: int = 0) -> int:
    """argparse type: a TCP/UDP port number, 0-65535 (a server may ask for 0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: ports are 0 to 65535")
    if port < lowest:
        raise argparse.ArgumentTypeError(
            "a client needs the server's real port (1 to 65535); port 0 only tells a server "
            "to let the system pick one, which the server then prints")
    return port


def _server_port(text: str) -> int:
    return _port(text)


def _client_port(text: str) -> int:
    return _port(text, lowest=1)


def _seconds(text: str) -> float:
    """argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text} is not a usable timeout: give a number of "
                                         f"seconds greater than 0 and at most 86400 (a day)")
    return value


def _serve(kind: str, host: str, port: int) -> int:
    from . import tcp, udp
    from .serverlog import ServerLog

    module = tcp if kind == "tcp" else udp
    log = ServerLog(200, echo=sys.stdout)
    try:
        server = module.create_server((host, port), log=log)
    except PortInUseError as exc:
        print(f"error: {PortInUseError(exc.address, hint=_CLI_PORT_HINT)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with server:
        bound = server.server_address
        print(f"{kind.upper()} upper-case echo server on {bound[0]}:{bound[1]} "
              f"({type(server).__name__}); Ctrl-C to stop", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
        finally:
            server.close_open_requests()
    return 0


def _client(kind: str, host: str, port: int, timeout: float) -> int:
    from . import tcp, udp

    if kind == "tcp":
        return tcp.interactive((host, port), timeout=timeout)
    # waits of 1, 2, 4 ... seconds, none longer than --timeout
    return udp.interactive((host, port), timeout=min(timeout, 1.0), max_timeout=timeout)


def _diagrams(out: str) -> int:
    from .diagrams import write_all

    for path in write_all(out):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netlesson",
        description="socketserver course tools: the seed's servers and clients, diagrams, and the instructors' nbgrader workflow.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    default_host, default_port = constants.ip_port
    for name, help_text in [
        ("tcp-server", "threaded TCP upper-case echo server"),
        ("tcp-client", "TCP client: sends each line of standard input, prints each reply"),
        ("udp-server", "threaded UDP upper-case echo server"),
        ("udp-client", "UDP client: sends each line as a datagram, prints each reply"),
    ]:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--host", default=default_host, help=f"default {default_host}")
        p.add_argument("--port", type=_client_port if name.endswith("client") else _server_port,
                       default=default_port,
                       help=f"default {default_port}; 0 picks a free port (servers)")
        if name == "tcp-client":
            p.add_argument("--timeout", type=_seconds, default=5.0,
                           help="seconds to wait for a reply (default 5)")
        elif name == "udp-client":
            p.add_argument("--timeout", type=_seconds, default=5.0,
                           help="longest single wait for a reply (default 5): the client "
                                "waits at most 1 s first, then resends up to 3 times with "
                                "doubling waits capped at this, then gives up")
    p = sub.add_parser("diagrams", help="write every class and call-flow diagram as .dot and .svg")
    p.add_argument("--out", default="pics", help="output directory (default pics)")
    # instructors (needs the `instructor` extra: nbgrader); imported lazily
    from . import instructor

    instructor.add_release_arguments(sub.add_parser(
        "release", help="instructors: write student versions of the exercises (nbgrader)"))
    instructor.add_grade_arguments(sub.add_parser(
        "grade", help="instructors: autograde collected submissions into a CSV (nbgrader)"))
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command
    if command in ("tcp-server", "udp-server"):
        return _serve(command[:3], args.host, args.port)
    if command in ("tcp-client", "udp-client"):
        return _client(command[:3], args.host, args.port, args.timeout)
    if command == "diagrams":
        return _diagrams(args.out)
    if command in ("release", "grade"):
        from . import instructor

        return instructor.run_release(args) if command == "release" else instructor.run_grade(args)
    raise AssertionError(command)  # argparse rejects anything else
