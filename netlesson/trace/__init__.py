"""Trace one real request through ``socketserver``: which method runs, in which thread, when.

The seed course walks through ``socketserver.py`` with screenshots and arrows:
``serve_forever`` calls ``_handle_request_noblock``, which calls ``get_request`` ...
This module *proves* that walk on the Python that runs it.  :func:`trace_tcp` and
:func:`trace_udp` build a real server on ``127.0.0.1`` (port 0), serve it in a
background thread, send it one real request from a real client socket, and record --
with a profiler hook (:func:`sys.setprofile` / :func:`threading.setprofile`) -- every
call into ``socketserver`` and into the server's and handler's own classes::

    >>> t = trace_tcp(b"hello")                                  # doctest: +SKIP
    >>> t.order(phase="construct")                               # doctest: +SKIP
    ['TCPServer.__init__', 'BaseServer.__init__', 'TCPServer.server_bind', 'TCPServer.server_activate']

What is recorded, and why
-------------------------
* **Only methods of the classes involved.**  Before the request, the code objects of
  every function defined in ``socketserver`` (its classes' methods, including private
  helpers such as ``_Threads.append``) and of every method of the server's and
  handler's classes (their whole MRO, e.g. ``ClassroomServerMixIn.serve_forever`` or
  a student's ``handle``) are collected.  The hook records a frame only if its code
  object is one of those.  ``threading``, ``selectors`` and ``socket`` internals, the
  client, and module-level helpers such as ``netlesson.classroom.peer_log`` are left
  out: they are how the steps are done, not the steps.
* **The class that really defines each method** (``defining_class``): for each
  recorded call the instance's ``type(self).__mro__`` is walked to find the class whose
  ``__dict__`` holds a function with *this frame's code object* -- the same search
  Python's attribute lookup did a moment earlier.  Guessing from ``__qualname__`` would
  go wrong for functions copied between classes; matching code objects cannot.
* **Per thread, with stable labels.**  ``main`` is the thread that called
  ``trace_tcp`` (construction happens there), ``serve_forever`` is the serving thread,
  ``handler`` is the thread ``ThreadingMixIn.process_request`` starts (``handler 1``,
  ``handler 2`` ... if there were several).  Thread idents, ports and addresses never
  appear in the text, so a notebook's stored output stays the same from run to run.
  A thread is only traced if it is the serving thread or if its first recorded call
  receives *this* server as ``self``; another server that happens to be running in
  the same notebook is not mixed in.
* **Helpers are kept.**  ``BaseServer.service_actions`` (once per loop iteration),
  ``TCPServer.fileno`` (the selector asks for it), ``_Threads.append``/``reap`` or
  ``_NoThreads.append`` (the mixin's bookkeeping of handler threads) and ``super()``
  calls such as ``BaseRequestHandler.setup`` under a handler's own ``setup`` are real
  calls and stay in :attr:`Trace.calls`.  :meth:`Trace.order` with
  ``main_path=True`` keeps only the steps of the request path (:data:`MAIN_PATH`).
* **A causal order that does not change.**  The serving thread and the handler
  thread run at the same time, so the real interleaving differs from run to run.
  :attr:`Trace.calls` puts each thread's calls in the order that thread made them,
  and a started thread as one block right after the call that started it
  (:meth:`Trace.started_by`); :meth:`Trace.timeline` keeps the real interleaving.

The serving loop is given a long ``poll_interval`` and is stopped by waking it
(:func:`netlesson.classroom.request_shutdown`), so it never times out in the middle
of a trace: the recorded calls, and their text, are the same on every run of the same
Python (line numbers differ between Python versions, and the text says which version
it is).

The hooks are removed in a ``finally``: after a trace -- successful or not --
``sys.getprofile()`` and ``threading.getprofile()`` are what they were before.  A
thread started while the trace ran got the hook from :func:`threading.setprofile`
(restoring it only affects threads started later): the trace's own handler thread,
but also, say, a handler thread of another background server in the same notebook.
Such a thread takes the hook off itself at its next call after the trace, putting
back the profiler it would have had, so it neither runs slowed down for the rest
of its life nor keeps the trace's recorder and closed server alive.

The server is stopped with :func:`netlesson.classroom.stop_serving`, and every wait
-- the client's, the wait for the handler, the stop -- shares one deadline:
*timeout* seconds from the request, plus at most one second to
stop the server if the request used them all.  Normally every thread has ended by
then.  A handler that never returns cannot be ended from outside: then
``server_close()`` is still attempted (in a helper thread, because it would wait
for that handler), the listening socket is closed so the port is free, and the
:class:`TraceError` names the threads that were still running.

The package, by job: ``_recorder`` (the profiler hook, and turning what it saw into
:class:`Call` records in causal order), ``_result`` (:class:`Call`, :class:`Trace`
and their text, HTML and diagram displays), ``_clients`` (the real TCP and UDP
client of the traced request) and ``_runner`` (building, serving and stopping the
server around the request: :func:`trace_tcp`, :func:`trace_udp`).
"""

from ._result import MAIN_PATH, Call, Trace, TraceError, TraceExcerpt
from ._runner import trace_tcp, trace_udp

__all__ = [
    "Call",
    "Trace",
    "TraceError",
    "TraceExcerpt",
    "MAIN_PATH",
    "trace_tcp",
    "trace_udp",
]
