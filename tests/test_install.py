"""A plain, non-editable ``pip install .`` ships every frontend file and the plugin entry points."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_plain_install_serves_every_frontend_file(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                    "--target", str(target), ROOT], check=True, cwd=str(tmp_path))
    sources = sorted(os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "frontend"))
                     for d, _, files in os.walk(os.path.join(ROOT, "frontend")) for f in files)
    assert "shared/api.js" in sources and "activations/index.js" in sources
    # Import the installed copy (not the checkout) and serve each file through the plugin's own code.
    script = (
        "import sys, json; from tb_nnvis.plugins import _server; root = _server.frontend_root();"
        "assert root.startswith(sys.argv[1]), root;"
        "print(json.dumps({p: len(_server.static_file(p)[0]) for p in sys.argv[2:]}))")
    out = subprocess.run([sys.executable, "-c", script, str(target), *sources], check=True, capture_output=True,
                         text=True, cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(target)}).stdout
    served = eval(out)  # noqa: S307 - our own JSON
    for path in sources:
        assert served[path] == os.path.getsize(os.path.join(ROOT, "frontend", path)), path
    entry_points = next(target.glob("tb_nnvis-*.dist-info")) / "entry_points.txt"
    assert "nnvis_activations = tb_nnvis.plugins.loader:ActivationsLoader" in entry_points.read_text()
