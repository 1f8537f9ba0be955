"""``aares serve``: run the web service and page under uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from aares.console import console


def serve(
    db: str = typer.Option(
        ..., "--db", help="The fingerprint catalog (aares fp index): a file or postgresql://..."
    ),
    data: Path = typer.Option(
        None,
        "--data",
        envvar="AARES_DATA",
        help="Data folder with the Spotify files (genre sets, links, playlists).",
    ),
    genre_model: Path = typer.Option(
        None,
        "--genre-model",
        help="Genre model file with its calibration; without it, one is fitted at start-up.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback default)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    token: str = typer.Option(
        None, "--token", envvar="AARES_TOKEN", help="Bearer token that allows adding/removing."
    ),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", min=0.01, help="Upload limit."),
    workers: int = typer.Option(2, "--workers", min=1, help="Identification processes."),
    genre_fit: str = typer.Option(
        "lightgbm",
        "--genre-fit",
        help="Genre model fitted at start-up when no --genre-model is given (aares genre "
        "models; logreg is quicker).",
    ),
    genre_sample: int = typer.Option(
        None, "--genre-sample", min=100, help="Fit it on this many training songs (all)."
    ),
    cache: Path = typer.Option(
        None, "--cache", help="Folder for the parsed Spotify catalogue (Parquet)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
) -> None:
    """Serve the page and the API: identify a recording, then its genre set and a playlist.

    Example: aares serve --db out/fingerprint/songs.fp.db --data data --port 8000
    """
    import logging

    import uvicorn

    from aares.service.app import ServiceSettings, create_app

    if data is not None and not data.is_dir():
        console.print(f"[red]error:[/] data folder {data} not found (--data or AARES_DATA)")
        raise typer.Exit(2)
    settings = ServiceSettings(
        db=db,
        data=data,
        genre_model=genre_model,
        token=token or None,
        max_upload_mb=max_upload_mb,
        workers=workers,
        genre_fit=genre_fit,
        genre_sample=genre_sample,
        cache=cache,
    )
    try:
        app = create_app(settings)  # (checks the settings: a missing catalog, first)
        _index_in_step(db)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    console.print(f"aares serve: http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def _index_in_step(db: str) -> None:
    # The catalog's query index brought in step here, with a progress bar, before the
    # service starts: its workers would otherwise rebuild a lagging index (songs added by
    # another process, an index of an older format) at start-up with nothing on the screen.
    # (a StoreError is a ValueError: the caller's one line)
    from aares.console import progress_steps
    from aares.fingerprint.catalog import Catalog

    with Catalog(db, create=False) as cat, progress_steps() as step:
        if not cat.store.readonly:  # (read-only media: nothing can be written in step)
            cat.open_index(on_progress=step)
