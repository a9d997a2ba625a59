"""Training on several hosts (or several processes of one host) with tf.distribute.MultiWorkerMirroredStrategy.

Every worker runs the same script with its own $TF_CONFIG, e.g. for worker 0 of two:
    {"cluster": {"worker": ["host-a:12345", "host-b:12345"]}, "task": {"type": "worker", "index": 0}}
`marslab.training.distribution_strategy()` then returns a MultiWorkerMirroredStrategy: each worker trains on
its share of every global batch and the gradients are averaged across workers at every step, so all
workers hold the same weights. Keras 3's `model.fit` cannot drive this strategy (it reduces the first batch
eagerly and fails: keras-team/keras#20585), so `fit_across_workers` is the short custom loop that does.
One host with several GPUs needs none of this: MirroredStrategy works with `model.fit` (lesson 09).
TensorFlow backend only.
"""
from __future__ import annotations

import keras
import numpy as np


def fit_across_workers(model: keras.Model, dataset, loss: keras.losses.Loss, optimizer: keras.optimizers.Optimizer,
                       epochs: int, strategy) -> dict[str, list[float]]:
    """Train `model` for `epochs` passes over `dataset` (batched (images, masks), the GLOBAL batch size)
    with `strategy`; returns {"loss": mean training loss per epoch}.

    Build the model, and create the loss and optimizer, inside `strategy.scope()`. After every epoch the
    batch-norm statistics (each worker measures them on its own shard) are averaged across workers, so every
    worker ends with the same weights; save the model from worker 0 only.
    """
    import tensorflow as tf

    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    with strategy.scope():
        optimizer.build(model.trainable_variables)
    replicas = strategy.num_replicas_in_sync

    @tf.function
    def train_step(images, masks):
        def replica_step(x, y):
            with tf.GradientTape() as tape:
                batch_loss = loss(y, model(x, training=True)) / replicas  # summed over replicas: the global mean
            grads = tape.gradient(batch_loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return batch_loss
        return strategy.reduce("SUM", strategy.run(replica_step, args=(images, masks)), axis=None)

    @tf.function
    def averaged_statistics():
        def replica_mean():
            context = tf.distribute.get_replica_context()
            return [context.all_reduce("MEAN", tf.identity(v.value)) for v in model.non_trainable_variables]
        return strategy.run(replica_mean)

    history: dict[str, list[float]] = {"loss": []}
    distributed = strategy.experimental_distribute_dataset(dataset)
    for _ in range(epochs):
        losses = [float(train_step(*batch)) for batch in distributed]
        for variable, mean in zip(model.non_trainable_variables, averaged_statistics()):
            variable.assign(strategy.experimental_local_results(mean)[0])
        history["loss"].append(float(np.mean(losses)))
    return history
