"""netlesson.addresses: getaddrinfo's answers named and lined up, never resolved by it."""

from __future__ import annotations

import socket

from netlesson import addresses
from netlesson.addresses import AddressInfo


def test_describe_names_family_type_and_protocol_and_keeps_the_sockaddr():
    infos = [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::1", 8081, 0, 0)),
             (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP, "", ("127.0.0.1", 8081))]
    assert addresses.describe(infos) == [
        AddressInfo("AF_INET6", "SOCK_STREAM", "6 IPPROTO_TCP", "", ("::1", 8081, 0, 0)),
        AddressInfo("AF_INET", "SOCK_DGRAM", "17 IPPROTO_UDP", "", ("127.0.0.1", 8081)),
    ]


def test_a_protocol_number_without_a_name_stays_a_number():
    infos = [(socket.AF_INET, socket.SOCK_RAW, 0, "", ("127.0.0.1", 0))]
    assert addresses.describe(infos)[0].proto == "0"


def test_table_of_a_real_numeric_lookup_has_one_aligned_line_per_answer():
    infos = socket.getaddrinfo("127.0.0.1", 8081, type=socket.SOCK_STREAM,
                               flags=socket.AI_NUMERICHOST)
    lines = addresses.table(infos).splitlines()
    assert lines[0].split() == ["family", "type", "proto", "sockaddr"]
    assert len(lines) == 1 + len(infos)
    assert lines[1].split()[:2] == ["AF_INET", "SOCK_STREAM"]
    assert lines[1].endswith("('127.0.0.1', 8081)")
    assert lines[1].index("('127.0.0.1'") == lines[0].index("sockaddr")  # columns line up


def test_table_keeps_getaddrinfos_order():
    infos = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 1, 0, 0)),
             (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 1))]
    body = addresses.table(infos).splitlines()[1:]
    assert [line.split()[0] for line in body] == ["AF_INET6", "AF_INET"]


def test_canonname_column_appears_only_when_an_answer_has_one():
    plain = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 1))]
    named = [(socket.AF_INET, socket.SOCK_STREAM, 6, "localhost", ("127.0.0.1", 1))]
    assert "canonname" not in addresses.table(plain)
    assert addresses.table(named).splitlines()[0].split() == [
        "family", "type", "proto", "canonname", "sockaddr"]
    assert "localhost" in addresses.table(named).splitlines()[1]


def test_an_empty_answer_gives_just_the_heading():
    assert addresses.table([]).split() == ["family", "type", "proto", "sockaddr"]
