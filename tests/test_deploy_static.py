"""What can be checked of the Docker deployment without a Docker engine: the compose file and the
Dockerfiles agree with the code (commands, options, settings, paths, defaults) and with each other
(service names, ports, timeouts), and the packaged gunicorn configuration loads."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from conftest import REPO
from movierec import healthcheck
from movierec.cli import main
from movierec.config import GROUPLENS_SMALL_URL, Settings

COMPOSE = REPO / "docker-compose.yml"
APP_DOCKERFILE = REPO / "docker" / "Dockerfile"
POSTGRES_DOCKERFILE = REPO / "docker" / "postgres" / "Dockerfile"
SEED_SCRIPT = REPO / "docker" / "postgres" / "build-seed.sh"
NGINX_CONF = REPO / "docker" / "proxy" / "nginx.conf"
PROMETHEUS_CONF = REPO / "docker" / "prometheus" / "prometheus.yml"
GRAFANA = REPO / "docker" / "grafana"
MONITORING_SERVICES = {"prometheus", "grafana"}
MOVIEREC_IMAGE_SERVICES = {"migrate", "web", "scheduler"}
# The variables the original MovieRec documented; a deployment must be configurable by them.
ORIGINAL_VARIABLES = {
    "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASS",
    "REDIS_CHUNK_SIZE", "REDIS_HOST", "REDIS_PORT",
    "TOP_N", "STAT_MOVIE_USERS_LOWER_LIMIT",
    "MODEL_N_FACTORS", "MODEL_N_EPOCHS", "MODEL_LR_ALL", "MODEL_REG_ALL",
}  # fmt: skip
# Variables of the official postgres image (https://hub.docker.com/_/postgres).
POSTGRES_IMAGE_VARIABLES = {
    "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_INITDB_ARGS",
    "POSTGRES_HOST_AUTH_METHOD", "PGDATA",
}  # fmt: skip
INTERPOLATION = re.compile(
    r"^\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*)|:\?(?P<required>[^}]*))?\}$"
)
# A value for each variable compose requires (``${NAME:?message}``), to check the rest with.
REQUIRED_SAMPLES = {"API_KEYS": "compose-sample-key-0123456789,compose-sample-key-rotated-9876"}


def setting_variables() -> dict[str, str]:
    """Environment variable name -> Settings field name."""
    return {(info.alias or name).upper(): name for name, info in Settings.model_fields.items()}


# -- parsing helpers ------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        values = [value for key, value in self.instructions if key == keyword]
        return values[-1] if values else None

    def all(self, keyword: str) -> list[str]:
        return [value for key, value in self.instructions if key == keyword]


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and stages, with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path}: dangling line continuation"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif not stages:
            assert keyword == "ARG", f"{path}: {keyword} before the first FROM"
            arg_name, _, default = rest.partition("=")
            global_args[arg_name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return global_args, stages


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(v, str) for v in parsed), value
    return parsed


def resolve_command(group: click.Group, args: list[str]) -> click.Command:
    """The click command that ``args`` invoke, after checking its options and arguments parse
    (click raises UsageError on an unknown command, option or missing argument)."""
    command: click.Command = group
    path: list[str] = []
    remaining = list(args)
    while isinstance(command, click.Group):
        assert remaining, f"{' '.join(args)}: names a group, not a command"
        name, *remaining = remaining
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"no command `{' '.join([*path, name])}`"
        command, path = sub, [*path, name]
    command.make_context(" ".join(path), remaining)
    return command


def check_invocation(argv: list[str]) -> None:
    """A container command line: `movierec ...` or `python -m movierec.healthcheck ...`."""
    if argv[0] == "movierec":
        resolve_command(main, argv[1:])
    elif argv[:3] == ["python", "-m", "movierec.healthcheck"]:
        resolve_command(healthcheck.main, argv[3:])
    else:
        raise AssertionError(f"unexpected command {argv}")


def dockerignore_excludes(relative: str) -> bool:
    """Docker's rule, enough for this repository's file: the last matching pattern wins, and a
    pattern matching a parent folder matches everything inside it."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            excluded = not negated
    return excluded


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


# -- compose --------------------------------------------------------------------------------


def test_compose_defines_the_topology(services: dict) -> None:
    assert {"postgres", "redis", "migrate", "web", "scheduler"} <= set(services)
    for name in MOVIEREC_IMAGE_SERVICES:
        assert services[name]["image"] == services["web"]["image"], name
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile", name
        assert "entrypoint" not in services[name], f"{name} must keep the image's entrypoint"
    for service in services.values():
        build = service.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).is_file()


def test_every_service_has_a_health_check(services: dict) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no health check"
        test = check["test"]
        assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"}, (name, test)
        assert len(test) > 1 and all(part.strip() for part in test[1:]), (name, test)


def test_movierec_health_checks_and_commands_are_real_commands(services: dict) -> None:
    for name in MOVIEREC_IMAGE_SERVICES:
        service = services[name]
        check_invocation(["movierec", *service["command"]])
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", f"{name}: exec form, the slim image needs no shell for it"
        check_invocation(test[1:])


def test_start_order_waits_for_health_and_for_the_migration(services: dict) -> None:
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            )
            assert condition["condition"] == expected, (name, dependency)
    assert set(services["migrate"]["depends_on"]) == {"postgres"}
    for name in ("web", "scheduler"):
        assert set(services[name]["depends_on"]) >= {"postgres", "redis", "migrate"}, name
    assert services["migrate"]["restart"] == "no"


def test_movierec_environment_holds_only_real_settings(services: dict) -> None:
    known = setting_variables()
    for name in MOVIEREC_IMAGE_SERVICES:
        environment = services[name]["environment"]
        unknown = set(environment) - set(known)
        assert not unknown, f"{name} passes variables that are no setting: {unknown}"
        assert set(environment) >= ORIGINAL_VARIABLES, ORIGINAL_VARIABLES - set(environment)


def test_postgres_environment_holds_only_image_variables(services: dict) -> None:
    assert set(services["postgres"]["environment"]) <= POSTGRES_IMAGE_VARIABLES


def interpolation_default(value: object) -> str | None:
    match = INTERPOLATION.match(str(value))
    return match["default"] if match else None


def test_compose_values_are_valid_settings_with_the_code_defaults(
    services: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = setting_variables()
    for variable in known:
        monkeypatch.delenv(variable, raising=False)
    environment = services["web"]["environment"]
    for variable, value in environment.items():
        if value is None:  # passed through from the host only when set there
            continue
        match = INTERPOLATION.match(str(value))
        if match and match["required"] is not None:
            assert match["required"].strip(), f"{variable}: say what to set"
            value = REQUIRED_SAMPLES[variable]
        elif match:
            # The fallback must be what the code would use anyway, or compose and a bare
            # `movierec` would disagree about e.g. the database name.
            assert match["default"] == str(Settings.model_fields[known[variable]].default), variable
            value = match["default"]
        monkeypatch.setenv(variable, str(value))
    from movierec.config import load_settings

    settings = load_settings()
    assert settings.db_host == "postgres" and settings.redis_host == "redis"
    assert settings.api_keys == tuple(REQUIRED_SAMPLES["API_KEYS"].split(","))


def test_compose_never_serves_the_open_demo_mode(services: dict) -> None:
    """`docker compose up` without API_KEYS stops with the message, instead of serving writes
    to anyone; only the web tier gets the keys."""
    match = INTERPOLATION.match(str(services["web"]["environment"]["API_KEYS"]))
    assert match and match["name"] == "API_KEYS" and "API_KEYS" in match["required"]
    for variable in ("ADMIN_API_KEYS", "CORS_ORIGINS"):
        assert services["web"]["environment"][variable] is None, variable  # optional
    for name in MOVIEREC_IMAGE_SERVICES - {"web"}:
        assert "API_KEYS" not in services[name]["environment"], name


def test_postgres_credentials_match_what_the_app_uses(services: dict) -> None:
    app = services["web"]["environment"]
    postgres = services["postgres"]["environment"]
    assert postgres["POSTGRES_DB"] == app["DB_NAME"]
    assert postgres["POSTGRES_USER"] == app["DB_USER"]
    assert postgres["POSTGRES_PASSWORD"] == app["DB_PASS"]
    assert app["DB_HOST"] == "postgres" and app["REDIS_HOST"] == "redis"


def test_state_lives_in_named_volumes(compose: dict, services: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name in ("postgres", "redis"):
        sources = {volume.split(":")[0] for volume in services[name]["volumes"]}
        assert sources and sources <= declared, (name, sources)
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), (name, source)
            else:
                assert source in declared, (name, source)


def test_web_scales_behind_one_entry_point_on_port_8000(services: dict) -> None:
    web = services["web"]
    # A fixed host port or container name would make the second replica fail to start.
    assert "ports" not in web and "container_name" not in web
    bind = web["command"][web["command"].index("--bind") + 1]
    web_port = bind.rsplit(":", 1)[1]
    default = [service for service in services.values() if not service.get("profiles")]
    published = [service["ports"] for service in default if service.get("ports")]
    assert published == [["8000:8000"]], "exactly one service publishes the API on 8000"
    proxy = next(service for service in default if service.get("ports"))
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    conf = NGINX_CONF.read_text()
    assert re.search(r"^\s*listen 8000;", conf, re.M)
    assert f"http://web:{web_port};" in conf  # the service name and port web really uses
    assert "resolver 127.0.0.11" in conf  # re-resolved, so scaling takes effect


def seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(
        float(number) * units[unit] for number, unit in re.findall(r"(\d+)([smh])", duration)
    )


def test_web_stop_grace_outlasts_gunicorn_graceful_timeout(services: dict) -> None:
    graceful_timeout = gunicorn_config_namespace()["graceful_timeout"]
    assert seconds(services["web"]["stop_grace_period"]) > graceful_timeout


# -- monitoring profile ---------------------------------------------------------------------


def mounts(service: dict) -> dict[str, str]:
    """Container path -> host path of a service's bind mounts."""
    pairs = (volume.split(":")[:2] for volume in service.get("volumes", []))
    return {target: source for source, target in pairs if source.startswith(".")}


def container_port(published: str) -> str:
    return published.rsplit(":", 1)[1]


@pytest.fixture(scope="module")
def scrape_jobs() -> dict[str, dict]:
    config = yaml.safe_load(PROMETHEUS_CONF.read_text())
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_monitoring_is_an_optional_profile_on_loopback_ports(services: dict) -> None:
    profiled = {name for name, service in services.items() if service.get("profiles")}
    assert profiled == MONITORING_SERVICES
    for name in MONITORING_SERVICES:
        assert services[name]["profiles"] == ["monitoring"]
        for published in services[name]["ports"]:
            assert published.startswith("127.0.0.1:"), (name, published)  # no auth set up


def test_prometheus_reads_the_repository_config(services: dict) -> None:
    prometheus = services["prometheus"]
    flags = dict(flag.lstrip("-").split("=", 1) for flag in prometheus["command"])
    assert mounts(prometheus)[flags["config.file"]] == "./docker/prometheus/prometheus.yml"


def test_prometheus_scrapes_every_web_replica_directly(
    services: dict, scrape_jobs: dict[str, dict]
) -> None:
    from movierec.app import create_app
    from movierec.config import load_settings

    web = scrape_jobs["web"]
    # Docker's DNS answers the service name with every replica; never the proxy, which would
    # send each scrape to one replica at random.
    assert "static_configs" not in web
    (discovery,) = web["dns_sd_configs"]
    assert discovery["names"] == ["web"] and discovery["type"] == "A"
    command = services["web"]["command"]
    web_port = command[command.index("--bind") + 1].rsplit(":", 1)[1]
    assert str(discovery["port"]) == web_port and web_port in services["web"]["expose"]
    app = create_app(load_settings(DATABASE_URL="sqlite://"))
    assert web["metrics_path"] in {rule.rule for rule in app.url_map.iter_rules()}


def test_prometheus_scrapes_the_scheduler_on_its_metrics_port(
    services: dict, scrape_jobs: dict[str, dict]
) -> None:
    scheduler = services["scheduler"]
    port = scheduler["environment"]["SCHEDULER_METRICS_PORT"]
    assert Settings(SCHEDULER_METRICS_PORT=port).scheduler_metrics_port == int(port) > 0
    assert port in scheduler["expose"]
    assert scrape_jobs["scheduler"]["static_configs"] == [{"targets": [f"scheduler:{port}"]}]
    assert scrape_jobs["scheduler"]["metrics_path"] == "/metrics"


def grafana_datasource() -> dict:
    (datasource,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    return datasource


def test_grafana_is_provisioned_with_the_compose_prometheus(services: dict) -> None:
    grafana = services["grafana"]
    mounted = mounts(grafana)
    assert mounted["/etc/grafana/provisioning"] == "./docker/grafana/provisioning"
    url = grafana_datasource()["url"]
    flags = dict(flag.lstrip("-").split("=", 1) for flag in services["prometheus"]["command"])
    listen_port = flags["web.listen-address"].rsplit(":", 1)[1]
    assert url == f"http://prometheus:{listen_port}"
    assert listen_port in {container_port(p) for p in services["prometheus"]["ports"]}
    (provider,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "movierec.yml").read_text()
    )["providers"]
    assert mounted[provider["options"]["path"]] == "./docker/grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (GRAFANA / "dashboards" / Path(home).name).is_file()


def exposed_series() -> set[str]:
    """Every series name MovieRec's web tier and scheduler can expose."""
    from prometheus_client import REGISTRY

    from movierec import metrics  # noqa: F401 (defines the series in the default registry)
    from movierec.api.observability import EngineStateCollector

    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    families = [f for f in REGISTRY.collect() if f.name.startswith("movierec_")]
    families += list(EngineStateCollector(None, None).describe())  # type: ignore[arg-type]
    return {family.name + suffix for family in families for suffix in suffixes[family.type]}


def test_the_dashboard_charts_real_series_from_the_provisioned_datasource() -> None:
    dashboard = json.loads((GRAFANA / "dashboards" / "movierec.json").read_text())
    uid = grafana_datasource()["uid"]
    series = exposed_series()
    charted: set[str] = set()
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == panel["datasource"]["uid"] == uid
            names = set(re.findall(r"\bmovierec_[a-z_]+", target["expr"]))
            assert names <= series, (panel["title"], names - series)
            charted |= names
    # Every family is on the dashboard (histogram buckets stand for their family).
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in series}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in charted}
    assert families <= shown, families - shown
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


# -- Dockerfiles ----------------------------------------------------------------------------


def test_app_image_is_multi_stage_non_root_and_runs_movierec() -> None:
    _, stages = parse_dockerfile(APP_DOCKERFILE)
    assert len(stages) >= 2
    final = stages[-1]
    user = final.last("USER")
    assert user and user.split(":")[0] not in {"root", "0"}
    assert exec_form(final.last("ENTRYPOINT") or "[]") == ["movierec"]
    check_invocation(["movierec", *exec_form(final.last("CMD") or "[]")])
    health = final.last("HEALTHCHECK") or ""
    command = health[health.index("CMD") + 3 :].strip()
    check_invocation(exec_form(command))
    # The runtime stage copies the environment the builder made, not the sources.
    assert any("--from=builder" in copy for copy in final.all("COPY"))


def copy_sources(stages: list[Stage]) -> list[str]:
    sources = []
    for stage in stages:
        for copy in stage.all("COPY"):
            words = [w for w in shlex.split(copy) if not w.startswith("--")]
            if "--from=" in copy:
                continue
            sources.extend(words[:-1])
    return sources


@pytest.mark.parametrize(
    "dockerfile", [APP_DOCKERFILE, POSTGRES_DOCKERFILE], ids=lambda p: p.parent.name
)
def test_dockerfile_copies_files_that_exist_and_reach_the_build(dockerfile: Path) -> None:
    _, stages = parse_dockerfile(dockerfile)
    sources = copy_sources(stages)
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not dockerignore_excludes(source.rstrip("/")), f".dockerignore drops {source}"
    # pyproject.toml names README.md as the readme: building the package needs it too.
    assert not dockerignore_excludes("README.md")
    assert dockerignore_excludes(".git") and dockerignore_excludes("tests/conftest.py")


def test_postgres_image_seeds_with_movierec_commands_and_the_settings_default_url() -> None:
    global_args, stages = parse_dockerfile(POSTGRES_DOCKERFILE)
    seed = next(stage for stage in stages if stage.name == "seed")
    args = dict(arg.partition("=")[::2] for arg in seed.all("ARG"))
    assert args["MOVIELENS_URL"] == GROUPLENS_SMALL_URL
    assert Settings.model_fields["movielens_url"].default == GROUPLENS_SMALL_URL
    # Seed and final stages run the same server version, so the dump restores as made.
    assert stages[-1].base == seed.base == "${POSTGRES_IMAGE}" and "POSTGRES_IMAGE" in global_args
    invocations = [
        shlex.split(line.strip())
        for line in SEED_SCRIPT.read_text().splitlines()
        if line.strip().startswith("movierec ")
    ]
    assert [argv[:3] for argv in invocations] == [
        ["movierec", "db", "upgrade"],
        ["movierec", "data", "load"],
    ]
    for argv in invocations:
        check_invocation(argv)
    copied = stages[-1].all("COPY")
    assert any("/docker-entrypoint-initdb.d/" in copy for copy in copied)
    assert os.access(SEED_SCRIPT, os.X_OK)


# -- gunicorn configuration -----------------------------------------------------------------


@pytest.fixture
def clean_gunicorn_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    return monkeypatch


def server_config(options: dict | None = None):  # type: ignore[no-untyped-def]
    from movierec.cli.serve import build_server
    from movierec.config import load_settings

    return build_server(load_settings(DATABASE_URL="sqlite://"), options or {}).cfg


def gunicorn_config_namespace() -> dict:
    from movierec.cli.serve import config_path

    namespace: dict = {"__name__": "gunicorn_config"}
    exec(compile(config_path().read_text(), str(config_path()), "exec"), namespace)
    return namespace


def test_cores_follow_affinity_and_the_cgroup_quota(tmp_path: Path) -> None:
    available_cores = gunicorn_config_namespace()["available_cores"]
    affinity = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    assert available_cores(tmp_path / "absent") == affinity
    cpu_max.write_text("max 100000\n")
    assert available_cores(cpu_max) == affinity
    cpu_max.write_text("50000 100000\n")  # half a core: still one worker's worth
    assert available_cores(cpu_max) == 1
    cpu_max.write_text(f"{(affinity + 3) * 100000} 100000\n")  # quota above the mask
    assert available_cores(cpu_max) == affinity


def test_packaged_gunicorn_config_defaults(clean_gunicorn_env: pytest.MonkeyPatch) -> None:
    cfg = server_config()
    assert cfg.worker_class_str == "gthread" and cfg.threads == 2
    assert cfg.workers == gunicorn_config_namespace()["available_cores"]() + 1
    assert cfg.preload_app is False
    assert cfg.accesslog == "-"
    assert cfg.timeout > 0 and cfg.graceful_timeout > 0
    assert cfg.bind == ["0.0.0.0:8000"]
    assert callable(cfg.post_fork) and callable(cfg.worker_exit)


def test_worker_count_precedence(clean_gunicorn_env: pytest.MonkeyPatch) -> None:
    clean_gunicorn_env.setenv("WEB_CONCURRENCY", "3")
    assert server_config().workers == 3
    clean_gunicorn_env.setenv("GUNICORN_CMD_ARGS", "--workers 5 --threads 7")
    cfg = server_config()
    assert (cfg.workers, cfg.threads) == (5, 7)
    cfg = server_config({"workers": 2, "bind": ["127.0.0.1:9999"]})
    assert (cfg.workers, cfg.threads, cfg.bind) == (2, 7, ["127.0.0.1:9999"])


def test_serve_help_and_one_line_setting_errors(clean_gunicorn_env: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["serve", "--help"])
    assert result.exit_code == 0 and "--workers" in result.output and "--bind" in result.output
    result = runner.invoke(main, ["serve"], env={"WEB_CONCURRENCY": "lots"})
    assert result.exit_code == 2
    assert "WEB_CONCURRENCY" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["serve", "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output


def test_post_fork_leaves_a_worker_one_blas_thread_when_numpy_comes_later() -> None:
    """A worker without --preload imports numpy when it loads the app, after post_fork (a
    fresh interpreter here: numpy not imported yet); and one with --preload had it before."""
    import subprocess
    import sys

    script = """
import sys
from types import SimpleNamespace
from movierec.cli.serve import config_path
namespace = {"__name__": "gunicorn_config"}
exec(compile(config_path().read_text(), str(config_path()), "exec"), namespace)
preload = sys.argv[1] == "preload"
if preload:
    import numpy
assert ("numpy" in sys.modules) == preload
namespace["post_fork"](SimpleNamespace(app=SimpleNamespace()), SimpleNamespace())
import numpy, scipy.linalg
from threadpoolctl import threadpool_info
print(sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}))
"""
    for mode in ("lazy", "preload"):
        env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
        result = subprocess.run(
            [sys.executable, "-c", script, mode], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[1]", (mode, result.stdout)


def test_a_loaded_worker_freezes_what_it_imported_out_of_the_collectors_way() -> None:
    """After the app is loaded (post_worker_init), the objects of its modules are frozen: the
    garbage collector's full passes then skip them (they took ~80 ms each under load)."""
    import subprocess
    import sys

    script = """
import gc
from movierec.app import create_app
from movierec.cli.serve import config_path
from movierec.config import load_settings
namespace = {"__name__": "gunicorn_config"}
exec(compile(config_path().read_text(), str(config_path()), "exec"), namespace)
app = create_app(load_settings(DATABASE_URL="sqlite://"))
module_function = create_app
assert gc.get_freeze_count() == 0
namespace["post_worker_init"](None)
print(gc.get_freeze_count(), module_function in gc.get_objects(generation=2))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    frozen, still_collected = result.stdout.split()
    assert int(frozen) > 100_000 and still_collected == "False", result.stdout


def test_post_fork_releases_a_preloaded_apps_connections(
    settings: Settings, clean_gunicorn_env: pytest.MonkeyPatch
) -> None:
    """With --preload the arbiter builds the app; a worker must not reuse its pools."""
    from types import SimpleNamespace

    from sqlalchemy import text

    from movierec.cli.serve import build_server

    server = build_server(settings, {"preload_app": True})
    app = server.wsgi()
    database, cache = app.extensions["movierec.db"], app.extensions["movierec.cache"]
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    cache.ping()
    inherited_pool = database.engine.pool
    assert inherited_pool.checkedin() == 1 and cache._client is not None

    server.cfg.post_fork(SimpleNamespace(app=server), SimpleNamespace())

    assert database.engine.pool is not inherited_pool and database.engine.pool.checkedin() == 0
    assert cache._client is None
    with database.engine.connect() as connection:  # and the worker opens its own
        assert connection.execute(text("SELECT 1")).scalar() == 1
    assert cache.ping()
    server.cfg.worker_exit(SimpleNamespace(app=server), SimpleNamespace(wsgi=app))
    assert cache._client is None


def test_serve_module_imports_on_its_own() -> None:
    """`python -c 'from movierec.cli.serve import config_path'` (docs/deploy.md) in a fresh
    interpreter: movierec.cli imports this module too, which must not make a cycle."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "from movierec.cli.serve import config_path; print(config_path())"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_file()
