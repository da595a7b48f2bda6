"""The training objective of the classifier and a plain SGD loop that minimizes it."""

import torch
from torch import nn


def training_loss(model, x, y):
    """The mean negative log-likelihood of the labels y under the model, as a scalar tensor."""
    return nn.CrossEntropyLoss()(model(x), y)


def train(model, x, y, *, epochs, lr, seed):
    """Train `model` in place with minibatch SGD on training_loss, shuffling with `seed`."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    batch_size = 32
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = training_loss(model, x[batch], y[batch])
            loss.backward()
            optimizer.step()
    return model
