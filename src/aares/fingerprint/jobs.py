"""Fingerprint jobs: the ``aares run-all`` step (index the course songs, identify excerpts)."""

from __future__ import annotations

from pathlib import Path

from aares.console import console
from aares.fingerprint.catalog import Catalog, audio_files

__all__ = ["run_all_step"]


def run_all_step(data_dir: Path, out_dir: Path) -> None:
    """Main job: index the course songs and identify a few excerpts of them (< 1 min)."""
    import numpy as np
    import soundfile as sf

    from aares.fingerprint.audio import load_audio
    from aares.io import write_json

    songs_dir = Path(data_dir) / "songs"
    files = audio_files([songs_dir]) if songs_dir.is_dir() else []
    if not files:
        console.print(f"[yellow]skipped:[/] no songs in {songs_dir}")
        return
    out = Path(out_dir) / "fingerprint"
    out.mkdir(parents=True, exist_ok=True)
    with Catalog(out / "songs.fp.db", profile="default") as cat:
        report = cat.add(files, jobs=1)
        console.print(
            f"indexed {len(report.added)} songs ({len(report.skipped)} already there) into "
            f"{out / 'songs.fp.db'}"
        )
        rng = np.random.default_rng(0)
        rows = []
        for f in files[:3]:
            x, sr = load_audio(f, sr=22050)
            start = float(rng.uniform(0, max(0.0, x.size / sr - 10)))
            clip = x[int(start * sr) : int((start + 10) * sr)]
            path = out / f"excerpt_{f.stem[:40]}.wav"
            sf.write(path, clip, sr)
            matches = cat.identify(path)
            best = matches[0].to_dict() if matches else None
            rows.append({"excerpt": path.name, "true_offset": round(start, 2), "best": best})
            found = f"{best['title']} at {best['offset']:.2f} s" if best else "no match"
            console.print(f"{path.name}: cut at {start:.2f} s -> {found}")
        write_json(out / "identify.json", rows)
