"""Write the source of notebooks 04 and 05, the two source walkthroughs (cells only, no outputs).

The cells live here, as text, so a change to the course is a reviewable diff of
this file rather than of notebook JSON.  Running the script overwrites the two
notebooks *without outputs*; execute them afterwards so the stored outputs come
from a real run (never edit outputs by hand)::

    .venv/bin/python tools/build_nb_0405.py
    .venv/bin/python tools/execute_notebooks.py notebooks/04_tcp_walkthrough.ipynb \
        notebooks/05_udp_walkthrough.ipynb

Every fact the notebooks state about ``socketserver`` is shown by a code cell
from the running interpreter (its source, its class attributes, a traced real
request), never typed into the prose: line numbers and details move between
Python versions.  Source highlights are substrings, not line numbers, for the
same reason.

Cell ids are derived from the notebook and the cell's position, so rebuilding
an unchanged notebook gives the same ids and re-running the script is safe.
"""

from __future__ import annotations

import sys

from nbbuild import IGNORE_OUTPUT, code, main, md  # noqa: F401  (tools/ is on sys.path)


# ---------------------------------------------------------------------------
# 04_tcp_walkthrough
# ---------------------------------------------------------------------------

NB04 = [
    md("""
# 04 · TCP 源码走读：一个请求在 `socketserver` 里走过的每一步

- **本节内容**：`socketserver.ThreadingTCPServer(地址, Handler)` 和 `serve_forever()` 背后到底调用了哪些方法、按什么顺序、在哪个线程里。分两段：**初始化**（`__init__` 沿查找链被找到、`BaseServer.__init__`、`server_bind`、`server_activate` 与 `listen`）和**开启服务**（`serve_forever`、`_handle_request_noblock`、`get_request`、`verify_request`、`process_request`、`process_request_thread`、`finish_request`、handler 的 `__init__`、`setup`、`handle`、`finish`，以及收尾的 `shutdown_request`/`close_request`）。每一步都配有当前 Python 的真实源码（关键行高亮）和它在一次真实请求的调用追踪里的位置。
- **预计用时**：40 分钟
- **先读**：[01_socketserver_classes](01_socketserver_classes.ipynb)（查找顺序 `__mro__`）和 [02_tcp_echo](02_tcp_echo.ipynb)（我们要走读的 TCP 回显服务器）
"""),
    md("""
## 本节用到的三样工具

原教程用一张张 `socketserver.py` 的截图加箭头讲解源码。截图只对截图时那个 Python 版本成立：行号会移动，方法会增加参数。这里改用三样"现场"工具，它们读取的都是**此刻运行这个笔记本的解释器**：

- `source.show_source(方法, highlight=...)`：显示这个方法的真实源码，高亮关键行，并注明文件、行号和 Python 版本；
- `trace.trace_tcp()`：真的启动一个服务器、发一次请求，同时用性能分析钩子（`sys.setprofile` / `threading.setprofile`）记下每一次进入 `socketserver` 和 handler 方法的调用；
- `diagrams`：把类的查找链和调用流程画成图。

源码里的行号因版本而异，所以先看看我们在哪个版本上：
"""),
    code("""
import platform
import socket
import socketserver

from netlesson import constants, diagrams, source, tcp, trace

print(f"Python {platform.python_version()}")
"""),
    md("""
## 先看全貌：追踪一次真实请求

`trace.trace_tcp()` 做的事和原教程的 TCP 服务端一模一样：用 `socketserver.ThreadingTCPServer` 加上 02 里的大写回显 handler（就是原教程的 `MyServer`）创建服务器，只不过端口用 `0`；然后在后台线程里运行 `serve_forever()`，让一个真实的客户端连上来发送 `b"hello"`、关闭自己的发送方向、读完回复。整个过程中每一次调用 `socketserver` 或 handler 的方法都被记录下来；结束后服务器被关闭，钩子被移除。
"""),
    code("""
t = trace.trace_tcp(b"hello")
t
"""),
    md("""
怎么读这张表：

- **编号**是调用的先后；**缩进**表示谁调用了谁（缩进多一层，就是被上一层调用的）；括号里是这个方法**定义**在哪个文件的哪一行。
- **方括号**里是线程：`main` 是执行本单元格的线程，对象就在这里构造；`serve_forever` 是运行服务循环的后台线程；`handler` 是服务器为这次请求新开的线程。
- 两个后台线程是**同时**运行的。为了让每次运行的输出都一样，表里每个线程的调用按它自己的先后排列，新线程作为一整段，紧接在创建它的那次调用之后。真实的交错顺序（例如 `service_actions` 究竟比 handler 早还是晚）每次都可能不同，可以用 `t.timeline()` 查看。
- 除了教程讲到的主线步骤，表里还有几个"配角"：`fileno`（选择器要知道监听哪个文件描述符）、`_Threads.append` / `_Threads.reap`（混入类登记它开出的线程，关闭服务器时好等它们结束）、`service_actions`（服务循环每转一圈调用一次的钩子，`BaseServer` 里什么也不做），以及 `UpperEchoHandler.setup` 通过 `super()` 调用的 `BaseRequestHandler.setup`。

同一份追踪画成图，每个线程一条泳道。蓝色方框是 `socketserver.py` 里的方法，黄色方框是我们自己的 handler 代码；实线箭头从调用者指向被调用者，点线把同一线程里先后两次顶层调用连起来，红色虚线箭头指向一个新线程的第一次调用：标着 starts thread 的从开这个线程的那次调用出发；标着 new thread 的来自"thread started outside the traced calls"这行字，表示开这个线程的代码不在追踪范围内（`serve_forever` 的线程是追踪工具自己开的，就像 `background.start` 那样）：
"""),
    code("""
t.diagram()
"""),
    md("""
去掉配角，只留下本节要逐一讲解的主线步骤（`main_path=True`），按阶段列出：
"""),
    code("""
for phase in ("construct", "serve", "handle"):
    print(f"{phase}:")
    for name in t.order(phase, main_path=True):
        print("   ", name)
"""),
    md("""
接下来按这个顺序逐步走读。每一步先看源码，再看它在上面那次追踪里的位置（`t.focus(...)` 用 `->` 标出）。

## 第一部分 · 属性和方法的查找顺序

走读时我们会不断遇到 `self.server_bind()`、`self.process_request(...)` 这样的调用。`self` 是一个 `ThreadingTCPServer` 对象，Python 沿着它的类的 `__mro__` 逐个类查找这个名字，第一个在自己的 `__dict__` 里定义了它的类胜出（详见 01）。原教程列出的顺序是 ThreadingTCPServer → ThreadingMixIn → TCPServer → BaseServer，用当前的 Python 核对一下：
"""),
    code("""
[cls.__name__ for cls in socketserver.ThreadingTCPServer.__mro__]
"""),
    code("""
diagrams.mro(socketserver.ThreadingTCPServer)
"""),
    md("""
## 第二部分 · 初始化

原教程的服务端只有一行创建服务器：`socketserver.ThreadingTCPServer(constants.ip_port, MyServer)`。Python 先创建一个空对象，再沿查找链寻找 `__init__` 来初始化它。

### 第 1 步：寻找 `__init__`

**先预测：** 查找链上的四个类，哪个最先定义了自己的 `__init__`？想好再运行下面的单元格。
"""),
    code("""
for cls in socketserver.ThreadingTCPServer.__mro__:
    print(f"{cls.__name__:<20} defines __init__ itself: {'__init__' in vars(cls)}")
print("ThreadingTCPServer(...) runs:",
      source.defining_class(socketserver.ThreadingTCPServer, "__init__").__name__ + ".__init__")
"""),
    md("""
`ThreadingTCPServer` 自己什么都没写，类体只有一个 `pass`，全部本事来自两个基类：
"""),
    code("""
source.show_source(socketserver.ThreadingTCPServer)
"""),
    md("""
于是查找先走到左边的基类 `ThreadingMixIn`。它自己定义的方法只有下面几个，没有 `__init__`：
"""),
    code("""
sorted(name for name, value in vars(socketserver.ThreadingMixIn).items() if callable(value))
"""),
    md("""
查找继续走到 `TCPServer`，在那里找到了 `__init__`。图中橙色标出的就是提供者：
"""),
    code("""
diagrams.mro(socketserver.ThreadingTCPServer, "__init__")
"""),
    md("""
### 第 2 步：`TCPServer.__init__`

它做四件事：

1. **显式**调用 `BaseServer.__init__(self, ...)`。注意这不是沿查找链找到的，而是直接点名调用父类的方法；
2. 用类属性 `address_family` 和 `socket_type` 创建套接字；
3. 如果 `bind_and_activate` 为真（默认如此），依次调用 `self.server_bind()` 和 `self.server_activate()`，这两个名字又要沿查找链查找；
4. 这两步中任何一步出错，就先 `server_close()` 关掉套接字再把异常抛出去，所以绑定失败不会留下一个没人管的套接字。
"""),
    code("""
source.show_source(socketserver.TCPServer.__init__,
                   highlight=["BaseServer.__init__", "socket.socket(", "self.server_bind()",
                              "self.server_activate()", "self.server_close()"])
"""),
    code("""
t.focus("TCPServer.__init__", context=3)
"""),
    md("""
第 2 件事用到的两个类属性，就是服务器的"配置"：
"""),
    code("""
print("address_family:", socketserver.TCPServer.address_family.name)
print("socket_type:   ", socketserver.TCPServer.socket_type.name)
"""),
    md("""
### 第 3 步：`BaseServer.__init__`

这里只是把参数存起来，并准备好关闭服务器要用的两样东西：

- `self.server_address`：要绑定的地址（下一步会被改写！）；
- `self.RequestHandlerClass`：你传进来的 handler **类**，而不是对象。以后每来一个请求，服务器就用它新建一个 handler 对象；
- `__is_shut_down`（一个 `threading.Event`）和 `__shutdown_request`（一个标志）：`shutdown()` 设置标志，再等待事件，`serve_forever` 看到标志后退出循环并设置事件。名字以双下划线开头，所以会被改名为 `_BaseServer__shutdown_request` 之类，子类不会误用。
"""),
    code("""
source.show_source(socketserver.BaseServer.__init__,
                   highlight=["self.server_address", "self.RequestHandlerClass",
                              "__is_shut_down", "__shutdown_request"])
"""),
    code("""
t.focus("BaseServer.__init__")
"""),
    md("""
### 第 4 步：`server_bind`

回到 `TCPServer.__init__`，它接着调用 `self.server_bind()`。

**先预测：** 对 `ThreadingTCPServer` 对象来说，`server_bind` 由哪个类提供？
"""),
    code("""
diagrams.mro(socketserver.ThreadingTCPServer, "server_bind")
"""),
    md("""
`TCPServer.server_bind` 先根据 `allow_reuse_address` / `allow_reuse_port` 设置套接字选项，然后 `bind`，最后一行很关键：**用 `getsockname()` 的结果覆盖 `server_address`**。所以你传入端口 `0` 时，绑定之后 `server_address` 里就是操作系统实际分配的端口，客户端要连的就是它。

顺便注意：`allow_reuse_address` 是在这里、在绑定之前读取的。如果你在对象创建之后才把它设为 `True`，已经太晚了；应该在类上设置（`ClassroomTCPServer` 就是这么做的）。
"""),
    code("""
source.show_source(socketserver.TCPServer.server_bind,
                   highlight=["allow_reuse_address", "self.socket.bind(", "getsockname()"])
"""),
    code("""
t.focus("server_bind")
"""),
    md("""
**亲手走一遍。** 创建服务器时传入 `bind_and_activate=False`，`TCPServer.__init__` 就只做前两件事，后面的步骤由我们在单元格里一步一步亲自调用。这里用不带混入类的 `socketserver.TCPServer` 和同一个回显 handler：初始化和处理请求的步骤完全相同，只是不开新线程，所以一切都发生在当前单元格里。我们不调用 `serve_forever`，也就不会卡住；每个套接字操作都设了超时。

**先预测：** 绑定前后，`server_address` 分别是什么？
"""),
    code("""
# Re-running this cell? First close the sockets a previous run may have left open.
for leftover in (globals().get("client"), getattr(globals().get("manual"), "socket", None)):
    if leftover is not None:
        leftover.close()

manual = socketserver.TCPServer(("127.0.0.1", 0), tcp.UpperEchoHandler, bind_and_activate=False)
manual.socket.settimeout(2)  # accept() below waits at most 2 s
print("before server_bind:", manual.server_address)
manual.server_bind()
print("after  server_bind:", manual.server_address)
print("port 0 was replaced by the real port:", manual.server_address[1] != 0)
"""),
    md("""
### 第 5 步：`server_activate` 与 `listen`

`TCPServer.__init__` 的下一步是 `self.server_activate()`，同样由 `TCPServer` 提供。它只有一行：`listen(self.request_queue_size)`。`listen` 把套接字变成**监听套接字**：从此操作系统内核会替它完成客户端的三次握手，并把已建立、但程序还没 `accept` 的连接排成队列，队列长度就是这个参数。`request_queue_size` 是类属性，和原教程常量模块里的 `back_log` 一样：
"""),
    code("""
source.show_source(socketserver.TCPServer.server_activate, highlight="listen(")
"""),
    code("""
print("TCPServer.request_queue_size =", socketserver.TCPServer.request_queue_size)
print("constants.back_log           =", constants.back_log)
"""),
    code("""
t.focus("server_activate")
"""),
    md("""
在手动创建的服务器上验证：向内核查询套接字是否处于监听状态（`SO_ACCEPTCONN` 选项），调用 `server_activate()` 前后各查一次。
"""),
    code("""
def listening(sock):
    \"\"\"Ask the kernel whether the socket is in the listening state (SO_ACCEPTCONN).\"\"\"
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


print("listening before server_activate:", listening(manual.socket))
manual.server_activate()
print("listening after  server_activate:", listening(manual.socket))
"""),
    md("""
**先预测：** 到现在为止，还没有任何代码调用过 `accept`。此时一个客户端去 `connect`，会成功、失败，还是卡住？
"""),
    code("""
client = socket.create_connection(manual.server_address, timeout=2)
print("connected before anyone called accept():", client.getpeername() == manual.server_address)
"""),
    md("""
连接成功了：握手由内核完成，这个连接现在正排在监听队列里，等程序来取。"取"就是后面的 `get_request`。

### 第 6 步：初始化完成

`__init__` 返回时，服务器已经有了一个绑定好、正在监听的套接字，但还没有接受任何连接，也没有开任何线程。追踪里的构造阶段正是这四步，全部发生在 `main` 线程（你的单元格）里：
"""),
    code("""
t.order(phase="construct")
"""),
    md("""
## 第三部分 · 开启服务

原教程接下来调用 `server.serve_forever()`。这个方法永远不会自己返回，所以在笔记本里它必须放在后台线程中运行（02 里的 `netlesson.background` 和这里的 `trace_tcp` 都是这么做的），在追踪里它就是 `serve_forever` 线程。

### 第 7 步：查找并执行 `serve_forever`
"""),
    code("""
diagrams.mro(socketserver.ThreadingTCPServer, "serve_forever")
"""),
    md("""
`BaseServer.serve_forever` 是整个服务器的心脏：

1. 把服务器自己注册到一个选择器（`selector.register(self, ...)`）上。选择器通过 `fileno()` 得知要盯住哪个套接字，追踪里紧跟着的 `TCPServer.fileno` 就是这么来的；
2. 只要没有收到关闭请求，就循环：`selector.select(poll_interval)` 最多等待 `poll_interval` 秒，直到监听套接字**可读**（对监听套接字来说，就是有新连接排进了队列）；
3. 醒来后先检查关闭标志，再在可读时调用 `_handle_request_noblock()`；
4. 每转一圈调用一次 `service_actions()`；
5. 退出时（`finally`）清除标志并设置 `__is_shut_down` 事件，正在等待的 `shutdown()` 就此返回。
"""),
    code("""
source.show_source(socketserver.BaseServer.serve_forever,
                   highlight=["selector.register(", "selector.select(", "self.__shutdown_request:",
                              "self._handle_request_noblock()", "self.service_actions()",
                              "self.__is_shut_down.set()"])
"""),
    code("""
t.focus("serve_forever", "fileno", "service_actions")
"""),
    md("""
第 5 点说的 `shutdown()` 就是从循环外面让它停下来的方法。它只做两件事：设置标志，然后等待 `__is_shut_down` 事件。由此可以推出两条使用规则：

- 循环要等 `select` 返回才会检查标志，所以 `shutdown()` 不会立刻返回：通常要等到这次 `select` 超时，最长一个 `poll_interval`（默认 0.5 秒）；如果服务循环正忙着处理一个请求，还要等它处理完；
- 在运行 `serve_forever` 的那个线程里调用 `shutdown()` 会永远等下去：要设置事件的正是被它卡住的这个线程。文档字符串里写明了这一点。（`ThreadingTCPServer` 的 `handle` 在另一个线程里，不会这样；但单线程的 `TCPServer` 在服务循环的线程里直接调用 `handle`，在那里调用 `shutdown()` 就会卡死。）
"""),
    code("""
source.show_source(socketserver.BaseServer.shutdown,
                   highlight=["or it will", "deadlock", "self.__shutdown_request = True",
                              "self.__is_shut_down.wait()"])
"""),
    md("""
[06_pitfalls](06_pitfalls.ipynb) 会现场演示这两条规则。
"""),
    md("""
### 第 8 步：`_handle_request_noblock`

名字里的 "noblock" 是说：选择器已经报告有连接在等，所以接下来的 `get_request` 不会阻塞。它把一个请求的处理串成一条流水线：

- `get_request()` 取出请求；出 `OSError` 就放弃这次；
- `verify_request()` 决定要不要处理；不处理就直接 `shutdown_request()`；
- `process_request()` 处理；出异常则交给 `handle_error()`（打印异常信息，服务器继续运行），再 `shutdown_request()`。
"""),
    code("""
source.show_source(socketserver.BaseServer._handle_request_noblock,
                   highlight=["self.get_request()", "self.verify_request(", "self.process_request(",
                              "self.handle_error(", "self.shutdown_request("])
"""),
    code("""
t.focus("_handle_request_noblock", "get_request", "verify_request", "process_request", context=0)
"""),
    md("""
### 第 9 步：`get_request`：等待客户端连接

原教程说的"等待客户端连接"就是这一步。`TCPServer.get_request` 只有一行：`self.socket.accept()`。它从监听队列里取出一个连接，返回一个**新的**已连接套接字和客户端地址。监听套接字原封不动，继续等下一个客户端；每个客户端都有自己的套接字，它就是 handler 里的 `self.request`。
"""),
    code("""
source.show_source(socketserver.TCPServer.get_request, highlight="accept()")
"""),
    md("""
在手动服务器上，第 5 步连上来的客户端还在队列里，所以 `get_request()` 立即返回：
"""),
    code("""
request, client_address = manual.get_request()
request.settimeout(2)
print("request is a", type(request).__name__, "of type", request.type.name)
print("a new socket, not the listening one:", request is not manual.socket)
print("client_address is our client:", client_address == client.getsockname())
"""),
    md("""
### 第 10 步：`verify_request`

默认实现直接返回 `True`，它是留给你覆盖的钩子，例如只接受白名单里的客户端地址（练习里会写一个）。
"""),
    code("""
source.show_source(socketserver.BaseServer.verify_request, highlight="return True")
"""),
    code("""
manual.verify_request(request, client_address)
"""),
    md("""
### 第 11 步：`process_request`：从这里开始分岔

**先预测：** 对 `ThreadingTCPServer` 来说，`process_request` 来自哪个类？（01 里问过。）
"""),
    code("""
diagrams.mro(socketserver.ThreadingTCPServer, "process_request")
"""),
    md("""
`ThreadingMixIn.process_request` 并不亲自处理请求：它创建一个 `threading.Thread`，目标是 `self.process_request_thread`；按类属性 `daemon_threads` 设置是否为守护线程；把线程交给 `_threads` 登记，以便 `server_close()` 等它们结束；然后 `start()` 并**立即返回**。服务循环于是马上回到 `select`，可以去接待下一个客户端，而这个客户端由新线程负责。
"""),
    code("""
source.show_source(socketserver.ThreadingMixIn.process_request,
                   highlight=["threading.Thread(", "target = self.process_request_thread",
                              "t.daemon", "self._threads.append(t)", "t.start()"])
"""),
    md("""
追踪记下了 handler 线程是在哪次调用期间启动的：
"""),
    code("""
print("the handler thread was started inside:", t.started_by("handler"))
"""),
    code("""
t.focus("process_request", "process_request_thread")
"""),
    md("""
追踪里 `process_request` 下面的 `_Threads.append` 和 `_Threads.reap` 就是这次登记。登记时先清掉已经结束的线程，而**守护线程根本不登记**：
"""),
    code("""
source.show_source(socketserver._Threads.append, highlight=["self.reap()", "if thread.daemon:"])
"""),
    md("""
`ThreadingMixIn` 自己的 `server_close` 先关闭监听套接字，再 `join` 每一个登记过的线程：
"""),
    code("""
source.show_source(socketserver.ThreadingMixIn.server_close, highlight="self._threads.join()")
"""),
    md("""
所以默认设置（`daemon_threads = False`）下，`server_close()` 会一直等到所有还在和客户端对话的 handler 结束；设置了 `daemon_threads = True`（02 里的 `ClassroomTCPServer` 就是这样）则不等。还有一个类属性也管这件事：`block_on_close`，默认为 `True`。`process_request` 第一行就读它：只有它为真时才给服务器建一个真正登记线程的 `_Threads`；设成 `False`，`_threads` 就是类里的 `_NoThreads`，什么也不登记，`server_close()` 也就什么都不等。
"""),
    md("""
作为对比，被 `ThreadingMixIn` 挡在后面的 `BaseServer.process_request` 是在**当前线程**里直接处理完，再收尾。我们的手动服务器没有混入类，用的就是它：
"""),
    code("""
source.show_source(socketserver.BaseServer.process_request,
                   highlight=["self.finish_request(", "self.shutdown_request("])
"""),
    md("""
### 第 12 步：`process_request_thread`：在新线程里

新线程做的事和 `BaseServer.process_request` 几乎一样，多了异常处理：先 `finish_request`，出异常交给 `handle_error`，最后无论如何都 `shutdown_request`。所以 handler 即使崩溃，连接也一定会被关闭。
"""),
    code("""
source.show_source(socketserver.ThreadingMixIn.process_request_thread,
                   highlight=["self.finish_request(", "self.handle_error(", "self.shutdown_request("])
"""),
    md("""
`handle_error` 的默认实现把异常回溯打印到标准错误（`sys.stderr`），然后返回。异常不会传到服务循环里，服务器照常接待下一个客户端，只有这一个请求失败了：
"""),
    code("""
source.show_source(socketserver.BaseServer.handle_error, highlight=["file=sys.stderr", "print_exc()"])
"""),
    md("""
**先预测：** `get_request`、`process_request`、`process_request_thread`、`handle` 各在哪个线程里运行？
"""),
    code("""
for name in ("get_request", "process_request", "process_request_thread", "handle"):
    call = t.find(name)[0]
    print(f"{call.qualname:<40} runs in thread: {call.thread}")
"""),
    md("""
### 第 13 步：`finish_request`：创建 handler 对象

原教程的"调用初始化方法"：`finish_request` 只有一行，用第 3 步保存的 `RequestHandlerClass` 新建一个 handler 对象，把请求、客户端地址和服务器自己传进去。这个对象没有被保存下来，因为它的全部工作都在构造函数里完成。
"""),
    code("""
source.show_source(socketserver.BaseServer.finish_request, highlight="self.RequestHandlerClass(")
"""),
    md("""
### 第 14 步：handler 的 `__init__`：`setup` → `handle` → `finish`

`UpperEchoHandler` 没有自己的 `__init__`，查找链把我们带到 `BaseRequestHandler.__init__`：
"""),
    code("""
diagrams.mro(tcp.UpperEchoHandler, "__init__")
"""),
    md("""
它把三个参数存为 `self.request`、`self.client_address`、`self.server`，然后调用 `setup()`，在 `try` 里调用 `handle()`，在 `finally` 里调用 `finish()`。
"""),
    code("""
source.show_source(socketserver.BaseRequestHandler.__init__,
                   highlight=["self.setup()", "self.handle()", "self.finish()"])
"""),
    code("""
t.focus("BaseRequestHandler.__init__", "UpperEchoHandler.setup", "UpperEchoHandler.handle",
        "UpperEchoHandler.finish", context=0)
"""),
    md("""
### 第 15 步：`handle`：你的代码

`handle` 是 02 里写的大写回显（原教程的 `MyServer.handle`）：循环 `recv`，收到 `b''` 说明客户端关闭了发送方向，对话结束；否则把数据转成大写 `sendall` 回去。
"""),
    code("""
source.show_source(tcp.UpperEchoHandler.handle,
                   highlight=["self.request.recv(", "if not data", "self.request.sendall("])
"""),
    md("""
在手动服务器上让这个 handler 跑起来。客户端先发 `hello`，再关闭自己的发送方向，否则 `handle` 会一直等下一条消息。然后我们亲自调用 `finish_request`：`setup`、`handle`、`finish` 就在**当前这个线程**里依次运行。
"""),
    code("""
client.sendall(b"hello")
client.shutdown(socket.SHUT_WR)  # "no more data from me": handle() reads b'' after hello
manual.finish_request(request, client_address)  # setup -> handle -> finish, right here
print("reply:", client.recv(1024))
"""),
    md("""
### 第 16 步：`shutdown_request` 与 `close_request`

handler 结束后，`process_request_thread` 的 `finally` 调用 `shutdown_request`：先 `shutdown(SHUT_WR)` 明确告诉客户端"不会再有数据了"，再通过 `close_request` 关闭这个连接的套接字。源码注释解释了为什么不只调用 `close()`。
"""),
    code("""
source.show_source(socketserver.TCPServer.shutdown_request,
                   highlight=["request.shutdown(socket.SHUT_WR)", "self.close_request(request)"])
"""),
    code("""
source.show_source(socketserver.TCPServer.close_request, highlight="request.close()")
"""),
    md("""
**先预测：** 服务器对这个请求调用 `shutdown_request` 之后，客户端再 `recv` 会得到什么？服务器这边的 `request` 套接字还能用吗？
"""),
    code("""
manual.shutdown_request(request)
print("client now reads:", client.recv(1024), "(b'' = the server closed the connection)")
print("server's request socket is closed:", request.fileno() == -1)
"""),
    code("""
t.focus("shutdown_request", "close_request")
"""),
    md("""
手动实验到此结束，关闭客户端和服务器的监听套接字（`server_close`）：
"""),
    code("""
client.close()
manual.server_close()
print("listening socket closed:", manual.socket.fileno() == -1)
"""),
    md("""
## 小结：主线上的每一步、它的提供者和它所在的线程

下面这张表完全由追踪生成：阶段、线程、"定义它的类.方法"以及定义所在的文件和行。
"""),
    code("""
for call in t.select(main_path=True):
    print(f"{call.phase:<10} {call.thread:<14} {call.qualname:<40} {call.location}")
"""),
    md("""
几点值得记住：

- 构造在调用者的线程里完成；`serve_forever` 的线程只负责接待（`get_request` → `verify_request` → `process_request`），每个请求的对话都在新开的 handler 线程里进行。
- 你只写了 `handle`（最多再加 `setup`、`finish`），其余每一步都是 `socketserver` 里一个可以单独覆盖的小方法。想改变某一步，就覆盖那一个方法，`ThreadingMixIn` 正是这样做的。
- 查找链决定了每一步用的是谁的方法：同名方法定义在 `__mro__` 靠前的类里，就用它的版本。

## 下一步

继续读 [05_udp_walkthrough](05_udp_walkthrough.ipynb)：同样的走读换成 UDP，重点看它和 TCP 的几处不同。之后是 [06_pitfalls](06_pitfalls.ipynb)，看这些步骤在真实使用中容易出错的地方。
"""),
]

# ---------------------------------------------------------------------------
# 05_udp_walkthrough
# ---------------------------------------------------------------------------

NB05 = [
    md("""
# 05 · UDP 源码走读：和 TCP 哪里一样，哪里不同

- **本节内容**：`socketserver.ThreadingUDPServer` 的查找顺序（比 TCP 多一层：`UDPServer` 继承自 `TCPServer`）；初始化时 `__init__` 和 `server_bind` 沿用 TCP 的代码，而 `server_activate` 什么也不做（没有 `listen`）；服务时 `get_request` 就是一次 `recvfrom(max_packet_size)`，请求是 `(data, socket)` 二元组；之后同样开线程、创建 handler、调用 `handle`；最后 `shutdown_request`/`close_request` 什么也不关。每一步都有当前 Python 的真实源码和一次真实请求的调用追踪。
- **预计用时**：30 分钟
- **先读**：[04_tcp_walkthrough](04_tcp_walkthrough.ipynb)（本节只细讲不同之处）和 [03_udp_echo](03_udp_echo.ipynb)
"""),
    md("""
工具和 04 相同：`source.show_source` 显示当前解释器的源码，`trace.trace_udp()` 追踪一次真实的 UDP 请求，`diagrams` 画查找链和调用流程。先确认 Python 版本：
"""),
    code("""
import platform
import socket
import socketserver

from netlesson import diagrams, source, trace, udp

print(f"Python {platform.python_version()}")
"""),
    md("""
## 先看全貌：追踪一个真实的数据报

`trace.trace_udp()` 按原教程的写法创建 `socketserver.ThreadingUDPServer`，handler 是 03 里的大写回显（原教程 UDP 版的 `MyServer`），端口用 `0`，在后台线程里运行 `serve_forever()`；客户端发送一个数据报 `b"hello"`，等待一个回复。
"""),
    code("""
u = trace.trace_udp(b"hello")
u
"""),
    code("""
u.diagram()
"""),
    md("""
形状和 04 的 TCP 追踪几乎一样。把两次追踪的主线步骤逐一对比，只列出提供者不同的步骤：
"""),
    code("""
t = trace.trace_tcp(b"hello")
same = []
for step in trace.MAIN_PATH:
    in_tcp = [c.qualname for c in t.find(step)]
    in_udp = [c.qualname for c in u.find(step)]
    if in_tcp == in_udp:
        same.append(step)
    else:
        print(f"{step}:\\n    TCP: {', '.join(in_tcp)}\\n    UDP: {', '.join(in_udp)}")
print("\\nidentical in both:", ", ".join(same))
"""),
    md("""
不同的只有 `server_activate`、`get_request`、`shutdown_request`、`close_request`（`UDPServer` 覆盖的方法），以及 handler 自己的方法（TCP 的 handler 多写了 `setup` 和 `finish`）。下面逐一看这些不同之处，相同的步骤只简单核对。

## 第一部分 · 查找顺序

原教程列出的顺序是 ThreadingUDPServer → ThreadingMixIn → UDPServer → TCPServer → BaseServer，比 TCP 多了一层：`UDPServer` 是 `TCPServer` 的**子类**。
"""),
    code("""
[cls.__name__ for cls in socketserver.ThreadingUDPServer.__mro__]
"""),
    code("""
diagrams.mro(socketserver.ThreadingUDPServer)
"""),
    md("""
`UDPServer` 自己只定义了很少的东西，其余全部沿用 `TCPServer`：
"""),
    code("""
for name, value in vars(socketserver.UDPServer).items():
    if not name.startswith("__"):
        print(f"{name:<18} {'(method)' if callable(value) else repr(value)}")
"""),
    code("""
source.show_source(socketserver.UDPServer,
                   highlight=["socket_type", "max_packet_size", "recvfrom", "pass"])
"""),
    md("""
## 第二部分 · 初始化

`socketserver.ThreadingUDPServer(constants.ip_port, MyServer)`。

### 第 1 步：寻找 `__init__`

**先预测：** 五个类里哪个最先定义了 `__init__`？
"""),
    code("""
for cls in socketserver.ThreadingUDPServer.__mro__:
    print(f"{cls.__name__:<20} defines __init__ itself: {'__init__' in vars(cls)}")
print("ThreadingUDPServer(...) runs:",
      source.defining_class(socketserver.ThreadingUDPServer, "__init__").__name__ + ".__init__")
"""),
    code("""
diagrams.mro(socketserver.ThreadingUDPServer, "__init__")
"""),
    md("""
### 第 2 步：同一个 `TCPServer.__init__`，不同的套接字

UDP 服务器运行的正是 04 里那个 `TCPServer.__init__`。它怎么创建出 UDP 套接字？关键在 `socket.socket(self.address_family, self.socket_type)` 里的 `self.socket_type`：这个名字也沿查找链查找，而 `UDPServer` 把它覆盖成了数据报类型。同一段代码，只因类属性不同而行为不同，这就是"类属性即配置"。
"""),
    code("""
source.show_source(socketserver.TCPServer.__init__, highlight="self.socket_type")
"""),
    code("""
print("socket_type of ThreadingUDPServer:", socketserver.ThreadingUDPServer.socket_type.name)
print("supplied by:", source.defining_class(socketserver.ThreadingUDPServer, "socket_type").__name__)
"""),
    code("""
u.focus("TCPServer.__init__", context=3)
"""),
    md("""
`BaseServer.__init__` 也和 TCP 完全相同（保存地址、handler 类和关闭用的标志）。

### 第 3 步：`server_bind`：与 TCP 一致

原教程说"server_bind 与 TCP 一致"，查找链可以证明：`UDPServer` 没有覆盖它，用的就是 `TCPServer.server_bind`：`bind`，再用 `getsockname()` 改写 `server_address`。
"""),
    code("""
diagrams.mro(socketserver.ThreadingUDPServer, "server_bind")
"""),
    md("""
`server_bind` 会读取类属性 `allow_reuse_address`。`TCPServer` 和 `UDPServer` 默认都是 `False`；TCP 服务器常常在自己的类里把它设成 `True`（02 里的 `ClassroomTCPServer` 就是这样），UDP 服务器却不该这样做。为什么？对 TCP，`SO_REUSEADDR` 只是允许在旧连接还处于 TIME_WAIT 时重新绑定端口；对 UDP，在 Linux 上它的意思是"允许多个套接字绑定同一个地址和端口"。下面用两个都设置了这个选项的 UDP 套接字试一试：
"""),
    code("""
def reusing_udp_socket():
    \"\"\"A UDP socket with SO_REUSEADDR set, as UDPServer would make it with allow_reuse_address.\"\"\"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.settimeout(0.5)
    return sock


with reusing_udp_socket() as first, reusing_udp_socket() as second, \\
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
    first.bind(("127.0.0.1", 0))
    try:
        second.bind(first.getsockname())
    except OSError as exc:
        print("second bind refused on this system:", exc.strerror)
    else:
        print("second bind on the same port: no error")
        sender.sendto(b"for the first server", first.getsockname())
        for name, sock in (("first", first), ("second", second)):
            try:
                print(f"{name:<6} received", sock.recvfrom(1024)[0])
            except socket.timeout:
                print(f"{name:<6} received nothing")
"""),
    md("""
在 Linux 上，第二个套接字**不报错**地绑定了同一个端口，而且把发往这个端口的数据报抢走了，第一个什么也没收到。（其他系统对这个选项的规定不同，你那里的结果可能是第二次绑定被拒绝。）两个 UDP 服务器会这样悄无声息地互相干扰，所以 `UDPServer` 默认不设置这个选项。不设置时，第二次绑定会直接报错，问题当场就暴露出来：
"""),
    code("""
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken, \\
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as another:
    taken.bind(("127.0.0.1", 0))
    try:
        another.bind(taken.getsockname())
    except OSError as exc:
        print("without SO_REUSEADDR the second bind fails:", exc.strerror)
    else:
        print("the second bind succeeded on this system")
"""),
    md("""
**亲手走一遍。** 和 04 一样，用 `bind_and_activate=False` 创建一个不带混入类的 `socketserver.UDPServer`，然后自己逐步调用。
"""),
    code("""
# Re-running this cell? First close the sockets a previous run may have left open.
for leftover in (globals().get("client"), getattr(globals().get("manual"), "socket", None)):
    if leftover is not None:
        leftover.close()

manual = socketserver.UDPServer(("127.0.0.1", 0), udp.UpperEchoDatagramHandler, bind_and_activate=False)
manual.socket.settimeout(2)  # recvfrom() below waits at most 2 s
print("before server_bind:", manual.server_address)
manual.server_bind()
print("after  server_bind:", manual.server_address)
print("port 0 was replaced by the real port:", manual.server_address[1] != 0)
"""),
    md("""
### 第 4 步：`server_activate`：什么也不做

**先预测：** `ThreadingUDPServer` 的 `server_activate` 来自哪个类？它会调用 `listen` 吗？
"""),
    code("""
diagrams.mro(socketserver.ThreadingUDPServer, "server_activate")
"""),
    code("""
source.show_source(socketserver.UDPServer.server_activate, highlight="pass")
"""),
    md("""
UDP 没有连接，也就没有"排队等待接受的连接"，`listen` 对它毫无意义。事实上对 UDP 套接字调用 `listen` 会直接出错，`UDPServer` 覆盖这个方法正是为了跳过它：
"""),
    code("""
def listening(sock):
    \"\"\"Ask the kernel whether the socket is in the listening state (SO_ACCEPTCONN).\"\"\"
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


manual.server_activate()  # UDPServer.server_activate: nothing to do
print("listening after server_activate:", listening(manual.socket))
try:
    manual.socket.listen(5)
except OSError as exc:
    print("listen() on a UDP socket fails:", exc.strerror)
"""),
    code("""
u.focus("server_activate")
"""),
    md("""
### 第 5 步：初始化完成

构造阶段和 TCP 是同样的四个调用，只有最后一个换了提供者：
"""),
    code("""
u.order(phase="construct")
"""),
    md("""
`__init__` 执行完，`ThreadingUDPServer(...)` 这个表达式就把初始化好的对象交还给调用者。原教程把它存进 `udp_server` 变量，接着打印了它的三个属性。照做一遍（端口用 `0`，看完立即关闭，不启动服务循环）：
"""),
    code("""
udp_server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), udp.UpperEchoDatagramHandler)
print(udp_server.server_address)
print(udp_server.socket)
print(udp_server.RequestHandlerClass)
udp_server.server_close()
"""),
    md("""
三个属性都是初始化时设置的：`server_address` 和 `RequestHandlerClass` 来自 `BaseServer.__init__`（地址已被 `server_bind` 换成真实端口），`socket` 来自 `TCPServer.__init__`，类型是 `SOCK_DGRAM`（`type=2`），只有本地地址、没有对端地址。
"""),
    md("""
## 第三部分 · 开启服务

### 第 6 步：`serve_forever` 与 `_handle_request_noblock`：与 TCP 一致

服务循环还是 `BaseServer.serve_forever`，只是选择器等待的"可读"现在意味着**有一个数据报到达**。之后同样进入 `_handle_request_noblock`：
"""),
    code("""
u.focus("serve_forever", "_handle_request_noblock", "get_request", context=0)
"""),
    md("""
### 第 7 步：`get_request`：一次 `recvfrom` 就是一个请求

原教程的"等待连接，获取客户端发送的数据"。UDP 没有 `accept`，也不会为客户端新建套接字：`UDPServer.get_request` 用 `recvfrom(self.max_packet_size)` 读出**一整个**数据报，然后返回 `((data, self.socket), client_addr)`。请求之所以是 `(data, socket)` 二元组，是因为 handler 回复时必须用服务器自己的这个套接字 `sendto`。
"""),
    code("""
diagrams.mro(socketserver.ThreadingUDPServer, "get_request")
"""),
    code("""
source.show_source(socketserver.UDPServer.get_request,
                   highlight=["recvfrom(self.max_packet_size)", "return (data, self.socket), client_addr"])
"""),
    md("""
`max_packet_size` 是一个类属性，这是当前 Python 里的值：
"""),
    code("""
print("UDPServer.max_packet_size =", socketserver.UDPServer.max_packet_size)
"""),
    code("""
u.focus("get_request")
"""),
    md("""
在手动服务器上看看这个二元组。客户端发出一个数据报，服务器 `get_request()` 一次把它读进来：
"""),
    code("""
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.settimeout(2)
client.sendto(b"hello", manual.server_address)

request, client_address = manual.get_request()
data, sock = request
print("request is a", type(request).__name__, "of", len(request), "items")
print("request[0], the data:", data)
print("request[1] is the server's own socket:", sock is manual.socket)
print("client_address has the client's port:", client_address[1] == client.getsockname()[1])
"""),
    md("""
**先预测：** 如果客户端发送一个 9000 字节的数据报，`get_request` 拿到多少字节？多出来的部分去哪了？
"""),
    code("""
client.sendto(b"x" * 9000, manual.server_address)  # over 8192; macOS sends at most 9216
(big, _), _ = manual.get_request()
print("sent 9000 bytes; get_request returned", len(big), "bytes")
"""),
    md("""
只拿到 `max_packet_size` 个字节。一次 `recvfrom` 只读一个数据报，超出缓冲区的部分被**直接丢弃**，而且不会报错。下一次 `get_request` 读到的是下一个数据报，而不是这个数据报剩下的部分。[06_pitfalls](06_pitfalls.ipynb) 会讲怎样发现和避免这种情况。

### 第 8 步：`verify_request`、`process_request`、`process_request_thread`、`finish_request`：与 TCP 一致

每个数据报同样由 `ThreadingMixIn` 开一个新线程来处理：
"""),
    code("""
for name in ("verify_request", "process_request", "process_request_thread", "finish_request"):
    call = u.find(name)[0]
    same_as_tcp = [c.qualname for c in t.find(name)] == [c.qualname for c in u.find(name)]
    print(f"{call.qualname:<40} thread: {call.thread:<14} same as TCP: {same_as_tcp}")
"""),
    code("""
print("the handler thread was started inside:", u.started_by("handler"))
"""),
    md("""
### 第 9 步：handler：`__init__` → `setup` → `handle` → `finish`

`BaseRequestHandler.__init__` 与 TCP 相同。我们的 UDP handler 只覆盖了 `handle`：拆开 `self.request` 得到数据和服务器套接字，把大写后的数据 `sendto` 回 `self.client_address`。这正是原教程里 `self.request[1].sendto(self.request[0].upper(), self.client_address)` 的意思。
"""),
    code("""
source.show_source(udp.UpperEchoDatagramHandler.handle,
                   highlight=["data, sock = self.request", "sock.sendto("])
"""),
    code("""
u.focus("UpperEchoDatagramHandler.handle", context=2)
"""),
    md("""
在手动服务器上，对第一个请求（`hello`）亲自调用 `finish_request`，handler 在当前线程里运行并回复客户端：
"""),
    code("""
manual.finish_request(request, client_address)  # setup -> handle -> finish, right here
reply, sender = client.recvfrom(65535)
print("reply:", reply)
print("sent from the server's address:", sender == manual.server_address)
"""),
    md("""
### 第 10 步：`shutdown_request` 与 `close_request`：什么也不关

TCP 在这里关闭为这个客户端新建的套接字。UDP 没有这样的套接字：`request[1]` 就是服务器唯一的那个套接字，所有客户端共用它。如果在这里关闭它，整个服务器就"聋"了。所以 `UDPServer` 把两个方法都覆盖成什么也不关：
"""),
    code("""
source.show_source(socketserver.UDPServer.shutdown_request, highlight="self.close_request(request)")
"""),
    code("""
source.show_source(socketserver.UDPServer.close_request, highlight="pass")
"""),
    md("""
**先预测：** 对这个请求调用 `shutdown_request` 之后，服务器的套接字还开着吗？
"""),
    code("""
manual.shutdown_request(request)
print("server socket still open after shutdown_request:", manual.socket.fileno() != -1)
"""),
    code("""
u.focus("shutdown_request", "close_request")
"""),
    md("""
手动实验结束，关闭客户端和服务器：
"""),
    code("""
client.close()
manual.server_close()
print("server socket closed:", manual.socket.fileno() == -1)
"""),
    md("""
## 小结

下面的列表由 UDP 追踪生成：每个主线步骤的阶段、线程、提供者和定义位置。
"""),
    code("""
for call in u.select(main_path=True):
    print(f"{call.phase:<10} {call.thread:<14} {call.qualname:<40} {call.location}")
"""),
    md("""
和 TCP 相比，记住这几点：

- `UDPServer` 是 `TCPServer` 的子类，构造函数、`server_bind`、`fileno`、`server_close` 全部沿用；套接字类型由类属性 `socket_type` 决定。
- 没有 `listen`：`UDPServer.server_activate` 是空的。
- 没有 `accept`，也没有每个客户端一个的套接字：`get_request` 就是一次 `recvfrom(max_packet_size)`，超长的数据报会被悄悄截断；请求是 `(data, 服务器套接字)`。
- 处理完一个请求后没有东西要关：`shutdown_request`、`close_request` 什么也不做。
- 其余步骤（服务循环、开线程、handler 的 `setup` → `handle` → `finish`）与 TCP 完全相同。

## 下一步

继续读 [06_pitfalls](06_pitfalls.ipynb)：TCP 的消息边界（粘包）、被切开的 UTF-8 字符、UDP 丢包与超长数据报、阻塞的 `serve_forever` 等常见陷阱，每个都先看它出错，再把它修好。
"""),
]


NOTEBOOKS_SPEC = {
    "04_tcp_walkthrough": NB04,
    "05_udp_walkthrough": NB05,
}


if __name__ == "__main__":
    sys.exit(main(NOTEBOOKS_SPEC, sys.argv[1:]))
