"""tb_nnvis: TensorBoard dashboards that show what a Keras 3 network does inside."""
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def frontend_files():
    """The browser code ships inside the package as tb_nnvis/frontend/** (see tb_nnvis/plugins/_server.py)."""
    out = []
    for root, _, files in os.walk(os.path.join(HERE, "frontend")):
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), HERE))
    return out


PLUGINS = {
    "nnvis_activations": "tb_nnvis.plugins.loader:ActivationsLoader",
    "nnvis_relevance": "tb_nnvis.plugins.loader:RelevanceLoader",
    "nnvis_rnn": "tb_nnvis.plugins.loader:RNNCellsLoader",
    "nnvis_featvis": "tb_nnvis.plugins.loader:FeatureVisLoader",
}

setup(
    name="tb_nnvis",
    version="0.1.0",
    description="TensorBoard dashboards for activations, feature visualization, LRP relevance and RNN cells",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(HERE, "README.md")) else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tb_nnvis", "tb_nnvis.*"]) + ["tb_nnvis.frontend"],
    # `frontend/` lives at the top of the repository; it is installed as package data under tb_nnvis/frontend.
    package_dir={"tb_nnvis.frontend": "frontend"},
    package_data={"tb_nnvis.frontend": [os.path.relpath(p, "frontend") for p in frontend_files()]},
    install_requires=[
        "numpy>=1.24",
        "protobuf>=3.20",
        "werkzeug>=2.0",
        "tensorboard>=2.16",
        "scikit-learn>=1.2",  # tb_nnvis.lrp.spray: k-means (and scipy, which it brings, for the eigensolver)
    ],
    extras_require={
        "demo": ["tensorflow-cpu>=2.16", "keras>=3.0"],
        "test": ["tensorflow-cpu>=2.16", "keras>=3.0", "pytest>=7", "playwright>=1.40"],
        # benchmarks/compare_lxt.py only: pip install torch==2.13.0 && pip install --no-deps lxt==2.1
        "lxt": ["torch==2.13.0", "lxt==2.1"],
        # benchmarks/bench_featvis.py only: the baseline it is compared with
        "bench": ["tf-keras-vis>=0.8"],
    },
    entry_points={
        "tensorboard_plugins": [f"{name} = {target}" for name, target in PLUGINS.items()],
    },
)
