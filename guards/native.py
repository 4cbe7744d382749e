"""Whether the compiled modules are the build of their sources.

The hot modules (``setup.py``'s ``COMPILED``) are compiled to C with mypyc when the
package is built; Python imports a compiled module in preference to its ``.py``. A
source edited after the build would then be ignored without a word, so the build
notes the SHA-256 of each compiled source and of every other module of :mod:`guards`
(which the compiled code is typed against) in ``guards/native-build.json``, and
importing :mod:`guards` refuses the build where any of them no longer has it
(:func:`refuse_stale`). Without that file (a pure-Python install) there is nothing
to check.

The Makefile's ``native`` target compiles again where ``import guards`` fails or
there is no build.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from guards.exceptions import StaleBuild

#: the build's note of each compiled source's digest, by path from the project's root
MANIFEST = Path(__file__).with_name("native-build.json")


def stale_sources(manifest: Path = MANIFEST) -> list[str]:
    """The compiled sources changed since the build, by path from the project's root;
    none without a build (no manifest) and none whose source is not installed.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / 'guards').mkdir()
    >>> _ = (root / 'guards' / 'a.py').write_text('x = 1\\n')
    >>> note = root / 'guards' / 'native-build.json'
    >>> stale_sources(note)
    []
    >>> _ = note.write_text(json.dumps({'guards/a.py': hashlib.sha256(b'x = 1\\n').hexdigest(), 'guards/b.py': '0'}))
    >>> stale_sources(note)
    []
    >>> _ = (root / 'guards' / 'a.py').write_text('x = 2\\n')
    >>> stale_sources(note)
    ['guards/a.py']
    """
    try:
        digests = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    root = manifest.parent.parent
    stale = []
    for path, digest in digests.items():
        try:
            source = (root / path).read_bytes()
        except FileNotFoundError:  # an installation that keeps only the compiled module
            continue
        if hashlib.sha256(source).hexdigest() != digest:
            stale.append(path)
    return stale


def refuse_stale(manifest: Path = MANIFEST) -> None:
    """Raise :class:`StaleBuild`, saying how to fix it, where a compiled source changed.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / 'guards').mkdir()
    >>> _ = (root / 'guards' / 'native-build.json').write_text('{"guards/check.py": "0"}')
    >>> _ = (root / 'guards' / 'check.py').write_text('')
    >>> refuse_stale(root / 'guards' / 'native-build.json')
    Traceback (most recent call last):
    ...
    guards.exceptions.StaleBuild: guards/check.py changed since the build compiled it: run `make native` to compile again, or `make pure` to run the Python sources
    """
    stale = stale_sources(manifest)
    if stale:
        raise StaleBuild(f"{', '.join(stale)} changed since the build compiled it: run `make native` to "
                         "compile again, or `make pure` to run the Python sources")

