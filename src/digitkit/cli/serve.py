"""``digitkit serve``: the web app (drawing page + REST API) on uvicorn."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the CLI."""

    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to bind; 127.0.0.1 keeps the app "
                                 "private to this machine, 0.0.0.0 exposes it to the network."),
        port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
        model: str | None = typer.Option(None, "--model", "-m", help="Default model: a name "
                                         "from `digitkit predict --help`, a run directory or "
                                         "an ensemble file (default: the shipped model)."),
        workers: int = typer.Option(2, min=1, max=64, help="Inference threads."),
        torch_threads: int = typer.Option(1, min=1, max=64, help="Torch threads per "
                                          "inference thread (1 suits small models: requests "
                                          "already run in parallel)."),
        processes: int = typer.Option(1, min=1, max=64, help="Server processes (each loads "
                                      "the model; >1 uses more cores for preprocessing)."),
    ) -> None:
        """Start the web app: open the printed address, draw a digit, see it recognized.

        The REST API is documented at /docs (POST /api/predict, /api/predict/number,
        GET /api/models, /healthz, /readyz).

        Examples:

          digitkit serve

          digitkit serve --port 8080 --model default
        """
        import uvicorn

        from digitkit.recognize import Recognizer
        from digitkit.serve.app import Limits, create_app, limit_torch_threads

        limit_torch_threads(torch_threads)
        # Load before binding, so a bad --model is one clear error instead of a server that
        # answers 503 forever. The operator may name a path; clients only ever get to pick
        # from available_models().
        default = Recognizer.load(model=model)

        def loader(name: str | None):
            return default if name == model else Recognizer.load(model=name)

        typer.echo(f"digitkit web app: http://{host}:{port}/  (model: {model or 'default'}; "
                   f"API docs at /docs; Ctrl+C to stop)")
        if processes > 1:
            import os

            from digitkit.serve import app as serve_app

            os.environ[serve_app.ENV_MODEL] = model or ""
            os.environ[serve_app.ENV_WORKERS] = str(workers)
            os.environ[serve_app.ENV_TORCH_THREADS] = str(torch_threads)
            uvicorn.run("digitkit.serve.app:app_from_env", factory=True, host=host, port=port,
                        workers=processes, log_level="warning")
            return
        web = create_app(loader, default_model=model, limits=Limits(workers=workers))
        uvicorn.run(web, host=host, port=port, log_level="warning")
