"""``TracedLater``: a process that exits while a pass is still being traced in the background ends cleanly."""
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import numpy as np, keras
    from tb_nnvis.core.compiled import TracedLater

    layers = [keras.Input((32, 32, 3))]
    for i in range(40):  # tracing takes a second or more: still running when the script ends
        layers.append(keras.layers.Conv2D(8, 3, padding="same", activation="relu"))
    model = keras.Sequential(layers + [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    traced = TracedLater(lambda x: model(x, training=False))
    x = np.zeros((2, 32, 32, 3), np.float32)
    traced(x)
    traced(x)  # the second call starts the tracing thread
    print("tracing" if not traced._ready.is_set() else "traced", flush=True)
""")


def test_exit_waits_for_a_trace_in_flight(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip() == "tracing"  # the exit came while the thread was tracing
    assert "exception not rethrown" not in proc.stderr
