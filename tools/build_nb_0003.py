"""Write the source of notebooks 00-03 (cells only, no outputs).

The cells live here, as text, so a change to the course is a reviewable diff
of this file rather than of notebook JSON.  Running the script overwrites the
four notebooks *without outputs*; execute them afterwards so the stored
outputs come from a real run (never edit outputs by hand)::

    .venv/bin/python tools/build_nb_0003.py
    for nb in 00_index 01_socketserver_classes 02_tcp_echo 03_udp_echo; do
        .venv/bin/jupyter nbconvert --to notebook --execute --inplace notebooks/$nb.ipynb
    done

Cell ids are derived from the notebook and the cell's position, so rebuilding
an unchanged notebook gives the same ids and re-running the script is safe.
"""

from __future__ import annotations

import sys

from nbbuild import IGNORE_OUTPUT, code, main, md  # noqa: F401  (tools/ is on sys.path)


# ---------------------------------------------------------------------------
# 00_index
# ---------------------------------------------------------------------------

NB00 = [
    md("""
# netlesson：用 `socketserver` 学 Python 网络编程

这是整门课的入口。本页介绍课程地图、运行方式，并用几个代码单元检查你的环境是否就绪。

- **本节内容**：课程结构；两种运行方式（JupyterLab 与两个终端）；环境检查（Python 版本、Graphviz 的 `dot`、本机回环地址上的一次真实收发）
- **预计用时**：10 分钟
- **先修知识**：会写 Python 函数和类，知道 IP 地址和端口大致是什么
"""),
    md("""
## 课程地图

标准库里的 `socketserver` 把"写一个服务器"拆成两件事：**server 类**负责连接（绑定端口、监听、接受客户端、为每个请求开线程），**request handler 类**负责通信（拿到一个客户端之后收什么、回什么）。课程先用它写出 TCP 和 UDP 的"大写回显"服务器与客户端，再逐行走读 `socketserver` 自己的源码，最后看常见陷阱和并发模型。

| 笔记本 | 学什么 | 预计用时 |
| --- | --- | --- |
| [00_index](00_index.ipynb) | 课程地图、运行方式、环境检查（本页） | 10 分钟 |
| [01_socketserver_classes](01_socketserver_classes.ipynb) | server 类与 request 类、混入类（mixin）、属性查找顺序 `__mro__`、MRO 浏览器 | 25 分钟 |
| [02_tcp_echo](02_tcp_echo.ipynb) | 常量模块、TCP 处理器逐行讲解、在笔记本里启动服务器、客户端、回显控制台、两个终端的命令行版本 | 30 分钟 |
| [03_udp_echo](03_udp_echo.ipynb) | UDP 版本：`request` 是 `(data, socket)`、超时与重试、8192 字节的数据报上限 | 25 分钟 |
| [04_tcp_walkthrough](04_tcp_walkthrough.ipynb) | TCP 源码走读：初始化（`__init__` 的查找、`server_bind`、`server_activate`、`listen`）与服务循环（`serve_forever` → `handle`），配合真实请求的调用追踪 | 40 分钟 |
| [05_udp_walkthrough](05_udp_walkthrough.ipynb) | UDP 源码走读：与 TCP 的不同之处（没有 `listen`、`get_request` 就是 `recvfrom`） | 30 分钟 |
| [06_pitfalls](06_pitfalls.ipynb) | 常见陷阱，先看它失败再修好：粘包与消息边界、被切开的 UTF-8 字符、UDP 丢包、阻塞的 `serve_forever`、"Address already in use" 等 | 45 分钟 |
| [07_concurrency](07_concurrency.ipynb) | 多线程、多进程、单线程与 asyncio 服务器的实测对比 | 30 分钟 |
| [exercises/](exercises/) | 练习：每题都有自动检查，错误提示（英文）会告诉你具体哪里不对 | 每题 15–25 分钟 |

建议按顺序阅读：01–03 是基础，04–05 需要 01 的查找顺序知识，06–07 可以在 03 之后任选。练习各有自己的“先读”：ex01、ex02、ex04 要先读 06 里对应的一节，ex03、ex05 要先读 04，ex06 要先读 07；每个练习的开头都写明了。
"""),
    md("""
## 怎样运行

**方式一：JupyterLab（推荐）。** 在项目根目录执行 `make lab`，浏览器里打开 `notebooks/`，从每个笔记本的第一个单元格开始依次运行。

- 笔记本里的服务器都由 `netlesson.background` 在后台线程中启动，端口用 `0`（由操作系统挑一个空闲端口），所以不会和别的程序抢端口。
- 每个服务器有一个本笔记本专用的名字（例如 `"nb02-tcp"`）。重新运行启动它的单元格时，旧的那个会先被停掉，所以重复运行不会出现 "Address already in use"。
- 服务器线程从不 `print()`：它们把日志写进服务器自己的日志对象，由你在单元格里查看。这样输出总是出现在你要看的那个单元格里。
- 每个笔记本的最后一个代码单元格会停掉它启动的服务器。

**方式二：两个终端（和原教程一样）。** 服务器和客户端分别在两个终端里运行：

```bash
# 终端 1：启动服务器（Ctrl-C 停止）
python -m netlesson tcp-server
# 终端 2：启动客户端，输入一行回车发送，Ctrl-D 结束
python -m netlesson tcp-client
```

UDP 版本把 `tcp` 换成 `udp`。默认地址是 `constants.ip_port`（`127.0.0.1:8081`），可以用 `--host`、`--port` 修改。
"""),
    md("""
## 环境检查

下面几个单元格逐项检查。每一项都会打印结果；如果某项失败，输出会说明怎么修。

**1. Python 版本。** 课程需要 Python 3.11 或更新的版本（`socketserver` 的一些细节在 3.11–3.13 之间有变化，课程里凡是与版本有关的事实都从正在运行的解释器中读取）。
"""),
    code("""
import platform
import sys

print(f"Python {platform.python_version()}")
print("version OK" if sys.version_info >= (3, 11) else "too old: install Python 3.11 or newer")
"""),
    md("""
**2. 需要的 Python 包。** `ipywidgets` 用于课程里的交互控件，`graphviz` 用于画类图。
"""),
    code("""
from importlib import metadata

for package in ["ipywidgets", "graphviz", "netlesson"]:
    try:
        major = metadata.version(package).split(".")[0]
        print(f"{package:<11} installed (major version {major})")
    except metadata.PackageNotFoundError:
        print(f"{package:<11} MISSING: pip install -e '.[test]' in the project folder")
"""),
    md("""
**3. Graphviz 的 `dot` 程序。** Python 包 `graphviz` 只负责生成图的描述，真正把图画出来的是一个独立的系统程序 `dot`。没有它，类图会显示为文字说明和 DOT 源码，不会报错，但你看不到图。
"""),
    code("""
import re
import shutil
import subprocess

if shutil.which("dot") is None:
    print("dot NOT found: install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; "
          "macOS: brew install graphviz; conda: conda install -c conda-forge graphviz)")
else:
    banner = subprocess.run(["dot", "-V"], capture_output=True, text=True, timeout=10).stderr
    found = re.search(r"\\d+\\.\\d+(\\.\\d+)?", banner)
    print("dot found:", f"graphviz {found.group()}" if found else banner.strip())
"""),
    md("""
**4. 本机回环地址上的一次真实收发。** 在 `127.0.0.1` 上用端口 `0` 启动一个 TCP 和一个 UDP 大写回显服务器，各发一条消息，再把它们停掉。`with` 语句块结束时服务器会自动停止。
"""),
    code("""
from netlesson import background, tcp, udp

with background.start_tcp("nb00-check-tcp") as srv:
    print(f"TCP server listening on {srv.host}:{srv.port}")
    print("TCP reply:", tcp.echo("ping", srv.address, timeout=2))

with background.start_udp("nb00-check-udp") as srv:
    print(f"UDP server bound to {srv.host}:{srv.port}")
    print("UDP reply:", udp.echo("ping", srv.address))

print("servers still running:", background.running())
"""),
    md("""
端口号每次运行都不同，这正是端口 `0` 的含义：由操作系统挑一个当时空闲的端口。

**5.（可选）命令行默认端口 8081 是否空闲。** 只有在两个终端里运行 `python -m netlesson tcp-server` 时才会用到固定端口 8081。如果这里显示被占用，多半是你之前启动的服务器还开着：回到那个终端按 Ctrl-C，或者给命令加上 `--port 8082`。这个结果取决于你机器当时的状态，所以每次运行可能不同。
"""),
    code("""
import socket

from netlesson import constants

with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
    # the same option the command-line server sets (allow_reuse_address), so a
    # connection of an earlier run still in TIME_WAIT does not count as "in use"
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(constants.ip_port)
        print(f"{constants.ip_port[0]}:{constants.ip_port[1]} is free for the command-line server")
    except OSError as exc:
        print(f"{constants.ip_port[0]}:{constants.ip_port[1]} is in use ({exc.strerror}): "
              f"stop the other server or pass --port to the command-line tools")
""", IGNORE_OUTPUT),
    md("""
如果以上各项都正常，环境就准备好了。

## 下一步

从 [01_socketserver_classes](01_socketserver_classes.ipynb) 开始：先认识 `socketserver` 里的两类类，以及 Python 按什么顺序查找属性。
"""),
]

# ---------------------------------------------------------------------------
# 01_socketserver_classes
# ---------------------------------------------------------------------------

NB01 = [
    md("""
# 01 · `socketserver` 的两类类：server 类与 request 类

- **本节内容**：`socketserver` 模块的分工（server 类管连接，request handler 类管通信）；两组类的继承关系图（从你正在运行的 Python 现场生成）；混入类（mixin）如何组合出 `ThreadingTCPServer`；Python 查找属性的顺序 `__mro__`；为什么 `ThreadingMixIn` 必须写在基类列表的最前面（现场证明）；MRO 浏览器控件；先预测、再验证的小问题
- **预计用时**：25 分钟
- **先读**：[00_index](00_index.ipynb)
"""),
    code("""
import socketserver
import threading

from netlesson import background, diagrams, source, tcp, widgets
"""),
    md("""
## 分工：谁管连接，谁管通信

写一个网络服务器，总要做两类事情：

1. **连接层面**：创建套接字、绑定地址和端口、开始监听、循环等待客户端、接受一个连接（或收到一个数据报）、决定在哪个线程或进程里处理它、最后关闭。这些步骤对任何服务器都差不多。
2. **通信层面**：面对**一个**客户端，收到什么数据、怎么处理、回复什么。这部分才是你的业务逻辑。

`socketserver` 把这两件事交给两组类：**server 类**（`BaseServer` 及其子类）负责第一件，**request handler 类**（`BaseRequestHandler` 及其子类）负责第二件。你通常只需要选一个现成的 server 类，再写一个 handler 子类、覆盖它的 `handle()` 方法。

下面的图都是对当前解释器里的 `socketserver` 做内省（读取每个类的 `__bases__`）画出来的，所以它们和你的 Python 版本、操作系统完全一致。箭头从子类指向父类，箭头上的数字是基类在类定义里的先后次序。
"""),
    md("""
### server 类
"""),
    code("""
diagrams.server_classes()
"""),
    md("""
读图的要点：

- `BaseServer` 是所有服务器的根，里面是与协议无关的服务循环（`serve_forever`）和请求处理的各个步骤。
- `TCPServer` 加上了面向流的套接字（`SOCK_STREAM`）、`bind` 和 `listen`；`UDPServer` 继承自 `TCPServer`，只改了少数几处（数据报套接字、不需要 `listen`、一次 `recvfrom` 就是一个请求）。
- `Unix*` 服务器使用本机的 Unix 域套接字，只在支持 `AF_UNIX` 的系统上存在。
- 紫色的 `ThreadingMixIn`、`ForkingMixIn` 是**混入类**：它们自己不是服务器，只提供"为每个请求开一个线程 / 进程"的那几个方法，要和某个服务器类组合使用。绿色的类就是这样组合出来的。

图里有哪些类取决于 Python 版本和操作系统。比如 `Forking*` 系列只在有 `os.fork` 的系统上存在，而 Python 3.12 又新增了 `ForkingUnixStreamServer` 和 `ForkingUnixDatagramServer`。你的解释器里有这些：
"""),
    code("""
import os

print("os.fork available:", hasattr(os, "fork"))
print("Forking classes:", [name for name in dir(socketserver) if name.startswith("Forking")])
"""),
    md("""
本课程只在笔记本里运行 `Threading*` 服务器。`Forking*` 服务器会为每个请求 `fork` 出一个子进程，而在 Jupyter 里 `fork` 复制的是整个内核进程。所以 [07_concurrency](07_concurrency.ipynb) 会把它们放到单独的子进程里去比较，不在内核里直接启动。
"""),
    md("""
### request handler 类
"""),
    code("""
diagrams.handler_classes()
"""),
    md("""
handler 类只有三个：

- `BaseRequestHandler`：最基本的一个。`self.request` 是这次请求（TCP 时是已连接的套接字，UDP 时是 `(data, socket)`），`self.client_address` 是客户端地址，`self.server` 是服务器对象。
- `StreamRequestHandler`：给 TCP 用，额外提供类文件对象 `self.rfile`、`self.wfile`，可以按行读写。
- `DatagramRequestHandler`：给 UDP 用，把收到的数据报包装成 `rfile`，把写进 `wfile` 的内容作为回复发回去。

handler 的一个特别之处：**所有工作都在它的构造函数里完成**。服务器每收到一个请求就创建一个 handler 对象，而 `BaseRequestHandler.__init__` 依次调用 `setup()`、`handle()`，最后在 `finally` 里调用 `finish()`。下面是你这台机器上 Python 的真实源码，高亮的三行就是这三步：
"""),
    code("""
source.show_source(socketserver.BaseRequestHandler.__init__,
                   highlight=["self.setup()", "self.handle()", "self.finish()"])
"""),
    md("""
## 混入类：`ThreadingTCPServer` 是怎么拼出来的

`ThreadingTCPServer` 的类体是空的，它的全部本事都来自两个基类：
"""),
    code("""
source.show_source(socketserver.ThreadingTCPServer)
"""),
    code("""
for name in ["ThreadingTCPServer", "ThreadingUDPServer", "ForkingTCPServer", "ForkingUDPServer"]:
    cls = getattr(socketserver, name, None)
    if cls is None:
        print(f"{name:<20} not available on this platform")
    else:
        print(f"{name:<20} = " + " + ".join(base.__name__ for base in cls.__bases__))
"""),
    md("""
下图把两个最常用的组合展开：实线箭头是继承关系，红色虚线和类名前的编号是**属性查找顺序**，也就是下一节要讲的 `__mro__`。
"""),
    code("""
diagrams.mixin_combinations()
"""),
    md("""
## 属性查找顺序：`__mro__`

当你写 `server.process_request(...)` 时，Python 要先找到 `process_request` 这个名字定义在哪里。对于类里定义的方法和类属性，规则很简单：

> 按类的 `__mro__`（method resolution order，方法解析顺序）从前往后，逐个查看每个类**自己的** `__dict__`，第一个定义了这个名字的类胜出。

一个类的 `__mro__` 由 Python 根据基类列表计算出来（C3 线性化）：先是类自己，然后大体上"从左到右、先子类后父类"。

**先预测：** `socketserver.ThreadingTCPServer(address, Handler)` 创建对象时，执行的是哪个类的 `__init__`？想好答案再运行下面两个单元格。
"""),
    code("""
[cls.__name__ for cls in socketserver.ThreadingTCPServer.__mro__]
"""),
    code("""
for cls in socketserver.ThreadingTCPServer.__mro__:
    print(f"{cls.__name__:<20} defines __init__ itself: {'__init__' in vars(cls)}")
"""),
    md("""
`ThreadingTCPServer` 和 `ThreadingMixIn` 都没有自己的 `__init__`，所以查找走到第三个类 `TCPServer` 才停下；`BaseServer` 的 `__init__` 要等 `TCPServer.__init__` 主动调用它才会运行。`diagrams.mro()` 把这条查找链画出来，并把提供者标成橙色：
"""),
    code("""
diagrams.mro(socketserver.ThreadingTCPServer, "__init__")
"""),
    md("""
**再预测：** 服务器每接受一个连接就调用 `process_request`。对 `ThreadingTCPServer` 来说，它来自哪个类？
"""),
    code("""
diagrams.mro(socketserver.ThreadingTCPServer, "process_request")
"""),
    md("""
`ThreadingMixIn.process_request` 会新建一个线程去处理请求，而 `BaseServer.process_request` 直接在当前线程里处理。之所以用的是前者，仅仅因为 `ThreadingMixIn` 在 `__mro__` 里排在 `BaseServer` 前面。

## 为什么 `ThreadingMixIn` 必须写在最前面

把基类的顺序反过来会怎样？下面定义两个只差基类顺序的服务器类，都设置 `daemon_threads = True`（处理线程不会阻止解释器退出）。
"""),
    code("""
class MixinFirst(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True


class MixinSecond(socketserver.TCPServer, socketserver.ThreadingMixIn):
    daemon_threads = True


for cls in (MixinFirst, MixinSecond):
    print(f"{cls.__name__:<12} MRO: " + " → ".join(k.__name__ for k in cls.__mro__))
    print(f"{'':<12} process_request comes from {widgets.supplier_of(cls, 'process_request').__name__}")
"""),
    md("""
`MixinSecond` 的 MRO 里，`TCPServer` 之后紧跟着的是 `BaseServer`，它已经定义了 `process_request`，于是查找在那里就停了，`ThreadingMixIn` 排在后面，它的方法永远轮不到。Python 不会报任何错，类照样能用，只是**不再为每个请求开线程**。

口说无凭，现场验证一下。下面这个 handler 把"我在哪个线程里运行"写进服务器日志（不用 `print`，原因见 [00_index](00_index.ipynb)），然后把收到的数据转成大写发回去：
"""),
    code("""
class WhereAmI(socketserver.BaseRequestHandler):
    \"\"\"Log the name of the thread that runs this handler, then echo upper-case.\"\"\"

    def handle(self):
        data = self.request.recv(1024)
        self.server.log(f"{type(self.server).__name__}: handled {data!r} "
                        f"in thread {threading.current_thread().name}")
        self.request.sendall(data.upper())


first = background.start(MixinFirst(("127.0.0.1", 0), WhereAmI), "nb01-first")
second = background.start(MixinSecond(("127.0.0.1", 0), WhereAmI), "nb01-second")
print(tcp.echo("hi", first.address, timeout=2), tcp.echo("hi", second.address, timeout=2))
"""),
    md("""
两个服务器都正常回复了。再看它们的日志（日志由处理线程写入，这里等到那一行出现再显示）：
"""),
    code("""
for srv in (first, second):
    srv.log.wait_for("handled")
    srv.show_log()
print("serve_forever runs in thread:", second.thread.name)
"""),
    md("""
- `MixinFirst` 的请求在一个新线程 `Thread-N (process_request_thread)` 里处理：这是 `ThreadingMixIn.process_request` 创建的线程。
- `MixinSecond` 的请求直接在运行 `serve_forever` 的那个线程 `netlesson-nb01-second` 里处理：在它处理完之前，服务器无法接受下一个客户端。换成一个会和客户端长时间对话的 handler（比如 02 里的回显），第二个客户端就只能干等。

最后确认一下它实际调用的那个函数对象：
"""),
    code("""
print(MixinSecond.process_request is socketserver.BaseServer.process_request)
print(MixinFirst.process_request is socketserver.ThreadingMixIn.process_request)
"""),
    md("""
标准库里的 `ThreadingTCPServer`、`ThreadingUDPServer` 都把混入类写在前面；自己组合服务器类时也要这样写：**混入类在前，服务器类在后**。

## MRO 浏览器

下面的控件可以任选一个类（`socketserver` 里所有公开的类，加上刚才定义的 `MixinFirst`、`MixinSecond`），再输入或选择一个属性名（候选项来自 `dir(cls)`），它会画出查找链并标出提供这个属性的类。试试 `__init__`、`serve_forever`、`server_bind`、`max_packet_size`、`daemon_threads`，再试一个不存在的名字。
"""),
    code("""
explorer = widgets.mro_explorer(MixinFirst, MixinSecond)
explorer
"""),
    md("""
## 先预测，再验证

每道题先在心里（或纸上）写下答案，然后把代码单元格里的 `"?"` 换成你的答案（一个类名字符串；如果你认为没有任何类定义它，就写 `None`）再运行。`check` 用 Python 自己的规则算出正确答案：沿着 `__mro__` 找第一个自己定义了该名字的类。运行时，上面的 MRO 浏览器也会切换到这道题，显示对应的查找链。
"""),
    code("""
def check(guess, cls, attribute):
    \"\"\"Compare a guess (a class name, or None for "no class") with Python's own answer.\"\"\"
    supplier = explorer.select(cls, attribute)  # also shows the chain in the explorer above
    answer = supplier.__name__ if supplier is not None else None
    found = f"supplied by {answer}" if answer else "defined by no class in the MRO"
    if guess == "?":
        verdict = "replace '?' with your guess and run again"
    else:
        verdict = "right!" if guess == answer else "not quite: follow the chain in the explorer"
    print(f"{cls.__name__}.{attribute}: {found}  (your guess: {guess!r}; {verdict})")
"""),
    md("""
**问题 1.** `ThreadingUDPServer` 的 `server_activate`（TCP 服务器在这一步调用 `listen`）来自哪个类？
"""),
    code("""
check("?", socketserver.ThreadingUDPServer, "server_activate")
"""),
    md("""
答案是 `UDPServer`：它覆盖了 `TCPServer.server_activate`，而且方法体是空的，因为 UDP 没有连接，也就不需要监听：
"""),
    code("""
source.show_source(socketserver.UDPServer.server_activate)
"""),
    md("""
**问题 2.** `StreamRequestHandler` 的 `handle` 来自哪个类？它做了什么？
"""),
    code("""
check("?", socketserver.StreamRequestHandler, "handle")
source.show_source(socketserver.BaseRequestHandler.handle)
"""),
    md("""
`StreamRequestHandler` 只提供了 `setup` 和 `finish`（准备和关闭 `rfile`/`wfile`），`handle` 仍是 `BaseRequestHandler` 里那个什么也不做的版本。这就是为什么你必须在子类里覆盖 `handle`。

**问题 3.** `ThreadingTCPServer` 的 `server_address` 来自哪个类？
"""),
    code("""
check("?", socketserver.ThreadingTCPServer, "server_address")
print(explorer.explanation)
"""),
    md("""
没有任何类定义它：`server_address` 是**实例属性**，由 `BaseServer.__init__` 在创建对象时写进对象自己的 `__dict__`（`server_bind` 之后还会被替换为实际绑定的地址）。查找一个对象的属性时，对象自己的 `__dict__` 先于类被查看；只在类上查找就会得到 `AttributeError`。

**问题 4.** `MixinSecond` 的 `daemon_threads` 来自哪个类？（注意它在类体里写了什么。）
"""),
    code("""
check("?", MixinSecond, "daemon_threads")
"""),
    md("""
是 `MixinSecond` 自己：类体里的赋值把 `daemon_threads` 放进了 `vars(MixinSecond)`，而 `MixinSecond` 是它自己 MRO 里的第一个类，查找在这里就停下了。不过对 `MixinSecond` 来说这个设置没有任何作用，因为读取 `daemon_threads` 的正是 `ThreadingMixIn.process_request`，而它从来不会被调用。

## 收尾

停掉本笔记本启动的两个服务器：
"""),
    code("""
for name in ("nb01-first", "nb01-second"):
    background.stop(name)
print(first, second, sep="\\n")
"""),
    md("""
## 下一步

你已经知道 server 类和 handler 类各管什么，也会判断一个方法来自哪个类。接下来在 [02_tcp_echo](02_tcp_echo.ipynb) 里用它们写出真正的 TCP 大写回显服务器和客户端。
"""),
]

# ---------------------------------------------------------------------------
# 02_tcp_echo
# ---------------------------------------------------------------------------

NB02 = [
    md("""
# 02 · TCP 大写回显：服务器与客户端

- **本节内容**：共享的常量模块；逐行读懂 TCP 请求处理器；在笔记本里后台启动服务器；在单元格里当客户端（中文、长消息，以及为什么一次 `recv` 不够）；查看服务器日志；回显控制台控件；用两个终端运行同样的程序
- **预计用时**：30 分钟
- **先读**：[01_socketserver_classes](01_socketserver_classes.ipynb)
"""),
    code("""
import socket
import socketserver
import subprocess
import sys

from netlesson import background, constants, framing, source, tcp, widgets
from netlesson.errors import format_address
"""),
    md("""
## 常量模块

服务器和客户端必须在几件事上意见一致：地址和端口、每次读多少字节、文本用什么编码。把这些放在一个两边都导入的模块里，就不会出现一边改了、另一边忘了改的情况。`netlesson.constants` 沿用原教程里的名字：
"""),
    code("""
print("ip_port     =", constants.ip_port)
print("buffer_size =", constants.buffer_size)
print("back_log    =", constants.back_log)
print("encoding    =", constants.encoding)
"""),
    md("""
网络上传输的是字节（`bytes`），程序里处理的是文本（`str`），两个辅助函数负责来回转换。注意一个汉字在 UTF-8 里占 3 个字节：
"""),
    code("""
wire = constants.str_to_byte("你好 hi")
print(wire, len(wire), "bytes")
print(constants.byte_to_str(wire))
"""),
    md("""
`ip_port`（`127.0.0.1:8081`）是两个终端运行时用的固定地址。笔记本和测试**不用**它，而是绑定端口 `0`，让操作系统挑一个空闲端口：这样多个笔记本、多次运行之间永远不会抢同一个端口。

## 请求处理器，逐行读

原教程的服务器是一个叫 `MyServer` 的 `BaseRequestHandler` 子类（名字有点误导：它其实是 handler，不是 server）。`netlesson.tcp.UpperEchoHandler` 保持了同样的结构，`tcp.MyServer` 就是它的别名。下面是它的 `handle` 方法，直接从源文件读取：
"""),
    code("""
source.show_source(tcp.UpperEchoHandler.handle,
                   highlight=["self.request.recv(", "if not data", "sendall(data.upper())"])
"""),
    md("""
逐段解释：

1. `peer = format_address(self.client_address)`：`client_address` 是客户端的 `(host, port)`，这里把它格式化成 `127.0.0.1:54321` 这样的文字，写日志时用。
2. `while True:`：一个连接上可以来回收发很多次，所以 `handle` 是一个循环，直到客户端说"结束"为止。**整个对话都发生在这一次 `handle` 调用里**。
3. `data = self.request.recv(constants.buffer_size)`：对 TCP 来说，`self.request` 就是与这个客户端连接的套接字。`recv(1024)` 最多读 1024 字节，返回**当时已经到达的**那部分数据，可能比对方发的少。
4. `except ConnectionResetError`：对方发来的是 RST（复位）而不是正常的 FIN。通常是因为对方关闭套接字时还有没读完的数据，或者设置了 `SO_LINGER` 为 0；这时 `recv` 会抛出这个异常。（进程被杀死时，操作系统一般会替它正常关闭连接，服务器看到的只是 `recv` 返回 `b''`。）这里把它当作对话结束，记一行日志，而不是让整个处理线程带着异常退出。
5. `if not data: return`：`recv` 返回空字节串 `b''` 是 TCP 约定的"对方已经关闭了发送方向"。原教程用 `break` 跳出循环，效果相同。
6. `self.log(...)`：原教程在这里 `print`。在笔记本里，后台线程的 `print` 会出现在当时恰好在运行的某个单元格里，往往是不相关的那个，所以这里改为写入服务器日志（`setup` 里把 `self.log` 指向服务器的日志 `self.server.log`；普通的 `socketserver` 服务器没有这个日志，就改交给 `logging` 模块），由你在单元格里查看。
7. `self.request.sendall(data.upper())`：`sendall` 会一直发送直到所有字节都发出去（`send` 则可能只发一部分）。`bytes.upper()` 只改变 ASCII 字母，所以回复和请求一样长，中文原样返回。

`setup` 和 `finish` 在 `handle` 前后各记一行"connected"和"closed"日志，并登记这个连接，以便服务器停止时能把它关掉。

服务器类 `ClassroomTCPServer` 是在 `ThreadingTCPServer` 前面混入了 `ClassroomServerMixIn`。这个混入类设置了几个适合课堂的类属性，还覆盖了几个方法：`__init__`（给服务器准备日志）、`handle_error`（处理器的异常写进日志，而不是打印到某个无关的单元格）、`shutdown` 和 `serve_forever`（让停止立刻生效，不用等轮询间隔），另外提供登记和关闭连接的方法。先看 MRO 和类属性：
"""),
    code("""
print(" → ".join(cls.__name__ for cls in tcp.ClassroomTCPServer.__mro__))
for name in ["allow_reuse_address", "daemon_threads", "request_queue_size"]:
    print(f"{name:<20} = {getattr(tcp.ClassroomTCPServer, name)}")
"""),
    md("""
- `allow_reuse_address = True`：服务器刚停止时，端口可能还处于 TIME_WAIT 状态；允许地址重用后，立刻在同一端口重启也不会报 "Address already in use"。`server_bind` 在构造函数内部就读取这个属性并完成绑定，等你拿到服务器对象时再改它已经太晚了，所以要在类里设置（[04_tcp_walkthrough](04_tcp_walkthrough.ipynb) 会在源码里指出读取它的那一行）。
- `daemon_threads = True`：处理线程是守护线程，不会因为还有客户端连着就阻止解释器退出。
- `request_queue_size = 5`：就是 `listen(5)` 的那个数，对应常量 `back_log`。

## 在笔记本里启动服务器

`serve_forever()` 永远不会返回，直接在单元格里调用它，这个单元格就卡住了。`background.start_tcp` 在后台线程里运行它，并返回一个句柄：
"""),
    code("""
srv = background.start_tcp("nb02-tcp")
srv
"""),
    code("""
print("bound to:", srv.server.server_address)
print("serving in thread:", srv.thread.name)
"""),
    md("""
我们请求的是端口 `0`，而 `server_address` 显示的是真实端口：`TCPServer.server_bind` 在绑定之后用 `getsockname()` 取回了操作系统实际分配的地址。再次运行上面那个单元格会先停掉旧服务器再启动新的，端口号会变，但不会冲突。

### 原教程的写法：一个服务器对象，加一个裸套接字客户端

原教程的服务器脚本，核心只有两步：用标准库原样的 `ThreadingTCPServer(ip_port, MyServer)` 建出服务器，再调用它的 `serve_forever()`。`tcp.MyServer` 就是上面读过的 `UpperEchoHandler`，同一个类的另一个名字。在终端里这两步就是整个服务器；在笔记本里，`serve_forever()` 交给 `background.start` 放到后台线程去跑（地址用端口 `0`，而不是脚本里固定的 `constants.ip_port`）：
"""),
    code("""
seed_style = socketserver.ThreadingTCPServer(("127.0.0.1", 0), tcp.MyServer)
seed_style.daemon_threads = True  # like the classroom server: never block interpreter exit
seed_srv = background.start(seed_style, "nb02-seed-style")  # runs seed_style.serve_forever()
print(type(seed_style).__name__, "with", seed_style.RequestHandlerClass.__name__,
      "serving on", format_address(seed_srv.address))
"""),
    md("""
客户端也可以只用 `socket` 模块来写，和原教程一样：建立连接，`sendall` 发出，`recv` 读回，用常量模块的 `str_to_byte` / `byte_to_str` 在文字和字节之间转换：
"""),
    code("""
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
    client.settimeout(2)  # never wait forever in a notebook
    client.connect(seed_srv.address)
    for text in ["hello", "你好, socketserver"]:
        client.sendall(constants.str_to_byte(text))
        reply = constants.byte_to_str(client.recv(constants.buffer_size))
        print(f"{text!r} → {reply!r}")
seed_srv.stop()
"""),
    md("""
消息短的时候，这样写看起来没有问题。下面会看到，消息一长，"一次 `recv` 就是一条完整回复"的假设就不成立了；`netlesson` 的客户端正是为此而写的。

## 客户端

最简单的用法：一次调用完成连接、发送、读取完整回复、关闭。
"""),
    code("""
tcp.echo("hello, socketserver", srv.address, timeout=2)
"""),
    md("""
像原教程的客户端那样，在**同一个连接**上来回发几条消息，包括中文。发送 `str` 得到 `str`，发送 `bytes` 得到 `bytes`：
"""),
    code("""
with tcp.TCPEchoClient(srv.address, timeout=2) as client:
    me = client.sock.getsockname()
    for message in ["hello", "socketserver 你好", b"raw bytes"]:
        print(f"{message!r:<24} → {client.send(message)!r}")
"""),
    md("""
服务器在日志里按客户端地址记录每一次连接。日志由处理线程写入，我们的客户端关闭连接后它才会写下 `closed` 那一行，所以先等这一行出现，再只显示和我们这个客户端有关的几行：
"""),
    code("""
peer = format_address(me)
srv.log.wait_for(f"closed: {peer}")
for line in srv.log.lines():
    if peer in line:
        print(line)
"""),
    md("""
三条消息各对应一次 `recv`，最后的 `closed` 行统计了收到的字节数（`你好` 两个字占 6 个字节）。

### handler 拿到的 `self.request` 和 `self.client_address`

原教程的 `handle` 一开始就把 `self.request`（它叫 conn）和 `self.client_address` 打印出来。我们也看一眼，同样写进日志而不是 `print`。下面临时起一个只用于这次观察的服务器，`with` 块结束时它就停了：
"""),
    code("""
class ShowConn(tcp.UpperEchoHandler):
    \"\"\"Log what the seed's handler printed (conn and address), then echo as usual.\"\"\"

    def handle(self):
        self.server.log(f"conn = {self.request!r}")
        self.server.log(f"address = {self.client_address!r}")
        super().handle()


with background.start_tcp("nb02-show", handler=ShowConn) as show:
    print(tcp.echo("hi", show.address, timeout=2))
    show.log.wait_for("closed")
    show.show_log()
"""),
    md("""
- `conn` 是一个 `SOCK_STREAM` 套接字（`type=1`；从 Python 3.11 起 `repr` 里显示数字而不是 `SocketKind.SOCK_STREAM`），它既有本地地址 `laddr`（服务器的端口），也有对端地址 `raddr`（这个客户端）。它是 `accept()` 为**这一个**客户端新建的套接字，只和它通信。
- `address` 就是 `raddr`：客户端的 IP 和操作系统给客户端随机分配的端口。

到 03 的 UDP 版本你会看到，UDP 的 `self.request` 完全是另一种东西。

### 长消息：为什么一次 `recv` 不够

原教程的客户端发完一条消息后只调用一次 `recv(1024)`，然后就认为收到了完整回复。TCP 传输的是**字节流**，没有"消息"的边界：`recv(1024)` 最多返回 1024 字节，返回的是当时已经到达的那些。下面用一个裸套接字发 3000 字节，看看一次 `recv` 能拿到多少：
"""),
    code("""
long_message = b"abc" * 1000  # 3000 bytes
with socket.create_connection(srv.address, timeout=2) as sock:
    sock.sendall(long_message)
    first = sock.recv(constants.buffer_size)
    print(f"one recv({constants.buffer_size}) returned {len(first)} of the {len(long_message)} bytes")
    rest = framing.recvall(sock, len(long_message) - len(first))
    long_peer = format_address(sock.getsockname())
reply = first + rest
print(f"after recvall: {len(reply)} bytes, equal to the upper-cased request: {reply == long_message.upper()}")
"""),
    md("""
一次 `recv` 只拿到了回复的一部分，剩下的要继续读。`framing.recvall(sock, n)` 循环调用 `recv`，直到正好读满 `n` 个字节（如果对方中途关闭连接，它会报错，而不是悄悄返回不完整的数据）。这里之所以知道还差多少字节，是因为大写回显有个好性质：回复和请求一样长。一般的协议需要自己约定消息边界，[06_pitfalls](06_pitfalls.ipynb) 会专门讲。

服务器那一侧也是一样：它的 `recv(1024)` 把这 3000 字节分成了几块来读，每读到一块就回一块：
"""),
    code("""
srv.log.wait_for(f"closed: {long_peer}")
print(next(line for line in srv.log.lines() if line.startswith(f"closed: {long_peer}")))
"""),
    md("""
`TCPEchoClient` 内部就是这样读的：一直读到回复和请求一样长为止。所以用它收长消息不需要任何额外处理：
"""),
    code("""
text = "长消息 long message " * 200
reply = tcp.echo(text, srv.address, timeout=2)
print(len(text.encode()), "bytes sent; complete reply:", reply == text.upper())
"""),
    md("""
## 回显控制台

下面这个控件是一个小小的客户端：在文本框里输入一条消息，按回车或点 **Send**，它会用 `TCPEchoClient` 把消息发给上面的服务器，显示大写的回复，以及服务器为这次请求写下的日志。每条消息使用一个新连接，所以每次都能看到 `connected`、`received`、`closed` 三行。

注意：本笔记本的最后一个代码单元格会停掉这个服务器。如果你用 Run All 一次运行完全部单元格，再回到这里发消息，控制台只会告诉你服务器 `nb02-tcp` 已经停止。这时重新运行前面启动服务器的单元格（`srv = background.start_tcp("nb02-tcp")`），再点一次 **Send** 就行：新服务器的端口号会变，但控制台按名字 `nb02-tcp` 找到它，不需要重新创建控制台。
"""),
    code("""
console = widgets.echo_console(srv)
console
"""),
    md("""
控件里的按钮最终调用的是 `console.send(message)`，你也可以在代码里直接调用它。它返回回复，并把服务器的新日志行记在 `console.log_lines` 里：
"""),
    code("""
print(console.send("typed in code"))
print("\\n".join(console.log_lines))
"""),
    md("""
## 两个终端：命令行版本

原教程把服务器和客户端写成两个脚本，分别在两个终端里运行。`python -m netlesson` 提供了同样的两个程序：

```bash
# 终端 1：服务器，默认监听 constants.ip_port（127.0.0.1:8081），Ctrl-C 停止
python -m netlesson tcp-server

# 终端 2：客户端，每输入一行就发送一次并打印回复，Ctrl-D（Windows 上 Ctrl-Z 回车）结束
python -m netlesson tcp-client
```

服务器终端会打印每一次连接和收到的数据，相当于原教程里的 `print`。两个命令都接受 `--host` 和 `--port`。

命令行客户端也可以不用键盘，而是从标准输入读入几行。下面在子进程里真实地运行它，连接的是本笔记本里的服务器，把两行文字作为它的输入：
"""),
    code("""
result = subprocess.run(
    [sys.executable, "-m", "netlesson", "tcp-client", "--port", str(srv.port)],
    input="hello from the command line\\n你好，命令行\\n",
    capture_output=True, text=True, timeout=30,
)
print(result.stdout, end="")
print("exit status:", result.returncode)
"""),
    md("""
客户端读到输入结束就正常退出（退出状态 0）。原教程的客户端在这种情况下会把 `EOFError` 当作一般错误打印出来再退出；空行也会让它卡住，因为发送 0 个字节不会得到任何回复。

## 收尾

停掉本笔记本的服务器。之后再用控制台发消息，它会在回复区里给出一句说明（服务器已停止，该重新运行哪个单元格），而不是一段异常回溯：
"""),
    code("""
background.stop("nb02-tcp")
print(srv)
console.send("anyone there?")
print(console.last_error)
"""),
    md("""
## 下一步

TCP 有连接、是字节流；UDP 没有连接、一次一个数据报。在 [03_udp_echo](03_udp_echo.ipynb) 里用同样的方式写出 UDP 版本，看看 handler 拿到的 `request` 有什么不同。
"""),
]

# ---------------------------------------------------------------------------
# 03_udp_echo
# ---------------------------------------------------------------------------

NB03 = [
    md("""
# 03 · UDP 大写回显：服务器与客户端

- **本节内容**：UDP 与 TCP 的区别；UDP 请求处理器；原教程打印的 `server_address`、`socket`、`RequestHandlerClass` 和 `request` 元组 `(data, socket)`；在单元格里当客户端；超时与重试；8192 字节的数据报上限；回显控制台；两个终端的命令行版本
- **预计用时**：25 分钟
- **先读**：[02_tcp_echo](02_tcp_echo.ipynb)
"""),
    code("""
import socket
import socketserver
import subprocess
import sys

from netlesson import background, source, udp, widgets
from netlesson.errors import DatagramTooLong, ServerNotResponding, TruncatedReply
"""),
    md("""
## UDP 有什么不同

- **没有连接。** 客户端不需要 `connect`，每次 `sendto` 都带着目的地址；服务器也不需要 `listen` 和 `accept`。
- **一次一个数据报。** 一次 `sendto` 发出一个数据报，对方一次 `recvfrom` 收到完整的一个，不会像 TCP 那样被拆开或粘在一起；但数据报可能**丢失**，也可能乱序，而且没有人会通知你。
- **同一个套接字服务所有客户端。** TCP 服务器为每个客户端 `accept` 出一个新套接字；UDP 服务器始终只有一个套接字，回复时用 `sendto` 指明发给谁。

因此 `socketserver` 交给 UDP handler 的 `self.request` 不是一个套接字，而是一个元组 `(data, socket)`：收到的数据，以及服务器自己的那个套接字（用来发回复）。

## 请求处理器

`netlesson.udp.UpperEchoDatagramHandler`（别名 `udp.MyServer`）的 `handle`：
"""),
    code("""
source.show_source(udp.UpperEchoDatagramHandler.handle,
                   highlight=["data, sock = self.request", "sock.sendto("])
"""),
    md("""
- `data, sock = self.request`：把元组拆开。原教程写的是 `self.request[0]` 和 `self.request[1]`，意思一样。
- 没有循环：一个数据报就是一个完整的请求，`handle` 回一个数据报就结束了。下一个数据报会创建一个新的 handler 对象（在新线程里）。
- `sock.sendto(data.upper(), self.client_address)`：用服务器的套接字把回复发回客户端的地址。
- 开头那段 `truncated` 检查处理超长数据报，本节最后会讲。

## 原教程打印的那几样东西

原教程在启动服务器后打印了 `server_address`、`socket` 和 `RequestHandlerClass`，又在 `handle` 里打印了 `self.request`、`self.client_address` 和 `self.server`。我们也来看看，但 handler 运行在服务器的线程里，不能 `print`，所以写一个子类，把 `request` 的 `repr` 记进日志，再在主线程里显示：
"""),
    code("""
class ShowRequest(udp.UpperEchoDatagramHandler):
    \"\"\"Log what socketserver hands the handler, then echo as usual.\"\"\"

    def handle(self):
        self.server.log(f"request = {self.request!r}")
        self.server.log(f"client_address = {self.client_address!r}")
        self.server.log(f"server = {self.server!r}")
        self.server.log(f"request[1] is server.socket: {self.request[1] is self.server.socket}")
        super().handle()


show = background.start_udp("nb03-show", handler=ShowRequest)
print(show.server.server_address)
print(show.server.socket)
print(show.server.RequestHandlerClass)
"""),
    md("""
原教程的输出里写的是 `family=AddressFamily.AF_INET, type=SocketKind.SOCK_DGRAM`；从 Python 3.11 起，这类整数枚举在 `repr` 里显示为数字，所以你看到的可能是 `family=2, type=2`。它们的名字可以这样查：
"""),
    code("""
print(show.server.socket.family.name, show.server.socket.type.name)
"""),
    md("""
- `server_address` 是实际绑定的地址（端口 `0` 已经换成了真实端口）。
- `socket` 的类型是 `SOCK_DGRAM`（数据报），只有本地地址 `laddr`，没有对端地址：它不和任何特定客户端相连。
- `RequestHandlerClass` 就是我们传进去的 handler 类；服务器每收到一个数据报就用它创建一个对象。

现在发一个数据报，再看 handler 记下了什么：
"""),
    code("""
print(udp.echo("hello udp", show.address))
show.log.wait_for("received")
show.show_log()
"""),
    md("""
`request` 是一个二元组：第一个元素是收到的字节 `b'hello udp'`，第二个元素正是服务器自己的套接字（`is` 比较为 `True`，是同一个对象）。`client_address` 是客户端套接字的地址，回复就发到那里。`server` 就是服务器对象本身（原教程里是一个 `socketserver.ThreadingUDPServer`，这里是它的子类 `ClassroomUDPServer`），handler 通过它可以读到服务器的一切，比如这里用到的日志 `self.server.log`。

这个元组是 `UDPServer.get_request` 造出来的：它调用一次 `recvfrom`，把数据和服务器套接字打包在一起返回。[05_udp_walkthrough](05_udp_walkthrough.ipynb) 会逐行读这段源码。
"""),
    code("""
source.show_source(socketserver.UDPServer.get_request)
"""),
    md("""
## 客户端

接下来换成普通的大写回显服务器。`UDPEchoClient` 用一个套接字发多个数据报，每个数据报独立往返：
"""),
    code("""
srv = background.start_udp("nb03-udp")
with udp.UDPEchoClient(srv.address) as client:
    for message in ["hello", "数据报 datagram", b"raw bytes"]:
        print(f"{message!r:<22} → {client.send(message)!r}")
"""),
    md("""
### 原教程的写法：`ThreadingUDPServer` 加一个裸套接字客户端

原教程的 UDP 服务器同样只是 `ThreadingUDPServer(ip_port, MyServer)` 加 `serve_forever()`；`udp.MyServer` 就是 `UpperEchoDatagramHandler`。客户端不需要 `connect`：每个 `sendto` 都写明目的地址，`recvfrom` 收回一个数据报和它的来源地址：
"""),
    code("""
seed_style = socketserver.ThreadingUDPServer(("127.0.0.1", 0), udp.MyServer)
seed_style.daemon_threads = True
seed_srv = background.start(seed_style, "nb03-seed-style")  # runs seed_style.serve_forever()

with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
    client.settimeout(2)  # the seed's client has none: see the next section
    for text in ["hello", "数据报 datagram"]:
        client.sendto(text.encode("utf-8"), seed_srv.address)
        data, sender = client.recvfrom(1024)
        print(f"{text!r} → {data.decode('utf-8')!r} from the server: {sender == seed_srv.address}")
seed_srv.stop()
"""),
    md("""
### 超时与重试

原教程的客户端 `sendto` 之后直接调用 `recvfrom`，没有设置超时。如果数据报在路上丢了，或者服务器根本没在运行，`recvfrom` 会**永远**等下去。UDP 没有连接，所以"服务器没开""数据报丢了""服务器太慢"三种情况在客户端看来完全一样：什么也收不到。

`UDPEchoClient` 的做法：每次等待 `timeout` 秒；没等到就重发，并把等待时间乘以 `backoff`（但不超过 `max_timeout`）；最多重试 `retries` 次，然后抛出一个说明清楚的异常。为了演示，我们绑定一个**从不回复**的 UDP 套接字，把客户端指向它：
"""),
    code("""
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
    silent.bind(("127.0.0.1", 0))
    client = udp.UDPEchoClient(silent.getsockname(), timeout=0.1, retries=2, backoff=2, max_timeout=0.4)
    try:
        client.send("is anyone there?")
    except ServerNotResponding as exc:
        print(exc)
    finally:
        client.close()
    silent.settimeout(0.5)
    arrived = []
    while len(arrived) < client.attempts:
        arrived.append(silent.recvfrom(1024)[0])
    print(f"the silent socket received {len(arrived)} copies: {arrived[0]!r}")
"""),
    md("""
客户端一共发了 3 次（1 次 + 2 次重试），等待时间依次是 0.1、0.2、0.4 秒，然后放弃。重试是有代价的：如果请求本身不是"幂等"的（比如"转账 100 元"），服务器可能收到多份。大写回显重复执行也无妨。

`UDPEchoClient` 还会丢弃来自其他地址的数据报；每次发送新请求之前，它也会先清掉上一个请求遗留下来的迟到回复。这样你拿到的确实是这个服务器对这次请求的回复。

### 8192 字节的上限

`UDPServer.get_request` 每次只 `recvfrom(self.max_packet_size)` 个字节。这个值是多少？从正在运行的 Python 里读：
"""),
    code("""
print("socketserver.UDPServer.max_packet_size =", socketserver.UDPServer.max_packet_size)
print("our server's max_packet_size          =", srv.server.max_packet_size)
"""),
    md("""
更长的数据报会被**悄悄截断**：超出部分直接丢掉，既不报错也不通知发送方。`UDPEchoClient` 默认拒绝发送服务器注定会截断的数据报：
"""),
    code("""
too_long = "x" * 9000
try:
    udp.echo(too_long, srv.address)
except DatagramTooLong as exc:
    print(exc)
"""),
    md("""
如果坚持要发（`max_datagram=None`），服务器只会收到前 8192 字节，回复也就只有 8192 字节，客户端发现回复变短了就报告截断。服务器这边，`socketserver` 本身不会告诉你数据报被截断了；`ClassroomUDPServer` 在真正读取之前先用 `MSG_PEEK` 看一眼等待中的数据报，内核会用 `MSG_TRUNC` 标志告诉它"这个数据报比缓冲区长"，于是它在日志里写明：
"""),
    code("""
try:
    udp.echo(too_long, srv.address, max_datagram=None)
except TruncatedReply as exc:
    print(exc)
srv.log.wait_for("cut it")
print(next(line for line in srv.log.lines() if "cut it" in line))
"""),
    md("""
需要传更多数据时，要么把服务器类的 `max_packet_size` 调大（一个 IPv4 UDP 数据报最多 65507 字节），要么改用 TCP。

## 回显控制台

和 02 里的一样，只是这次走 UDP。每条消息是一个数据报，所以日志里只有 `received` 一行，没有连接和关闭：
"""),
    code("""
console = widgets.echo_console(srv)
console
"""),
    code("""
print(console.send("sent as one datagram"))
print("\\n".join(console.log_lines))
"""),
    md("""
## 两个终端：命令行版本

```bash
# 终端 1：UDP 服务器，默认 127.0.0.1:8081，Ctrl-C 停止
python -m netlesson udp-server

# 终端 2：UDP 客户端，每一行作为一个数据报发送，Ctrl-D 结束
python -m netlesson udp-client
```

TCP 和 UDP 服务器可以同时使用 8081 端口：端口号是分协议的，TCP 的 8081 和 UDP 的 8081 互不相干。

下面在子进程里运行命令行客户端，连接本笔记本里的服务器：
"""),
    code("""
result = subprocess.run(
    [sys.executable, "-m", "netlesson", "udp-client", "--port", str(srv.port)],
    input="first datagram\\n第二个数据报\\n",
    capture_output=True, text=True, timeout=30,
)
print(result.stdout, end="")
print("exit status:", result.returncode)
"""),
    md("""
## 收尾

停掉本笔记本启动的两个服务器：
"""),
    code("""
for name in ("nb03-show", "nb03-udp"):
    background.stop(name)
print(show, srv, sep="\\n")
"""),
    md("""
## 下一步

你已经用 `socketserver` 写出了 TCP 和 UDP 两个版本。它们内部到底是怎么运转的？[04_tcp_walkthrough](04_tcp_walkthrough.ipynb) 会从 `ThreadingTCPServer(...)` 这一行开始，沿着真实请求的调用顺序逐步阅读 `socketserver` 的源码。
"""),
]


NOTEBOOKS_SPEC = {
    "00_index": NB00,
    "01_socketserver_classes": NB01,
    "02_tcp_echo": NB02,
    "03_udp_echo": NB03,
}


if __name__ == "__main__":
    sys.exit(main(NOTEBOOKS_SPEC, sys.argv[1:]))
