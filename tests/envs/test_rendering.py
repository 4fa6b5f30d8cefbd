import ctypes.util

import pytest

from vla_flywheel.envs import rendering
from vla_flywheel.errors import SystemLibraryError


@pytest.mark.parametrize("backend, package", [("egl", "libegl1"), ("osmesa", "libosmesa6")])
def test_missing_gl_library_names_the_package_to_install(monkeypatch, backend, package):
    monkeypatch.setenv("MUJOCO_GL", backend)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(SystemLibraryError) as err:
        rendering.check_rendering_libraries()
    message = str(err.value)
    assert "\n" not in message and f"apt-get install -y {package}" in message and f"MUJOCO_GL={backend}" in message


def test_present_egl_passes_the_check(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    rendering.check_rendering_libraries()  # this machine renders (every env test does)
