"""netlesson.widgets driven from Python, the way a student's clicks drive them.

The echo console talks to real servers on loopback port 0 (fixtures from
conftest.py stop them even when a test fails); the MRO explorer's answers are
checked against Python's own attribute lookup.
"""

import asyncio
import inspect
import socket
import socketserver
import sys
import time

import pytest

from netlesson import background, diagrams, source, tcp, widgets


def _frontend_submit(text_widget):
    """Deliver the custom message the Text view sends when Enter is pressed."""
    text_widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": {"event": "submit"}}}, "buffers": []}
    )


def _frontend_confirms(console):
    """Do what the front end's ``jsdlink`` does: copy the request number into the reply.

    In JupyterLab this update reaches the kernel after every value of the text
    box typed before the click; here the test decides what arrived before it.
    """
    console.confirm_reply.value = console.confirm_request.value


# ---------------------------------------------------------------------------
# Echo console
# ---------------------------------------------------------------------------


def test_echo_console_click_shows_upper_cased_reply_and_server_log(tcp_server):
    console = widgets.echo_console(tcp_server)
    console.text.value = "hello, world"
    console.send_button.click()
    _frontend_confirms(console)
    assert console.last_error is None
    assert console.last_reply == "HELLO, WORLD"
    assert "HELLO, WORLD" in console.reply.value
    assert "error" not in console.reply.value
    # the handler's lines for this very request, read from the main thread
    assert any("received b'hello, world'" in line for line in console.log_lines)
    assert any(line.startswith("connected: ") for line in console.log_lines)
    assert any(line.startswith("closed: ") for line in console.log_lines)
    assert "received b&#x27;hello, world&#x27;" in console.log_output.value
    assert console.text.value == "", "a sent message is cleared from the box"
    assert console.log_complete, "the handler's closing line was waited for"
    assert "netlesson-echo-unconfirmed" not in console.reply._dom_classes


def test_echo_console_click_waits_for_the_last_keystrokes_to_arrive(tcp_server):
    """The click can overtake the box's last value update; the confirmation cannot."""
    console = widgets.echo_console(tcp_server)
    console.text.value = "MESSAGE NUMBER 17958"      # what had arrived at the click
    console.send_button.click()
    assert console.waiting
    assert console.history == [], "nothing is sent before the front end confirms"
    assert not tcp_server.log.select("received")
    console.text.value = "MESSAGE NUMBER 1795851712.36 typed fast"   # the held-back update
    _frontend_confirms(console)
    assert not console.waiting
    assert console.history == [("MESSAGE NUMBER 1795851712.36 typed fast",
                                 "MESSAGE NUMBER 1795851712.36 TYPED FAST", None)]


def test_echo_console_enter_waits_for_the_value_that_follows_it(tcp_server):
    """Chromium reports the edit after Enter's own handlers: the value comes second."""
    console = widgets.echo_console(tcp_server)
    _frontend_submit(console.text)          # Enter, while the kernel still has ""
    assert console.waiting and console.history == []
    console.text.value = "enter key"        # the box's value, sent right after
    _frontend_confirms(console)
    assert console.last_reply == "ENTER KEY"
    assert console.history == [("enter key", "ENTER KEY", None)]


def test_echo_console_unchanged_text_is_sent_again(tcp_server):
    """No value update follows a click when the box did not change: the confirmation still comes."""
    console = widgets.echo_console(tcp_server)
    console.text.value = "same text"
    console.send_button.click()
    _frontend_confirms(console)
    console.text.value = "same text"        # typed again: the front end sends nothing new
    console.send_button.click()
    _frontend_confirms(console)
    assert [entry[1] for entry in console.history] == ["SAME TEXT", "SAME TEXT"]


def test_echo_console_double_click_sends_once_after_the_newest_confirmation(tcp_server):
    console = widgets.echo_console(tcp_server)
    console.text.value = "hello"
    console.send_button.click()
    _frontend_submit(console.text)
    assert console.confirm_request.value == 2
    console.confirm_reply.value = 1         # the first click's confirmation: overtaken
    assert console.waiting and console.history == []
    console.confirm_reply.value = 2
    assert console.history == [("hello", "HELLO", None)]
    assert not console.waiting


def test_echo_console_confirmation_without_a_request_sends_nothing(tcp_server):
    """A reloaded page copies the current number once; that is no click."""
    console = widgets.echo_console(tcp_server)
    console.text.value = "not clicked"
    console.confirm_request.value = 5
    _frontend_confirms(console)
    assert console.history == []


def test_echo_console_confirmation_is_wired_as_a_front_end_link(tcp_server):
    console = widgets.echo_console(tcp_server)
    assert console.confirm_link.source == (console.confirm_request, "value")
    assert console.confirm_link.target == (console.confirm_reply, "value")
    assert console.confirm_link._model_name == "DirectionalLinkModel"
    # one value update per message, sent when Enter is pressed or the box loses focus
    assert console.text.continuous_update is False


def test_echo_console_sends_unconfirmed_after_timeout_on_the_event_loop(tcp_server):
    """A front end that never confirms (no link support) still gets its message sent."""
    console = widgets.echo_console(tcp_server, confirm_timeout=0.05)

    async def click_and_wait():
        console.text.value = "no confirmation"
        console.send_button.click()
        assert console.waiting
        await asyncio.sleep(0.5)

    asyncio.run(click_and_wait())
    assert console.history == [("no confirmation", "NO CONFIRMATION", None)]
    assert console.unconfirmed_sends == 1
    assert "netlesson-echo-unconfirmed" in console.reply._dom_classes
    _frontend_confirms(console)             # arrives late: sends nothing more
    assert len(console.history) == 1
    assert console.send("direct") == "DIRECT"
    assert "netlesson-echo-unconfirmed" not in console.reply._dom_classes


def test_echo_console_confirmation_cancels_the_timeout(tcp_server):
    console = widgets.echo_console(tcp_server, confirm_timeout=0.05)

    async def click_confirm_and_wait():
        console.text.value = "confirmed"
        console.send_button.click()
        _frontend_confirms(console)
        await asyncio.sleep(0.3)

    asyncio.run(click_confirm_and_wait())
    assert console.history == [("confirmed", "CONFIRMED", None)]
    assert console.unconfirmed_sends == 0


def test_echo_console_send_method_chinese_and_long_message(tcp_server):
    console = widgets.EchoConsole(tcp_server)
    assert console.send("你好 abc") == "你好 ABC"
    long_message = "xyz" * 1000  # 3000 bytes: more than one recv(1024) on each side
    assert console.send(long_message) == long_message.upper()
    # the server read it in several recv() calls; the closing line adds them up
    assert any(line.startswith("closed: ") and "3000 bytes)" in line for line in console.log_lines)
    assert sum(line.startswith("received ") for line in console.log_lines) >= 1 + 3


def test_echo_console_log_keeps_only_new_lines_in_order(tcp_server):
    tcp_server.log("written before the console existed")
    console = widgets.echo_console(tcp_server)
    console.send("one")
    console.send("two")
    assert "written before the console existed" not in console.log_lines
    received = [line for line in console.log_lines if line.startswith("received")]
    assert [line.split()[1] for line in received] == ["b'one'", "b'two'"]


class _SlowToCloseHandler(tcp.UpperEchoHandler):
    """Records ``"closed"`` a while after the client hung up, as a busy server may."""

    def finish(self):
        time.sleep(0.3)
        super().finish()


class _FixedPortClient(tcp.TCPEchoClient):
    """A TCP client that connects from a chosen local port, as a reused ephemeral port does."""

    def __init__(self, address, local_port, **kwargs):
        super().__init__(address, **kwargs)
        self.local_port = local_port

    def connect(self):
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=self.timeout,
                                                 source_address=("127.0.0.1", self.local_port))
        return self


def test_echo_console_waits_for_this_requests_closing_line_not_an_older_one():
    """An earlier connection from the same client port left a matching ``"closed"`` record.

    Only records written after the message was sent may end the wait; otherwise the
    console shows the log before this connection's own ``"closed"`` record is in.
    """
    with socket.socket() as probe:   # a local port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    srv = background.start_tcp("test-widgets-slow-close", handler=_SlowToCloseHandler)
    try:
        srv.log.record("closed", ("127.0.0.1", local_port), messages=3, nbytes=30)  # old peer
        console = widgets.echo_console(srv, log_wait=2.0)
        console._client = lambda: _FixedPortClient(console.address, local_port,
                                                   timeout=console.timeout)
        assert console.send("reused port") == "REUSED PORT"
        assert console.log_complete
        assert f"closed: 127.0.0.1:{local_port} (1 recv, 11 bytes)" in console.log_lines
        assert f"closed: 127.0.0.1:{local_port} (3 recv, 30 bytes)" not in console.log_lines
    finally:
        srv.stop()


def test_echo_console_udp_click_shows_reply_and_log(udp_server):
    console = widgets.echo_console(udp_server)
    assert console.kind == "udp"
    console.text.value = "datagram"
    console.send_button.click()
    _frontend_confirms(console)
    assert console.last_reply == "DATAGRAM"
    assert any("received b'datagram'" in line for line in console.log_lines)
    # the UDP client's socket calls itself 0.0.0.0; its line is still recognised
    assert console.log_complete


def test_echo_console_stopped_tcp_server_says_which_cell_to_run_again(tcp_server):
    console = widgets.echo_console(tcp_server)
    assert console.send("first") == "FIRST"
    tcp_server.stop()
    console.text.value = "after stop"
    console.send_button.click()  # must not raise
    _frontend_confirms(console)
    assert console.last_reply is None
    assert console.last_error == (
        f"server {tcp_server.name!r} is stopped, so nothing answers on 127.0.0.1:{tcp_server.port}"
        f" — run the cell with background.start_tcp({tcp_server.name!r}) again, then send "
        f"again: this console finds the restarted server by its name")
    assert "Traceback" not in console.reply.value
    assert "error: &#x27;after stop&#x27; was not echoed: server" in console.reply.value
    assert "netlesson-echo-error" in console.reply._dom_classes
    assert console.text.value == "after stop", "a message that failed stays in the box"


def test_echo_console_follows_its_server_restarted_under_the_same_name(tcp_server):
    console = widgets.echo_console(tcp_server)
    old_port = tcp_server.port
    tcp_server.stop()
    console.text.value = "are you back?"
    console.send_button.click()
    _frontend_confirms(console)
    assert "is stopped" in console.last_error
    restarted = background.start_tcp(tcp_server.name)   # the student re-runs the cell
    try:
        # the box did not change, so no value update comes: Send again is enough
        console.send_button.click()
        _frontend_confirms(console)
        assert console.last_error is None
        assert console.last_reply == "ARE YOU BACK?"
        assert console.handle is restarted
        assert console.address == restarted.address
        assert f"127.0.0.1:{restarted.port}" in console.title.value
        if restarted.port != old_port:
            assert f":{old_port}" not in console.title.value
        assert any("received b'are you back?'" in line for line in console.log_lines)
        assert "netlesson-echo-error" not in console.reply._dom_classes
    finally:
        restarted.stop()


def test_echo_console_stopped_udp_server_says_which_cell_to_run_again(udp_server):
    console = widgets.echo_console(udp_server, udp_timeout=0.05, udp_retries=1)
    udp_server.stop()
    assert console.send("anyone?") is None
    assert f"background.start_udp({udp_server.name!r})" in console.last_error
    assert "netlesson-echo-error" in console.reply._dom_classes


def test_echo_console_made_from_an_address_does_not_follow_a_restart(tcp_server):
    console = widgets.echo_console(tcp_server.address, "tcp", timeout=1.0)
    assert console.handle is tcp_server and not console.follows_name
    tcp_server.stop()
    with socket.socket() as holder:   # the restarted server cannot get the old port back
        holder.bind(tcp_server.address)
        restarted = background.start_tcp(tcp_server.name)
    try:
        assert console.send("still there?") is None
        assert console.address == tcp_server.address, "the given address is kept"
        assert console.last_error.endswith(
            "then make a new console for the new server (a restarted server gets a new port)")
    finally:
        restarted.stop()


def test_echo_console_made_from_an_address_finds_a_new_server_at_that_address(tcp_server):
    console = widgets.echo_console(tcp_server.address, "tcp", timeout=1.0)
    tcp_server.stop()
    again = background.start_tcp(tcp_server.name, port=tcp_server.port)
    try:
        assert console.send("same port") == "SAME PORT"
        assert console.handle is again
        assert any("received b'same port'" in line for line in console.log_lines)
    finally:
        again.stop()


def test_echo_console_address_without_server_explains_nothing_listens():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()
    console = widgets.echo_console(address, timeout=1.0)
    assert console.handle is None
    assert console.send("hello") is None
    assert "nothing is listening on" in console.last_error
    assert "no server log" in console.log_output.value


def test_echo_console_address_of_background_server_finds_its_log(tcp_server):
    console = widgets.echo_console(tcp_server.address, "tcp")
    assert console.handle is tcp_server
    assert console.send("by address") == "BY ADDRESS"
    assert any("received b'by address'" in line for line in console.log_lines)


def test_echo_console_address_matches_only_a_server_of_the_same_kind(udp_server):
    assert widgets.echo_console(udp_server.address, "udp").handle is udp_server
    # TCP and UDP port numbers are separate: a UDP server is not the TCP server there
    assert widgets.echo_console(udp_server.address, "tcp").handle is None


def test_echo_console_error_clears_after_successful_send(tcp_server):
    console = widgets.echo_console(tcp_server)
    console.send("")
    assert "empty" in console.last_error
    assert "netlesson-echo-error" in console.reply._dom_classes
    assert console.log_lines == [], "an empty message sends nothing"
    assert console.send("ok") == "OK"
    assert "netlesson-echo-error" not in console.reply._dom_classes


def test_echo_console_error_names_the_message_that_was_not_echoed(tcp_server):
    console = widgets.echo_console(tcp_server)
    tcp_server.stop()
    console.send("x" * 100)
    assert (f"error: &#x27;{'x' * 60}&#x27;… (100 characters) was not echoed: server "
            f"&#x27;{tcp_server.name}&#x27; is stopped") in console.reply.value
    assert "x" * 61 not in console.reply.value, "a long message is cut short in the note"
    console.send("")
    assert "error: the message is empty" in console.reply.value


def test_echo_console_rejects_kind_that_contradicts_the_server(udp_server):
    with pytest.raises(ValueError, match="udp server, not tcp"):
        widgets.echo_console(udp_server, "tcp")
    with pytest.raises(TypeError, match="ServerHandle"):
        widgets.echo_console("localhost")


def test_echo_console_parts_have_stable_css_classes(tcp_server):
    console = widgets.echo_console(tcp_server)
    assert "netlesson-echo" in console.widget._dom_classes
    for part, css in [
        (console.title, "netlesson-echo-title"),
        (console.text, "netlesson-echo-text"),
        (console.send_button, "netlesson-echo-send"),
        (console.reply, "netlesson-echo-reply"),
        (console.log_output, "netlesson-echo-log"),
    ]:
        assert css in part._dom_classes


def test_echo_console_text_plain_is_short_and_stable(tcp_server):
    console = widgets.echo_console(tcp_server)
    bundle = console._repr_mimebundle_()
    assert bundle["text/plain"] == f"<EchoConsole tcp 127.0.0.1:{tcp_server.port}>"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    console.send("does not change the text")
    assert console._repr_mimebundle_()["text/plain"] == bundle["text/plain"]


# ---------------------------------------------------------------------------
# MRO explorer
# ---------------------------------------------------------------------------


def python_supplier(cls, attribute):
    """Which class Python's own lookup takes *attribute* from (independent of netlesson).

    ``inspect.getattr_static`` performs the class-attribute lookup without
    running descriptors; the supplier is the first class in the MRO whose
    ``__dict__`` holds that very object.
    """
    found = inspect.getattr_static(cls, attribute)
    owners = [k for k in cls.__mro__ if vars(k).get(attribute, object()) is found]
    return owners[0]


class RightOrder(socketserver.ThreadingMixIn, socketserver.TCPServer):
    pass


class WrongOrder(socketserver.TCPServer, socketserver.ThreadingMixIn):
    pass


class StudentHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.request.recv(1024).upper())


@pytest.mark.parametrize(
    "cls_name, attribute, expected",
    [
        ("ThreadingTCPServer", "__init__", "TCPServer"),
        ("ThreadingTCPServer", "process_request", "ThreadingMixIn"),
        ("ThreadingTCPServer", "process_request_thread", "ThreadingMixIn"),
        ("ThreadingTCPServer", "server_close", "ThreadingMixIn"),
        ("ThreadingTCPServer", "daemon_threads", "ThreadingMixIn"),
        ("ThreadingTCPServer", "serve_forever", "BaseServer"),
        ("ThreadingTCPServer", "server_bind", "TCPServer"),
        ("ThreadingTCPServer", "server_activate", "TCPServer"),
        ("ThreadingUDPServer", "server_activate", "UDPServer"),
        ("ThreadingUDPServer", "get_request", "UDPServer"),
        ("ThreadingUDPServer", "max_packet_size", "UDPServer"),
        ("StreamRequestHandler", "setup", "StreamRequestHandler"),
        ("StreamRequestHandler", "handle", "BaseRequestHandler"),
    ],
)
def test_mro_explorer_supplier_matches_python_lookup(cls_name, attribute, expected):
    explorer = widgets.mro_explorer()
    supplier = explorer.select(cls_name, attribute)
    cls = getattr(socketserver, cls_name)
    assert supplier is python_supplier(cls, attribute)
    assert supplier.__name__ == expected
    assert explorer.result_text == f"{attribute} → {expected}"
    assert explorer.supplier.value == f"<b>{expected}</b>"
    assert explorer.class_select.value is cls
    assert explorer.class_select.label == cls_name


def test_mro_explorer_mixin_order_decides_process_request():
    explorer = widgets.mro_explorer(RightOrder, WrongOrder)
    assert explorer.select(RightOrder, "process_request") is socketserver.ThreadingMixIn
    # mixin second: BaseServer's process_request is found first, so no threads at all
    assert explorer.select("WrongOrder", "process_request") is socketserver.BaseServer
    assert explorer.result_text == "process_request → BaseServer"
    assert python_supplier(WrongOrder, "process_request") is socketserver.BaseServer


def test_mro_explorer_student_subclass_supplies_its_own_handle():
    explorer = widgets.mro_explorer(StudentHandler, attribute="handle")
    assert explorer.class_select.value is StudentHandler, "extra classes are shown first"
    assert explorer.current_supplier is StudentHandler
    assert explorer.select(StudentHandler, "setup") is socketserver.BaseRequestHandler


def test_mro_explorer_unknown_attribute_gives_clear_message():
    explorer = widgets.mro_explorer()
    assert explorer.select("ThreadingTCPServer", "server_address") is None
    assert explorer.supplier.value == ""
    assert "server_address → not defined by any class of ThreadingTCPServer" == explorer.result_text
    assert "instance attribute" in explorer.message.value
    assert "instance attribute" in explorer.explanation
    assert explorer.diagram_output.outputs == ()
    explorer.select("ThreadingTCPServer", "proces_request")
    assert "Did you mean: process_request" in explorer.message.value


def test_mro_explorer_lists_every_public_socketserver_class_on_this_python():
    explorer = widgets.mro_explorer()
    listed = {label: cls for label, cls in explorer.class_select.options}
    expected = {
        name: obj for name, obj in vars(socketserver).items()
        if isinstance(obj, type) and obj.__module__ == "socketserver" and not name.startswith("_")
    }
    assert listed == expected
    if sys.version_info >= (3, 12) and hasattr(socketserver, "ForkingUnixStreamServer"):
        assert "ForkingUnixStreamServer" in listed


def test_mro_explorer_changing_class_refreshes_suggestions_and_result():
    explorer = widgets.mro_explorer(attribute="get_request")
    assert explorer.current_supplier is socketserver.TCPServer
    explorer.class_select.value = socketserver.ThreadingUDPServer  # as a dropdown choice does
    assert set(explorer.attribute.options) == set(dir(socketserver.ThreadingUDPServer))
    assert explorer.attribute.options[0] == sorted(
        n for n in dir(socketserver.ThreadingUDPServer) if not n.startswith("_"))[0]
    assert explorer.current_supplier is socketserver.UDPServer
    explorer.attribute.value = "max_packet_size"  # as typing in the combobox does
    assert explorer.result_text == "max_packet_size → UDPServer"


def test_mro_explorer_shows_diagram_with_supplier_in_its_summary():
    explorer = widgets.mro_explorer(attribute="process_request")
    (output,) = explorer.diagram_output.outputs
    text = output["data"]["text/plain"]
    assert "ThreadingTCPServer → ThreadingMixIn → TCPServer → BaseServer → object" in text
    assert "ThreadingMixIn" in text.splitlines()[-1]


def test_mro_explorer_without_dot_shows_the_diagram_summary_as_text(monkeypatch):
    monkeypatch.setenv("PATH", "")   # Graphviz's `dot` can no longer be found
    explorer = widgets.mro_explorer(attribute="process_request")
    (output,) = explorer.diagram_output.outputs
    assert "image/svg+xml" not in output["data"]
    text = output["data"]["text/plain"]
    assert "ThreadingTCPServer → ThreadingMixIn → TCPServer → BaseServer → object" in text
    assert "process_request: supplied by ThreadingMixIn" in text
    assert explorer.result_text == "process_request → ThreadingMixIn"


def test_mro_explorer_does_not_hide_a_bug_in_the_diagrams_module(monkeypatch):
    """A broken diagram builder must fail loudly, not turn into a quiet text fallback."""
    def broken_mro(cls, attribute=None):
        raise RuntimeError("bug in diagrams.mro")

    monkeypatch.setattr(diagrams, "mro", broken_mro)
    with pytest.raises(RuntimeError, match="bug in diagrams.mro"):
        widgets.mro_explorer(attribute="process_request")


def test_mro_explorer_shares_classes_and_lookup_with_diagrams_and_source():
    explorer = widgets.mro_explorer(RightOrder, WrongOrder, StudentHandler)
    listed = [cls for _label, cls in explorer.class_select.options]
    assert listed == [RightOrder, WrongOrder, StudentHandler] + diagrams.public_classes(socketserver)
    for cls in (socketserver.ThreadingTCPServer, RightOrder, WrongOrder, StudentHandler):
        for attribute in ("process_request", "handle", "__init__", "server_address"):
            assert explorer.select(cls, attribute) is source.defining_class(cls, attribute)


def test_mro_explorer_parts_have_stable_css_classes_and_text_plain():
    explorer = widgets.mro_explorer()
    for part, css in [
        (explorer.widget, "netlesson-mro"),
        (explorer.class_select, "netlesson-mro-class"),
        (explorer.attribute, "netlesson-mro-attr"),
        (explorer.result, "netlesson-mro-result"),
        (explorer.supplier, "netlesson-mro-supplier"),
    ]:
        assert css in part._dom_classes
    assert explorer._repr_mimebundle_()["text/plain"] == (
        "<MroExplorer process_request → ThreadingMixIn>")


def test_mro_explorer_rejects_unknown_class_names_and_instances():
    explorer = widgets.mro_explorer()
    with pytest.raises(ValueError, match="no class called 'NoSuchServer'"):
        explorer.select("NoSuchServer", "x")
    with pytest.raises(ValueError, match="mro_explorer\\(RightOrder\\)"):
        explorer.select(RightOrder, "x")
    with pytest.raises(TypeError, match="takes classes"):
        widgets.MroExplorer([object()])


def test_widgets_speak_chinese_by_default(monkeypatch, tcp_server):
    """The lessons' language unless NETLESSON_LANG=en: labels, results and errors."""
    monkeypatch.setenv("NETLESSON_LANG", "zh_CN")
    explorer = widgets.mro_explorer()
    assert explorer.select("ThreadingTCPServer", "server_address") is None
    assert explorer.result_text == "server_address → ThreadingTCPServer 的所有类都没有定义它"
    assert "要么它是实例属性" in explorer.explanation
    explorer.select("ThreadingTCPServer", "proces_request")
    assert "你是不是想找：process_request" in explorer.message.value
    assert explorer.attribute.description == "属性"
    console = widgets.echo_console(tcp_server)
    assert console.send_button.description == "发送" and "回显控制台" in console.title.value
    tcp_server.stop()
    console.send("after stop")
    assert console.last_error.startswith(f"服务器 {tcp_server.name!r} 已经停止，")
    assert "错误：&#x27;after stop&#x27; 没有得到回显：服务器" in console.reply.value
