"""Train the demo CNN on procedural images with tb_nnvis callbacks, then start TensorBoard on the logs.

    python demo/run_demo.py                 # writes ./logs and serves it on http://localhost:6006
    python demo/run_demo.py --no-serve      # only write the logs
    python demo/run_demo.py --host 0.0.0.0  # serve to other machines too (TensorBoard has no login: only on
                                            # a network you trust, or behind an SSH tunnel)
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SAMPLES = "nnvis_activations=200,nnvis_relevance=200,nnvis_rnn=200,nnvis_featvis=200"


def write_logs(logdir, epochs=8, n=3000, seed=0):
    import keras

    import tb_nnvis
    from demo import featvis_demo
    from demo.shapes import CLASSES, compiled_demo_cnn, make_images

    keras.utils.set_random_seed(seed)
    x, y = make_images(n, seed=seed)
    x_val, y_val = make_images(400, seed=seed + 1)
    # One probe per class, so every unit can be compared across the kinds of input.
    probes = x_val[[int((y_val == c).argmax()) for c in range(int(y_val.max()) + 1)]]
    model = compiled_demo_cnn()
    run = os.path.join(logdir, "demo_cnn")
    model.fit(x, y, validation_data=(x_val, y_val), epochs=epochs, batch_size=64, verbose=2, callbacks=[
        keras.callbacks.TensorBoard(run),
        tb_nnvis.keras.ActivationsCallback(run, probes=probes, every_n_batches=10,
                                           examples=x_val, top_k=9),
        # LRP heatmaps of the same probes, the conv3 units that carry each decision, and each conv3 unit's heatmap
        tb_nnvis.keras.RelevanceCallback(run, probes=probes, labels=list(range(len(probes))), class_names=CLASSES,
                                         composites=["epsilon_plus", "epsilon_alpha2_beta1"],
                                         unit_layers=["conv3"], unit_heatmaps={"conv3": "all"}),
        *featvis_demo.callbacks(run, x_val, epochs),  # conv2/conv3 feature visualizations at 3 points of training
    ])
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default="logs")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--port", type=int, default=6006)
    parser.add_argument("--host", default="localhost",
                        help="address to serve on; TensorBoard has no authentication, so the default is this "
                             "machine only")
    parser.add_argument("--no-serve", action="store_true", help="write the logs and exit")
    args = parser.parse_args()
    write_logs(args.logdir, args.epochs)
    from demo import text_classifier

    text_classifier.write_logs(args.logdir)
    from demo import char_lstm

    char_lstm.write_logs(args.logdir)  # a character LSTM on the standard library's sources, about 75 s
    from demo import shortcut

    shortcut.write_logs(args.logdir)  # a class with a planted mark, and SpRAy to find it (Relevance tab, Strategies)
    from demo import weights

    weights.write_logs(args.logdir)  # filters beside maps, weight dynamics at two learning rates; Graphs, Projector
    if args.no_serve:
        return
    print(f"\nOpen http://localhost:{args.port}/#nnvis_activations", flush=True)
    tensorboard = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    subprocess.call([tensorboard, "--logdir", args.logdir, "--port", str(args.port), "--host", args.host,
                     f"--samples_per_plugin={SAMPLES}"])


if __name__ == "__main__":
    main()
