"""Read character vectors from an installed R package's lazy-load data (``data/Rdata.rdb``).

An R package installed from Debian stores its data sets as a lazy-load database: the index
``Rdata.rdx`` (a gzip-compressed serialized R list: each object's offset and length, with
their names) and ``Rdata.rdb`` (each object zlib-compressed after a 4-byte length). Both
use R's XDR serialization format (R Internals, "Serialization Formats"). This reader covers
what text data sets need: lists, integer and character vectors, attributes and symbols;
anything else raises a ValueError that names the R type.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

_NIL, _SYMBOL, _PAIRLIST, _CHAR, _LOGICAL, _INTEGER, _STRING, _LIST = 254, 1, 2, 9, 10, 13, 16, 19
_REFERENCE = 255
_HAS_ATTRIBUTES, _HAS_TAG = 1 << 9, 1 << 10


class _Reader:
    def __init__(self, data: bytes) -> None:
        if data[:2] != b"X\n":
            raise ValueError("Not an R serialization in XDR format (it should start with 'X\\n').")
        self.data, self.position, self.symbols = data, 2, []
        version = self.integer()
        self.integer(), self.integer()  # the writer's and the minimal reader's R versions
        if version == 3:
            encoding_length = self.integer()  # then the native encoding's name
            self.position += encoding_length

    def integer(self) -> int:
        (value,) = struct.unpack_from(">i", self.data, self.position)
        self.position += 4
        return value

    def item(self) -> object:
        flags = self.integer()
        kind = flags & 0xFF
        if kind == _NIL:
            return None
        if kind == _REFERENCE:
            return self.symbols[(flags >> 8) - 1]
        if kind == _SYMBOL:
            self.symbols.append(self.item())
            return self.symbols[-1]
        if kind == _PAIRLIST:
            attributes = self.item() if flags & _HAS_ATTRIBUTES else None
            del attributes
            tag = self.item() if flags & _HAS_TAG else None
            value = self.item()
            rest = self.item()
            return [(tag, value)] + (rest or [])
        if kind == _CHAR:
            length = self.integer()
            if length < 0:
                return None  # NA_character_
            text = self.data[self.position : self.position + length].decode("utf-8")
            self.position += length
            return text
        if kind in (_LOGICAL, _INTEGER, _STRING, _LIST):
            length = self.integer()
            if kind in (_LOGICAL, _INTEGER):
                value = list(struct.unpack_from(f">{length}i", self.data, self.position))
                self.position += 4 * length
            else:
                value = [self.item() for _ in range(length)]
            if flags & _HAS_ATTRIBUTES:
                names = dict(self.item()).get("names")
                if names is not None:
                    return dict(zip(names, value, strict=True))
            return value
        raise ValueError(f"R type {kind} is not supported by this reader (only text data sets).")


def unserialize(data: bytes) -> object:
    """One R object from its XDR serialization: a list, int list, str list or a dict if named."""
    return _Reader(data).item()


def read_lazy_load_data(folder: Path) -> dict[str, object]:
    """Every object of ``folder/Rdata.rdx`` + ``Rdata.rdb``, by name (e.g. ``{"emma": [...]}``)."""
    index = unserialize(gzip.decompress((folder / "Rdata.rdx").read_bytes()))
    if not isinstance(index, dict) or "variables" not in index:
        raise ValueError(f"{folder / 'Rdata.rdx'} is not an R lazy-load index.")
    database = (folder / "Rdata.rdb").read_bytes()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        compressed = database[offset + 4 : offset + length]  # after the 4-byte length
        objects[name] = unserialize(zlib.decompress(compressed))
    return objects
