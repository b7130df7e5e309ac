"""``python -m netlesson``: the course's one command line.

The seed's four scripts, for two terminals::

    python -m netlesson tcp-server            # terminal 1 (Ctrl-C stops it)
    python -m netlesson tcp-client            # terminal 2: type lines, Ctrl-D ends

These four take ``--host`` (``::1`` and ``::`` for IPv6) and ``--port``:
its default is the environment variable ``NETLESSON_PORT`` when set (a port of
one's own on a shared machine, see :mod:`netlesson.sharedhost`), else the
seed's ``constants.ip_port`` (127.0.0.1:8081); ``--help`` says which.
``tcp-server`` also takes ``--backlog``.  Servers print each connection and
message, one whole line per event (to a pipe or file in batches at most 0.1 s
late: :class:`~netlesson.serverlog.ServerLog`); a second Ctrl-C while one
stops is ignored.  Clients print each reply.  On Linux a server whose port is
taken says who holds it (a process of yours, another user, JupyterHub), and a
client warns before talking to another user's server, and once if the replies
are not the upper-cased lines.  Besides those:

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
worded here from the exception's attributes (and the data of
:func:`netlesson.sharedhost.port_holders`) in a terminal's terms (``--port 0``,
Ctrl-C) rather than a notebook's; a host name that does not resolve is named.
A usage mistake is argparse's message and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import socket
import sys
import threading

from . import constants, instructor, sharedhost
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


@contextlib.contextmanager
def _quiet_second_interrupt():
    """The first Ctrl-C raises ``KeyboardInterrupt``; any further one is ignored.

    A second Ctrl-C while the server stops would otherwise interrupt the stop
    itself with a traceback.  Once one has come the process is on its way out,
    so the handler stays; without one the previous handler is put back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def interrupt(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        fired.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        if not fired:
            signal.signal(signal.SIGINT, previous)


def _unresolved(host: str, port: int, kind: str) -> str | None:
    """Why *host* cannot be used (it does not resolve), or ``None`` when it can."""
    if not host:  # bind every interface
        return None
    kind_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    try:
        socket.getaddrinfo(host, port, type=kind_type)
    except socket.gaierror as exc:
        return (f"cannot resolve host {host!r} ({exc.strerror}) — check its spelling, or pass "
                f"--host 127.0.0.1 (this machine) or --host ::1 (this machine, IPv6)")
    return None


def _serve(kind: str, host: str, port: int, backlog: int | None = None) -> int:
    from . import tcp, udp
    from .serverlog import ServerLog

    module = tcp if kind == "tcp" else udp
    unresolved = _unresolved(host, port, kind)
    if unresolved:
        return _fail(unresolved)
    log = ServerLog(200, echo=sys.stdout)
    options = {"backlog": backlog} if backlog is not None else {}
    try:
        server = module.create_server((host, port), log=log, **options)
    except OSError as exc:
        return _fail(_bind_failure(exc, kind))
    with server:
        print(f"{kind.upper()} upper-case echo server on {format_address(server.server_address)} "
              f"({type(server).__name__}); Ctrl-C to stop", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.flush_echo()  # the records before it, then this line
            sys.stdout.write("\nstopping\n")
        finally:
            server.close_open_requests()  # their "closed" records follow
    log.flush_echo()
    return 0


def _bind_failure(exc: OSError, kind: str = "tcp") -> str:
    """Why a server could not bind, from the error's attributes, with the options that help."""
    if isinstance(exc, PortInUseError):
        return _in_use(exc.address, sharedhost.port_holders(exc.address, kind))
    if isinstance(exc, PortNotAllowed):
        return (f"not allowed to bind {format_address(exc.address)}: ports below 1024 need "
                f"administrator rights — pass --port 1024 or higher, or --port 0 to let the "
                f"system pick a free port")
    if isinstance(exc, AddressNotAvailable):
        return (f"cannot bind {format_address(exc.address)}: this machine has no such address — "
                f"pass --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)")
    return str(exc)  # says nothing about attributes: the same text fits a terminal


_OWN_PORT = (f"pass --port 0 to let the system pick a free port, or give yourself a port of "
             f"your own in both terminals (export {sharedhost.PORT_VARIABLE}=PORT)")


def _in_use(address, holders) -> str:
    """A busy port, worded from who holds it (:func:`netlesson.sharedhost.port_holders`)."""
    where = format_address(address)
    hub = next((h for h in holders if h.jupyterhub), None)
    if hub is not None:
        return (f"{where} is in use by JupyterHub ({_whose(hub)}; its API listens on "
                f"127.0.0.1:8081 by default, and it is not yours to stop) — {_OWN_PORT}")
    theirs = next((h for h in holders if not h.mine), None)
    if theirs is not None:
        return (f"{where} is in use by another user ({_whose(theirs)}): on a shared machine "
                f"every user's servers share one loopback — {_OWN_PORT}")
    if holders:
        pid = holders[0].pid
        if pid is None:
            who = "another process of yours"
        elif pid == os.getpid():
            who = f"this very process ({pid})"
        else:
            who = f"your own process {pid} ({_short(holders[0].command)})"
        return (f"{where} is in use by {who} — stop it (Ctrl-C in its terminal) or "
                f"{_OWN_PORT}")
    return (f"{where} is in use — stop the other server (Ctrl-C in its terminal) or "
            f"{_OWN_PORT}")


def _whose(holder) -> str:
    """``user alice, uid 1001`` and, when visible, ``process 42: jupyterhub ...``."""
    who = f"user {holder.user}, uid {holder.uid}" if holder.user else f"uid {holder.uid}"
    if holder.pid is not None:
        who += f", process {holder.pid}: {_short(holder.command)}"
    return who


def _short(command: str | None, limit: int = 60) -> str:
    """A command line for one line of text: the program's base name, at most *limit* chars."""
    if not command:
        return "command unknown"
    words = command.split()
    text = " ".join([os.path.basename(words[0]), *words[1:]])
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _warn_about_server(host: str, port: int, kind: str) -> None:
    """Before a client sends: warn when the server at the address is another user's (Linux)."""
    holders = sharedhost.port_holders((host, port), kind)
    if not holders or any(h.mine for h in holders):
        return  # nobody (the client will say so), or one of ours
    where = format_address((host, port))
    holder = holders[0]
    if holder.jupyterhub:
        print(f"warning: {where} is JupyterHub's ({_whose(holder)}), not an echo server: your "
              f"lines would go to the hub — start your own server (tcp-server --port 0) and "
              f"pass the port it prints with --port, or set {sharedhost.PORT_VARIABLE}",
              file=sys.stderr, flush=True)
        return
    print(f"warning: the server at {where} belongs to another user ({_whose(holder)}): your "
          f"lines go to their server — start your own ({kind}-server --port 0, then --port "
          f"PORT here), or set {sharedhost.PORT_VARIABLE} to a port of your own in both "
          f"terminals", file=sys.stderr, flush=True)


def _client(kind: str, host: str, port: int, timeout: float) -> int:
    from . import tcp, udp

    unresolved = _unresolved(host, port, kind)
    if unresolved:
        return _fail(unresolved)
    _warn_about_server(host, port, kind)
    if kind == "tcp":
        return tcp.interactive((host, port), timeout=timeout)
    # waits of 1, 2, 4 ... seconds, none longer than --timeout
    return udp.interactive((host, port), timeout=min(timeout, 1.0), max_timeout=timeout)


def _default_port() -> tuple[int | None, str]:
    """The seed commands' default port and where it comes from, for ``--help``.

    ``None`` (and the complaint) when :data:`netlesson.sharedhost.PORT_VARIABLE`
    is set to something that is not a port: reported when a command needs it.
    """
    variable = sharedhost.PORT_VARIABLE
    try:
        port = sharedhost.port_from_environment()
    except ValueError as exc:
        return None, str(exc)
    if port is not None:
        return port, f"default {port}, from the environment variable {variable}"
    return constants.ip_port[1], (f"default {constants.ip_port[1]}, the seed's "
                                  f"(constants.ip_port); set {variable} for a port of your own")


def _add_seed_commands(sub) -> None:
    default_host = constants.ip_port[0]
    default_port, port_source = _default_port()
    port_help = (port_source if default_port is not None
                 else f"no usable default: {port_source}")
    for name, help_text in [
        ("tcp-server", "threaded TCP upper-case echo server"),
        ("tcp-client", "TCP client: sends each line of standard input, prints each reply"),
        ("udp-server", "threaded UDP upper-case echo server"),
        ("udp-client", "UDP client: sends each line as a datagram, prints each reply"),
    ]:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--host", default=default_host,
                       help=f"default {default_host}; ::1 or :: for IPv6")
        server = name.endswith("server")
        p.add_argument("--port", type=_server_port if server else _client_port,
                       default=default_port,
                       help=port_help + ("; 0 picks a free port" if server else ""))
        p.set_defaults(port_problem=None if default_port is not None else port_source)
        if name == "tcp-server":
            p.add_argument("--backlog", type=_count, default=None,
                           help=f"listen queue length (default socket.SOMAXCONN, "
                                f"{socket.SOMAXCONN}, so a whole class can connect at once; "
                                f"the seed's constants.back_log is {constants.back_log})")
        elif name == "tcp-client":
            p.add_argument("--timeout", type=_seconds, default=5.0,
                           help="seconds to wait for a reply (default 5)")
        elif name == "udp-client":
            p.add_argument("--timeout", type=_seconds, default=5.0,
                           help="longest single wait for a reply (default 5): the client "
                                "waits at most 1 s first, then resends up to 3 times with "
                                "doubling waits capped at this, then gives up")


def _seed_command(args) -> int:
    if args.port is None:  # no --port, and the environment's is unusable
        return _fail(args.port_problem)
    kind = args.command[:3]
    with _quiet_second_interrupt():
        if args.command.endswith("server"):
            return _serve(kind, args.host, args.port, getattr(args, "backlog", None))
        return _client(kind, args.host, args.port, args.timeout)


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
                   help="the instructor's exercise sources, with solutions (default instructor/exercises)")
    p.add_argument("--assignment", default=instructor.ASSIGNMENT,
                   help=f"nbgrader assignment name (default {instructor.ASSIGNMENT})")
    p.add_argument("--course-dir", default=None,
                   help="keep the nbgrader course directory here (default: temporary)")

    p = sub.add_parser("grade", help="instructors: grade collected submissions, each notebook "
                                     "in its own sandbox, into a CSV and nbgrader's gradebook")
    p.add_argument("submissions",
                   help="collected notebooks: SUBMISSIONS/<student_id>/<assignment>/<notebook>.ipynb")
    p.add_argument("--csv", default="grades.csv",
                   help="where to write the grades (default grades.csv)")
    p.add_argument("--timeout", type=int, default=instructor.DEFAULT_TIMEOUT,
                   help=f"seconds one cell may run before it is interrupted "
                        f"(default {instructor.DEFAULT_TIMEOUT})")
    p.add_argument("--source", default=None,
                   help="the instructor's exercise sources, with solutions (default instructor/exercises)")
    p.add_argument("--assignment", default=instructor.ASSIGNMENT,
                   help=f"nbgrader assignment name (default {instructor.ASSIGNMENT})")
    p.add_argument("--course-dir", default=None,
                   help="keep the nbgrader course directory (gradebook, autograded "
                        "notebooks, logs) here (default: temporary); it may hold an "
                        "earlier run, whose results are replaced")
    p.add_argument("--jobs", type=int, default=None,
                   help="notebooks graded at once (default: the number of CPUs)")
    p.add_argument("--allow-unsandboxed", action="store_true",
                   help="without bubblewrap, run student code with your rights anyway (unsafe)")


def _release(args) -> int:
    try:
        target = instructor.release(args.out, args.source, assignment=args.assignment,
                                    course_dir=args.course_dir, log=_progress)
    except (instructor.NbgraderError, FileNotFoundError) as exc:
        return _fail(exc)
    print(target)
    return 0


def _grade(args) -> int:
    from . import grading

    try:
        path = grading.grade(args.submissions, args.csv, source_dir=args.source,
                             assignment=args.assignment, course_dir=args.course_dir,
                             timeout=args.timeout, jobs=args.jobs,
                             allow_unsandboxed=args.allow_unsandboxed, log=_progress)
    except (instructor.NbgraderError, FileNotFoundError, grading.SandboxRefused) as exc:
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
        return _fail(_bind_failure(exc, "tcp"))


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
    if command in ("tcp-server", "udp-server", "tcp-client", "udp-client"):
        return _seed_command(args)
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
