# JupyterHub for the netlesson course on ONE machine: local system users, each
# student's server a process of their own (LocalProcessSpawner), the course
# environment deploy/hub.py installs as the single-user environment, nbgrader's
# exchange on the local disk.
#
#   make hub                           # try it: installs, adds accounts, starts, prints the URL
#   jupyterhub -f deploy/local/jupyterhub_config.py   # as root, from a state directory
#
# Every setting below can stay as it is for a class except the marked ones (the
# NETLESSON_HUB_* variables, or edit the defaults here).  docs/instructors.md
# walks through it.  Run the hub as root: it starts each server as its user.
import asyncio
import os
import pwd

c = get_config()  # noqa: F821


def setting(name, default):
    """A NETLESSON_HUB_* environment variable (deploy/hub.py and the tests set them), else *default*."""
    return os.environ.get(f"NETLESSON_HUB_{name}", default)


def names(text):
    return {n.strip() for n in text.split(",") if n.strip()}


# where deploy/hub.py installed the hub ([prefix]/env, [prefix]/proxy, [prefix]/course)
PREFIX = setting("PREFIX", "/opt/netlesson-hub")
ENV = f"{PREFIX}/env"
# nbgrader's exchange (deploy/hub.py creates it, mode 1777)
EXCHANGE = os.environ.get("NETLESSON_EXCHANGE", "/srv/nbgrader/exchange")

# --- who may log in ---------------------------------------------------------
# EDIT for a class: the students' and instructors' account names (system users
# on this machine; deploy/hub.py create_account, or your usual useradd).
STUDENTS = names(setting("STUDENTS", ""))
INSTRUCTORS = names(setting("INSTRUCTORS", ""))
c.Authenticator.allowed_users = STUDENTS | INSTRUCTORS
# instructors are hub admins: they see every student's server in the admin page
c.Authenticator.admin_users = INSTRUCTORS
# users added through the admin page or the REST API are allowed too
c.Authenticator.allow_existing_users = True

AUTH = setting("AUTH", "pam")
if AUTH == "shared-password":
    # FOR TRYING ONLY (make hub, tests/hub): one password for every student and one
    # for the instructors; anyone with the student password can log in as any
    # student.  Never for a class.
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = setting("USER_PASSWORD", "")
    c.SharedPasswordAuthenticator.admin_password = setting("ADMIN_PASSWORD", "")
else:
    # a class: each account's own system password (PAM), the default authenticator
    c.JupyterHub.authenticator_class = "pam"

# --- ports --------------------------------------------------------------------
# The public URL students open.  EDIT for a class: the machine's name behind TLS,
# e.g. "https://hub.example.edu" with c.JupyterHub.ssl_cert / ssl_key, or a
# reverse proxy in front of http://127.0.0.1:8000.
c.JupyterHub.bind_url = setting("BIND_URL", "http://127.0.0.1:8000")
# The hub's internal API.  JupyterHub's default is 127.0.0.1:8081 -- the course's
# own default port (netlesson.constants.ip_port), which a student's
# `python -m netlesson tcp-server` would find taken.  8090 instead.
c.JupyterHub.hub_bind_url = setting("API_URL", "http://127.0.0.1:8090")
# The proxy's REST API (the hub tells it where each user's server is).
c.ConfigurableHTTPProxy.api_url = setting("PROXY_API_URL", "http://127.0.0.1:8001")
# configurable-http-proxy from deploy/local/proxy/package-lock.json (npm ci)
c.ConfigurableHTTPProxy.command = [f"{PREFIX}/proxy/node_modules/.bin/configurable-http-proxy"]
# stop the proxy when the hub stops (the hub started it)
c.ConfigurableHTTPProxy.should_start = True

# --- each student's server ----------------------------------------------------
c.JupyterHub.spawner_class = "localprocess"
# the course environment (JupyterLab, ipykernel, netlesson, nbgrader's assignment
# list) as the single-user server; its etc/jupyter puts kernels on IPC transport
c.Spawner.cmd = [f"{ENV}/bin/jupyterhub-singleuser"]
# Kernels talk to their server over Unix sockets, not five 127.0.0.1 ports each:
# jupyter_client chooses free TCP ports before the kernel binds them, and on a
# shared machine another user's kernel can take one in between (a class starting
# kernels at the same moment lost notebooks to that).  Also set in the
# environment's etc/jupyter (deploy/local/singleuser/); here so it holds even
# when that file is changed.
c.Spawner.args = ["--KernelManager.transport=ipc"]
# servers start in the home directory; JupyterLab opens the course map
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab/tree/netlesson/notebooks/00_index.ipynb"
# a class logging in at once shares the CPUs: give each server time to start
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300
# A course port of one's own: the two-terminal commands (python -m netlesson
# tcp-server / tcp-client) default to NETLESSON_PORT instead of the seed's 8081
# (netlesson.sharedhost), so one student's client never reaches another's server.
# Hub user ids are small integers: 20000 + id stays below the ephemeral range
# (32768-60999) the notebooks' port-0 servers use.
c.Spawner.environment = {
    "NETLESSON_PORT": lambda spawner: str(20000 + spawner.user.id),
    "NETLESSON_EXCHANGE": EXCHANGE,
    # the course environment first; not root's PATH (its entries are not the students')
    "PATH": f"{ENV}/bin:/usr/local/bin:/usr/bin:/bin",
}


# Each server's own port, fixed per user and below the ephemeral range (like the
# course ports above).  JupyterHub's default picks a free port at random and the
# server binds it only once it has started -- under a class's load 30-40 s later --
# and in between any connection of the machine may take that port as its local
# end (they come from the same 32768-60999 range): the server then fails to start
# ("port ... is not available"), as one did in a 20-student test run.
SERVER_PORT_BASE = int(setting("SERVER_PORT_BASE", "10000"))


async def before_start(spawner):
    """The server's fixed port (above), and the student's course (give_course, below)."""
    spawner.port = SERVER_PORT_BASE + spawner.user.id
    await give_course(spawner)


# Where students' course comes from.  EDIT for a class: the git repository and
# branch students may read (the `students` branch: make student-branch).  Every
# server start then merges the newest commit into ~/netlesson with nbgitpuller,
# keeping what the student changed.  Unset (make hub): a copy of the installed
# course on a student's first start, never touched again.
COURSE_REPO = setting("COURSE_REPO", "")
COURSE_BRANCH = setting("COURSE_BRANCH", "students")


async def as_student(spawner, *command, timeout=300):
    """Run *command* as the student, in their home; return (exit status, output)."""
    user = pwd.getpwnam(spawner.user.name)
    proc = await asyncio.create_subprocess_exec(
        "runuser", "-u", user.pw_name, "--", *command, cwd=user.pw_dir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        return -1, f"{command[0]} took longer than {timeout} s"
    return proc.returncode, out.decode(errors="replace")


async def give_course(spawner):
    """The course in ~/netlesson, put there as the student (root never writes in a home).

    With COURSE_REPO: nbgitpuller's merge on every start (the student's changes
    win; a file they deleted comes back).  Without: a copy on the first start.
    A failure is logged and the server starts anyway: the student's files are
    more important than this update.
    """
    user = pwd.getpwnam(spawner.user.name)
    if COURSE_REPO:
        status, out = await as_student(spawner, f"{ENV}/bin/gitpuller", COURSE_REPO,
                                       COURSE_BRANCH, "netlesson")
    elif not os.path.lexists(os.path.join(user.pw_dir, "netlesson")):
        status, out = await as_student(spawner, "cp", "-R", f"{PREFIX}/course", "netlesson")
    else:
        return
    if status != 0:
        spawner.log.warning("course for %s not updated (exit status %s): %s", user.pw_name,
                            status, out[-2000:])


c.Spawner.pre_spawn_hook = before_start

# --- the hub's own bookkeeping ------------------------------------------------
# Stopping the hub stops every server it started (one machine: nothing outlives it).
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
# at most this many servers starting at once; the rest wait (a class logs in together)
c.JupyterHub.concurrent_spawn_limit = 40
# the database and cookie secret live in the directory the hub is started from

# --- a REST API token for scripts (tests/hub) ------------------------------------
# Only when NETLESSON_HUB_SERVICE_TOKEN is set: an admin service that creates users,
# starts their servers and makes tokens for them.  The classroom test uses it.
SERVICE_TOKEN = setting("SERVICE_TOKEN", "")
if SERVICE_TOKEN:
    c.JupyterHub.services = [{"name": "netlesson-classroom", "api_token": SERVICE_TOKEN}]
    # the hub's built-in admin role: it may also make users admins (the instructor)
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["netlesson-classroom"]}]
