"""The command line's commands and options: what ``python -m netlesson --help`` says.

:func:`netlesson.cli.build_parser` adds them to its parser (:func:`add_seed_commands`,
:func:`add_instructor_commands`, :func:`add_concurrency_commands`); :mod:`netlesson.cli`
runs what was parsed.  The argparse types here (``_port``, ``_seconds`` ...) check a
value and say in the user's terms what is wrong with it.  Every text is in the course's language
(Simplified Chinese unless ``NETLESSON_LANG=en``, see :mod:`netlesson.i18n`),
argparse's own words too (``usage:``, ``options``, its errors): they are in
netlesson's catalog, and :func:`argparse_speaks_the_course_language` lends
argparse that translation while the parser is built and used.

Kinds, works and delays of the concurrency lab are checked after parsing, with
the library's own check (``concurrency._kinds.check_options``) and reported as
usage errors, so that building this parser need not import
netlesson.concurrency (and asyncio) for every command.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import socket

from . import constants, instructor, sharedhost
from .i18n import N_
from .i18n import core as _messages

_ = _messages.gettext

__all__ = ["add_seed_commands", "add_instructor_commands", "add_concurrency_commands",
           "argparse_speaks_the_course_language"]


def _port(text: str, lowest: int = 0) -> int:
    """argparse type: a TCP/UDP port number, 0-65535 (a server may ask for 0: any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("{text} is not a port number").format(text=repr(text))) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            _("{port} is not a port: ports are 0 to 65535").format(port=port))
    if port < lowest:
        raise argparse.ArgumentTypeError(
            _("a client needs the server's real port (1 to 65535); port 0 only tells a server "
              "to let the system pick one, which the server then prints"))
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
        raise argparse.ArgumentTypeError(
            _("{text} is not a number of seconds").format(text=repr(text))) from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(
            _("{text} is not a usable timeout: give a number of seconds greater than 0 and at "
              "most 86400 (a day)").format(text=text))
    return value


def _delay(text: str) -> float:
    """argparse type: seconds of simulated work, a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("{text} is not a number of seconds").format(text=repr(text))) from None
    if not (math.isfinite(value) and 0 <= value <= 86400):
        raise argparse.ArgumentTypeError(
            _("{text} is not a usable delay: give a number of seconds from 0 to 86400 "
              "(a day)").format(text=text))
    return value


def _count(text: str) -> int:
    """argparse type: a whole number >= 1 (clients, messages, a listen backlog)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("{text} is not a whole number").format(text=repr(text))) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            _("{value} is too small: give 1 or more").format(value=value))
    return value


def _address(text: str) -> tuple[str, int]:
    """argparse type: ``HOST:PORT`` (``[::1]:PORT`` for IPv6; ``:PORT`` means 127.0.0.1)."""
    host, colon, port = text.rpartition(":")
    if not colon:
        raise argparse.ArgumentTypeError(
            _("{text} is not HOST:PORT (e.g. 127.0.0.1:8081)").format(text=repr(text)))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host or "127.0.0.1", _client_port(port))


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
        return port, _("default {port}, from the environment variable {variable}").format(
            port=port, variable=variable)
    return constants.ip_port[1], _("default {port}, the seed's (constants.ip_port); set "
                                   "{variable} for a port of your own").format(
        port=constants.ip_port[1], variable=variable)


def add_seed_commands(sub) -> None:
    default_host = constants.ip_port[0]
    default_port, port_source = _default_port()
    port_help = (port_source if default_port is not None
                 else _("no usable default: {problem}").format(problem=port_source))
    for name, help_text in [
        ("tcp-server", _("threaded TCP upper-case echo server")),
        ("tcp-client", _("TCP client: sends each line of standard input, prints each reply")),
        ("udp-server", _("threaded UDP upper-case echo server")),
        ("udp-client", _("UDP client: sends each line as a datagram, prints each reply")),
    ]:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--host", default=default_host,
                       help=_("default {host}; ::1 or :: for IPv6").format(host=default_host))
        server = name.endswith("server")
        p.add_argument("--port", type=_server_port if server else _client_port,
                       default=default_port,
                       help=(_("{default}; 0 picks a free port").format(default=port_help)
                             if server else port_help))
        p.set_defaults(port_problem=None if default_port is not None else port_source)
        if name == "tcp-server":
            p.add_argument("--backlog", type=_count, default=None,
                           help=_("listen queue length (default socket.SOMAXCONN, {somaxconn}, "
                                  "so a whole class can connect at once; the seed's "
                                  "constants.back_log is {back_log})").format(
                               somaxconn=socket.SOMAXCONN, back_log=constants.back_log))
        elif name == "tcp-client":
            p.add_argument("--timeout", type=_seconds, default=5.0,
                           help=_("seconds to wait for a reply (default 5)"))
        elif name == "udp-client":
            p.add_argument("--timeout", type=_seconds, default=5.0,
                           help=_("longest single wait for a reply (default 5): the client "
                                  "waits at most 1 s first, then resends up to 3 times with "
                                  "doubling waits capped at this, then gives up"))


def add_instructor_commands(sub) -> None:
    source_help = _("the instructor's exercise sources, with solutions (default "
                    "instructor/exercises)")
    assignment_help = _("nbgrader assignment name (default {assignment})").format(
        assignment=instructor.ASSIGNMENT)
    p = sub.add_parser("release",
                       help=_("instructors: write student versions of the exercises (nbgrader)"))
    p.add_argument("--out", required=True,
                   help=_("directory for the student notebooks (written to OUT/<assignment>/)"))
    p.add_argument("--source", default=None, help=source_help)
    p.add_argument("--assignment", default=instructor.ASSIGNMENT, help=assignment_help)
    p.add_argument("--course-dir", default=None,
                   help=_("keep the nbgrader course directory here (default: temporary)"))

    p = sub.add_parser("grade", help=_("instructors: grade collected submissions, each notebook "
                                       "in its own sandbox, into a CSV and nbgrader's gradebook"))
    p.add_argument("submissions",
                   help=_("collected notebooks: "
                          "SUBMISSIONS/<student_id>/<assignment>/<notebook>.ipynb"))
    p.add_argument("--csv", default="grades.csv",
                   help=_("where to write the grades (default grades.csv)"))
    p.add_argument("--timeout", type=int, default=instructor.DEFAULT_TIMEOUT,
                   help=_("seconds one cell may run before it is interrupted "
                          "(default {seconds})").format(seconds=instructor.DEFAULT_TIMEOUT))
    p.add_argument("--source", default=None, help=source_help)
    p.add_argument("--assignment", default=instructor.ASSIGNMENT, help=assignment_help)
    p.add_argument("--course-dir", default=None,
                   help=_("keep the nbgrader course directory (gradebook, autograded "
                          "notebooks, logs) here (default: temporary); it may hold an "
                          "earlier run, whose results are replaced"))
    p.add_argument("--jobs", type=int, default=None,
                   help=_("notebooks graded at once (default: the number of CPUs)"))
    p.add_argument("--allow-unsandboxed", action="store_true",
                   help=_("without bubblewrap, run student code with your rights anyway "
                          "(unsafe)"))



_CONCURRENCY_HELP = N_("the concurrency lab's server process (notebook 07): one echo server "
                       "of KIND; prints its port, serves until standard input ends")
_KINDS_HELP = N_("single, threading, forking or asyncio (the models), or seed or netlesson "
                 "(the benchmark's servers): netlesson.concurrency.KINDS")
_WORK_HELP = N_("how the work is simulated: sleep (waiting, the default) or cpu (a busy loop, "
                "which holds the GIL)")


def add_concurrency_commands(sub) -> None:
    p = sub.add_parser("concurrency-server", help=_(_CONCURRENCY_HELP),
                       description=_("{purpose}.  Started by "
                                     "netlesson.concurrency.start_server(); may be run by hand "
                                     "too.").format(purpose=_(_CONCURRENCY_HELP)))
    p.add_argument("kind", metavar="KIND", help=_(_KINDS_HELP))
    p.add_argument("--host", default="127.0.0.1",
                   help=_("default {host}").format(host="127.0.0.1"))
    p.add_argument("--port", type=_server_port, default=0, help=_("default 0: any free port"))
    p.add_argument("--delay", type=_delay, default=0.0,
                   help=_("simulated work per message, seconds (default 0; model kinds only)"))
    p.add_argument("--work", default="sleep", help=_(_WORK_HELP))
    p.add_argument("--backlog", type=_count, default=None,
                   help=_("listen queue length (default: concurrency.DEFAULT_BACKLOG for the "
                          "models, the server class's own for seed and netlesson)"))
    p.add_argument("--forever", action="store_true",
                   help=_("do not stop at end of standard input (Ctrl-C stops it)"))
    p.set_defaults(usage_error=p.error)

    help_text = _("N concurrent clients x M messages against an echo server at HOST:PORT")
    p = sub.add_parser("concurrency-measure", help=help_text,
                       description=_("{purpose}.").format(purpose=help_text))
    p.add_argument("address", metavar="HOST:PORT", type=_address,
                   help=_("the server, e.g. the port concurrency-server printed: "
                          "127.0.0.1:PORT"))
    p.add_argument("--clients", type=_count, default=8,
                   help=_("concurrent clients (default 8)"))
    p.add_argument("--messages", type=_count, default=100,
                   help=_("round trips per client (default {count})").format(count=100))
    p.add_argument("--no-warmup", dest="warmup", action="store_false",
                   help=_("connect every client before the first message (needed for a server "
                          "that serves one client at a time, such as single)"))
    p.set_defaults(usage_error=p.error)

    help_text = _("start each kind in turn, measure it at several client counts, print a table")
    p = sub.add_parser("concurrency-compare", help=help_text,
                       description=_("{purpose}.").format(purpose=help_text))
    p.add_argument("--kinds", nargs="+", metavar="KIND", default=None,
                   help=_("default: the four models; {kinds}").format(kinds=_(_KINDS_HELP)))
    p.add_argument("--clients", type=_count, nargs="+", default=[1, 8, 32],
                   help=_("client counts (default 1 8 32)"))
    p.add_argument("--messages", type=_count, default=5,
                   help=_("round trips per client (default {count})").format(count=5))
    p.add_argument("--delay", type=_delay, default=None,
                   help=_("simulated work per message, seconds (default 0.01 when every kind "
                          "is a model, else 0: seed and netlesson take none)"))
    p.add_argument("--work", default="sleep", help=_(_WORK_HELP))
    p.set_defaults(usage_error=p.error)


#: argparse's own words (Python 3.11-3.13), translated in netlesson's catalog.  argparse asks
#: gettext's global domain for them; :func:`argparse_speaks_the_course_language` lends it ours.
_ARGPARSE_TEXTS = (
    N_("usage: "), N_("positional arguments"), N_("options"),
    N_("show this help message and exit"), N_("%(prog)s: error: %(message)s\n"),
    N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("argument %(argument_name)s: %(message)s"), N_("expected one argument"),
    N_("expected at least one argument"), N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("not allowed with argument %s"), N_("ignored explicit argument %r"),
)


@contextlib.contextmanager
def argparse_speaks_the_course_language():
    """argparse's own texts (``usage:``, ``options``, its errors) in netlesson's language.

    argparse translates through the module-level ``_`` and ``ngettext`` it imported
    from :mod:`gettext`; for the time of the block they are netlesson's, and then
    argparse's own again, so nothing else in the process is changed.
    """
    saved = argparse._, argparse.ngettext
    argparse._, argparse.ngettext = _messages.gettext, _messages.ngettext
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved
