"""Write the source of the exercise notebooks (cells and nbgrader metadata, no outputs).

The exercises live here as text, so a change is a reviewable diff of this file
rather than of notebook JSON, and every cell gets consistent nbgrader metadata:

* ``readonly(...)`` -- locked cells (instructions, imports): nbgrader restores
  them from the source when it grades, so a student cannot change them;
* ``solution(...)`` -- the student's cells.  The source notebooks keep the
  answers between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; nbgrader's
  ``generate_assignment`` replaces each such region with a stub when it
  releases the student version (``python -m netlesson release``);
* ``tests(..., points=N)`` -- autograded, locked cells that call a checker in
  :mod:`netlesson.exercises`; a cell that raises loses its points;
* ``md(...)``/``code(...)`` -- ordinary cells (hints, "try it yourself").

Running the script overwrites the notebooks *without outputs*; execute them
afterwards so the stored outputs come from a real run (never edit outputs)::

    .venv/bin/python tools/build_exercises.py
    .venv/bin/python tools/execute_notebooks.py notebooks/exercises/*.ipynb

Cell ids are derived from the notebook and the cell's position (or its
nbgrader ``grade_id``), so rebuilding an unchanged notebook gives the same file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "notebooks" / "exercises"


def md(text: str) -> dict:
    return {"kind": "markdown", "text": text.strip("\n")}


def code(text: str) -> dict:
    return {"kind": "code", "text": text.strip("\n")}


def readonly(kind: str, grade_id: str, text: str) -> dict:
    return {"kind": kind, "text": text.strip("\n"),
            "nbgrader": {"grade": False, "solution": False, "locked": True, "task": False,
                         "grade_id": grade_id, "schema_version": 3}}


def solution(grade_id: str, text: str) -> dict:
    return {"kind": "code", "text": text.strip("\n"),
            "nbgrader": {"grade": False, "solution": True, "locked": False, "task": False,
                         "grade_id": grade_id, "schema_version": 3}}


def tests(grade_id: str, points: int, text: str) -> dict:
    return {"kind": "code", "text": text.strip("\n"),
            "nbgrader": {"grade": True, "solution": False, "locked": True, "task": False,
                         "grade_id": grade_id, "points": points, "schema_version": 3}}


HOW_TO = """
**怎么做**：只在答题单元格里作答：那里写着 `# YOUR CODE HERE` 和 `raise NotImplementedError()`，
删掉 `raise` 这一行，换成你的代码。然后从上到下运行全部单元格。"自动检查"单元格**没有任何输出**
就表示通过；不通过时它抛出 `AssertionError`，说明发送了什么、收到了什么、为什么会这样、该怎么改（这些说明是英文的，和代码、报错信息用同一种语言）。
改完后重新运行你的单元格和检查单元格即可，检查可以运行任意多次。锁定的单元格（说明文字、导入、
检查）不要修改：评分时会换回原样。
"""

# ---------------------------------------------------------------------------
# ex01: a line-based StreamRequestHandler
# ---------------------------------------------------------------------------
EX01 = [
    readonly("markdown", "ex01-intro", """
# 练习 1：按行回显的 `StreamRequestHandler`

客户端每发来一行文字，服务端回一行：行首写上这是本连接的第几行，后面是转成大写的内容。

- **练什么**：用 `StreamRequestHandler` 的 `rfile`/`wfile` 按行读写；理解 TCP 字节流里"一次 `recv` 不等于一行"
- **预计用时**：20 分钟
- **先读**：[02_tcp_echo](../02_tcp_echo.ipynb)（TCP 回显服务端和客户端）、[06_pitfalls](../06_pitfalls.ipynb) 中讲粘包的一节
""" + HOW_TO),
    readonly("code", "ex01-imports", """
import socket
import socketserver

from netlesson import background, exercises
"""),
    readonly("markdown", "ex01-task", """
## 任务

课程里的回显处理器继承 `BaseRequestHandler`，自己调用 `self.request.recv(1024)`。可是 TCP 传送的是
字节流，不是一条条消息：一次 `recv` 可能只拿到半行，也可能一下拿到好几行。

`socketserver.StreamRequestHandler` 在 `setup()` 里把连接包装成两个文件对象：

- `self.rfile`：带缓冲的读端。`self.rfile.readline()` 一直读到 `b"\\n"` 才返回一整行（包括这个
  `b"\\n"`），多读到的字节留在缓冲区里给下一次；客户端关闭连接以后返回 `b""`。
- `self.wfile`：写端。`self.wfile.write(data)` 把字节发给客户端。

请完成 `LineUpperHandler.handle()`：

1. 反复读行，直到 `readline()` 返回 `b""`（客户端已经关闭），这时从 `handle()` 返回。
2. 去掉行尾的 `b"\\n"` 或 `b"\\r\\n"`，把内容转成大写。
3. 回复一行 `b"<n>: <大写内容>\\n"`，`n` 是这一行在**本连接**里的序号，从 1 开始。每个连接都有
   自己的处理器对象，所以计数器用 `handle()` 里的局部变量就行。

例如客户端依次发送 `b"hello\\n"` 和 `b"socketserver\\n"`，应当依次收到 `b"1: HELLO\\n"` 和
`b"2: SOCKETSERVER\\n"`。
"""),
    solution("ex01-solution", """
class LineUpperHandler(socketserver.StreamRequestHandler):
    \"\"\"Answers every line with b'<n>: <LINE IN UPPER CASE>\\n', n counted per connection.\"\"\"

    def handle(self):
        ### BEGIN SOLUTION
        number = 0
        while True:
            line = self.rfile.readline()
            if not line:  # b'' means the client has closed: the conversation is over
                break
            number += 1
            self.wfile.write(b"%d: %s\\n" % (number, line.rstrip(b"\\r\\n").upper()))
        ### END SOLUTION
"""),
    md("""
## 先自己试一试

下面的单元格用 `netlesson.background` 在后台启动一台使用你的处理器的服务器（端口 0：由系统挑一个
空闲端口），作为客户端发两行、读回两行。`with` 块结束时服务器一定会停下，所以这个单元格可以反复运行。如果你的处理器抛出了异常，`with` 块结束时会打印一行说明是哪个异常（完整的 traceback 在 `srv.log` 里，`srv.show_log()` 可以打印出来）。
"""),
    code("""
with background.start_tcp("ex01-try", handler=LineUpperHandler) as srv:
    with socket.create_connection(srv.address, timeout=2) as client:
        client.sendall(b"hello\\nsocketserver\\n")
        replies = client.makefile("rb")
        print(replies.readline())
        print(replies.readline())
"""),
    md("""
## 自动检查 1（2 分）：一问一答

检查函数用你的处理器启动一台真实的服务器，然后作为客户端连上去：先一行一行地发，再把三行放在
**一次** `sendall` 里发出（它们会连在一起到达），最后关闭自己的发送方向，看处理器是否随之结束。
"""),
    tests("ex01-check-basics", 2, """
exercises.check_line_handler(LineUpperHandler)
"""),
    md("""
## 自动检查 2（3 分）：字节流的真实样子

这一次更接近真实网络：一行分三段到达（切口正好落在"你"字的 UTF-8 字节中间）；一行长达 3000 字节，
比一次 `recv(1024)` 多得多；以 `\\r\\n` 结尾的行；两个客户端同时在线（各自从 1 开始编号）；
以及所有客户端离开后，`handle()` 是否都已返回。
"""),
    tests("ex01-check-stream", 3, """
exercises.check_line_handler_stream(LineUpperHandler)
"""),
    md("""
## 想一想，然后继续

- `readline()` 为什么既能应付"半行"，也能应付"好几行"？多读到的字节去了哪里？
- 如果客户端发来一行 1 GB 且没有换行符的数据，这个处理器会怎样？（提示：`readline(limit)`）

下一个练习：[练习 2：会超时、会重试的 UDP 客户端](ex02_udp_retry.ipynb)
"""),
]

# ---------------------------------------------------------------------------
# ex02: a UDP client with a timeout and retries
# ---------------------------------------------------------------------------
EX02 = [
    readonly("markdown", "ex02-intro", """
# 练习 2：会超时、会重试的 UDP 客户端

写一个绝不会永远等下去的 UDP 客户端函数：等不到回复就重发，重发几次仍然没有回复就明确地报错。

- **练什么**：套接字超时、重试、检查数据报的来源地址
- **预计用时**：25 分钟
- **先读**：[03_udp_echo](../03_udp_echo.ipynb)、[06_pitfalls](../06_pitfalls.ipynb) 中讲 UDP 丢包与超时的一节
""" + HOW_TO),
    readonly("code", "ex02-imports", """
import socket
import time

from netlesson import background, exercises
"""),
    readonly("markdown", "ex02-task", """
## 任务

UDP 没有连接，也不保证送达：数据报可能丢失，服务器可能根本没在运行，而且**任何程序**都可以往你的
套接字发数据报。一个调用 `recvfrom` 却不设超时的客户端，只要回复丢了一次，就会永远等下去。

请完成 `udp_request(address, data, timeout=0.5, retries=3)`：

1. 创建一个 UDP 套接字（`socket.SOCK_DGRAM`），用完关闭（用 `with` 最省事）。
2. 把 `data` 作为**一个**数据报发给 `address`，然后最多等 `timeout` 秒。
3. 收到来自 `address` 的数据报，就返回它的内容（`bytes`）。来自其他地址的数据报要忽略，并在这一次
   剩下的时间里继续等。
4. 这一次超时了，就重新发送；最多重发 `retries` 次（也就是总共最多发 `retries + 1` 次）。
5. 每一次都没等到回复，就抛出 `TimeoutError`。

提示：调用 `sock.settimeout(t)` 之后，`recvfrom` 等待超过 `t` 秒会抛出 `TimeoutError`；
`time.monotonic()` 适合用来算"这一次还剩多少时间"。`recvfrom` 返回 `(data, address)`，
这里的 `address` 就是发送者。
"""),
    solution("ex02-solution", """
def udp_request(address, data, timeout=0.5, retries=3):
    \"\"\"Send `data` as one datagram to `address` and return the reply's bytes.

    Waits at most `timeout` seconds per try, sends again up to `retries` times,
    ignores datagrams from anyone but `address`, and raises TimeoutError when
    no try got a reply.
    \"\"\"
    ### BEGIN SOLUTION
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for attempt in range(retries + 1):
            sock.sendto(data, address)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    reply, sender = sock.recvfrom(65535)
                except TimeoutError:
                    break  # this try is over: send again
                if sender == tuple(address):
                    return reply
                # a datagram from someone else: ignore it, keep waiting
    raise TimeoutError(f"no reply from {address} after {retries + 1} tries")
    ### END SOLUTION
"""),
    md("""
## 先自己试一试

先对着课程的 UDP 大写回显服务器发一次；再对着一个只收不回的"哑"套接字发，看看它是否按时放弃。
"""),
    code("""
with background.start_udp("ex02-try") as srv:
    print(udp_request(srv.address, b"hello udp", timeout=0.5, retries=2))
"""),
    code("""
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
    silent.bind(("127.0.0.1", 0))
    started = time.monotonic()
    try:
        udp_request(silent.getsockname(), b"anyone there?", timeout=0.2, retries=2)
    except TimeoutError:
        print(f"TimeoutError after about {time.monotonic() - started:.1f} s")
"""),
    md("""
## 自动检查 1（2 分）：有回复就返回，没有回复就报错

检查函数启动真实的 UDP 服务器：一台立刻回复（只应发出一个数据报），一台从不回复（应当正好发出
`retries + 1` 次，然后抛出 `TimeoutError`，总耗时不超过各次超时之和太多）。
"""),
    tests("ex02-check-basics", 2, """
exercises.check_udp_request(udp_request)
"""),
    md("""
## 自动检查 2（3 分）：丢包与陌生人

一台服务器像不可靠的网络一样丢掉你的前两个数据报，只回复第三个；另一台在真正回复之前，先让
另一个套接字给你发一个"陌生人"数据报。
"""),
    tests("ex02-check-retries", 3, """
exercises.check_udp_request_retries(udp_request)
"""),
    md("""
## 想一想，然后继续

- 服务器收到了请求、但回复丢了，客户端重发以后服务器会**再处理一次**。对"大写回显"无所谓，
  对"转账"呢？
- 课程的 `netlesson.udp.UDPEchoClient` 每次重试把等待时间加倍（有上限）。这样做有什么好处？

下一个练习：[练习 3：这个属性由哪个类提供？](ex03_mro_supplier.ipynb)
"""),
]

# ---------------------------------------------------------------------------
# ex03: predict the MRO supplier
# ---------------------------------------------------------------------------
EX03 = [
    readonly("markdown", "ex03-intro", """
# 练习 3：这个属性由哪个类提供？

先预测、再验证：`ThreadingTCPServer` 和 `ThreadingUDPServer` 的每个方法分别来自继承关系里的哪个类。

- **练什么**：方法解析顺序（MRO）、`vars(cls)`，以及 `socketserver` 的类层次
- **预计用时**：15 分钟
- **先读**：[01_socketserver_classes](../01_socketserver_classes.ipynb)、[04_tcp_walkthrough](../04_tcp_walkthrough.ipynb)
""" + HOW_TO),
    readonly("code", "ex03-imports", """
import socketserver

from netlesson import exercises
"""),
    readonly("markdown", "ex03-task", """
## 任务

写 `server.process_request` 时，Python 沿着 `type(server).__mro__` 从左往右找，**第一个**在自己的
`__dict__`（也就是 `vars(cls)`）里定义了这个名字的类，就是这个属性的"提供者"。下面是两个类的 MRO：
"""),
    readonly("code", "ex03-mro", """
for cls in (socketserver.ThreadingTCPServer, socketserver.ThreadingUDPServer):
    print(" → ".join(k.__name__ for k in cls.__mro__))
"""),
    readonly("markdown", "ex03-task-2", """
**先别运行代码去查**。凭课程里的类图和源码，预测下表中每个属性由哪个类提供，把 `"?"` 换成类名
（字符串，例如 `"BaseServer"`）。全部填完再运行检查；检查会逐条指出哪里错了，并提示该往哪里想，
但不会直接告诉你答案。
"""),
    solution("ex03-solution", """
answers = {
    "ThreadingTCPServer.__init__": "?",
    "ThreadingTCPServer.process_request": "?",
    "ThreadingTCPServer.serve_forever": "?",
    "ThreadingTCPServer.server_close": "?",
    "ThreadingTCPServer.get_request": "?",
    "ThreadingUDPServer.__init__": "?",
    "ThreadingUDPServer.server_activate": "?",
    "ThreadingUDPServer.get_request": "?",
    "ThreadingUDPServer.finish_request": "?",
    "ThreadingUDPServer.max_packet_size": "?",
}
### BEGIN SOLUTION
answers.update({
    "ThreadingTCPServer.__init__": "TCPServer",
    "ThreadingTCPServer.process_request": "ThreadingMixIn",
    "ThreadingTCPServer.serve_forever": "BaseServer",
    "ThreadingTCPServer.server_close": "ThreadingMixIn",
    "ThreadingTCPServer.get_request": "TCPServer",
    "ThreadingUDPServer.__init__": "TCPServer",
    "ThreadingUDPServer.server_activate": "UDPServer",
    "ThreadingUDPServer.get_request": "UDPServer",
    "ThreadingUDPServer.finish_request": "BaseServer",
    "ThreadingUDPServer.max_packet_size": "UDPServer",
})
### END SOLUTION
"""),
    md("""
## 怎样验证一个猜测

查一个不在题目里的属性作示范：`verify_request` 出现在哪些类自己的 `__dict__` 里？
"""),
    code("""
[k.__name__ for k in socketserver.ThreadingTCPServer.__mro__ if "verify_request" in vars(k)]
"""),
    md("""
## 自动检查 1（3 分）：`ThreadingTCPServer`
"""),
    tests("ex03-check-tcp", 3, """
exercises.check_mro_answers(answers, only="ThreadingTCPServer")
"""),
    md("""
## 自动检查 2（3 分）：`ThreadingUDPServer`

提示：`UDPServer` 继承自谁？它自己定义了哪些方法？
"""),
    tests("ex03-check-udp", 3, """
exercises.check_mro_answers(answers, only="ThreadingUDPServer")
"""),
    md("""
## 想一想，然后继续

- 为什么 `ThreadingMixIn` 必须写在 `TCPServer` **前面**？如果写反了，`process_request` 会由谁提供？
- `ThreadingUDPServer(...)` 这一行执行的 `__init__` 里会调用 `server_activate()`，UDP 为什么不需要 `listen`？

下一个练习：[练习 4：`recvall` 与长度前缀](ex04_framing.ipynb)
"""),
]

# ---------------------------------------------------------------------------
# ex04: recvall and length-prefixed framing
# ---------------------------------------------------------------------------
EX04 = [
    readonly("markdown", "ex04-intro", """
# 练习 4：`recvall` 与长度前缀

TCP 只负责把字节按顺序送到，不负责告诉你"一条消息到哪里结束"。本练习实现两种最常用的办法：
已知长度时读满 `n` 个字节；长度未知时在消息前面加上 4 字节的长度。

- **练什么**：循环 `recv`、对方关闭时的 `b""`、`struct` 打包整数、分帧协议
- **预计用时**：25 分钟
- **先读**：[06_pitfalls](../06_pitfalls.ipynb) 中讲粘包的一节
""" + HOW_TO),
    readonly("code", "ex04-imports", """
import socket
import struct

from netlesson import exercises
"""),
    readonly("markdown", "ex04-task-1", """
## 任务 1：`recvall(sock, n)`

`sock.recv(k)` 返回**已经到达的**字节，最多 `k` 个，可能更少；对方关闭连接后返回 `b""`。请完成
`recvall(sock, n)`：

1. 反复调用 `recv`，直到凑满 `n` 个字节，返回它们（`bytes`）。
2. 每次最多只要还缺的那么多字节（`n - 已收到的长度`）：多读的字节属于**下一条**消息，读走就丢了。
3. 还没凑满，`recv` 就返回了 `b""`（对方已关闭）：抛出 `EOFError`。不要把不完整的消息当成完整的返回。
4. `n == 0` 时直接返回 `b""`。
"""),
    solution("ex04-solution-recvall", """
def recvall(sock, n):
    \"\"\"Receive exactly n bytes from sock; EOFError if the peer closes first.\"\"\"
    ### BEGIN SOLUTION
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"the peer closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)
    ### END SOLUTION
"""),
    md("""
### 先自己试一试

`socket.socketpair()` 给出一对已经连好的套接字。发送方分两次发 8 个字节，接收方分两次各读 4 个：
"""),
    code("""
left, right = socket.socketpair()
with left, right:
    left.settimeout(2)
    right.settimeout(2)
    left.sendall(b"abc")
    left.sendall(b"defgh")
    print(recvall(right, 4), recvall(right, 4))
"""),
    md("""
### 自动检查 1（2 分）

检查函数在回环地址上建立真实的 TCP 连接：3000 字节分三段、间隔 0.1 秒到达；两条消息粘在一起到达；
`n == 0`；以及对方只发了一半就关闭。
"""),
    tests("ex04-check-recvall", 2, """
exercises.check_recvall(recvall)
"""),
    readonly("markdown", "ex04-task-2", """
## 任务 2：长度前缀 `send_msg` / `recv_msg`

协议：每条消息前面是 4 个字节的无符号整数，大端（网络字节序），表示后面有多少字节。
`struct.pack("!I", 5)` 得到 `b"\\x00\\x00\\x00\\x05"`，`struct.unpack("!I", head)[0]` 把它还原成 5。

- `send_msg(sock, payload)`：发送前缀和 `payload`（用 `sendall`）。
- `recv_msg(sock)`：读 4 字节前缀，再读那么多字节并返回。
  - 对方在两条消息**之间**正常关闭（还没读到前缀的第一个字节就遇到 `b""`）：返回 `None`，这是对话的正常结束。
  - 消息读到一半对方关闭：抛出 `EOFError`（你的 `recvall` 正好会这样做）。
  - 空消息（前缀为 0）返回 `b""`，不是 `None`。
"""),
    solution("ex04-solution-messages", """
def send_msg(sock, payload):
    \"\"\"Send payload with a 4-byte big-endian length prefix.\"\"\"
    ### BEGIN SOLUTION
    sock.sendall(struct.pack("!I", len(payload)) + payload)
    ### END SOLUTION


def recv_msg(sock):
    \"\"\"Receive one length-prefixed message; None if the peer closed between messages.\"\"\"
    ### BEGIN SOLUTION
    first = sock.recv(1)
    if not first:
        return None
    (size,) = struct.unpack("!I", first + recvall(sock, 3))
    return recvall(sock, size)
    ### END SOLUTION
"""),
    md("""
### 先自己试一试

连发三条消息（含一条空消息），关闭发送方向，再逐条读回，最后一次读到的是 `None`：
"""),
    code("""
left, right = socket.socketpair()
with left, right:
    left.settimeout(2)
    right.settimeout(2)
    for payload in ("你好".encode("utf-8"), b"", b"bye"):
        send_msg(left, payload)
    left.shutdown(socket.SHUT_WR)
    print([recv_msg(right) for _ in range(4)])
"""),
    md("""
### 自动检查 2（3 分）

检查线上的字节是否正好是"前缀 + 内容"；两条消息粘在一起、前缀本身被拆成两半、空消息、
中途关闭与两条消息之间关闭；最后用你自己的 `send_msg` 发一条 200000 字节的消息，再用你的 `recv_msg` 收。
"""),
    tests("ex04-check-messages", 3, """
exercises.check_length_prefix(send_msg, recv_msg)
"""),
    md("""
## 想一想，然后继续

- 前缀为什么要固定 4 个字节，而不是写成文字 `"5"`？
- 一个恶意的对端发来前缀 `b"\\xff\\xff\\xff\\xff"`，你的 `recv_msg` 会怎样？`netlesson.framing.recv_msg`
  的 `max_size` 参数是怎么防的？

下一个练习：[练习 5：用 `verify_request` 做白名单](ex05_allow_list.ipynb)
"""),
]

# ---------------------------------------------------------------------------
# ex05: a verify_request allow-list
# ---------------------------------------------------------------------------
EX05 = [
    readonly("markdown", "ex05-intro", """
# 练习 5：用 `verify_request` 做白名单

只为允许的客户端地址提供服务，其他连接在创建处理器之前就关掉，并记下被拒绝的地址。

- **练什么**：覆盖 `BaseServer` 请求循环中的一个小步骤；理解这一步运行在哪个线程里
- **预计用时**：15 分钟
- **先读**：[04_tcp_walkthrough](../04_tcp_walkthrough.ipynb) 中 `_handle_request_noblock` 与 `verify_request` 两步
""" + HOW_TO),
    readonly("code", "ex05-imports", """
import socketserver

from netlesson import background, exercises, tcp
"""),
    readonly("markdown", "ex05-task", """
## 任务

`BaseServer._handle_request_noblock` 接受一个连接后，先调用 `self.verify_request(request, client_address)`：
返回真值才交给 `process_request`（`ThreadingMixIn` 在这里为请求开线程）；返回假值就直接
`shutdown_request(request)` 关闭连接，处理器根本不会被创建。

由此可以推出两件事：

- `verify_request` 运行在 `serve_forever` 所在的**那一个**线程里，这时还没有为这个请求开线程，
  所以在这里修改 `self.rejected` 不需要加锁。
- `verify_request` 的调用**不在** `try` 的保护之内：它抛出的异常会让 `serve_forever` 直接退出，
  整台服务器就停了。所以它要简单，不能出错。

请完成 `AllowListServer.verify_request`：`client_address` 是 `(host, port)`；`host` 在
`self.allowed_hosts` 里就返回 `True`；否则把 `client_address` 追加到 `self.rejected`，返回 `False`。
一定要通过 `self.allowed_hosts` 读取白名单，这样可以给某一台服务器单独换一份名单。
"""),
    solution("ex05-solution", """
class AllowListServer(socketserver.ThreadingTCPServer):
    \"\"\"Serves only clients whose IP address is in allowed_hosts.\"\"\"

    allowed_hosts = {"127.0.0.1"}
    daemon_threads = True

    def __init__(self, server_address, RequestHandlerClass):
        super().__init__(server_address, RequestHandlerClass)
        self.rejected = []  # client addresses refused so far

    def verify_request(self, request, client_address):
        ### BEGIN SOLUTION
        if client_address[0] in self.allowed_hosts:
            return True
        self.rejected.append(client_address)
        return False
        ### END SOLUTION
"""),
    md("""
## 先自己试一试

用课程的大写回显处理器启动你的服务器。先以 127.0.0.1 的身份访问；再把这台服务器的白名单换成一个
别的地址，同一个客户端就会被拒之门外（连接被直接关闭，`tcp.echo` 报告 `ConnectionClosed`）：
"""),
    code("""
with background.start(AllowListServer(("127.0.0.1", 0), tcp.UpperEchoHandler), "ex05-try") as srv:
    print(tcp.echo("hi", srv.address, timeout=2))
    srv.server.allowed_hosts = {"192.0.2.1"}
    try:
        tcp.echo("hi again", srv.address, timeout=2)
    except OSError as exc:
        print("refused:", type(exc).__name__)
    print("rejected:", srv.server.rejected)
"""),
    md("""
## 自动检查 1（2 分）：`verify_request` 的判断

检查函数直接调用 `verify_request`，传入一个真实的、来自 127.0.0.1 的连接，以及几个不同的
`client_address`：判断只能依据 `client_address`，被拒绝的地址要按顺序记进 `self.rejected`。
"""),
    tests("ex05-check-verify", 2, """
exercises.check_verify_request(AllowListServer)
"""),
    md("""
## 自动检查 2（2 分）：运行中的服务器

真实的服务器、真实的客户端：允许的客户端得到回复；换了白名单后同一客户端被拒绝、处理器不运行；
拒绝之后服务器照常为下一个客户端服务。
"""),
    tests("ex05-check-server", 2, """
exercises.check_allow_list_server(AllowListServer)
"""),
    md("""
## 想一想，然后继续

- 白名单按 IP 地址判断，为什么不按端口判断？
- 被拒绝的客户端看到的是"连接被关闭"（或被重置），而不是一条错误消息。如果想先告诉它"你不在白名单里"，
  应该在哪个方法里做？

下一个练习：[练习 6：线程安全的访客计数](ex06_visitor_counter.ipynb)
"""),
]

# ---------------------------------------------------------------------------
# ex06: a visitor counter shared by handler threads
# ---------------------------------------------------------------------------
EX06 = [
    readonly("markdown", "ex06-intro", """
# 练习 6：线程安全的访客计数

每个来访的客户端说出自己的名字，服务器回答"你是第几位访客"。号码不能重复，也不能漏掉，即使很多
客户端在同一时刻到来。

- **练什么**：多个处理器线程共享 `self.server` 上的数据；用 `threading.Lock` 保护"读—改—写"
- **预计用时**：20 分钟
- **先读**：[02_tcp_echo](../02_tcp_echo.ipynb)、[07_concurrency](../07_concurrency.ipynb)
""" + HOW_TO),
    readonly("code", "ex06-imports", """
import socket
import socketserver
import threading

from netlesson import background, exercises
"""),
    readonly("markdown", "ex06-task", """
## 任务

`ThreadingTCPServer` 为每个连接开一个线程，这些线程共用同一个 `self.server` 对象。
`self.server.count += 1` 看起来是一步，实际是三步：读出旧值、加一、写回。两个线程交错执行时，可能
都读到同一个旧值、都写回旧值加一：少算一位访客，两个人拿到同一个号码。这种错误很少发生，所以很难
在自己的电脑上看到；检查函数会在每次读取 `count` 之后稍停片刻，把这个窗口放大。

请完成：

1. `VisitorServer.__init__`：在 `super().__init__(...)` 之后创建 `self.count = 0` 和
   `self.lock = threading.Lock()`。所有处理器线程用的是**同一把**锁。
2. `VisitorHandler.handle`：读一行名字（`self.rfile.readline()`，去掉首尾空白，按 UTF-8 解码）；
   在 `with self.server.lock:` 里把 `count` 加一，并在**同一个** `with` 块里读出自己的号码；
   然后回复一行 `f"hello {name}, you are visitor #{number}\\n"`（按 UTF-8 编码）。
"""),
    solution("ex06-solution", """
class VisitorServer(socketserver.ThreadingTCPServer):
    \"\"\"Counts visitors; handler threads share self.count, guarded by self.lock.\"\"\"

    daemon_threads = True

    def __init__(self, server_address, RequestHandlerClass):
        super().__init__(server_address, RequestHandlerClass)
        ### BEGIN SOLUTION
        self.count = 0
        self.lock = threading.Lock()
        ### END SOLUTION


class VisitorHandler(socketserver.StreamRequestHandler):
    \"\"\"Reads a name, answers 'hello <name>, you are visitor #<n>'.\"\"\"

    def handle(self):
        ### BEGIN SOLUTION
        name = self.rfile.readline().strip().decode("utf-8")
        with self.server.lock:
            self.server.count += 1
            number = self.server.count
        self.wfile.write(f"hello {name}, you are visitor #{number}\\n".encode("utf-8"))
        ### END SOLUTION
"""),
    md("""
## 先自己试一试

三位访客依次来访：
"""),
    code("""
with background.start(VisitorServer(("127.0.0.1", 0), VisitorHandler), "ex06-try") as srv:
    for name in ["alice", "bob", "小明"]:
        with socket.create_connection(srv.address, timeout=2) as client:
            client.sendall(name.encode("utf-8") + b"\\n")
            print(client.makefile("rb").readline().decode("utf-8"), end="")
    print("count:", srv.server.count)
"""),
    md("""
## 自动检查 1（2 分）：一位接一位

三位访客依次来访（其中一位的名字是中文），每位都应得到正确的问候和号码，最后 `count` 为 3。
"""),
    tests("ex06-check-greeting", 2, """
exercises.check_visitor_greeting(VisitorServer, VisitorHandler)
"""),
    md("""
## 自动检查 2（3 分）：同时到来

二十位访客在同一时刻连上来。号码必须正好是 1 到 20，各不相同；`count` 最后是 20；而且处理器线程
每一次读取或修改 `count` 时都必须持有 `server.lock`。
"""),
    tests("ex06-check-counter", 3, """
exercises.check_visitor_counter(VisitorServer, VisitorHandler)
"""),
    md("""
## 想一想

- 只给"加一"加锁，却在 `with` 块**外面**读出号码，会出什么问题？
- 如果 `lock` 写成类属性 `lock = threading.Lock()`，两台 `VisitorServer` 会共用一把锁。这样错了吗？代价是什么？

练习到此结束。回到[课程目录](../00_index.ipynb)，或者重读 [07_concurrency](../07_concurrency.ipynb)
比较线程、进程与 asyncio 各自的做法。
"""),
]

NOTEBOOKS_SPEC = {
    "ex01_line_echo": EX01,
    "ex02_udp_retry": EX02,
    "ex03_mro_supplier": EX03,
    "ex04_framing": EX04,
    "ex05_allow_list": EX05,
    "ex06_visitor_counter": EX06,
}


def build(name: str, cells: list[dict]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    prefix = name.split("_", 1)[0]
    for index, spec in enumerate(cells):
        if spec["kind"] == "markdown":
            cell = nbformat.v4.new_markdown_cell(spec["text"])
        else:
            cell = nbformat.v4.new_code_cell(spec["text"])
        meta = spec.get("nbgrader")
        if meta is not None:
            cell.metadata["nbgrader"] = dict(meta)
            cell.id = meta["grade_id"]
        else:
            cell.id = f"{prefix}-{index:02d}"
        nb.cells.append(cell)
    ids = [c.id for c in nb.cells]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{name}: duplicate cell ids {ids}")
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    wanted = argv or list(NOTEBOOKS_SPEC)
    EXERCISES.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        nb = build(name, NOTEBOOKS_SPEC[name])
        path = EXERCISES / f"{name}.ipynb"
        nbformat.write(nb, path)
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
