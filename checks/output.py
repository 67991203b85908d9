"""The report folder: written whole or not at all, and never a file the tool did not write.

A report folder carries a manifest, ``manifest.json``, listing every file the report command wrote
there with its SHA-256, plus each claim's provenance. The rules, all enforced by
:meth:`ReportFolder.prepare` *before* any check runs:

- a missing folder is created (its parents too);
- an existing folder is accepted when it is empty, or when it holds our manifest and every listed
  file still has the recorded content; files that are not listed (the user's) are left alone;
- an existing *file* at that path, a non-empty folder without our manifest, a listed file whose
  content changed since we wrote it (the user edited it), and a folder we cannot write to are
  refused with :class:`OutputError` (the command line turns it into exit status 2).

:meth:`ReportFolder.install` moves a finished report from a staging folder into place: each new
file replaces its old version by ``os.replace`` (atomic per file), listed files that the new report
no longer has are removed, and the manifest is rewritten. SIGINT is blocked during these few
renames, so an interrupt either happens before them (the old report stays whole) or after.
A staging folder lives beside the target, on the same file system, and is removed on any error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
# Written into the manifest so that a foreign file named manifest.json is not mistaken for ours.
MANIFEST_TOOL = "sgm-manifolds report"
MANIFEST_VERSION = 1


class OutputError(Exception):
    """The output folder cannot be used; the message says why and what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """Our manifest in ``folder``, or None if there is none (or it is not ours)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("tool") != MANIFEST_TOOL or not isinstance(data.get("files"), dict):
        return None
    return data


@dataclass
class ReportFolder:
    """A validated output folder (see the module docstring).

    path : the folder. manifest : the manifest found there (None for a new or empty folder).
    """

    path: Path
    manifest: dict[str, Any] | None = None
    _created: list[Path] = field(default_factory=list, repr=False)

    @classmethod
    def prepare(cls, path: str | os.PathLike) -> ReportFolder:
        """Check that the report may be written to ``path``; create the folder if missing.

        Raises OutputError (nothing changed on disk) when the path is refused.
        """
        target = Path(path).expanduser()
        if target.exists() and not target.is_dir():
            raise OutputError(f"--out {path}: is an existing file, not a folder; the report needs a folder "
                              f"(choose another path)")
        created: list[Path] = []
        if not target.exists():
            missing = [target, *[p for p in target.parents if not p.exists()]]
            try:
                target.mkdir(parents=True)
            except OSError as exc:
                raise OutputError(f"--out {path}: cannot create the folder ({exc.strerror or exc})") from exc
            created = [p for p in missing if p.exists()]
        folder = cls(target, None, created)
        try:
            folder._check_contents(str(path))
            folder._check_writable(str(path))
        except OutputError:
            folder.discard_created()
            raise
        return folder

    def _check_contents(self, shown: str) -> None:
        try:
            entries = sorted(p.name for p in self.path.iterdir())
        except OSError as exc:
            raise OutputError(f"--out {shown}: cannot list the folder ({exc.strerror or exc})") from exc
        if not entries:
            return
        manifest = read_manifest(self.path)
        if manifest is None:
            listing = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise OutputError(f"--out {shown}: the folder is not empty and holds no report manifest ({MANIFEST}); "
                              f"it has {len(entries)} entries ({listing}). Refusing to write there: choose an "
                              f"empty or new folder")
        changed = [name for name, digest in manifest["files"].items()
                   if (self.path / name).is_file() and _sha256(self.path / name) != digest]
        if changed:
            raise OutputError(f"--out {shown}: {len(changed)} report file(s) changed since the report command "
                              f"wrote them ({', '.join(sorted(changed)[:5])}); move them away first, the report "
                              f"would overwrite them")
        self.manifest = manifest

    def _check_writable(self, shown: str) -> None:
        try:
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=self.path)
        except OSError as exc:
            raise OutputError(f"--out {shown}: the folder is not writable ({exc.strerror or exc})") from exc
        os.close(fd)
        os.unlink(probe)

    def discard_created(self) -> None:
        """Remove the folders :meth:`prepare` created, if they are still empty (a run that wrote nothing)."""
        for folder in self._created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._created = []

    def kept_claims(self, rerun) -> dict[str, dict[str, Any]]:
        """The claims of the existing report that a partial run keeps, by id.

        Every claim listed in the manifest that is not in ``rerun`` and whose JSON record
        (``<id>.json``) is intact: {"record": the record, "files": its file names, "provenance":
        seed, budget, commit and date of the run that wrote it}.
        """
        kept = {}
        for cid, entry in (self.manifest or {}).get("claims", {}).items():
            if cid in rerun or not isinstance(entry, dict):
                continue
            record_name = f"{cid}.json"
            if record_name not in self.manifest["files"] or not (self.path / record_name).is_file():
                continue
            try:
                record = json.loads((self.path / record_name).read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            kept[cid] = {"record": record, "files": list(entry.get("files", [])),
                         "provenance": dict(entry.get("provenance", {}))}
        return kept

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh staging folder beside the target; removed when the block ends, whatever happens."""
        stage = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.staging-", dir=self.path.parent))
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def install(self, stage: Path, written: Sequence[str], *, keep: Sequence[str] = (),
                claims: Mapping[str, Any] | None = None) -> list[str]:
        """Move the files ``written`` (names in ``stage``) into the folder and rewrite the manifest.

        keep : names of files listed in the old manifest that stay (another claim's pages in a
        partial run); every other file of the old manifest that is not rewritten is removed.
        claims : per-claim records stored in the manifest. Returns the names now listed.
        """
        old = dict(self.manifest["files"]) if self.manifest else {}
        new = {name: _sha256(stage / name) for name in written}
        for name in keep:
            if name in old and name not in new and (self.path / name).is_file():
                new[name] = old[name]
        obsolete = [name for name in old if name not in new]
        manifest = {"tool": MANIFEST_TOOL, "version": MANIFEST_VERSION, "files": dict(sorted(new.items())),
                    "claims": dict(sorted((claims or {}).items()))}
        with _signals_blocked():
            for name in written:
                os.replace(stage / name, self.path / name)
            for name in obsolete:
                with contextlib.suppress(FileNotFoundError):
                    (self.path / name).unlink()
            tmp = self.path / f".{MANIFEST}.tmp"
            tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False) + "\n")
            os.replace(tmp, self.path / MANIFEST)
        self.manifest = manifest
        self._created = []
        return sorted(new)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Defer SIGINT and SIGTERM while the report's files are being renamed into place."""
    signals = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - platforms without pthread_sigmask
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
