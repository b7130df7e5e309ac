"""Checkers for the exercise notebooks: run a student's code for real, explain what is wrong.

Every exercise in ``notebooks/exercises/`` ends with a test cell that calls one
checker with the student's class or function.  The checker does what a user
of that code would do -- it starts a real server on loopback port 0 with the
student's handler, or points the student's client at a real server that
drops, delays or interleaves datagrams -- and compares what comes back with
what should.  When something is wrong it raises ``AssertionError`` with a
message in the student's terms: what was sent, what came back, why that
happens and what to change.  ``AssertionError`` is what nbgrader counts as a
failed test cell, so the same call grades the notebook.

The explanations are in Simplified Chinese, the course's language, unless
``NETLESSON_LANG=en`` asks for English (:mod:`netlesson.i18n`; the messages are
the gettext domain ``netlesson_checkers``, translated in
``netlesson/locale/zh_CN/LC_MESSAGES/netlesson_checkers.po``).  What the
student's code sent or returned, code and names stay as they are, in ``repr``.

Promises every checker keeps, because a test cell runs in a student's kernel:

* **It never hangs.**  Every socket has a timeout, and student code runs in
  a worker thread that is given a deadline -- their functions, and the
  constructor of their server class too (an ``__init__`` that calls
  ``self.serve_forever()`` never returns).  A call that misses it is reported
  ("did not return within 3 s ...") and, where possible, unblocked (its socket
  is closed or sent a datagram, its ``serve_forever`` shut down) so the thread
  ends.
* **It stops every server it starts**, also when the check fails: servers run
  with the course's launcher (:func:`netlesson.background.start`) and stop
  with its bounded stop sequence (:func:`netlesson.classroom.stop_serving`),
  which also ends the connections those servers still hold.
* **Prints from other threads are held back.**  A student's handler that calls
  ``print`` runs in a server thread; in Jupyter such output lands in whatever
  cell happens to be running.  While a check runs, output written by any
  thread other than the checking one is collected instead and quoted in the
  failure message (it often explains the failure).
* **It listens only to its own clients.**  On a shared host (a JupyterHub
  node) anyone can connect to a check server's loopback port or send it a
  datagram.  The check servers serve only peers that are sockets of this very
  process -- the checker's clients and the student's client under test -- and
  drop everything else before the student's code sees it (``_peers``), so
  another user cannot make a correct answer fail.  Exercise 8 hands the
  student's own loop a bare listening socket instead; it listens on a
  loopback address of its own (127.x.y.z, where the system has them), out of
  the way of programs that connect to 127.0.0.1.
* **It reports the student's exception.**  An exception raised in a handler
  thread would otherwise go to ``handle_error`` and be printed to stderr; the
  check servers record it and the message names it with its line.

One private module per exercise notebook, and the harness they share
(``_harness``: student code under a deadline, check servers; ``_wire``:
socket helpers; ``_peers``: which clients are this process's own)::

    ex01  check_line_handler, check_line_handler_stream      _ex01_line_echo
    ex02  check_udp_request, check_udp_request_retries       _ex02_udp_retry
    ex03  check_mro_answers (MRO_QUESTIONS)                  _ex03_mro_supplier
    ex04  check_recvall, check_length_prefix                 _ex04_framing
    ex05  check_verify_request, check_allow_list_server      _ex05_allow_list
    ex06  check_visitor_greeting, check_visitor_counter      _ex06_visitor_counter
    ex07  check_kv_protocol, check_kv_allow_list,            _ex07_line_protocol
          check_kv_concurrency
    ex08  check_selectors_echo, check_selectors_echo_robust  _ex08_selectors_echo
"""

from ._ex01_line_echo import check_line_handler, check_line_handler_stream
from ._ex02_udp_retry import check_udp_request, check_udp_request_retries
from ._ex03_mro_supplier import MRO_QUESTIONS, check_mro_answers
from ._ex04_framing import check_length_prefix, check_recvall
from ._ex05_allow_list import check_allow_list_server, check_verify_request
from ._ex06_visitor_counter import check_visitor_counter, check_visitor_greeting
from ._ex07_line_protocol import check_kv_allow_list, check_kv_concurrency, check_kv_protocol
from ._ex08_selectors_echo import check_selectors_echo, check_selectors_echo_robust

__all__ = [
    "check_line_handler",
    "check_line_handler_stream",
    "check_udp_request",
    "check_udp_request_retries",
    "MRO_QUESTIONS",
    "check_mro_answers",
    "check_recvall",
    "check_length_prefix",
    "check_verify_request",
    "check_allow_list_server",
    "check_visitor_greeting",
    "check_visitor_counter",
    "check_kv_protocol",
    "check_kv_allow_list",
    "check_kv_concurrency",
    "check_selectors_echo",
    "check_selectors_echo_robust",
]
