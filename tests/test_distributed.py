"""Training beyond one machine: two worker processes on localhost, as a lab cluster would run them.

Each worker runs the same script with its own TF_CONFIG (the cluster's addresses and its own index);
`marslab.training.distribution_strategy()` then returns a MultiWorkerMirroredStrategy,
`marslab.distributed.fit_across_workers` averages the gradients every step, and both workers must end with
identical weights (batch-norm statistics included).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import sys
import keras
import numpy as np
import tensorflow as tf
import marslab
from marslab import training
from marslab.distributed import fit_across_workers
from marslab.models import unet
from marslab.pipeline import make_dataset

strategy = training.distribution_strategy()
assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), type(strategy).__name__
assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
marslab.seed_everything(0, deterministic=False)
rng = np.random.default_rng(0)  # every worker holds the same data; each trains on its share of every batch
images = rng.integers(0, 256, (32, 64, 128)).astype(np.uint8)
masks = rng.integers(0, 5, (32, 64, 128)).astype(np.uint8)
with strategy.scope():
    model = unet(filters=4, depth=2)
    loss = keras.losses.SparseCategoricalCrossentropy()
    optimizer = keras.optimizers.Adam(1e-3)
initial = model.get_weights()
history = fit_across_workers(model, make_dataset(images, masks, batch_size=8), loss, optimizer, 1, strategy)
moved = [float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), initial)]
np.savez(sys.argv[1], *model.get_weights(), loss=history["loss"], moved=moved)
"""


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.timeout(300)
def test_two_workers_train_one_epoch_and_end_with_identical_weights(tmp_path):
    pytest.importorskip("tensorflow")
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("tf.distribute needs the tensorflow backend")
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config), "PYTHONPATH": str(ROOT),
               "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        log = open(tmp_path / f"worker{index}.log", "w")
        procs.append((subprocess.Popen([sys.executable, str(script), str(tmp_path / f"w{index}.npz")], env=env,
                                       stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path), log))
    try:
        for proc, log in procs:
            proc.wait(timeout=240)
    finally:
        for proc, log in procs:
            proc.kill()
            log.close()
    for index, (proc, _) in enumerate(procs):
        assert proc.returncode == 0, (tmp_path / f"worker{index}.log").read_text()[-3000:]
    first, second = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    weights = [k for k in first.files if k not in ("loss", "moved")]
    assert len(weights) > 4 and np.isfinite(first["loss"]).all()
    assert first["moved"].max() > 0, "one epoch of training did not change any weight"
    for key in weights:
        np.testing.assert_array_equal(first[key], second[key], err_msg=f"weight {key} differs between workers")
