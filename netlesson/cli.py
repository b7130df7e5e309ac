"""``python -m netlesson``: the course's one command line.

The seed's four scripts, for two terminals::

    python -m netlesson tcp-server            # terminal 1 (Ctrl-C stops it)
    python -m netlesson tcp-client            # terminal 2: type lines, Ctrl-D ends

Every server and client command takes ``--host`` and ``--port`` (default:
``constants.ip_port``).  Servers print each connection and message; clients
print each reply.  Besides those:

* ``diagrams --out DIR`` redraws pics/;
* ``release`` and ``grade`` are the instructors' nbgrader workflow (see README);
* ``concurrency-server KIND`` is the child process the concurrency lab
  (notebook 07, :mod:`netlesson.concurrency`) starts: one echo server of a
  concurrency model, which prints its port and serves until standard input ends.

A failure is one ``error: ...`` line on standard error and exit status 1,
worded here from the exception's attributes in a terminal's terms
(``--port 0``, Ctrl-C) rather than a notebook's; a usage mistake is argparse's
message and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from . import constants, instructor
from .errors import PortInUseError, format_address

__all__ = ["main", "build_parser"]


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


def _fail(message) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the seed's four scripts ----------------------------------------------------


def _serve(kind: str, host: str, port: int) -> int:
    from . import tcp, udp
    from .serverlog import ServerLog

    module = tcp if kind == "tcp" else udp
    log = ServerLog(200, echo=sys.stdout)
    try:
        server = module.create_server((host, port), log=log)
    except PortInUseError as exc:
        return _fail(f"{format_address(exc.address)} is in use — stop the other server (Ctrl-C "
                     f"in its terminal) or pass --port 0 to let the system pick a free port")
    except OSError as exc:
        return _fail(exc)
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


def _add_seed_commands(sub) -> None:
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


# -- diagrams ---------------------------------------------------------------------


def _diagrams(out: str) -> int:
    from .pics import write_all

    for path in write_all(out):
        print(path)
    return 0


# -- instructors: nbgrader release and grade --------------------------------------


def _add_instructor_commands(sub) -> None:
    p = sub.add_parser("release",
                       help="instructors: write student versions of the exercises (nbgrader)")
    p.add_argument("--out", required=True,
                   help="directory for the student notebooks (written to OUT/<assignment>/)")
    p.add_argument("--source", default=None,
                   help="source exercise notebooks (default notebooks/exercises)")
    p.add_argument("--assignment", default=instructor.ASSIGNMENT,
                   help=f"nbgrader assignment name (default {instructor.ASSIGNMENT})")
    p.add_argument("--course-dir", default=None,
                   help="keep the nbgrader course directory here (default: temporary)")

    p = sub.add_parser("grade",
                       help="instructors: autograde collected submissions into a CSV (nbgrader)")
    p.add_argument("submissions",
                   help="collected notebooks: SUBMISSIONS/<student_id>/<assignment>/<notebook>.ipynb")
    p.add_argument("--csv", default="grades.csv",
                   help="where to write the grades (default grades.csv)")
    p.add_argument("--timeout", type=int, default=instructor.DEFAULT_TIMEOUT,
                   help=f"seconds one cell may run before it is interrupted "
                        f"(default {instructor.DEFAULT_TIMEOUT})")
    p.add_argument("--source", default=None,
                   help="source exercise notebooks (default notebooks/exercises)")
    p.add_argument("--assignment", default=instructor.ASSIGNMENT,
                   help=f"nbgrader assignment name (default {instructor.ASSIGNMENT})")
    p.add_argument("--course-dir", default=None,
                   help="keep the nbgrader course directory (gradebook, autograded "
                        "notebooks, logs) here (default: temporary); it may hold an "
                        "earlier run, whose results are replaced")


def _release(args) -> int:
    try:
        target = instructor.release(args.out, args.source, assignment=args.assignment,
                                    course_dir=args.course_dir, log=_progress)
    except (instructor.NbgraderError, FileNotFoundError) as exc:
        return _fail(exc)
    print(target)
    return 0


def _grade(args) -> int:
    try:
        path = instructor.grade(args.submissions, args.csv, source_dir=args.source,
                                assignment=args.assignment, course_dir=args.course_dir,
                                timeout=args.timeout, log=_progress)
    except (instructor.NbgraderError, FileNotFoundError) as exc:
        return _fail(exc)
    print(path)
    return 0


# -- the concurrency lab's child process ------------------------------------------

_CONCURRENCY_HELP = ("the concurrency lab's server process (notebook 07): one echo server "
                     "of KIND; prints its port, serves until standard input ends")


def _add_concurrency_command(sub) -> None:
    # kinds and works are checked by concurrency.serve, so that this parser
    # need not import netlesson.concurrency (and asyncio) for every command
    p = sub.add_parser("concurrency-server", help=_CONCURRENCY_HELP,
                       description=_CONCURRENCY_HELP + ".  Started by "
                       "netlesson.concurrency.start_server(); may be run by hand too.")
    p.add_argument("kind", metavar="KIND",
                   help="single, threading, forking or asyncio (the models), or seed or "
                        "netlesson (the benchmark's servers): netlesson.concurrency.KINDS")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    p.add_argument("--port", type=_server_port, default=0, help="default 0: any free port")
    p.add_argument("--delay", type=float, default=0.0,
                   help="simulated work per message, seconds (default 0; model kinds only)")
    p.add_argument("--work", default="sleep",
                   help="how the work is simulated: sleep (waiting, the default) or cpu "
                        "(a busy loop, which holds the GIL)")
    p.add_argument("--backlog", type=int, default=None, help="listen queue length")
    p.add_argument("--forever", action="store_true",
                   help="do not stop at end of standard input (Ctrl-C stops it)")


def _concurrency_server(args) -> int:
    from .concurrency import serve

    try:
        return serve(args.kind, host=args.host, port=args.port, delay=args.delay,
                     work=args.work, backlog=args.backlog, watch_stdin=not args.forever)
    except (ValueError, OSError) as exc:
        return _fail(exc)


# -- the program ------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netlesson",
        description="socketserver course tools: the seed's servers and clients, diagrams, "
                    "the instructors' nbgrader workflow, and the concurrency lab's server.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_seed_commands(sub)
    p = sub.add_parser("diagrams", help="write every class and call-flow diagram as .dot and .svg")
    p.add_argument("--out", default="pics", help="output directory (default pics)")
    _add_instructor_commands(sub)
    _add_concurrency_command(sub)
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
    if command == "release":
        return _release(args)
    if command == "grade":
        return _grade(args)
    if command == "concurrency-server":
        return _concurrency_server(args)
    raise AssertionError(command)  # argparse rejects anything else
