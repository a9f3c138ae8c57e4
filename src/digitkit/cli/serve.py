"""``digitkit serve``: the web app (drawing page + REST API) on uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

# The command's options, declared once here so the command's signature stays one line each.
_HostOption = typer.Option(
    "127.0.0.1",
    help="Address to bind; 127.0.0.1 keeps the app "
    "private to this machine, 0.0.0.0 exposes it to the network.",
)
_PortOption = typer.Option(8000, min=1, max=65535, help="TCP port.")
_ModelOption = typer.Option(
    None,
    "--model",
    "-m",
    help="Default model: a name "
    "from `digitkit predict --help`, a run directory or "
    "an ensemble file (default: the shipped model).",
)
_WorkersOption = typer.Option(2, min=1, max=64, help="Inference threads.")
_TorchThreadsOption = typer.Option(
    1,
    min=1,
    max=64,
    help="Torch threads per "
    "inference thread (1 suits small models: requests "
    "already run in parallel).",
)
_ProcessesOption = typer.Option(
    1,
    min=1,
    max=64,
    help="Server processes (each loads "
    "the model; >1 uses more cores for preprocessing). "
    "Runs uvicorn --workers N on the app factory "
    "digitkit.serve.app:app_from_env.",
)
_AllowedHostOption = typer.Option(
    [],
    "--allowed-host",
    help="Another Host name "
    "clients use (repeatable). Always allowed: "
    "localhost, 127.0.0.1, ::1 and --host.",
)
_LogLevelOption = typer.Option(
    "info", "--log-level", help="critical, error, warning, info or debug."
)
_AccessLogOption = typer.Option(
    True,
    "--access-log/--no-access-log",
    help="One log line per request (with its X-Request-ID).",
)
_JsonLogsOption = typer.Option(
    False, "--json-logs", help="Log one JSON object per line (for a log collector)."
)


def serve(
    host: str = _HostOption,
    port: int = _PortOption,
    model: str | None = _ModelOption,
    workers: int = _WorkersOption,
    torch_threads: int = _TorchThreadsOption,
    processes: int = _ProcessesOption,
    allowed_host: list[str] = _AllowedHostOption,
    log_level: str = _LogLevelOption,
    access_log: bool = _AccessLogOption,
    json_logs: bool = _JsonLogsOption,
) -> None:
    """Start the web app: open the printed address, draw a digit, see it recognized.

    The REST API is documented at /docs (POST /api/predict, /api/predict/number,
    GET /api/models, /healthz, /readyz, /metrics for Prometheus). Running it for other
    people (timeouts, Host names, logs, systemd): docs/serving.md.

    Examples:

      digitkit serve

      digitkit serve --port 8080 --model default

      digitkit serve --host 0.0.0.0 --allowed-host digits.example.org --json-logs
    """
    from digitkit.errors import DigitkitError
    from digitkit.serve.app import limit_torch_threads
    from digitkit.serve.logs import LOG_LEVELS
    from digitkit.serve.security import allowed_host_names

    if log_level.lower() not in LOG_LEVELS:
        raise DigitkitError(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
    limit_torch_threads(torch_threads)
    loader = _preloading_loader(model)
    hosts = allowed_host_names(host, allowed_host)
    _announce(host, port, model, allowed_host)
    options = _uvicorn_options(host, port, log_level, json_logs, access_log)
    if processes > 1:
        _run_processes(processes, model, workers, torch_threads, hosts, access_log, options)
    else:
        _run_one_process(loader, model, workers, hosts, access_log, options)


def _preloading_loader(model: str | None) -> Callable[[str | None], Any]:
    """The server's model loader, with ``model`` loaded already.

    Loading before binding makes a bad --model one clear error instead of a server that
    answers 503 forever. The operator may name a path; clients only ever get to pick from
    available_models().
    """
    from digitkit.vision.recognize import Recognizer

    preloaded = {model: Recognizer.load(model=model)}

    def loader(name: str | None):
        # The preloaded model serves the first load only: when its files change the
        # model cache calls again, and that must read the new weights.
        return preloaded.pop(name, None) or Recognizer.load(model=name)

    return loader


def _announce(host: str, port: int, model: str | None, allowed_host: list[str]) -> None:
    """Print the address, and a note when a wildcard bind would still answer localhost only."""
    from digitkit.serve.security import WILDCARD_ADDRESSES

    typer.echo(
        f"digitkit web app: http://{host}:{port}/  (model: {model or 'default'}; "
        f"API docs at /docs; Ctrl+C to stop)"
    )
    if host.strip("[]") in WILDCARD_ADDRESSES and not allowed_host:
        typer.echo(
            "note: only requests for localhost are answered; add --allowed-host "
            "NAME for the names or addresses other machines use",
            err=True,
        )


def _uvicorn_options(
    host: str, port: int, log_level: str, json_logs: bool, access_log: bool
) -> dict[str, Any]:
    """uvicorn's options common to one and several processes."""
    from digitkit.serve.logs import log_config
    from digitkit.serve.server import ServerSettings

    return dict(
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=log_config(log_level, json_logs, access_log),
        access_log=False,  # RequestContext writes it, with the request id
        **ServerSettings().uvicorn_options(),
    )


def _run_processes(
    processes: int,
    model: str | None,
    workers: int,
    torch_threads: int,
    hosts: frozenset[str],
    access_log: bool,
    options: dict[str, Any],
) -> None:
    """Several server processes: uvicorn can only name the app factory, so the options
    travel in the ``DIGITKIT_SERVE_*`` environment variables."""
    import os

    import uvicorn

    from digitkit.serve import app as serve_app

    os.environ[serve_app.ENV_MODEL] = model or ""
    os.environ[serve_app.ENV_WORKERS] = str(workers)
    os.environ[serve_app.ENV_TORCH_THREADS] = str(torch_threads)
    os.environ[serve_app.ENV_ALLOWED_HOSTS] = ",".join(sorted(hosts))
    os.environ[serve_app.ENV_ACCESS_LOG] = "1" if access_log else "0"
    uvicorn.run("digitkit.serve.app:app_from_env", factory=True, workers=processes, **options)


def _run_one_process(
    loader: Callable[[str | None], Any],
    model: str | None,
    workers: int,
    hosts: frozenset[str],
    access_log: bool,
    options: dict[str, Any],
) -> None:
    """One server process running the app with the preloaded model."""
    import uvicorn

    from digitkit.serve.app import Limits, create_app

    web = create_app(
        loader,
        default_model=model,
        limits=Limits(workers=workers),
        allowed_hosts=hosts,
        access_log=access_log,
    )
    uvicorn.run(web, **options)


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the CLI."""
    app.command("serve")(serve)
