"""netlesson.sharedhost: a port of one's own (NETLESSON_PORT), and who holds a port.

Other users and JupyterHub are simulated with a directory laid out like /proc (sample
/proc/net/tcp text, a process whose fd links to the socket); this process's own
listening sockets are real.
"""

import os
import socket
import sys

import pytest

from netlesson import constants, sharedhost
from netlesson.sharedhost import PortHolder, default_address, parse_proc_net, port_holders

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# /proc/net/tcp as the kernel writes it: 127.0.0.1:8081 listening (st 0A) for uid 1001,
# inode 55501; 0.0.0.0:9000 listening for uid 0; a connection (st 01) from port 8081
TCP_SAMPLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 55501 1 0000000000000000 100 0 0 10 0
   1: 00000000:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55502 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F91 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1001        0 55503 1 0000000000000000 20 4 30 10 -1
"""
# /proc/net/tcp6: [::1]:8082 listening for uid 1002
TCP6_SAMPLE = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1002        0 55601 1 0000000000000000 100 0 0 10 0
"""


def _fake_proc(tmp_path, *, hub_pid=None, hub_inode=55501,
               hub_command=b"/usr/bin/python3\0/usr/local/bin/jupyterhub\0-f\0hub.py\0"):
    """A directory shaped like /proc: net/tcp{,6}, and optionally a hub process whose fd 7
    is the socket with *hub_inode*."""
    net = tmp_path / "net"
    net.mkdir()
    (net / "tcp").write_text(TCP_SAMPLE)
    (net / "tcp6").write_text(TCP6_SAMPLE)
    if hub_pid is not None:
        fd = tmp_path / str(hub_pid) / "fd"
        fd.mkdir(parents=True)
        os.symlink(f"socket:[{hub_inode}]", fd / "7")
        (tmp_path / str(hub_pid) / "cmdline").write_bytes(hub_command)
    return tmp_path


# -- the per-user default port ---------------------------------------------------------


def test_default_address_is_the_seeds_without_the_variable():
    assert default_address({}) == constants.ip_port
    assert default_address({sharedhost.PORT_VARIABLE: ""}) == constants.ip_port


def test_default_address_takes_the_port_from_netlesson_port():
    assert default_address({"NETLESSON_PORT": "18081"}) == ("127.0.0.1", 18081)
    assert default_address({"NETLESSON_PORT": " 20001 "}) == ("127.0.0.1", 20001)


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-5", "80.5"])
def test_an_unusable_netlesson_port_is_refused_naming_the_variable(value):
    with pytest.raises(ValueError, match=rf"NETLESSON_PORT={value!r} is not a port"):
        default_address({"NETLESSON_PORT": value})


# -- reading the socket table ------------------------------------------------------------


def test_parse_proc_net_reads_listening_sockets_with_their_user_and_inode():
    holders = parse_proc_net(TCP_SAMPLE, "tcp")
    assert [(h.address, h.uid, h.inode) for h in holders] == [
        (("127.0.0.1", 8081), 1001, 55501), (("0.0.0.0", 9000), 0, 55502)]  # not the connection
    assert parse_proc_net(TCP6_SAMPLE, "tcp")[0].address == ("::1", 8082)


def test_parse_proc_net_counts_every_bound_udp_socket():
    udp = TCP_SAMPLE.replace(" 0A ", " 07 ")
    assert len(parse_proc_net(udp, "udp")) == 3


@linux_only
def test_port_holders_names_another_user_of_a_port(tmp_path):
    proc = _fake_proc(tmp_path)
    (holder,) = port_holders(("127.0.0.1", 8081), proc=proc)
    assert (holder.uid, holder.inode, holder.pid, holder.jupyterhub) == (1001, 55501, None, False)
    assert port_holders(("127.0.0.1", 8080), proc=proc) == []
    # a socket bound to every interface holds the port for every host
    assert [h.uid for h in port_holders(("127.0.0.1", 9000), proc=proc)] == [0]
    assert [h.uid for h in port_holders(("::1", 8082), proc=proc)] == [1002]


@linux_only
def test_port_holders_recognises_jupyterhub_by_its_command_line(tmp_path):
    proc = _fake_proc(tmp_path, hub_pid=4242)
    (holder,) = port_holders(("127.0.0.1", 8081), proc=proc)
    assert holder.pid == 4242
    assert holder.command == "/usr/bin/python3 /usr/local/bin/jupyterhub -f hub.py"
    assert holder.jupyterhub


@linux_only
def test_port_holders_finds_this_process_holding_a_real_port():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        (holder,) = port_holders(("127.0.0.1", port))
    assert holder.mine and holder.uid == os.getuid()
    assert holder.pid == os.getpid()
    assert "pytest" in holder.command or "python" in holder.command
    assert not holder.jupyterhub


@linux_only
def test_port_holders_finds_a_bound_udp_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        assert [h.pid for h in port_holders(("127.0.0.1", port), "udp")] == [os.getpid()]
        assert port_holders(("127.0.0.1", port), "tcp") == []


def test_port_holders_finds_nothing_without_a_socket_table(tmp_path):
    assert port_holders(("127.0.0.1", 8081), proc=tmp_path) == []


def test_a_port_holder_is_data():
    holder = PortHolder("tcp", ("127.0.0.1", 8081), os.getuid(), "me", 1)
    assert holder.mine and holder.pid is None and not holder.jupyterhub


@linux_only
def test_port_holders_suspects_jupyterhub_when_its_user_runs_one_we_cannot_look_into(tmp_path):
    """A student cannot read a hub's open files, but anyone can read its command line."""
    proc = _fake_proc(tmp_path)
    me = os.getuid()  # the fake hub process below is owned by whoever runs the test
    line = (f"   3: 0100007F:1F93 00000000:0000 0A 00000000:00000000 00:00000000 00000000 "
            f"{me:5d}        0 55701 1 0000000000000000 100 0 0 10 0\n")
    (proc / "net" / "tcp").write_text(TCP_SAMPLE + line)
    (proc / "777").mkdir()  # no fd/ directory we may read
    (proc / "777" / "cmdline").write_bytes(b"node\0/usr/bin/configurable-http-proxy\0")
    (holder,) = port_holders(("127.0.0.1", 8083), proc=proc)
    assert holder.pid is None and holder.jupyterhub
