"""The Feature visualization part of the demo: the demo CNN's conv2 and conv3 units, rendered at a few
points of its training by ``FeatureVisCallback`` (about 30 s in all on 2 CPU cores).

    callbacks=[..., *featvis_demo.callbacks(run, x_val)]
"""


def callbacks(run, x_val, epochs=8):
    """The callbacks to add to the demo CNN's ``fit``: renders at the start, halfway and at the end."""
    import tb_nnvis

    return [tb_nnvis.keras.FeatureVisCallback(
        run, layers=["conv2", "conv3"], every_n_epochs=max(1, epochs // 2), steps=128, data=x_val,
        diversity=3, diversity_units=4)]


def write_logs(logdir, epochs=8, n=3000, seed=0):
    """Train the demo CNN with only the Feature visualization and Activations callbacks (for screenshots)."""
    import os

    import keras

    import tb_nnvis
    from demo.shapes import compiled_demo_cnn, make_images

    keras.utils.set_random_seed(seed)
    x, y = make_images(n, seed=seed)
    x_val, _ = make_images(400, seed=seed + 1)
    run = os.path.join(logdir, "demo_cnn")
    model = compiled_demo_cnn()
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=2, callbacks=[
        *callbacks(run, x_val, epochs),
        tb_nnvis.keras.ActivationsCallback(run, probes=x_val[:5], layers=["conv2", "conv3"], examples=x_val, top_k=9),
    ])
    return model


if __name__ == "__main__":
    import os
    import sys
    import time

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    started = time.time()
    write_logs(sys.argv[1] if len(sys.argv) > 1 else "logs")
    print(f"featvis demo: {time.time() - started:.1f} s")
