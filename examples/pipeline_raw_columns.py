"""Explaining the raw columns of a Pipeline
========================================

Explain the raw columns of a Pipeline (one-hot encoding + scaling + a skorch net).

Run: python examples/pipeline_raw_columns.py   (about a minute on a laptop CPU; --quick: seconds)
"""

import sys

import numpy as np
import torch
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skorch import NeuralNetClassifier

from sklxai import KernelSHAP
from sklxai.datasets import ADULT_CATEGORICAL, load_adult

quick = "--quick" in sys.argv
n_train, n_rows = (1000, 20) if quick else (5000, 200)
X, y = load_adult("train")                       # DataFrame: strings, NaN, ints
X = X.drop(columns=["fnlwgt", "education"]).iloc[:n_train]
y = y.iloc[:n_train].to_numpy()
cat = [c for c in X.columns if c in ADULT_CATEGORICAL]
num = [c for c in X.columns if c not in ADULT_CATEGORICAL]
pre = ColumnTransformer([
    ("num", StandardScaler(), num),
    ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                          OneHotEncoder(handle_unknown="ignore", sparse_output=False)), cat),
])
width = pre.fit_transform(X).shape[1]


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(width, 64), torch.nn.ReLU(),
                                       torch.nn.Linear(64, 2))

    def forward(self, X):
        return self.net(X.float())  # the ColumnTransformer outputs float64


net = NeuralNetClassifier(MLP, criterion=torch.nn.CrossEntropyLoss, lr=0.05,
                          max_epochs=1 if quick else 5, train_split=None, verbose=0)
pipe = make_pipeline(pre, net).fit(X, y)

explainer = KernelSHAP(pipe, n_background=20 if quick else 50, n_coalitions=1024,
                       random_state=0).fit(X)
print("fast path (preprocessing once, torch model per coalition):",
      explainer.prepared_.fast_path)
exp = explainer.explain(X.iloc[:n_rows])          # values per RAW column: (n_rows, 12, 2)
order = np.argsort(-np.abs(exp.values[:, :, 1]).mean(axis=0))
for j in order[:6]:
    print(f"{exp.feature_names[j]:<16} mean |phi| = {np.abs(exp.values[:, j, 1]).mean():.4f}")
print("row 0:", dict(zip(exp.feature_names, exp.data[0])))
print("efficiency gap vs pipe.predict_proba:",
      np.abs(exp.values.sum(1) + exp.base_values - pipe.predict_proba(X.iloc[:n_rows])).max())
