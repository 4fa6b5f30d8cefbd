"""Headless rendering: check the system GL libraries and make fast offscreen renderers.

MuJoCo renders offscreen through EGL (default) or OSMesa. Both are system libraries pip cannot install, so a
missing one is reported in one line naming the Debian package, at start-up rather than as a traceback from deep
inside PyOpenGL.
"""

from __future__ import annotations

import atexit
import ctypes.util
import os
import weakref

from vla_flywheel.errors import SystemLibraryError

# MUJOCO_GL value -> (shared library to find, Debian packages that provide it)
_GL_LIBRARIES = {
    "egl": ("EGL", "libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1"),
    "osmesa": ("OSMesa", "libosmesa6"),
}


def check_rendering_libraries() -> None:
    """Raise SystemLibraryError naming the missing package when the chosen GL backend cannot load."""
    backend = os.environ.get("MUJOCO_GL", "egl").lower()
    if backend not in _GL_LIBRARIES:
        return  # glfw or another backend the user chose on purpose: MuJoCo will report its own problems
    lib, packages = _GL_LIBRARIES[backend]
    name = ctypes.util.find_library(lib)
    try:
        if name is None:
            raise OSError(f"lib{lib} not found")
        ctypes.CDLL(name)
    except OSError as e:
        raise SystemLibraryError(
            f"headless rendering (MUJOCO_GL={backend}) needs lib{lib}, which could not be loaded ({e}); "
            f"install it with: apt-get install -y {packages}"
        ) from None


def make_renderer(model, size: int):
    """A `mujoco.Renderer` of size x size pixels with shadows and reflections off (7x faster at 64 px)."""
    import mujoco

    check_rendering_libraries()
    try:
        renderer = mujoco.Renderer(model, height=size, width=size)
    except Exception as e:  # the GL context could not be created
        backend = os.environ.get("MUJOCO_GL", "egl")
        packages = _GL_LIBRARIES.get(backend, ("", "libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1"))[1]
        raise SystemLibraryError(
            f"could not create a {backend} rendering context ({type(e).__name__}: {e}); "
            f"install the GL libraries with: apt-get install -y {packages}, or set MUJOCO_GL=osmesa"
        ) from None
    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
    if not _live_renderers:
        # Registered after MuJoCo's own GL atexit hook, so it runs before that hook tears the display down.
        atexit.register(_close_renderers)
    _live_renderers.add(renderer)
    return renderer


# GL contexts freed by the garbage collector during interpreter shutdown print EGL tracebacks; close them first.
_live_renderers: weakref.WeakSet = weakref.WeakSet()


def _close_renderers() -> None:
    for renderer in list(_live_renderers):
        renderer.close()
    _live_renderers.clear()
