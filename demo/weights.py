"""Parameters beside activity: the demo CNN trained twice, at a sensible and at a too-high learning rate, with
ActivationsCallback(weights=True, graph=True, projector=...): the unit panel shows each unit's filter beside
its map, the weight-dynamics panel flags the layers of the second run, and TensorBoard's own Graphs and
Projector tabs show the model and its feature space.

    python demo/weights.py --logdir logs      # or as part of demo/run_demo.py
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_logs(logdir, epochs=3, n=1500, seed=0):
    import keras

    import tb_nnvis
    from demo.shapes import CLASSES, demo_cnn, make_images

    x, y = make_images(n, seed=seed)
    x_val, y_val = make_images(300, seed=seed + 1)
    probes = x_val[[int((y_val == c).argmax()) for c in range(int(y_val.max()) + 1)]]
    for run, optimizer in (("weights_adam_2e-3", lambda: keras.optimizers.Adam(2e-3)),
                           ("weights_sgd_lr_too_high", lambda: keras.optimizers.SGD(0.5, momentum=0.9))):
        keras.utils.set_random_seed(seed)
        model = demo_cnn()
        model.compile(optimizer(), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        path = os.path.join(logdir, run)
        model.fit(x, y, epochs=epochs, batch_size=64, verbose=2, callbacks=[
            keras.callbacks.TensorBoard(path),
            tb_nnvis.keras.ActivationsCallback(
                path, probes=probes, every_n_batches=8, examples=x_val, top_k=9, weights=True, graph=True,
                projector={"inputs": x_val, "labels": [CLASSES[int(c)] for c in y_val]}),
        ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default="logs")
    write_logs(parser.parse_args().logdir)
