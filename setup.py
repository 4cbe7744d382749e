"""The build: ``pyproject.toml`` says what the package is; this file compiles its hot modules.

The modules in :data:`COMPILED` (the per-record work of ``linkguard inspect`` and of the
stream's check) are compiled to C with mypyc when the package is built (``make install``:
gcc and the Python headers, about a minute). Their ``.py`` files stay the one source: they
are what runs where the build is turned off (``LINKGUARD_PURE_PYTHON=1``) or its modules
removed (``make pure``). Once the modules are built, the build notes the digest of each
source of guards beside them (``guards/native-build.json``), and importing :mod:`guards`
refuses the build where one has changed since (:mod:`guards.native`).
"""

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

#: compiled together into one shared library, so that they call each other directly
COMPILED = [
    "guards/japanese.py",
    "guards/normalize.py",
    "guards/number.py",
    "guards/check.py",
    "guards/context.py",
]
# streams/csvio.py compiles too, but reads no faster compiled (measured: its own code is 3 % of a
# registry read; the rest is the csv module, dicts and allocation), so it is left as Python

#: the shared library's name (``linkguard_native__mypyc.*.so``)
GROUP = "linkguard_native"
#: the packages whose compiled modules the build owns
PACKAGES = ("guards", "schemas", "streams", "sinks", "linkguard")


class BuildNative(build_ext):
    """``build_ext`` that notes the compiled sources' digests once the modules are built,
    where they were built (in place for ``pip install -e``, else in the wheel's tree).

    Where they cannot be built (no C compiler or Python headers), the package is installed
    with its Python sources, which give the same results, and a warning says how to compile.
    """

    def run(self) -> None:
        if not self.extensions:
            return super().run()
        built = Path(self.get_ext_fullpath("guards.check")).parent / "native-build.json"
        try:
            super().run()
        except (CCompilerError, CompileError, ExecError, LinkError, PlatformError) as error:
            self._remove_compiled(built.parent.parent, keep=set())
            built.unlink(missing_ok=True)
            print(f"warning: the hot modules were not compiled ({error}); linkguard runs their Python sources "
                  "(the same results, about 10 % slower). Install gcc and the Python headers (Debian: "
                  "build-essential python3-dev), then run `make native`.", file=sys.stderr)
            return
        # a module compiled by an earlier build and no longer listed would still be imported, unchecked
        self._remove_compiled(built.parent.parent, keep={
            Path(self.get_ext_fullpath(path[:-3].replace("/", "."))) for path in COMPILED})
        # the compiled code is typed against the rest of guards (model, exceptions …): any change there counts too
        sources = sorted({*COMPILED, *(path.as_posix() for path in Path("guards").glob("*.py"))})
        built.write_text(json.dumps(
            {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in sources}, indent=1) + "\n")

    def _remove_compiled(self, root: Path, keep: set[Path]) -> None:
        """Every compiled module of the packages under ``root`` but those to ``keep``
        (with none kept, the shared library too)."""
        for package in PACKAGES:
            for module in (root / package).rglob("*.so"):
                if module not in keep:
                    module.unlink()
        if not keep:
            for library in root.glob(f"{GROUP}__mypyc.*"):
                library.unlink()


def _compiled_extensions() -> list:
    if os.environ.get("LINKGUARD_PURE_PYTHON") == "1":
        return []
    from mypyc.build import mypycify

    return mypycify(COMPILED, opt_level="3", group_name=GROUP)


setup(ext_modules=_compiled_extensions(), cmdclass={"build_ext": BuildNative})
