"""deploy/ says what it means: ports clear of the course's, kernels on IPC, pinned versions.

Fast and without root: the configuration files are read, not run (the classroom
test runs them).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COURSE_PORT = 8081  # netlesson.constants.ip_port


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            found[name.lower().replace("_", "-")] = version.strip()
    return found


def load_hub_config(monkeypatch, **env):
    from traitlets.config.loader import PyFileConfigLoader

    for key in [k for k in list(__import__("os").environ) if k.startswith("NETLESSON_HUB_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(f"NETLESSON_HUB_{key}", value)
    path = DEPLOY / "local" / "jupyterhub_config.py"
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def port_of(url: str) -> int:
    return urlsplit(url).port


def test_the_hubs_ports_stay_clear_of_the_course_port(monkeypatch):
    c = load_hub_config(monkeypatch)
    ports = [port_of(c.JupyterHub.bind_url), port_of(c.JupyterHub.hub_bind_url),
             port_of(c.ConfigurableHTTPProxy.api_url)]
    assert COURSE_PORT not in ports
    assert len(set(ports)) == 3


def test_each_student_gets_a_course_port_of_their_own_below_the_ephemeral_range(monkeypatch):
    c = load_hub_config(monkeypatch)
    port = c.Spawner.environment["NETLESSON_PORT"]
    given = [int(port(SimpleNamespace(user=SimpleNamespace(id=uid)))) for uid in range(1, 2001)]
    assert len(set(given)) == len(given)
    assert all(1024 < p < 32768 and p != COURSE_PORT for p in given)


def test_kernels_use_ipc_transport(monkeypatch):
    c = load_hub_config(monkeypatch)
    assert "--KernelManager.transport=ipc" in c.Spawner.args
    server = json.loads((DEPLOY / "local" / "singleuser" / "jupyter_server_config.d" /
                         "netlesson-hub.json").read_text())
    assert server["KernelManager"]["transport"] == "ipc"
    appendix = (DEPLOY / "kubernetes" / "appendix.Dockerfile").read_text()
    assert '{"KernelManager": {"transport": "ipc"}}' in appendix


def test_a_class_logs_in_with_pam_and_the_shared_password_only_when_asked(monkeypatch):
    c = load_hub_config(monkeypatch, STUDENTS="a,b", INSTRUCTORS="t")
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.Authenticator.allowed_users == {"a", "b", "t"}
    assert c.Authenticator.admin_users == {"t"}
    assert "services" not in c.JupyterHub
    c = load_hub_config(monkeypatch, AUTH="shared-password", USER_PASSWORD="x" * 12,
                        SERVICE_TOKEN="s" * 32)
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.JupyterHub.services[0]["api_token"] == "s" * 32


def test_the_single_user_server_is_the_course_environment(monkeypatch):
    c = load_hub_config(monkeypatch, PREFIX="/opt/x")
    assert c.Spawner.cmd == ["/opt/x/env/bin/jupyterhub-singleuser"]
    assert c.Spawner.environment["PATH"].startswith("/opt/x/env/bin:")
    assert c.ConfigurableHTTPProxy.command == ["/opt/x/proxy/node_modules/.bin/configurable-http-proxy"]


def test_the_proxy_is_pinned_by_its_lock_file():
    package = json.loads((DEPLOY / "local" / "proxy" / "package.json").read_text())
    lock = json.loads((DEPLOY / "local" / "proxy" / "package-lock.json").read_text())
    wanted = package["dependencies"]["configurable-http-proxy"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", wanted)
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == wanted
    assert all("integrity" in entry
               for name, entry in lock["packages"].items() if name)


def test_the_hub_packages_are_pinned_and_the_image_installs_the_pinned_versions():
    pinned = pins()
    for name in ("jupyterhub", "nbgrader", "nbgitpuller"):
        assert name in pinned, name
    appendix = (DEPLOY / "kubernetes" / "appendix.Dockerfile").read_text()
    for name in ("nbgrader", "nbgitpuller"):
        assert f"{name}=={pinned[name]}" in appendix


def test_the_kubernetes_values_mount_the_exchange_where_nbgrader_looks():
    yaml = pytest.importorskip("yaml")
    values = yaml.safe_load((DEPLOY / "kubernetes" / "values.yaml").read_text())
    single = values["singleuser"]
    exchange = single["extraEnv"]["NETLESSON_EXCHANGE"]
    assert [m["mountPath"] for m in single["storage"]["extraVolumeMounts"]] == [exchange]
    assert single["cmd"] == "jupyterhub-singleuser"
    assert single["lifecycleHooks"]["postStart"]["exec"]["command"][0] == "gitpuller"
    assert "students" in single["lifecycleHooks"]["postStart"]["exec"]["command"]


REPO2DOCKER = shutil.which("repo2docker", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(REPO2DOCKER is None, reason="repo2docker not installed (the ci extra)")
def test_repo2docker_builds_the_student_environment_then_the_hub_appendix(tmp_path):
    appendix = (DEPLOY / "kubernetes" / "appendix.Dockerfile").read_text()
    result = subprocess.run([REPO2DOCKER, "--no-build", "--debug", "--appendix", appendix, str(ROOT)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    plan = result.stdout + result.stderr
    assert result.returncode == 0, plan[-3000:]
    assert "binder/environment.yml" in plan
    assert plan.index("./binder/postBuild") < plan.index("nbgrader==")


def test_every_way_to_the_course_starts_without_jupyterlabs_news_question():
    """make lab (Makefile), Binder and the Kubernetes image (binder/postBuild) and the
    local hub (deploy/hub.py) write the same JupyterLab overrides."""
    import hub as hubmod

    makefile = re.search(r"^LAB_OVERRIDES := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    postbuild = re.search(r"printf '%s\\n' '(\{.+\})'", (ROOT / "binder" / "postBuild").read_text())
    assert makefile and postbuild
    assert json.loads(makefile.group(1)) == hubmod.LAB_OVERRIDES == json.loads(postbuild.group(1))
    assert hubmod.LAB_OVERRIDES["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
