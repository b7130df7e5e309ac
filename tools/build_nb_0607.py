"""Write the source of notebooks 06_pitfalls and 07_concurrency (cells only, no outputs).

The cells live here, as text, so a change to the course is a reviewable diff
of this file rather than of notebook JSON.  Running the script overwrites the
two notebooks *without outputs*; execute them afterwards so the stored outputs
come from a real run (never edit outputs by hand)::

    .venv/bin/python tools/build_nb_0607.py
    .venv/bin/python tools/execute_notebooks.py notebooks/06_pitfalls.ipynb notebooks/07_concurrency.ipynb

Cell ids are derived from the notebook and the cell's position, so rebuilding
an unchanged notebook gives the same ids and re-running the script is safe.
"""

from __future__ import annotations

import sys

from nbbuild import IGNORE_OUTPUT, code, main, md  # noqa: F401  (tools/ is on sys.path)


# ---------------------------------------------------------------------------
# 06_pitfalls
# ---------------------------------------------------------------------------

NB06 = [
    md("""
# 06 · 常见陷阱：先看它出错，再把它修好

前面几节的服务器和客户端都"能用"。这一节专门制造麻烦：把写网络程序时最常踩的坑一个个真实地踩一遍，看清它为什么出错，再用 `netlesson` 里的工具修好。每个演示都有超时，不会卡住内核，也不会留下没关的服务器。

- **本节内容**
  1. TCP 是字节流：一次 `recv(1024)` 不等于一条消息（粘包与拆包）；三种分帧办法：已知长度、长度前缀、分隔符
  2. 一个汉字的 UTF-8 字节被拆在两次 `recv` 里
  3. UDP 会丢包：没有超时的客户端会永远等下去；超时与重试
  4. 超过 8192 字节的 UDP 数据报被悄悄截断
  5. `serve_forever()` 会阻塞单元格
  6. 在运行 `serve_forever()` 的线程里调用 `shutdown()` 会死锁
  7. "Address already in use"、`allow_reuse_address` 与 TIME_WAIT
  8. 客户端突然断开（RST）与 `handle_error`
  9. 连接洪峰与 back_log（`request_queue_size`）：队列满了，握手被悄悄丢掉
- **预计用时**：45 分钟（整本运行一遍约 10 秒）
- **先修知识**：[02_tcp_echo](02_tcp_echo.ipynb)、[03_udp_echo](03_udp_echo.ipynb)；读过 [04_tcp_walkthrough](04_tcp_walkthrough.ipynb) 更好
"""),
    code("""
import itertools
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback

from netlesson import background, constants, framing, tcp, udp
from netlesson.classroom import ClassroomServerMixIn, request_shutdown
from netlesson.errors import (DatagramTooLong, PortInUseError, ServerNotResponding,
                              TruncatedReply, format_address)
from netlesson.source import show_source
"""),
    md("""
## 1. TCP 是字节流，不是消息流

TCP 只保证一件事：字节按发送的顺序、不丢不重地到达。它**不记得**你调用了几次 `send`。接收方调用 `recv(1024)` 时，拿到的是"此刻接收缓冲区里已有的字节，最多 1024 个"，于是可能出现两种情况：

- 两次发送的数据被一次 `recv` 一起收到——中文资料常叫它**粘包**；
- 一条长消息要好几次 `recv` 才收完——**拆包**。

这不是 TCP 的缺陷，而是它的工作方式：消息从哪里开始、到哪里结束，要由应用层的协议来规定（这叫**分帧**，framing）。

为了看清楚，先准备一对直接相连的 TCP socket（都在本机回环地址上，都有超时）：
"""),
    code('''
def tcp_pair():
    """Two ends of one real TCP connection on 127.0.0.1, each with a 2 s timeout."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(2)
        a = socket.create_connection(listener.getsockname(), timeout=2)
        b, _ = listener.accept()
    b.settimeout(2)
    return a, b
'''),
    md("""
### 1.1 两次 `send`，一次 `recv`（粘包）

发送方调用两次 `sendall`，接收方稍等片刻再 `recv`：
"""),
    code("""
a, b = tcp_pair()
a.sendall(b"hello")
a.sendall(b"world")
time.sleep(0.1)  # give both sends time to arrive
print(b.recv(1024))
a.close(); b.close()
"""),
    md("""
接收方只看到 10 个字节，已经无法知道它们原来是 `hello` 和 `world` 两条消息，还是一条 `helloworld`。

### 1.2 一条长消息，分几次才收完（拆包）

再看原教程客户端的写法：`sendall` 一条消息，然后 `recv(1024)` 一次，把收到的当作回复。对一条 3000 字节的消息试试（服务器是 `netlesson` 的大写回显服务器）：
"""),
    code("""
srv = background.start_tcp("nb06-tcp")
srv
"""),
    code("""
client = socket.create_connection(srv.address, timeout=2)
client.sendall(b"a" * 3000)
time.sleep(0.1)
first = client.recv(1024)
print(len(first), first[:10])
"""),
    md("""
只拿到了 1024 字节，另外 1976 字节还在缓冲区里排队。问题还没完：接着发下一条消息 `hi`，收到的"回复"是什么？
"""),
    code("""
client.sendall(b"hi")
time.sleep(0.1)
second = client.recv(1024)
print(len(second), second[:10])
client.close()
"""),
    md("""
不是 `b'HI'`，而是上一条回复剩下的部分。从这里开始，每条回复都"错位"了：客户端读到的永远是之前某条消息的回复。

### 1.3 修法一：已知长度，`recvall`

最直接的办法：知道要收多少字节，就循环 `recv` 直到收够。大写回显正好适用——`bytes.upper()` 只改变 ASCII 字母，回复和请求一样长。`netlesson.framing.recvall` 就是这个循环：
"""),
    code("""
show_source(framing.recvall)
"""),
    code("""
with socket.create_connection(srv.address, timeout=2) as client:
    client.sendall(b"a" * 3000)
    reply = framing.recvall(client, 3000)
    client.sendall(b"hi")
    print(len(reply), reply[:10], framing.recvall(client, 2))
"""),
    md("""
`netlesson.tcp.TCPEchoClient` 内部做的就是这件事，所以它对任意长度的消息都拿得到完整回复：
"""),
    code("""
print(len(tcp.echo("a" * 3000, srv.address)))
"""),
    md("""
### 1.4 修法二：长度前缀

多数协议事先并不知道回复多长。通用的办法是在每条消息前面加上它的长度：`framing.send_msg` 先发 4 个字节的长度（大端序，即"网络字节序"），再发内容；`framing.recv_msg` 先读满 4 个字节，再读满那么多字节的内容。线上的字节长这样：
"""),
    code("""
print(framing.PREFIX.pack(5) + b"third")
"""),
    code("""
a, b = tcp_pair()
for message in ["第一条".encode(), b"", b"third"]:
    framing.send_msg(a, message)
time.sleep(0.1)  # all three are now stuck together in b's receive buffer
print([framing.recv_msg(b).decode() for _ in range(3)])
a.close(); b.close()
"""),
    md("""
三条消息（包括一条空消息）在接收缓冲区里粘在一起，照样被正确地分开。长度前缀还有一个好处：内容可以是任意字节。要注意的是：读到的长度来自对方，如果对方根本不是在说这个协议（比如一个浏览器发来 `GET / HTTP/1.1`），前 4 个字节 `b"GET "` 会被当成一个 12 亿字节的长度。`recv_msg` 因此有上限，超过就抛出 `MessageTooLong`，而不是去申请 1 GB 内存：
"""),
    code("""
a, b = tcp_pair()
a.sendall(b"GET / HTTP/1.1\\r\\n\\r\\n")
try:
    framing.recv_msg(b)
except framing.MessageTooLong as exc:
    print("MessageTooLong:", exc)
a.close(); b.close()
"""),
    md("""
### 1.5 修法三：分隔符

文本协议常用分隔符（例如换行）标出消息的结尾，HTTP 的头部、SMTP、Redis 都是这样。关键在于：一次 `recv` 读到的、超出当前这条消息的字节，属于**下一条**消息，必须留着。`framing.LineReader` 就负责留着它们：
"""),
    code("""
a, b = tcp_pair()
a.sendall(b"one\\ntwo\\nthr")  # two and a half messages in one send
reader = framing.LineReader(b)
print(reader.readline(), reader.readline(), "pending:", reader.pending)
a.sendall(b"ee\\n")
print(reader.readline())
a.close(); b.close()
"""),
    md("""
三种办法怎么选：

| 办法 | 适合 | 要小心 |
| --- | --- | --- |
| 已知长度（`recvall`） | 双方事先约定长度，例如固定大小的头部、回显 | 对方提前关闭连接：`recvall` 抛出 `IncompleteMessage`，已收到的字节在 `.partial` 里 |
| 长度前缀（`send_msg` / `recv_msg`） | 任意二进制内容，最通用 | 给长度设上限 |
| 分隔符（`send_line` / `LineReader`） | 人能读的文本协议 | 内容里不能出现分隔符（否则要转义）；一行也要设上限 |
"""),
    md("""
## 2. 一个汉字被拆成了两半

UTF-8 里一个汉字占 3 个字节。`recv` 的边界只看字节，完全可能落在一个汉字的中间：
"""),
    code("""
text = "你好，世界"
data = text.encode("utf-8")
print(len(text), "characters,", len(data), "bytes")
"""),
    code("""
a, b = tcp_pair()
a.sendall(data[:4])  # "你" and the first byte of "好"
piece1 = b.recv(1024)
a.sendall(data[4:])
piece2 = b.recv(1024)
a.close(); b.close()
print(piece1, piece2)
"""),
    md("""
如果像原教程的客户端那样对每次 `recv` 的结果直接 `decode`，第一块就会出错；用 `errors="replace"` 则会悄悄把字符换成 `�`，数据被破坏了却没有报错：
"""),
    code("""
try:
    piece1.decode("utf-8")
except UnicodeDecodeError as exc:
    print("UnicodeDecodeError:", exc)
print(repr(piece1.decode("utf-8", errors="replace")))
"""),
    md("""
修法：用**增量解码器**。它把不完整的字符尾巴留下，等下一块数据来了再拼上。`framing.Utf8Stream` 包装了标准库的 `codecs.getincrementaldecoder`：
"""),
    code("""
stream = framing.Utf8Stream()
print(repr(stream.feed(piece1)), "waiting:", stream.pending)
print(repr(stream.feed(piece2)), "waiting:", stream.pending)
print(repr(stream.close()))
"""),
    md("""
另一个办法是先按第 1 节的方法收齐一整条消息，再整体解码——`TCPEchoClient.send_text` 就是这样做的。

## 3. UDP 会丢包

UDP 没有连接，也不重传：一个数据报丢了，发送方和接收方都不会收到任何通知。本机回环地址上几乎不丢包，所以我们写一个**故意丢包**的处理器：每两个数据报丢掉一个（第 1、3、5… 个），而且是确定的，方便反复演示：
"""),
    code('''
class LossyHandler(udp.UpperEchoDatagramHandler):
    """Drops every other datagram (the 1st, 3rd, ...) to imitate a lossy network."""

    def handle(self):
        number = next(self.server.datagram_numbers)
        if number % 2 == 1:
            self.server.log(f"dropped datagram #{number} (pretending the network lost it)")
            return
        super().handle()


lossy = background.start_udp("nb06-lossy", handler=LossyHandler)
lossy.server.datagram_numbers = itertools.count(1)
'''),
    md("""
原教程的 UDP 客户端 `sendto` 之后直接 `recvfrom(1024)`，没有超时。第 1 个数据报被"丢"了，那样的客户端会**永远**等下去。我们给它加上 0.5 秒的超时，只为了在这里能看到结果：
"""),
    code("""
naive = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
naive.settimeout(0.5)  # the seed's client has no timeout: there, recvfrom would wait forever
naive.sendto(b"hello", lossy.address)
try:
    print(naive.recvfrom(1024)[0])
except TimeoutError:
    print("no reply within 0.5 s -- without a timeout the client would wait forever")
"""),
    md("""
再发一次，这次运气好：
"""),
    code("""
naive.sendto(b"hello again", lossy.address)
print(naive.recvfrom(1024)[0])
naive.close()
"""),
    md("""
时好时坏，正是丢包难以调试的原因。修法是**超时 + 重试**：`netlesson.udp.UDPEchoClient` 等一小会儿没收到回复就重发，每次等待的时间加倍，直到上限，重试次数也有上限：
"""),
    code("""
with udp.UDPEchoClient(lossy.address, timeout=0.2) as client:
    print(client.send("hello"), "after", client.attempts, "attempts")
"""),
    code("""
lossy.show_log()
"""),
    md("""
日志里可以看到：第 3 个数据报被丢掉，客户端重发的第 4 个得到了回复。

重试有一个代价要记住：如果丢的是**回复**而不是请求，服务器会把同一个请求处理两次。大写回显做两次没有关系（这叫**幂等**），"转账 100 元"就不行了——那样的协议需要给请求编号，让服务器认出重复的请求。

如果服务器根本不在，重试也救不了，但客户端会在有限的时间后给出清楚的错误，而不是挂住：
"""),
    code("""
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
    probe.bind(("127.0.0.1", 0))
    unused = probe.getsockname()  # free again once probe is closed
try:
    udp.echo("anyone?", unused, timeout=0.1, retries=2)
except ServerNotResponding as exc:
    print(exc)
"""),
    md("""
## 4. 超过 8192 字节的数据报被悄悄截断

`UDPServer.get_request` 用 `recvfrom(self.max_packet_size)` 读一个数据报。这个上限是多少？从正在运行的 Python 里读：
"""),
    code("""
print(socketserver.UDPServer.max_packet_size)
"""),
    md("""
一个数据报比它长时，多出来的部分被内核直接丢弃，**没有任何错误**。用一个标准库原样的 `ThreadingUDPServer`（处理器就是原教程的 UDP 处理器，去掉了 `print`）试试：
"""),
    code('''
class PlainUpperDatagram(socketserver.BaseRequestHandler):
    """The seed's UDP handler without its print()."""

    def handle(self):
        data, sock = self.request
        sock.sendto(data.upper(), self.client_address)


stock_udp = background.start(
    socketserver.ThreadingUDPServer(("127.0.0.1", 0), PlainUpperDatagram), "nb06-stock-udp")
'''),
    code("""
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(2)
    s.sendto(b"x" * 9000, stock_udp.address)  # 9000: over 8192, under macOS's 9216
    reply, _ = s.recvfrom(65535)
print("sent 9000 bytes, the reply has", len(reply))
"""),
    md("""
服务器只读到前 8192 字节，回复也就只有 8192 字节，808 个字节无声无息地消失了。`netlesson` 的客户端默认拒绝发送服务器装不下的数据报：
"""),
    code("""
try:
    udp.echo(b"x" * 9000, stock_udp.address)
except DatagramTooLong as exc:
    print(exc)
"""),
    md("""
如果坚持要发（`max_datagram=None`），它会发现回复变短了，报告截断；`ClassroomUDPServer` 则会在自己的日志里记下这件事（细节见 [03_udp_echo](03_udp_echo.ipynb)）：
"""),
    code("""
try:
    udp.echo(b"x" * 9000, stock_udp.address, max_datagram=None)
except TruncatedReply as exc:
    print(exc)
"""),
    code("""
classroom_udp = background.start_udp("nb06-udp")
try:
    udp.echo(b"y" * 9000, classroom_udp.address, max_datagram=None)
except TruncatedReply:
    pass
classroom_udp.log.wait_for("cut it")
classroom_udp.show_log()
"""),
    md("""
要传更多数据，就改用 TCP，或者在服务器**类**上把 `max_packet_size` 调大（一个 IPv4 UDP 数据报最多装 65507 字节；有的系统默认只让发更小的，比如 macOS 默认最多 9216 字节，所以这里的例子用 9000 字节）。

## 5. `serve_forever()` 会阻塞单元格

`serve_forever()` 是一个循环，只有当**另一个线程**调用 `shutdown()` 时才返回。在单元格里直接写 `server.serve_forever()`，这个单元格就一直显示 `[*]`，内核不再执行任何别的单元格，只能"中断内核"。看看它的循环：
"""),
    code("""
show_source(socketserver.BaseServer.serve_forever,
            highlight=["while not self.__shutdown_request", "select(poll_interval)"])
"""),
    md("""
我们不真的阻塞内核，而是把它放进一个线程，等 1 秒，证明它自己不会返回：
"""),
    code("""
blocking = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
runner = threading.Thread(target=blocking.serve_forever, daemon=True)
runner.start()
runner.join(timeout=1.0)
print("serve_forever returned within 1 s:", not runner.is_alive())
"""),
    md("""
正确的停法是从**另一个线程**（这里是运行单元格的主线程）调用 `shutdown()`，再 `server_close()` 关闭监听 socket。`shutdown()` 要等循环下一次醒来检查标志，最长 `poll_interval`（默认 0.5 秒）：
"""),
    code("""
t0 = time.perf_counter()
blocking.shutdown()
blocking.server_close()
runner.join(timeout=2)
print(f"shutdown() took {time.perf_counter() - t0:.2f} s; thread still alive: {runner.is_alive()}")
""", IGNORE_OUTPUT),
    md("""
课程里所有的服务器都用 `netlesson.background` 启动：它在守护线程里运行 `serve_forever`，立刻返回一个句柄。它的 `stop()` 设置停止标志后，向监听 socket 发起一次连接，把阻塞在 `select` 里的循环立刻唤醒——正是上面源码里那条 `XXX` 注释建议的做法——而不是等下一次轮询，所以只要几毫秒：
"""),
    code("""
bg = background.start_tcp("nb06-bg")
print(tcp.echo("the cell is free", bg.address))
bg.stop()
print(f"stop() took {bg.stop_seconds * 1000:.1f} ms")
""", IGNORE_OUTPUT),
    md("""
## 6. 在服务线程里调用 `shutdown()` 会死锁

`shutdown()` 做两件事：设置"请停下"的标志，然后**等待** `serve_forever` 确认它已经退出（一个 `threading.Event`）：
"""),
    code("""
show_source(socketserver.BaseServer.shutdown)
"""),
    md("""
如果调用 `shutdown()` 的正是运行 `serve_forever` 的那个线程，它就在等自己：`serve_forever` 要等 `handle()` 返回才能去检查标志，而 `handle()` 卡在 `shutdown()` 里等 `serve_forever` 退出。单线程的 `TCPServer` 就是这种情况，因为它的处理器直接运行在服务线程里。

我们在一个守护线程里制造这个死锁，只等 1.5 秒来确认它：
"""),
    code('''
class ShutdownFromHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.shutdown()  # runs in the serving thread: it waits for itself


stuck = socketserver.TCPServer(("127.0.0.1", 0), ShutdownFromHandler)
serving = threading.Thread(target=stuck.serve_forever, daemon=True)
serving.start()
socket.create_connection(stuck.server_address, timeout=2).close()
serving.join(timeout=1.5)
print("deadlocked:", serving.is_alive())
'''),
    md("""
要救出这个线程，只能替 `serve_forever` 把 `shutdown()` 等待的那个事件设上。这里用到了 `BaseServer` 的私有属性，只为收拾这个演示，不要在自己的程序里这样做：
"""),
    code("""
stuck._BaseServer__is_shut_down.set()  # demo clean-up only: what shutdown() is waiting for
serving.join(timeout=2)
stuck.server_close()
print("thread finished:", not serving.is_alive())
"""),
    md("""
`netlesson` 的服务器（`ClassroomServerMixIn`）能认出这种调用，直接抛出 `RuntimeError` 并说明原因，而不是永远卡住。处理器里真想让服务器停下，就用 `request_shutdown(server)`：它只设置标志并唤醒循环，**不等待**，所以在哪个线程里调用都可以：
"""),
    code('''
class SingleClassroomServer(ClassroomServerMixIn, socketserver.TCPServer):
    """Single-threaded, like TCPServer, with netlesson's safe shutdown()."""


class StopFromHandler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            self.server.shutdown()
        except RuntimeError as exc:
            self.server.log(f"RuntimeError: {exc}")
            request_shutdown(self.server)  # ask, don't wait: the loop ends after this request


polite = background.start(SingleClassroomServer(("127.0.0.1", 0), StopFromHandler), "nb06-polite")
socket.create_connection(polite.address, timeout=2).close()
polite.thread.join(timeout=2)
print("serve_forever ended by itself:", not polite.thread.is_alive())
polite.show_log()
polite.stop()
'''),
    md("""
## 7. "Address already in use"

同一个地址和端口上只能有一个监听 socket。第二个服务器绑定同一个端口时，标准库给出的错误只有一句话；`netlesson` 的错误说明了是哪个地址、该怎么办：
"""),
    code("""
first = background.start_tcp("nb06-first")
try:
    socketserver.TCPServer(first.address, socketserver.BaseRequestHandler)
except OSError as exc:
    print("socketserver:", exc)
try:
    tcp.create_server(first.address)
except PortInUseError as exc:
    print("netlesson:   ", exc)
"""),
    md("""
在笔记本里最常见的原因是**重新运行了启动服务器的单元格**，旧服务器还开着。`background` 按名字管理服务器：用同一个名字再启动，会先停掉旧的，所以连同一个端口也能立刻重新绑定：
"""),
    code("""
again = background.start_tcp("nb06-first", port=first.port)
print("same port:", again.port == first.port, "| old running:", first.running,
      "| new running:", again.running)
"""),
    md("""
### TIME_WAIT 与 `allow_reuse_address`

还有一种情况更让人困惑：服务器已经停了，没有任何程序在监听，端口却还是"被占用"。原因是 TCP 的 **TIME_WAIT** 状态：主动关闭连接的一方，要在这个状态里保留这条连接一段时间（Linux 上是 60 秒），以免网络里迟到的旧数据混进新连接。服务器在还有客户端连着的时候停止，它就是主动关闭的一方，这些连接会以服务器的端口留在 TIME_WAIT 里。

制造一次：客户端连上、收发一次，然后先停服务器、再关客户端：
"""),
    code("""
old = background.start_tcp("nb06-timewait")
port = old.port
client = socket.create_connection(old.address, timeout=2)
client.sendall(b"hi")
print(client.recv(16))
old.stop()      # the server closes first: its side of the connection enters TIME_WAIT
client.close()
"""),
    code("""
try:
    socketserver.TCPServer(("127.0.0.1", port), socketserver.BaseRequestHandler)
except OSError as exc:
    print("nobody is listening, and yet:", exc)
"""),
    md("""
套接字选项 `SO_REUSEADDR` 允许绑定仍有 TIME_WAIT 连接的端口（在 Linux 上，旧连接和新 socket 都要设置它）。`socketserver` 用类属性 `allow_reuse_address` 控制这个选项，但它是在 `server_bind()` 里读取的：
"""),
    code("""
show_source(socketserver.TCPServer.server_bind, highlight="allow_reuse_address")
"""),
    md("""
而 `server_bind()` 在构造函数 `__init__` 里就已经执行了。所以**在实例上**设置它为时已晚：在上面那个端口上，构造本身就已经失败，根本拿不到实例；在一个空闲端口上，构造成功后再设置，socket 上的选项仍然是 0：
"""),
    code("""
late = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
late.allow_reuse_address = True  # too late: server_bind() already ran inside __init__
print("SO_REUSEADDR on the socket:", late.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR))
late.server_close()
"""),
    md("""
正确的做法是在**类**上设置它，`server_bind()` 读到的就是 `True`：
"""),
    code('''
class ReusingTCPServer(socketserver.TCPServer):
    allow_reuse_address = True  # read by server_bind(), during __init__


reusing = ReusingTCPServer(("127.0.0.1", port), socketserver.BaseRequestHandler)
print("bound the port in TIME_WAIT:", reusing.server_address[1] == port,
      "| SO_REUSEADDR:", reusing.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR))
reusing.server_close()
'''),
    md("""
`netlesson.tcp.ClassroomTCPServer` 就是这样做的，所以它停下后可以立刻在原端口上重启：
"""),
    code("""
print("ClassroomTCPServer.allow_reuse_address =", tcp.ClassroomTCPServer.allow_reuse_address)
restarted = background.start_tcp("nb06-timewait", port=port)
print(tcp.echo("restarted on the same port", restarted.address))
"""),
    md("""
UDP 没有连接，也就没有 TIME_WAIT，所以 `ClassroomUDPServer` 保持 `allow_reuse_address = False`：在 Linux 上，这个选项会让第二个 UDP 服务器不报错地绑定同一个端口，悄悄抢走发往这个端口的数据报（[05_udp_walkthrough](05_udp_walkthrough.ipynb) 里第一个套接字什么也没收到）。

## 8. 客户端突然断开：RST 与 `handle_error`

客户端正常关闭时发送 FIN，服务器的 `recv` 返回 `b''`，处理器结束循环。如果客户端进程崩溃，或者它把 `SO_LINGER` 设为"立即、不等待"再关闭，内核发出的是 **RST**（复位），服务器下一次 `recv` 会抛出 `ConnectionResetError`。下面这个函数模拟这样的客户端：
"""),
    code('''
def reset_client(address):
    """Echo once, then close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    with socket.create_connection(address, timeout=2) as sock:
        sock.sendall(b"bye")
        sock.recv(16)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
'''),
    md("""
处理器里没有捕获的异常，会由 `process_request_thread`（或 `_handle_request_noblock`）交给服务器的 `handle_error`。标准实现把 traceback 打印到 stderr，然后**继续服务**：
"""),
    code("""
show_source(socketserver.BaseServer.handle_error)
"""),
    md("""
在笔记本里，后台线程打印到 stderr 的内容可能出现在任何一个正在运行的单元格里。所以我们写一个子类，把同样的信息记进服务器日志。处理器故意写得很天真，不捕获任何异常：
"""),
    code('''
class NaiveEcho(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(1024):
            self.request.sendall(data.upper())


class LoggingThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # what the stock version prints to stderr, as one log line
        last = traceback.format_exc().strip().splitlines()[-1]
        self.log(f"handle_error: {format_address(client_address)}: {last}")


naive_srv = background.start(
    LoggingThreadingTCPServer(("127.0.0.1", 0), NaiveEcho), "nb06-naive")
'''),
    code("""
reset_client(naive_srv.address)
naive_srv.log.wait_for("handle_error")
print(tcp.echo("still serving?", naive_srv.address))
naive_srv.show_log()
"""),
    md("""
服务器没有崩溃：一个客户端出错只结束了它自己的那个请求。`netlesson` 的 `UpperEchoHandler` 把 RST 当作一种正常的结束方式，写一行日志就结束，不经过 `handle_error`：
"""),
    code("""
reset_srv = background.start_tcp("nb06-reset")
reset_client(reset_srv.address)
reset_srv.log.wait_for("3 bytes)")
print(tcp.echo("still serving?", reset_srv.address))
reset_srv.log.wait_for("14 bytes)")
reset_srv.show_log()
"""),
    md("""
## 9. 连接洪峰与 back_log（`request_queue_size`）

客户端的 `connect()` 能够返回，并不需要服务器先调用 `accept()`：三次握手是**内核**替监听 socket 完成的。握手完成的连接先进入监听 socket 的一个等待队列（accept 队列），`serve_forever` 再一个一个地 `accept` 取走。队列能排多长，由 `listen(backlog)` 的参数决定，而 `socketserver` 在 `server_activate()` 里传给它的正是类属性 `request_queue_size`：
"""),
    code("""
show_source(socketserver.TCPServer.server_activate, highlight="listen")
"""),
    code("""
print("TCPServer:", socketserver.TCPServer.request_queue_size,
      "| constants.back_log:", constants.back_log,
      "| ClassroomTCPServer:", tcp.ClassroomTCPServer.request_queue_size)
"""),
    md("""
三处都是 5：原教程的 `back_log` 和标准库的默认值相同。平时这完全够用，因为 `serve_forever` 取走连接的速度很快。麻烦出在很多客户端**同一时刻**涌来的时候（连接洪峰）：队列满了，Linux 并不回复"拒绝"，而是把新来的 SYN（握手的第一个包）**直接丢掉**。客户端收不到任何回音，只能自己等着重发：1 秒后第一次，再没回音就隔 2 秒、4 秒……（累计 1、3、7 秒）。在程序里看，就是 `connect()` 莫名其妙地卡住了。

这不是纸上谈兵。我们让一个进程同时向 `ClassroomTCPServer`（队列长度 5）打开 200 个连接、每个连接发 20 条消息：整轮跑了约 2 分钟，最多有 27 个连接被重置（内核开启了 SYN cookies 时，一部分握手没有被丢掉，而是以 RST 收场）。改成逐步建立连接，或者把队列调到 128，同样的工作只要 1 秒左右。

### 9.1 让队列溢出

为了看得清楚又不用等很久，我们造一个**不服务**的服务器：构造函数已经调用了 `listen()`，但不启动 `serve_forever`，于是没有人 `accept()`，队列只进不出。客户端用非阻塞的 `connect` 一口气发起多个连接，再用 `select` 等它们完成，最多等一小会儿：
"""),
    code('''
def finish_connects(pending, seconds):
    """Wait up to *seconds* for non-blocking connects; return (connected, still_waiting)."""
    connected, pending = [], list(pending)
    deadline = time.monotonic() + seconds
    while pending and (left := deadline - time.monotonic()) > 0:
        _, ready, _ = select.select([], pending, [], left)
        for s in ready:  # writable: the handshake has finished (or failed)
            pending.remove(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                connected.append(s)
            else:
                s.close()
    return connected, pending


def connect_burst(address, count, seconds=0.3):
    """Start *count* connects at once, without waiting for any; give them *seconds* to finish."""
    started = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(address)  # returns at once: the kernel carries on with the handshake
        started.append(s)
    return finish_connects(started, seconds)
'''),
    md("""
Linux 会数自己因为 accept 队列满而丢掉了多少次握手，记在 `/proc/net/netstat` 的 `ListenOverflows` 里。这个计数器是整台机器（准确地说是整个网络命名空间）共用的，别的程序也会让它增加，所以待会儿只比较"至少增加了多少"：
"""),
    code('''
def listen_overflows():
    """Linux: handshakes dropped because an accept queue was full (None elsewhere)."""
    try:
        with open("/proc/net/netstat") as f:
            rows = [line.split() for line in f]
    except OSError:
        return None
    for names, values in zip(rows[::2], rows[1::2]):
        if names[0] == "TcpExt:" and "ListenOverflows" in names:
            return int(values[names.index("ListenOverflows")])
    return None
'''),
    md("""
现在发起 12 个连接，每个最多等 0.3 秒——比 SYN 第一次重发的 1 秒短得多：
"""),
    code("""
quiet = tcp.create_server()  # listening, but no serve_forever yet: nobody calls accept()
overflows_before = listen_overflows()
burst_started = time.monotonic()
connected, waiting = connect_burst(quiet.server_address, 12)
print(f"handshake done: {len(connected)} | SYN unanswered: {len(waiting)} | "
      f"request_queue_size + 1 = {quiet.request_queue_size + 1}")
if sys.platform == "linux" and overflows_before is not None:
    grew = listen_overflows() - overflows_before
    print(f"ListenOverflows grew by at least {len(waiting)}:", grew >= len(waiting))
"""),
    md("""
排进队列的正好是 `request_queue_size + 1` 个：Linux 判断"队列满"的条件是"已排队的连接数**大于** backlog"，所以能放下 backlog + 1 个。从第 7 个起，SYN 都被丢掉了，计数器也记下了这几次溢出。（这些数字是 Linux 的行为；别的操作系统规则不同，例如 Windows 在队列满时直接拒绝连接，客户端会得到 `ConnectionRefusedError`。）

### 9.2 开始服务：排队的先得到服务，被丢掉的要等重发

现在用 `background.start` 启动 `serve_forever`。队列里的 6 个连接马上被 `accept`，给它们各发一条消息：
"""),
    code("""
backlog_srv = background.start(quiet, "nb06-backlog")  # serve_forever starts accept()ing
for n, s in enumerate(connected):
    s.settimeout(2)
    s.sendall(f"queued {n}".encode())
print([framing.recvall(s, len(f"queued {n}")).decode() for n, s in enumerate(connected)])
"""),
    md("""
另外 6 个呢？它们的 SYN 已经丢了，内核没有回复，服务器也根本不知道它们存在。它们只能等客户端这边的内核重发 SYN。多给它们 3 秒：
"""),
    code("""
late, waiting = finish_connects(waiting, 3)
print(f"{len(late)} more connected, {time.monotonic() - burst_started:.1f} s after the burst; "
      f"still waiting: {len(waiting)}")
for s in late:
    s.settimeout(2)
    s.sendall(b"late")
print("replies from the late ones:", [framing.recvall(s, 4) for s in late].count(b"LATE"))
for s in connected + late + waiting:
    s.close()
"""),
    md("""
它们是在洪峰之后大约 1 秒才连上的：这正是 Linux 第一次重发 SYN 的等待时间。这里服务器在重发之前已经开始工作，所以重发一次就够了；如果重发时队列又是满的，下一次要再等 2 秒，然后 4 秒。200 个连接一起涌来时，有的客户端就这样被拖了好几秒，整轮测试得等最慢的那一个。

### 9.3 修法

**修法一：在类上调大 `request_queue_size`。** 它和 `allow_reuse_address` 一样，是在构造函数里（`server_activate()` → `listen()`）读取的，所以要在类上设置，构造之后再改实例属性已经晚了。同样 12 个连接、同样没有人 `accept`：
"""),
    code('''
class RoomyTCPServer(tcp.ClassroomTCPServer):
    request_queue_size = 128  # read by server_activate() -> listen(), inside __init__


roomy = tcp.create_server(server_class=RoomyTCPServer)  # not serving either
connected, waiting = connect_burst(roomy.server_address, 12)
print(f"handshake done: {len(connected)} | SYN unanswered: {len(waiting)}")
for s in connected + waiting:
    s.close()
roomy.server_close()
'''),
    md("""
队列也不能无限大：Linux 会把 `listen()` 的参数悄悄截到 `net.core.somaxconn`（较新的内核默认 4096，5.4 以前是 128）。不报错，只是不生效，所以值得看一眼本机的上限（这个数字因机器而异，这个单元格的输出不参与比较）：
"""),
    code("""
try:
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = int(f.read())
except OSError:
    somaxconn = None  # not Linux: the system applies its own limit
print("net.core.somaxconn:", somaxconn)
if somaxconn is not None:
    print("RoomyTCPServer really gets:", min(RoomyTCPServer.request_queue_size, somaxconn))
""", IGNORE_OUTPUT),
    md("""
**修法二：客户端别一拥而上。** 如果让客户端逐步建立连接——任何时候"已握手、还没被 `accept`"的连接不超过 back_log 个——队列就永远不会满。最简单的做法是每个连接先收到一次回复（说明服务器已经 `accept` 了它），再打开下一个。这样，即使队列只有 5，30 个连接也能很快同时开着：
"""),
    code("""
clients = []
for n in range(30):  # the next one connects only after this one got its reply, i.e. was accepted
    client = tcp.TCPEchoClient(backlog_srv.address, timeout=2)
    assert client.send(f"client {n}") == f"CLIENT {n}"
    clients.append(client)
held = len(backlog_srv.server.open_requests())  # may still include a closing earlier client
print("all 30 answered; the server holds them open at once:", held >= len(clients))
for client in clients:
    client.close()
backlog_srv.stop()
"""),
    md("""
需要并发打开连接时，也可以用信号量限制同时在握手的连接数（`tests/unit/test_tcp.py` 里的 200 客户端测试就用 `asyncio.Semaphore(back_log)` 这样做）。另外，客户端的 `connect` 一定要有超时：`TCPEchoClient` 的 `timeout` 同样作用于建立连接，超时后抛出 `ServerUnavailable`，调用方可以等一会儿再重试，而不是毫无反应地卡在那里。

顺带一提：客户端和服务器在**同一个进程**里时（比如测试、比如这本笔记本），大量客户端线程还会和运行 `serve_forever` 的线程争抢 GIL，`accept` 变慢，队列更容易满。
"""),
    md("""
## 小结

| 陷阱 | 症状 | 修法 |
| --- | --- | --- |
| TCP 没有消息边界 | 回复不完整、错位，或两条消息粘在一起 | `recvall`、长度前缀、分隔符（`netlesson.framing`） |
| UTF-8 字符被切开 | `UnicodeDecodeError` 或 `�` | 收齐再解码，或 `Utf8Stream` |
| UDP 丢包 | 客户端永远等待 | 超时 + 重试（`UDPEchoClient`）；注意重复请求 |
| 数据报超过 `max_packet_size` | 数据被悄悄截断 | 控制数据报大小，或在类上调大上限，或改用 TCP |
| `serve_forever()` 阻塞 | 单元格停在 `[*]` | 在线程里运行（`background.start_tcp`） |
| 在服务线程里 `shutdown()` | 永久死锁 | 从别的线程调用；处理器里用 `request_shutdown` |
| 端口被占用、TIME_WAIT | "Address already in use" | 停掉旧服务器、用端口 0；在**类**上设置 `allow_reuse_address` |
| 客户端 RST | `ConnectionResetError`，stderr 上的 traceback | 在处理器里捕获；覆盖 `handle_error` 记日志 |
| 连接洪峰超过 back_log | 部分 `connect()` 卡住 1、3、7 秒……，甚至被重置 | 在**类**上调大 `request_queue_size`（上限 somaxconn）；客户端逐步建立连接，`connect` 设超时再重试 |

最后停掉本笔记本启动的所有服务器：
"""),
    code("""
print("stopped", background.stop_all(), "servers")
"""),
    md("""
## 下一步

[07_concurrency.ipynb](07_concurrency.ipynb)：同一个回显服务器，分别用单线程、多线程、多进程和 asyncio 实现，用真实的并发客户端测量并画图比较。
"""),
]


# ---------------------------------------------------------------------------
# 07_concurrency
# ---------------------------------------------------------------------------

NB07 = [
    md("""
# 07 · 并发模型：单线程、多线程、多进程与 asyncio

`ThreadingTCPServer` 为每个客户端开一个线程。为什么要这样？不开线程会怎样？开进程、或者干脆只用一个线程加事件循环又会怎样？这一节不靠猜：把同一个大写回显服务器用四种方式实现，用真实的并发客户端去测，再把结果画出来。

- **本节内容**：`TCPServer`、`ThreadingTCPServer`、`ForkingTCPServer` 与 asyncio 各自怎样处理并发；为什么多进程服务器要在子进程里运行；用 1、8、32 个并发客户端测量每秒往返次数并画图；"等待型"与"计算型"工作的区别
- **预计用时**：30 分钟（整本运行一遍约 15 秒）
- **先修知识**：[02_tcp_echo](02_tcp_echo.ipynb)、[04_tcp_walkthrough](04_tcp_walkthrough.ipynb)（`process_request` 在服务循环中的位置）
"""),
    code("""
import socketserver

from netlesson import concurrency
from netlesson.source import show_source
"""),
    md("""
## 四种模型

在 [04_tcp_walkthrough](04_tcp_walkthrough.ipynb) 里我们看到，`serve_forever` 的每一轮都会调用 `process_request(request, client_address)`。三种 `socketserver` 服务器最关键的区别就在**这一个方法**（两个混入类还各自覆盖了 `server_close`，`ForkingMixIn` 另有回收子进程的几个方法，但决定并发方式的是 `process_request`）：

| 模型 | 服务器 | `process_request` 做什么 |
| --- | --- | --- |
| 单线程 | `socketserver.TCPServer` | 直接调用处理器，`handle()` 返回前不会再 `accept` 下一个连接 |
| 多线程 | `socketserver.ThreadingTCPServer` | 开一个新线程运行处理器，自己马上回去 `accept` |
| 多进程 | `socketserver.ForkingTCPServer` | `os.fork()` 出一个子进程运行处理器，父进程马上回去 `accept` |
| 事件循环 | `asyncio.start_server` | 没有 `process_request`：一个线程、一个事件循环，每个连接是一个协程，在 `await` 处让出 |

从正在运行的 Python 里看后两种的 `process_request`：
"""),
    code("""
show_source(socketserver.ThreadingMixIn.process_request, highlight="threading.Thread")
"""),
    code("""
show_source(socketserver.ForkingMixIn.process_request, highlight="os.fork()")
"""),
    md("""
### 为什么每个服务器都在子进程里运行

`os.fork()` 复制的是**调用它的整个进程**。如果在笔记本里直接运行 `ForkingTCPServer`，被复制的就是 Jupyter 内核本身：连同它的线程、和前端通信的 ZeroMQ socket、以及内核持有的锁。子进程里只有调用 `fork` 的那一个线程活着，别的线程持有的锁永远不会被释放，子进程还可能往内核的通信通道里写东西——结果是难以解释的卡死和错乱。

所以这一节的每种服务器都作为**独立的子进程**运行：`netlesson.concurrency` 启动 `python -m netlesson.concurrency serve KIND --port 0`，子进程把自己拿到的端口打印在第一行，并在标准输入关闭时退出，所以它不会比启动它的笔记本活得更久。测量用的客户端留在内核里，只做网络收发。同样的命令也可以在终端里手动运行：
"""),
    code("""
print(" ".join(concurrency.EchoServerProcess("forking", delay=0.01).command()[1:]))
"""),
    md("""
还有一处和标准库的默认值不同：这些服务器的监听队列长度（`request_queue_size`，即 `listen()` 的参数）是 `concurrency.DEFAULT_BACKLOG`，而不是 `TCPServer` 默认的 5。32 个客户端同时连接时，长度为 5 的队列会溢出，多出来的连接要等 1 秒后重发 SYN 才能连上（[06_pitfalls](06_pitfalls.ipynb) 第 9 节演示过），测到的就成了重传的等待，而不是并发模型本身：
"""),
    code("""
print("socketserver.TCPServer.request_queue_size =", socketserver.TCPServer.request_queue_size)
print("the servers measured here use             ", concurrency.DEFAULT_BACKLOG)
"""),
    md("""
四种服务器用的是同一个处理器逻辑：收一条消息，**模拟处理它要花的时间**（`delay`），再回复大写。本机回环地址上一次往返只要几十微秒，几乎全是开销，看不出并发的作用；真实服务器处理一个请求往往要查数据库、读文件、调用别的服务，大部分时间在**等待**。`delay` 默认用 `time.sleep` 模拟这种等待：
"""),
    code("""
show_source(concurrency.ModelEchoHandler, highlight="_simulate_work")
"""),
    md("""
asyncio 版本的处理器是一个协程，等待用的是 `await asyncio.sleep(...)`，在等待期间事件循环去处理别的连接：
"""),
    code("""
show_source(concurrency.asyncio_echo, highlight=["await reader", "await asyncio", "await writer"])
"""),
    md("""
## 先预测，再测量

每条消息要"处理" 10 毫秒。8 个客户端同时连上来，每个发 5 条消息，一共 40 次往返。动手之前先想一想：

- 单线程服务器一次只服务一个客户端，40 × 10 ms 需要多久？每秒能完成多少次往返？
- 多线程服务器让 8 个客户端同时等待，又是多少？
"""),
    code("""
DELAY = 0.01  # seconds of simulated work per message
"""),
    md("""
`run_clients` 让若干个客户端同时连接，每个依次发送若干条消息、等待并**检查**每一条回复，返回用时和每秒往返次数（单线程服务器要传 `warmup=False`，原因见它的文档字符串）。测量结果每次运行都不同，所以下面这些单元格的输出不参与笔记本测试的比较：
"""),
    code("""
with concurrency.start_server("single", delay=DELAY) as srv:
    print(concurrency.run_clients(srv.address, clients=8, messages=5, warmup=False, kind="single"))
""", IGNORE_OUTPUT),
    code("""
with concurrency.start_server("threading", delay=DELAY) as srv:
    print(concurrency.run_clients(srv.address, clients=8, messages=5, kind="threading"))
""", IGNORE_OUTPUT),
    md("""
单线程服务器大约每秒 100 次（= 1 / 10 ms），不管来了多少客户端；多线程服务器大约是它的 8 倍，因为 8 个客户端的"等待"重叠在了一起。

## 四种模型，1、8、32 个并发客户端

`concurrency.compare` 依次启动每种服务器，在每个并发数下测量，再停掉它。表格里括号中的数字是"理想值"：如果每条消息的 10 ms 是唯一的开销，能达到多少次每秒。
"""),
    code("""
results = concurrency.compare(["single", "threading", "forking", "asyncio"],
                              clients=(1, 8, 32), messages=5, delay=DELAY)
results
""", IGNORE_OUTPUT),
    code("""
results.plot()
""", IGNORE_OUTPUT),
    md("""
### 这张图说明了什么

两个坐标轴都是对数刻度，灰色虚线是理想值"客户端数 / 10 ms"。

- **单线程**（`TCPServer`）是一条水平线，停在每秒约 100 次：`handle()` 返回之前服务器不会接受下一个连接，客户端再多也只能排队。第 2 个客户端要等第 1 个**断开**才轮得到，所以一个长时间不断开的客户端会让所有人等下去。
- **多线程、多进程、asyncio** 都随客户端数上升，贴近虚线：它们让所有客户端的等待同时进行。
- 客户端越多，各条线离虚线越远。注意测量**不包括**建立连接：每个客户端先连上并完成一次往返（预热），计时才开始，所以多进程 `fork` 子进程、多线程创建线程的开销都不在图里。剩下的差距来自每条消息的调度：两个 CPU 核心要轮流照顾 32 个客户端和服务器，线程要切换，事件循环要调度协程。这些差距很小，高低每次运行都会变，一次测量不足以给这三种模型排名次；要认真比较，就用 `compare(..., rounds=3)` 取中位数，并增加每个客户端的消息数。
- 数字因机器而异，也会受同时运行的其他程序影响：在你的电脑上重新运行，高低会变，但形状（单线程是平的，其他三种上升）不会变。

## 如果工作是"计算"而不是"等待"

上面的 `delay` 是 `time.sleep`：线程在睡眠时释放 GIL（全局解释器锁），别的线程可以运行。如果处理一条消息要的是**计算**（Python 代码一直在跑），情况就不同了：同一个进程里的线程要轮流持有 GIL，一次只有一个在计算；asyncio 的协程在计算时根本不会 `await`，整个事件循环都被占住。只有多进程服务器的子进程各有自己的解释器和 GIL，能真正同时用上多个 CPU 核心。

把 `work="cpu"`（忙循环 5 ms）传给服务器，用 4 个客户端试试：
"""),
    code("""
cpu_results = concurrency.compare(["threading", "forking", "asyncio"], clients=(1, 4),
                                  messages=4, delay=0.005, work="cpu")
cpu_results
""", IGNORE_OUTPUT),
    md("""
括号里的理想值已经按本进程可用的 CPU 核数（`concurrency.usable_cpus()`）算好：线程和 asyncio 不管几个客户端都是约每秒 200 次（一次只能算一个），多进程最多可以乘上核心数。在一台有空闲核心的多核机器上，多进程那一行在 4 个客户端时会明显更高；如果机器只有一个核心，或者别的程序正占着 CPU，差别就会变小，甚至看不出来——这本身也是一个值得记住的结论：并发模型能带来多少，取决于瓶颈在哪里。

## 怎么选

| 模型 | 好处 | 代价 | 适合 |
| --- | --- | --- | --- |
| 单线程 `TCPServer` | 最简单，没有共享数据的问题 | 一次只服务一个客户端 | 调试、一次只有一个客户端的工具 |
| 多线程 `ThreadingTCPServer` | 写法和单线程一样，等待可以重叠 | 共享的数据要加锁；计算受 GIL 限制；每个连接一个线程 | 以等待为主、连接数不太多（几百个）的服务，本课程的默认选择 |
| 多进程 `ForkingTCPServer` | 计算可以用上多个核心；一个请求崩溃不影响别人 | `fork` 较慢；进程间不共享内存；只在 Unix 上可用 | 计算量大、需要隔离的服务 |
| asyncio | 一个线程就能处理成千上万个连接，每个连接只占一个协程的内存 | 整个调用链都要是 `async` 的；一段阻塞代码会卡住所有连接 | 大量连接、以等待为主的服务 |

本节启动的服务器进程都已经在 `with` 语句结束时停掉了；下面这行确认没有遗留：
"""),
    code("""
print("server processes still running:", concurrency.stop_all())
"""),
    md("""
## 下一步

课程正文到这里就结束了。去 [exercises/](exercises/) 文件夹做练习：每道题都有自动检查，它会用真实的服务器和客户端运行你的代码，并告诉你具体哪里不对。
"""),
]


# ---------------------------------------------------------------------------


NOTEBOOKS_SPEC = {"06_pitfalls": NB06, "07_concurrency": NB07}


if __name__ == "__main__":
    sys.exit(main(NOTEBOOKS_SPEC, sys.argv[1:]))
