"""Builds the inmem Python package: the C extension inmem._inmem, linked statically against the
inmem library of this source tree (build/libinmem.a, built with `make lib` when missing).

    pip install ./bindings/python          (in a venv, or with --break-system-packages)
    make python                            (builds into build/python, for the tests)

INMEM_BUILD=<dir> picks another library build directory (e.g. build-address for the ASan build);
INMEM_EXTRA_CFLAGS adds compiler flags (e.g. -Werror or sanitizer flags).
"""
import os
import shlex
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
os.chdir(HERE)
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, os.environ.get("INMEM_BUILD", "build"))
LIB = os.path.join(BUILD, "libinmem.a")

if not os.path.exists(LIB):
    # pip builds in place (pip >= 21.3), so the tree's Makefile is at hand
    subprocess.check_call(["make", "-C", ROOT, "lib"])


def header_version():
    with open(os.path.join(ROOT, "include", "inmem.h")) as f:
        for line in f:
            if line.startswith("#define INMEM_VERSION_STRING"):
                return line.split('"')[1]
    return "0.0.0"


extra = ["-std=c11", "-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes",
         "-Wmissing-prototypes", "-Wno-missing-field-initializers", "-fvisibility=hidden"]
extra += shlex.split(os.environ.get("INMEM_EXTRA_CFLAGS", ""))

setup(
    name="inmem",
    version=header_version(),
    description="Python binding of inmem, an embedded, in-memory, durable, transactional "
                "state store for AI agents",
    packages=["inmem"],
    package_data={"inmem": ["__init__.pyi", "py.typed"]},
    ext_modules=[
        Extension(
            "inmem._inmem",
            sources=[os.path.join("src", f) for f in
                     ("module.c", "database.c", "transaction.c", "ops.c", "pager.c",
                      "history.c")],
            depends=[os.path.join("src", "pyinmem.h"), os.path.join(ROOT, "include", "inmem.h"),
                     LIB],
            include_dirs=[os.path.join(ROOT, "include")],
            extra_objects=[LIB],
            libraries=["xxhash", "pthread"],
            extra_compile_args=extra,
            # the library's symbols stay inside the extension: only PyInit__inmem is exported
            extra_link_args=["-Wl,--exclude-libs,ALL"],
        )
    ],
    python_requires=">=3.9",
    zip_safe=False,
)
