"""``python -m netlesson``: the course's one command line.

The seed's four scripts, for two terminals::

    python -m netlesson tcp-server            # terminal 1 (Ctrl-C stops it)
    python -m netlesson tcp-client            # terminal 2: type lines, Ctrl-D ends

These four take ``--host`` and ``--port`` (default: ``constants.ip_port``,
127.0.0.1:8081).  Servers print each connection and message; clients print
each reply.  Besides those:

* ``diagrams --out DIR`` redraws pics/;
* ``release`` and ``grade`` are the instructors' nbgrader workflow (see README);
* ``concurrency-server KIND`` is the child process the concurrency lab
  (notebook 07, :mod:`netlesson.concurrency`) starts: one echo server of a
  concurrency model, which prints its port and serves until standard input
  ends.  It takes ``--host`` and ``--port`` too, but its port defaults to 0
  (any free port);
* ``concurrency-measure HOST:PORT`` drives N clients x M messages against an
  echo server and prints the rate; ``concurrency-compare`` starts each kind
  in turn, measures it at several client counts and prints a table.

A failure is one ``error: ...`` line on standard error and exit status 1,
worded here from the exception's attributes in a terminal's terms
(``--port 0``, Ctrl-C) rather than a notebook's; a usage mistake is argparse's
message and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import sys

from . import constants, instructor
from .errors import AddressNotAvailable, PortInUseError, PortNotAllowed, format_address

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


def _delay(text: str) -> float:
    """argparse type: seconds of simulated work, a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 <= value <= 86400):
        raise argparse.ArgumentTypeError(f"{text} is not a usable delay: give a number of "
                                         f"seconds from 0 to 86400 (a day)")
    return value


def _count(text: str) -> int:
    """argparse type: a whole number >= 1 (clients, messages, a listen backlog)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: give 1 or more")
    return value


def _address(text: str) -> tuple[str, int]:
    """argparse type: ``HOST:PORT`` (``[::1]:PORT`` for IPv6; ``:PORT`` means 127.0.0.1)."""
    host, colon, port = text.rpartition(":")
    if not colon:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8081)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host or "127.0.0.1", _client_port(port))


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
    except OSError as exc:
        return _fail(_bind_failure(exc))
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


def _bind_failure(exc: OSError) -> str:
    """Why a server could not bind, from the error's attributes, with the options that help."""
    if isinstance(exc, PortInUseError):
        return (f"{format_address(exc.address)} is in use — stop the other server (Ctrl-C in its "
                f"terminal) or pass --port 0 to let the system pick a free port")
    if isinstance(exc, PortNotAllowed):
        return (f"not allowed to bind {format_address(exc.address)}: ports below 1024 need "
                f"administrator rights — pass --port 1024 or higher, or --port 0 to let the "
                f"system pick a free port")
    if isinstance(exc, AddressNotAvailable):
        return (f"cannot bind {format_address(exc.address)}: this machine has no such address — "
                f"pass --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)")
    return str(exc)  # says nothing about attributes: the same text fits a terminal


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


# -- the concurrency lab -----------------------------------------------------------
#
# Kinds, works and delays are checked after parsing, with the library's own
# check (concurrency._kinds.check_options) and reported as usage errors, so
# that building this parser need not import netlesson.concurrency (and
# asyncio) for every command.

_CONCURRENCY_HELP = ("the concurrency lab's server process (notebook 07): one echo server "
                     "of KIND; prints its port, serves until standard input ends")
_KINDS_HELP = ("single, threading, forking or asyncio (the models), or seed or netlesson "
               "(the benchmark's servers): netlesson.concurrency.KINDS")
_WORK_HELP = ("how the work is simulated: sleep (waiting, the default) or cpu (a busy loop, "
              "which holds the GIL)")


def _add_concurrency_commands(sub) -> None:
    p = sub.add_parser("concurrency-server", help=_CONCURRENCY_HELP,
                       description=_CONCURRENCY_HELP + ".  Started by "
                       "netlesson.concurrency.start_server(); may be run by hand too.")
    p.add_argument("kind", metavar="KIND", help=_KINDS_HELP)
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    p.add_argument("--port", type=_server_port, default=0, help="default 0: any free port")
    p.add_argument("--delay", type=_delay, default=0.0,
                   help="simulated work per message, seconds (default 0; model kinds only)")
    p.add_argument("--work", default="sleep", help=_WORK_HELP)
    p.add_argument("--backlog", type=_count, default=None,
                   help="listen queue length (default: concurrency.DEFAULT_BACKLOG for the "
                        "models, the server class's own for seed and netlesson)")
    p.add_argument("--forever", action="store_true",
                   help="do not stop at end of standard input (Ctrl-C stops it)")
    p.set_defaults(usage_error=p.error)

    help_text = "N concurrent clients x M messages against an echo server at HOST:PORT"
    p = sub.add_parser("concurrency-measure", help=help_text, description=help_text + ".")
    p.add_argument("address", metavar="HOST:PORT", type=_address,
                   help="the server, e.g. the port concurrency-server printed: 127.0.0.1:PORT")
    p.add_argument("--clients", type=_count, default=8, help="concurrent clients (default 8)")
    p.add_argument("--messages", type=_count, default=100,
                   help="round trips per client (default 100)")
    p.add_argument("--no-warmup", dest="warmup", action="store_false",
                   help="connect every client before the first message (needed for a server "
                        "that serves one client at a time, such as single)")
    p.set_defaults(usage_error=p.error)

    help_text = "start each kind in turn, measure it at several client counts, print a table"
    p = sub.add_parser("concurrency-compare", help=help_text, description=help_text + ".")
    p.add_argument("--kinds", nargs="+", metavar="KIND", default=None,
                   help="default: the four models; " + _KINDS_HELP)
    p.add_argument("--clients", type=_count, nargs="+", default=[1, 8, 32],
                   help="client counts (default 1 8 32)")
    p.add_argument("--messages", type=_count, default=5,
                   help="round trips per client (default 5)")
    p.add_argument("--delay", type=_delay, default=None,
                   help="simulated work per message, seconds (default 0.01 when every kind "
                        "is a model, else 0: seed and netlesson take none)")
    p.add_argument("--work", default="sleep", help=_WORK_HELP)
    p.set_defaults(usage_error=p.error)


def _check_concurrency_options(args, kinds, delay: float) -> None:
    """Report a kind, work or delay that cannot run as argparse does: usage, exit status 2."""
    from .concurrency._kinds import check_options

    for kind in kinds:
        try:
            check_options(kind, delay, args.work)
        except ValueError as exc:
            args.usage_error(str(exc))


def _concurrency_server(args) -> int:
    _check_concurrency_options(args, [args.kind], args.delay)
    from .concurrency import serve

    try:
        return serve(args.kind, host=args.host, port=args.port, delay=args.delay,
                     work=args.work, backlog=args.backlog, watch_stdin=not args.forever)
    except OSError as exc:
        return _fail(_bind_failure(exc))


def _concurrency_measure(args) -> int:
    from .concurrency import NoReply, WrongReply, run_clients

    where = format_address(args.address)
    try:
        print(run_clients(args.address, args.clients, args.messages, warmup=args.warmup))
    except WrongReply as exc:
        return _fail(f"{where} is not an upper-case echo server: sent {exc.sent!r}, expected "
                     f"{exc.expected!r}, got {exc.reply!r}")
    except NoReply as exc:
        hint = ("; a server that serves one client at a time (single) answers no second "
                "client until the first leaves: pass --no-warmup"
                if args.warmup and args.clients > 1 and exc.done == 0 else "")
        return _fail(f"{where} sent no reply for {exc.timeout:g} s, after {exc.done} of "
                     f"{exc.total} round trips: the server is stuck or too slow{hint}")
    except ConnectionRefusedError:
        return _fail(f"nothing is listening on {where} — start a server first (e.g. python -m "
                     f"netlesson concurrency-server threading, which prints its port) or "
                     f"check host and port")
    except OSError as exc:
        return _fail(exc)
    return 0


def _concurrency_compare(args) -> int:
    from .concurrency import MODEL_KINDS, compare

    kinds = args.kinds or list(MODEL_KINDS)
    delay = args.delay
    if delay is None:
        delay = 0.01 if all(kind in MODEL_KINDS for kind in kinds) else 0.0
    _check_concurrency_options(args, kinds, delay)
    try:
        print(compare(kinds, args.clients, messages=args.messages, delay=delay, work=args.work))
    except (RuntimeError, OSError) as exc:  # a server that did not start, a failed exchange
        return _fail(exc)
    return 0


# -- the program ------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netlesson",
        description="socketserver course tools: the seed's servers and clients, diagrams, "
                    "the instructors' nbgrader workflow, and the concurrency lab's server "
                    "and measurements.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_seed_commands(sub)
    p = sub.add_parser("diagrams", help="write every class and call-flow diagram as .dot and .svg")
    p.add_argument("--out", default="pics", help="output directory (default pics)")
    _add_instructor_commands(sub)
    _add_concurrency_commands(sub)
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
    if command == "concurrency-measure":
        return _concurrency_measure(args)
    if command == "concurrency-compare":
        return _concurrency_compare(args)
    raise AssertionError(command)  # argparse rejects anything else
