"""A small multilayer perceptron classifier and its class probabilities."""

import torch
from torch import nn


class Classifier(nn.Module):
    """Maps (N, n_features) inputs to class scores for n_classes classes."""

    def __init__(self, n_features, n_classes, hidden=64):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x):
        return torch.softmax(self.layers(x), dim=1)


def predict_proba(model, x):
    """The (N, n_classes) class probabilities the model assigns to the rows of x."""
    return model(x)
