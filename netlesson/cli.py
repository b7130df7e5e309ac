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

Every message is in the course's language (Simplified Chinese unless
``NETLESSON_LANG=en``, see :mod:`netlesson.i18n`), the help and argparse's own
words too (the commands' options and help are in :mod:`netlesson._cli_options`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading

from . import _cli_options, instructor, sharedhost
from .errors import AddressNotAvailable, PortInUseError, PortNotAllowed, format_address
from .i18n import N_
from .i18n import core as _messages

_ = _messages.gettext

__all__ = ["main", "build_parser"]


def _fail(message) -> int:
    print(_("error: {message}").format(message=message), file=sys.stderr)
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
        # put the previous handler back only if nothing inside replaced ours: a server's
        # _signals_stop_the_server() that has fired leaves SIGINT ignored on the way out,
        # and undoing that would let a late second Ctrl-C raise at exit
        if not fired and signal.getsignal(signal.SIGINT) is interrupt:
            signal.signal(signal.SIGINT, previous)


def _unresolved(host: str, port: int, kind: str) -> str | None:
    """Why *host* cannot be used (it does not resolve), or ``None`` when it can."""
    if not host:  # bind every interface
        return None
    kind_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    try:
        socket.getaddrinfo(host, port, type=kind_type)
    except socket.gaierror as exc:
        return _("cannot resolve host {host} ({reason}) — check its spelling, or pass "
                 "--host 127.0.0.1 (this machine) or --host ::1 (this machine, "
                 "IPv6)").format(host=repr(host), reason=exc.strerror)
    return None


@contextlib.contextmanager
def _signals_stop_the_server():
    """Ctrl-C (SIGINT) and SIGTERM (``kill PID``, a service manager) both stop a server.

    The first of them raises ``KeyboardInterrupt`` in the serving thread; any later one
    is ignored, so the stop -- writing the lines not yet on the terminal, a pipe or a
    file -- is not cut short.  By default SIGTERM would end the process at once, and
    those lines with it.  Signals are handled in the main thread only: elsewhere this
    does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = (signal.SIGINT, signal.SIGTERM)
    fired = []

    def stop(signum, frame):
        for each in stops:
            signal.signal(each, signal.SIG_IGN)
        fired.append(signum)
        raise KeyboardInterrupt

    previous = {each: signal.signal(each, stop) for each in stops}
    try:
        yield
    finally:
        if not fired:  # once one has come the process is on its way out: they stay ignored
            for each, handler in previous.items():
                signal.signal(each, handler)


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
    with _signals_stop_the_server():
        with server:
            print(_("{protocol} upper-case echo server on {address} ({server_class}); Ctrl-C "
                    "to stop").format(protocol=kind.upper(),
                                      address=format_address(server.server_address),
                                      server_class=type(server).__name__), flush=True)
            try:
                server.serve_forever()
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM
                log.flush_echo()  # the records before it, then this line
                sys.stdout.write("\n" + _("stopping") + "\n")
            finally:
                server.close_open_requests()  # their handlers end: "closed" records follow
                server.join_handlers()  # daemon threads: server_close() does not wait for them
        # every record is in: to the terminal, pipe or file before exit; and the log's
        # timer threads have ended, so no thread but this one is left while Python exits
        log.close_echo()
    return 0


def _bind_failure(exc: OSError, kind: str = "tcp") -> str:
    """Why a server could not bind, from the error's attributes, with the options that help."""
    if isinstance(exc, PortInUseError):
        return _in_use(exc.address, sharedhost.port_holders(exc.address, kind))
    if isinstance(exc, PortNotAllowed):
        return _("not allowed to bind {address}: ports below 1024 need administrator rights — "
                 "pass --port 1024 or higher, or --port 0 to let the system pick a free "
                 "port").format(address=format_address(exc.address))
    if isinstance(exc, AddressNotAvailable):
        return _("cannot bind {address}: this machine has no such address — pass --host "
                 "127.0.0.1 (this machine only) or --host 0.0.0.0 (every "
                 "interface)").format(address=format_address(exc.address))
    return str(exc)  # says nothing about attributes: the same text fits a terminal


_OWN_PORT = N_("pass --port 0 to let the system pick a free port, or give yourself a port of "
               "your own in both terminals (export {variable}=PORT)")


def _own_port() -> str:
    return _(_OWN_PORT).format(variable=sharedhost.PORT_VARIABLE)


def _in_use(address, holders) -> str:
    """A busy port, worded from who holds it (:func:`netlesson.sharedhost.port_holders`)."""
    where = format_address(address)
    hub = next((h for h in holders if h.jupyterhub), None)
    if hub is not None:
        return _("{address} is in use by JupyterHub ({holder}; its API listens on "
                 "127.0.0.1:8081 by default, and it is not yours to stop) — {advice}").format(
            address=where, holder=_whose(hub), advice=_own_port())
    theirs = next((h for h in holders if not h.mine), None)
    if theirs is not None:
        return _("{address} is in use by another user ({holder}): on a shared machine every "
                 "user's servers share one loopback — {advice}").format(
            address=where, holder=_whose(theirs), advice=_own_port())
    if holders:
        pid = holders[0].pid
        if pid is None:
            text = _("{address} is in use by another process of yours — stop it (Ctrl-C in its "
                     "terminal) or {advice}")
        elif pid == os.getpid():
            text = _("{address} is in use by this very process ({pid}) — stop it (Ctrl-C in "
                     "its terminal) or {advice}")
        else:
            text = _("{address} is in use by your own process {pid} ({command}) — stop it "
                     "(Ctrl-C in its terminal) or {advice}")
        return text.format(address=where, pid=pid, command=_short(holders[0].command),
                           advice=_own_port())
    return _("{address} is in use — stop the other server (Ctrl-C in its terminal) or "
             "{advice}").format(address=where, advice=_own_port())


def _whose(holder) -> str:
    """``user alice, uid 1001`` and, when visible, ``process 42: jupyterhub ...``."""
    if holder.user:
        who = _("user {user}, uid {uid}").format(user=holder.user, uid=holder.uid)
    else:
        who = _("uid {uid}").format(uid=holder.uid)
    if holder.pid is not None:
        who += _(", process {pid}: {command}").format(pid=holder.pid,
                                                     command=_short(holder.command))
    return who


def _short(command: str | None, limit: int = 60) -> str:
    """A command line for one line of text: the program's base name, at most *limit* chars."""
    if not command:
        return _("command unknown")
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
        print(_("warning: {address} is JupyterHub's ({holder}), not an echo server: your lines "
                "would go to the hub — start your own server (tcp-server --port 0) and pass the "
                "port it prints with --port, or set {variable}").format(
                  address=where, holder=_whose(holder), variable=sharedhost.PORT_VARIABLE),
              file=sys.stderr, flush=True)
        return
    print(_("warning: the server at {address} belongs to another user ({holder}): your lines "
            "go to their server — start your own ({kind}-server --port 0, then --port PORT "
            "here), or set {variable} to a port of your own in both terminals").format(
              address=where, holder=_whose(holder), kind=kind,
              variable=sharedhost.PORT_VARIABLE), file=sys.stderr, flush=True)


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
        return _fail(_("{address} is not an upper-case echo server: sent {sent}, expected "
                       "{expected}, got {reply}").format(
            address=where, sent=repr(exc.sent), expected=repr(exc.expected),
            reply=repr(exc.reply)))
    except NoReply as exc:
        if args.warmup and args.clients > 1 and exc.done == 0:
            text = _("{address} sent no reply for {timeout} s, after {done} of {total} round "
                     "trips: the server is stuck or too slow; a server that serves one client "
                     "at a time (single) answers no second client until the first leaves: "
                     "pass --no-warmup")
        else:
            text = _("{address} sent no reply for {timeout} s, after {done} of {total} round "
                     "trips: the server is stuck or too slow")
        return _fail(text.format(address=where, timeout=f"{exc.timeout:g}", done=exc.done,
                                 total=exc.total))
    except ConnectionRefusedError:
        return _fail(_("nothing is listening on {address} — start a server first (e.g. python "
                       "-m netlesson concurrency-server threading, which prints its port) or "
                       "check host and port").format(address=where))
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
    """The parser of ``python -m netlesson``, its help in the course's language."""
    with _cli_options.argparse_speaks_the_course_language():
        parser = argparse.ArgumentParser(
            prog="netlesson",
            description=_("socketserver course tools: the seed's servers and clients, diagrams, "
                          "the instructors' nbgrader workflow, and the concurrency lab's server "
                          "and measurements."),
        )
        sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
        _cli_options.add_seed_commands(sub)
        p = sub.add_parser("diagrams",
                           help=_("write every class and call-flow diagram as .dot and .svg"))
        p.add_argument("--out", default="pics", help=_("output directory (default pics)"))
        _cli_options.add_instructor_commands(sub)
        _cli_options.add_concurrency_commands(sub)
    return parser


def main(argv=None) -> int:
    with _cli_options.argparse_speaks_the_course_language():
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
