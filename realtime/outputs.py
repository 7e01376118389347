"""Which files a run will write, checked before anything is opened for writing or the model loads.

The rules, for every file a run writes (the video, its .srt/.vtt, its .partial file, each PNG):
- it is never one of the inputs: compared by resolved path *and* by device + inode, so a hard link
  or a symlink to an input is caught too (even with --overwrite);
- it does not exist yet, unless --overwrite;
- no two inputs of a batch are written to one name (clip.avi and clip.mp4 both -> clip.mp4);
- its folder can be written to.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

from common.errors import UserError


def same_file(a: Path, b: Path) -> bool:
    """True when writing `a` would write `b`: the same resolved path, or the same file by inode."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return Path(a).exists() and Path(b).exists() and os.path.samefile(a, b)
    except OSError:
        return False


def batch_targets(inputs: Iterable[Path], folder: Path, suffix_for: Callable[[Path], str]) -> dict[Path, Path]:
    """input -> output file in `folder`: the input's name with `suffix_for(input)` as extension.

    When several inputs would get the same name, the one whose extension is already right keeps
    it and the others keep their own extension in the name: clip.mp4 -> clip.mp4,
    clip.avi -> clip.avi.mp4, clip.gif -> clip.gif.mp4."""
    wanted: dict[str, list[Path]] = defaultdict(list)
    for path in inputs:
        wanted[(path.stem + suffix_for(path)).lower()].append(path)
    targets = {}
    for group in wanted.values():
        keeper = next((p for p in group if p.suffix.lower() == suffix_for(p)), None) if len(group) > 1 else group[0]
        for path in group:
            name = path.stem if path is keeper else path.name
            targets[path] = Path(folder) / (name + suffix_for(path))
    return targets


def check_writes(outputs: Iterable[Path], inputs: Iterable[Path], overwrite: bool,
                 may_exist: Iterable[Path] = ()) -> None:
    """Raise a UserError before any work if writing `outputs` would break one of the rules above.

    may_exist: outputs that are rewritten all the time by design (the OBS caption file): only
    checked against the inputs."""
    inputs = [Path(p) for p in inputs]
    may_exist = [Path(p) for p in may_exist]
    seen: dict[Path, Path] = {}
    for output in [Path(p) for p in outputs] + may_exist:
        for source in inputs:
            if same_file(output, source):
                raise UserError(f"{output} is the input {source} (or a link to it): refusing to overwrite an "
                                "input; choose another output name or folder")
        key = output.resolve()
        if key in seen:
            raise UserError(f"two outputs would be written to {output}; rename one of the inputs")
        seen[key] = output
        if output.is_dir():
            raise UserError(f"{output} is a folder; give a file name")
        if output.exists() and not overwrite and output not in may_exist:
            raise UserError(f"{output} already exists; add --overwrite to replace it, or choose another name")
        _check_writable(output)


def _check_writable(path: Path) -> None:
    """The nearest existing folder above `path` must be a folder this user can write to."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: no permission to write in {folder}")
